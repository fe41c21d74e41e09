// What the network sources (yahoo-chart, yahoo-stream) share: the hand-over from the fetch thread
// to the source thread, their metrics, and the supervisor that restarts a failed task with back-off.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "src/base/metrics.hpp"

namespace tapewire {

// Messages made on the fetch thread (io_context), taken on the source thread. Never drops: when
// more than `soft_limit` messages wait, full() tells the fetchers to hold their next request.
class fetch_outbox {
public:
    explicit fetch_outbox(std::size_t soft_limit) : limit_(soft_limit) {}

    void push(std::string key, std::string payload) {
        std::lock_guard lk(mu_);
        q_.push_back({std::move(key), std::move(payload)});
    }
    // Moves the oldest message into key/payload; false when none waits.
    bool pop(std::string& key, std::string& payload) {
        std::lock_guard lk(mu_);
        if (q_.empty()) return false;
        key = std::move(q_.front().key);
        payload = std::move(q_.front().payload);
        q_.pop_front();
        return true;
    }
    [[nodiscard]] std::size_t size() const {
        std::lock_guard lk(mu_);
        return q_.size();
    }
    [[nodiscard]] bool full() const { return size() >= limit_; }

private:
    struct item {
        std::string key, payload;
    };
    mutable std::mutex mu_;
    std::deque<item> q_;
    std::size_t limit_;
};

// Per-symbol health, as the gauge yahoo_symbol_state shows it.
enum class symbol_health : std::int64_t { ok = 0, backing_off = 1, failing = 2 };

// Metrics of one network source, all labelled source="chart" or source="stream". Registered on
// first use; used from the fetch thread only (the registry itself is thread safe).
class fetch_metrics {
public:
    fetch_metrics(metrics_registry& reg, std::string source);

    counter& requests;      // HTTP requests sent / subscriptions sent
    counter& bytes;         // bytes received, before decoding
    counter& ticks;         // messages handed to the graph (bars for chart, ticks for stream)
    counter& decode_errors; // bodies or frames that could not be decoded
    counter& reconnects;    // stream: connections made after the first
    counter& restarts;      // tasks restarted by the supervisor after a failure
    counter& skipped;       // rows or frames without a usable price (null bars, heartbeats)

    // yahoo-chart's gap backfill, registered on first use (the streamer has none).
    struct backfill_counters {
        counter& requests; // ranged requests sent (period1/period2)
        counter& bars;     // bars they brought that had not been sent
        counter& refused;  // chunks Yahoo refused (out of range, no data) or that never read: dropped
        counter& lost_s;   // seconds of gaps older than Yahoo keeps 1-minute bars: not asked
    };
    backfill_counters& backfill();

    counter& responses(unsigned status);    // yahoo_responses{source,status="200"}
    counter& errors(std::string_view kind); // yahoo_errors{source,error="timeout"}: no HTTP answer at all
    void set_state(const std::string& symbol, symbol_health h);
    [[nodiscard]] symbol_health state(const std::string& symbol) const;

private:
    metrics_registry& reg_;
    std::string source_;
    std::map<unsigned, counter*> responses_;
    std::map<std::string, counter*, std::less<>> errors_;
    std::map<std::string, gauge*, std::less<>> states_;
    std::optional<backfill_counters> backfill_;
};

} // namespace tapewire
