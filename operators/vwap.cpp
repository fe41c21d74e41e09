#include "operators/vwap.hpp"

#include <algorithm>
#include <cmath>

#include "operators/checkpoint.hpp"

namespace tapewire {

vwap_stage::vwap_stage(vwap_options opt) : opt_(std::move(opt)) {
    if (opt_.rolling_windows == 0) opt_.rolling_windows = 1;
    opt_.history = std::max(opt_.history, opt_.rolling_windows);
}

void vwap_stage::enrich(bar& b) {
    bool added = false;
    const std::uint32_t id = symbols_.intern(b.sym, added);
    if (added) {
        states_.resize(states_.size() + lanes());
        for (std::size_t k = states_.size() - lanes(); k < states_.size(); ++k)
            states_[k].history.reserve(opt_.history + 1);
    }
    symbol_state& s = states_[id * lanes() + (lanes() == 1 ? 0 : lane_of(b))];
    const std::int64_t session = opt_.calendar.session_of(b.window_start);
    auto& h = s.history;

    auto it = std::lower_bound(h.begin(), h.end(), b.window_start,
                               [](const entry& e, timestamp_ns st) { return e.start < st; });
    const bool known = it != h.end() && it->start == b.window_start;

    std::size_t index;
    if (known) {
        // A correction: swap the old contribution for the new one, here and in every later cumulative.
        const double dpv = b.pv - it->pv, dv = b.volume - it->v;
        it->pv = b.pv;
        it->v = b.volume;
        for (auto j = it; j != h.end(); ++j) {
            if (j->session == it->session) {
                j->cum_pv += dpv;
                j->cum_v += dv;
            }
        }
        index = static_cast<std::size_t>(it - h.begin());
    } else {
        // New window (usually the newest; a late first emission can land in the middle). Its
        // session sums continue the previous window's when both are in one session: that is the
        // daily reset.
        double cum_pv = b.pv, cum_v = b.volume;
        if (it != h.begin() && std::prev(it)->session == session) {
            cum_pv += std::prev(it)->cum_pv;
            cum_v += std::prev(it)->cum_v;
        }
        it = h.insert(it, entry{b.window_start, session, b.pv, b.volume, cum_pv, cum_v});
        for (auto j = std::next(it); j != h.end(); ++j) {
            if (j->session == session) {
                j->cum_pv += b.pv;
                j->cum_v += b.volume;
            }
        }
        index = static_cast<std::size_t>(it - h.begin());
    }

    fill(b, h[index].cum_pv, h[index].cum_v, h, index);
    if (h.size() > opt_.history) h.erase(h.begin()); // capacity reserved: no allocation
}

void vwap_stage::preview(bar& b) const {
    const std::uint32_t id = symbols_.find(b.sym);
    static const std::vector<entry> none;
    const auto& h = id == symbol_table::k_none ? none : states_[id * lanes() + (lanes() == 1 ? 0 : lane_of(b))].history;
    const auto it = std::lower_bound(h.begin(), h.end(), b.window_start,
                                     [](const entry& e, timestamp_ns st) { return e.start < st; });
    const auto index = static_cast<std::size_t>(it - h.begin());
    double cum_pv = b.pv, cum_v = b.volume;
    if (it != h.end() && it->start == b.window_start) { // emitted before (a discard reopened it): in its place
        cum_pv += it->cum_pv - it->pv;
        cum_v += it->cum_v - it->v;
    } else if (it != h.begin() && std::prev(it)->session == opt_.calendar.session_of(b.window_start)) {
        cum_pv += std::prev(it)->cum_pv;
        cum_v += std::prev(it)->cum_v;
    }
    fill(b, cum_pv, cum_v, h, index);
}

// h[before] is the bar's own entry in enrich, and where it would go in preview: b's values stand for it.
void vwap_stage::fill(bar& b, double cum_pv, double cum_v, const std::vector<entry>& h, std::size_t before) const {
    b.session_vwap = cum_v > 0 ? cum_pv / cum_v : k_null_double;
    double rpv = 0, rv = 0;
    const std::size_t first = before + 1 >= opt_.rolling_windows ? before + 1 - opt_.rolling_windows : 0;
    for (std::size_t j = first; j < before; ++j) {
        rpv += h[j].pv;
        rv += h[j].v;
    }
    rpv += b.pv;
    rv += b.volume;
    b.rolling_vwap = rv > 0 ? rpv / rv : k_null_double;
    b.vwap_dev_bps = std::isnan(b.session_vwap) ? k_null_double : (b.close - b.session_vwap) / b.session_vwap * 1e4;
}

// Checkpointing -------------------------------------------------------------------------------------

namespace {
constexpr std::size_t k_entry_bytes = 2 * 8 + 4 * 8; // start, session, pv, v, cum_pv, cum_v
} // namespace

std::size_t vwap_stage::lane_of(const bar& b) const noexcept {
    const std::int64_t w = bar_width(b);
    for (std::size_t k = 0; k < opt_.widths_ns.size(); ++k)
        if (opt_.widths_ns[k] == w) return k;
    return 0;
}

void vwap_stage::save_checkpoint(const std::vector<symbol>& syms, checkpoint_writer& out) const {
    for (std::size_t k = 0; k < lanes(); ++k) save_histories(syms, k, out);
}

void vwap_stage::restore_checkpoint(const std::vector<symbol>& syms, checkpoint_reader& in, bool apply) {
    restore_histories(syms, 0, in, apply);
    // A blob saved with one width carries one history per symbol: the wider widths start empty.
    for (std::size_t k = 1; k < lanes(); ++k) {
        if (in.left() == 0) {
            if (apply) forget_lane(syms, k);
            continue;
        }
        restore_histories(syms, k, in, apply);
    }
}

void vwap_stage::save_histories(const std::vector<symbol>& syms, std::size_t lane, checkpoint_writer& out) const {
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        if (id == symbol_table::k_none) {
            out.u32(0);
            continue;
        }
        const auto& h = states_[id * lanes() + lane].history;
        out.u32(static_cast<std::uint32_t>(h.size()));
        for (const entry& e : h) out.record(e.start, e.session, e.pv, e.v, e.cum_pv, e.cum_v);
    }
}

