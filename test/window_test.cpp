// window stage, driven directly with a collecting emitter. Ticks carry src.partition (the watermark is
// per partition); on_timer(now) sets processing time (idle timeout).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "collect.hpp"
#include "operators/window.hpp"

using namespace tapewire;
using tapewire::test::collector;
using tapewire::test::trade_at;

namespace {

constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_s = 1'000'000'000;
// A window-aligned base time (a whole second): 2024-11-28 13:20:00 UTC.
constexpr timestamp_ns T0 = 1'732'800'000 * k_s;

window_options opts(std::int64_t lateness_ns, std::int64_t idle_ns = 0, std::int64_t horizon_ns = 60 * k_s,
                    std::int64_t width_ns = k_s) {
    window_options o;
    o.width_ns = width_ns;
    o.allowed_lateness_ns = lateness_ns;
    o.idle_timeout_ns = idle_ns;
    o.late_update_horizon_ns = horizon_ns;
    return o;
}

const bar* find_bar(const collector& c, std::string_view sym, timestamp_ns start, std::uint32_t revision = 0) {
    for (const bar& b : c.bars)
        if (b.sym.view() == sym && b.window_start == start && b.revision == revision) return &b;
    return nullptr;
}

} // namespace

TEST_CASE("in-order ticks produce a bar with exact OHLCV once the watermark passes the window end", "[window]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 5, 0, 1), c);
    w.on_tick(trade_at("A", T0 + 400 * k_ms, 12.0, 1, 0, 2), c);
    w.on_tick(trade_at("A", T0 + 700 * k_ms, 9.0, 2, 0, 3), c);
    w.on_tick(trade_at("A", T0 + 900 * k_ms, 11.0, 2, 0, 4), c);
    CHECK(c.bars.empty()); // watermark T0 + 700 ms < window end T0 + 1 s
    w.on_tick(trade_at("A", T0 + 1100 * k_ms, 11.0, 1, 0, 5), c);
    CHECK(c.bars.empty()); // watermark T0 + 900 ms
    CHECK(w.open_windows() == 2);
    w.on_tick(trade_at("A", T0 + 1200 * k_ms, 11.5, 1, 0, 6), c);
    // watermark = T0 + 1200 ms - 200 ms = T0 + 1 s = the window's end: final.
    REQUIRE(c.bars.size() == 1);
    const bar& b = c.bars[0];
    CHECK(b.sym.view() == "A");
    CHECK(b.window_start == T0);
    CHECK(b.window_end == T0 + k_s);
    CHECK(b.open == 10.0);
    CHECK(b.high == 12.0);
    CHECK(b.low == 9.0);
    CHECK(b.close == 11.0);
    CHECK(b.volume == 10.0); // 5 + 1 + 2 + 2
    CHECK(b.trades == 4);
    CHECK(b.pv == 102.0);          // 10*5 + 12*1 + 9*2 + 11*2 = 50 + 12 + 18 + 22
    CHECK(b.vwap == Approx(10.2)); // 102 / 10
    CHECK(b.revision == 0);
    CHECK(b.partition == 0);
    CHECK(b.last_offset == 4);
    CHECK(w.bars_emitted() == 1);
    CHECK(w.open_windows() == 1);
    // Every tick was forwarded; the bar comes before the tick that closed its window.
    CHECK(c.ticks.size() == 6);
    const auto bar_at = std::find(c.order.begin(), c.order.end(), collector::kind::bar) - c.order.begin();
    const auto last_tick =
        std::find(c.order.rbegin(), c.order.rend(), collector::kind::tick).base() - 1 - c.order.begin();
    CHECK(bar_at < last_tick);
}

