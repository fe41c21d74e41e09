#include "src/sink/webhook.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"
#include "src/net/http_client.hpp"
#include "src/net/http_fields.hpp"
#include "src/net/io_thread.hpp"
#include "src/net/url.hpp"
#include "tapewire/backoff.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/spsc_ring.hpp"
#include "tapewire/time_text.hpp"

namespace tapewire {

namespace asio = boost::asio;

namespace {

// How often the delivery thread looks at an empty queue. The pusher never wakes it (that would
// take a lock or a syscall on the analytics thread): an alert waits at most this long to leave,
// and an idle webhook costs 50 wake-ups a second.
constexpr std::chrono::milliseconds k_poll{20};
// At most one "queue full" warning this often; the count is in webhook_dropped_total.
constexpr std::int64_t k_drop_log_every_ns = 10'000'000'000;

// An alert and when it was offered (for the delivery latency).
struct queued {
    alert a;
    std::int64_t offered_ns = 0;
};

std::string slack_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        default: out += c;
        }
    }
    return out;
}

// "2026-12-03T15:04:05Z": a chat line needs no microseconds.
std::string utc_seconds(timestamp_ns ts) {
    std::string s = format_utc(ts);
    const std::size_t dot = s.find('.');
    if (dot != std::string::npos) s = s.substr(0, dot) + "Z";
    return s;
}

// Validated by the config already; a line that does not parse is left out rather than sent broken.
std::vector<net::http_header> parse_headers(const std::vector<std::string>& lines) {
    std::vector<net::http_header> out;
    for (const auto& line : lines)
        if (auto h = net::parse_header_line(line)) out.push_back(std::move(*h));
    return out;
}

} // namespace

std::string webhook_key(const alert& a) {
    std::string out;
    for (const char ch : a.sym.view()) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || c == '|' || c == '%') {
            static constexpr char hex[] = "0123456789ABCDEF";
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    out += '|';
    out += std::to_string(a.ts);
    out += '|';
    out += to_string(a.kind);
    return out;
}

std::string webhook_text(const alert& a) {
    const std::string sym = slack_escape(a.sym.view());
    const std::string at = utc_seconds(a.ts);
    char buf[256];
    switch (a.kind) {
    case alert_kind::price_jump: // value: the log return between two updates
        std::snprintf(buf, sizeof buf, "%s price jump %+.2f%% at %s (%.1f\u00d7 the threshold)", sym.c_str(),
                      std::expm1(a.value) * 100, at.c_str(), a.score);
        break;
    case alert_kind::return_z:
        std::snprintf(buf, sizeof buf, "%s bar return %+.1f\u03c3 at %s (threshold %.3g\u03c3)", sym.c_str(), a.value,
                      at.c_str(), a.threshold);
        break;
    case alert_kind::volume_spike:
        std::snprintf(buf, sizeof buf, "%s volume %.1f\u00d7 its average at %s (threshold %.3g\u00d7)", sym.c_str(),
                      a.value, at.c_str(), a.threshold);
        break;
    case alert_kind::vwap_dev:
        std::snprintf(buf, sizeof buf, "%s %+.0f bps from its session VWAP at %s (threshold %.3g bps)", sym.c_str(),
                      a.value, at.c_str(), a.threshold);
        break;
    default:
        std::snprintf(buf, sizeof buf, "%s %s %g at %s", sym.c_str(), std::string(to_string(a.kind)).c_str(), a.value,
                      at.c_str());
    }
    return buf;
}

std::string webhook_body(const alert& a) {
    // The alert's fields as the NDJSON sink writes them, its closing brace traded for two more.
    char fields[320];
    json_buffer f(fields, sizeof fields);
    write_alert_json(f, a);
    std::string out(f.view().substr(0, f.size() - 1));
    const std::string text = webhook_text(a);
    const std::string key = webhook_key(a);
    std::string tail(64 + 6 * (text.size() + key.size()), '\0'); // room for every byte as \u00XX
    json_buffer t(tail.data(), tail.size());
    t.raw(",\"text\":").string(text).raw(",\"idempotency_key\":").string(key).ch('}');
    out += t.view();
    return out;
}

struct webhook_sink::impl {
    enum class outcome { delivered, given_up, abandoned };

    alerts_config cfg;
    net::url url;
    std::string endpoint; // scheme://host[:port]/… for logs
    std::vector<net::http_header> headers;
    metrics_registry& metrics;
    spsc_ring<queued> ring;

    counter& sent;
    counter& given_up;
    counter& dropped;
    counter& undelivered;
    counter& retries;
    gauge& depth;
    histogram& latency;
    std::map<std::string, counter*> failed; // by status or network error; delivery thread only

