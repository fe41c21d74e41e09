#include "src/sources/yahoo_chart.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <simdjson.h>

#include "src/net/url.hpp"

namespace tapewire {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// "1m" -> 60, "5m" -> 300, "1h" -> 3600, "1d" -> 86400, "1wk" -> 604800; 0 when unknown.
std::int64_t granularity_seconds(std::string_view g) {
    std::int64_t n = 0;
    const auto r = std::from_chars(g.data(), g.data() + g.size(), n);
    if (r.ec != std::errc() || n <= 0) return 0;
    const std::string_view unit(r.ptr, static_cast<std::size_t>(g.data() + g.size() - r.ptr));
    if (unit == "m") return n * 60;
    if (unit == "h") return n * 3600;
    if (unit == "d") return n * 86400;
    if (unit == "wk") return n * 7 * 86400;
    return 0; // "mo": not a fixed length
}

// One element of a quote array: a number, or null (nullopt); anything else is a shape error.
bool number_of(element e, std::optional<double>& out) {
    if (e.is_null()) {
        out.reset();
        return true;
    }
    double v = 0;
    if (e.get_double().get(v) != simdjson::SUCCESS) return false;
    out = v;
    return true;
}

chart_response invalid(std::string detail) {
    chart_response r;
    r.outcome = chart_outcome::invalid;
    r.detail = std::move(detail);
    return r;
}

} // namespace

chart_response parse_chart(std::string_view body) {
    simdjson::dom::parser parser;
    element doc;
    if (auto err = parser.parse(body.data(), body.size()).get(doc); err != simdjson::SUCCESS)
        return invalid(std::string("not JSON: ") + simdjson::error_message(err));
    object chart;
    if (doc["chart"].get(chart) != simdjson::SUCCESS) return invalid("no \"chart\" object");

    chart_response r;
    element err_el;
    if (chart["error"].get(err_el) == simdjson::SUCCESS && !err_el.is_null()) {
        r.outcome = chart_outcome::error;
        std::string_view s;
        if (err_el["code"].get(s) == simdjson::SUCCESS) r.error_code = s;
        if (err_el["description"].get(s) == simdjson::SUCCESS) r.error_description = s;
        return r;
    }
    array results;
    if (chart["result"].get(results) != simdjson::SUCCESS) return invalid("no chart.result array");
    object result;
    if (results.at(0).get(result) != simdjson::SUCCESS) {
        r.outcome = chart_outcome::no_bars; // "result": [] answers a symbol without data
        return r;
    }
    std::string_view granularity;
    if (result["meta"]["dataGranularity"].get(granularity) == simdjson::SUCCESS) {
        if (const std::int64_t g = granularity_seconds(granularity); g > 0) r.interval_s = g;
    }
    array stamps;
    if (result["timestamp"].get(stamps) != simdjson::SUCCESS || stamps.size() == 0) {
        r.outcome = chart_outcome::no_bars;
        return r;
    }
    object quote;
    array quotes;
    if (result["indicators"]["quote"].get(quotes) != simdjson::SUCCESS || quotes.at(0).get(quote) != simdjson::SUCCESS)
        return invalid("timestamps without indicators.quote[0]");
    array open, high, low, close, volume;
    if (quote["open"].get(open) != simdjson::SUCCESS || quote["high"].get(high) != simdjson::SUCCESS ||
        quote["low"].get(low) != simdjson::SUCCESS || quote["close"].get(close) != simdjson::SUCCESS ||
        quote["volume"].get(volume) != simdjson::SUCCESS)
        return invalid("indicators.quote[0] lacks one of open, high, low, close, volume");
    const std::size_t n = stamps.size();
    if (open.size() != n || high.size() != n || low.size() != n || close.size() != n || volume.size() != n)
        return invalid("quote arrays and timestamp differ in length");

    r.bars.reserve(n);
    // The six arrays walked in step (array::at is a linear scan in simdjson's DOM).
    auto io = open.begin(), ih = high.begin(), il = low.begin(), ic = close.begin(), iv = volume.begin();
    for (element ts_el : stamps) {
        std::int64_t ts = 0;
        if (ts_el.get_int64().get(ts) != simdjson::SUCCESS) return invalid("a timestamp is not an integer");
        std::optional<double> o, h, l, c, v;
        if (!number_of(*io, o) || !number_of(*ih, h) || !number_of(*il, l) || !number_of(*ic, c) || !number_of(*iv, v))
            return invalid("a quote value is neither a number nor null");
        ++io;
        ++ih;
        ++il;
        ++ic;
        ++iv;
        r.live_row_null = !o || !h || !l || !c || !std::isfinite(*o) || !std::isfinite(*h) || !std::isfinite(*l) ||
                          !std::isfinite(*c);
        if (r.live_row_null) {
            ++r.null_rows;
            continue;
        }
        // The live bar is stamped at the last trade; its bar starts at the interval boundary.
        if (r.interval_s < 86400) ts -= ((ts % r.interval_s) + r.interval_s) % r.interval_s;
        r.bars.push_back(chart_bar{ts, *o, *h, *l, *c, v && std::isfinite(*v) && *v > 0 ? *v : 0.0});
    }
    r.outcome = chart_outcome::bars;
    return r;
}

