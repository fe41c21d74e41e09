// bar input: a bar message is the complete bar of its (symbol, start); receiving it again adds nothing.
// The first tests drive the per-symbol bar memory directly, the others the window stage (and the
// analytics chain behind it) with bar messages.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "collect.hpp"
#include "operators/anomaly.hpp"
#include "operators/bar_memory.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"

using namespace tapewire;
using tapewire::test::collector;

namespace {

constexpr std::int64_t k_min = 60'000'000'000;
// A minute-aligned base time: 2024-11-28 13:20:00 UTC.
constexpr timestamp_ns T0 = 1'732'800'000'000'000'000;

source_bar bar_at(int minute, double close, double volume) {
    return source_bar{T0 + minute * k_min, close - 0.5, close + 1.0, close - 1.0, close, volume};
}

std::vector<timestamp_ns> starts_of(const symbol_bar_memory& m) {
    std::vector<timestamp_ns> out;
    for (const source_bar& b : m.bars()) out.push_back(b.start);
    return out;
}

} // namespace

TEST_CASE("a bar remembered once is a duplicate when received again unchanged and a revision when changed", "[bars]") {
    symbol_bar_memory m;
    CHECK(m.upsert(bar_at(0, 100, 1028)) == bar_outcome::inserted);
    CHECK(m.upsert(bar_at(1, 101, 500)) == bar_outcome::inserted);
    CHECK(m.upsert(bar_at(0, 100, 1028)) == bar_outcome::duplicate);
    CHECK(m.upsert(bar_at(1, 101, 500)) == bar_outcome::duplicate);
    // The live bar fills up: its volume grows from 1028 to 1029, replacing the earlier values.
    CHECK(m.upsert(bar_at(0, 100, 1029)) == bar_outcome::revised);
    REQUIRE(m.size() == 2);
    CHECK(m.find(T0)->volume == 1029);
    CHECK(m.upsert(bar_at(0, 100, 1029)) == bar_outcome::duplicate);
    CHECK(m.find(T0 + 2 * k_min) == nullptr);
}

TEST_CASE("bar equality is bit for bit: minus zero and another NaN payload are revisions", "[bars]") {
    symbol_bar_memory m;
    source_bar b = bar_at(0, 100, 0.0);
    REQUIRE(m.upsert(b) == bar_outcome::inserted);
    b.volume = -0.0;
    CHECK(m.upsert(b) == bar_outcome::revised);
    CHECK(m.upsert(b) == bar_outcome::duplicate);
    b.close = std::nextafter(100.0, 101.0);
    CHECK(m.upsert(b) == bar_outcome::revised);
}

TEST_CASE("bars received out of order are kept sorted by start and found by range", "[bars]") {
    symbol_bar_memory m;
    for (const int minute : {4, 0, 8, 2, 6})
        REQUIRE(m.upsert(bar_at(minute, 100 + minute, 10)) == bar_outcome::inserted);
    CHECK(starts_of(m) ==
          std::vector<timestamp_ns>{T0, T0 + 2 * k_min, T0 + 4 * k_min, T0 + 6 * k_min, T0 + 8 * k_min});
    // A 5-minute window [T0+2m, T0+7m) folds the bars at 2, 4 and 6.
    const auto r = m.range(T0 + 2 * k_min, T0 + 7 * k_min);
    REQUIRE(r.size() == 3);
    CHECK(r[0].start == T0 + 2 * k_min);
    CHECK(r[2].close == 106);
    CHECK(m.range(T0 + 9 * k_min, T0 + 20 * k_min).empty());
    CHECK(m.range(T0 - 5 * k_min, T0).empty());
    CHECK(m.upsert(bar_at(4, 104, 10)) == bar_outcome::duplicate);
    CHECK(m.upsert(bar_at(4, 104, 11)) == bar_outcome::revised);
    CHECK(m.find(T0 + 4 * k_min)->volume == 11);
}