TEST_CASE("the window stage emits watermarks downstream, after the bars they finalise", "[window]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 3), c);
    REQUIRE_FALSE(c.watermarks.empty());
    CHECK(c.watermarks.front().partition == 3);
    CHECK(c.watermarks.front().ts == T0 - 100 * k_ms); // 100 ms - 200 ms lateness
    w.on_tick(trade_at("A", T0 + 1500 * k_ms, 10.0, 1, 3), c);
    REQUIRE(c.bars.size() == 1);
    CHECK(c.watermarks.back().partition == 3);
    CHECK(c.watermarks.back().ts == T0 + 1300 * k_ms);
    CHECK(w.watermark_of(3) == T0 + 1300 * k_ms);
    CHECK(w.watermark_of(7) == k_no_time);
    // Non-decreasing, and the bar precedes the watermark that made it final.
    for (std::size_t i = 1; i < c.watermarks.size(); ++i) CHECK(c.watermarks[i - 1].ts <= c.watermarks[i].ts);
    const auto bar_at = std::find(c.order.begin(), c.order.end(), collector::kind::bar) - c.order.begin();
    const auto last_wm =
        std::find(c.order.rbegin(), c.order.rend(), collector::kind::watermark).base() - 1 - c.order.begin();
    CHECK(bar_at < last_wm);
}

TEST_CASE("out-of-order ticks within the allowed lateness merge: open from the smallest ts, close from the largest",
          "[window]") {
    window_stage w(opts(500 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 500 * k_ms, 10.0, 1), c);
    w.on_tick(trade_at("A", T0 + 200 * k_ms, 9.0, 1), c);  // earliest ts, arrives second
    w.on_tick(trade_at("A", T0 + 800 * k_ms, 12.0, 1), c); // latest ts
    w.on_tick(trade_at("A", T0 + 600 * k_ms, 11.0, 1), c); // arrives last, not the latest ts
    CHECK(c.dead_letters.empty());
    w.on_tick(trade_at("A", T0 + 1600 * k_ms, 11.0, 1), c); // watermark T0 + 1.1 s
    REQUIRE(c.bars.size() == 1);
    const bar& b = c.bars[0];
    CHECK(b.open == 9.0);
    CHECK(b.close == 12.0);
    CHECK(b.high == 12.0);
    CHECK(b.low == 9.0);
    CHECK(b.volume == 4.0);
    CHECK(b.trades == 4);
    CHECK(b.vwap == Approx(10.5)); // (10 + 9 + 12 + 11) / 4 = 42 / 4
}

TEST_CASE("ticks tied on the timestamp: open is the first arrived, close the last arrived", "[window]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 900 * k_ms, 30.0, 1), c);
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 20.0, 1), c);
    w.on_tick(trade_at("A", T0 + 900 * k_ms, 31.0, 1), c);
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 21.0, 1), c);
    w.flush(c);
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].open == 20.0);  // ts T0+100 ms: 20 arrived before 21
    CHECK(c.bars[0].close == 31.0); // ts T0+900 ms: 31 arrived after 30
    CHECK(c.bars[0].high == 31.0);
    CHECK(c.bars[0].low == 20.0);
    CHECK(c.bars[0].trades == 4);
}

TEST_CASE("a window whose ticks all have size 0 gives a bar with vwap NaN", "[window]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 0), c);
    w.on_tick(trade_at("A", T0 + 300 * k_ms, 10.5, 0), c);
    w.flush(c);
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].volume == 0.0);
    CHECK(c.bars[0].trades == 2);
    CHECK(c.bars[0].open == 10.0);
    CHECK(c.bars[0].close == 10.5);
    CHECK(std::isnan(c.bars[0].vwap));
}

