// anomaly stage: tick-level price jumps, bar-level EWMA z-score of returns, volume spikes and VWAP
// deviation crossings; deterministic; corrected bars are not judged again.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "collect.hpp"
#include "operators/anomaly.hpp"

using namespace tapewire;
using tapewire::test::collector;
using tapewire::test::trade_at;

namespace {

constexpr std::int64_t k_s = 1'000'000'000;
constexpr timestamp_ns T0 = 1'732'800'000 * k_s;

bar make_bar(const char* sym, int i, double close, double volume = 1000.0, double dev_bps = k_null_double,
             std::uint32_t revision = 0) {
    bar b;
    b.sym = symbol::from(sym);
    b.window_start = T0 + i * 60 * k_s;
    b.window_end = b.window_start + 60 * k_s;
    b.open = b.high = b.low = b.close = close;
    b.volume = volume;
    b.pv = close * volume;
    b.vwap = close;
    b.vwap_dev_bps = dev_bps;
    b.revision = revision;
    b.trades = 1;
    return b;
}

std::size_t count_kind(const collector& c, alert_kind k) {
    std::size_t n = 0;
    for (const alert& a : c.alerts) n += a.kind == k ? 1 : 0;
    return n;
}

} // namespace

TEST_CASE("a price jump above the threshold fires at once, one below it does not", "[anomaly]") {
    anomaly_options o;
    o.price_jump = 0.02;
    anomaly_stage s(o);
    collector c;
    s.on_tick(trade_at("A", T0 + 1, 100.0, 1), c); // first: nothing to compare
    s.on_tick(trade_at("A", T0 + 2, 101.0, 1), c); // ln(101/100)  = +0.00995  < 0.02
    s.on_tick(trade_at("A", T0 + 3, 98.0, 1), c);  // ln(98/101)   = -0.030153 > 0.02: fires
    s.on_tick(trade_at("A", T0 + 4, 99.5, 1), c);  // ln(99.5/98)  = +0.015190 < 0.02
    s.on_tick(trade_at("A", T0 + 5, 102.0, 1), c); // ln(102/99.5) = +0.024815 > 0.02: fires
    s.on_tick(trade_at("B", T0 + 6, 50.0, 1), c);  // another symbol: its first tick, no jump vs A
    REQUIRE(c.alerts.size() == 2);
    CHECK(c.alerts[0].kind == alert_kind::price_jump);
    CHECK(c.alerts[0].sym.view() == "A");
    CHECK(c.alerts[0].ts == T0 + 3);
    CHECK(c.alerts[0].value == Approx(-0.0301530382).epsilon(1e-8));
    CHECK(c.alerts[0].threshold == 0.02);
    CHECK(c.alerts[0].score == Approx(1.5076519085).epsilon(1e-8)); // 0.0301530 / 0.02
    CHECK(c.alerts[1].ts == T0 + 5);
    CHECK(c.alerts[1].value == Approx(0.0248151691).epsilon(1e-8));
    CHECK(c.alerts[1].score == Approx(1.2407584560).epsilon(1e-8));
    CHECK(c.ticks.size() == 6); // ticks pass through
    CHECK(s.alerts() == 2);
    // The alert goes out before the tick that caused it.
    // (events: tick 100, tick 101, alert + tick 98, ...)
    CHECK(c.order[1] == collector::kind::tick);
    CHECK(c.order[2] == collector::kind::alert);
    CHECK(c.order[3] == collector::kind::tick);
}

TEST_CASE("the return z-score does not fire during the warm-up, even on a huge return", "[anomaly]") {
    anomaly_options o;
    o.warmup_bars = 4;
    o.ewma_alpha = 0.5;
    anomaly_stage s(o);
    collector c;
    // Returns y = ln(1.0001) ~ 1e-4, then -y: (alpha 1/2) mean 0, variance y^2, sd ~ 1e-4. The third
    // return ln(150/100) = 0.405 would score z ~ 4000 were the stage warm, and ln(75/150) = -0.693
    // after it; but only 2 and 3 returns have been seen by then, fewer than the 4 of the warm-up.
    const double closes[] = {100, 100.01, 100, 150, 75};
    for (int i = 0; i < 5; ++i) s.on_bar(make_bar("A", i, closes[i]), c);
    CHECK(c.alerts.empty());
    CHECK(c.bars.size() == 5);
}

