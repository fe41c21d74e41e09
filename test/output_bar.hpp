// A bar line of tapewire's NDJSON output, read back with simdjson: the one reader the end-to-end
// tests share, so that they all check the same fields the same way.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace tapewire::test {

struct out_bar {
    std::string symbol;
    std::int64_t start = 0, end = 0;
    double open = 0, high = 0, low = 0, close = 0, volume = 0, vwap = NAN; // vwap NaN when null
    std::uint64_t trades = 0, revision = 0;
};

inline out_bar bar_from(simdjson::dom::element e) {
    out_bar b;
    b.symbol = std::string(std::string_view(e["symbol"].get_string()));
    b.start = e["window_start"].get_int64();
    b.end = e["window_end"].get_int64();
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

} // namespace tapewire::test
