// Time as text, read and written in one place for the whole engine: the parse stage (the older
// producer's "2025-05-29 15:38:00-04:00"), the config (source.start), the SQL store's UTC columns.
// Pure and header-only on <chrono>, so the operators may use it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tapewire/types.hpp"

namespace tapewire {

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

} // namespace time_text_detail

// "2025-05-29 15:38:00-04:00", "2025-05-29T19:38:00.250Z", "2025-05-29 19:38:00" (UTC) → ns since epoch.
inline bool parse_timestamp_text(std::string_view s, timestamp_ns& out) noexcept {
    // YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}][Z|±HH:MM|±HHMM]
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    if (!time_text_detail::digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' ||
        !time_text_detail::digits(s, 5, 2, mo) || s[7] != '-' || !time_text_detail::digits(s, 8, 2, d) ||
        (s[10] != ' ' && s[10] != 'T') || !time_text_detail::digits(s, 11, 2, h) || s[13] != ':' ||
        !time_text_detail::digits(s, 14, 2, mi) || s[16] != ':' || !time_text_detail::digits(s, 17, 2, se))
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
            if (!time_text_detail::digits(s, i + 1, 2, oh)) return false;
            std::size_t j = i + 3;
            if (j < s.size() && s[j] == ':') ++j;
            if (!time_text_detail::digits(s, j, 2, om)) return false;
            if (oh > 23 || om > 59) return false;
            offset_s = sign * (oh * 3600 + om * 60);
            i = j + 2;
        } else {
            return false;
        }
    }
    if (i != s.size()) return false;
    const std::int64_t days = time_text_detail::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
    out = secs * 1'000'000'000 + frac;
    return true;
}

} // namespace tapewire
