// Source kind "yahoo-stream": one websocket connection to Yahoo's streamer (ws:// or wss://) that
// subscribes to a set of symbols and turns every pricing frame into a canonical tick message.
// The task throws when the connection fails, closes or goes silent; the supervisor (supervisor.hpp)
// restarts it with back-off, and that is the reconnect.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility> // before Boost 1.74's awaitable.hpp, which uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "src/net/tls.hpp"
#include "src/sources/fetch_support.hpp"
#include "src/sources/supervisor.hpp"
#include "src/sources/yahoo_pricing.hpp"

namespace tapewire {

struct stream_connection_options {
    std::string url = "wss://streamer.finance.yahoo.com/?version=2";          // ws:// or wss://
    std::vector<std::string> symbols;                                         // subscribed on this connection
    net::tls_options tls;                                                     // for wss://
    std::string user_agent;                                                   // "" = Beast's default
    std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);       // resolve + TCP + TLS + WS handshake
    std::chrono::nanoseconds resubscribe_interval = std::chrono::seconds(15); // 0 = subscribe once
    std::chrono::nanoseconds silence_timeout = std::chrono::seconds(60);      // no frame this long: fail; 0 = never
    std::size_t max_frame_bytes = std::size_t{1} << 20;                       // a larger frame fails the connection
};

// What one connection's task keeps across its restarts: the decoder and the per-symbol volume
// bases (so the first frame after a reconnect still gets a day-volume difference), and the health
// last reported per symbol (so the gauge is only written when it changes). Used by one task only.
struct stream_symbols_state {
    yahoo::frame_to_tick frames;
    std::unordered_map<symbol, symbol_health> health;
    std::uint64_t connections = 0; // connections that completed the websocket handshake
};

// Connects, subscribes ({"subscribe":[...]}, the full set, re-sent every resubscribe_interval) and
// reads frames until the connection fails: then it marks its symbols backing_off and throws
// std::runtime_error saying why ("ws 127.0.0.1:5555: no frame for 60.0 s", "...: closed by the
// server (1000 ...)"). Each frame: m.bytes; a tick → pushed to `out` (key = symbol, payload = tick
// JSON), m.ticks, the symbol's state ok, run.progress(); a frame without a usable price
// (heartbeat, no id) → m.skipped and run.progress(); a frame that does not decode → m.decode_errors.
// m.requests counts subscribe messages sent; m.reconnects counts connections after the task's
// first start (run.attempt() > 1). Runs on a single-threaded io_context or a strand: it spawns one
// helper coroutine (resubscribe and silence watchdog) on its own executor.
// `opt`, `state`, `out` and `m` must outlive the coroutine.
boost::asio::awaitable<void> run_stream_connection(const stream_connection_options& opt, stream_symbols_state& state,
                                                   fetch_outbox& out, fetch_metrics& m, task_run& run);

// {"subscribe":["AAPL","BTC-USD"]}
std::string make_subscribe_message(const std::vector<std::string>& symbols);

} // namespace tapewire