TEST_CASE("a late tick inside the update horizon is dead-lettered as late and re-emits the corrected bar", "[window]") {
    window_stage w(opts(0, 0, 60 * k_s));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0, 1), c);
    w.on_tick(trade_at("A", T0 + 500 * k_ms, 11.0, 1, 0, 2), c);
    w.on_tick(trade_at("A", T0 + 2500 * k_ms, 12.0, 1, 0, 3), c); // watermark T0 + 2.5 s: window T0 final
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].revision == 0);
    CHECK(c.bars[0].vwap == Approx(10.5)); // (10 + 11) / 2
    const std::size_t ticks_before = c.ticks.size();

    // Late by 1.5 s (watermark T0 + 2.5 s - window end T0 + 1 s) <= 60 s horizon.
    w.on_tick(trade_at("A", T0 + 800 * k_ms, 13.0, 2, 0, 9), c);
    REQUIRE(c.dead_letters.size() == 1);
    CHECK(c.dead_letters[0].reason == dead_letter_reason::late);
    CHECK(c.dead_letters[0].key == "A");
    CHECK(c.dead_letters[0].detail == "bar corrected");
    CHECK(c.dead_letters[0].src.offset == 9);
    CHECK(c.dead_letters[0].payload == R"({"symbol":"A","ts":1732800000800000000,"price":13,"size":2})");
    CHECK(c.ticks.size() == ticks_before); // a late tick is not forwarded
    REQUIRE(c.bars.size() == 2);
    const bar& r1 = c.bars[1];
    CHECK(r1.window_start == T0);
    CHECK(r1.revision == 1);
    CHECK(r1.open == 10.0);
    CHECK(r1.high == 13.0);
    CHECK(r1.low == 10.0);
    CHECK(r1.close == 13.0); // T0+800 ms is now the latest ts
    CHECK(r1.volume == 4.0); // 1 + 1 + 2
    CHECK(r1.trades == 3);
    CHECK(r1.pv == 47.0);            // 10 + 11 + 26
    CHECK(r1.vwap == Approx(11.75)); // 47 / 4
    CHECK(r1.last_offset == 9);

    // A second late tick, now the earliest: revision 2 with a new open and low.
    w.on_tick(trade_at("A", T0 + 50 * k_ms, 8.0, 1, 0, 10), c);
    REQUIRE(c.bars.size() == 3);
    const bar& r2 = c.bars[2];
    CHECK(r2.revision == 2);
    CHECK(r2.open == 8.0);
    CHECK(r2.low == 8.0);
    CHECK(r2.close == 13.0);
    CHECK(r2.volume == 5.0);
    CHECK(r2.vwap == Approx(11.0)); // (47 + 8) / 5 = 55 / 5
    CHECK(w.late_ticks() == 2);
    CHECK(w.corrections() == 2);
}

TEST_CASE("a late tick beyond the update horizon is only dead-lettered", "[window]") {
    window_stage w(opts(0, 0, 1 * k_s));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1), c);
    w.on_tick(trade_at("A", T0 + 5 * k_s, 10.0, 1), c); // watermark T0 + 5 s
    REQUIRE(c.bars.size() == 1);
    // Window T0 ended 4 s before the watermark: beyond the 1 s horizon.
    w.on_tick(trade_at("A", T0 + 200 * k_ms, 99.0, 1), c);
    REQUIRE(c.dead_letters.size() == 1);
    CHECK(c.dead_letters[0].reason == dead_letter_reason::late);
    CHECK(c.dead_letters[0].detail == "beyond late_update_horizon");
    CHECK(c.bars.size() == 1);
    CHECK(w.late_ticks() == 1);
    CHECK(w.corrections() == 0);
}

