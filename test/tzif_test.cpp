// Time zones read from the system tz database, and the session calendar built from them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "src/base/tzif.hpp"

using namespace tapewire;
using namespace std::chrono;

namespace {

constexpr std::int32_t k_hour = 3600;

timestamp_ns utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
    const sys_seconds t = sys_days{year{y} / month{m} / day{d}} + hours{hh} + minutes{mm} + seconds{ss};
    return duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

timestamp_ns at_local_time(sys_days day, int hh, std::int32_t offset_s) {
    return duration_cast<nanoseconds>((day + hours{hh} - seconds{offset_s}).time_since_epoch()).count();
}

// A TZif file of the given version with no transitions, one local time type and a footer.
std::string tzif_without_transitions(char version, std::int32_t utoff, const std::string& footer) {
    std::string out;
    const auto u32 = [&out](std::uint32_t v) {
        for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
    };
    const auto block = [&] {
        out += "TZif";
        out += version;
        out += std::string(15, '\0');
        for (std::uint32_t count : {0u, 0u, 0u, 0u, 1u, 4u}) u32(count); // one type, "XXX\0"
        u32(static_cast<std::uint32_t>(utoff));
        out += '\0'; // not DST
        out += '\0'; // abbreviation index
        out += std::string("XXX\0", 4);
    };
    block();
    if (version != '\0') {
        block();
        out += "\n" + footer + "\n";
    }
    return out;
}

} // namespace

TEST_CASE("New York is five hours behind UTC in winter and four in summer", "[tz]") {
    const session_calendar cal(load_time_zone("America/New_York"), 0);
    CHECK(cal.offset_at(utc(2024, 1, 15, 12)) == -5 * k_hour);
    CHECK(cal.offset_at(utc(2024, 7, 1, 12)) == -4 * k_hour);
}

TEST_CASE("the 2024 spring-forward and fall-back instants in New York are exact", "[tz]") {
    const session_calendar cal(load_time_zone("America/New_York"), 0);
    const timestamp_ns spring = utc(2024, 3, 10, 7); // 02:00 EST becomes 03:00 EDT
    CHECK(cal.offset_at(spring - 1) == -5 * k_hour);
    CHECK(cal.offset_at(spring) == -4 * k_hour);
    const timestamp_ns fall = utc(2024, 11, 3, 6); // 02:00 EDT becomes 01:00 EST
    CHECK(cal.offset_at(fall - 1) == -4 * k_hour);
    CHECK(cal.offset_at(fall) == -5 * k_hour);
}

TEST_CASE("Berlin is one hour ahead of UTC in winter and two in summer", "[tz]") {
    const session_calendar cal(load_time_zone("Europe/Berlin"), 0);
    CHECK(cal.offset_at(utc(2024, 1, 15, 12)) == 1 * k_hour);
    CHECK(cal.offset_at(utc(2024, 7, 1, 12)) == 2 * k_hour);
    const timestamp_ns spring = utc(2024, 3, 31, 1); // last Sunday of March, 01:00 UTC
    CHECK(cal.offset_at(spring - 1) == 1 * k_hour);
    CHECK(cal.offset_at(spring) == 2 * k_hour);
}

TEST_CASE("years past the file's transitions follow its POSIX TZ rule", "[tz]") {
    const session_calendar ny(load_time_zone("America/New_York"), 0);
    CHECK(ny.offset_at(utc(2060, 7, 1, 12)) == -4 * k_hour);
    CHECK(ny.offset_at(utc(2060, 1, 15, 12)) == -5 * k_hour);
    CHECK(ny.offset_at(utc(2100, 7, 1, 12)) == -4 * k_hour);

    // Second Sunday of March at 02:00 EST, first Sunday of November at 02:00 EDT.
    const sys_days spring_day{year{2060} / March / Sunday[2]};
    const timestamp_ns spring = at_local_time(spring_day, 2, -5 * k_hour);
    CHECK(ny.offset_at(spring - 1) == -5 * k_hour);
    CHECK(ny.offset_at(spring) == -4 * k_hour);
    const sys_days fall_day{year{2060} / November / Sunday[1]};
    const timestamp_ns fall = at_local_time(fall_day, 2, -4 * k_hour);
    CHECK(ny.offset_at(fall - 1) == -4 * k_hour);
    CHECK(ny.offset_at(fall) == -5 * k_hour);

    // Two changes a year from the 2007 US rule change through the last extended year.
    const auto& changes = ny.changes();
    for (int y = 2008; y <= k_tz_last_year; ++y) {
        INFO(y);
        const auto in_year = std::count_if(changes.begin(), changes.end(), [&](const utc_offset_change& c) {
            return c.at >= utc(y, 1, 1) && c.at < utc(y + 1, 1, 1);
        });
        CHECK(in_year == 2);
    }
}

TEST_CASE("southern and negative-DST rules extend correctly", "[tz]") {
    const session_calendar sydney(load_time_zone("Australia/Sydney"), 0); // DST from October to April
    CHECK(sydney.offset_at(utc(2060, 1, 15)) == 11 * k_hour);
    CHECK(sydney.offset_at(utc(2060, 7, 1)) == 10 * k_hour);
    CHECK(sydney.offset_at(utc(2060, 12, 15)) == 11 * k_hour);

    const session_calendar dublin(load_time_zone("Europe/Dublin"), 0); // "IST-1GMT0,M10.5.0,M3.5.0/1"
    CHECK(dublin.offset_at(utc(2060, 1, 15)) == 0);
    CHECK(dublin.offset_at(utc(2060, 7, 1)) == 1 * k_hour);
}

