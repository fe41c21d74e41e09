// The chart endpoint as data: reading recorded answers and choosing the bars to send.
#include <catch2/catch.hpp>

#include <limits>
#include <string>

#include "src/base/tzif.hpp"
#include "src/sources/yahoo_chart.hpp"
#include "test/support/http_test_server.hpp"

using namespace tapewire;
using tapewire::test::read_yahoo_fixture;

namespace {

constexpr std::int64_t k_ns = 1'000'000'000;
constexpr std::int64_t k_never = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t k_live_bar = 1727985600; // the fixture's trailing bar (2024-10-03 16:00 EDT)

// A one-minute answer with the given bar starts (closes 100 + i), the last one being the live bar.
std::string minute_answer(std::initializer_list<std::int64_t> stamps) {
    std::string ts, px, vol;
    int i = 0;
    for (std::int64_t s : stamps) {
        const char* sep = i == 0 ? "" : ",";
        ts += sep + std::to_string(s);
        px += sep + std::to_string(100 + i);
        vol += sep + std::to_string(1000 + i);
        ++i;
    }
    return R"({"chart":{"result":[{"meta":{"symbol":"T","dataGranularity":"1m"},"timestamp":[)" + ts +
           R"(],"indicators":{"quote":[{"open":[)" + px + "],\"high\":[" + px + "],\"low\":[" + px + "],\"close\":[" +
           px + "],\"volume\":[" + vol + "]}]}}],\"error\":null}}";
}

} // namespace

