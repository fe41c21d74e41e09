#include "tick_feed.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tapewire/json_write.hpp"

namespace tapewire::bench {

std::string symbol_name(std::uint32_t index, std::uint32_t count) {
    int width = 4;
    for (std::uint32_t c = count > 0 ? count - 1 : 0; c >= 10000; c /= 10) ++width;
    char buf[32];
    std::snprintf(buf, sizeof buf, "SYM%0*u", width, index);
    return buf;
}

tick_feed make_feed(const feed_options& opt) {
    const std::uint32_t n_sym = std::max<std::uint32_t>(opt.symbols, 1);
    xorshift rng(opt.seed);

    std::vector<symbol> syms(n_sym);
    std::vector<std::int64_t> cents(n_sym);
    for (std::uint32_t i = 0; i < n_sym; ++i) {
        syms[i] = symbol::from(symbol_name(i, n_sym));
        cents[i] = 1000 + rng.below(49'000); // $10.00 .. $500.00
    }

    tick_feed f;
    // ~70 bytes of JSON + the padding; reserving avoids copying hundreds of MB while growing.
    f.bytes_.reserve(opt.ticks * (80 + k_message_padding));
    f.start_.reserve(opt.ticks + 1);

    // Steps are uniform in [mean/2, 3·mean/2], never zero: event time strictly increases.
    struct step_range {
        std::uint64_t min, span;
        explicit step_range(std::int64_t mean)
            : min(static_cast<std::uint64_t>(std::max<std::int64_t>(mean / 2, 1))),
              span(static_cast<std::uint64_t>(std::max<std::int64_t>(mean, 1)) + 1) {}
    };
    const step_range normal(opt.mean_step_ns), fast(opt.fast_step_ns);

    // A fast tick stands for `ratio` normal ones. Scaling its size by ratio and its price move by
    // sqrt(ratio) gives windows the same volume and return variance in both phases, so the anomaly
    // stage's learned baselines carry over instead of alerting on every bar after the switch.
    const double ratio = opt.fast_ticks > 0 && opt.mean_step_ns > 0 && opt.fast_step_ns > opt.mean_step_ns
                             ? static_cast<double>(opt.fast_step_ns) / static_cast<double>(opt.mean_step_ns)
                             : 1.0;
    const auto fast_move = std::max<std::int64_t>(std::llround(std::sqrt(ratio)), 1);
    const double fast_size = std::max(std::round(ratio), 1.0);

    timestamp_ns ts = opt.first_ts;
    char tmp[256];
    for (std::uint64_t i = 0; i < opt.ticks; ++i) {
        const std::uint32_t s = rng.below(n_sym);
        const std::uint64_t r = rng.next();
        const bool is_fast = i < opt.fast_ticks;
        // A random walk in whole cents with a floor at $1: prices print as short decimals, like a
        // real feed's.
        const std::int64_t move = (static_cast<std::int64_t>(r % 3) - 1) * (is_fast ? fast_move : 1);
        cents[s] = std::max<std::int64_t>(cents[s] + move, 100);
        const double size = 100.0 * static_cast<double>(1 + (r >> 8) % 10) * (is_fast ? fast_size : 1.0);
        const step_range& step = is_fast ? fast : normal;
        ts += static_cast<timestamp_ns>(step.min + (r >> 16) % step.span);

        json_buffer j(tmp, sizeof tmp);
        write_tick_json(j, tick::trade(syms[s], ts, static_cast<double>(cents[s]) / 100.0, size));
        f.start_.push_back(f.bytes_.size());
        f.bytes_.insert(f.bytes_.end(), j.view().begin(), j.view().end());
        f.bytes_.insert(f.bytes_.end(), k_message_padding, ' ');
    }
    f.start_.push_back(f.bytes_.size());
    f.last_ts_ = ts;
    return f;
}

} // namespace tapewire::bench
