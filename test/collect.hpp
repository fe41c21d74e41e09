// Test helpers shared by the operator tests: an emitter that keeps a copy of everything it is given,
// and a way to build a raw_message whose payload is followed by k_message_padding readable bytes.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/message_ring.hpp"
#include "tapewire/stage.hpp"

namespace tapewire::test {

// A dead letter with its bytes copied out: a dead_letter_view only lives for the call.
struct collected_dead_letter {
    dead_letter_reason reason = dead_letter_reason::not_json;
    std::string payload, key, detail;
    origin src;
};

// The end of a chain in a test: stores a copy of every event, in arrival order per kind, plus one
// sequence of kinds so tests can check the interleaving (e.g. bars before their watermark).
struct collector {
    enum class kind { tick, bar, bar_update, alert, dead_letter, watermark, timer, flush };

    std::vector<tick> ticks;
    std::vector<bar> bars;
    std::vector<bar> bar_updates; // open bars so far (window.emit_updates)
    std::vector<alert> alerts;
    std::vector<collected_dead_letter> dead_letters;
    std::vector<watermark> watermarks;
    std::vector<timestamp_ns> timers;
    std::size_t flushes = 0;
    std::vector<kind> order;

    void on_tick(const tick& t) {
        ticks.push_back(t);
        order.push_back(kind::tick);
    }
    void on_bar(const bar& b) {
        bars.push_back(b);
        order.push_back(kind::bar);
    }
    void on_bar_update(const bar& b) {
        bar_updates.push_back(b);
        order.push_back(kind::bar_update);
    }
    void on_alert(const alert& a) {
        alerts.push_back(a);
        order.push_back(kind::alert);
    }
    void on_dead_letter(const dead_letter_view& d) {
        dead_letters.push_back({d.reason, std::string(d.payload), std::string(d.key), std::string(d.detail), d.src});
        order.push_back(kind::dead_letter);
    }
    void on_watermark(const watermark& w) {
        watermarks.push_back(w);
        order.push_back(kind::watermark);
    }
    void on_timer(timestamp_ns now) {
        timers.push_back(now);
        order.push_back(kind::timer);
    }
    void on_flush() {
        ++flushes;
        order.push_back(kind::flush);
    }

    void clear() {
        ticks.clear();
        bars.clear();
        bar_updates.clear();
        alerts.clear();
        dead_letters.clear();
        watermarks.clear();
        timers.clear();
        flushes = 0;
        order.clear();
    }
};

static_assert(emitter<collector>);

// Owns a payload copy followed by k_message_padding spare bytes, as the parse stage requires, and
// hands out raw_messages that point into it. The key is owned too.
class padded_message {
public:
    explicit padded_message(std::string_view payload, std::string_view key = {}, origin src = {})
        : key_(key), src_(src) {
        buf_.reserve(payload.size() + k_message_padding);
        buf_.assign(payload);
        buf_.append(k_message_padding, '\0');
        size_ = payload.size();
    }

    [[nodiscard]] raw_message raw() const noexcept { return {std::string_view(buf_.data(), size_), key_, src_}; }
    [[nodiscard]] std::string_view payload() const noexcept { return {buf_.data(), size_}; }

private:
    std::string buf_;
    std::string key_;
    std::size_t size_ = 0;
    origin src_;
};

// Two bars equal bit for bit, NaN fields included: a run compared with another that must match it.
inline bool bit_identical(const bar& a, const bar& b) {
    auto same = [](double x, double y) { return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y); };
    return a.sym == b.sym && a.window_start == b.window_start && a.window_end == b.window_end && same(a.open, b.open) &&
           same(a.high, b.high) && same(a.low, b.low) && same(a.close, b.close) && same(a.volume, b.volume) &&
           same(a.pv, b.pv) && a.trades == b.trades && same(a.vwap, b.vwap) && same(a.session_vwap, b.session_vwap) &&
           same(a.rolling_vwap, b.rolling_vwap) && same(a.vwap_dev_bps, b.vwap_dev_bps) && a.revision == b.revision &&
           a.partition == b.partition && a.last_offset == b.last_offset;
}

// Shorthand for a trade tick in partition `partition` (ts in ns).
inline tick trade_at(std::string_view sym, timestamp_ns ts, double price, double size, std::int32_t partition = 0,
                     std::int64_t offset = -1) {
    tick t = tick::trade(symbol::from(sym), ts, price, size);
    t.src.partition = partition;
    t.src.offset = offset;
    return t;
}

} // namespace tapewire::test
