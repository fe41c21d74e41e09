// Yahoo Finance's chart endpoint (/v8/finance/chart/{symbol}) as data: reading a response body and
// choosing which 1-minute bars are complete and not yet sent. Pure code: no I/O, no clock.
//
// Facts it relies on (../shared/fixtures/yahoo/PROTOCOL.md, section a):
//   - result[0].timestamp holds bar start times in epoch seconds, parallel to indicators.quote[0]'s
//     open/high/low/close/volume arrays; a missing bar is null in all of them.
//   - An intraday answer ends with one extra "live" bar stamped at the last trade time, still filling.
//   - A closed market answers with no timestamp key and an empty quote object.
//   - Errors have chart.result = null and chart.error = {code, description}; an unknown symbol is a
//     404 with code "Not Found".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/net/http_fields.hpp"

namespace tapewire {

struct chart_bar {
    std::int64_t ts_s = 0; // bar start, epoch seconds (the live bar: floored to its interval)
    double open = 0, high = 0, low = 0, close = 0, volume = 0;
    bool operator==(const chart_bar&) const = default;
};

enum class chart_outcome {
    bars,    // a result with bars (some may have been null rows, skipped)
    no_bars, // a result without bars: market closed, holiday, weekend
    error,   // Yahoo's error object: error_code / error_description
    invalid, // not JSON, or not the chart shape: detail says what
};

struct chart_response {
    chart_outcome outcome = chart_outcome::invalid;
    std::vector<chart_bar> bars;   // in the order sent, null rows left out
    std::size_t null_rows = 0;     // rows with a null price (skipped)
    bool live_row_null = false;    // every listed bar is complete: the answer's last row (the live bar) was
                                   // null, or keep_span cut rows after the asked span
    std::int64_t interval_s = 60;  // from meta.dataGranularity ("1m", "5m", "1h", "1d"); 60 when absent
    std::string error_code;        // "Not Found"
    std::string error_description; // "No data found, symbol may be delisted"
    std::string detail;            // why the body is invalid
};

// Reads a chart body. Never throws for bad input.
chart_response parse_chart(std::string_view body);

// The bars of `r` to send now, in time order, moving `last_sent_s` past them: every bar later than
// last_sent_s, except that the last bar of the answer (the one Yahoo may still be filling) is held
// until its interval plus `grace_s` has passed at `now_s`. A bar at or before last_sent_s is never
// returned again, so repeated polls and restarts (the cursor outlives the poller) send each once.
std::vector<chart_bar> take_completed_bars(const chart_response& r, std::int64_t& last_sent_s, std::int64_t now_s,
                                           std::int64_t grace_s);

// ---- ranged requests (gap backfill) -------------------------------------------------------------

// Yahoo's limits for 1-minute bars. Per request: "Only 8 days worth of 1m granularity data are
// allowed to be fetched per request" (Yahoo's error description, PROTOCOL.md section a; yfinance
// asks 1m "max" as end - 8 days). A chunk stays a day under it, so a request whose ends fall on
// either side of a day boundary, or a clock a little off Yahoo's, is not refused.
inline constexpr std::int64_t k_chart_1m_request_limit_s = 8 * 86400;
inline constexpr std::int64_t k_chart_1m_chunk_s = k_chart_1m_request_limit_s - 86400;
// How far back Yahoo keeps 1-minute bars: 30 days (users of yfinance report "1 month" for 1m,
// with at most 7-8 days per request, ranaroussi/yfinance#356; PROTOCOL.md quotes the sibling
// 60-day rule of 5m/15m, yfinance#1389). Asked from a little inside it, so the oldest chunk is
// not refused for a clock skew; a refusal is handled anyway (logged, counted, skipped).
inline constexpr std::int64_t k_chart_1m_history_s = 30 * 86400;
inline constexpr std::int64_t k_chart_history_margin_s = 3600;

// [from_s, to_s) in epoch seconds: Yahoo's period1 and period2.
struct chart_span {
    std::int64_t from_s = 0, to_s = 0;
    bool operator==(const chart_span&) const = default;
};

struct chart_backfill {
    std::vector<chart_span> chunks; // oldest first, contiguous, each at most k_chart_1m_chunk_s
    std::int64_t lost_s = 0;        // seconds of the gap older than Yahoo keeps 1m bars (not asked)
};

// The requests that fill the gap from `from_s` (the start of the session of the last stored bar)
// to `now_s`: nothing when from_s is not before now_s; a gap reaching further back than Yahoo
// keeps 1-minute bars starts at the oldest time it still serves.
chart_backfill backfill_ranges(std::int64_t from_s, std::int64_t now_s);

// Keeps the bars of `r` inside `span`. Yahoo appends the live bar to a ranged answer even when it
// lies past period2; cut, it no longer stands for the last bar, so every kept bar counts complete
// (the bars inside the span were listed before a later one).
void keep_span(chart_response& r, chart_span span);

// The chart request for one symbol: "/v8/finance/chart/AAPL?interval=1m&range=1d&includePrePost=false",
// under `path_prefix` (the base URL's path, "" or "/proxy"), the symbol percent-encoded.
// With a span: "...?interval=1m&period1=P1&period2=P2&includePrePost=false" instead of range.
std::string chart_target(std::string_view path_prefix, std::string_view symbol, const chart_span* span);
// The regular poll's request: chart_target(path_prefix, symbol, nullptr).
inline std::string chart_target(std::string_view path_prefix, std::string_view symbol) {
    return chart_target(path_prefix, symbol, nullptr);
}

// Retry-After moved to src/net, which the webhook shares; the fetcher's callers keep their name.
using net::parse_retry_after;

} // namespace tapewire