TEST_CASE("evicting old bars moves memory_from past them, and a re-send of one is beyond memory", "[bars]") {
    symbol_bar_memory m;
    CHECK(m.memory_from() == k_no_time);
    for (int minute = 0; minute < 10; ++minute) REQUIRE(m.upsert(bar_at(minute, 100, 10)) == bar_outcome::inserted);
    CHECK(m.evict_before(T0 + 4 * k_min) == 4);
    CHECK(m.size() == 6);
    CHECK(m.memory_from() == T0 + 3 * k_min + 1);
    CHECK(m.bars().front().start == T0 + 4 * k_min);
    // Forgotten: whether it was the same cannot be known.
    CHECK(m.upsert(bar_at(2, 100, 10)) == bar_outcome::beyond_memory);
    CHECK(m.upsert(bar_at(2, 100, 99)) == bar_outcome::beyond_memory);
    CHECK(m.size() == 6);
    // Still remembered.
    CHECK(m.upsert(bar_at(4, 100, 10)) == bar_outcome::duplicate);
    // A cutoff with nothing before it forgets nothing and leaves memory_from where it was.
    CHECK(m.evict_before(T0 + 4 * k_min) == 0);
    CHECK(m.memory_from() == T0 + 3 * k_min + 1);
    // Forgetting everything leaves an empty memory that still refuses the forgotten starts.
    CHECK(m.evict_before(T0 + 100 * k_min) == 6);
    CHECK(m.empty());
    CHECK(m.upsert(bar_at(9, 100, 10)) == bar_outcome::beyond_memory);
    CHECK(m.upsert(bar_at(10, 100, 10)) == bar_outcome::inserted);
}

TEST_CASE("the hard cap forgets the oldest bars first", "[bars]") {
    symbol_bar_memory m;
    for (int minute = 0; minute < 100; ++minute) REQUIRE(m.upsert(bar_at(minute, 100, 10)) == bar_outcome::inserted);
    CHECK(m.drop_oldest(100) == 0);
    CHECK(m.drop_oldest(30) == 70);
    CHECK(m.size() == 30);
    CHECK(m.bars().front().start == T0 + 70 * k_min);
    CHECK(m.bars().back().start == T0 + 99 * k_min);
    CHECK(m.memory_from() == T0 + 69 * k_min + 1);
    CHECK(m.upsert(bar_at(69, 100, 10)) == bar_outcome::beyond_memory);
    CHECK(m.upsert(bar_at(70, 100, 10)) == bar_outcome::duplicate);
}

TEST_CASE("a remembered bar costs 48 bytes and forgotten bars are given back as the memory slides", "[bars]") {
    symbol_bar_memory m;
    // A month of 1-minute bars sliding through a one-day memory: the memory stays near a day's bars.
    constexpr int k_day = 24 * 60;
    std::size_t most = 0;
    for (int minute = 0; minute < 31 * k_day; ++minute) {
        REQUIRE(m.upsert(bar_at(minute, 100, 1)) == bar_outcome::inserted);
        m.evict_before(T0 + (minute - k_day) * k_min);
        most = std::max(most, m.bytes());
    }
    CHECK(m.size() == static_cast<std::size_t>(k_day) + 1);
    CHECK(m.bytes() >= m.size() * 48);
    // Vector slack plus the forgotten prefix kept until it is half the vector: at most 4x the live bars.
    CHECK(most <= 4 * 48 * (static_cast<std::size_t>(k_day) + 1));
}

TEST_CASE("a restored memory answers as the saved one did", "[bars]") {
    symbol_bar_memory saved;
    for (int minute = 0; minute < 10; ++minute) saved.upsert(bar_at(minute, 100 + minute, 10));
    saved.evict_before(T0 + 3 * k_min);
    symbol_bar_memory restored;
    restored.assign(saved.memory_from(), {saved.bars().begin(), saved.bars().end()});
    CHECK(restored.memory_from() == saved.memory_from());
    CHECK(restored.size() == 7);
    CHECK(restored.upsert(bar_at(1, 101, 10)) == bar_outcome::beyond_memory);
    CHECK(restored.upsert(bar_at(5, 105, 10)) == bar_outcome::duplicate);
    CHECK(restored.upsert(bar_at(5, 105, 12)) == bar_outcome::revised);
    CHECK(restored.upsert(bar_at(10, 110, 10)) == bar_outcome::inserted);
}