TEST_CASE("the footer rule alone reproduces the file's own transitions", "[tz]") {
    const auto from_file = load_time_zone("America/New_York");
    const auto from_rule =
        parse_tzif(tzif_without_transitions('2', -5 * k_hour, "EST5EDT,M3.2.0,M11.1.0"), "synthetic");
    const auto between = [](const std::vector<utc_offset_change>& all, timestamp_ns from, timestamp_ns to) {
        std::vector<std::pair<timestamp_ns, std::int32_t>> out;
        for (const auto& c : all)
            if (c.at >= from && c.at < to) out.emplace_back(c.at, c.offset_s);
        return out;
    };
    const auto expected = between(from_file, utc(2008, 1, 1), utc(2037, 1, 1));
    CHECK(expected.size() == 58);
    CHECK(between(from_rule, utc(2008, 1, 1), utc(2037, 1, 1)) == expected);
}

TEST_CASE("a fixed-offset zone and a version 1 file need no rule", "[tz]") {
    const auto fixed = parse_tzif(tzif_without_transitions('2', 3 * k_hour + 1800, "<+0330>-3:30"), "fixed");
    REQUIRE(fixed.size() == 1);
    CHECK(fixed[0].at == k_no_time);
    CHECK(fixed[0].offset_s == 3 * k_hour + 1800);

    const auto v1 = parse_tzif(tzif_without_transitions('\0', -3 * k_hour, ""), "v1");
    REQUIRE(v1.size() == 1);
    CHECK(v1[0].offset_s == -3 * k_hour);

    const session_calendar tehran(load_time_zone("Asia/Tehran"), 0);
    CHECK(tehran.offset_at(utc(2060, 7, 1)) == 3 * k_hour + 1800);
}

TEST_CASE("UTC needs no zone file", "[tz]") {
    const auto changes = load_time_zone("UTC", "/nonexistent");
    REQUIRE(changes.size() == 1);
    CHECK(changes[0].offset_s == 0);
}

TEST_CASE("an unknown or unsafe zone name throws", "[tz]") {
    CHECK_THROWS_WITH(load_time_zone("Mars/Olympus_Mons"), "unknown time zone 'Mars/Olympus_Mons'");
    CHECK_THROWS_WITH(load_time_zone("America"), "unknown time zone 'America'");
    CHECK_THROWS_WITH(load_time_zone("../zoneinfo/UTC"), "unknown time zone '../zoneinfo/UTC'");
    CHECK_THROWS_WITH(load_time_zone("America/../Europe/Berlin"), "unknown time zone 'America/../Europe/Berlin'");
    CHECK_THROWS_WITH(load_time_zone("/usr/share/zoneinfo/UTC"), "unknown time zone '/usr/share/zoneinfo/UTC'");
    CHECK_THROWS_WITH(load_time_zone(""), "unknown time zone ''");
    CHECK_THROWS_AS(make_session_calendar("Nowhere/Special", "09:30"), std::runtime_error);
}

TEST_CASE("corrupt zone data throws instead of giving wrong offsets", "[tz]") {
    const std::string good = tzif_without_transitions('2', 0, "UTC0");
    CHECK_NOTHROW(parse_tzif(good, "good"));
    CHECK_THROWS_AS(parse_tzif("", "empty"), std::runtime_error);
    CHECK_THROWS_AS(parse_tzif("TZjf" + good.substr(4), "magic"), std::runtime_error);
    CHECK_THROWS_AS(parse_tzif(good.substr(0, 60), "truncated"), std::runtime_error);
    CHECK_THROWS_AS(parse_tzif(tzif_without_transitions('2', 0, "EST5EDT"), "no rule dates"), std::runtime_error);
    CHECK_THROWS_AS(parse_tzif(tzif_without_transitions('2', 0, "EST5EDT,M13.1.0,M11.1.0"), "bad month"),
                    std::runtime_error);
}

TEST_CASE("a session starting 09:30 New York time turns over at 13:30 UTC in July", "[tz]") {
    const session_calendar cal = make_session_calendar("America/New_York", "09:30");
    const timestamp_ns before = utc(2024, 7, 1, 13, 29, 59); // 09:29:59 EDT
    const timestamp_ns open = utc(2024, 7, 1, 13, 30, 0);    // 09:30:00 EDT
    const std::int64_t july_1 = sys_days{2024y / July / 1}.time_since_epoch().count();
    CHECK(cal.session_of(before) == july_1 - 1);
    CHECK(cal.session_of(open) == july_1);
    CHECK(cal.session_of(open - 1) == july_1 - 1);

    // In January the same local time is an hour later in UTC.
    const std::int64_t jan_15 = sys_days{2024y / January / 15}.time_since_epoch().count();
    CHECK(cal.session_of(utc(2024, 1, 15, 14, 29, 59)) == jan_15 - 1);
    CHECK(cal.session_of(utc(2024, 1, 15, 14, 30, 0)) == jan_15);
}

TEST_CASE("session start times are HH:MM", "[tz]") {
    CHECK(parse_time_of_day("09:30") == 34'200);
    CHECK(parse_time_of_day("00:00") == 0);
    CHECK(parse_time_of_day("23:59") == 86'340);
    for (const char* bad : {"9:30", "24:00", "12:60", "0930", "09:30:00", "", "ab:cd"}) {
        INFO(bad);
        CHECK_FALSE(parse_time_of_day(bad).has_value());
    }
    CHECK_THROWS_AS(make_session_calendar("UTC", "9:30"), std::runtime_error);
}