TEST_CASE("idle_timeout closes a silent partition's windows on a timer, and a later tick for them is late",
          "[window]") {
    window_stage w(opts(200 * k_ms, 5 * k_s, 0));
    collector c;
    const timestamp_ns N0 = 1'000 * k_s; // processing time
    w.on_timer(N0, c);
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0), c);
    w.on_timer(N0 + 4 * k_s, c); // silent 4 s < 5 s
    CHECK(c.bars.empty());
    w.on_timer(N0 + 9 * k_s, c); // silent 9 s >= 5 s: partition 0 closes
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].sym.view() == "A");
    CHECK(c.bars[0].window_start == T0);
    CHECK(w.watermark_of(0) >= T0 + k_s);
    CHECK(w.open_windows() == 0);
    REQUIRE_FALSE(c.watermarks.empty());
    CHECK(c.watermarks.back().partition == 0);
    CHECK(c.watermarks.back().ts >= T0 + k_s);

    // Partition 1 keeps talking: it is not closed.
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 1), c);
    w.on_timer(N0 + 12 * k_s, c); // B silent 3 s
    CHECK(c.bars.size() == 1);

    // The closed window is final: a tick for it is late (horizon 0: no correction).
    w.on_tick(trade_at("A", T0 + 500 * k_ms, 10.0, 1, 0), c);
    REQUIRE(c.dead_letters.size() == 1);
    CHECK(c.dead_letters[0].reason == dead_letter_reason::late);
    CHECK(c.bars.size() == 1);

    w.on_timer(N0 + 30 * k_s, c); // now B is silent too
    REQUIRE(c.bars.size() == 2);
    CHECK(c.bars[1].sym.view() == "B");
    CHECK(c.bars[1].partition == 1);
}

TEST_CASE("flush emits every open window, then on_flush", "[window]") {
    window_stage w(opts(5 * k_s));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0), c);
    w.on_tick(trade_at("A", T0 + 1100 * k_ms, 11.0, 1, 0), c);
    w.on_tick(trade_at("B", T0 + 300 * k_ms, 20.0, 2, 1), c);
    CHECK(c.bars.empty());
    CHECK(w.open_windows() == 3);
    w.flush(c);
    REQUIRE(c.bars.size() == 3);
    CHECK(find_bar(c, "A", T0) != nullptr);
    CHECK(find_bar(c, "A", T0 + k_s) != nullptr);
    REQUIRE(find_bar(c, "B", T0) != nullptr);
    CHECK(find_bar(c, "B", T0)->volume == 2.0);
    CHECK(c.flushes == 1);
    CHECK(c.order.back() == collector::kind::flush);
    CHECK(w.open_windows() == 0);
}

TEST_CASE("bars from two partitions are watermarked independently", "[window]") {
    window_stage w(opts(0));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0), c);
    w.on_tick(trade_at("B", T0 + 200 * k_ms, 20.0, 1, 1), c);
    w.on_tick(trade_at("A", T0 + 5 * k_s, 10.0, 1, 0), c); // partition 0 jumps ahead
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].sym.view() == "A");
    CHECK(c.bars[0].partition == 0);
    CHECK(w.watermark_of(0) == T0 + 5 * k_s);
    CHECK(w.watermark_of(1) == T0 + 200 * k_ms);
    // Partition 1's window T0 is still open: a tick for it merges, it is not late.
    w.on_tick(trade_at("B", T0 + 300 * k_ms, 21.0, 3, 1), c);
    CHECK(c.dead_letters.empty());
    w.on_tick(trade_at("B", T0 + 1500 * k_ms, 22.0, 1, 1), c);
    REQUIRE(c.bars.size() == 2);
    CHECK(c.bars[1].sym.view() == "B");
    CHECK(c.bars[1].partition == 1);
    CHECK(c.bars[1].volume == 4.0);
    CHECK(c.bars[1].close == 21.0);
    CHECK(c.bars[1].vwap == Approx(20.75)); // (20 + 63) / 4 = 83 / 4
}

