// Several widths from one pass (window_options::widths_ns): each lane's bars against an independent
// computation from the input, the roll-up of narrower bars into wider ones, corrections per lane, bar
// input into several widths, and checkpoints carrying the lanes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "collect.hpp"
#include "operators/analytics.hpp"
#include "operators/anomaly.hpp"
#include "operators/checkpoint.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"
#include "src/config/load.hpp"
#include "src/runtime/options.hpp"

using namespace tapewire;
using tapewire::test::collector;
using tapewire::test::trade_at;

namespace {

constexpr std::int64_t k_ms = 1'000'000;
constexpr std::int64_t k_s = 1'000'000'000;
constexpr std::int64_t k_min = 60 * k_s;
constexpr timestamp_ns T0 = 1'732'800'000 * k_s; // a whole 5 minutes: 2024-11-28 13:20:00 UTC

window_options lane_opts(std::vector<std::int64_t> widths, std::int64_t lateness, std::int64_t horizon,
                         bool per_symbol = false) {
    window_options o;
    o.width_ns = widths.front();
    o.widths_ns = std::move(widths);
    o.allowed_lateness_ns = lateness;
    o.idle_timeout_ns = 0;
    o.late_update_horizon_ns = horizon;
    o.per_symbol = per_symbol;
    return o;
}

using key = std::tuple<std::string, std::int64_t, timestamp_ns>; // symbol, width, start
// Per (symbol, width, start) the bar of the highest revision.
std::map<key, bar> table_of(const std::vector<bar>& bars) {
    std::map<key, bar> t;
    for (const bar& b : bars) {
        auto [it, fresh] = t.try_emplace({std::string(b.sym.view()), bar_width(b), b.window_start}, b);
        if (!fresh && b.revision >= it->second.revision) it->second = b;
    }
    return t;
}

// The bars of `width` computed from the trades themselves, not from narrower bars: open of the
// earliest ts (first arrived on ties), close of the latest (last arrived), high, low, sums.
std::map<key, bar> from_trades(const std::vector<tick>& trades, std::int64_t width) {
    std::map<key, bar> t;
    std::map<key, std::pair<timestamp_ns, timestamp_ns>> span; // open_ts, close_ts
    for (const tick& x : trades) {
        const timestamp_ns start = window_start_of(x.ts, width);
        const key k{std::string(x.sym.view()), width, start};
        auto [it, fresh] = t.try_emplace(k);
        bar& b = it->second;
        auto& [open_ts, close_ts] = span[k];
        if (fresh) {
            b.window_start = start;
            b.window_end = start + width;
            b.open = b.high = b.low = b.close = x.close;
            open_ts = close_ts = x.ts;
        }
        if (x.ts < open_ts) {
            open_ts = x.ts;
            b.open = x.close;
        }
        if (x.ts >= close_ts) {
            close_ts = x.ts;
            b.close = x.close;
        }
        b.high = std::max(b.high, x.close);
        b.low = std::min(b.low, x.close);
        b.volume += x.volume;
        b.pv += x.close * x.volume;
        ++b.trades;
    }
    return t;
}

void check_same(const std::map<key, bar>& got, const std::map<key, bar>& want, std::int64_t width) {
    std::size_t n = 0;
    for (const auto& [k, w] : want) {
        if (std::get<1>(k) != width) continue;
        ++n;
        INFO(std::get<0>(k) << " width " << width / k_s << " s, window at " << (std::get<2>(k) - T0) / k_s << " s");
        const auto it = got.find(k);
        REQUIRE(it != got.end());
        const bar& g = it->second;
        CHECK(g.window_end == w.window_end);
        CHECK(g.open == w.open);
        CHECK(g.high == w.high);
        CHECK(g.low == w.low);
        CHECK(g.close == w.close);
        CHECK(g.volume == w.volume); // whole sizes: exact in any order
        CHECK(g.trades == w.trades);
        CHECK(g.pv == Approx(w.pv).epsilon(1e-12)); // summed in another order
    }
    std::size_t m = 0;
    for (const auto& [k, g] : got) m += std::get<1>(k) == width ? 1 : 0;
    CHECK(m == n);
    CHECK(n > 0);
}

// Minutes of trades of several symbols, ascending but shuffled within `jitter` (less than the
// allowed lateness), with ties on the timestamp.
std::vector<tick> shuffled_trades(int symbols, std::int64_t span, std::int64_t jitter, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::vector<tick> out;
    std::int64_t offset = 0;
    for (timestamp_ns ts = T0; ts < T0 + span; ts += 137 * k_ms) {
        for (int s = 0; s < symbols; ++s) {
            const std::string sym = "S" + std::to_string(s);
            const double price = 100.0 + static_cast<double>(rng() % 2000) / 100.0;
            const double size = static_cast<double>(1 + rng() % 50);
            out.push_back(trade_at(sym, ts, price, size, 0, offset++));
            if (rng() % 7 == 0) out.push_back(trade_at(sym, ts, price + 0.5, size, 0, offset++)); // a tie
        }
    }
    // Swap neighbours closer than the jitter: out of order, never later than the lateness allows.
    for (std::size_t i = 1; i < out.size(); ++i)
        if (rng() % 3 == 0 && out[i].ts - out[i - 1].ts < jitter && out[i].sym == out[i - 1].sym) {
            std::swap(out[i], out[i - 1]);
            std::swap(out[i].src.offset, out[i - 1].src.offset);
        }
    return out;
}

} // namespace