std::vector<chart_bar> take_completed_bars(const chart_response& r, std::int64_t& last_sent_s, std::int64_t now_s,
                                           std::int64_t grace_s) {
    std::vector<chart_bar> out;
    if (r.outcome != chart_outcome::bars) return out;
    for (std::size_t i = 0; i < r.bars.size(); ++i) {
        const chart_bar& b = r.bars[i];
        if (b.ts_s <= last_sent_s) continue;
        const bool last = i + 1 == r.bars.size() && !r.live_row_null;
        if (last && now_s < b.ts_s + r.interval_s + grace_s) break; // still filling
        // Two rows for one interval (the live bar floored onto a listed one): the later wins, once complete.
        if (i + 1 < r.bars.size() && r.bars[i + 1].ts_s == b.ts_s) continue;
        out.push_back(b);
        last_sent_s = b.ts_s;
    }
    return out;
}

chart_backfill backfill_ranges(std::int64_t from_s, std::int64_t now_s) {
    chart_backfill b;
    const std::int64_t oldest = now_s - k_chart_1m_history_s + k_chart_history_margin_s;
    if (from_s < oldest) {
        b.lost_s = oldest - from_s;
        from_s = oldest;
    }
    for (std::int64_t at = from_s; at < now_s; at += k_chart_1m_chunk_s)
        b.chunks.push_back(chart_span{at, std::min(now_s, at + k_chart_1m_chunk_s)});
    return b;
}

void keep_span(chart_response& r, chart_span span) {
    const std::size_t before = r.bars.size();
    std::erase_if(r.bars, [&](const chart_bar& b) { return b.ts_s < span.from_s; });
    const std::size_t kept_early = r.bars.size();
    std::erase_if(r.bars, [&](const chart_bar& b) { return b.ts_s >= span.to_s; });
    if (r.bars.size() < kept_early) r.live_row_null = true;
    if (r.outcome == chart_outcome::bars && r.bars.empty() && before > 0) r.outcome = chart_outcome::no_bars;
}

std::string chart_target(std::string_view path_prefix, std::string_view symbol, const chart_span* span) {
    while (!path_prefix.empty() && path_prefix.back() == '/') path_prefix.remove_suffix(1);
    std::string t(path_prefix);
    t += "/v8/finance/chart/";
    t += net::percent_encode(symbol);
    if (span == nullptr) {
        t += "?interval=1m&range=1d&includePrePost=false";
        return t;
    }
    t += "?interval=1m&period1=" + std::to_string(span->from_s) + "&period2=" + std::to_string(span->to_s) +
         "&includePrePost=false";
    return t;
}

} // namespace tapewire