TEST_CASE("a bar-shaped update merges with trades: its own OHLCV and typical price x volume", "[window]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    tick bu;
    bu.sym = symbol::from("A");
    bu.ts = T0; // a bar update sits at its bar's start
    bu.open = 10.0;
    bu.high = 12.0;
    bu.low = 9.0;
    bu.close = 12.0;
    bu.volume = 100.0;
    bu.pv = (12.0 + 9.0 + 12.0) / 3.0 * 100.0; // typical 11 x 100 = 1100
    bu.trades = 1;
    bu.is_bar = true;
    w.on_tick(bu, c);
    w.on_tick(trade_at("A", T0 + 200 * k_ms, 12.5, 10), c);
    w.on_tick(trade_at("A", T0 + 700 * k_ms, 11.5, 10), c);
    w.flush(c);
    REQUIRE(c.bars.size() == 1);
    const bar& b = c.bars[0];
    CHECK(b.open == 10.0); // the bar update has the earliest ts
    CHECK(b.high == 12.5);
    CHECK(b.low == 9.0);
    CHECK(b.close == 11.5); // the latest trade
    CHECK(b.volume == 120.0);
    CHECK(b.trades == 3);
    CHECK(b.pv == 1340.0); // 1100 + 12.5*10 + 11.5*10 = 1100 + 125 + 115
    CHECK(b.vwap == Approx(1340.0 / 120.0));
}

TEST_CASE("negative timestamps floor to the window below", "[window]") {
    CHECK(window_start_of(0, 1000) == 0);
    CHECK(window_start_of(999, 1000) == 0);
    CHECK(window_start_of(1000, 1000) == 1000);
    CHECK(window_start_of(-1, 1000) == -1000);
    CHECK(window_start_of(-999, 1000) == -1000);
    CHECK(window_start_of(-1000, 1000) == -1000);
    CHECK(window_start_of(-1001, 1000) == -2000);

    window_stage w(opts(0));
    collector c;
    w.on_tick(trade_at("A", -1500 * k_ms, 10.0, 1), c); // window [-2 s, -1 s)
    w.on_tick(trade_at("A", -500 * k_ms, 11.0, 1), c);  // watermark -0.5 s >= -1 s: closes it
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].window_start == -2 * k_s);
    CHECK(c.bars[0].window_end == -1 * k_s);
    CHECK(c.bars[0].close == 10.0);
    w.flush(c);
    REQUIRE(c.bars.size() == 2);
    CHECK(c.bars[1].window_start == -1 * k_s);
    CHECK(c.bars[1].window_end == 0);
}

TEST_CASE("safe offsets point at the first tick of the oldest open window, per partition", "[window][kafka]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    // Partition 0: A's window at T0 holds offsets 10, 11; then B opens T0 + 1 s at offset 12.
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0, 10), c);
    w.on_tick(trade_at("A", T0 + 300 * k_ms, 10.0, 1, 0, 11), c);
    // Partition 1: C at offsets 5, 6 closes its first window with the second tick.
    w.on_tick(trade_at("C", T0 + 100 * k_ms, 20.0, 1, 1, 5), c);
    w.on_tick(trade_at("C", T0 + 1300 * k_ms, 20.0, 1, 1, 6), c);
    REQUIRE(c.bars.size() == 1); // C's T0 window
    std::vector<std::pair<std::int32_t, std::int64_t>> safe;
    w.safe_offsets(safe);
    REQUIRE(safe.size() == 2);
    CHECK(safe[0] == std::pair<std::int32_t, std::int64_t>{0, 10}); // A's open window starts at 10
    CHECK(safe[1] == std::pair<std::int32_t, std::int64_t>{1, 6});  // C's open window starts at 6

    w.on_tick(trade_at("A", T0 + 1300 * k_ms, 10.0, 1, 0, 12), c); // closes A's T0 window
    w.safe_offsets(safe);
    CHECK(safe[0] == std::pair<std::int32_t, std::int64_t>{0, 12});

    w.flush(c); // nothing open: everything read is done with
    w.safe_offsets(safe);
    CHECK(safe[0] == std::pair<std::int32_t, std::int64_t>{0, 13});
    CHECK(safe[1] == std::pair<std::int32_t, std::int64_t>{1, 7});
}