TEST_CASE("several widths from one pass: each width's bars equal a computation from the trades, and the wider bars "
          "equal the roll-up of the narrower ones",
          "[window][widths]") {
    const bool per_symbol = GENERATE(false, true);
    INFO("symbol mode " << per_symbol);
    const std::vector<tick> trades = shuffled_trades(3, 20 * k_min + 7 * k_s, 150 * k_ms, 11);
    window_stage w(lane_opts({k_s, k_min, 5 * k_min}, 200 * k_ms, 60 * k_s, per_symbol));
    collector c;
    for (const tick& t : trades) w.on_tick(t, c);
    w.flush(c);
    CHECK(c.dead_letters.empty());
    CHECK(w.late_ticks() == 0);
    for (const bar& b : c.bars) CHECK(b.revision == 0);
    const auto got = table_of(c.bars);
    for (std::int64_t width : {k_s, k_min, 5 * k_min}) check_same(got, from_trades(trades, width), width);
    CHECK(w.open_windows() == 0);

    // The same trades through a one-width stage give the same 1 s bars: lane 0 is today's stage.
    window_stage one(lane_opts({k_s}, 200 * k_ms, 60 * k_s, per_symbol));
    collector c1;
    for (const tick& t : trades) one.on_tick(t, c1);
    one.flush(c1);
    std::vector<bar> narrow;
    for (const bar& b : c.bars)
        if (bar_width(b) == k_s) narrow.push_back(b);
    REQUIRE(narrow.size() == c1.bars.size());
    for (std::size_t i = 0; i < narrow.size(); ++i) {
        CHECK(narrow[i].window_start == c1.bars[i].window_start);
        CHECK(narrow[i].pv == c1.bars[i].pv);
        CHECK(narrow[i].last_offset == c1.bars[i].last_offset);
    }

    // A wider bar comes after every narrower bar inside it.
    for (std::size_t i = 0; i < c.bars.size(); ++i) {
        const bar& b = c.bars[i];
        if (bar_width(b) == k_s) continue;
        for (std::size_t j = i + 1; j < c.bars.size(); ++j) {
            const bar& n = c.bars[j];
            if (n.sym == b.sym && bar_width(n) < bar_width(b) && n.window_start >= b.window_start &&
                n.window_start < b.window_end)
                FAIL("a narrower bar after the wider one containing it");
        }
    }
}

TEST_CASE("a tick late for the narrowest width is corrected in every width, with revision + 1, and dead-lettered once",
          "[window][widths]") {
    const bool per_symbol = GENERATE(false, true);
    window_stage w(lane_opts({k_s, k_min}, 0, 5 * k_min, per_symbol));
    collector c;
    std::vector<tick> trades;
    for (int i = 0; i < 90; ++i) trades.push_back(trade_at("A", T0 + i * k_s + 500 * k_ms, 10.0 + i, 1, 0, i));
    for (const tick& t : trades) w.on_tick(t, c);
    // The first minute is final in both widths now.
    REQUIRE(table_of(c.bars).count({"A", k_min, T0}) == 1);
    const tick late = trade_at("A", T0 + 30 * k_s + 100 * k_ms, 5.0, 4, 0, 90);
    w.on_tick(late, c);
    trades.push_back(late);
    CHECK(c.dead_letters.size() == 1);
    CHECK(w.late_ticks() == 1);
    const auto got = table_of(c.bars);
    CHECK(got.at({"A", k_s, T0 + 30 * k_s}).revision == 1);
    const bar& minute = got.at({"A", k_min, T0});
    CHECK(minute.revision == 1);
    CHECK(minute.low == 5.0);
    CHECK(minute.volume == 64.0);
    CHECK(minute.last_offset == 90);
    w.flush(c);
    const auto all = table_of(c.bars);
    check_same(all, from_trades(trades, k_s), k_s);
    check_same(all, from_trades(trades, k_min), k_min);

    // A late tick into a 1 s window that had nothing: a fresh 1 s bar, and the minute's revision 2.
    window_stage w2(lane_opts({k_s, k_min}, 0, 5 * k_min, per_symbol));
    collector c2;
    for (int i = 0; i < 90; ++i)
        if (i != 20) w2.on_tick(trades[static_cast<std::size_t>(i)], c2);
    w2.on_tick(trade_at("A", T0 + 20 * k_s + 700 * k_ms, 30.0, 2, 0, 91), c2);
    const auto got2 = table_of(c2.bars);
    CHECK(got2.at({"A", k_s, T0 + 20 * k_s}).revision == 0);
    CHECK(got2.at({"A", k_min, T0}).revision == 1);
    CHECK(got2.at({"A", k_min, T0}).volume == 61.0);
}

