// Live bars (window.emit_updates, sink.updates): the window stage's updates of open bars on its timer,
// the vwap stage's provisional values, the outputs that write them, and the config that turns them on.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "collect.hpp"
#include "operators/analytics.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"
#include "src/config/load.hpp"
#include "src/runtime/options.hpp"
#include "src/sink/outputs.hpp"

using namespace tapewire;
using tapewire::test::collector;
using tapewire::test::trade_at;

namespace {

constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_s = 1'000'000'000;
constexpr timestamp_ns T0 = 1'732'800'000 * k_s; // a whole minute (and second): 2024-11-28 13:20:00 UTC
constexpr timestamp_ns P0 = 1'000 * k_s;         // processing time of the first timer

window_options live_opts(bool per_symbol, std::int64_t emit_updates_ns, std::vector<std::int64_t> widths = {}) {
    window_options o;
    o.width_ns = widths.empty() ? 60 * k_s : widths.front();
    o.widths_ns = std::move(widths);
    o.allowed_lateness_ns = 200 * k_ms;
    o.idle_timeout_ns = 0;
    o.late_update_horizon_ns = 60 * k_s;
    o.per_symbol = per_symbol;
    o.emit_updates_ns = emit_updates_ns;
    return o;
}

void check_same_bars(const std::vector<bar>& a, const std::vector<bar>& b) {
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO("bar " << i << " " << a[i].sym.view() << " at " << (a[i].window_start - T0) / k_ms << " ms");
        CHECK(tapewire::test::bit_identical(a[i], b[i]));
    }
}

// The updates the last timer sent, by symbol.
std::vector<std::string> symbols_of(const std::vector<bar>& updates, std::size_t from) {
    std::vector<std::string> out;
    for (std::size_t i = from; i < updates.size(); ++i) out.emplace_back(updates[i].sym.view());
    return out;
}

tick bar_tick(const char* sym, timestamp_ns start, double o, double h, double l, double c, double volume,
              std::int64_t offset) {
    tick t;
    t.sym = symbol::from(sym);
    t.ts = start;
    t.open = o;
    t.high = h;
    t.low = l;
    t.close = c;
    t.volume = volume;
    t.pv = bar_pv(h, l, c, volume);
    t.trades = 1;
    t.is_bar = true;
    t.src.offset = offset;
    return t;
}

} // namespace

TEST_CASE("open bars of changed symbols go out as updates at the emit_updates cadence, nothing for unchanged "
          "symbols, and the final bar is unchanged",
          "[window][live]") {
    const bool per_symbol = GENERATE(false, true);
    INFO((per_symbol ? "symbol mode" : "partition mode"));
    // The same input and timers into a stage with updates every 250 ms and one without.
    window_stage live(live_opts(per_symbol, 250 * k_ms)), plain(live_opts(per_symbol, 0));
    collector lc, pc;
    std::int64_t offset = 0;
    auto tick_both = [&](const char* sym, timestamp_ns ts, double price, double size) {
        const tick t = trade_at(sym, ts, price, size, 0, offset++);
        live.on_tick(t, lc);
        plain.on_tick(t, pc);
    };
    auto timer_both = [&](timestamp_ns p) {
        live.on_timer(p, lc);
        plain.on_timer(p, pc);
    };

    // 0 ms: A, B and C change; the first timer sends all three.
    tick_both("A", T0 + 1 * k_s, 10.0, 5);
    tick_both("B", T0 + 1 * k_s, 20.0, 1);
    tick_both("C", T0 + 1 * k_s, 30.0, 2);
    timer_both(P0);
    CHECK(symbols_of(lc.bar_updates, 0) == std::vector<std::string>{"A", "B", "C"});
    // 100 ms: A changes, but the cadence has not come round.
    tick_both("A", T0 + 2 * k_s, 12.0, 1);
    timer_both(P0 + 100 * k_ms);
    CHECK(lc.bar_updates.size() == 3);
    // 250 ms: A (from 100 ms) and B changed; C did not.
    tick_both("B", T0 + 3 * k_s, 19.0, 4);
    timer_both(P0 + 250 * k_ms);
    REQUIRE(symbols_of(lc.bar_updates, 3) == std::vector<std::string>{"A", "B"});
    const bar& a = lc.bar_updates[3];
    CHECK(a.window_start == T0);
    CHECK(a.window_end == T0 + 60 * k_s);
    CHECK(a.open == 10.0);
    CHECK(a.high == 12.0);
    CHECK(a.low == 10.0);
    CHECK(a.close == 12.0);
    CHECK(a.volume == 6.0);
    CHECK(a.trades == 2);
    CHECK(a.vwap == Approx(62.0 / 6));
    CHECK(a.revision == 0);
    CHECK(a.last_offset == 3);
    CHECK(lc.bar_updates[4].volume == 5.0); // B: 1 + 4
    // 500 ms: nothing changed, nothing goes out.
    timer_both(P0 + 500 * k_ms);
    CHECK(lc.bar_updates.size() == 5);
    // 750 ms: only C.
    tick_both("C", T0 + 4 * k_s, 31.0, 1);
    timer_both(P0 + 600 * k_ms);
    CHECK(lc.bar_updates.size() == 5); // 100 ms after the last: too soon
    timer_both(P0 + 750 * k_ms);
    CHECK(symbols_of(lc.bar_updates, 5) == std::vector<std::string>{"C"});
    CHECK(lc.bars.empty()); // every window is still open: updates are no final bars

    // Each symbol's next minute closes its first; the timer after sends only the new minutes' windows.
    const std::size_t before_close = lc.bar_updates.size();
    for (const char* sym : {"A", "B", "C"}) tick_both(sym, T0 + 61 * k_s, 11.0, 1);
    CHECK(lc.bars.size() == 3);
    timer_both(P0 + 1000 * k_ms);
    REQUIRE(lc.bar_updates.size() == before_close + 3);
    for (std::size_t i = before_close; i < lc.bar_updates.size(); ++i)
        CHECK(lc.bar_updates[i].window_start == T0 + 60 * k_s);
    plain.flush(pc);
    live.flush(lc);
    timer_both(P0 + 2000 * k_ms); // after the flush nothing is open: nothing more
    CHECK(lc.bar_updates.size() == before_close + 3);
    CHECK(live.bar_updates() == lc.bar_updates.size());
    CHECK(pc.bar_updates.empty());
    CHECK(plain.bar_updates() == 0);
    check_same_bars(lc.bars, pc.bars);
    CHECK(lc.watermarks.size() == pc.watermarks.size());
}

