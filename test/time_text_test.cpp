// The one reader and writer of time text (include/tapewire/time_text.hpp): what the SQL store writes
// and reads back from each database, round trips over the whole range of timestamp_ns, leap days,
// and the bounds. The parse stage's own forms are in test/parse_test.cpp.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "tapewire/time_text.hpp"

using namespace tapewire;

namespace {

constexpr timestamp_ns k_t = 1767623400123456789; // 2026-01-05T14:30:00.123456789Z
constexpr timestamp_ns k_min = std::numeric_limits<timestamp_ns>::min();
constexpr timestamp_ns k_max = std::numeric_limits<timestamp_ns>::max();
constexpr timestamp_ns k_day = 86'400'000'000'000;

std::optional<timestamp_ns> read(std::string_view s) {
    timestamp_ns out = 0;
    if (!parse_timestamp_text(s, out)) return std::nullopt;
    return out;
}

// ns cut to microseconds toward the past (ns at least k_min + 1000: the floor of less is not a timestamp_ns).
timestamp_ns floor_us(timestamp_ns ns) { return ns - (ns % 1000 + 1000) % 1000; }

} // namespace

TEST_CASE("UTC time is written as ISO-8601 with microseconds, cut toward the past", "[time]") {
    CHECK(format_utc(k_t) == "2026-01-05T14:30:00.123456Z");
    CHECK(format_utc(0) == "1970-01-01T00:00:00.000000Z");
    CHECK(format_utc(-1) == "1969-12-31T23:59:59.999999Z");
    CHECK(format_utc(951782400000000000) == "2000-02-29T00:00:00.000000Z");
    CHECK(format_utc(k_min) == "1677-09-21T00:12:43.145224Z");
    CHECK(format_utc(k_max) == "2262-04-11T23:47:16.854775Z");
    char buf[k_utc_text_size + 1] = {};
    buf[k_utc_text_size] = '#';
    CHECK(write_utc(k_t, buf) == buf + k_utc_text_size);
    CHECK(std::string_view(buf, k_utc_text_size) == "2026-01-05T14:30:00.123456Z");
    CHECK(buf[k_utc_text_size] == '#'); // nothing written past the text

    const utc_time u = to_utc(k_t);
    CHECK(u.year == 2026);
    CHECK(u.month == 1);
    CHECK(u.day == 5);
    CHECK(u.hour == 14);
    CHECK(u.minute == 30);
    CHECK(u.second == 0);
    CHECK(u.micros == 123456);
    const utc_time before = to_utc(-1);
    CHECK(before.year == 1969);
    CHECK(before.micros == 999999);
}

TEST_CASE("UTC time reads back as each database prints it", "[time]") {
    CHECK(read("2026-01-05T14:30:00.123456Z") == k_t - 789);      // SQLite: the text written
    CHECK(read("2026-01-05 14:30:00.123456+00") == k_t - 789);    // PostgreSQL's text
    CHECK(read("2026-01-05 14:30:00+00") == 1767623400000000000); // PostgreSQL, whole seconds
    CHECK(read("2026-01-05 14:30:00.1234560") == k_t - 789);      // SQL Server's DATETIME2 text
    CHECK(read("2026-01-05 14:30:00.123456789Z") == k_t);         // nanoseconds kept
    CHECK(read("2026-01-05T16:30:00.123456+02") == k_t - 789);    // an hour-only offset
    CHECK(read("2026-01-05T14:30:00Z") == 1767623400000000000);
    CHECK_FALSE(read("2026-01-05"));
    CHECK_FALSE(read("2026-13-05T14:30:00Z"));
    CHECK_FALSE(read("2026-01-05T14:30:00.Z"));
    CHECK_FALSE(read("2026-01-05T14:30:00+0"));
    CHECK_FALSE(read("2026-01-05T14:30:00+00:"));
    CHECK_FALSE(read("2026-01-05T14:30:00+24"));
    CHECK_FALSE(read("2026-01-05T14:30:00Z "));
}

TEST_CASE("written time reads back to the microsecond over the whole range of timestamp_ns", "[time]") {
    for (timestamp_ns v : {timestamp_ns{0}, k_t - 789, timestamp_ns{-1000}, timestamp_ns{4102444799999999000},
                           floor_us(k_max), floor_us(k_min + 1000)})
        CHECK(read(format_utc(v)) == v);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        const auto v = static_cast<timestamp_ns>(rng());
        if (v < k_min + 1000) continue;
        INFO("ns: " << v);
        REQUIRE(read(format_utc(v)) == floor_us(v));
    }
}

TEST_CASE("leap days exist in leap years only, and every day of a leap year round-trips", "[time]") {
    CHECK(read("2024-02-29 00:00:00Z") == 19782 * k_day);
    CHECK(read("2000-02-29T00:00:00Z") == 951782400000000000); // divisible by 400: a leap year
    CHECK_FALSE(read("1900-02-29T00:00:00Z"));                 // divisible by 100: not one
    CHECK_FALSE(read("2100-02-29T00:00:00Z"));
    CHECK_FALSE(read("2025-02-29T00:00:00Z"));
    CHECK(read("2024-03-01T00:00:00Z") == 19783 * k_day);
    CHECK(read("2024-12-31T23:59:59.999999999Z") == 20089 * k_day - 1);
    const timestamp_ns jan1 = *read("2024-01-01T00:00:00Z");
    for (int d = 0; d < 366; ++d) {
        const timestamp_ns v = jan1 + d * k_day + 12 * 3600 * timestamp_ns{1'000'000'000};
        REQUIRE(read(format_utc(v)) == v);
    }
    CHECK(format_utc(jan1 + 365 * k_day) == "2024-12-31T00:00:00.000000Z");
    CHECK(format_utc(jan1 + 59 * k_day) == "2024-02-29T00:00:00.000000Z");
}

TEST_CASE("time text outside timestamp_ns is refused, not wrapped around", "[time]") {
    CHECK(read("1677-09-21T00:12:43.145224192Z") == k_min);
    CHECK(read("2262-04-11T23:47:16.854775807Z") == k_max);
    CHECK_FALSE(read("1677-09-21T00:12:43.145224191Z"));
    CHECK_FALSE(read("2262-04-11T23:47:16.854775808Z"));
    CHECK_FALSE(read("1677-01-01T00:00:00Z"));
    CHECK_FALSE(read("2263-01-01T00:00:00Z"));
    CHECK_FALSE(read("9999-12-31T23:59:59Z"));
    CHECK_FALSE(read("0000-01-01T00:00:00Z"));
    // An offset that moves a time across a bound counts: the instant is what must fit.
    CHECK(read("2262-04-12T01:47:16.854775807+02:00") == k_max);
    CHECK_FALSE(read("2262-04-11T23:47:16.854775807-00:01"));
}
