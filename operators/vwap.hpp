// vwap: enriches each bar with
//   vwap          Σ(price·size) / Σ size of the window (set by the window stage; NULL when Σ size = 0)
//   session_vwap  cumulative over the symbol's trading session up to and including this window; the
//                 session resets each day at session_start in the exchange's time zone
//   rolling_vwap  over the last K windows of the symbol (this one included)
//   vwap_dev_bps  (close − session_vwap) / session_vwap × 10 000
// A corrected bar (a late tick changed a window already emitted) replaces that window's earlier
// contribution instead of adding to it, so session sums never count a window twice. A bar update (an
// open bar, window.emit_updates) gets the values it would have if it were the window's bar now, and
// changes nothing: the final bar is enriched exactly as without updates.
#pragma once

#include <cstdint>
#include <vector>

#include "tapewire/session_calendar.hpp"
#include "tapewire/stage.hpp"
#include "tapewire/symbol_table.hpp"

namespace tapewire {

class checkpoint_reader;
class checkpoint_writer;

struct vwap_options {
    std::uint32_t rolling_windows = 20;
    std::uint32_t history = 64; // windows per symbol kept to apply corrections (>= rolling_windows)
    session_calendar calendar;
    // Several widths (window_options::widths_ns): each width's bars have their own history and sums.
    // Empty: one width, every bar in one history.
    std::vector<std::int64_t> widths_ns;
};

class vwap_stage : public pass_through {
public:
    explicit vwap_stage(vwap_options opt);

    template <class E> void on_bar(const bar& b, E& out) {
        bar x = b;
        enrich(x);
        out.on_bar(x);
    }
    template <class E> void on_bar_update(const bar& b, E& out) {
        bar x = b;
        preview(x);
        out.on_bar_update(x);
    }

    // Fills session_vwap, rolling_vwap and vwap_dev_bps of `b` and updates the symbol's sums.
    void enrich(bar& b);
    // Fills the same fields as enrich would, leaving every sum as it was (O(rolling_windows)).
    void preview(bar& b) const;

    // Checkpointing (operators/checkpoint.hpp). The history of each of `syms` (none for a symbol
    // never seen), so corrections and rolling sums continue exactly: the narrowest width's first, as
    // with one width; then, with several widths, each of `syms`' history in each wider width.
    void save_checkpoint(const std::vector<symbol>& syms, checkpoint_writer& out) const;
    // Reads what save_checkpoint wrote. apply = false only checks it (throws std::runtime_error on
    // malformed input, changes nothing); apply = true installs it, keeping the newest `history`.
    void restore_checkpoint(const std::vector<symbol>& syms, checkpoint_reader& in, bool apply);
    // The symbols' state goes back to never seen.
    void forget(const std::vector<symbol>& syms);

private:
    struct entry {
        timestamp_ns start;
        std::int64_t session;
        double pv, v;         // this window
        double cum_pv, cum_v; // session sums up to and including this window
    };
    struct symbol_state {
        std::vector<entry> history; // sorted by start; cumulative sums carry the session forward
    };

    [[nodiscard]] std::size_t lanes() const noexcept { return opt_.widths_ns.empty() ? 1 : opt_.widths_ns.size(); }
    // The width's lane: a scan of at most 8 widths; a width not configured goes with the narrowest.
    [[nodiscard]] std::size_t lane_of(const bar& b) const noexcept;
    // The fields from the window's session sums and the (up to rolling_windows - 1) entries before it.
    void fill(bar& b, double cum_pv, double cum_v, const std::vector<entry>& h, std::size_t before) const;
    void save_histories(const std::vector<symbol>& syms, std::size_t lane, checkpoint_writer& out) const;
    void restore_histories(const std::vector<symbol>& syms, std::size_t lane, checkpoint_reader& in, bool apply);
    void forget_lane(const std::vector<symbol>& syms, std::size_t lane);

    vwap_options opt_;
    symbol_table symbols_;
    std::vector<symbol_state> states_; // (symbol id, lane) at id * lanes() + lane
};

} // namespace tapewire
