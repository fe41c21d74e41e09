// bar input: a bar message is the complete bar of its (symbol, start); receiving it again adds nothing.
// These tests drive the per-symbol bar memory directly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "operators/bar_memory.hpp"

using namespace tapewire;

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
