#include "operators/anomaly.hpp"

#include <algorithm>
#include <cmath>

#include "operators/checkpoint.hpp"

namespace tapewire {

namespace {
// What the EWMAs learn from a bar is clipped: returns to this many standard deviations, volume to
// this multiple of its mean. A real regime change still comes through, at most this fast per bar.
constexpr double k_learn_clip_sd = 3.0;
constexpr double k_learn_clip_volume = 2.0;
} // namespace

anomaly_stage::symbol_state& anomaly_stage::state(const symbol& s) {
    bool added = false;
    const std::uint32_t id = symbols_.intern(s, added);
    if (added) states_.emplace_back();
    return states_[id];
}

bool anomaly_stage::check_tick(const tick& t, alert& out) {
    symbol_state& s = state(t.sym);
    const double p = t.close;
    const double prev = s.last_price;
    s.last_price = p;
    if (prev <= 0) return false;
    // |ln(p/prev)| > t  <=>  p/prev outside [e^-t, e^t]: compare the ratio, take the log only to report.
    const double ratio = p / prev;
    if (!(ratio > jump_up_ || ratio < jump_down_)) return false;
    const double r = std::log(ratio);
    if (!(std::fabs(r) > opt_.price_jump)) return false; // exact test at the boundary
    out =
        alert{t.sym, t.ts, alert_kind::price_jump, r, opt_.price_jump, std::fabs(r) / opt_.price_jump, t.src.partition};
    ++alerts_;
    return true;
}

std::size_t anomaly_stage::check_bar(const bar& b, alert* out) {
    if (b.revision > 0 || (opt_.judged_width_ns != 0 && bar_width(b) != opt_.judged_width_ns)) return 0;
    symbol_state& s = state(b.sym);
    // Each window is judged once, in order: a bar for a window at or before the newest judged one
    // is a repeat (input re-read after a rebalance or restart) or an old window's first late
    // emission, and its return against a newer close would mean nothing.
    if (s.last_start != k_no_time && b.window_start <= s.last_start) return 0;
    s.last_start = b.window_start;
    std::size_t n = 0;
    const double a = opt_.ewma_alpha;
    auto fire = [&](alert_kind kind, double value, double threshold) {
        out[n++] = alert{b.sym, b.window_start, kind, value, threshold, std::fabs(value) / threshold, b.partition};
        ++alerts_;
    };

    // Log return against the previous bar's close.
    if (s.prev_close > 0) {
        const double r = std::log(b.close / s.prev_close);
        const double sd = std::sqrt(s.var_r);
        if (s.bars >= opt_.warmup_bars && sd > 0) {
            const double z = (r - s.mean_r) / sd;
            if (std::fabs(z) > opt_.return_z) fire(alert_kind::return_z, z, opt_.return_z);
        }
        // Learn from the return winsorised at k_learn_clip_sd (after warm-up): an outlier nudges the
        // variance up by a bounded step instead of hiding the next event for dozens of bars.
        double learn = r;
        if (s.bars >= opt_.warmup_bars && sd > 0)
            learn = std::clamp(r, s.mean_r - k_learn_clip_sd * sd, s.mean_r + k_learn_clip_sd * sd);
        if (s.bars == 0) {
            s.mean_r = learn;
            s.var_r = 0;
        } else {
            const double d = learn - s.mean_r;
            s.mean_r += a * d;
            s.var_r = (1 - a) * (s.var_r + a * d * d);
        }
        ++s.bars;
    }
    s.prev_close = b.close;

    // Volume against its EWMA.
    if (s.volume_bars >= opt_.warmup_bars && s.mean_volume > 0) {
        const double ratio = b.volume / s.mean_volume;
        if (ratio > opt_.volume_spike) fire(alert_kind::volume_spike, ratio, opt_.volume_spike);
    }
    {
        double learn = b.volume;
        if (s.volume_bars >= opt_.warmup_bars && s.mean_volume > 0)
            learn = std::min(learn, k_learn_clip_volume * s.mean_volume);
        s.mean_volume = s.volume_bars == 0 ? learn : s.mean_volume + a * (learn - s.mean_volume);
        ++s.volume_bars;
    }

    // Deviation from the session VWAP, edge triggered.
    if (!std::isnan(b.vwap_dev_bps)) {
        const bool outside = std::fabs(b.vwap_dev_bps) > opt_.vwap_dev_bps;
        if (outside && !s.vwap_dev_active) fire(alert_kind::vwap_dev, b.vwap_dev_bps, opt_.vwap_dev_bps);
        s.vwap_dev_active = outside;
    }
    return n;
}

// Checkpointing -------------------------------------------------------------------------------------

void anomaly_stage::save_checkpoint(const std::vector<symbol>& syms, checkpoint_writer& out) const {
    const symbol_state initial;
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        const symbol_state& s = id == symbol_table::k_none ? initial : states_[id];
        out.record(s.last_price, s.prev_close, s.mean_r, s.var_r, s.mean_volume, s.bars, s.volume_bars, s.last_start,
                   s.vwap_dev_active);
    }
}

void anomaly_stage::restore_checkpoint(const std::vector<symbol>& syms, checkpoint_reader& in, bool apply) {
    for (const symbol& sym : syms) {
        symbol_state s;
        in.record("anomaly state", s.last_price, s.prev_close, s.mean_r, s.var_r, s.mean_volume, s.bars, s.volume_bars,
                  s.last_start, s.vwap_dev_active);
        if (apply) state(sym) = s;
    }
}

void anomaly_stage::forget(const std::vector<symbol>& syms) {
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        if (id != symbol_table::k_none) states_[id] = symbol_state{};
    }
}

} // namespace tapewire