// The window stage with bar messages --------------------------------------------------------------

namespace {

constexpr std::int64_t k_day = 24 * 60 * k_min;

// A bar message as parse makes it from the older producer's shape: its own OHLCV at ts = its start.
tick bar_msg(std::string_view sym, timestamp_ns start, double close, double volume, std::int64_t offset = -1) {
    tick t;
    t.sym = symbol::from(sym);
    t.ts = start;
    t.open = close - 0.25;
    t.high = close + 0.5;
    t.low = close - 0.75;
    t.close = close;
    t.volume = volume;
    t.pv = bar_pv(t.high, t.low, t.close, t.volume);
    t.trades = 1;
    t.is_bar = true;
    t.src.offset = offset;
    return t;
}

window_options bar_opts(std::int64_t width, std::int64_t lateness, std::int64_t horizon, bool per_symbol = false) {
    window_options o;
    o.width_ns = width;
    o.allowed_lateness_ns = lateness;
    o.idle_timeout_ns = 0;
    o.late_update_horizon_ns = horizon;
    o.per_symbol = per_symbol;
    return o;
}

// The bars table: per (symbol, start) the highest revision.
using bars_table = std::map<std::pair<std::string, timestamp_ns>, bar>;

bars_table table_of(const std::vector<bar>& bars) {
    bars_table t;
    for (const bar& b : bars) {
        auto [it, fresh] = t.try_emplace({std::string(b.sym.view()), b.window_start}, b);
        if (!fresh && b.revision >= it->second.revision) it->second = b;
    }
    return t;
}

// The bars of one symbol's distinct source bars (ascending by start), folded by hand: open of the
// first, close of the last, high max, low min, volume and typical price x volume summed in order.
bars_table fold_by_hand(std::string_view sym, const std::vector<tick>& source, std::int64_t width) {
    bars_table t;
    for (const tick& s : source) {
        const timestamp_ns start = window_start_of(s.ts, width);
        auto [it, fresh] = t.try_emplace({std::string(sym), start});
        bar& b = it->second;
        if (fresh) {
            b.window_start = start;
            b.open = s.open;
            b.high = s.high;
            b.low = s.low;
        }
        b.high = std::max(b.high, s.high);
        b.low = std::min(b.low, s.low);
        b.close = s.close;
        b.volume += s.volume;
        b.pv += (s.high + s.low + s.close) / 3.0 * s.volume;
        ++b.trades;
    }
    return t;
}

void check_same_bars(const bars_table& got, const bars_table& want) {
    REQUIRE(got.size() == want.size());
    for (const auto& [key, w] : want) {
        INFO(key.first << " window at " << (key.second - T0) / k_min << " min");
        const auto it = got.find(key);
        REQUIRE(it != got.end());
        const bar& g = it->second;
        CHECK(g.open == w.open);
        CHECK(g.high == w.high);
        CHECK(g.low == w.low);
        CHECK(g.close == w.close);
        CHECK(g.volume == w.volume);
        // Typical price x volume may be fused into one multiply-add here or there: to the last bits.
        CHECK(g.pv == Approx(w.pv).epsilon(1e-14));
        CHECK(g.trades == w.trades);
    }
}

std::size_t dead_letters_of(const collector& c) { return c.dead_letters.size(); }

} // namespace