TEST_CASE("discarding a revoked partition forgets its open windows without emitting them", "[window][kafka]") {
    window_stage w(opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0, 1), c);
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 2, 1, 1), c);
    REQUIRE(w.open_windows() == 2);
    w.discard_partitions({1});
    CHECK(w.open_windows() == 1);
    CHECK(w.watermark_of(1) == k_no_time);
    // Partition 1 comes back (re-read from its committed offset): B's window is rebuilt, not merged
    // into a stale one.
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 2, 1, 1), c);
    w.flush(c);
    const bar* b = find_bar(c, "B", T0);
    REQUIRE(b != nullptr);
    CHECK(b->trades == 1);
    CHECK(b->volume == 2.0);
    CHECK(c.bars.size() == 2);
}

// ---- Event time per symbol (window_options::per_symbol) ---------------------------------------------

namespace {

window_options symbol_opts(std::int64_t lateness_ns, std::int64_t idle_ns = 0, std::int64_t horizon_ns = 60 * k_s,
                           std::int64_t width_ns = k_s) {
    window_options o = opts(lateness_ns, idle_ns, horizon_ns, width_ns);
    o.per_symbol = true;
    return o;
}

// A day (6.5 h) of one symbol's ticks at 1 s with some jitter inside the lateness, and its bars
// computed here, independently of the window stage: volume per second and the trade count.
struct day {
    std::vector<tick> ticks;
    std::map<timestamp_ns, std::pair<double, std::uint64_t>> bars; // start -> volume, trades
};

day make_day(std::string_view sym, std::int32_t partition, std::int64_t first_offset) {
    day d;
    constexpr std::int64_t k_seconds = 6 * 3600 + 1800;
    for (std::int64_t i = 0; i < k_seconds; ++i) {
        // Out of order by up to 150 ms inside its second: within the 200 ms lateness.
        const timestamp_ns ts = T0 + i * k_s + ((i * 7919) % 3 == 0 ? 900 : 250) * k_ms - (i % 2) * 150 * k_ms;
        const double size = static_cast<double>(1 + i % 13);
        d.ticks.push_back(trade_at(sym, ts, 100.0 + static_cast<double>(i % 17), size, partition, first_offset + i));
        auto& [volume, trades] = d.bars[window_start_of(ts, k_s)];
        volume += size;
        ++trades;
    }
    return d;
}

} // namespace

TEST_CASE("in symbol mode a symbol's windows close on its own event time, not on another symbol's of the same "
          "partition",
          "[window][event-time]") {
    // A sends a day, then B sends the same day, both on partition 0: one file per symbol replayed.
    const day a = make_day("A", 0, 0);
    const day b = make_day("B", 0, static_cast<std::int64_t>(a.ticks.size()));
    window_stage w(symbol_opts(200 * k_ms));
    collector c;
    for (const tick& t : a.ticks) w.on_tick(t, c);
    CHECK(w.watermark_of(0) > T0 + 6 * 3600 * k_s);
    CHECK(w.symbol_watermark(symbol::from("B")) == k_no_time);
    for (const tick& t : b.ticks) w.on_tick(t, c);
    w.flush(c);
    CHECK(w.late_ticks() == 0);
    CHECK(c.dead_letters.empty());
    CHECK(c.ticks.size() == a.ticks.size() + b.ticks.size());
    for (const auto* d : {&a, &b}) {
        const std::string_view sym = d->ticks.front().sym.view();
        std::size_t n = 0;
        for (const bar& x : c.bars) {
            if (x.sym.view() != sym) continue;
            ++n;
            const auto it = d->bars.find(x.window_start);
            REQUIRE(it != d->bars.end());
            CHECK(x.revision == 0);
            CHECK(x.volume == it->second.first);
            CHECK(x.trades == it->second.second);
        }
        CHECK(n == d->bars.size());
    }

    // The same input in partition mode: B's whole day is behind A's clock.
    window_stage p(opts(200 * k_ms));
    collector pc;
    for (const tick& t : a.ticks) p.on_tick(t, pc);
    for (const tick& t : b.ticks) p.on_tick(t, pc);
    CHECK(p.late_ticks() > b.ticks.size() - 100);
}

