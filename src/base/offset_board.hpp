// Kafka offsets handed from the thread that owns the operators' state to the consumer's thread:
// per partition, the next offset to read once everything before it is durable in the outputs.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace tapewire {

using partition_offsets = std::vector<std::pair<std::int32_t, std::int64_t>>;

// Written by the thread that owns the window state, read by the consumer thread.
class offset_board {
public:
    void publish(const partition_offsets& safe) {
        std::lock_guard<std::mutex> lock(mu_);
        safe_ = safe;
        version_.fetch_add(1, std::memory_order_release);
    }
    // A copy when it changed since `seen` (which is updated), else nothing.
    std::optional<partition_offsets> read_if_newer(std::uint64_t& seen) const {
        if (version_.load(std::memory_order_acquire) == seen) return std::nullopt;
        std::lock_guard<std::mutex> lock(mu_);
        seen = version_.load(std::memory_order_relaxed);
        return safe_;
    }

private:
    mutable std::mutex mu_;
    partition_offsets safe_;
    std::atomic<std::uint64_t> version_{0};
};

} // namespace tapewire