TEST_CASE("with two widths an update carries each lane's open bar, the wider one rolled up with the narrower open "
          "window",
          "[window][live][widths]") {
    const bool per_symbol = GENERATE(false, true);
    INFO((per_symbol ? "symbol mode" : "partition mode"));
    const std::vector<std::int64_t> widths{k_s, 4 * k_s};
    window_stage live(live_opts(per_symbol, 250 * k_ms, widths)), plain(live_opts(per_symbol, 0, widths));
    collector lc, pc;
    std::int64_t offset = 0;
    auto tick_both = [&](timestamp_ns ts, double price, double size) {
        const tick t = trade_at("A", ts, price, size, 0, offset++);
        live.on_tick(t, lc);
        plain.on_tick(t, pc);
    };
    auto timer_both = [&](timestamp_ns p) {
        live.on_timer(p, lc);
        plain.on_timer(p, pc);
    };

    // Only the first second is open: the 4 s lane has no window yet, but its open bar is that second.
    tick_both(T0 + 100 * k_ms, 10.0, 2);
    tick_both(T0 + 300 * k_ms, 11.0, 1);
    timer_both(P0);
    REQUIRE(lc.bar_updates.size() == 2);
    CHECK(bar_width(lc.bar_updates[0]) == k_s);
    CHECK(bar_width(lc.bar_updates[1]) == 4 * k_s);
    CHECK(lc.bar_updates[1].window_start == T0);
    CHECK(lc.bar_updates[1].volume == 3.0);
    CHECK(lc.bar_updates[1].close == 11.0);

    // The first second closes (its final bar opens the 4 s window); the 4 s update folds the closed
    // second and the open one.
    tick_both(T0 + 1500 * k_ms, 9.0, 4);
    REQUIRE(lc.bars.size() == 1);
    timer_both(P0 + 250 * k_ms);
    REQUIRE(lc.bar_updates.size() == 4);
    const bar& one = lc.bar_updates[2];
    const bar& four = lc.bar_updates[3];
    CHECK(bar_width(one) == k_s);
    CHECK(one.window_start == T0 + k_s);
    CHECK(one.volume == 4.0);
    CHECK(bar_width(four) == 4 * k_s);
    CHECK(four.window_start == T0);
    CHECK(four.open == 10.0);
    CHECK(four.high == 11.0);
    CHECK(four.low == 9.0);
    CHECK(four.close == 9.0);
    CHECK(four.volume == 7.0);
    CHECK(four.trades == 3);
    CHECK(four.pv == 20.0 + 11.0 + 36.0);

    // 5 s closes [1 s, 2 s) and the first 4 s window; the next update is of the new windows only.
    tick_both(T0 + 5 * k_s, 12.0, 1);
    tick_both(T0 + 5200 * k_ms, 12.5, 1); // watermark 5 s
    timer_both(P0 + 500 * k_ms);
    REQUIRE(lc.bar_updates.size() == 6);
    CHECK(lc.bar_updates[4].window_start == T0 + 5 * k_s);
    CHECK(lc.bar_updates[5].window_start == T0 + 4 * k_s);
    CHECK(lc.bar_updates[5].volume == 2.0);
    // A late tick for [4 s, 5 s), a second never open: its corrected bar goes out final, and the 4 s
    // window it falls in changed, so the symbol's open bars go out with it folded in.
    tick_both(T0 + 4100 * k_ms, 8.0, 1);
    CHECK(lc.dead_letters.size() == 1);
    timer_both(P0 + 750 * k_ms);
    REQUIRE(lc.bar_updates.size() == 8);
    const bar& rolled = lc.bar_updates[7];
    CHECK(bar_width(rolled) == 4 * k_s);
    CHECK(rolled.window_start == T0 + 4 * k_s);
    CHECK(rolled.volume == 3.0);
    CHECK(rolled.low == 8.0);
    CHECK(rolled.open == 8.0);
    CHECK(rolled.close == 12.5);

    live.flush(lc);
    plain.flush(pc);
    check_same_bars(lc.bars, pc.bars);
}

