// TLS client contexts: peer verification against the system CA store (or a CA file), on by default.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace tapewire::net {

struct tls_options {
    bool verify = true;  // verify the peer's chain and host name; false only for experiments
    std::string ca_file; // PEM file of trusted CAs; "" = the system store (/etc/ssl/certs)
};

// A TLS 1.2+ client context set up from `opt`. Throws std::runtime_error naming the CA file when
// it cannot be read or holds no certificate.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const tls_options& opt);

// Sets SNI and the host name the certificate must match (RFC 6125 via OpenSSL's X509_VERIFY_PARAM)
// on one connection's SSL object (`stream.native_handle()`). An IP literal is matched against the
// certificate's IP SANs and sends no SNI (RFC 6066 allows only DNS names there). Returns false when
// OpenSSL refuses the name.
bool set_tls_peer_name(SSL* ssl, const std::string& host, bool verify);

// Why the peer's certificate was refused ("certificate verify failed: hostname mismatch"), or ""
// when verification passed or did not run.
std::string tls_verify_failure(const SSL* ssl);

} // namespace tapewire::net
