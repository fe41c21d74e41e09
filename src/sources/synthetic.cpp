#include "src/sources/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace tapewire {

namespace {

constexpr double k_trading_seconds_per_year = 252.0 * 6.5 * 3600.0;
constexpr double k_years_per_ns = 1 / (k_trading_seconds_per_year * 1e9);
constexpr double k_default_event_rate = 100'000;

constexpr double k_min_start_price = 10;
constexpr double k_max_start_price = 500;
// Bounds on the mid so that no volatility setting can produce a zero or infinite price.
const double k_min_log_mid = std::log(0.01);
const double k_max_log_mid = std::log(1e7);

constexpr double k_natural_jump_mean_ns = 600e9; // one per symbol per 10 minutes
constexpr double k_natural_jump_sigma = 0.002;

constexpr double k_quote_steps_per_unit = 1e4; // prices on a 0.0001 grid
constexpr double k_max_trade_size = 1e6;
const double k_log_max_trade_size = std::log(k_max_trade_size);

constexpr timestamp_ns k_injection_warmup_ns = 60'000'000'000;
constexpr timestamp_ns k_min_guard_ns = 3'000'000'000;
constexpr timestamp_ns k_never = std::numeric_limits<timestamp_ns>::max();

constexpr std::string_view k_price_jump = "price_jump";
constexpr std::string_view k_volume_spike = "volume_spike";

std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void require(bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("synthetic source: ") + what);
}

// A price on the quote grid; tiny mids keep their unrounded value rather than print as 0. Dividing
// (not multiplying by 1e-4) gives the double nearest k / 10^4, which prints with at most 4 decimals.
double on_quote_grid(double p) noexcept {
    const double r = std::nearbyint(p * k_quote_steps_per_unit) / k_quote_steps_per_unit;
    return r > 0 ? r : p;
}

// Scheduling arithmetic near the end of time: "never" stays never instead of wrapping.
timestamp_ns saturating_add(timestamp_ns t, timestamp_ns d) noexcept { return t > k_never - d ? k_never : t + d; }

double clamp_log_mid(double x) noexcept { return std::clamp(x, k_min_log_mid, k_max_log_mid); }

std::vector<symbol> make_symbols(const source_config& cfg) {
    std::vector<symbol> out;
    if (!cfg.symbols.empty()) {
        out.reserve(cfg.symbols.size());
        for (const std::string& s : cfg.symbols) {
            symbol sym;
            if (!sym.assign(s))
                throw std::invalid_argument("synthetic source: symbol \"" + s + "\" must be 1 to " +
                                            std::to_string(symbol::k_max_size) + " bytes");
            out.push_back(sym);
        }
        // Two price paths under one name would look like jumps to the detector.
        std::vector<symbol> sorted = out;
        std::sort(sorted.begin(), sorted.end());
        const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
        if (dup != sorted.end())
            throw std::invalid_argument("synthetic source: symbol \"" + std::string(dup->view()) +
                                        "\" is listed twice");
    } else {
        require(cfg.symbol_count > 0, "symbol_count must be > 0 when no symbols are listed");
        int width = 4;
        for (std::uint32_t n = cfg.symbol_count - 1; n >= 10'000; n /= 10) ++width;
        out.reserve(cfg.symbol_count);
        for (std::uint32_t i = 0; i < cfg.symbol_count; ++i) {
            const std::string digits = std::to_string(i);
            const std::size_t pad = static_cast<std::size_t>(width) - std::min<std::size_t>(digits.size(), width);
            out.push_back(symbol::from("SYM" + std::string(pad, '0') + digits));
        }
    }
    require(out.size() < (std::uint64_t{1} << 32), "too many symbols");
    return out;
}

} // namespace

sim_random::sim_random(std::uint64_t seed) noexcept {
    // splitmix64 spreads any seed, 0 included, over the whole state; xoshiro must not start at 0.
    for (std::uint64_t& w : s_) w = splitmix64(seed);
}