TEST_CASE("a tick beyond the update horizon counts in no width: the wider bar still equals the roll-up",
          "[window][widths]") {
    window_stage w(lane_opts({k_s, 10 * k_s}, 0, 2 * k_s));
    collector c;
    for (int i = 0; i < 40; ++i) w.on_tick(trade_at("A", T0 + i * k_s, 10.0, 1, 0, i), c);
    // Late for 1 s beyond its horizon, and its 10 s window closed too.
    w.on_tick(trade_at("A", T0 + 5 * k_s, 1.0, 100, 0, 40), c);
    w.flush(c);
    CHECK(c.dead_letters.size() == 1);
    const auto got = table_of(c.bars);
    CHECK(got.at({"A", 10 * k_s, T0}).volume == 10.0);
    CHECK(got.at({"A", 10 * k_s, T0}).revision == 0);
}

TEST_CASE("2-minute bars into 2-minute and 10-minute widths: re-sent five times with one revision, each width counts "
          "each distinct source bar once",
          "[window][widths][bar-input]") {
    const bool per_symbol = GENERATE(false, true);
    window_stage w(lane_opts({2 * k_min, 10 * k_min}, 0, 120 * k_min, per_symbol));
    collector c;
    auto source = [](int i, double volume, std::int64_t offset) {
        tick t;
        t.sym = symbol::from("OLD");
        t.ts = T0 + i * 2 * k_min;
        t.close = 50.0 + i % 7;
        t.open = t.close - 0.25;
        t.high = t.close + 0.5;
        t.low = t.close - 0.75;
        t.volume = volume;
        t.pv = bar_pv(t.high, t.low, t.close, t.volume);
        t.trades = 1;
        t.is_bar = true;
        t.src.offset = offset;
        return t;
    };
    std::int64_t offset = 0;
    for (int pass = 0; pass < 5; ++pass)
        for (int i = 0; i < 40; ++i) {
            const double volume = pass >= 3 && i == 12 ? 5000.0 : 1000.0 + i; // bar 12 revised in pass 4
            w.on_tick(source(i, volume, offset++), c);
        }
    w.flush(c);
    CHECK(c.dead_letters.empty());
    CHECK(w.duplicate_bars() == 4 * 40 - 1);
    CHECK(w.bar_revisions() == 1);
    const auto got = table_of(c.bars);
    // By hand: 2-minute bars are the source bars; 10-minute bars fold five of them.
    for (int i = 0; i < 40; ++i) {
        const tick s = source(i, i == 12 ? 5000.0 : 1000.0 + i, 0);
        const bar& b = got.at({"OLD", 2 * k_min, s.ts});
        CHECK(b.volume == s.volume);
        CHECK(b.close == s.close);
        CHECK(b.trades == 1);
    }
    for (int k = 0; k < 8; ++k) {
        INFO("10-minute window " << k);
        const bar& b = got.at({"OLD", 10 * k_min, T0 + k * 10 * k_min});
        double volume = 0, high = 0, low = 1e9, pv = 0;
        for (int i = 5 * k; i < 5 * k + 5; ++i) {
            const tick s = source(i, i == 12 ? 5000.0 : 1000.0 + i, 0);
            volume += s.volume;
            high = std::max(high, s.high);
            low = std::min(low, s.low);
            pv += s.pv;
        }
        CHECK(b.open == source(5 * k, 0, 0).open);
        CHECK(b.close == source(5 * k + 4, 0, 0).close);
        CHECK(b.high == high);
        CHECK(b.low == low);
        CHECK(b.volume == volume);
        CHECK(b.pv == Approx(pv).epsilon(1e-14));
        CHECK(b.trades == 5);
        CHECK(b.revision == (k == 2 ? 1U : 0U)); // bar 12 sits in the third 10-minute window
    }
}