void vwap_stage::restore_histories(const std::vector<symbol>& syms, std::size_t lane, checkpoint_reader& in,
                                   bool apply) {
    std::vector<entry> h;
    for (const symbol& sym : syms) {
        h.clear();
        const std::uint32_t n = in.count(k_entry_bytes, "vwap history");
        for (std::uint32_t i = 0; i < n; ++i) {
            entry e{};
            in.record("vwap entry", e.start, e.session, e.pv, e.v, e.cum_pv, e.cum_v);
            if (!h.empty() && e.start <= h.back().start) in.fail("vwap history not in ascending order");
            h.push_back(e);
        }
        if (!apply) continue;
        bool added = false;
        const std::uint32_t id = symbols_.intern(sym, added);
        if (added) states_.resize(states_.size() + lanes());
        auto& dst = states_[id * lanes() + lane].history;
        dst.reserve(opt_.history + 1); // enrich never allocates
        const std::size_t keep = std::min<std::size_t>(h.size(), opt_.history);
        dst.assign(h.end() - static_cast<std::ptrdiff_t>(keep), h.end());
    }
}

void vwap_stage::forget(const std::vector<symbol>& syms) {
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        if (id != symbol_table::k_none)
            for (std::size_t k = 0; k < lanes(); ++k) states_[id * lanes() + k].history.clear();
    }
}

void vwap_stage::forget_lane(const std::vector<symbol>& syms, std::size_t lane) {
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        if (id != symbol_table::k_none) states_[id * lanes() + lane].history.clear();
    }
}

} // namespace tapewire