TEST_CASE("a bar received again unchanged has no effect, is counted as a duplicate and is never dead-lettered",
          "[window][bars]") {
    std::vector<tick> pass;
    for (int i = 0; i < 5; ++i) pass.push_back(bar_msg("A", T0 + i * k_min, 100 + i, 10 + i));
    window_stage once(bar_opts(k_min, 0, 60 * k_min));
    collector want;
    for (const tick& t : pass) once.on_tick(t, want);
    once.flush(want);

    window_stage twice(bar_opts(k_min, 0, 60 * k_min));
    collector got;
    std::int64_t offset = 0;
    for (int round = 0; round < 2; ++round)
        for (tick t : pass) {
            t.src.offset = offset++;
            twice.on_tick(t, got);
        }
    twice.flush(got);
    CHECK(dead_letters_of(got) == 0);
    CHECK(twice.new_bars() == 5);
    CHECK(twice.duplicate_bars() == 5);
    CHECK(twice.bar_revisions() == 0);
    CHECK(twice.late_ticks() == 0);
    CHECK(twice.corrections() == 0);
    // Nothing twice downstream: the same bars, once each, and each source bar forwarded once.
    CHECK(got.bars.size() == want.bars.size());
    check_same_bars(table_of(got.bars), table_of(want.bars));
    CHECK(got.ticks.size() == 5);
    // The offsets of the re-sends still move the partition on: nothing to re-read before them.
    std::vector<std::pair<std::int32_t, std::int64_t>> safe;
    twice.safe_offsets(safe);
    REQUIRE(safe.size() == 1);
    CHECK(safe[0].second == 10);
}

TEST_CASE("a live bar that fills up replaces its contribution: volumes 1028 and 1029, not 2056 and 2058",
          "[window][bars]") {
    // The older producer's 2-minute bars; the last two windows are still open when the pass is re-sent.
    window_stage w(bar_opts(2 * k_min, 5 * k_min, 60 * k_min));
    collector c;
    auto send_pass = [&](double last_volume) {
        for (int i = 0; i < 8; ++i) w.on_tick(bar_msg("A", T0 + 2 * i * k_min, 100 + i, 500 + i), c);
        w.on_tick(bar_msg("A", T0 + 16 * k_min, 108, 1028), c);
        w.on_tick(bar_msg("A", T0 + 18 * k_min, 109, last_volume), c);
    };
    send_pass(1000); // the live bar, still filling
    send_pass(1029); // complete now
    send_pass(1029);
    w.flush(c);
    const bars_table t = table_of(c.bars);
    REQUIRE(t.size() == 10);
    CHECK(t.at({"A", T0 + 16 * k_min}).volume == 1028);
    CHECK(t.at({"A", T0 + 18 * k_min}).volume == 1029);
    CHECK(t.at({"A", T0 + 18 * k_min}).trades == 1);
    CHECK(t.at({"A", T0 + 18 * k_min}).pv == bar_pv(109.5, 108.25, 109, 1029));
    CHECK(w.new_bars() == 10);
    CHECK(w.bar_revisions() == 1);
    CHECK(w.duplicate_bars() == 19);
    CHECK(c.dead_letters.empty());
}

