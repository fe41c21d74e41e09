// bar_memory: the source bars one symbol has received, so that a bar message received again adds nothing.
//
// A bar message (a tick with is_bar) is the complete bar of its (symbol, start). The window stage
// remembers each symbol's bars here, sorted by start, and folds a window's bars from this memory when
// it emits the window: a duplicate changes nothing and a revision replaces the earlier values (nothing
// is ever subtracted, so open/high/low/close stay exact).
//
// Cost: 48 B per remembered bar (source_bar), up to twice that with vector slack (bytes() reports the
// capacity). The memory is bounded by the caller: evict_before() drops bars older than a cutoff and
// drop_oldest() enforces a hard cap. memory_from() is the earliest start from which the memory is
// complete: a bar before it that is not remembered may have been received and forgotten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tapewire/types.hpp"

namespace tapewire {

struct source_bar {
    timestamp_ns start = 0;
    double open = 0, high = 0, low = 0, close = 0, volume = 0;
};
static_assert(sizeof(source_bar) == 48, "the documented cost per remembered bar");

// The most bars one symbol remembers whatever bar_memory says (45 days of 1-minute bars, 3 MiB):
// past it the oldest are forgotten first.
inline constexpr std::size_t k_bar_memory_cap = 65'536;

// Bit for bit: a re-send is a duplicate only if every field is the same bit pattern.
[[nodiscard]] bool same_bar(const source_bar& a, const source_bar& b) noexcept;

enum class bar_outcome : std::uint8_t {
    inserted,      // not remembered before; now it is
    duplicate,     // remembered with the same values; nothing changed
    revised,       // remembered with other values; replaced by these
    beyond_memory, // before memory_from and not remembered: may have been forgotten; nothing changed
};

class symbol_bar_memory {
public:
    // Remembers `b` (see bar_outcome). The newest bar is checked first: a live feed appends a bar or
    // revises its last one in O(1); otherwise a binary search, plus an insertion for a new older bar.
    bar_outcome upsert(const source_bar& b);

    // The remembered bar starting at `start`, or nullptr.
    [[nodiscard]] const source_bar* find(timestamp_ns start) const noexcept;

    // The remembered bars with start in [from, to), ascending.
    [[nodiscard]] std::span<const source_bar> range(timestamp_ns from, timestamp_ns to) const noexcept;

    // Forgets the bars with start < cutoff; returns how many. memory_from moves past the last forgotten.
    std::size_t evict_before(timestamp_ns cutoff);

    // Forgets the oldest bars until at most `cap` remain; returns how many.
    std::size_t drop_oldest(std::size_t cap);

    // Replaces the whole memory (a restore). `bars` must be ascending by start, each >= memory_from.
    void assign(timestamp_ns memory_from, std::vector<source_bar> bars);

    [[nodiscard]] std::span<const source_bar> bars() const noexcept { return {items_.data() + head_, size()}; }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size() - head_; }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] timestamp_ns memory_from() const noexcept { return memory_from_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return items_.capacity() * sizeof(source_bar); }

private:
    void forget_front(std::size_t n);

    std::vector<source_bar> items_; // [head_, end) ascending by start; [0, head_) forgotten, not yet erased
    std::size_t head_ = 0;
    timestamp_ns memory_from_ = k_no_time; // nothing forgotten yet: complete for every start
};

} // namespace tapewire
