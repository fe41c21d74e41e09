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

// Deterministic for a given `opt`: the trades of a random_market, event time strictly increasing
// (so no tick is ever late).
tick_feed make_feed(const feed_options& opt);

// An hour before the wall clock, on a whole second: inside the parse stage's max_future_skew
// whatever the spans, and the same arguments give the same windows and bars on every run.
timestamp_ns an_hour_ago();

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

// A synthetic market of `symbols` symbols (symbol_name), each starting at a random price from $10
// to $500 and following a random walk in whole cents with a floor at $1, trading round lots. The
// graph harness's pre-generated feed and the Kafka bench's paced producer both trade in it, so the
// same seed gives the same symbols, prices and sizes.
class random_market {
public:
    random_market(std::uint32_t symbols, std::uint64_t seed);

    struct trade {
        std::uint32_t symbol; // index
        double price, size;
        std::uint64_t draw; // the random draw behind it, for the caller's own use (make_feed's time steps)
    };

    // A uniformly drawn symbol moves by -move, 0 or +move cents and trades 100..1000 shares times
    // size_scale.
    trade next(std::int64_t move = 1, double size_scale = 1.0);

    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(syms_.size()); }
    [[nodiscard]] const symbol& sym(std::uint32_t i) const noexcept { return syms_[i]; }
    [[nodiscard]] const std::string& name(std::uint32_t i) const noexcept { return names_[i]; }

private:
    xorshift rng_;
    std::vector<std::string> names_;
    std::vector<symbol> syms_;
    std::vector<std::int64_t> cents_;
};

} // namespace tapewire::bench