TEST_CASE("a changed bar for an emitted window re-emits it with revision + 1 and the session VWAP counts it once",
          "[window][bars][vwap]") {
    auto run = [](bool revise_later) {
        window_stage w(bar_opts(k_min, 0, 60 * k_min));
        vwap_stage v(vwap_options{});
        anomaly_stage a(anomaly_options{});
        collector c;
        tapewire::link<anomaly_stage, collector> la(a, c);
        tapewire::link<vwap_stage, decltype(la)> lv(v, la);
        tapewire::link<window_stage, decltype(lv)> lw(w, lv);
        for (int i = 0; i < 10; ++i)
            lw.on_tick(bar_msg("A", T0 + i * k_min, 100 + 0.1 * i, i == 3 && !revise_later ? 300 : 100));
        if (revise_later) {
            lw.on_tick(bar_msg("A", T0 + 3 * k_min, 100.3, 100)); // a re-send: nothing
            lw.on_tick(bar_msg("A", T0 + 3 * k_min, 100.3, 300)); // Yahoo revised the minute's volume
            lw.on_tick(bar_msg("A", T0 + 3 * k_min, 100.3, 300)); // and re-sends it again
        }
        lw.on_flush();
        CHECK(c.dead_letters.empty());
        CHECK(w.corrections() == (revise_later ? 1 : 0));
        return c.bars;
    };
    const std::vector<bar> revised = run(true);
    const std::vector<bar> straight = run(false);
    REQUIRE(revised.size() == straight.size() + 1);
    const bars_table t = table_of(revised);
    const bar& b3 = t.at({"A", T0 + 3 * k_min});
    CHECK(b3.revision == 1);
    CHECK(b3.volume == 300);
    // Computed here: Σ typical x volume / Σ volume over the ten bars, the revised one at 300.
    double pv = 0, vol = 0;
    for (int i = 0; i < 10; ++i) {
        const double close = 100 + 0.1 * i, v = i == 3 ? 300 : 100;
        pv += bar_pv(close + 0.5, close - 0.75, close, v);
        vol += v;
    }
    const bar& last = t.at({"A", T0 + 9 * k_min});
    CHECK(last.session_vwap == Approx(pv / vol).epsilon(1e-12));
    CHECK(last.session_vwap == Approx(straight.back().session_vwap).epsilon(1e-12));
}

TEST_CASE("2-minute bars into 10-minute windows count each distinct source bar once across five re-sends and one "
          "revision",
          "[window][bars]") {
    // Three days of 2-minute bars for two symbols, each symbol's month sent whole after the other's
    // (event time per symbol), five times; from the third pass on one recent bar of B is revised.
    constexpr int k_bars = 3 * 720;
    const timestamp_ns revised_at = T0 + (k_bars - 10) * 2 * k_min;
    auto source = [&](std::string_view sym, int pass) {
        std::vector<tick> out;
        for (int i = 0; i < k_bars; ++i) {
            const timestamp_ns start = T0 + i * 2 * k_min;
            const double close = 50 + (sym == "A" ? 0.01 : 0.02) * (i % 97);
            double volume = 100 + i % 13;
            if (sym == "B" && start == revised_at && pass >= 3) volume += 7;
            out.push_back(bar_msg(sym, start, close, volume));
        }
        return out;
    };
    window_stage w(bar_opts(10 * k_min, 2 * k_min, 60 * k_min, true));
    collector c;
    std::int64_t offset = 0;
    for (int pass = 1; pass <= 5; ++pass)
        for (const char* sym : {"A", "B"})
            for (tick t : source(sym, pass)) {
                t.src.offset = offset++;
                w.on_tick(t, c);
            }
    w.flush(c);

    bars_table want = fold_by_hand("A", source("A", 5), 10 * k_min);
    want.merge(fold_by_hand("B", source("B", 5), 10 * k_min));
    check_same_bars(table_of(c.bars), want);
    CHECK(table_of(c.bars).at({"B", window_start_of(revised_at, 10 * k_min)}).revision == 1);
    CHECK(c.dead_letters.empty());
    CHECK(w.new_bars() == 2 * k_bars);
    CHECK(w.duplicate_bars() == 4 * 2 * k_bars - 1);
    CHECK(w.bar_revisions() == 1);
    CHECK(w.corrections() == 1);
    CHECK(c.ticks.size() == 2 * k_bars);
    // One emission per window plus the one correction.
    CHECK(c.bars.size() == want.size() + 1);
}

