// Idle strategies: what a runner does when a pass over its stages found no work.
// The machines this runs on have two shared cores, so the default backs off to sleeping;
// busy-spin is for dedicated, pinned cores only.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tapewire {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

enum class idle_kind : std::uint8_t { backoff, busy_spin, sleep };

struct idle_options {
    idle_kind kind = idle_kind::backoff;
    std::uint32_t spins = 2000;                // pause-spins before yielding (backoff)
    std::uint32_t yields = 50;                 // yields before parking (backoff)
    std::chrono::nanoseconds min_park{20'000}; // first sleep when parked
    // Sleeps double up to this. Kept well under the time a producer needs to fill a default ring
    // (4096 records at 5 M/s: ~800 us), so a parked consumer never makes its producer stall.
    std::chrono::nanoseconds max_park{200'000};
};

class idle_strategy {
public:
    explicit idle_strategy(const idle_options& o = {}) noexcept : opt_(o), park_(o.min_park) {}

    // Call after every pass with the amount of work that pass did.
    void idle(std::size_t work_count) noexcept {
        if (work_count > 0) {
            reset();
            return;
        }
        switch (opt_.kind) {
        case idle_kind::busy_spin: cpu_relax(); return;
        case idle_kind::sleep: std::this_thread::sleep_for(opt_.max_park); return;
        case idle_kind::backoff: break;
        }
        if (spins_ < opt_.spins) {
            ++spins_;
            cpu_relax();
        } else if (yields_ < opt_.yields) {
            ++yields_;
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(park_);
            park_ = park_ * 2 > opt_.max_park ? opt_.max_park : park_ * 2;
        }
    }

    void reset() noexcept {
        spins_ = 0;
        yields_ = 0;
        park_ = opt_.min_park;
    }

private:
    idle_options opt_;
    std::uint32_t spins_ = 0;
    std::uint32_t yields_ = 0;
    std::chrono::nanoseconds park_;
};

} // namespace tapewire
