// Bounded single-producer single-consumer ring of variable-length raw messages (key + payload).
//
// Every payload is followed by k_message_padding readable bytes, so a JSON parser that reads past
// the end in wide loads (simdjson) can parse it in place, with no copy. Records never wrap: one that
// does not fit before the end of the buffer starts again at offset 0 behind a skip marker.
//
// Beside the messages travel the consumer's typed instructions (`partition_control`): the record
// waits in a small side queue, and a marker in the ring (a record with no bytes) holds its place
// among the messages, so it is taken exactly between the messages it was put between.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "tapewire/partition_control.hpp"
#include "tapewire/spsc_ring.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

inline constexpr std::size_t k_message_padding = 64; // >= SIMDJSON_PADDING

// A message as the parse stage sees it; `payload` is followed by k_message_padding bytes.
struct raw_message {
    std::string_view payload;
    std::string_view key;
    origin src;
    bool control = false; // a marker, no bytes: take_control() holds the instruction it stands for
};

class message_ring {
public:
    explicit message_ring(std::size_t min_bytes)
        : size_(std::bit_ceil(min_bytes < 4096 ? std::size_t{4096} : min_bytes)),
          buf_(new (std::align_val_t{k_cache_line}) std::byte[size_ + k_message_padding]()) {}

    message_ring(const message_ring&) = delete;
    message_ring& operator=(const message_ring&) = delete;
    ~message_ring() { ::operator delete[](buf_, std::align_val_t{k_cache_line}); }

    // Largest payload + key that always fits.
    [[nodiscard]] std::size_t max_message() const noexcept { return size_ / 4 - sizeof(header) - k_message_padding; }

    // ---- producer ------------------------------------------------------------------------------

    // Copies the message in, staged (unpublished). False when the ring is too full, or the
    // message is larger than max_message() (the caller must treat that as an error, not retry).
    [[nodiscard]] bool try_stage(std::string_view key, std::string_view payload, const origin& src) noexcept {
        return stage(key, payload, src, k_message);
    }

    // Stages a marker for `c`, and queues `c` beside the ring (visible at once, but taken only when
    // its marker is). False when the ring or the side queue is full: nothing is staged then.
    [[nodiscard]] bool try_stage_control(const partition_control& c) {
        const std::uint64_t before = prod_.staged;
        if (!stage({}, {}, origin{}, k_control)) return false;
        if (!controls_.try_push(c)) {
            prod_.staged = before; // unpublished, so unseen: taking the marker back is safe
            return false;
        }
        return true;
    }

    void publish() noexcept {
        if (prod_.staged != prod_.published) {
            prod_.published = prod_.staged;
            producer_index_.store(prod_.staged, std::memory_order_release);
        }
    }

    [[nodiscard]] bool try_push(std::string_view key, std::string_view payload, const origin& src) noexcept {
        if (!try_stage(key, payload, src)) return false;
        publish();
        return true;
    }

    // ---- consumer ------------------------------------------------------------------------------

    // Reads the oldest message into `out`; false when the ring looks empty. Valid until pop().
    [[nodiscard]] bool front(raw_message& out) noexcept {
        for (;;) {
            std::uint64_t pos = cons_.index;
            if (pos == cons_.cached_producer) {
                cons_.cached_producer = producer_index_.load(std::memory_order_acquire);
                if (pos == cons_.cached_producer) {
                    if (cons_.index != cons_.released) release();
                    return false;
                }
            }
            const std::size_t at = pos & (size_ - 1);
            std::uint32_t first = k_skip;
            if (size_ - at >= sizeof first) std::memcpy(&first, buf_ + at, sizeof first);
            if (first == k_skip) { // the producer jumped to offset 0 here
                cons_.index = pos + (size_ - at);
                continue;
            }
            header h;
            std::memcpy(&h, buf_ + at, sizeof h);
            const char* base = reinterpret_cast<const char*>(buf_ + at + sizeof h);
            out.key = {base, h.key_len};
            out.payload = {base + h.key_len, h.payload_len};
            out.src = h.src;
            out.control = h.kind == k_control;
            cons_.front_size = h.record;
            return true;
        }
    }

