// vwap stage: session VWAP (reset at the session start in the exchange's zone), rolling VWAP over K
// windows, deviation in bps, and corrections that replace rather than add.
#include <catch2/catch.hpp>

#include <cmath>

#include "collect.hpp"
#include "operators/vwap.hpp"

using namespace tapewire;
using tapewire::test::collector;

namespace {

constexpr std::int64_t k_s = 1'000'000'000;
// 2025-05-29 00:00:00 UTC = 20237 days * 86400 s = 1 748 476 800 s.
constexpr std::int64_t k_day_utc_s = 1'748'476'800;

bar make_bar(const char* sym, timestamp_ns start, double pv, double volume, double close, std::uint32_t revision = 0) {
    bar b;
    b.sym = symbol::from(sym);
    b.window_start = start;
    b.window_end = start + 60 * k_s;
    b.open = b.high = b.low = b.close = close;
    b.pv = pv;
    b.volume = volume;
    b.trades = 1;
    b.vwap = volume > 0 ? pv / volume : k_null_double;
    b.revision = revision;
    return b;
}

// New York in summer: UTC-4 throughout; the session starts at 09:30 local = 34 200 s after midnight,
// i.e. at 13:30 UTC.
vwap_options new_york_opts(std::uint32_t rolling = 20) {
    vwap_options o;
    o.rolling_windows = rolling;
    o.calendar = session_calendar({{0, -4 * 3600}}, 34'200);
    return o;
}

} // namespace

TEST_CASE("session VWAP accumulates within a session and resets at the session start in the exchange zone", "[vwap]") {
    vwap_stage v(new_york_opts());
    collector c;
    // 13:30 UTC = 09:30 New York = 1 748 476 800 + 48 600 s.
    const timestamp_ns open_930 = (k_day_utc_s + 48'600) * k_s;
    {
        // The calendar itself: 09:29:59 local belongs to the session before, 09:30:00 to the new one.
        const session_calendar& cal = new_york_opts().calendar;
        CHECK(cal.session_of(open_930) == 20237);
        CHECK(cal.session_of(open_930 - 1) == 20236);
        CHECK(cal.session_of(open_930 + 86'400 * k_s - 1) == 20237);
    }
    v.on_bar(make_bar("A", open_930 - 120 * k_s, 1000, 100, 10.0), c); // 09:28, previous session
    v.on_bar(make_bar("A", open_930 - 60 * k_s, 2200, 200, 11.0), c);  // 09:29
    v.on_bar(make_bar("A", open_930, 1200, 100, 12.0), c);             // 09:30: a new session
    v.on_bar(make_bar("A", open_930 + 60 * k_s, 2600, 200, 13.5), c);  // 09:31
    REQUIRE(c.bars.size() == 4);
    CHECK(c.bars[0].session_vwap == Approx(10.0));           // 1000 / 100
    CHECK(c.bars[1].session_vwap == Approx(3200.0 / 300.0)); // (1000 + 2200) / (100 + 200) = 10.666...
    CHECK(c.bars[2].session_vwap == Approx(12.0));           // reset: 1200 / 100
    CHECK(c.bars[3].session_vwap == Approx(3800.0 / 300.0)); // (1200 + 2600) / 300 = 12.666...
    // close 13.5 vs 3800/300: (13.5 * 300 / 3800 - 1) * 1e4 = 250 / 3800 * 1e4 = 657.8947...
    CHECK(c.bars[3].vwap_dev_bps == Approx(2'500'000.0 / 3800.0));
    CHECK(c.bars[2].vwap_dev_bps == Approx(0.0).margin(1e-9)); // close 12 = session VWAP 12

    // The next day's session starts again (and a second symbol keeps its own sums).
    v.on_bar(make_bar("B", open_930, 500, 50, 10.0), c);
    v.on_bar(make_bar("A", open_930 + 86'400 * k_s, 4000, 400, 10.0), c);
    REQUIRE(c.bars.size() == 6);
    CHECK(c.bars[4].session_vwap == Approx(10.0));
    CHECK(c.bars[5].session_vwap == Approx(10.0)); // 4000 / 400, nothing carried over
}

TEST_CASE("rolling VWAP covers exactly the last K windows", "[vwap]") {
    vwap_options o;
    o.rolling_windows = 3;
    vwap_stage v(o);
    collector c;
    const timestamp_ns t = k_day_utc_s * k_s + 3600 * k_s; // 01:00 UTC, one UTC session
    // prices 10, 11, 12, 13, 14, size 10 each -> pv 100, 110, 120, 130, 140
    for (int i = 0; i < 5; ++i) v.on_bar(make_bar("A", t + i * 60 * k_s, 100.0 + 10 * i, 10, 10.0 + i), c);
    REQUIRE(c.bars.size() == 5);
    CHECK(c.bars[0].rolling_vwap == Approx(10.0)); // 100 / 10
    CHECK(c.bars[1].rolling_vwap == Approx(10.5)); // 210 / 20
    CHECK(c.bars[2].rolling_vwap == Approx(11.0)); // 330 / 30
    CHECK(c.bars[3].rolling_vwap == Approx(12.0)); // (110 + 120 + 130) / 30
    CHECK(c.bars[4].rolling_vwap == Approx(13.0)); // (120 + 130 + 140) / 30
    // The session VWAP keeps everything: 600 / 50 = 12.
    CHECK(c.bars[4].session_vwap == Approx(12.0));
}

TEST_CASE("vwap_dev_bps is the close's deviation from the session VWAP in basis points", "[vwap]") {
    vwap_stage v(vwap_options{});
    collector c;
    const timestamp_ns t = k_day_utc_s * k_s;
    v.on_bar(make_bar("A", t, 1000, 100, 10.15), c); // session VWAP 10: (10.15 - 10) / 10 * 1e4 = 150
    v.on_bar(make_bar("A", t + 60 * k_s, 900, 100, 9.0),
             c); // session 1900 / 200 = 9.5: (9 - 9.5) / 9.5 * 1e4 = -526.315...
    REQUIRE(c.bars.size() == 2);
    CHECK(c.bars[0].vwap_dev_bps == Approx(150.0));
    CHECK(c.bars[1].session_vwap == Approx(9.5));
    CHECK(c.bars[1].vwap_dev_bps == Approx(-5000.0 / 9.5));
    // The window's own VWAP passes through untouched.
    CHECK(c.bars[1].vwap == Approx(9.0));
}

TEST_CASE("a session with no volume yet has a NULL session VWAP and deviation", "[vwap]") {
    vwap_stage v(vwap_options{});
    collector c;
    v.on_bar(make_bar("A", k_day_utc_s * k_s, 0, 0, 10.0), c);
    REQUIRE(c.bars.size() == 1);
    CHECK(std::isnan(c.bars[0].session_vwap));
    CHECK(std::isnan(c.bars[0].rolling_vwap));
    CHECK(std::isnan(c.bars[0].vwap_dev_bps));
}

TEST_CASE("a corrected bar replaces its window's contribution instead of adding to it", "[vwap]") {
    vwap_stage v(vwap_options{});
    collector c;
    const timestamp_ns t = k_day_utc_s * k_s + 3600 * k_s;
    v.on_bar(make_bar("A", t, 1000, 100, 10.0), c);             // A
    v.on_bar(make_bar("A", t + 60 * k_s, 2200, 200, 11.0), c);  // B: session 3200 / 300
    v.on_bar(make_bar("A", t, 1500, 150, 10.0, 1), c);          // A corrected: 1500 / 150
    v.on_bar(make_bar("A", t + 120 * k_s, 1200, 100, 12.0), c); // C
    REQUIRE(c.bars.size() == 4);
    CHECK(c.bars[1].session_vwap == Approx(3200.0 / 300.0));
    CHECK(c.bars[2].revision == 1);
    CHECK(c.bars[2].session_vwap == Approx(10.0)); // up to and including A: 1500 / 150
    // Replaced: (1500 + 2200 + 1200) / (150 + 200 + 100) = 4900 / 450 = 10.888...
    // (added twice it would be 5900 / 550 = 10.727...)
    CHECK(c.bars[3].session_vwap == Approx(4900.0 / 450.0));
    CHECK(c.bars[3].rolling_vwap == Approx(4900.0 / 450.0));
    // dev of C: (12 - 4900/450) / (4900/450) * 1e4 = (5400 / 4900 - 1) * 1e4 = 500 / 4900 * 1e4
    CHECK(c.bars[3].vwap_dev_bps == Approx(5'000'000.0 / 4900.0));
}
