// The embedded HTTP/1.1 server: one Asio io_context run by a named runner (`tw-http`), keep-alive
// sessions, the limits of [http], a bearer token, GET and HEAD only. It answers from a router (exact
// paths, router.hpp), then from the embedded assets (assets.hpp), else 404; a route may turn its
// connection into a Server-Sent-Events stream fed by the hub (sse_hub.hpp).
//
// Limits, and what a client sees when it crosses one:
//   max_connections    a connection beyond it is accepted, its request read and answered 503 with
//                      "Connection: close" (a client learns why rather than seeing a reset); beyond
//                      twice the limit a new connection is closed at once, unanswered.
//   max_request_bytes  request line, headers and body together; larger: 413, then the connection closes.
//   header_timeout     from accept (or from the first byte of a later request) to the end of the
//                      request: a client that sends too slowly (slowloris) is disconnected unanswered.
//   idle_timeout       a kept-alive connection with no new request this long is closed; an answer or
//                      an event that the client does not take within it closes the connection too.
//   max_sse_clients    event streams at once; the next one gets 503.
//
// Every answer but an asset's carries "Cache-Control: no-store"; errors are {"error":"..."}.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "src/base/metrics.hpp"
#include "src/http/assets.hpp"
#include "src/http/router.hpp"
#include "src/http/sse_hub.hpp"
#include "src/net/url.hpp"
#include "tapewire/config.hpp"
#include "tapewire/runner.hpp"

namespace tapewire::http {

struct server_options {
    http_config http{.listen = "127.0.0.1:0"};         // [http]: address, token, the limits above
    std::size_t sse_queue_frames = 1024;               // frames queued per event stream before it is dropped
    duration sse_heartbeat = std::chrono::seconds(15); // a comment on every stream this often
};

class server {
public:
    // Binds and listens before it returns, so a port in use fails here: std::runtime_error
    // "http.listen: cannot listen on 127.0.0.1:8080: Address already in use" (or the reason the
    // address does not parse). `on_error` gets what
    // escapes a handler on the server's thread (the thread has stopped by then).
    server(server_options opt, metrics_registry& metrics, std::span<const embedded_asset> assets,
           error_handler on_error);
    ~server(); // stop()
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // The routes; add them before start(): the server's thread reads the table without a lock.
    [[nodiscard]] router& routes() noexcept;
    // Runs `fn` on the server's thread every `period` from start() on (heartbeats, draining events
    // into the hub). Before start() only.
    void every(duration period, std::function<void()> fn);

    void start();
    // Closes the listener and every connection, joins the thread. Idempotent.
    void stop();

    // The address bound: port 0 in the options becomes the port the system chose.
    [[nodiscard]] const net::listen_address& address() const noexcept;
    // Runs `fn` on the server's thread, soon; safe from any thread.
    void post(std::function<void()> fn);
    // The event streams' hub: touch it only on the server's thread (from a handler, every() or post()).
    [[nodiscard]] sse_hub& hub() noexcept;

    struct impl; // server.cpp: named there by the sessions

private:
    std::unique_ptr<impl> impl_;
};

} // namespace tapewire::http
