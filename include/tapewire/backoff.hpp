// Exponential back-off with jitter, for everything that retries an outside party (the database
// writer, the Yahoo fetcher, a source supervisor): min, 2 min, 4 min, ... up to max, each wait
// scaled by a factor in [0.8, 1.2) so that several clients do not knock on a recovering server in step.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tapewire {

class backoff {
public:
    backoff(std::int64_t min_ns, std::int64_t max_ns, std::uint64_t seed = 0x9e3779b97f4a7c15ULL) noexcept
        : min_(min_ns > 0 ? min_ns : 1), max_(std::max(max_ns, min_ns > 0 ? min_ns : 1)), state_(seed | 1) {}

    // The next wait in ns: the step doubles from min to max, then jitter applies.
    std::int64_t next() noexcept {
        step_ = step_ == 0 ? min_ : std::min(max_, step_ > max_ / 2 ? max_ : step_ * 2);
        ++failures_;
        return jittered(step_);
    }
    // A wait of at least `floor_ns` (a server's Retry-After), still counted as a failure.
    std::int64_t next_at_least(std::int64_t floor_ns) noexcept { return std::max(next(), floor_ns); }
    // Success: the next failure starts again from min.
    void reset() noexcept {
        step_ = 0;
        failures_ = 0;
    }
    // Consecutive failures since the last reset.
    [[nodiscard]] std::uint32_t failures() const noexcept { return failures_; }
    [[nodiscard]] std::int64_t min_ns() const noexcept { return min_; }
    [[nodiscard]] std::int64_t max_ns() const noexcept { return max_; }

    // `ns` scaled by a factor in [0.8, 1.2) from this back-off's generator.
    std::int64_t jittered(std::int64_t ns) noexcept {
        state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
        const double f = 0.8 + 0.4 * static_cast<double>(state_ >> 11) / 9007199254740992.0;
        return static_cast<std::int64_t>(static_cast<double>(ns) * f);
    }

private:
    std::int64_t min_, max_;
    std::uint64_t state_;
    std::int64_t step_ = 0;
    std::uint32_t failures_ = 0;
};

} // namespace tapewire