TEST_CASE("a checkpoint carries every width: a run cut and restored gives the uninterrupted run's bars",
          "[window][widths][checkpoint]") {
    const bool per_symbol = GENERATE(false, true);
    const window_options o = lane_opts({k_s, 5 * k_s, k_min}, 200 * k_ms, 30 * k_s, per_symbol);
    const std::vector<tick> trades = shuffled_trades(2, 3 * k_min + 3 * k_s, 150 * k_ms, 7);
    window_stage whole(o);
    collector all;
    for (const tick& t : trades) whole.on_tick(t, all);
    whole.flush(all);

    const std::size_t cut = trades.size() * 2 / 5 + 3;
    window_stage first(o);
    vwap_stage v1{vwap_options{}};
    anomaly_stage a1{anomaly_options{}};
    collector before;
    for (std::size_t i = 0; i < cut; ++i) first.on_tick(trades[i], before);
    const std::string blob = save_partition_state(first, v1, a1, 0);

    window_stage second(o);
    vwap_stage v2{vwap_options{}};
    anomaly_stage a2{anomaly_options{}};
    restore_partition_state(second, v2, a2, 0, blob, 0);
    collector after;
    for (std::size_t i = cut; i < trades.size(); ++i) second.on_tick(trades[i], after);
    second.flush(after);
    std::vector<bar> joined = before.bars;
    joined.insert(joined.end(), after.bars.begin(), after.bars.end());
    REQUIRE(joined.size() == all.bars.size());
    for (std::size_t i = 0; i < joined.size(); ++i) {
        INFO("bar " << i);
        CHECK(joined[i].sym == all.bars[i].sym);
        CHECK(joined[i].window_start == all.bars[i].window_start);
        CHECK(joined[i].window_end == all.bars[i].window_end);
        CHECK(joined[i].volume == all.bars[i].volume);
        CHECK(joined[i].pv == all.bars[i].pv);
        CHECK(joined[i].last_offset == all.bars[i].last_offset);
    }

    // A blob with lanes is refused by a stage with other widths, naming the section's complaint.
    window_stage narrow(lane_opts({k_s}, 200 * k_ms, 30 * k_s, per_symbol));
    CHECK_THROWS_WITH(restore_partition_state(narrow, v2, a2, 0, blob, 0), Catch::Contains("widths"));
    // A blob of one width restores into a stage with lanes: the extra lanes start empty.
    window_stage one(lane_opts({k_s}, 200 * k_ms, 30 * k_s, per_symbol));
    collector ignored;
    for (std::size_t i = 0; i < cut; ++i) one.on_tick(trades[i], ignored);
    window_stage lanes(o);
    CHECK_NOTHROW(restore_partition_state(lanes, v2, a2, 0, save_partition_state(one, v1, a1, 0), 0));
}

TEST_CASE("safe offsets hold back for a wider bar still open", "[window][widths][kafka]") {
    window_stage w(lane_opts({k_s, k_min}, 0, 0));
    collector c;
    for (int i = 0; i < 5; ++i) w.on_tick(trade_at("A", T0 + i * k_s, 10.0, 1, 0, 100 + i), c);
    std::vector<std::pair<std::int32_t, std::int64_t>> safe;
    w.safe_offsets(safe);
    REQUIRE(safe.size() == 1);
    CHECK(safe[0].second == 100); // the minute's first tick, though its 1 s window closed long ago
}