    // The instruction the marker at front() stands for (call once, before pop()). Its record was
    // published before the marker, so it is there.
    [[nodiscard]] partition_control take_control() {
        partition_control* c = controls_.front();
        if (c == nullptr) [[unlikely]]
            return {}; // unreachable: a marker is published after its record
        partition_control out = std::move(*c);
        controls_.pop();
        return out;
    }

    void pop() noexcept {
        cons_.index += cons_.front_size;
        if (cons_.index - cons_.released >= size_ / 8) release();
    }

    void release() noexcept {
        cons_.released = cons_.index;
        consumer_index_.store(cons_.index, std::memory_order_release);
    }

private:
    static constexpr std::uint32_t k_skip = 0xFFFFFFFFu;
    static constexpr std::uint32_t k_message = 0, k_control = 1; // header::kind
    static constexpr std::size_t k_control_queue = 64;           // instructions in flight at most

    [[nodiscard]] bool stage(std::string_view key, std::string_view payload, const origin& src,
                             std::uint32_t kind) noexcept {
        const std::size_t need = record_size(key.size(), payload.size());
        if (key.size() + payload.size() > max_message()) return false;
        std::uint64_t pos = prod_.staged;
        std::size_t at = pos & (size_ - 1);
        std::size_t skip = 0;
        if (at + need > size_) skip = size_ - at; // no room before the end: jump to 0
        if (pos + skip + need - prod_.cached_consumer > size_) {
            prod_.cached_consumer = consumer_index_.load(std::memory_order_acquire);
            if (pos + skip + need - prod_.cached_consumer > size_) return false;
        }
        if (skip != 0) {
            if (skip >= sizeof(std::uint32_t)) {
                const std::uint32_t marker = k_skip;
                std::memcpy(buf_ + at, &marker, sizeof marker);
            }
            pos += skip;
            at = 0;
        }
        header h{};
        h.record = static_cast<std::uint32_t>(need);
        h.key_len = static_cast<std::uint32_t>(key.size());
        h.payload_len = static_cast<std::uint32_t>(payload.size());
        h.kind = kind;
        h.src = src;
        std::memcpy(buf_ + at, &h, sizeof h);
        // An empty view may have a null data(): memcpy from null is undefined even for 0 bytes.
        if (!key.empty()) std::memcpy(buf_ + at + sizeof h, key.data(), key.size());
        if (!payload.empty()) std::memcpy(buf_ + at + sizeof h + key.size(), payload.data(), payload.size());
        prod_.staged = pos + need;
        return true;
    }

    struct header {
        std::uint32_t record; // whole record size in bytes, a multiple of 8
        std::uint32_t key_len;
        std::uint32_t payload_len;
        std::uint32_t kind; // k_message or k_control
        origin src;
    };

    static std::size_t record_size(std::size_t key, std::size_t payload) noexcept {
        // Header + key + payload + padding, rounded to 8: the padding belongs to the record, so the
        // producer never writes into it while the consumer parses (it needs it readable, not zeroed).
        return (sizeof(header) + key + payload + k_message_padding + 7) & ~std::size_t{7};
    }

    const std::size_t size_;
    std::byte* const buf_;
    spsc_ring<partition_control> controls_{k_control_queue};

    struct alignas(k_cache_line) {
        std::uint64_t staged = 0, published = 0, cached_consumer = 0;
    } prod_;
    alignas(k_cache_line) std::atomic<std::uint64_t> producer_index_{0};
    struct alignas(k_cache_line) {
        std::uint64_t index = 0, cached_producer = 0, released = 0;
        std::uint32_t front_size = 0;
    } cons_;
    alignas(k_cache_line) std::atomic<std::uint64_t> consumer_index_{0};
};

} // namespace tapewire
