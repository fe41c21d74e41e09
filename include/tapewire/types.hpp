// The values that flow through the graph: ticks in, bars and alerts out, dead letters aside.
// All are plain, trivially copyable and heap free, so they can sit in a ring slot.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include "tapewire/symbol.hpp"

namespace tapewire {

using timestamp_ns = std::int64_t; // event time, ns since the Unix epoch, UTC

inline constexpr timestamp_ns k_no_time = std::numeric_limits<timestamp_ns>::min();
inline constexpr double k_null_double = std::numeric_limits<double>::quiet_NaN();

// Where an input came from, so later stages can attribute watermarks and offsets.
struct origin {
    std::int32_t partition = 0;
    std::int64_t offset = -1;   // position in the source partition (-1: none)
    std::int64_t ingest_ns = 0; // monotonic clock when the raw message was handed to parse
};

// A bar update's contribution to the VWAP numerator: its typical price times its volume.
constexpr double bar_pv(double high, double low, double close, double volume) noexcept {
    return (high + low + close) / 3.0 * volume;
}

// One market update. A trade has open = high = low = close = price; a bar update (from a
// bar-shaped message) carries its own OHLCV at ts = the bar's start.
struct tick {
    symbol sym;
    timestamp_ns ts = 0;
    double open = 0, high = 0, low = 0, close = 0;
    double volume = 0;
    double pv = 0;              // contribution to the VWAP numerator
    double bid = k_null_double; // NaN when absent
    double ask = k_null_double;
    std::uint32_t trades = 1; // trades this update stands for (0 for a bar update of unknown count)
    bool is_bar = false;
    origin src;

    [[nodiscard]] double price() const noexcept { return close; }

    static tick trade(symbol s, timestamp_ns ts, double price, double size) noexcept {
        tick t;
        t.sym = s;
        t.ts = ts;
        t.open = t.high = t.low = t.close = price;
        t.volume = size;
        t.pv = price * size;
        return t;
    }
};

// A finished (or corrected) tumbling window for one symbol.
struct bar {
    symbol sym;
    timestamp_ns window_start = 0;
    timestamp_ns window_end = 0;
    double open = 0, high = 0, low = 0, close = 0;
    double volume = 0;
    double pv = 0; // Σ price·size (ticks) + Σ typical·volume (bar updates)
    std::uint64_t trades = 0;
    double vwap = k_null_double;         // NaN (NULL) when volume == 0
    double session_vwap = k_null_double; // filled by the vwap stage
    double rolling_vwap = k_null_double;
    double vwap_dev_bps = k_null_double; // (close - session_vwap) / session_vwap * 1e4
    std::uint32_t revision = 0;          // 0 = first emission, n = n-th late correction
    std::int32_t partition = 0;
    std::int64_t last_offset = -1; // highest source offset merged into this bar
};

// A bar's window width: no field of its own, since its window says it (NDJSON, Kafka and SQL carry it).
[[nodiscard]] constexpr timestamp_ns bar_width(const bar& b) noexcept { return b.window_end - b.window_start; }

enum class alert_kind : std::uint8_t { price_jump, return_z, volume_spike, vwap_dev };

constexpr std::string_view to_string(alert_kind k) noexcept {
    switch (k) {
    case alert_kind::price_jump: return "price_jump";
    case alert_kind::return_z: return "return_z";
    case alert_kind::volume_spike: return "volume_spike";
    case alert_kind::vwap_dev: return "vwap_dev";
    }
    return "unknown";
}

struct alert {
    symbol sym;
    timestamp_ns ts = 0; // the tick's ts (price_jump) or the bar's window_start
    alert_kind kind = alert_kind::price_jump;
    double value = 0;
    double threshold = 0;
    double score = 0; // |value| / threshold: how far past the line
    std::int32_t partition = 0;
};

enum class dead_letter_reason : std::uint8_t {
    not_json,
    missing_field,
    bad_price,
    bad_size,
    bad_quote,
    bad_symbol,
    bad_ts,
    future_ts,
    late,
    count_ // keep last
};

inline constexpr std::size_t k_dead_letter_reasons = static_cast<std::size_t>(dead_letter_reason::count_);

constexpr std::string_view to_string(dead_letter_reason r) noexcept {
    switch (r) {
    case dead_letter_reason::not_json: return "not_json";
    case dead_letter_reason::missing_field: return "missing_field";
    case dead_letter_reason::bad_price: return "bad_price";
    case dead_letter_reason::bad_size: return "bad_size";
    case dead_letter_reason::bad_quote: return "bad_quote";
    case dead_letter_reason::bad_symbol: return "bad_symbol";
    case dead_letter_reason::bad_ts: return "bad_ts";
    case dead_letter_reason::future_ts: return "future_ts";
    case dead_letter_reason::late: return "late";
    case dead_letter_reason::count_: break;
    }
    return "unknown";
}

// A rejected input, valid only for the duration of the call that receives it.
struct dead_letter_view {
    dead_letter_reason reason = dead_letter_reason::not_json;
    std::string_view payload;
    std::string_view key;
    std::string_view detail; // e.g. the missing field's name
    origin src;
};

static_assert(std::is_trivially_copyable_v<tick>);
static_assert(std::is_trivially_copyable_v<bar>);
static_assert(std::is_trivially_copyable_v<alert>);

} // namespace tapewire
