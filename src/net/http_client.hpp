// An asynchronous HTTP/1.1 client for one origin (scheme, host, port) on Boost.Beast: GET and POST
// over one request path, keep-alive connection reuse, at most `max_connections` requests in flight,
// a deadline on every step, TLS with SNI and verification, gzip/deflate bodies decoded. Coroutine
// based (C++20, asio::awaitable); one client is used from one io_context (one thread), so it needs
// no locks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility> // before Boost 1.74's awaitable.hpp, which uses std::exchange without it
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "src/net/http_fields.hpp"
#include "src/net/tls.hpp"
#include "src/net/url.hpp"

namespace tapewire::net {

using std::chrono::nanoseconds;

struct http_options {
    std::string user_agent;                                 // sent on every request ("" = none)
    nanoseconds connect_timeout = std::chrono::seconds(5);  // resolve + connect + TLS handshake
    nanoseconds request_timeout = std::chrono::seconds(10); // write the request, read the whole response
    std::uint32_t max_connections = 4;                      // requests in flight; more wait their turn
    bool keep_alive = true;                                 // false: one connection per request
    nanoseconds idle_timeout = std::chrono::seconds(30);    // an idle kept-alive connection is closed after
    std::size_t max_body_bytes = std::size_t{32} << 20;     // larger (before or after gunzip): too_large
    tls_options tls;                                        // for https
};

enum class http_error {
    none,
    resolve,       // the host name did not resolve
    connect,       // TCP connect refused or failed
    tls_handshake, // TLS failed, certificate verification included
    timeout,       // a step passed its deadline
    reset,         // the peer closed or reset the connection before a complete response
    truncated,     // the body ended before its Content-Length / last chunk
    too_large,     // body over max_body_bytes
    decode,        // gzip/deflate body that does not inflate
    protocol,      // not HTTP/1.x, bad chunking, bad header
};
const char* to_string(http_error e) noexcept;

struct http_response {
    unsigned status = 0;
    std::string body;        // decoded (gunzipped) body
    std::string retry_after; // the Retry-After header as sent ("" when absent)
    std::string content_type;
    std::size_t wire_bytes = 0; // bytes received for this response, headers included, before decoding
    bool reused = false;        // sent on a kept-alive connection
};

struct http_result {
    http_error error = http_error::none;
    std::string detail; // human text for logs: "connect 127.0.0.1:8443: Connection refused"
    http_response response;
    [[nodiscard]] bool ok() const noexcept { return error == http_error::none; }
};

class http_client {
public:
    // `origin` gives scheme, host and port (its target is ignored). Throws std::runtime_error when
    // the TLS context cannot be built (CA file missing), std::invalid_argument for a user agent
    // with control characters. Destroying the client closes its idle connections; requests already
    // created by get() keep what they need alive until they end.
    http_client(boost::asio::any_io_executor ex, const url& origin, http_options opt);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // GET `target` (absolute path and query, e.g. "/v8/finance/chart/AAPL?interval=1m"). Never
    // throws for network or HTTP trouble: that is in the result. Waits for a free slot first when
    // max_connections requests are already in flight. A kept-alive connection that turns out closed
    // before any byte of the answer (the server dropped it while idle) is retried once on a fresh
    // connection; nothing else is retried. Any HTTP status, 4xx and 5xx included, is ok().
    boost::asio::awaitable<http_result> get(std::string target);

    // POST `body` as `content_type` to `target`, with `headers` added; the same path, slots,
    // deadlines and result as get(). A header that would break the request (a name that is not a
    // token, a value with CR, LF or NUL) is a protocol error before anything is sent. The
    // keep-alive retry applies too: a server may have acted on the first copy before dropping the
    // connection, so a caller that cannot take a repeat sends an idempotency key.
    boost::asio::awaitable<http_result> post(std::string target, std::string body, std::string content_type,
                                             std::vector<http_header> headers = {});

    // Closes idle connections; requests in flight finish or fail on their own deadline, and their
    // connections are closed rather than pooled. Later requests open (and pool) new connections.
    void close();

    // TCP connections opened so far (each one connected, whatever came after).
    [[nodiscard]] std::uint64_t connections_opened() const noexcept;
    // Requests holding a slot now (waiting ones not counted).
    [[nodiscard]] std::uint32_t in_flight() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_; // shared with the requests in flight, which may outlive the client
};

} // namespace tapewire::net
