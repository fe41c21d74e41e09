// bar_memory: see bar_memory.hpp.
#include "operators/bar_memory.hpp"

#include <algorithm>
#include <bit>
#include <iterator>
#include <utility>

namespace tapewire {

namespace {

bool same_bits(double a, double b) noexcept {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

bool start_less(const source_bar& b, timestamp_ns start) noexcept { return b.start < start; }

} // namespace

bool same_bar(const source_bar& a, const source_bar& b) noexcept {
    return a.start == b.start && same_bits(a.open, b.open) && same_bits(a.high, b.high) && same_bits(a.low, b.low) &&
           same_bits(a.close, b.close) && same_bits(a.volume, b.volume);
}

bar_outcome symbol_bar_memory::upsert(const source_bar& b) {
    // Every remembered start is >= memory_from: an earlier one cannot be found.
    if (b.start < memory_from_) return bar_outcome::beyond_memory;
    if (empty() || b.start > items_.back().start) {
        items_.push_back(b);
        return bar_outcome::inserted;
    }
    const auto first = items_.begin() + static_cast<std::ptrdiff_t>(head_);
    const auto it = b.start == items_.back().start ? std::prev(items_.end())
                                                   : std::lower_bound(first, items_.end(), b.start, start_less);
    if (it->start != b.start) {
        items_.insert(it, b);
        return bar_outcome::inserted;
    }
    if (same_bar(*it, b)) return bar_outcome::duplicate;
    *it = b;
    return bar_outcome::revised;
}

const source_bar* symbol_bar_memory::find(timestamp_ns start) const noexcept {
    const std::span<const source_bar> all = bars();
    const auto it = std::lower_bound(all.begin(), all.end(), start, start_less);
    return it != all.end() && it->start == start ? &*it : nullptr;
}

std::span<const source_bar> symbol_bar_memory::range(timestamp_ns from, timestamp_ns to) const noexcept {
    const std::span<const source_bar> all = bars();
    const auto lo = std::lower_bound(all.begin(), all.end(), from, start_less);
    const auto hi = std::lower_bound(lo, all.end(), to, start_less);
    return all.subspan(static_cast<std::size_t>(lo - all.begin()), static_cast<std::size_t>(hi - lo));
}

std::size_t symbol_bar_memory::evict_before(timestamp_ns cutoff) {
    const std::span<const source_bar> all = bars();
    const auto n = static_cast<std::size_t>(std::lower_bound(all.begin(), all.end(), cutoff, start_less) - all.begin());
    forget_front(n);
    return n;
}

std::size_t symbol_bar_memory::drop_oldest(std::size_t cap) {
    const std::size_t n = size() > cap ? size() - cap : 0;
    forget_front(n);
    return n;
}

void symbol_bar_memory::assign(timestamp_ns memory_from, std::vector<source_bar> bars) {
    items_ = std::move(bars);
    head_ = 0;
    memory_from_ = memory_from;
}

void symbol_bar_memory::forget_front(std::size_t n) {
    if (n == 0) return;
    // Complete from just after the last forgotten start: a bar there was never received.
    memory_from_ = items_[head_ + n - 1].start + 1;
    head_ += n;
    // Erase the forgotten prefix once it is half the vector: O(1) amortised per forgotten bar.
    if (head_ * 2 >= items_.size()) {
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }
}

} // namespace tapewire