    // Declared before what uses it, so it is destroyed last: a delivery abandoned at the drain
    // deadline is destroyed with the io_context, after the client and the thread are gone.
    asio::io_context io;
    std::unique_ptr<net::http_client> client;
    net::io_thread thread;

    std::atomic<bool> stopping{false};
    std::atomic<std::int64_t> deadline_ns{std::numeric_limits<std::int64_t>::max()};
    std::atomic<bool> done{false};
    bool started = false;
    bool stopped = false;
    bool in_flight = false; // delivery thread; read by stop() after the join
    std::uint64_t drops_logged = 0;
    std::int64_t next_drop_log_ns = 0;

    impl(const alerts_config& c, metrics_registry& m, error_handler on_error)
        : cfg(c), url(net::parse_url(c.webhook_url)), endpoint(url.scheme + "://" + url.host_header() + "/…"),
          headers(parse_headers(c.headers)), metrics(m), ring(std::max<std::uint32_t>(1, c.queue)),
          sent(m.get_counter("webhook_sent_total", "alerts the webhook answered with a 2xx")),
          given_up(m.get_counter("webhook_given_up_total", "alerts the webhook refused for good (4xx, 3xx)")),
          dropped(m.get_counter("webhook_dropped_total", "alerts dropped: the webhook queue was full")),
          undelivered(m.get_counter("webhook_undelivered_total", "alerts still queued when the drain time ran out")),
          retries(m.get_counter("webhook_retries_total", "webhook tries after a failed one")),
          depth(m.get_gauge("webhook_queue_depth", "alerts waiting for the webhook")),
          latency(m.get_histogram("webhook_delivery_latency_ns", "from an alert's offer to its 2xx (ns)")),
          thread(io, runner_options{.name = "tw-webhook"}, std::move(on_error)) {
        if (url.scheme != "http" && url.scheme != "https")
            throw std::invalid_argument("alerts.webhook_url: must be an http or https URL");
        net::http_options o;
        o.user_agent = "tapewire-webhook";
        o.connect_timeout = cfg.timeout;
        o.request_timeout = cfg.timeout;
        o.max_connections = 1; // in order, one at a time
        o.max_body_bytes = 1 << 20;
        client = std::make_unique<net::http_client>(io.get_executor(), url, o);
    }

    [[nodiscard]] bool past_deadline() const noexcept {
        return mono_ns() >= deadline_ns.load(std::memory_order_acquire);
    }

    counter& failed_with(const std::string& cause) {
        auto it = failed.find(cause);
        if (it == failed.end())
            it = failed
                     .emplace(cause, &metrics.get_counter("webhook_failed_total{status=\"" + cause + "\"}",
                                                          "failed webhook tries, by HTTP status or network error"))
                     .first;
        return *it->second;
    }

    void note_drops() {
        const std::uint64_t total = dropped.value();
        if (total == drops_logged || mono_ns() < next_drop_log_ns) return;
        log::warn("webhook", "queue full: alerts dropped",
                  {{"dropped", total - drops_logged},
                   {"dropped_total", total},
                   {"queue", ring.capacity()},
                   {"endpoint", endpoint}});
        drops_logged = total;
        next_drop_log_ns = mono_ns() + k_drop_log_every_ns;
    }

    static asio::awaitable<void> nap(asio::steady_timer& t, std::chrono::nanoseconds d) {
        boost::system::error_code ec;
        t.expires_after(d);
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }

    asio::awaitable<void> run() {
        asio::steady_timer timer(io.get_executor());
        for (;;) {
            note_drops();
            queued* q = ring.front();
            depth.set(static_cast<std::int64_t>(ring.was_size()));
            if (q == nullptr) {
                // stop() is called once nothing more is offered: empty now is empty for good.
                if (stopping.load(std::memory_order_acquire)) break;
                co_await nap(timer, k_poll);
                continue;
            }
            const queued item = *q;
            ring.pop();
            ring.release(); // one store per alert: the producer sees the room at once
            in_flight = true;
            const outcome o = co_await deliver(item, timer);
            in_flight = false;
            if (o == outcome::abandoned) {
                undelivered.add();
                break;
            }
        }
        depth.set(static_cast<std::int64_t>(ring.was_size()));
        done.store(true, std::memory_order_release);
    }