TEST_CASE("window.widths takes ascending nesting durations, and window.width is its one-entry spelling",
          "[config][widths]") {
    using std::chrono::minutes;
    using std::chrono::seconds;
    const config one = load_config_text("[window]\nwidth = \"1m\"\n", "test.toml");
    CHECK(one.window.effective_widths() == std::vector<duration>{minutes(1)});
    CHECK(to_window_options(one.window, one.source).widths_ns.empty()); // one width: the one-lane stage

    const config three = load_config_text("[window]\nwidths = [\"1s\", \"1m\", \"5m\"]\n", "test.toml");
    CHECK(three.window.effective_widths() == std::vector<duration>{seconds(1), minutes(1), minutes(5)});
    const window_options o = to_window_options(three.window, three.source);
    CHECK(o.width_ns == k_s);
    CHECK(o.widths_ns == std::vector<std::int64_t>{k_s, k_min, 5 * k_min});
    // The command line spells a list with commas; window.width may be any one of them.
    const config cli = load_config_text("", "test.toml", {"window.widths=1m,5m", "window.width=5m"});
    CHECK(cli.window.effective_widths() == std::vector<duration>{minutes(1), minutes(5)});
    CHECK(to_window_options(cli.window, cli.source).width_ns == k_min);
    // A TOML array on the command line reads as in the file.
    const config array = load_config_text("", "test.toml", {R"(window.widths=["1s", "1m", "5m"])"});
    CHECK(array.window.effective_widths() == std::vector<duration>{seconds(1), minutes(1), minutes(5)});

    auto error_of = [](std::string_view text, std::vector<std::string> overrides = {}) -> std::string {
        try {
            (void)load_config_text(text, "test.toml", overrides);
        } catch (const std::exception& e) {
            return e.what();
        }
        return "";
    };
    CHECK_THAT(error_of("[window]\nwidths = [\"1m\", \"1s\"]\n"), Catch::Contains("must ascend"));
    CHECK_THAT(error_of("[window]\nwidths = [\"1m\", \"1m\"]\n"), Catch::Contains("must ascend"));
    CHECK_THAT(error_of("[window]\nwidths = [\"2s\", \"3s\"]\n"), Catch::Contains("not a multiple"));
    CHECK_THAT(error_of("[window]\nwidths = [\"0s\"]\n"), Catch::Contains("greater than 0"));
    CHECK_THAT(error_of("[window]\nwidths = [\"1s\",\"2s\",\"4s\",\"8s\",\"16s\",\"32s\",\"64s\",\"128s\",\"256s\"]\n"),
               Catch::Contains("at most 8"));
    CHECK_THAT(error_of("[window]\nwidths = [\"1s\", \"1m\"]\nwidth = \"2s\"\n"),
               Catch::Contains("window.width") && Catch::Contains("must be one of window.widths"));
    CHECK_THAT(error_of("[window]\nwidths = [\"1s\", 5]\n"), Catch::Contains("duration"));
    CHECK_THAT(error_of("", {"window.widths=1m,2x"}),
               Catch::Contains("--set") && Catch::Contains("window.widths") && Catch::Contains("invalid duration"));
}

TEST_CASE("session and rolling VWAP are kept per width, and only the narrowest width is judged for alerts",
          "[vwap][anomaly][widths]") {
    const window_options w = lane_opts({k_s, k_min}, 0, 60 * k_s);
    vwap_stage v(with_widths(vwap_options{}, w));
    auto make = [](std::int64_t width, timestamp_ns start, double price, double volume) {
        bar b;
        b.sym = symbol::from("A");
        b.window_start = start;
        b.window_end = start + width;
        b.open = b.high = b.low = b.close = price;
        b.volume = volume;
        b.pv = price * volume;
        b.vwap = price;
        return b;
    };
    // Two 1 s bars, then the minute that rolls them up: the minute's session VWAP is its own, not the
    // sum of the seconds and itself.
    bar s1 = make(k_s, T0, 10.0, 1), s2 = make(k_s, T0 + k_s, 20.0, 1), m = make(k_min, T0, 15.0, 2);
    v.enrich(s1);
    v.enrich(s2);
    v.enrich(m);
    CHECK(s2.session_vwap == 15.0);
    CHECK(m.session_vwap == 15.0);
    CHECK(m.rolling_vwap == 15.0);
    bar m2 = make(k_min, T0 + k_min, 30.0, 2);
    v.enrich(m2);
    CHECK(m2.session_vwap == Approx(22.5)); // (30 + 60) / 4: the minutes only
    bar s3 = make(k_s, T0 + k_min, 30.0, 2);
    v.enrich(s3);
    CHECK(s3.session_vwap == Approx(22.5)); // (10 + 20 + 60) / 4: the seconds only

    // Anomaly: a minute bar with a wild return is not judged, the second is.
    anomaly_options ao;
    ao.warmup_bars = 0;
    anomaly_stage a(with_widths(ao, w));
    alert found[3];
    CHECK(a.check_bar(make(k_s, T0, 10.0, 1), found) == 0);
    CHECK(a.check_bar(make(k_min, T0 + k_s, 1000.0, 1e9), found) == 0);
    // The same wild bar as a 1 s bar is judged, and alerts.
    anomaly_stage judged(with_widths(ao, w));
    CHECK(judged.check_bar(make(k_s, T0, 10.0, 1), found) == 0);
    CHECK(judged.check_bar(make(k_s, T0 + k_s, 1000.0, 1e9), found) > 0);
    // One width: every bar is judged, as before.
    CHECK(with_widths(anomaly_options{}, lane_opts({k_s}, 0, 0)).judged_width_ns == 0);
    CHECK(with_widths(anomaly_options{}, w).judged_width_ns == k_s);
}