TEST_CASE("A recorded one-minute answer reads as its bars, the null row left out", "[chart]") {
    const chart_response r = parse_chart(read_yahoo_fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    REQUIRE(r.outcome == chart_outcome::bars);
    CHECK(r.interval_s == 60);
    CHECK(r.null_rows == 1);
    REQUIRE(r.bars.size() == 390);
    CHECK(r.bars.front() ==
          chart_bar{1727875800, 225.88999938964844, 226.11000061035156, 225.4199981689453, 225.6999969482422, 1205461});
    // Index 105 (ts 1727882100) is null in every array: the bar before and after it are neighbours.
    CHECK(r.bars[104].ts_s == 1727882040);
    CHECK(r.bars[105].ts_s == 1727882160);
    CHECK(r.bars[105].close == 226.3800048828125);
    CHECK(r.bars.back() ==
          chart_bar{k_live_bar, 225.6699981689453, 225.6699981689453, 225.6699981689453, 225.6699981689453, 0});
}

TEST_CASE("A weekend answer without a timestamp key reads as no bars", "[chart]") {
    const chart_response r = parse_chart(read_yahoo_fixture("chart_v8_AAPL_1m_2025-02-01_weekend_no_bars.json"));
    CHECK(r.outcome == chart_outcome::no_bars);
    CHECK(r.bars.empty());
}

TEST_CASE("Yahoo's 404 body reads as its error code and description", "[chart]") {
    const chart_response r = parse_chart(read_yahoo_fixture("chart_v8_error_not_found_404.json"));
    REQUIRE(r.outcome == chart_outcome::error);
    CHECK(r.error_code == "Not Found");
    CHECK(r.error_description == "No data found, symbol may be delisted");
}

TEST_CASE("Daily bars read with their null rows skipped and the live bar kept at its own time", "[chart]") {
    const chart_response r = parse_chart(read_yahoo_fixture("chart_v8_GS2C.DE_1d_5d_null_rows.json"));
    REQUIRE(r.outcome == chart_outcome::bars);
    CHECK(r.interval_s == 86400);
    CHECK(r.null_rows == 2);
    REQUIRE(r.bars.size() == 3);
    CHECK(r.bars.back().ts_s == 1759321976); // not floored: daily bars start at local midnight
}

TEST_CASE("Bodies that are not a chart answer are invalid with a reason", "[chart]") {
    const std::string good = read_yahoo_fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    const chart_response truncated = parse_chart(std::string_view(good).substr(0, good.size() / 2));
    CHECK(truncated.outcome == chart_outcome::invalid);
    CHECK_THAT(truncated.detail, Catch::Contains("not JSON"));
    CHECK(parse_chart("Edge: Too Many Requests").outcome == chart_outcome::invalid);
    CHECK(parse_chart("<html>Will be right back</html>").outcome == chart_outcome::invalid);
    CHECK(parse_chart(R"({"quoteResponse":{}})").outcome == chart_outcome::invalid);
    const chart_response ragged = parse_chart(
        R"({"chart":{"result":[{"timestamp":[60,120],"indicators":{"quote":[{"open":[1],"high":[1],"low":[1],"close":[1],"volume":[1]}]}}],"error":null}})");
    CHECK(ragged.outcome == chart_outcome::invalid);
    const chart_response text_price = parse_chart(
        R"({"chart":{"result":[{"timestamp":[60],"indicators":{"quote":[{"open":["1"],"high":[1],"low":[1],"close":[1],"volume":[1]}]}}],"error":null}})");
    CHECK(text_price.outcome == chart_outcome::invalid);
}

TEST_CASE("Every completed bar is taken once, across polls of the same answer", "[chart]") {
    const chart_response r = parse_chart(read_yahoo_fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    std::int64_t cursor = k_never;
    // Half a minute into the live bar: everything but the live bar is complete.
    const auto first = take_completed_bars(r, cursor, k_live_bar + 30, 5);
    REQUIRE(first.size() == 389);
    CHECK(first.back().ts_s == 1727899140);
    CHECK(cursor == 1727899140);
    CHECK(take_completed_bars(r, cursor, k_live_bar + 30, 5).empty()); // the next poll sends nothing again
    CHECK(take_completed_bars(r, cursor, k_live_bar + 64, 5).empty()); // minute over, grace not yet
    const auto live = take_completed_bars(r, cursor, k_live_bar + 65, 5);
    REQUIRE(live.size() == 1);
    CHECK(live[0].ts_s == k_live_bar);
    CHECK(take_completed_bars(r, cursor, k_live_bar + 3600, 5).empty());
}

TEST_CASE("The live bar is held until a later bar exists", "[chart]") {
    std::int64_t cursor = k_never;
    // At 630 the live minute 600 is still filling.
    auto first = take_completed_bars(parse_chart(minute_answer({480, 540, 600})), cursor, 630, 5);
    REQUIRE(first.size() == 2);
    CHECK(first[1].ts_s == 540);
    // The next poll lists 600 as complete (a later bar, 660, exists): it goes, with its final values.
    auto second = take_completed_bars(parse_chart(minute_answer({480, 540, 600, 660})), cursor, 665, 5);
    REQUIRE(second.size() == 1);
    CHECK(second[0].ts_s == 600);
    CHECK(second[0].close == 102);
}

TEST_CASE("A live bar stamped at its last trade counts from the start of its minute", "[chart]") {
    std::int64_t cursor = k_never;
    // Yahoo stamps the live bar at regularMarketTime, e.g. 16:00:01.
    const chart_response r = parse_chart(minute_answer({540, 600, 661}));
    REQUIRE(r.bars.back().ts_s == 660);
    CHECK(take_completed_bars(r, cursor, 700, 5).size() == 2);
    CHECK(take_completed_bars(r, cursor, 724, 5).empty());
    const auto live = take_completed_bars(r, cursor, 725, 5);
    REQUIRE(live.size() == 1);
    CHECK(live[0].ts_s == 660);
}

TEST_CASE("A live row floored onto a listed minute replaces it, once that minute is over", "[chart]") {
    std::int64_t cursor = k_never;
    // Rows 600 (partial) and 630 -> 600 (the live row of the same minute): one bar at 600, the later values.
    const chart_response r = parse_chart(minute_answer({540, 600, 630}));
    auto a = take_completed_bars(r, cursor, 640, 5);
    REQUIRE(a.size() == 1);
    CHECK(a[0].ts_s == 540);
    auto b = take_completed_bars(r, cursor, 700, 5);
    REQUIRE(b.size() == 1);
    CHECK(b[0].ts_s == 600);
    CHECK(b[0].close == 102);
}

TEST_CASE("A cursor that outlives the poller sends nothing twice after a restart", "[chart]") {
    const chart_response r = parse_chart(minute_answer({60, 120, 180}));
    std::int64_t cursor = k_never;
    CHECK(take_completed_bars(r, cursor, 100'000, 5).size() == 3);
    // A new poller with the same cursor, a later answer with one more bar:
    const auto more = take_completed_bars(parse_chart(minute_answer({60, 120, 180, 240})), cursor, 100'000, 5);
    REQUIRE(more.size() == 1);
    CHECK(more[0].ts_s == 240);
}

TEST_CASE("Chart requests put the symbol into the path percent-encoded", "[chart]") {
    CHECK(chart_target("", "AAPL") == "/v8/finance/chart/AAPL?interval=1m&range=1d&includePrePost=false");
    CHECK(chart_target("/yahoo/", "^GSPC") ==
          "/yahoo/v8/finance/chart/%5EGSPC?interval=1m&range=1d&includePrePost=false");
    CHECK(chart_target("", "EURUSD=X") == "/v8/finance/chart/EURUSD%3DX?interval=1m&range=1d&includePrePost=false");
}

TEST_CASE("Retry-After is read as seconds or as an HTTP date", "[chart]") {
    const std::int64_t now = 784111777LL * 1'000'000'000; // Sun, 06 Nov 1994 08:49:37 GMT
    CHECK(parse_retry_after("3", now) == 3'000'000'000);
    CHECK(parse_retry_after(" 0 ", now) == 0);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == 10'000'000'000);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now) == 0);
    CHECK_FALSE(parse_retry_after("", now));
    CHECK_FALSE(parse_retry_after("-5", now));
    CHECK_FALSE(parse_retry_after("soon", now));
}

TEST_CASE("backfill ranges start at the session of the last stored bar, end now, and are chunked under Yahoo's "
          "8-day limit",
          "[chart]") {
    const session_calendar ny = make_session_calendar("America/New_York", "09:30");
    // The fixture's day: its last bar (15:59 EDT) belongs to the session that began 09:30 EDT,
    // the fixture's first bar.
    const std::int64_t last_bar_s = 1727899140;
    const timestamp_ns from = ny.start_of(ny.session_of(last_bar_s * k_ns));
    CHECK(from == 1727875800 * k_ns);
    // After the change to EST a session begins at 14:30 UTC; a bar before 09:30 belongs to the day before.
    CHECK(ny.start_of(ny.session_of(1730744400 * k_ns)) == 1730730600 * k_ns); // 2024-11-04 13:20 EST
    CHECK(ny.start_of(ny.session_of(1730727600 * k_ns)) == 1730644200 * k_ns); // 08:40 EST: the 3rd's session

    const std::int64_t now_s = 1727875800 + 20 * 86400 + 123;
    const chart_backfill b = backfill_ranges(1727875800, now_s);
    CHECK(b.lost_s == 0);
    REQUIRE(b.chunks.size() == 3);
    CHECK(b.chunks.front().from_s == 1727875800);
    CHECK(b.chunks.back().to_s == now_s);
    for (std::size_t i = 0; i < b.chunks.size(); ++i) {
        CHECK(b.chunks[i].to_s - b.chunks[i].from_s <= k_chart_1m_chunk_s);
        CHECK(b.chunks[i].to_s - b.chunks[i].from_s < k_chart_1m_request_limit_s);
        if (i > 0) CHECK(b.chunks[i].from_s == b.chunks[i - 1].to_s);
    }
    // Nothing to ask when the last bar's session starts now or later.
    CHECK(backfill_ranges(now_s, now_s).chunks.empty());
    // A gap older than Yahoo keeps 1-minute bars is asked from the oldest time it serves, the rest counted lost.
    const chart_backfill old = backfill_ranges(now_s - 45 * 86400, now_s);
    REQUIRE(!old.chunks.empty());
    CHECK(old.chunks.front().from_s == now_s - k_chart_1m_history_s + k_chart_history_margin_s);
    CHECK(old.lost_s == 15 * 86400 + k_chart_history_margin_s);
    CHECK(old.chunks.size() == 5); // 29 days and 23 hours in chunks of 7 days
}

TEST_CASE("a ranged chart request carries period1 and period2 instead of range", "[chart]") {
    const chart_span span{1727827200, 1727913600};
    CHECK(chart_target("", "^GSPC", &span) ==
          "/v8/finance/chart/%5EGSPC?interval=1m&period1=1727827200&period2=1727913600&includePrePost=false");
    CHECK(chart_target("/proxy/", "AAPL", &span) ==
          "/proxy/v8/finance/chart/AAPL?interval=1m&period1=1727827200&period2=1727913600&includePrePost=false");
    CHECK(chart_target("", "AAPL").find("range=1d") != std::string::npos);
    CHECK(chart_target("", "AAPL").find("period1") == std::string::npos);
}

TEST_CASE("a ranged answer keeps the bars of its span, and the live bar Yahoo appends past period2 is cut", "[chart]") {
    // The recorded answer to period1=1727827200&period2=1727913600: 390 bars of the day, the live one after.
    chart_response r = parse_chart(read_yahoo_fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    keep_span(r, chart_span{1727827200, 1727913600});
    REQUIRE(r.bars.size() == 389);
    CHECK(r.bars.back().ts_s == 1727899140); // 15:59 EDT
    // Cut after its last bar, the answer's bars are all complete, even at period2 itself.
    std::int64_t cursor = k_never;
    CHECK(take_completed_bars(r, cursor, 1727899140 + 1, 5).size() == 389);
    // A span inside the day keeps only its minutes; one without any reads as no bars.
    chart_response mid = parse_chart(read_yahoo_fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    keep_span(mid, chart_span{1727875800, 1727875800 + 600});
    CHECK(mid.bars.size() == 10);
    chart_response none = parse_chart(read_yahoo_fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    keep_span(none, chart_span{1727827200, 1727827200 + 600});
    CHECK(none.outcome == chart_outcome::no_bars);
}
