// One way for an agent to wait for room, on a full ring or a busy writer: retry the put through an
// idle strategy, give up when the pipeline aborts (false: the caller releases what it holds), and
// account the time waited. A put that succeeds first time costs the try alone: no clock read, no
// atomic, no call out of line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "tapewire/idle.hpp"

namespace tapewire {

// The consumer of a full ring is busy, so room comes back within microseconds: short naps, never
// the long park of an idle thread.
inline constexpr idle_options k_full_ring_wait{idle_kind::backoff, 200, 20, std::chrono::microseconds(5),
                                               std::chrono::microseconds(50)};

// Told the length of every wait, in ns: a metrics counter, or anything with add(std::uint64_t),
// without the core knowing its type. Empty: nobody is told.
class stall_sink {
public:
    stall_sink() = default;
    template <class Counter>
    requires requires(Counter& c, std::uint64_t ns) { c.add(ns); }
    explicit stall_sink(Counter& c) noexcept
        : target_(&c), add_([](void* t, std::uint64_t ns) { static_cast<Counter*>(t)->add(ns); }) {}

    void operator()(std::uint64_t ns) const {
        if (add_ != nullptr) add_(target_, ns);
    }

private:
    void* target_ = nullptr;
    void (*add_)(void*, std::uint64_t) = nullptr;
};

// How a site waits, fixed when it is built.
struct put_wait {
    const std::atomic<bool>* abort = nullptr; // raised: a waiting put gives up
    idle_options idle = k_full_ring_wait;
    stall_sink stalled; // each wait's length
};

// The blocking puts of one site (a ring's producer end, a writer's caller), on one thread.
class blocking_put {
public:
    blocking_put() = default;
    explicit blocking_put(put_wait w) noexcept : wait_(w) {}

    // Calls try_put() until it returns true (then true), or until the abort flag is raised while
    // waiting (then false, and the put did not happen).
    template <class TryPut> [[nodiscard]] bool operator()(TryPut&& try_put) {
        if (try_put()) [[likely]]
            return true;
        return wait(try_put);
    }

    // Time spent waiting, in total, and how many puts had to wait. Read on the putting thread.
    [[nodiscard]] std::int64_t stalled_ns() const noexcept { return stalled_ns_; }
    [[nodiscard]] std::uint64_t stalls() const noexcept { return stalls_; }

private:
    template <class TryPut> [[gnu::noinline, gnu::cold]] bool wait(TryPut& try_put) {
        ++stalls_;
        const auto t0 = std::chrono::steady_clock::now();
        idle_strategy idle(wait_.idle);
        bool put = false;
        while (wait_.abort == nullptr || !wait_.abort->load(std::memory_order_relaxed)) {
            idle.idle(0);
            if (try_put()) {
                put = true;
                break;
            }
        }
        const std::int64_t ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
        stalled_ns_ += ns;
        wait_.stalled(static_cast<std::uint64_t>(ns));
        return put;
    }

    put_wait wait_;
    std::int64_t stalled_ns_ = 0;
    std::uint64_t stalls_ = 0;
};

} // namespace tapewire
