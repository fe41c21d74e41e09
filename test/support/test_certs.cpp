#include "test/support/test_certs.hpp"

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace tapewire::test {

namespace {

struct free_key {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct free_cert {
    void operator()(X509* p) const { X509_free(p); }
};
struct free_bio {
    void operator()(BIO* p) const { BIO_free(p); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, free_key>;
using cert_ptr = std::unique_ptr<X509, free_cert>;

[[noreturn]] void fail(const std::string& what) {
    std::string reason = "unknown";
    if (const unsigned long e = ERR_get_error(); e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        reason = buf;
    }
    ERR_clear_error();
    throw std::runtime_error("test certificates: " + what + ": " + reason);
}

key_ptr make_key() {
    key_ptr k(EVP_EC_gen("P-256"));
    if (!k) fail("EC key generation");
    return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) fail(std::string("extension ") + OBJ_nid2sn(nid) + " = " + value);
    const int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1) fail("adding an extension");
}

struct cert_spec {
    const char* common_name;
    const char* san; // nullptr: none
    bool ca = false;
};

// Signs with `issuer_key` under `issuer` (nullptr issuer: self-signed).
cert_ptr make_cert(const cert_spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    cert_ptr c(X509_new());
    if (!c) fail("X509_new");
    X509* x = c.get();
    X509_set_version(x, X509_VERSION_3);
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) fail("random serial");
    serial[0] &= 0x7f; // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    if (bn == nullptr || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == nullptr) fail("serial");
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 2 * 24 * 3600);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("tapewire tests"), -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(spec.common_name), -1,
                               -1, 0);
    X509* signer = issuer != nullptr ? issuer : x;
    if (X509_set_issuer_name(x, X509_get_subject_name(signer)) != 1) fail("issuer name");
    if (X509_set_pubkey(x, key) != 1) fail("public key");

    add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (issuer != nullptr) add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
    if (spec.ca) {
        add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, signer, NID_key_usage, "critical,digitalSignature");
        add_ext(x, signer, NID_ext_key_usage, "serverAuth");
    }
    if (spec.san != nullptr) add_ext(x, signer, NID_subject_alt_name, spec.san);
    if (X509_sign(x, issuer_key, EVP_sha256()) == 0) fail("signing");
    return c;
}

std::unique_ptr<BIO, free_bio> open_out(const std::filesystem::path& p) {
    std::unique_ptr<BIO, free_bio> b(BIO_new_file(p.string().c_str(), "w"));
    if (!b) fail("cannot write " + p.string());
    return b;
}

void write_cert(const std::filesystem::path& p, X509* c) {
    auto b = open_out(p);
    if (PEM_write_bio_X509(b.get(), c) != 1) fail("writing " + p.string());
}

void write_key(const std::filesystem::path& p, EVP_PKEY* k) {
    auto b = open_out(p);
    if (PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr) != 1) fail("writing " + p.string());
}

} // namespace

test_certs make_test_certs(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    test_certs out;
    out.dir = dir;
    out.ca_cert = dir / "ca.pem";
    out.server_cert = dir / "server.pem";
    out.server_key = dir / "server.key";
    out.wrong_host_cert = dir / "wrong_host.pem";
    out.wrong_host_key = dir / "wrong_host.key";
    out.self_signed_cert = dir / "self_signed.pem";
    out.self_signed_key = dir / "self_signed.key";

    const key_ptr ca_key = make_key();
    const cert_ptr ca = make_cert({"tapewire test CA", nullptr, true}, ca_key.get(), nullptr, ca_key.get());
    write_cert(out.ca_cert, ca.get());

    const key_ptr server_key = make_key();
    const cert_ptr server =
        make_cert({"localhost", "DNS:localhost,IP:127.0.0.1"}, server_key.get(), ca.get(), ca_key.get());
    write_cert(out.server_cert, server.get());
    write_key(out.server_key, server_key.get());

    const key_ptr wrong_key = make_key();
    const cert_ptr wrong = make_cert({"wrong.example", "DNS:wrong.example"}, wrong_key.get(), ca.get(), ca_key.get());
    write_cert(out.wrong_host_cert, wrong.get());
    write_key(out.wrong_host_key, wrong_key.get());

    const key_ptr self_key = make_key();
    const cert_ptr self =
        make_cert({"localhost", "DNS:localhost,IP:127.0.0.1"}, self_key.get(), nullptr, self_key.get());
    write_cert(out.self_signed_cert, self.get());
    write_key(out.self_signed_key, self_key.get());
    return out;
}

} // namespace tapewire::test
