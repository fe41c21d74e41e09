#include "src/net/tls.hpp"

#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace tapewire::net {

namespace {

std::string openssl_reason() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// Adds every certificate of a PEM file to the context's trust store; the count added.
int load_ca_file(SSL_CTX* ctx, const std::string& path) {
    BIO* bio = BIO_new_file(path.c_str(), "r");
    if (bio == nullptr) {
        ERR_clear_error();
        throw std::runtime_error("TLS: cannot read the CA file \"" + path + "\"");
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        if (X509_STORE_add_cert(store, cert) == 1) ++added;
        X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error(); // the loop ends on "no start line"
    return added;
}

} // namespace

std::shared_ptr<boost::asio::ssl::context> make_tls_context(const tls_options& opt) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
        throw std::runtime_error("TLS: cannot require TLS 1.2: " + openssl_reason());
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    if (!opt.verify) {
        ctx->set_verify_mode(ssl::verify_none);
        return ctx;
    }
    ctx->set_verify_mode(ssl::verify_peer);
    if (opt.ca_file.empty()) {
        if (SSL_CTX_set_default_verify_paths(native) != 1)
            throw std::runtime_error("TLS: cannot load the system CA store: " + openssl_reason());
    } else if (load_ca_file(native, opt.ca_file) == 0) {
        throw std::runtime_error("TLS: the CA file \"" + opt.ca_file + "\" holds no PEM certificate");
    }
    return ctx;
}

bool set_tls_peer_name(SSL* ssl, const std::string& host, bool verify) {
    boost::system::error_code ec;
    (void)boost::asio::ip::make_address(host, ec);
    const bool ip_literal = !ec;
    if (!ip_literal && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
    if (!verify) return true;
    if (ip_literal) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(ssl, host.c_str()) == 1;
}

std::string tls_verify_failure(const SSL* ssl) {
    if (ssl == nullptr) return {};
    const long rc = SSL_get_verify_result(ssl);
    if (rc == X509_V_OK) return {};
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(rc);
}

} // namespace tapewire::net
