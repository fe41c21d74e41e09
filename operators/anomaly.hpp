// anomaly: alerts from ticks and bars, deterministic for a given input order.
//
//   price_jump    tick level: |ln(p / p_prev)| between consecutive updates of a symbol > price_jump
//   return_z      bar level: z-score of the bar's close-to-close log return against an EWMA mean and
//                 variance of earlier returns, once warmup_bars bars have been seen
//   volume_spike  bar level: volume / EWMA volume > volume_spike, after the warm-up
//   vwap_dev      bar level: |close − session VWAP| in bps crosses vwap_dev_bps (fires on crossing,
//                 re-arms once back inside)
//
// After the warm-up the EWMAs learn from each bar's value clipped (returns at 3 standard deviations,
// volume at twice its mean), so one outlier cannot hide the next for dozens of bars. Corrected bars (revision > 0) pass
// through unevaluated: their window has already been judged, and judging it again would count its return twice.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tapewire/stage.hpp"
#include "tapewire/symbol_table.hpp"

namespace tapewire {

class checkpoint_reader;
class checkpoint_writer;

struct anomaly_options {
    double price_jump = 0.02;
    double return_z = 6.0;
    double volume_spike = 5.0;
    double vwap_dev_bps = 150.0;
    double ewma_alpha = 0.05;
    std::uint32_t warmup_bars = 30;
    // With several widths, only bars of this width (the narrowest) are judged; the wider ones pass
    // through unjudged, so an alert is keyed by (symbol, ts, kind) as before. 0: every bar.
    std::int64_t judged_width_ns = 0;
};

class anomaly_stage : public pass_through {
public:
    explicit anomaly_stage(const anomaly_options& opt)
        : opt_(opt), jump_up_(std::exp(opt.price_jump) * (1 - 1e-12)),
          jump_down_(std::exp(-opt.price_jump) * (1 + 1e-12)) {}

    template <class E> void on_tick(const tick& t, E& out) {
        alert a;
        if (check_tick(t, a)) out.on_alert(a);
        out.on_tick(t);
    }

    template <class E> void on_bar(const bar& b, E& out) {
        out.on_bar(b);
        alert found[3];
        const std::size_t n = check_bar(b, found);
        for (std::size_t i = 0; i < n; ++i) out.on_alert(found[i]);
    }

    // True (and `out` filled) when the tick is a price jump.
    bool check_tick(const tick& t, alert& out);
    // Writes up to 3 alerts; returns how many.
    std::size_t check_bar(const bar& b, alert* out);

    [[nodiscard]] std::uint64_t alerts() const noexcept { return alerts_; }

    // Checkpointing (operators/checkpoint.hpp). The state of each of `syms` (the initial one for a
    // symbol never seen): EWMAs, counts, last price and close, the vwap_dev flag, the newest window judged.
    void save_checkpoint(const std::vector<symbol>& syms, checkpoint_writer& out) const;
    // Reads what save_checkpoint wrote. apply = false only checks it (throws std::runtime_error on
    // malformed input, changes nothing); apply = true installs it.
    void restore_checkpoint(const std::vector<symbol>& syms, checkpoint_reader& in, bool apply);
    // The symbols' state goes back to never seen.
    void forget(const std::vector<symbol>& syms);

private:
    struct symbol_state {
        double last_price = 0; // tick level
        double prev_close = 0; // bar level
        double mean_r = 0, var_r = 0;
        double mean_volume = 0;
        std::uint32_t bars = 0; // bars with a return seen
        std::uint32_t volume_bars = 0;
        bool vwap_dev_active = false;
        timestamp_ns last_start = k_no_time; // newest window judged
    };

    symbol_state& state(const symbol& s);

    anomaly_options opt_;
    double jump_up_, jump_down_; // e^±price_jump, widened a hair so the ratio test never misses one
    symbol_table symbols_;
    std::vector<symbol_state> states_;
    std::uint64_t alerts_ = 0;
};

} // namespace tapewire
