// Time as text, read and written in one place for the whole engine: the parse stage (the older
// producer's "2025-05-29 15:38:00-04:00"), the config (source.start), the SQL store's UTC columns
// (written as "2026-01-05T14:30:00.123456Z", read back as each database prints them).
// Pure and header-only on <chrono>, so the operators may use it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tapewire/types.hpp"

namespace tapewire {

// ---- civil time ----------------------------------------------------------------------------------

// A UTC time cut to microseconds (floor), as civil fields: what the databases store.
struct utc_time {
    int year = 1970;
    unsigned month = 1, day = 1, hour = 0, minute = 0, second = 0;
    std::uint32_t micros = 0;
};

inline utc_time to_utc(timestamp_ns ns) noexcept {
    using namespace std::chrono;
    const sys_time<microseconds> tp{floor<microseconds>(nanoseconds{ns})};
    const auto day = floor<days>(tp);
    const year_month_day ymd{day};
    const hh_mm_ss<microseconds> hms{tp - day};
    utc_time t;
    t.year = static_cast<int>(ymd.year());
    t.month = static_cast<unsigned>(ymd.month());
    t.day = static_cast<unsigned>(ymd.day());
    t.hour = static_cast<unsigned>(hms.hours().count());
    t.minute = static_cast<unsigned>(hms.minutes().count());
    t.second = static_cast<unsigned>(hms.seconds().count());
    t.micros = static_cast<std::uint32_t>(hms.subseconds().count());
    return t;
}

// ---- writer --------------------------------------------------------------------------------------

// ISO-8601 UTC with microseconds (floor): "2026-01-05T14:30:00.123456Z", always this many bytes
// (every timestamp_ns falls in the years 1677-2262).
inline constexpr std::size_t k_utc_text_size = 27;

// Writes k_utc_text_size bytes at `out` (no terminator) and returns the end.
inline char* write_utc(timestamp_ns ns, char* out) noexcept {
    const utc_time t = to_utc(ns);
    const auto put = [&out](std::uint32_t v, int digits) {
        for (int i = digits - 1; i >= 0; --i) {
            out[i] = static_cast<char>('0' + v % 10);
            v /= 10;
        }
        out += digits;
    };
    const auto sep = [&out](char c) { *out++ = c; };
    put(static_cast<std::uint32_t>(t.year), 4);
    sep('-');
    put(t.month, 2);
    sep('-');
    put(t.day, 2);
    sep('T');
    put(t.hour, 2);
    sep(':');
    put(t.minute, 2);
    sep(':');
    put(t.second, 2);
    sep('.');
    put(t.micros, 6);
    sep('Z');
    return out;
}

inline std::string format_utc(timestamp_ns ns) {
    std::string s(k_utc_text_size, '\0');
    write_utc(ns, s.data());
    return s;
}

// ---- reader --------------------------------------------------------------------------------------

namespace time_text_detail {

// Days from 1970-01-01 to a proleptic Gregorian date.
inline std::int64_t days_from_civil(int y, unsigned m, unsigned d) noexcept {
    using namespace std::chrono;
    return sys_days{year{y} / month{m} / day{d}}.time_since_epoch().count();
}

inline bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) noexcept {
    if (at + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

// The ends of timestamp_ns: 1677-09-21T00:12:43.145224192Z and 2262-04-11T23:47:16.854775807Z, as
// whole seconds (floor) and the nanoseconds past them.
inline constexpr std::int64_t k_min_s = -9'223'372'037, k_min_frac = 145'224'192;
inline constexpr std::int64_t k_max_s = 9'223'372'036, k_max_frac = 854'775'807;

} // namespace time_text_detail

// YYYY-MM-DD[ T]HH:MM:SS[.f...][Z|±HH|±HH:MM|±HHMM] → ns since the epoch; no zone = UTC. Reads what
// every caller meets: the older producer's "2025-05-29 15:38:00-04:00", ISO-8601 "...T19:38:00.250Z",
// and the databases' own text of a stored time (format_utc's form from SQLite, PostgreSQL's
// "2026-01-05 14:30:00.123456+00", SQL Server's 7-digit "2026-01-05 14:30:00.1234560"). Digits past
// nanoseconds are cut. False for anything else: a date that does not exist (2025-02-29), a leap
// second (Unix time has none), or a time outside timestamp_ns.
inline bool parse_timestamp_text(std::string_view s, timestamp_ns& out) noexcept {
    namespace detail = time_text_detail;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    if (!detail::digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !detail::digits(s, 5, 2, mo) || s[7] != '-' ||
        !detail::digits(s, 8, 2, d) || (s[10] != ' ' && s[10] != 'T') || !detail::digits(s, 11, 2, h) || s[13] != ':' ||
        !detail::digits(s, 14, 2, mi) || s[16] != ':' || !detail::digits(s, 17, 2, se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return false;
    static constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > k_days[mo - 1] + (mo == 2 && leap ? 1 : 0)) return false;
    std::size_t i = 19;
    std::int64_t frac = 0;
    if (i < s.size() && s[i] == '.') {
        ++i;
        int n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (n < 9) {
                frac = frac * 10 + (s[i] - '0');
                ++n;
            }
            ++i;
        }
        if (n == 0) return false;
        for (; n < 9; ++n) frac *= 10;
    }
    std::int64_t offset_s = 0;
    if (i < s.size()) {
        if (s[i] == 'Z' || s[i] == 'z') {
            ++i;
        } else if (s[i] == '+' || s[i] == '-') {
            const int sign = s[i] == '-' ? -1 : 1;
            int oh = 0, om = 0;
            if (!detail::digits(s, i + 1, 2, oh)) return false;
            std::size_t j = i + 3;
            if (j < s.size()) { // ±HH alone is PostgreSQL's; else ±HH:MM or ±HHMM
                if (s[j] == ':') ++j;
                if (!detail::digits(s, j, 2, om)) return false;
                j += 2;
            }
            if (oh > 23 || om > 59) return false;
            offset_s = sign * (oh * 3600 + om * 60);
            i = j;
        } else {
            return false;
        }
    }
    if (i != s.size()) return false;
    const std::int64_t days = detail::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s; // years 0-9999: no overflow
    if (secs < detail::k_min_s || secs > detail::k_max_s) return false;
    if (secs == detail::k_min_s) {
        if (frac < detail::k_min_frac) return false;
        out = (secs + 1) * 1'000'000'000 + (frac - 1'000'000'000); // secs * 1e9 alone would overflow
        return true;
    }
    if (secs == detail::k_max_s && frac > detail::k_max_frac) return false;
    out = secs * 1'000'000'000 + frac;
    return true;
}

} // namespace tapewire