    asio::awaitable<outcome> deliver(const queued& item, asio::steady_timer& timer) {
        const std::string key = webhook_key(item.a);
        const std::string body = webhook_body(item.a);
        backoff wait(cfg.retry_min.count(), cfg.retry_max.count(),
                     0x5eed ^ static_cast<std::uint64_t>(item.offered_ns));
        for (;;) {
            if (past_deadline()) co_return outcome::abandoned;
            std::vector<net::http_header> h = headers;
            h.push_back({"Idempotency-Key", key});
            const net::http_result r = co_await client->post(url.target, body, "application/json", std::move(h));
            const unsigned status = r.ok() ? r.response.status : 0;
            if (status >= 200 && status < 300) {
                sent.add();
                latency.record(mono_ns() - item.offered_ns);
                if (wait.failures() > 0)
                    log::info("webhook", "alert delivered after retries",
                              {{"key", key}, {"tries", wait.failures() + 1}, {"endpoint", endpoint}});
                co_return outcome::delivered;
            }
            const std::string cause = r.ok() ? std::to_string(status) : std::string(net::to_string(r.error));
            failed_with(cause).add();
            if (r.ok() && status != 408 && status != 429 && status < 500) {
                given_up.add();
                log::warn("webhook", "the endpoint refused an alert; giving it up",
                          {{"status", status},
                           {"key", key},
                           {"endpoint", endpoint},
                           {"answer", std::string_view(r.response.body).substr(0, 200)}});
                co_return outcome::given_up;
            }
            const std::optional<std::int64_t> asked =
                r.ok() ? net::parse_retry_after(r.response.retry_after, wall_ns()) : std::nullopt;
            const std::int64_t pause_ns =
                asked ? wait.next_at_least(std::min<std::int64_t>(
                            *asked, std::chrono::duration_cast<std::chrono::nanoseconds>(k_max_retry_after).count()))
                      : wait.next();
            retries.add();
            log::warn("webhook", "delivery failed; retrying",
                      {{"status", cause},
                       {"detail", r.ok() ? std::string_view(r.response.retry_after) : std::string_view(r.detail)},
                       {"key", key},
                       {"try", wait.failures()},
                       {"retry_in", std::chrono::nanoseconds(pause_ns)},
                       {"endpoint", endpoint}});
            // In slices, so that the drain deadline cuts a long back-off short.
            for (const std::int64_t until = mono_ns() + pause_ns;;) {
                const std::int64_t left = until - mono_ns();
                if (left <= 0) break;
                if (past_deadline()) co_return outcome::abandoned;
                co_await nap(timer, std::min<std::chrono::nanoseconds>(k_poll, std::chrono::nanoseconds(left)));
            }
        }
    }

    void start() {
        if (started || stopped) return;
        started = true;
        asio::co_spawn(io, run(), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e); // out of the io_context's poll: the runner's error handler
        });
        thread.start();
    }

    void stop() {
        if (stopped) return;
        stopped = true;
        const std::int64_t deadline = mono_ns() + cfg.drain_timeout.count();
        deadline_ns.store(deadline, std::memory_order_release);
        stopping.store(true, std::memory_order_release);
        if (started) {
            while (!done.load(std::memory_order_acquire) && !thread.failed() && mono_ns() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            thread.stop();
        }
        // The thread is joined: its side of the ring and in_flight are ours to read.
        std::uint64_t left = in_flight ? 1 : 0;
        while (ring.front() != nullptr) {
            ring.pop();
            ++left;
        }
        undelivered.add(left);
        depth.set(0);
        const webhook_counts c = counts_now();
        if (left > 0 || c.dropped > 0 || c.given_up > 0)
            log::warn("webhook", "stopped with alerts not delivered",
                      {{"sent", c.sent},
                       {"undelivered", c.undelivered},
                       {"dropped", c.dropped},
                       {"given_up", c.given_up},
                       {"endpoint", endpoint}});
    }

    [[nodiscard]] webhook_counts counts_now() const noexcept {
        return {sent.value(), given_up.value(), dropped.value(), undelivered.value(), retries.value()};
    }
};

webhook_sink::webhook_sink(const alerts_config& cfg, metrics_registry& metrics, error_handler on_error)
    : impl_(std::make_unique<impl>(cfg, metrics, std::move(on_error))) {}

webhook_sink::~webhook_sink() {
    if (impl_) impl_->stop();
}

bool webhook_sink::offer(const alert& a) noexcept {
    if (impl_->ring.try_push(queued{a, mono_ns()})) return true;
    impl_->dropped.add();
    return false;
}

void webhook_sink::start() { impl_->start(); }

void webhook_sink::stop() { impl_->stop(); }

webhook_counts webhook_sink::counts() const noexcept { return impl_->counts_now(); }

std::string webhook_sink::describe() const { return "webhook(" + impl_->endpoint + ")"; }

} // namespace tapewire
