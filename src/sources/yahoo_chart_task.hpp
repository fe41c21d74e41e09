// The yahoo-chart poller: asks /v8/finance/chart for each configured symbol every poll_interval,
// through `concurrency` worker tasks that share one HTTP client, and hands each completed 1-minute
// bar to the graph once, as a canonical bar message. Its state (what was sent, who backs off until
// when) lives here, outside the workers, so a worker restarted by the supervisor resends nothing.
//
// The first round (every symbol answered once with its data or a definitive refusal; a 429, a 5xx
// or a failed transfer does not count) brings each symbol's day so far; it is handed over merged in
// time order, so that symbols sharing a partition do not make each other's history late against
// one watermark. After it, bars go out as they complete.
//
// Failures, as Yahoo gives them (PROTOCOL.md, sections a and d):
//   429, 5xx, timeout, reset, refused   the host backs off (all workers wait): exponential with
//                                       jitter from backoff_min to backoff_max, at least Retry-After
//   404 "Not Found"                      that symbol waits not_found_backoff; the others go on
//   other 4xx, invalid or truncated body that symbol backs off exponentially; the others go on
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <string>
#include <utility> // before Boost 1.74's awaitable.hpp, which uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "src/net/http_client.hpp"
#include "src/sources/fetch_support.hpp"
#include "src/sources/source_context.hpp"
#include "src/sources/supervisor.hpp"
#include "src/sources/yahoo_chart.hpp"
#include "tapewire/backoff.hpp"
#include "tapewire/config.hpp"

namespace tapewire {

struct chart_symbol_state {
    std::string symbol;
    std::int64_t last_sent_s = std::numeric_limits<std::int64_t>::min(); // newest bar start sent
    std::int64_t due_mono_ns = 0;                                        // not asked again before
    bool in_flight = false;
    backoff retry;
    symbol_health health = symbol_health::ok;
    std::uint64_t bars_sent = 0;
    bool asked = false;              // has had an answer that settles its first round (see on_result)
    std::deque<chart_span> backfill; // gap backfill chunks still to ask, oldest first
};

// What went wrong with a request, for the log record of the back-off it causes.
struct chart_trouble {
    unsigned status = 0;     // the answer's HTTP status; 0 when none came
    std::string retry_after; // the answer's Retry-After as sent; "" when none
    std::string detail;      // the rest in words: a transport error, Yahoo's own message, ...
};

// The HTTP client settings of [source]: timeouts, keep-alive, TLS, one connection per worker.
net::http_options chart_http_options(const yahoo_config& cfg);

class chart_poller {
public:
    // `path_prefix` is the base URL's path ("" for a bare host).
    chart_poller(const yahoo_config& cfg, const std::vector<std::string>& symbols, std::string path_prefix,
                 net::http_client& client, fetch_outbox& out, fetch_metrics& metrics,
                 const source_context& context = {});

    // One worker: loops until its io_context stops; throws only on a fault of its own (the
    // supervisor restarts it). Run `concurrency` of them.
    boost::asio::awaitable<void> worker(task_run& run);

    [[nodiscard]] const std::vector<chart_symbol_state>& symbols() const noexcept { return symbols_; }

private:
    chart_symbol_state* pick(std::int64_t now, std::int64_t& wait_ns);
    // True when the answer settles the symbol for the first round: its data (bars or none), or
    // Yahoo's refusal of the request (404, another 4xx, an error object). A 429, a 5xx, a
    // transport failure or an unreadable body do not: the symbol's history is still to come.
    // `span`: the backfill chunk asked, nullptr for the regular poll.
    bool on_result(chart_symbol_state& s, const net::http_result& res, task_run& run, const chart_span* span);
    bool on_body(chart_symbol_state& s, const std::string& body, task_run& run, const chart_span* span);
    // A chunk Yahoo will not serve (or that never reads): logged, counted, the next one asked now.
    void drop_chunk(chart_symbol_state& s, const chart_trouble& why);
    void host_backs_off(chart_symbol_state& s, const chart_trouble& why, std::int64_t at_least_ns);
    void symbol_backs_off(chart_symbol_state& s, const chart_trouble& why, std::int64_t wait_ns, symbol_health h);
    void set_health(chart_symbol_state& s, symbol_health h);
    void first_round_progress(chart_symbol_state& s);

    const yahoo_config& cfg_;
    std::string prefix_;
    net::http_client& client_;
    fetch_outbox& out_;
    fetch_metrics& m_;
    std::vector<chart_symbol_state> symbols_;
    backoff host_;
    std::int64_t host_not_before_ = 0; // mono ns

    struct held_bar {
        std::int64_t ts_s;
        std::size_t symbol; // index into symbols_
        std::string payload;
    };
    std::size_t first_round_left_; // symbols not yet asked; 0 once the first round is handed over
    std::vector<held_bar> first_round_;
};

} // namespace tapewire
