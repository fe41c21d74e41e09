// A bar line of tapewire's NDJSON output, read back with simdjson: the one reader the end-to-end
// tests share, so that they all check the same fields the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <simdjson.h>

namespace tapewire::test {

struct out_bar {
    std::string symbol;
    std::int64_t start = 0, end = 0, width = 0; // width: the line's width_ns, always end - start
    double open = 0, high = 0, low = 0, close = 0, volume = 0, vwap = NAN; // vwap NaN when null
    std::uint64_t trades = 0, revision = 0;
};

inline out_bar bar_from(simdjson::dom::element e) {
    out_bar b;
    b.symbol = std::string(std::string_view(e["symbol"].get_string()));
    b.start = e["window_start"].get_int64();
    b.end = e["window_end"].get_int64();
    b.width = e["width_ns"].get_int64();
    CHECK(b.width == b.end - b.start);
    b.open = e["open"].get_double();
    b.high = e["high"].get_double();
    b.low = e["low"].get_double();
    b.close = e["close"].get_double();
    b.volume = e["volume"].get_double();
    b.trades = e["trades"].get_uint64();
    b.revision = e["revision"].get_uint64();
    if (!e["vwap"].is_null()) b.vwap = e["vwap"].get_double();
    return b;
}

inline out_bar parse_bar(const std::string& line) {
    simdjson::dom::parser parser;
    return bar_from(parser.parse(line));
}

// A bar computed by a test, independently of the window stage: each message folded in with its own
// OHLCV (a trade: open = high = low = close = price) and its contribution to the VWAP numerator.
struct expected_bar {
    std::int64_t open_ts = 0, close_ts = 0;
    double open = 0, high = 0, low = 0, close = 0, volume = 0, pv = 0;
    std::uint64_t trades = 0;

    void add(std::int64_t ts, double o, double h, double l, double c, double v, double pv_of) {
        if (trades == 0) {
            open_ts = close_ts = ts;
            open = o;
            close = c;
            high = h;
            low = l;
        }
        if (ts < open_ts) {
            open_ts = ts;
            open = o;
        }
        if (ts >= close_ts) {
            close_ts = ts;
            close = c;
        }
        high = std::max(high, h);
        low = std::min(low, l);
        volume += v;
        pv += pv_of;
        ++trades;
    }
    void add_trade(std::int64_t ts, double price, double size) {
        add(ts, price, price, price, price, size, price * size);
    }
};

// An output bar against the computed one: its end, OHLCV, trades and VWAP (to 1e-9).
inline void check_bar(const out_bar& b, const expected_bar& a, std::int64_t end) {
    CHECK(b.end == end);
    CHECK(b.open == a.open);
    CHECK(b.high == a.high);
    CHECK(b.low == a.low);
    CHECK(b.close == a.close);
    CHECK(b.volume == a.volume);
    CHECK(b.trades == a.trades);
    const double vwap = a.pv / a.volume;
    CHECK(std::fabs(b.vwap - vwap) <= 1e-9 * vwap);
}

} // namespace tapewire::test
