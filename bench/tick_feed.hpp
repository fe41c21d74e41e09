// Pre-generated input for the benchmarks: canonical tick JSON messages for a synthetic market,
// stored back to back in one buffer, each followed by k_message_padding spare bytes so the parse
// stage can run simdjson on them in place, exactly as it does on message_ring records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/message_ring.hpp"
#include "tapewire/types.hpp"

namespace tapewire::bench {

struct feed_options {
    std::uint64_t ticks = 1'000'000;
    std::uint32_t symbols = 1000;
    std::uint64_t seed = 42;
    timestamp_ns first_ts = 0;        // event time of the first tick
    std::int64_t mean_step_ns = 1000; // event time between consecutive ticks, on average
    // The first `fast_ticks` ticks advance by fast_step_ns on average instead, so a warm-up pass can
    // cover many windows of event time in few ticks (0 = every tick uses mean_step_ns).
    std::uint64_t fast_ticks = 0;
    std::int64_t fast_step_ns = 0;
};

class tick_feed {
public:
    [[nodiscard]] std::size_t size() const noexcept { return start_.empty() ? 0 : start_.size() - 1; }

    // Message i; its last byte is followed by k_message_padding readable bytes.
    [[nodiscard]] std::string_view message(std::size_t i) const noexcept {
        return {bytes_.data() + start_[i], static_cast<std::size_t>(start_[i + 1] - start_[i]) - k_message_padding};
    }

    [[nodiscard]] std::size_t total_bytes() const noexcept { return bytes_.size(); }
    [[nodiscard]] timestamp_ns last_ts() const noexcept { return last_ts_; }

    friend tick_feed make_feed(const feed_options& opt);

private:
    std::vector<char> bytes_;
    std::vector<std::uint64_t> start_; // start_[i] = offset of message i; start_[size()] = end
    timestamp_ns last_ts_ = 0;
};

// Deterministic for a given `opt`: a random symbol per tick (uniform), a per-symbol random walk in
// whole cents, round-lot sizes, event time strictly increasing (so no tick is ever late).
tick_feed make_feed(const feed_options& opt);

// "SYM0042": zero padded to at least 4 digits, wider when there are more symbols.
std::string symbol_name(std::uint32_t index, std::uint32_t count);

// A small, fast, deterministic generator (xorshift64*): the benches need repeatability, not quality.
class xorshift {
public:
    explicit xorshift(std::uint64_t seed) noexcept : s_(seed == 0 ? 0x9E3779B97F4A7C15ULL : seed) {}
    std::uint64_t next() noexcept {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return s_ * 0x2545F4914F6CDD1DULL;
    }
    // Uniform in [0, n) without a division (Lemire's multiply-shift).
    std::uint32_t below(std::uint32_t n) noexcept { return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32); }

private:
    std::uint64_t s_;
};

} // namespace tapewire::bench