TEST_CASE("a re-sent bar older than bar_memory is counted and reported once per symbol and pass, never "
          "dead-lettered",
          "[window][bars]") {
    window_options o = bar_opts(k_min, 0, 10 * k_min, true);
    o.bar_memory_ns = k_day;
    window_stage w(o);
    collector c;
    auto send_pass = [&](const char* sym, int drain_after = -1) {
        std::vector<bar_memory_report> drained;
        for (int i = 0; i < 3 * 24 * 60; ++i) {
            w.on_tick(bar_msg(sym, T0 + i * k_min, 100 + i % 7, 10), c);
            if (i == drain_after) w.drain_bar_memory_reports(drained);
        }
        return drained;
    };
    send_pass("A");
    send_pass("B");
    const std::size_t bars_once = c.bars.size();
    const bars_table once = table_of(c.bars);
    CHECK(w.bars_beyond_memory() == 0);
    const timestamp_ns from_a = w.bar_memory_of(symbol::from("A"))->memory_from();
    const timestamp_ns from_b = w.bar_memory_of(symbol::from("B"))->memory_from();
    // The memory is a day back from each symbol's newest bar.
    const timestamp_ns newest = T0 + (3 * 24 * 60 - 1) * k_min;
    CHECK(from_a == newest - k_day - k_min + 1);
    CHECK(from_b == from_a);
    const auto beyond = static_cast<std::uint64_t>((from_a - 1 - T0) / k_min + 1); // bars before memory_from

    std::vector<bar_memory_report> reports;
    send_pass("A");
    send_pass("B");
    w.drain_bar_memory_reports(reports);
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].sym.view() == "A");
    CHECK(reports[1].sym.view() == "B");
    for (const bar_memory_report& r : reports) {
        CHECK(r.count == beyond);
        CHECK(r.oldest_start == T0);
        CHECK(r.memory_from == from_a);
    }
    CHECK(w.bars_beyond_memory() == 2 * beyond);

    // A drain in the middle of a pass: the rest of that pass is counted, not reported again.
    std::vector<bar_memory_report> early = send_pass("A", 100);
    REQUIRE(early.size() == 1);
    CHECK(early[0].count == 101);
    reports.clear();
    w.drain_bar_memory_reports(reports);
    CHECK(reports.empty());
    CHECK(w.bars_beyond_memory() == 3 * beyond);

    CHECK(c.dead_letters.empty());
    CHECK(c.bars.size() == bars_once);
    check_same_bars(table_of(c.bars), once);
}

TEST_CASE("a revised bar beyond late_update_horizon is dead-lettered once; later re-sends of it are duplicates",
          "[window][bars]") {
    window_stage w(bar_opts(k_min, 0, 10 * k_min));
    collector c;
    auto send_pass = [&](double volume_at_10, bool with_20) {
        for (int i = 0; i < 120; ++i) {
            if (i == 20 && !with_20) continue;
            w.on_tick(bar_msg("A", T0 + i * k_min, 100, i == 10 ? volume_at_10 : 10), c);
        }
    };
    send_pass(10, false);
    CHECK(c.dead_letters.empty());
    send_pass(11, true); // minute 10 revised, minute 20 sent for the first time: both too late to correct
    REQUIRE(c.dead_letters.size() == 2);
    CHECK(c.dead_letters[0].reason == dead_letter_reason::late);
    CHECK(c.dead_letters[0].detail == "revised bar beyond late_update_horizon");
    CHECK(c.dead_letters[1].detail == "beyond late_update_horizon");
    CHECK(w.late_ticks() == 2);
    send_pass(11, true);
    send_pass(11, true);
    CHECK(c.dead_letters.size() == 2);
    CHECK(w.bar_revisions() == 1);
    CHECK(w.new_bars() == 120);
    CHECK(w.duplicate_bars() == 118 + 2 * 120);
    CHECK(w.corrections() == 0);
}

