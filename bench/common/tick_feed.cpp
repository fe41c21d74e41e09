#include "bench/common/tick_feed.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "src/base/clock.hpp"
#include "tapewire/json_write.hpp"

namespace tapewire::bench {

std::string symbol_name(std::uint32_t index, std::uint32_t count) {
    int width = 4;
    for (std::uint32_t c = count > 0 ? count - 1 : 0; c >= 10000; c /= 10) ++width;
    char buf[32];
    std::snprintf(buf, sizeof buf, "SYM%0*u", width, index);
    return buf;
}

timestamp_ns an_hour_ago() { return (wall_ns() / 1'000'000'000 - 3600) * 1'000'000'000; }

random_market::random_market(std::uint32_t symbols, std::uint64_t seed)
    : rng_(seed), names_(symbols), syms_(symbols), cents_(symbols) {
    for (std::uint32_t i = 0; i < symbols; ++i) {
        names_[i] = symbol_name(i, symbols);
        syms_[i] = symbol::from(names_[i]);
        cents_[i] = 1000 + rng_.below(49'000); // $10.00 .. $500.00
    }
}

random_market::trade random_market::next(std::int64_t move, double size_scale) {
    const std::uint32_t s = rng_.below(size());
    const std::uint64_t r = rng_.next();
    // Prices print as short decimals, like a real feed's.
    cents_[s] = std::max<std::int64_t>(cents_[s] + (static_cast<std::int64_t>(r % 3) - 1) * move, 100);
    const double size = 100.0 * static_cast<double>(1 + (r >> 8) % 10) * size_scale;
    return {s, static_cast<double>(cents_[s]) / 100.0, size, r};
}

tick_feed make_feed(const feed_options& opt) {
    random_market market(std::max<std::uint32_t>(opt.symbols, 1), opt.seed);

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
        const bool is_fast = i < opt.fast_ticks;
        const random_market::trade t = is_fast ? market.next(fast_move, fast_size) : market.next();
        const step_range& step = is_fast ? fast : normal;
        ts += static_cast<timestamp_ns>(step.min + (t.draw >> 16) % step.span);

        json_buffer j(tmp, sizeof tmp);
        write_tick_json(j, tick::trade(market.sym(t.symbol), ts, t.price, t.size));
        f.start_.push_back(f.bytes_.size());
        f.bytes_.insert(f.bytes_.end(), j.view().begin(), j.view().end());
        f.bytes_.insert(f.bytes_.end(), k_message_padding, ' ');
    }
    f.start_.push_back(f.bytes_.size());
    f.last_ts_ = ts;
    return f;
}

} // namespace tapewire::bench
