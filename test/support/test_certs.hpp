// Throwaway TLS certificates for the local test servers, made at run time with OpenSSL 3 (EC P-256):
// nothing is committed, nothing needs the openssl command.
#pragma once

#include <filesystem>

namespace tapewire::test {

// PEM files written by make_test_certs(); every key is unencrypted.
struct test_certs {
    std::filesystem::path dir;
    std::filesystem::path ca_cert;     // the test CA: trust this (tls_options::ca_file)
    std::filesystem::path server_cert; // signed by the CA; SAN DNS:localhost, IP:127.0.0.1
    std::filesystem::path server_key;
    std::filesystem::path wrong_host_cert; // signed by the CA; SAN DNS:wrong.example only
    std::filesystem::path wrong_host_key;
    std::filesystem::path self_signed_cert; // self-signed, not from the CA; SAN DNS:localhost, IP:127.0.0.1
    std::filesystem::path self_signed_key;
};

// Creates `dir` (and parents) and writes ca.pem, server.pem, server.key, wrong_host.pem,
// wrong_host.key, self_signed.pem, self_signed.key into it, valid from an hour ago for two days.
// Throws std::runtime_error with OpenSSL's reason on failure. A few milliseconds.
test_certs make_test_certs(const std::filesystem::path& dir);

} // namespace tapewire::test