TEST_CASE("the return z-score fires after the warm-up on a large return", "[anomaly]") {
    anomaly_options o;
    o.warmup_bars = 4;
    o.ewma_alpha = 0.5;
    o.return_z = 6.0;
    anomaly_stage s(o);
    collector c;
    // x = ln(1.01). Returns +x, -x, +x, -x, then +10x. EWMA with alpha 1/2 (var' = (1-a)(var + a d^2)):
    //   r1 = +x: mean = x, var = 0
    //   r2 = -x: d = -2x, mean = 0,     var = 0.5 (0 + 0.5 * 4x^2)         = x^2
    //   r3 = +x: d = x,   mean = 0.5x,  var = 0.5 (x^2 + 0.5 x^2)          = 0.75 x^2
    //   r4 = -x: d = -1.5x, mean = -0.25x, var = 0.5 (0.75 + 0.5 * 2.25) x^2 = 0.9375 x^2
    //   r5 = 10x, 4 returns seen = warm: z = (10 + 0.25) / sqrt(0.9375) = 10.5861545
    const double c5 = 100.0 * std::pow(1.01, 10);
    const double closes[] = {100, 101, 100, 101, 100, c5};
    for (int i = 0; i < 6; ++i) s.on_bar(make_bar("A", i, closes[i]), c);
    REQUIRE(c.alerts.size() == 1);
    const alert& a = c.alerts[0];
    CHECK(a.kind == alert_kind::return_z);
    CHECK(a.sym.view() == "A");
    CHECK(a.ts == T0 + 5 * 60 * k_s); // the bar's window_start
    CHECK(a.value == Approx(10.5861545).epsilon(1e-7));
    CHECK(a.threshold == 6.0);
    CHECK(a.score == Approx(10.5861545 / 6.0).epsilon(1e-7));
    // The bar goes out before its alerts.
    CHECK(c.order.back() == collector::kind::alert);
    CHECK(c.order[c.order.size() - 2] == collector::kind::bar);
}

TEST_CASE("a steady series produces no alert", "[anomaly]") {
    anomaly_stage s(anomaly_options{}); // defaults: warm-up 30, z 6, alpha 0.05
    collector c;
    // Closes alternate 100, 101: returns +-ln(1.01) around a mean near 0 with a standard deviation
    // near ln(1.01), so |z| stays near 1; volume constant (ratio 1); no VWAP deviation given.
    for (int i = 0; i < 200; ++i) s.on_bar(make_bar("A", i, i % 2 == 0 ? 100.0 : 101.0), c);
    CHECK(c.alerts.empty());
}

TEST_CASE("a volume spike after the warm-up fires, and not during it", "[anomaly]") {
    anomaly_options o;
    o.warmup_bars = 4;
    o.ewma_alpha = 0.5;
    o.volume_spike = 5.0;
    SECTION("after the warm-up") {
        anomaly_stage s(o);
        collector c;
        // Volumes 100 x 4: EWMA 100. Bar 5: 600 / 100 = 6 > 5 fires. What it learns is 100..600 (600
        // clipped to some multiple of the mean), so the EWMA becomes 100 + 0.5 (learned - 100), between
        // 100 and 350. Bar 6: 300 / EWMA <= 3 < 5, no alert.
        const double volumes[] = {100, 100, 100, 100, 600, 300};
        for (int i = 0; i < 6; ++i) s.on_bar(make_bar("A", i, 100.0, volumes[i]), c);
        REQUIRE(c.alerts.size() == 1);
        CHECK(c.alerts[0].kind == alert_kind::volume_spike);
        CHECK(c.alerts[0].ts == T0 + 4 * 60 * k_s);
        CHECK(c.alerts[0].value == Approx(6.0));
        CHECK(c.alerts[0].threshold == 5.0);
        CHECK(c.alerts[0].score == Approx(1.2)); // 6 / 5
    }
    SECTION("during the warm-up") {
        anomaly_stage s(o);
        collector c;
        const double volumes[] = {100, 10000, 100, 100};
        for (int i = 0; i < 4; ++i) s.on_bar(make_bar("A", i, 100.0, volumes[i]), c);
        CHECK(c.alerts.empty());
    }
}

TEST_CASE("a VWAP deviation fires once on crossing and re-arms after coming back inside", "[anomaly]") {
    anomaly_options o;
    o.vwap_dev_bps = 150.0;
    anomaly_stage s(o);
    collector c;
    // 10 inside; 200 crosses (fires); 300 still outside; NaN (no session VWAP) changes nothing;
    // 250 still outside; 100 back inside (re-arms); -180 crosses below (fires); -200 still outside.
    const double devs[] = {10, 200, 300, k_null_double, 250, 100, -180, -200};
    for (int i = 0; i < 8; ++i) s.on_bar(make_bar("A", i, 100.0, 1000.0, devs[i]), c);
    REQUIRE(c.alerts.size() == 2);
    CHECK(c.alerts[0].kind == alert_kind::vwap_dev);
    CHECK(c.alerts[0].ts == T0 + 1 * 60 * k_s);
    CHECK(c.alerts[0].value == 200.0);
    CHECK(c.alerts[0].threshold == 150.0);
    CHECK(c.alerts[0].score == Approx(200.0 / 150.0));
    CHECK(c.alerts[1].kind == alert_kind::vwap_dev);
    CHECK(c.alerts[1].ts == T0 + 6 * 60 * k_s);
    CHECK(c.alerts[1].value == -180.0);
    CHECK(c.alerts[1].score == Approx(1.2)); // 180 / 150
}