TEST_CASE("in symbol mode a late tick is judged and corrected against its own symbol's watermark",
          "[window][event-time]") {
    window_stage w(symbol_opts(200 * k_ms, 0, 10 * k_s));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0, 0), c);
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 0, 1), c);
    w.on_tick(trade_at("A", T0 + 5 * k_s, 11.0, 1, 0, 2), c); // A's clock: T0 + 4.8 s; B's: T0 - 100 ms
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].sym.view() == "A");
    CHECK(w.symbol_watermark(symbol::from("A")) == T0 + 4800 * k_ms);
    CHECK(w.symbol_watermark(symbol::from("B")) == T0 - 100 * k_ms);
    CHECK(w.watermark_of(0) == T0 + 4800 * k_ms); // the partition's: its fastest symbol's

    // B at T0 + 500 ms is on time for B, although A's clock is far past it.
    w.on_tick(trade_at("B", T0 + 500 * k_ms, 21.0, 2, 0, 3), c);
    CHECK(c.dead_letters.empty());
    CHECK(w.late_ticks() == 0);

    // A at T0 + 300 ms is late for A: corrected (within the horizon), revision 1.
    w.on_tick(trade_at("A", T0 + 300 * k_ms, 12.0, 3, 0, 4), c);
    REQUIRE(c.dead_letters.size() == 1);
    CHECK(c.dead_letters[0].detail == "bar corrected");
    const bar* fixed = find_bar(c, "A", T0, 1);
    REQUIRE(fixed != nullptr);
    CHECK(fixed->volume == 4.0);
    CHECK(fixed->high == 12.0);

    // B moves on: its first bar closes with both of its ticks.
    w.on_tick(trade_at("B", T0 + 1300 * k_ms, 22.0, 1, 0, 5), c);
    const bar* b0 = find_bar(c, "B", T0);
    REQUIRE(b0 != nullptr);
    CHECK(b0->volume == 3.0);
    CHECK(b0->close == 21.0);

    // Beyond B's horizon (10 s behind B's own watermark): dead-lettered, no correction.
    w.on_tick(trade_at("B", T0 + 30 * k_s, 22.0, 1, 0, 6), c);
    const std::size_t bars = c.bars.size();
    w.on_tick(trade_at("B", T0 + 1500 * k_ms, 22.0, 1, 0, 7), c);
    REQUIRE(c.dead_letters.size() == 2);
    CHECK(c.dead_letters[1].detail == "beyond late_update_horizon");
    CHECK(c.bars.size() == bars);
    CHECK(w.late_ticks() == 2);
    CHECK(w.corrections() == 1);
}

TEST_CASE("in symbol mode a symbol silent for idle_timeout closes its own windows while a busy symbol of the "
          "partition keeps its open",
          "[window][event-time]") {
    window_stage w(symbol_opts(200 * k_ms, 5 * k_s, 0));
    collector c;
    const timestamp_ns N0 = 1'000 * k_s; // processing time
    w.on_timer(N0, c);
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0), c);
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 0), c);
    // B keeps talking (inside its one window), A falls silent.
    for (int i = 1; i <= 9; ++i) {
        w.on_timer(N0 + i * k_s, c);
        w.on_tick(trade_at("B", T0 + 100 * k_ms + i * 50 * k_ms, 20.0, 1, 0), c);
    }
    REQUIRE(c.bars.size() == 1); // A's, closed by its silence
    CHECK(c.bars[0].sym.view() == "A");
    CHECK(w.idle_closed_symbols() == 1);
    CHECK(w.open_windows() == 1); // B's
    CHECK(w.symbol_watermark(symbol::from("A")) >= T0 + k_s);
    CHECK(w.symbol_watermark(symbol::from("B")) < T0 + k_s);

    // A's window is final for A only: a tick for it is late (horizon 0), one for B's merges.
    w.on_tick(trade_at("A", T0 + 500 * k_ms, 10.0, 1, 0), c);
    w.on_tick(trade_at("B", T0 + 600 * k_ms, 20.0, 1, 0), c);
    REQUIRE(c.dead_letters.size() == 1);
    CHECK(c.dead_letters[0].key == "A");

    w.on_timer(N0 + 20 * k_s, c); // now B is silent too
    REQUIRE(c.bars.size() == 2);
    CHECK(c.bars[1].sym.view() == "B");
    CHECK(c.bars[1].volume == 11.0);
    CHECK(w.idle_closed_symbols() == 2);
}

