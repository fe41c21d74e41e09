// Bounded single-producer single-consumer ring.
//
// Each index sits on its own cache line next to a cached copy of the other side's index, so the
// producer touches the consumer's line only when its cached view says the ring looks full (and the
// consumer likewise when it looks empty). Writes can be staged and published in a batch with one
// release store. Capacity is rounded up to a power of two.
#pragma once

#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace tapewire {

inline constexpr std::size_t k_cache_line = 64;

template <class T> class spsc_ring {
public:
    explicit spsc_ring(std::size_t min_capacity)
        : capacity_(std::bit_ceil(min_capacity < 2 ? std::size_t{2} : min_capacity)), mask_(capacity_ - 1),
          slots_(static_cast<T*>(::operator new[](
              capacity_ * sizeof(T), std::align_val_t{alignof(T) > k_cache_line ? alignof(T) : k_cache_line}))) {}

    spsc_ring(const spsc_ring&) = delete;
    spsc_ring& operator=(const spsc_ring&) = delete;

    ~spsc_ring() {
        // Destroy whatever is still queued, including staged but unpublished writes.
        for (std::uint64_t i = consumer_.index; i != producer_.staged; ++i) slots_[i & mask_].~T();
        ::operator delete[](slots_, std::align_val_t{alignof(T) > k_cache_line ? alignof(T) : k_cache_line});
    }

    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    // ---- producer side -------------------------------------------------------------------------

    // Constructs an element in the next free slot without publishing it. False when full.
    template <class... Args>
    [[nodiscard]] bool try_stage(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
        const std::uint64_t pos = producer_.staged;
        if (pos - producer_.cached_consumer >= capacity_) {
            producer_.cached_consumer = consumer_index_.load(std::memory_order_acquire);
            if (pos - producer_.cached_consumer >= capacity_) return false;
        }
        ::new (static_cast<void*>(&slots_[pos & mask_])) T(std::forward<Args>(args)...);
        producer_.staged = pos + 1;
        return true;
    }

    // Makes every staged element visible to the consumer.
    void publish() noexcept {
        if (producer_.staged != producer_.published) {
            producer_.published = producer_.staged;
            producer_index_.store(producer_.staged, std::memory_order_release);
        }
    }

    template <class... Args>
    [[nodiscard]] bool try_push(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
        if (!try_stage(std::forward<Args>(args)...)) return false;
        publish();
        return true;
    }

    [[nodiscard]] std::size_t staged_count() const noexcept { return producer_.staged - producer_.published; }

    // Free slots as the producer last saw them: may be stale (smaller than the truth).
    [[nodiscard]] std::size_t was_free() const noexcept {
        return capacity_ - static_cast<std::size_t>(producer_.staged - producer_.cached_consumer);
    }

    // ---- consumer side -------------------------------------------------------------------------

    // The oldest published element, or nullptr when the ring looks empty.
    [[nodiscard]] T* front() noexcept {
        const std::uint64_t pos = consumer_.index;
        if (pos == consumer_.cached_producer) {
            consumer_.cached_producer = producer_index_.load(std::memory_order_acquire);
            if (pos == consumer_.cached_producer) {
                if (consumer_.unreleased != 0) release(); // caught up: hand every slot back
                return nullptr;
            }
        }
        return &slots_[pos & mask_];
    }

    // Destroys the front element; the slot is released to the producer at the next release().
    void pop() noexcept {
        assert(consumer_.index != consumer_.cached_producer);
        slots_[consumer_.index & mask_].~T();
        ++consumer_.index;
        if (++consumer_.unreleased >= release_batch()) release();
    }

    // Hands consumed slots back to the producer. Call when idle so a slow consumer never hoards slots.
    void release() noexcept {
        consumer_.unreleased = 0;
        consumer_index_.store(consumer_.index, std::memory_order_release);
    }

    // Elements available as the consumer last saw them: may be stale.
    [[nodiscard]] std::size_t was_size() const noexcept {
        return static_cast<std::size_t>(consumer_.cached_producer - consumer_.index);
    }

    [[nodiscard]] bool was_empty() const noexcept {
        return producer_index_.load(std::memory_order_acquire) == consumer_index_.load(std::memory_order_acquire);
    }

private:
    std::size_t release_batch() const noexcept { return capacity_ >= 64 ? capacity_ / 16 : 1; }

    const std::size_t capacity_;
    const std::size_t mask_;
    T* const slots_;

    // Producer-owned line.
    struct alignas(k_cache_line) producer_state {
        std::uint64_t staged = 0;
        std::uint64_t published = 0;
        std::uint64_t cached_consumer = 0;
    } producer_;
    alignas(k_cache_line) std::atomic<std::uint64_t> producer_index_{0};

    // Consumer-owned line.
    struct alignas(k_cache_line) consumer_state {
        std::uint64_t index = 0;
        std::uint64_t cached_producer = 0;
        std::uint64_t unreleased = 0;
    } consumer_;
    alignas(k_cache_line) std::atomic<std::uint64_t> consumer_index_{0};
};

} // namespace tapewire