double sim_random::exponential() noexcept { return -std::log(uniform_open0()); }

double sim_random::normal() noexcept {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    double u, v, s;
    do {
        u = 2 * uniform_open0() - 1;
        v = 2 * uniform_open0() - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    const double m = std::sqrt(-2 * std::log(s) / s);
    spare_ = v * m;
    has_spare_ = true;
    return u * m;
}

synthetic_market::synthetic_market(const source_config& cfg, timestamp_ns start_ns)
    : rng_(cfg.seed), symbols_(make_symbols(cfg)), now_(start_ns) {
    const auto finite_nonneg = [](double x) { return std::isfinite(x) && x >= 0; };
    require(finite_nonneg(cfg.event_rate), "event_rate must be finite and >= 0");
    require(finite_nonneg(cfg.rate), "rate must be finite and >= 0");
    require(finite_nonneg(cfg.volatility), "volatility must be finite and >= 0");
    require(finite_nonneg(cfg.spread_bps) && cfg.spread_bps < 10'000, "spread_bps must be in [0, 10000)");
    require(std::isfinite(cfg.size_alpha) && cfg.size_alpha > 0, "size_alpha must be finite and > 0");

    event_rate_ = cfg.event_rate > 0 ? cfg.event_rate : cfg.rate > 0 ? cfg.rate : k_default_event_rate;
    mean_gap_ns_ = 1e9 / event_rate_;
    sigma_ = cfg.volatility;
    drift_ = -0.5 * sigma_ * sigma_;
    half_spread_ = cfg.spread_bps * 1e-4 / 2;
    inv_alpha_ = 1 / cfg.size_alpha;

    const anomaly_injection_config& a = cfg.anomalies;
    if (a.enabled) {
        require(std::isfinite(a.jump_size) && a.jump_size >= 0, "anomalies.jump_size must be finite and >= 0");
        require(std::isfinite(a.burst_factor) && a.burst_factor > 0, "anomalies.burst_factor must be finite and > 0");
        require(a.jump_every.count() >= 0 && a.burst_every.count() >= 0 && a.burst_length.count() >= 0,
                "anomaly intervals must be >= 0");
        const bool jumps = a.jump_every.count() > 0 && a.jump_size > 0;
        const bool bursts = a.burst_every.count() > 0 && a.burst_length.count() > 0 && a.burst_factor != 1;
        const double jump_rate = jumps ? 1 / static_cast<double>(a.jump_every.count()) : 0;
        const double burst_rate = bursts ? 1 / static_cast<double>(a.burst_every.count()) : 0;
        injecting_ = jumps || bursts;
        if (injecting_) {
            injection_mean_ns_ = 1 / (jump_rate + burst_rate);
            jump_share_ = jump_rate / (jump_rate + burst_rate);
        }
        jump_size_ = a.jump_size;
        burst_factor_ = a.burst_factor;
        burst_length_ns_ = a.burst_length.count();
        const timestamp_ns three_bursts = burst_length_ns_ > k_never / 3 ? k_never : 3 * burst_length_ns_;
        guard_ns_ = std::max(three_bursts, k_min_guard_ns);
    }

    const double log_lo = std::log(k_min_start_price);
    const double log_hi = std::log(k_max_start_price);
    states_.resize(symbols_.size());
    for (symbol_state& s : states_) {
        s.log_mid = log_lo + (log_hi - log_lo) * rng_.uniform_open0();
        s.last_ts = start_ns;
        s.next_natural_jump = after(start_ns, k_natural_jump_mean_ns);
        s.next_injection = k_never;
        if (injecting_) schedule_injection(s, saturating_add(start_ns, k_injection_warmup_ns));
    }
    // Room for many events between two take_injected calls, so the hot path does not grow it.
    injected_.reserve(std::max<std::size_t>(1024, symbols_.size() * 2));
}

timestamp_ns synthetic_market::after(timestamp_ns from, double mean_ns) noexcept {
    const double wait = rng_.exponential() * mean_ns;
    // In doubles: k_never - from would overflow for a start before 1970.
    if (wait >= static_cast<double>(k_never) - static_cast<double>(from)) return k_never;
    return from + static_cast<timestamp_ns>(wait);
}

void synthetic_market::schedule_injection(symbol_state& s, timestamp_ns earliest) noexcept {
    s.next_injection = after(earliest, injection_mean_ns_);
    s.next_is_jump = rng_.uniform_open0() <= jump_share_;
}

void synthetic_market::advance_mid(symbol_state& s) noexcept {
    if (now_ > s.last_ts) {
        const double dt = static_cast<double>(now_ - s.last_ts) * k_years_per_ns;
        s.log_mid += drift_ * dt + sigma_ * std::sqrt(dt) * rng_.normal();
        s.last_ts = now_;
    }
    // The order of jumps inside the interval does not matter: log moves add up.
    while (s.next_natural_jump <= now_) {
        s.log_mid += k_natural_jump_sigma * rng_.normal();
        s.next_natural_jump = after(s.next_natural_jump, k_natural_jump_mean_ns);
    }
    s.log_mid = clamp_log_mid(s.log_mid);
}

double synthetic_market::inject(std::uint32_t index, symbol_state& s) noexcept {
    if (now_ >= s.next_injection) {
        timestamp_ns quiet_from = now_;
        if (s.next_is_jump) {
            s.log_mid = clamp_log_mid(s.log_mid + (rng_.coin() ? jump_size_ : -jump_size_));
            injected_.push_back({symbols_[index], now_, k_price_jump, jump_size_});
        } else {
            s.burst_end = saturating_add(now_, burst_length_ns_);
            quiet_from = s.burst_end;
            injected_.push_back({symbols_[index], now_, k_volume_spike, burst_factor_});
        }
        schedule_injection(s, saturating_add(quiet_from, guard_ns_));
    }
    return now_ < s.burst_end ? burst_factor_ : 1.0;
}

double synthetic_market::draw_size(double factor) noexcept {
    // Pareto(alpha, 1) by inversion: u^(-1/alpha), computed in logs so a tiny alpha cannot overflow.
    const double log_size = -std::log(rng_.uniform_open0()) * inv_alpha_;
    const double base = log_size >= k_log_max_trade_size ? k_max_trade_size : std::floor(std::exp(log_size));
    if (factor == 1.0) return base;
    return std::max(1.0, std::round(base * factor));
}

void synthetic_market::next(tick& out) noexcept {
    if (generated_ != 0) {
        const double gap = rng_.exponential() * mean_gap_ns_ + now_frac_ns_;
        const double whole = std::floor(gap);
        now_ += static_cast<timestamp_ns>(whole);
        now_frac_ns_ = gap - whole;
    }
    const std::uint32_t i = rng_.below(static_cast<std::uint32_t>(symbols_.size()));
    symbol_state& s = states_[i];
    advance_mid(s);
    const double size_factor = injecting_ ? inject(i, s) : 1.0;

    const double mid = std::exp(s.log_mid);
    const double bid = on_quote_grid(mid * (1 - half_spread_));
    const double ask = on_quote_grid(mid * (1 + half_spread_));
    const double price = rng_.coin() ? ask : bid;
    out = tick::trade(symbols_[i], now_, price, draw_size(size_factor));
    out.bid = bid;
    out.ask = ask;
    ++generated_;
}

void synthetic_market::take_injected(std::vector<injected_event>& out) {
    out.insert(out.end(), injected_.begin(), injected_.end());
    injected_.clear();
}

void write_label_json(json_buffer& out, const injected_event& e) noexcept {
    out.raw("{\"symbol\":").string(e.sym.view());
    out.raw(",\"ts\":").integer(e.ts);
    out.raw(",\"kind\":").string(e.kind);
    out.raw(",\"magnitude\":").number(e.magnitude).ch('}');
}

} // namespace tapewire