TEST_CASE("the same input through two fresh anomaly stages gives identical alerts", "[anomaly]") {
    // A fixed pseudo-random walk of ticks and bars over three symbols (LCG, no global state).
    struct event {
        bool is_bar;
        tick t;
        bar b;
    };
    std::vector<event> input;
    std::uint64_t x = 12345;
    auto next = [&x] {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(x >> 11) / 9007199254740992.0; // [0, 1)
    };
    const char* syms[] = {"A", "B", "C"};
    double price[] = {100, 50, 20};
    for (int i = 0; i < 3000; ++i) {
        const int k = i % 3;
        const double u = next();
        // Mostly small moves, now and then a big one (about 1 in 50).
        price[k] *= u < 0.02 ? 1.08 : (u > 0.98 ? 0.92 : 1.0 + (u - 0.5) * 0.004);
        event e{};
        if (i % 10 == 9) {
            e.is_bar = true;
            e.b =
                make_bar(syms[k], i, price[k], 1000.0 * (next() < 0.05 ? 20.0 : 1.0 + next()), (next() - 0.5) * 400.0);
        } else {
            e.is_bar = false;
            e.t = trade_at(syms[k], T0 + i, price[k], 10);
        }
        input.push_back(e);
    }
    auto run = [&input] {
        anomaly_stage s(anomaly_options{});
        collector c;
        for (const event& e : input) {
            if (e.is_bar)
                s.on_bar(e.b, c);
            else
                s.on_tick(e.t, c);
        }
        return c.alerts;
    };
    const std::vector<alert> first = run();
    const std::vector<alert> second = run();
    REQUIRE(first.size() > 10); // the walk has jumps and deviations to report
    REQUIRE(first.size() == second.size());
    for (std::size_t i = 0; i < first.size(); ++i) {
        INFO("alert " << i);
        CHECK(first[i].sym == second[i].sym);
        CHECK(first[i].ts == second[i].ts);
        CHECK(first[i].kind == second[i].kind);
        CHECK(first[i].value == second[i].value); // bit-for-bit: same order, same arithmetic
        CHECK(first[i].threshold == second[i].threshold);
        CHECK(first[i].score == second[i].score);
        CHECK(first[i].partition == second[i].partition);
    }
}

TEST_CASE("corrected bars (revision > 0) pass through without being evaluated", "[anomaly]") {
    anomaly_options o;
    o.warmup_bars = 4;
    o.ewma_alpha = 0.5;
    anomaly_stage s(o);
    collector c;
    for (int i = 0; i < 4; ++i) s.on_bar(make_bar("A", i, 100.0, 100.0), c); // warm: EWMA volume 100
    // A correction of window 3 with a wild close, volume and deviation: no alert, and no state change.
    s.on_bar(make_bar("A", 3, 200.0, 100'000.0, 900.0, 1), c);
    CHECK(c.alerts.empty());
    CHECK(c.bars.size() == 5);
    CHECK(c.bars.back().revision == 1);
    // Had the correction been learned, the close 200 would make this bar's return ln(100/200) and the
    // vwap_dev state would be active. Instead: return 0 (no z alert), volume 600 / 100 = 6 > 5 fires,
    // and the deviation 900 is a fresh crossing.
    s.on_bar(make_bar("A", 4, 100.0, 600.0, 900.0), c);
    REQUIRE(c.alerts.size() == 2);
    CHECK(count_kind(c, alert_kind::return_z) == 0);
    CHECK(count_kind(c, alert_kind::volume_spike) == 1);
    CHECK(count_kind(c, alert_kind::vwap_dev) == 1);
    for (const alert& a : c.alerts) {
        if (a.kind == alert_kind::volume_spike) CHECK(a.value == Approx(6.0));
    }
}

TEST_CASE("a bar delivered again after a re-read is passed on but judged only once", "[anomaly][kafka]") {
    anomaly_options o;
    o.warmup_bars = 4;
    o.ewma_alpha = 0.5;
    anomaly_stage s(o);
    collector c;
    for (int i = 0; i < 4; ++i) s.on_bar(make_bar("A", i, 100.0, 100.0), c); // warm: EWMA volume 100
    // Windows 2 and 3 come again, as after a rebalance re-read from an older offset, with a volume
    // that would fire and be learned if judged.
    s.on_bar(make_bar("A", 2, 100.0, 900.0), c);
    s.on_bar(make_bar("A", 3, 100.0, 900.0), c);
    CHECK(c.alerts.empty());
    CHECK(c.bars.size() == 6);
    // The EWMA volume is still 100: 600 fires (6 > 5), as it would have without the repeats.
    s.on_bar(make_bar("A", 4, 100.0, 600.0), c);
    REQUIRE(c.alerts.size() == 1);
    CHECK(c.alerts[0].kind == alert_kind::volume_spike);
    CHECK(c.alerts[0].value == Approx(6.0));
}
