// Maps an event time to its trading session (a local calendar day of the exchange's time zone,
// shifted so the day begins at `session_start`). The UTC offsets come from a time zone table loaded
// outside the operators (src/base/tzif.cpp), so this stays pure.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tapewire/types.hpp"

namespace tapewire {

// UTC offset in force from `at` (inclusive) until the next transition.
struct utc_offset_change {
    timestamp_ns at = k_no_time;
    std::int32_t offset_s = 0; // local = UTC + offset_s
};

class session_calendar {
public:
    session_calendar() = default; // UTC, sessions start at midnight

    // `changes` sorted by `at`; the first entry's offset also applies before it.
    session_calendar(std::vector<utc_offset_change> changes, std::int64_t session_start_s)
        : changes_(std::move(changes)), start_s_(session_start_s) {}

    [[nodiscard]] std::int32_t offset_at(timestamp_ns ts) const noexcept {
        if (changes_.empty()) return 0;
        auto it = std::upper_bound(changes_.begin(), changes_.end(), ts,
                                   [](timestamp_ns t, const utc_offset_change& c) { return t < c.at; });
        if (it == changes_.begin()) return changes_.front().offset_s;
        return std::prev(it)->offset_s;
    }

    // Days since 1970-01-01 of the session `ts` belongs to.
    [[nodiscard]] std::int64_t session_of(timestamp_ns ts) const noexcept {
        constexpr std::int64_t ns_per_s = 1'000'000'000;
        const std::int64_t local_s = floor_div(ts, ns_per_s) + offset_at(ts) - start_s_;
        return floor_div(local_s, 86'400);
    }

    // When session `day` (as session_of counts them) begins. The offset in force is looked up at a
    // first guess and once more from there, which settles it across a change of offset.
    [[nodiscard]] timestamp_ns start_of(std::int64_t day) const noexcept {
        constexpr std::int64_t ns_per_s = 1'000'000'000;
        const std::int64_t local_s = day * 86'400 + start_s_;
        std::int64_t utc_s = local_s - offset_at(local_s * ns_per_s);
        utc_s = local_s - offset_at(utc_s * ns_per_s);
        return utc_s * ns_per_s;
    }

    [[nodiscard]] const std::vector<utc_offset_change>& changes() const noexcept { return changes_; }

private:
    static std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
        std::int64_t q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
        return q;
    }

    std::vector<utc_offset_change> changes_;
    std::int64_t start_s_ = 0;
};

} // namespace tapewire