TEST_CASE("a bar re-sent unchanged makes no update, a changed one updates with its new values, not added",
          "[window][live][bar_input]") {
    window_options o = live_opts(true, 250 * k_ms);
    window_stage w(o);
    collector c;
    w.on_tick(bar_tick("A", T0, 10, 12, 9, 11, 1028, 1), c);
    w.on_timer(P0, c);
    REQUIRE(c.bar_updates.size() == 1);
    CHECK(c.bar_updates[0].volume == 1028);
    w.on_tick(bar_tick("A", T0, 10, 12, 9, 11, 1028, 2), c); // the same bar again: nothing changed
    w.on_timer(P0 + 250 * k_ms, c);
    CHECK(c.bar_updates.size() == 1);
    w.on_tick(bar_tick("A", T0, 10, 12, 9, 11.5, 1029, 3), c); // it filled up
    w.on_timer(P0 + 500 * k_ms, c);
    REQUIRE(c.bar_updates.size() == 2);
    CHECK(c.bar_updates[1].volume == 1029);
    CHECK(c.bar_updates[1].close == 11.5);
    CHECK(c.bar_updates[1].trades == 1);
    w.flush(c);
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].volume == 1029);
}

TEST_CASE("a bar update carries a provisional session VWAP and leaves the session sums unchanged", "[vwap][live]") {
    vwap_options vo;
    vo.rolling_windows = 3;
    vwap_stage with_updates(vo), without(vo);
    collector cu, cw;
    auto make = [](int i, double pv, double volume, double close) {
        bar b;
        b.sym = symbol::from("A");
        b.window_start = T0 + i * 60 * k_s;
        b.window_end = b.window_start + 60 * k_s;
        b.open = b.high = b.low = b.close = close;
        b.pv = pv;
        b.volume = volume;
        b.vwap = pv / volume;
        return b;
    };
    for (int i = 0; i < 4; ++i) {
        const bar b = make(i, 1000.0 * (i + 1), 100.0, 10.0 + i);
        with_updates.on_bar(b, cu);
        without.on_bar(b, cw);
    }
    // The open window so far, twice (it grows); the stage without updates never sees it.
    with_updates.on_bar_update(make(4, 600, 50, 12.0), cu);
    with_updates.on_bar_update(make(4, 1300, 100, 13.0), cu);
    REQUIRE(cu.bar_updates.size() == 2);
    const bar& u = cu.bar_updates[1];
    // Session: (1000 + 2000 + 3000 + 4000 + 1300) / 500; rolling over the last 3: (3000 + 4000 + 1300) / 300.
    CHECK(u.session_vwap == Approx(11300.0 / 500));
    CHECK(u.rolling_vwap == Approx(8300.0 / 300));
    CHECK(u.vwap_dev_bps == Approx((13.0 - 11300.0 / 500) / (11300.0 / 500) * 1e4));
    // The final bar, and the next, are enriched exactly as by a stage that never had updates; the
    // last update equals the final bar of the same values.
    for (int i = 4; i < 6; ++i) {
        const bar b = make(i, 1300.0 + i, 100.0, 13.0);
        with_updates.on_bar(b, cu);
        without.on_bar(b, cw);
    }
    check_same_bars(cu.bars, cw.bars);
    CHECK(cu.bars[4].session_vwap == Approx(u.session_vwap).epsilon(1e-3));
    // A symbol vwap has never seen: its own values.
    bar fresh = make(0, 500, 50, 9.0);
    fresh.sym = symbol::from("NEW");
    with_updates.on_bar_update(fresh, cu);
    CHECK(cu.bar_updates.back().session_vwap == 10.0);
    CHECK(cu.bar_updates.back().rolling_vwap == 10.0);
}

