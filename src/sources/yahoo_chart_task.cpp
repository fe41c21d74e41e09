#include "src/sources/yahoo_chart_task.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"
#include "src/sources/yahoo_chart.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/time_text.hpp"

namespace tapewire {

namespace {

// How long a worker sleeps at most before it looks at the schedule again: a symbol made due
// earlier by another worker is never kept waiting longer than this.
constexpr std::int64_t k_max_nap_ns = 200'000'000;

// Failures of a symbol's own (unreadable answers, not the host's trouble) after which the first
// round stops waiting for it: one broken symbol must not hold every other symbol's history.
constexpr std::uint32_t k_first_round_patience = 3;

boost::asio::awaitable<void> nap(std::int64_t ns) {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    t.expires_after(std::chrono::nanoseconds(ns));
    co_await t.async_wait(boost::asio::use_awaitable);
}

const char* health_word(symbol_health h) {
    switch (h) {
    case symbol_health::ok: return "ok";
    case symbol_health::backing_off: return "backing off";
    case symbol_health::failing: return "failing";
    }
    return "?";
}

// One record per back-off: the symbol, what the answer was (the fields it had), and the wait.
void log_trouble(std::string_view what, const chart_symbol_state& s, const chart_trouble& why, std::int64_t wait_ns) {
    std::vector<log::field> f{{"symbol", s.symbol}};
    if (why.status != 0) f.emplace_back("status", why.status);
    if (!why.retry_after.empty()) f.emplace_back("retry_after", why.retry_after);
    if (!why.detail.empty()) f.emplace_back("detail", why.detail);
    f.emplace_back("retry_in", std::chrono::nanoseconds(wait_ns));
    log::write(log_level::warn, "fetch", what, f);
}

bool host_trouble(net::http_error e) {
    switch (e) {
    case net::http_error::resolve:
    case net::http_error::connect:
    case net::http_error::tls_handshake:
    case net::http_error::timeout:
    case net::http_error::reset:
    case net::http_error::protocol: return true;
    default: return false; // truncated, too_large, decode: this answer, not the host
    }
}

} // namespace

net::http_options chart_http_options(const yahoo_config& y) {
    net::http_options o;
    o.user_agent = y.user_agent;
    o.connect_timeout = y.connect_timeout;
    o.request_timeout = y.request_timeout;
    o.max_connections = y.concurrency;
    o.keep_alive = y.keep_alive;
    o.tls.verify = y.tls_verify;
    o.tls.ca_file = y.ca_file;
    return o;
}

chart_poller::chart_poller(const yahoo_config& cfg, const std::vector<std::string>& symbols, std::string path_prefix,
                           net::http_client& client, fetch_outbox& out, fetch_metrics& metrics,
                           const source_context& context)
    : cfg_(cfg), prefix_(std::move(path_prefix)), client_(client), out_(out), m_(metrics),
      host_(cfg.backoff_min.count(), cfg.backoff_max.count(), 0x5eed0001), first_round_left_(symbols.size()) {
    symbols_.reserve(symbols.size());
    std::uint64_t seed = 0x5eed1000;
    const std::int64_t now_s = wall_ns() / 1'000'000'000;
    for (const auto& s : symbols) {
        symbols_.push_back(chart_symbol_state{s, std::numeric_limits<std::int64_t>::min(), 0, false,
                                              backoff(cfg.backoff_min.count(), cfg.backoff_max.count(), ++seed)});
        m_.set_state(s, symbol_health::ok);
        const auto from = context.backfill_from.find(s);
        if (from == context.backfill_from.end()) continue;
        // Ceiling: a start inside a second is asked from the next one, never before the gap.
        const std::int64_t from_s = from->second / 1'000'000'000 + (from->second % 1'000'000'000 > 0 ? 1 : 0);
        const chart_backfill plan = backfill_ranges(from_s, now_s);
        symbols_.back().backfill.assign(plan.chunks.begin(), plan.chunks.end());
        const std::string from_text = format_utc(from_s * 1'000'000'000); // the fields keep views
        std::vector<log::field> f{{"symbol", s}, {"from", from_text}, {"requests", plan.chunks.size()}};
        if (plan.lost_s > 0) {
            m_.backfill().lost_s.add(static_cast<std::uint64_t>(plan.lost_s));
            f.emplace_back("older_than_yahoo_keeps", std::chrono::seconds(plan.lost_s));
            log::write(log_level::warn, "fetch", "the gap reaches further back than Yahoo keeps 1-minute bars", f);
        } else {
            log::write(log_level::info, "fetch", "filling the gap since the last stored bar", f);
        }
    }
}

chart_symbol_state* chart_poller::pick(std::int64_t now, std::int64_t& wait_ns) {
    chart_symbol_state* best = nullptr;
    for (auto& s : symbols_)
        if (!s.in_flight && (best == nullptr || s.due_mono_ns < best->due_mono_ns)) best = &s;
    if (best == nullptr) {
        wait_ns = k_max_nap_ns;
        return nullptr;
    }
    const std::int64_t due = std::max(best->due_mono_ns, host_not_before_);
    wait_ns = due > now ? std::min(due - now, k_max_nap_ns) : 0;
    return wait_ns > 0 ? nullptr : best;
}

boost::asio::awaitable<void> chart_poller::worker(task_run& run) {
    for (;;) {
        if (out_.full()) { // the graph is behind: fetch nothing new until it catches up
            co_await nap(50'000'000);
            continue;
        }
        std::int64_t wait_ns = 0;
        chart_symbol_state* s = pick(mono_ns(), wait_ns);
        if (s == nullptr) {
            co_await nap(wait_ns);
            continue;
        }
        // Held through the request; a worker that dies mid-request gives its symbol back.
        struct in_flight_guard {
            chart_symbol_state& s;
            explicit in_flight_guard(chart_symbol_state& st) : s(st) { s.in_flight = true; }
            ~in_flight_guard() { s.in_flight = false; }
        } guard(*s);
        // The oldest backfill chunk first; the regular poll once they are done.
        const bool chunk = !s->backfill.empty();
        const chart_span span = chunk ? s->backfill.front() : chart_span{};
        m_.requests.add();
        if (chunk) m_.backfill().requests.add();
        const net::http_result res = co_await client_.get(chart_target(prefix_, s->symbol, chunk ? &span : nullptr));
        const bool settled = on_result(*s, res, run, chunk ? &span : nullptr);
        // Answers that keep failing on the symbol's own (unreadable bodies) stop holding anything up.
        const bool hopeless = s->retry.failures() >= k_first_round_patience;
        if (chunk && !settled && hopeless)
            drop_chunk(*s, {res.ok() ? res.response.status : 0, "", "no readable answer after retries"});
        if (!chunk && (settled || hopeless)) first_round_progress(*s);
    }
}

bool chart_poller::on_result(chart_symbol_state& s, const net::http_result& res, task_run& run,
                             const chart_span* span) {
    m_.bytes.add(res.response.wire_bytes);
    if (!res.ok()) {
        m_.errors(net::to_string(res.error)).add();
        if (host_trouble(res.error))
            host_backs_off(s, {0, "", res.detail}, 0);
        else
            symbol_backs_off(s, {0, "", res.detail}, s.retry.next(), symbol_health::backing_off);
        return false;
    }
    const unsigned status = res.response.status;
    m_.responses(status).add();
    if (status == 429 || status >= 500) {
        const auto after = parse_retry_after(res.response.retry_after, wall_ns());
        host_backs_off(s, {status, after ? res.response.retry_after : "", ""}, after.value_or(0));
        return false;
    }
    host_.reset(); // the host answered properly
    if (status == 404) {
        const chart_response r = parse_chart(res.response.body);
        if (span != nullptr) { // "No data found" for a range: the regular poll judges the symbol
            drop_chunk(s, {404, "", r.outcome == chart_outcome::error ? r.error_description : ""});
            return true;
        }
        symbol_backs_off(s, {404, "", r.outcome == chart_outcome::error ? r.error_description : ""},
                         cfg_.not_found_backoff.count(), symbol_health::failing);
        return true;
    }
    if (status != 200) { // Yahoo refuses this request as such: asking again gives the same
        if (span != nullptr) {
            const chart_response r = parse_chart(res.response.body);
            drop_chunk(s, {status, "", r.outcome == chart_outcome::error ? r.error_description : ""});
        } else {
            symbol_backs_off(s, {status, "", ""}, s.retry.next(), symbol_health::failing);
        }
        return true;
    }
    return on_body(s, res.response.body, run, span);
}

bool chart_poller::on_body(chart_symbol_state& s, const std::string& body, task_run& run, const chart_span* span) {
    chart_response r = parse_chart(body);
    if (r.outcome == chart_outcome::invalid) {
        m_.decode_errors.add();
        symbol_backs_off(s, {200, "", "unreadable chart answer: " + r.detail}, s.retry.next(),
                         symbol_health::backing_off);
        return false;
    }
    if (r.outcome == chart_outcome::error && span != nullptr) {
        drop_chunk(s, {200, "", "Yahoo error \"" + r.error_code + ": " + r.error_description + "\""});
        return true;
    }
    if (r.outcome == chart_outcome::error) {
        symbol_backs_off(s, {200, "", "Yahoo error \"" + r.error_code + ": " + r.error_description + "\""},
                         s.retry.next(), symbol_health::failing);
        return true;
    }
    if (span != nullptr) keep_span(r, *span);
    const std::vector<chart_bar> bars =
        take_completed_bars(r, s.last_sent_s, wall_ns() / 1'000'000'000, cfg_.bar_grace.count() / 1'000'000'000);
    char buf[512];
    for (const chart_bar& b : bars) {
        // A bar update: its own OHLCV at ts = the bar's start, the form the parse stage reads.
        tick t;
        t.sym = symbol::from(s.symbol); // configured symbols are checked to fit at load time
        t.ts = b.ts_s * 1'000'000'000;
        t.open = b.open;
        t.high = b.high;
        t.low = b.low;
        t.close = b.close;
        t.volume = b.volume;
        t.is_bar = true;
        json_buffer j(buf, sizeof buf);
        write_tick_json(j, t);
        if (first_round_left_ > 0)
            first_round_.push_back(
                held_bar{b.ts_s, static_cast<std::size_t>(&s - symbols_.data()), std::string(j.view())});
        else
            out_.push(s.symbol, std::string(j.view()));
    }
    m_.ticks.add(bars.size());
    s.bars_sent += bars.size();
    s.retry.reset();
    set_health(s, symbol_health::ok);
    if (span != nullptr) {
        m_.backfill().bars.add(bars.size());
        s.backfill.pop_front();
        s.due_mono_ns = mono_ns(); // the next chunk, or the regular poll, right away
    } else {
        s.due_mono_ns = mono_ns() + cfg_.poll_interval.count();
    }
    run.progress();
    return true;
}

void chart_poller::drop_chunk(chart_symbol_state& s, const chart_trouble& why) {
    const chart_span span = s.backfill.front();
    s.backfill.pop_front();
    s.retry.reset();
    s.due_mono_ns = mono_ns();
    m_.backfill().refused.add();
    const std::string p1 = format_utc(span.from_s * 1'000'000'000), p2 = format_utc(span.to_s * 1'000'000'000);
    std::vector<log::field> f{{"symbol", s.symbol}, {"period1", p1}, {"period2", p2}};
    if (why.status != 0) f.emplace_back("status", why.status);
    if (!why.detail.empty()) f.emplace_back("detail", why.detail);
    log::write(log_level::warn, "fetch", "a backfill request was refused: its span is skipped", f);
}

void chart_poller::first_round_progress(chart_symbol_state& s) {
    if (s.asked || first_round_left_ == 0) return;
    s.asked = true;
    if (--first_round_left_ > 0) return;
    std::stable_sort(first_round_.begin(), first_round_.end(),
                     [](const held_bar& a, const held_bar& b) { return a.ts_s < b.ts_s; });
    for (held_bar& b : first_round_) out_.push(symbols_[b.symbol].symbol, std::move(b.payload));
    first_round_.clear();
    first_round_.shrink_to_fit();
}

void chart_poller::host_backs_off(chart_symbol_state& s, const chart_trouble& why, std::int64_t at_least_ns) {
    const std::int64_t now = mono_ns();
    if (host_not_before_ <= now) { // one back-off step per episode, not one per worker that saw it
        const std::int64_t wait = host_.next_at_least(at_least_ns);
        host_not_before_ = now + wait;
        log_trouble("the host backs off", s, why, wait);
    }
    s.due_mono_ns = host_not_before_;
    set_health(s, host_.failures() >= 3 ? symbol_health::failing : symbol_health::backing_off);
}

void chart_poller::symbol_backs_off(chart_symbol_state& s, const chart_trouble& why, std::int64_t wait_ns,
                                    symbol_health h) {
    s.due_mono_ns = mono_ns() + wait_ns;
    if (s.health != h || s.retry.failures() <= 1) log_trouble("the symbol backs off", s, why, wait_ns);
    set_health(s, h);
}

void chart_poller::set_health(chart_symbol_state& s, symbol_health h) {
    if (s.health != h && h == symbol_health::ok)
        log::info("fetch", "the symbol answers again", {{"symbol", s.symbol}, {"health", health_word(h)}});
    s.health = h;
    m_.set_state(s.symbol, h);
}

} // namespace tapewire
