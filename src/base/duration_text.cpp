#include "src/base/duration_text.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace tapewire {

namespace {

// 128 bits so that "integer part × unit" of any int64 count of days cannot overflow before the
// range check.
__extension__ typedef unsigned __int128 wide_uint;

struct time_unit {
    std::string_view name;
    std::int64_t ns;
};

// Largest first: format_duration prefers the bigger unit when two texts are equally short.
constexpr std::array<time_unit, 7> k_units{{
    {"d", 86'400'000'000'000},
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
    {"ms", 1'000'000},
    {"us", 1'000},
    {"ns", 1},
}};

constexpr wide_uint k_max_ns = static_cast<wide_uint>(std::numeric_limits<std::int64_t>::max());

// Beyond this many significant fraction digits no unit can give a whole number of nanoseconds
// (the largest unit has 13 factors of ten), and it keeps the numerator inside 64 bits.
constexpr std::size_t k_max_fraction_digits = 18;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

std::string to_decimal(wide_uint v) {
    if (v == 0) return "0";
    std::string out;
    while (v != 0) {
        out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
        v /= 10;
    }
    return out;
}

} // namespace

std::optional<duration> parse_duration(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) ++i;
    const std::string_view whole = s.substr(0, i);
    if (whole.empty()) return std::nullopt; // also rejects a sign, a leading '.', and ""

    std::string_view fraction;
    if (i < s.size() && s[i] == '.') {
        const std::size_t start = ++i;
        while (i < s.size() && is_digit(s[i])) ++i;
        fraction = s.substr(start, i - start);
        if (fraction.empty()) return std::nullopt;
    }
    const std::string_view unit_name = s.substr(i);

    if (unit_name.empty()) {
        // A bare number is ambiguous except zero, which means the same in every unit.
        for (char c : s)
            if (c != '0' && c != '.') return std::nullopt;
        return duration::zero();
    }
    const time_unit* unit = nullptr;
    for (const auto& u : k_units)
        if (u.name == unit_name) unit = &u;
    if (unit == nullptr) return std::nullopt;

    wide_uint count = 0;
    for (char c : whole) {
        count = count * 10 + static_cast<unsigned>(c - '0');
        if (count > k_max_ns) return std::nullopt;
    }
    wide_uint total = count * static_cast<wide_uint>(unit->ns);

    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
    if (!fraction.empty()) {
        if (fraction.size() > k_max_fraction_digits) return std::nullopt;
        wide_uint numerator = 0;
        wide_uint denominator = 1;
        for (char c : fraction) {
            numerator = numerator * 10 + static_cast<unsigned>(c - '0');
            denominator *= 10;
        }
        const wide_uint scaled = numerator * static_cast<wide_uint>(unit->ns);
        if (scaled % denominator != 0) return std::nullopt; // finer than a nanosecond
        total += scaled / denominator;
    }
    if (total > k_max_ns) return std::nullopt;
    return duration{static_cast<std::int64_t>(total)};
}

std::string format_duration(duration d) {
    const std::int64_t count = d.count();
    if (count == 0) return "0";
    // Unsigned magnitude so that the most negative value has one too.
    const wide_uint magnitude = count < 0 ? static_cast<wide_uint>(-(count + 1)) + 1 : static_cast<wide_uint>(count);

    std::string best;
    bool best_is_whole = false;
    for (const auto& u : k_units) {
        const wide_uint unit_ns = static_cast<wide_uint>(u.ns);
        const wide_uint whole = magnitude / unit_ns;
        if (whole == 0) continue; // "0.25s" reads worse than "250ms", so no leading "0."
        wide_uint rest = magnitude % unit_ns;
        std::string text = to_decimal(whole);
        const bool is_whole = rest == 0;
        if (!is_whole) {
            text += '.';
            // Units of minutes and more can leave a repeating fraction; such a text is not exact.
            for (std::size_t digits = 0; rest != 0 && digits < k_max_fraction_digits; ++digits) {
                rest *= 10;
                text += static_cast<char>('0' + static_cast<int>(rest / unit_ns));
                rest %= unit_ns;
            }
            if (rest != 0) continue;
        }
        text += u.name;
        const bool shorter = best.empty() || text.size() < best.size();
        const bool as_short_but_whole = text.size() == best.size() && is_whole && !best_is_whole;
        if (shorter || as_short_but_whole) {
            best = std::move(text);
            best_is_whole = is_whole;
        }
    }
    return count < 0 ? "-" + best : best;
}

duration round_significant(duration d, int digits) noexcept {
    const std::int64_t count = d.count();
    const wide_uint magnitude = count < 0 ? static_cast<wide_uint>(-(count + 1)) + 1 : static_cast<wide_uint>(count);
    wide_uint step = 1; // 10^(decimal digits of magnitude - digits)
    for (wide_uint rest = magnitude; rest >= 10; rest /= 10)
        if (--digits < 1) step *= 10;
    if (step == 1) return d;
    wide_uint rounded = (magnitude + step / 2) / step * step;
    if (rounded > k_max_ns) rounded -= step; // rounding up past the largest duration
    const auto r = static_cast<std::int64_t>(rounded);
    return duration{count < 0 ? -r : r};
}

} // namespace tapewire