TEST_CASE("anomaly passes bar updates through unjudged", "[anomaly][live]") {
    anomaly_options ao;
    ao.warmup_bars = 0;
    ao.volume_spike = 1.5;
    anomaly_stage a(ao);
    collector c;
    bar b;
    b.sym = symbol::from("A");
    b.close = 10;
    b.volume = 100;
    for (int i = 0; i < 5; ++i) {
        b.window_start = T0 + i * k_s;
        a.on_bar(b, c);
    }
    const std::uint64_t alerts = a.alerts();
    b.window_start = T0 + 5 * k_s;
    b.close = 20;       // a return that would fire
    b.volume = 100'000; // and a volume spike
    a.on_bar_update(b, c);
    CHECK(a.alerts() == alerts);
    REQUIRE(c.bar_updates.size() == 1);
    a.on_bar(b, c); // the same values as the final bar do fire: the update changed no state
    CHECK(a.alerts() > alerts);
}

TEST_CASE("sink.updates writes bar_update lines marked not final; without it none, and the bars are as before",
          "[sink][live]") {
    const bool updates = GENERATE(false, true);
    INFO("sink.updates = " << updates);
    sink_config sc;
    sc.path = std::string("live_bars_out_") + (updates ? "on" : "off") + ".ndjson";
    sc.updates = updates;
    bar b;
    b.sym = symbol::from("A");
    b.window_start = T0;
    b.window_end = T0 + k_s;
    b.open = b.high = b.low = b.close = 10;
    b.volume = 3;
    b.pv = 30;
    b.trades = 2;
    b.vwap = 10;
    {
        output_sink out(sc, kafka_config{}, nullptr, false);
        out.on_bar_update(b);
        out.on_bar(b);
        out.on_flush();
        CHECK(out.bar_updates() == 1);
        CHECK(out.bars() == 1);
    }
    std::ifstream in(sc.path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    char buf[640];
    json_buffer j(buf, sizeof buf);
    write_bar_json(j, b);
    const std::string final_line(j.view());
    CHECK(final_line.find("\"final\"") == std::string::npos); // the final bar as before
    if (!updates) {
        CHECK(lines == std::vector<std::string>{final_line});
        return;
    }
    REQUIRE(lines.size() == 2);
    CHECK(lines[1] == final_line);
    // The update: the bar's fields between its own type and "final":false.
    const std::string fields = final_line.substr(std::string("{\"type\":\"bar\"").size());
    CHECK(lines[0] == "{\"type\":\"bar_update\"" + fields.substr(0, fields.size() - 1) + ",\"final\":false}");
}

TEST_CASE("window.emit_updates is 0 or at least 10ms and sink.updates needs it", "[config][live]") {
    const config d = default_config();
    CHECK(d.window.emit_updates == duration::zero());
    CHECK_FALSE(d.sink.updates);
    CHECK(to_window_options(d.window, d.source).emit_updates_ns == 0);
    const config on = load_config_text("[window]\nemit_updates = \"250ms\"\n[sink]\nupdates = true\n", "test.toml");
    CHECK(to_window_options(on.window, on.source).emit_updates_ns == 250 * k_ms);
    CHECK(on.sink.updates);

    auto error_of = [](const std::string& text) -> config_error {
        try {
            (void)load_config_text(text, "test.toml");
        } catch (const config_error& e) {
            return e;
        }
        FAIL("expected a config_error");
        throw std::logic_error("unreachable");
    };
    const config_error fast = error_of("[window]\nwidth = \"1s\"\nemit_updates = \"5ms\"\n");
    CHECK(fast.file == "test.toml");
    CHECK(fast.line == 3);
    CHECK(fast.key == "window.emit_updates");
    CHECK(fast.message.find("at least 10ms") != std::string::npos);
    CHECK(error_of("[window]\nemit_updates = \"-1s\"\n").key == "window.emit_updates");
    const config_error alone = error_of("[sink]\npath = \"x\"\nupdates = true\n");
    CHECK(alone.line == 3);
    CHECK(alone.key == "sink.updates");
    CHECK(alone.message.find("window.emit_updates") != std::string::npos);
}
