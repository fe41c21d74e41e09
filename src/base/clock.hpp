// The two clocks of the runtime: monotonic for pacing and latency, wall for processing time
// (future-skew checks, idle timeouts, flush intervals). Operators never read either themselves.
#pragma once

#include <cstdint>
#include <ctime>

namespace tapewire {

inline std::int64_t mono_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline std::int64_t wall_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

} // namespace tapewire