TEST_CASE("bar memory keeps to bar_memory and costs 48 bytes a bar", "[window][bars]") {
    SECTION("a day of memory over three days of 1-minute bars") {
        window_options o = bar_opts(k_min, 0, 10 * k_min);
        o.bar_memory_ns = k_day;
        window_stage w(o);
        null_emitter out;
        for (const char* sym : {"A", "B"})
            for (int i = 0; i < 3 * 24 * 60; ++i) w.on_tick(bar_msg(sym, T0 + i * k_min, 100, 10), out);
        const symbol_bar_memory* a = w.bar_memory_of(symbol::from("A"));
        const symbol_bar_memory* b = w.bar_memory_of(symbol::from("B"));
        REQUIRE(a != nullptr);
        REQUIRE(b != nullptr);
        // A day and one bar: the newest bar and the day before it.
        CHECK(a->size() == 24 * 60 + 1);
        CHECK(w.bar_memory_bars() == a->size() + b->size());
        CHECK(w.bar_memory_bytes() == a->bytes() + b->bytes());
        CHECK(w.bar_memory_bytes() >= 48 * w.bar_memory_bars());
        CHECK(w.bar_memory_bytes() <= 4 * 48 * w.bar_memory_bars());
        CHECK(w.bar_memory_evicted() == 0);
    }
    SECTION("the hard cap holds a memory longer than it") {
        window_options o = bar_opts(k_min, 0, 10 * k_min);
        o.bar_memory_ns = 100 * k_day;
        window_stage w(o);
        null_emitter out;
        constexpr int k_bars = 50 * 24 * 60;
        for (int i = 0; i < k_bars; ++i) w.on_tick(bar_msg("A", T0 + i * k_min, 100, 10), out);
        CHECK(w.bar_memory_bars() == k_bar_memory_cap);
        CHECK(w.bar_memory_evicted() == k_bars - k_bar_memory_cap);
        CHECK(w.bar_memory_of(symbol::from("A"))->bars().front().start == T0 + (k_bars - 65'536) * k_min);
    }
}

TEST_CASE("a re-sent month of bars raises no price_jump alert", "[window][bars][anomaly]") {
    window_stage w(bar_opts(2 * k_min, 0, 60 * k_min));
    anomaly_stage a(anomaly_options{});
    collector c;
    tapewire::link<anomaly_stage, collector> la(a, c);
    tapewire::link<window_stage, decltype(la)> lw(w, la);
    // A month of 2-minute bars whose price climbs from 100 to about 130: the first bar of a re-send
    // is 25 % below the last one, a price jump had it gone through.
    constexpr int k_bars = 30 * 720;
    auto send_pass = [&] {
        for (int i = 0; i < k_bars; ++i) lw.on_tick(bar_msg("A", T0 + i * 2 * k_min, 100 + 30.0 * i / k_bars, 10));
    };
    auto jumps = [&] {
        return std::count_if(c.alerts.begin(), c.alerts.end(),
                             [](const alert& x) { return x.kind == alert_kind::price_jump; });
    };
    send_pass();
    const auto after_one = jumps();
    CHECK(after_one == 0);
    for (int pass = 2; pass <= 5; ++pass) send_pass();
    CHECK(jumps() == after_one);
    CHECK(w.duplicate_bars() == 4 * k_bars);
    CHECK(c.ticks.size() == k_bars);
}

TEST_CASE("bar_memory = 0 merges bars additively as before", "[window][bars]") {
    window_options o = bar_opts(2 * k_min, 5 * k_min, 60 * k_min);
    o.bar_memory_ns = 0;
    window_stage w(o);
    collector c;
    for (int pass = 0; pass < 2; ++pass) {
        w.on_tick(bar_msg("A", T0 + 16 * k_min, 108, 1028), c);
        w.on_tick(bar_msg("A", T0 + 18 * k_min, 109, 1029), c);
    }
    w.flush(c);
    const bars_table t = table_of(c.bars);
    CHECK(t.at({"A", T0 + 16 * k_min}).volume == 2056);
    CHECK(t.at({"A", T0 + 18 * k_min}).volume == 2058);
    CHECK(w.duplicate_bars() == 0);
    CHECK(w.new_bars() == 0);
    CHECK(w.bar_memory_bars() == 0);
    CHECK(w.bar_memory_of(symbol::from("A")) == nullptr);
    CHECK(c.ticks.size() == 4);
}