TEST_CASE("a tick ahead of the others moves only its symbol's clock in symbol mode", "[window][event-time]") {
    window_stage w(symbol_opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0), c);
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 0), c);
    // A tick an hour ahead (a clock error upstream, within what parse lets through).
    w.on_tick(trade_at("C", T0 + 3600 * k_s, 30.0, 1, 0), c);
    CHECK(c.bars.empty());
    CHECK(w.symbol_watermark(symbol::from("A")) == T0 - 100 * k_ms);
    CHECK(w.symbol_watermark(symbol::from("B")) == T0 - 100 * k_ms);
    // A and B go on as before: nothing late, their windows close on their own time.
    w.on_tick(trade_at("A", T0 + 700 * k_ms, 11.0, 1, 0), c);
    w.on_tick(trade_at("B", T0 + 900 * k_ms, 21.0, 1, 0), c);
    w.on_tick(trade_at("A", T0 + 1300 * k_ms, 12.0, 1, 0), c);
    CHECK(c.dead_letters.empty());
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].sym.view() == "A");
    CHECK(c.bars[0].volume == 2.0);
    CHECK(find_bar(c, "B", T0) == nullptr);

    // In partition mode the same tick makes both of them late.
    window_stage p(opts(200 * k_ms));
    collector pc;
    p.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0), pc);
    p.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 0), pc);
    p.on_tick(trade_at("C", T0 + 3600 * k_s, 30.0, 1, 0), pc);
    p.on_tick(trade_at("A", T0 + 700 * k_ms, 11.0, 1, 0), pc);
    p.on_tick(trade_at("B", T0 + 900 * k_ms, 21.0, 1, 0), pc);
    CHECK(p.late_ticks() == 2);
}

TEST_CASE("in symbol mode safe offsets and a discard work per symbol: a slow symbol holds its partition's offset back",
          "[window][event-time][kafka]") {
    window_stage w(symbol_opts(200 * k_ms));
    collector c;
    w.on_tick(trade_at("A", T0 + 100 * k_ms, 10.0, 1, 0, 10), c);
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 0, 11), c);
    w.on_tick(trade_at("A", T0 + 5 * k_s, 11.0, 1, 0, 12), c); // closes A's T0, not B's
    std::vector<std::pair<std::int32_t, std::int64_t>> safe;
    w.safe_offsets(safe);
    REQUIRE(safe.size() == 1);
    CHECK(safe[0] == std::pair<std::int32_t, std::int64_t>{0, 11}); // B's open window starts at 11
    w.discard_partitions({0});
    CHECK(w.open_windows() == 0);
    CHECK(w.symbol_watermark(symbol::from("A")) == k_no_time);
    // Re-read from 11: B's tick and A's are on time again, as for a partition never seen.
    w.on_tick(trade_at("B", T0 + 100 * k_ms, 20.0, 1, 0, 11), c);
    w.on_tick(trade_at("A", T0 + 5 * k_s, 11.0, 1, 0, 12), c);
    CHECK(c.dead_letters.empty());
    w.flush(c);
    CHECK(find_bar(c, "B", T0) != nullptr);
}
