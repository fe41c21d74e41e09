// A simulated high-frequency market: an endless, reproducible stream of trades in event time,
// optionally with anomalies injected at known places so the detector can be scored against them.
//
// Model (docs/synthetic.md has the longer version):
//
//   Prices   Each symbol has a mid price that starts log-uniform in [10, 500] and follows a
//            driftless geometric Brownian motion, d ln S = -sigma^2/2 dt + sigma dW, with sigma =
//            cfg.volatility per year of 252 x 6.5 x 3600 trading seconds of event time. The -sigma^2/2
//            term keeps E[S] constant, so a long run neither trends up nor down on average.
//            On top come natural Merton jumps: a Poisson process of mean one jump per symbol per
//            10 minutes, log size N(0, 0.002). Those stay an order of magnitude below the
//            detector's default price_jump threshold (0.02), so they are background, not anomalies.
//            The mid is kept within [0.01, 1e7] so absurd volatilities cannot reach 0 or infinity.
//
//   Quotes   bid / ask = mid x (1 -/+ spread_bps / 2e4), each rounded to 0.0001. The trade prints at
//            the bid or the ask with equal odds (bid-ask bounce), so consecutive trades of a symbol
//            differ by at most about one spread plus the diffusion in between.
//
//   Arrivals One Poisson process of intensity event_rate ticks per second of event time (cfg.rate
//            when event_rate is 0, 100 000 when both are), each trade going to a uniformly chosen
//            symbol, which makes every symbol a Poisson process of event_rate / n. The first tick is
//            at start_ns; timestamps are whole ns and never decrease (the fractional ns of each
//            exponential gap is carried, so the rate has no rounding bias).
//
//   Sizes    Pareto with tail index cfg.size_alpha and minimum 1, floored to whole shares, so
//            P(size >= k) = k^-alpha; capped at 1e6 shares (before a burst's multiplier).
//
//   Injected anomalies (cfg.anomalies.enabled), per symbol, in event time:
//     price_jump    the mid shifts permanently by +-jump_size in log terms (sign a coin flip); the
//                   first trade of the symbol at or after the scheduled time carries it and is the
//                   label's ts; magnitude = jump_size.
//     volume_spike  for burst_length of event time from the first trade at or after the scheduled
//                   time, that symbol's sizes are multiplied by burst_factor (rounded to whole
//                   shares); label ts = that first trade, magnitude = burst_factor.
//   The two kinds form one merged Poisson stream of rate 1/jump_every + 1/burst_every (each event
//   is a jump with probability (1/jump_every) / total). After each event (after the end of a burst)
//   the symbol rests for a guard of max(3 x burst_length, 3 s) before the next exponential wait
//   starts, so events never overlap and each sits in bars of its own; nothing is injected in the
//   first 60 s of event time, which the detector needs to warm up. The dead time makes the real
//   mean spacing the Poisson mean plus the guard (plus burst_length after a burst). A mean interval
//   of 0 disables that kind.
//
// Reproducibility: everything is drawn from one xoshiro256** generator seeded with cfg.seed through
// splitmix64, with hand-written transforms (std::*_distribution differ between standard libraries).
// Same seed and same config give the same ticks on one platform; across C libraries the last bit
// of exp/log may differ.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tapewire/config.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

// xoshiro256** (Blackman & Vigna) plus the few transforms the market needs.
class sim_random {
public:
    explicit sim_random(std::uint64_t seed) noexcept;

    std::uint64_t next_u64() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in (0, 1]: never 0, so -log(u) and u^(-1/alpha) stay finite.
    double uniform_open0() noexcept { return static_cast<double>((next_u64() >> 11) + 1) * 0x1.0p-53; }
    // Uniform in [0, n) for n < 2^32; the bias (n / 2^32) is far below anything a test could see.
    std::uint32_t below(std::uint32_t n) noexcept { return static_cast<std::uint32_t>(((next_u64() >> 32) * n) >> 32); }
    bool coin() noexcept { return (next_u64() >> 63) != 0; }
    double exponential() noexcept; // mean 1
    double normal() noexcept;      // N(0, 1), Marsaglia's polar method

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

    std::uint64_t s_[4];
    double spare_ = 0; // the polar method yields normals in pairs
    bool has_spare_ = false;
};

struct injected_event {
    symbol sym;
    timestamp_ns ts = 0;
    std::string_view kind; // "price_jump" | "volume_spike" (static storage)
    double magnitude = 0;  // jump_size (unsigned) or burst_factor
};

class synthetic_market {
public:
    // Symbols come from cfg.symbols, else cfg.symbol_count names "SYM0000", "SYM0001", ... (wider
    // than 4 digits only past 10 000). Throws std::invalid_argument for a bad symbol list or a
    // parameter out of range (negative volatility, spread >= 100 %, alpha <= 0, ...).
    synthetic_market(const source_config& cfg, timestamp_ns start_ns);

    // The next trade; ts never decreases. Never ends, allocates nothing (except, rarely, to grow
    // the injected-event list when take_injected is not called).
    void next(tick& out) noexcept;

    // Appends the events injected since the last call to `out` and forgets them.
    void take_injected(std::vector<injected_event>& out);

    [[nodiscard]] const std::vector<symbol>& symbols() const noexcept { return symbols_; }
    [[nodiscard]] std::uint64_t generated() const noexcept { return generated_; }
    [[nodiscard]] double event_rate() const noexcept { return event_rate_; }

private:
    struct symbol_state {
        double log_mid = 0;
        timestamp_ns last_ts = 0; // event time the mid has been advanced to
        timestamp_ns next_natural_jump = 0;
        timestamp_ns next_injection = 0;    // k_never when injection is off
        timestamp_ns burst_end = k_no_time; // trades before this are in a burst
        bool next_is_jump = false;
    };

    void advance_mid(symbol_state& s) noexcept;
    double inject(std::uint32_t index, symbol_state& s) noexcept; // returns the size factor
    void schedule_injection(symbol_state& s, timestamp_ns earliest) noexcept;
    timestamp_ns after(timestamp_ns from, double mean_ns) noexcept;
    double draw_size(double factor) noexcept;

    sim_random rng_;
    std::vector<symbol> symbols_;
    std::vector<symbol_state> states_;
    std::vector<injected_event> injected_;

    double event_rate_ = 0;
    double mean_gap_ns_ = 0; // between consecutive ticks, all symbols together
    timestamp_ns now_ = 0;
    double now_frac_ns_ = 0; // the part of the elapsed gaps below one ns
    std::uint64_t generated_ = 0;

    double sigma_ = 0;       // per sqrt(year)
    double drift_ = 0;       // -sigma^2 / 2 per year
    double half_spread_ = 0; // fraction of the mid
    double inv_alpha_ = 0;

    bool injecting_ = false;
    double jump_size_ = 0;
    double burst_factor_ = 1;
    timestamp_ns burst_length_ns_ = 0;
    timestamp_ns guard_ns_ = 0;
    double injection_mean_ns_ = 0; // mean wait of the merged jump + burst stream
    double jump_share_ = 0;        // probability that an injected event is a jump
};

// {"symbol":"SYM0001","ts":<ns>,"kind":"price_jump","magnitude":0.04} without a line break: the
// caller ends the line, as with the other write_*_json functions.
void write_label_json(json_buffer& out, const injected_event& e) noexcept;

} // namespace tapewire
