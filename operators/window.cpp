#include "operators/window.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "operators/checkpoint.hpp"

namespace tapewire {

namespace {

bool heap_later(const auto& a, const auto& b) noexcept {
    // std::*_heap keep the largest on top; invert for a min-heap on (end, symbol id).
    // Same end and symbol: the narrower lane closes first, so the wider one rolls it up.
    if (a.end != b.end) return a.end > b.end;
    return a.sym != b.sym ? a.sym > b.sym : a.lane > b.lane;
}

} // namespace

window_stage::window_stage(const window_options& opt) : opt_(opt) {
    if (!opt_.widths_ns.empty()) opt_.width_ns = opt_.widths_ns.front();
    const std::int64_t w = opt_.width_ns > 0 ? opt_.width_ns : 1;
    opt_.width_ns = w;
    widths_ = {w};
    for (std::size_t k = 1; k < opt_.widths_ns.size(); ++k) {
        const std::int64_t wk = opt_.widths_ns[k];
        if (wk <= widths_.back() || wk % widths_.back() != 0 || widths_.size() == 255)
            throw std::invalid_argument("window widths must ascend, each a multiple of the one before");
        widths_.push_back(wk);
    }
    // Windows that can still be corrected: those ending within the horizon before the watermark; with
    // a wider lane above, also those the wider lane's open window still has to roll up.
    for (std::size_t k = 0; k < widths_.size(); ++k) {
        const std::int64_t reach = opt_.late_update_horizon_ns + (k + 1 < widths_.size() ? widths_[k + 1] : 0);
        lane_capacity_.push_back(reach > 0 ? static_cast<std::size_t>(reach / widths_[k]) + 2 : 0);
    }
    retain_capacity_ = lane_capacity_[0];
    pending_bars_.reserve(1024);
    pending_watermarks_.reserve(16);
}

timestamp_ns window_stage::watermark_of(std::int32_t p) const noexcept {
    if (p < 0 || static_cast<std::size_t>(p) >= partitions_.size()) return k_no_time;
    return partitions_[static_cast<std::size_t>(p)].watermark;
}

timestamp_ns window_stage::symbol_watermark(const symbol& sym) const noexcept {
    const std::uint32_t id = symbols_.find(sym);
    return id == symbol_table::k_none || !opt_.per_symbol ? k_no_time : clocks_[id].watermark;
}

void window_stage::add_state(const symbol& sym) {
    states_.emplace_back();
    states_.back().sym = sym;
    states_.back().open.reserve(4);
    clocks_.emplace_back();
    lanes_.resize(lanes_.size() + widths_.size() - 1);
    for (std::size_t k = lanes_.size() + 1 - widths_.size(); k < lanes_.size(); ++k) lanes_[k].open.reserve(2);
}

window_stage::partition_state& window_stage::partition(std::int32_t p) {
    const auto i = static_cast<std::size_t>(p < 0 ? 0 : p);
    if (i >= partitions_.size()) partitions_.resize(i + 1);
    return partitions_[i];
}

void window_stage::merge(window_state& w, const tick& t) {
    if (w.empty) {
        w.empty = false;
        if (w.first_offset < 0) w.first_offset = t.src.offset; // else a bar's message opened the window
        w.open_ts = w.close_ts = t.ts;
        w.open = t.open;
        w.high = t.high;
        w.low = t.low;
        w.close = t.close;
    } else {
        if (t.ts < w.open_ts) {
            w.open_ts = t.ts;
            w.open = t.open;
        }
        if (t.ts >= w.close_ts) {
            w.close_ts = t.ts;
            w.close = t.close;
        }
        w.high = std::max(w.high, t.high);
        w.low = std::min(w.low, t.low);
    }
    w.volume += t.volume;
    w.pv += t.pv;
    w.trades += t.trades;
    w.last_offset = std::max(w.last_offset, t.src.offset);
}

void window_stage::note_offset(window_state& w, std::int64_t offset) {
    if (offset < 0) return;
    if (w.first_offset < 0 || offset < w.first_offset) w.first_offset = offset;
    w.last_offset = std::max(w.last_offset, offset);
}

template <class Change> void window_stage::correct(symbol_state& s, timestamp_ns start, Change&& change) {
    window_state* w = find_retained(s, start);
    if (w != nullptr) {
        change(*w);
        ++w->revision;
        push_bar(s, *w);
    } else {
        window_state fresh;
        fresh.start = start;
        change(fresh);
        retain(s, fresh);
        push_bar(s, fresh);
    }
    ++corrections_;
    // The wider lanes' open windows roll the corrected window up: their open bars changed.
    if (opt_.emit_updates_ns > 0 && widths_.size() > 1) note_change(static_cast<std::uint32_t>(&s - states_.data()));
}

template <bool PerSymbol> window_stage::accept_result window_stage::accept_in(const tick& t) {
    bool added = false;
    const std::uint32_t id = symbols_.intern(t.sym, added);
    if (added) add_state(t.sym);
    partition_state& ps = partition(t.src.partition);
    const std::int32_t listed = t.src.partition < 0 ? 0 : t.src.partition; // partition() maps < 0 to 0
    if (states_[id].listed != listed) join(id, listed);                    // a new symbol (or one that moved)
    symbol_state& s = states_[id];
    s.partition = t.src.partition;
    ps.changed = true;
    ps.last_seen = now_;
    ps.next_offset = t.src.offset + 1;
    // The clock this tick is judged by: its partition's, or in symbol mode its symbol's own.
    timestamp_ns watermark = ps.watermark;
    if constexpr (PerSymbol) {
        clocks_[id].last_seen = now_;
        watermark = clocks_[id].watermark;
    }

    if (t.is_bar && opt_.bar_memory_ns > 0) return accept_bar<PerSymbol>(t, id, ps, watermark);

    // Most ticks fall in the symbol's newest open window: no division for those.
    const timestamp_ns start =
        !s.open.empty() && t.ts >= s.open.back().start && t.ts - s.open.back().start < opt_.width_ns
            ? s.open.back().start
            : window_start_of(t.ts, opt_.width_ns);
    const timestamp_ns end = start + opt_.width_ns;

    // Already open: the common case, and nearly always the symbol's newest window.
    auto it = s.open.end();
    if (s.open.empty() || s.open.back().start != start)
        it = std::lower_bound(s.open.begin(), s.open.end(), start,
                              [](const window_state& w, timestamp_ns st) { return w.start < st; });
    else
        --it;
    if (it != s.open.end() && it->start == start) {
        merge(*it, t);
    } else if (watermark != k_no_time && end <= watermark) {
        // Its window is final: late.
        ++late_;
        late_detail_ = "beyond late_update_horizon";
        if (opt_.late_update_horizon_ns > 0 && watermark - end <= opt_.late_update_horizon_ns) {
            correct(s, start, [&t](window_state& w) { merge(w, t); });
            late_detail_ = "bar corrected";
        }
        return accept_result::late;
    } else {
        window_state fresh;
        fresh.start = start;
        merge(fresh, t);
        open_window<PerSymbol>(id, ps, it, fresh);
    }
    if (opt_.emit_updates_ns > 0) [[unlikely]]
        note_change(id);
    advance_clock<PerSymbol>(id, t.src.partition, ps, t.ts);
    return accept_result::accepted;
}

// Forced inline, as advance_clock: the tick path was one function before bars came to share these.
template <bool PerSymbol>
[[gnu::always_inline]] inline void window_stage::open_window(std::uint32_t id, partition_state& ps,
                                                             std::vector<window_state>::iterator at,
                                                             const window_state& fresh) {
    states_[id].open.insert(at, fresh);
    ++open_count_;
    // All open windows can close in one watermark step or at flush (plus one correction): grow
    // the pending bars now, while a window opens, so draining them never allocates mid-stream.
    if (pending_bars_.capacity() <= open_count_) pending_bars_.reserve(2 * open_count_);
    if constexpr (!PerSymbol) {
        ps.heap.push_back({fresh.start + opt_.width_ns, id});
        std::push_heap(ps.heap.begin(), ps.heap.end(),
                       [](const heap_entry& a, const heap_entry& b) { return heap_later(a, b); });
    }
}

// An input at event time ts moves its clock (the symbol's in symbol mode, else the partition's).
template <bool PerSymbol> [[gnu::always_inline]] inline void
window_stage::advance_clock(std::uint32_t id, std::int32_t p, partition_state& ps, timestamp_ns ts) {
    if constexpr (PerSymbol) {
        symbol_clock& c = clocks_[id];
        if (c.max_ts == k_no_time || ts > c.max_ts) {
            c.max_ts = ts;
            if (ps.max_ts == k_no_time || ts > ps.max_ts) ps.max_ts = ts;
            const timestamp_ns wm = ts - opt_.allowed_lateness_ns;
            if (c.watermark == k_no_time || wm > c.watermark) advance_symbol(p, ps, states_[id], c, wm);
        }
    } else if (ps.max_ts == k_no_time || ts > ps.max_ts) {
        ps.max_ts = ts;
        const timestamp_ns wm = ts - opt_.allowed_lateness_ns;
        if (ps.watermark == k_no_time || wm > ps.watermark) advance(p, ps, wm);
    }
}

// A bar message: remembered per (symbol, start), folded into its window when the window is emitted
// (push_bar), so a re-send adds nothing and a revision replaces the earlier values. Only a bar new to
// the memory and on time goes downstream: a re-sent month feeds the archive and the alerts nothing twice.
template <bool PerSymbol> window_stage::accept_result
window_stage::accept_bar(const tick& t, std::uint32_t id, partition_state& ps, timestamp_ns watermark) {
    if (bars_.size() <= id) bars_.resize(static_cast<std::size_t>(id) + 1);
    symbol_bars& sb = bars_[id];
    symbol_bar_memory& m = sb.memory;
    const std::size_t bars_before = m.size(), bytes_before = m.bytes();
    const bar_outcome o = m.upsert(source_bar{t.ts, t.open, t.high, t.low, t.close, t.volume});
    if (o == bar_outcome::beyond_memory) {
        note_beyond_memory(id, sb, t.ts);
        return accept_result::absorbed;
    }
    // A bar the memory holds ends a pass of beyond-memory re-sends: the next such run is reported anew.
    sb.reported = false;
    sb.report = -1;
    symbol_state& s = states_[id];
    if (o == bar_outcome::inserted) {
        ++new_bars_;
        if (m.bars().back().start == t.ts) forget_old_bars(s, m);
    } else if (o == bar_outcome::duplicate) {
        ++duplicate_bars_;
    } else {
        ++bar_revisions_;
    }
    bar_memory_bars_ = bar_memory_bars_ + m.size() - bars_before;
    bar_memory_bytes_ = bar_memory_bytes_ + m.bytes() - bytes_before;

    const timestamp_ns start = window_start_of(t.ts, opt_.width_ns);
    const auto it = std::lower_bound(s.open.begin(), s.open.end(), start,
                                     [](const window_state& w, timestamp_ns st) { return w.start < st; });
    if (it != s.open.end() && it->start == start) {
        note_offset(*it, t.src.offset);
    } else if (watermark != k_no_time && start + opt_.width_ns <= watermark) {
        return late_bar(s, o, start, watermark, t.src.offset);
    } else {
        // Not final and not open: a new window (a re-sent bar too, after a discard forgot its window).
        window_state fresh;
        fresh.start = start;
        note_offset(fresh, t.src.offset);
        open_window<PerSymbol>(id, ps, it, fresh);
    }
    if (opt_.emit_updates_ns > 0 && o != bar_outcome::duplicate) note_change(id);
    advance_clock<PerSymbol>(id, t.src.partition, ps, t.ts);
    return o == bar_outcome::inserted ? accept_result::accepted : accept_result::absorbed;
}

// A bar for a final window. A re-send changes nothing; a new or revised bar re-emits the window within
// late_update_horizon (exact: the fold sees the memory), and beyond it is dead-lettered. The memory
// keeps it either way, so the next re-send of it is a duplicate: one dead letter, not one per pass.
window_stage::accept_result window_stage::late_bar(symbol_state& s, bar_outcome o, timestamp_ns start,
                                                   timestamp_ns watermark, std::int64_t offset) {
    if (o == bar_outcome::duplicate) return accept_result::absorbed;
    const timestamp_ns end = start + opt_.width_ns;
    if (opt_.late_update_horizon_ns > 0 && watermark - end <= opt_.late_update_horizon_ns) {
        correct(s, start, [offset](window_state& w) { note_offset(w, offset); });
        return accept_result::absorbed;
    }
    ++late_;
    late_detail_ = o == bar_outcome::revised ? "revised bar beyond late_update_horizon" : "beyond late_update_horizon";
    return accept_result::late;
}

// After a new newest bar: forget the bars more than bar_memory before it, but none that an open or
// retained window (one that may still be emitted) covers; then the hard cap.
void window_stage::forget_old_bars(const symbol_state& s, symbol_bar_memory& m) {
    const timestamp_ns newest = m.bars().back().start;
    if (newest < std::numeric_limits<timestamp_ns>::min() + opt_.bar_memory_ns) return; // nothing that old
    timestamp_ns cutoff = newest - opt_.bar_memory_ns;
    if (m.bars().front().start < cutoff) {
        if (!s.open.empty()) cutoff = std::min(cutoff, s.open.front().start);
        const retained& r = s.closed;
        for (std::size_t i = 0; i < r.count; ++i)
            cutoff = std::min(cutoff, r.items[(r.head + i) % r.items.size()].start);
        m.evict_before(cutoff);
    }
    if (m.size() > k_bar_memory_cap) bar_memory_evicted_ += m.drop_oldest(k_bar_memory_cap);
}

void window_stage::note_beyond_memory(std::uint32_t id, symbol_bars& sb, timestamp_ns start) {
    ++bars_beyond_memory_;
    if (sb.report >= 0) {
        bar_memory_report& r = reports_[static_cast<std::size_t>(sb.report)];
        ++r.count;
        r.oldest_start = std::min(r.oldest_start, start);
        return;
    }
    if (sb.reported) return; // this pass's report is drained already: counted only
    sb.reported = true;
    sb.report = static_cast<std::int32_t>(reports_.size());
    reports_.push_back({states_[id].sym, 1, start, sb.memory.memory_from()});
}

void window_stage::drain_bar_memory_reports(std::vector<bar_memory_report>& out) {
    for (const bar_memory_report& r : reports_) {
        out.push_back(r);
        bars_[symbols_.find(r.sym)].report = -1;
    }
    reports_.clear();
}

const symbol_bar_memory* window_stage::bar_memory_of(const symbol& sym) const noexcept {
    const std::uint32_t id = symbols_.find(sym);
    return id == symbol_table::k_none || id >= bars_.size() ? nullptr : &bars_[id].memory;
}

void window_stage::advance(std::int32_t p, partition_state& ps, timestamp_ns wm) {
    ps.watermark = wm;
    ps.changed = true;
    auto later = [](const heap_entry& a, const heap_entry& b) { return heap_later(a, b); };
    bool closed_any = false;
    while (!ps.heap.empty() && ps.heap.front().end <= wm) {
        const heap_entry e = ps.heap.front();
        std::pop_heap(ps.heap.begin(), ps.heap.end(), later);
        ps.heap.pop_back();
        if (e.lane != 0) {
            lane_state& l = lane(e.sym, e.lane);
            const timestamp_ns start = e.end - widths_[e.lane];
            for (std::size_t i = 0; i < l.open.size(); ++i) {
                if (l.open[i].start == start) {
                    close_lane_window(e.sym, e.lane, i);
                    closed_any = true;
                    break;
                }
            }
            continue;
        }
        symbol_state& s = states_[e.sym];
        const timestamp_ns start = e.end - opt_.width_ns;
        for (std::size_t i = 0; i < s.open.size(); ++i) {
            if (s.open[i].start == start) {
                close_window(s, i);
                closed_any = true;
                break;
            }
        }
    }
    // Downstream learns of event-time progress once per window boundary crossed, not per tick.
    if (closed_any || ps.emitted_watermark == k_no_time || wm - ps.emitted_watermark >= opt_.width_ns) {
        ps.emitted_watermark = window_start_of(wm, opt_.width_ns);
        pending_watermarks_.push_back({p, wm});
    }
}

template window_stage::accept_result window_stage::accept_in<true>(const tick&);
template window_stage::accept_result window_stage::accept_in<false>(const tick&);

// Symbol mode: the symbol's open windows are sorted by start, so those its watermark closes are a
// prefix; no heap. The partition's watermark is the highest of its symbols', and its record goes
// downstream once per window step of it (the progress of the partition's fastest symbol).
void window_stage::advance_symbol(std::int32_t p, partition_state& ps, symbol_state& s, symbol_clock& c,
                                  timestamp_ns wm) {
    c.watermark = wm;
    ps.changed = true;
    while (!s.open.empty() && s.open.front().start + opt_.width_ns <= wm) close_window(s, 0);
    if (widths_.size() > 1) close_lanes(static_cast<std::uint32_t>(&s - states_.data()), wm);
    if (ps.watermark != k_no_time && wm <= ps.watermark) return;
    ps.watermark = wm;
    if (ps.emitted_watermark == k_no_time || wm - ps.emitted_watermark >= opt_.width_ns) {
        ps.emitted_watermark = window_start_of(wm, opt_.width_ns);
        pending_watermarks_.push_back({p, wm});
    }
}

// Partition by partition, each's symbols in id order: the order a restored stage (which interns a
// partition's symbols in their saved order) repeats, so its output is the uninterrupted run's. Off
// the tick path (timers, flush); the sorted copy of a member list reuses one buffer.
template <class F> void window_stage::for_each_symbol(F&& f) {
    for (const partition_state& ps : partitions_) {
        scratch_ids_.assign(ps.members.begin(), ps.members.end());
        std::sort(scratch_ids_.begin(), scratch_ids_.end());
        for (std::uint32_t id : scratch_ids_) f(id);
    }
}

// Symbol mode: everything the symbol has open becomes final (its watermark moves past the last end).
// With lanes, a window closed opens the wider one containing it: repeat until every lane is closed.
void window_stage::close_symbol(std::uint32_t id) {
    symbol_state& s = states_[id];
    symbol_clock& c = clocks_[id];
    for (timestamp_ns last_end = last_open_end(id); last_end != k_no_time; last_end = last_open_end(id))
        advance_symbol(s.partition, partition(s.partition), s, c,
                       c.watermark == k_no_time ? last_end : std::max(c.watermark, last_end));
}

timestamp_ns window_stage::last_open_end(std::uint32_t id) const {
    const symbol_state& s = states_[id];
    timestamp_ns last_end = s.open.empty() ? k_no_time : s.open.back().start + opt_.width_ns;
    for (std::size_t k = 1; k < widths_.size(); ++k) {
        const lane_state& l = lane(id, k);
        if (!l.open.empty()) last_end = std::max(last_end, l.open.back().start + widths_[k]);
    }
    return last_end;
}

void window_stage::close_lanes(std::uint32_t id, timestamp_ns wm) {
    for (std::size_t k = 1; k < widths_.size(); ++k) {
        lane_state& l = lane(id, k);
        while (!l.open.empty() && l.open.front().start + widths_[k] <= wm) close_lane_window(id, k, 0);
    }
}

timestamp_ns window_stage::clock_watermark(std::uint32_t id) {
    return opt_.per_symbol ? clocks_[id].watermark : partition(states_[id].partition).watermark;
}

// Lane k's window containing `part`, a window of lane k-1 that was just closed (closing) or re-emitted
// (a correction). Open: it rolls `part` up when it closes. Closed and retained: re-emitted with
// revision + 1. Neither: opened, unless the clock has passed its end outside a close (a correction for
// a window that had nothing), in which case it is emitted at once.
void window_stage::feed_lane(std::uint32_t id, std::size_t k, const window_state& part, bool closing) {
    const std::int64_t wk = widths_[k];
    const timestamp_ns start = window_start_of(part.start, wk);
    lane_state& l = lane(id, k);
    const auto it = std::lower_bound(l.open.begin(), l.open.end(), start,
                                     [](const window_state& w, timestamp_ns st) { return w.start < st; });
    if (it != l.open.end() && it->start == start) {
        note_offset(*it, part.first_offset);
        note_offset(*it, part.last_offset);
        return;
    }
    window_state* r = find_retained(l.closed, start);
    const timestamp_ns wm = clock_watermark(id);
    if (r == nullptr && (closing || wm == k_no_time || start + wk > wm)) {
        window_state fresh;
        fresh.start = start;
        note_offset(fresh, part.first_offset);
        note_offset(fresh, part.last_offset);
        l.open.insert(it, fresh);
        ++open_count_;
        if (pending_bars_.capacity() <= open_count_) pending_bars_.reserve(2 * open_count_);
        if (!opt_.per_symbol) {
            partition_state& ps = partition(states_[id].partition);
            ps.heap.push_back({start + wk, id, static_cast<std::uint8_t>(k)});
            std::push_heap(ps.heap.begin(), ps.heap.end(),
                           [](const heap_entry& a, const heap_entry& b) { return heap_later(a, b); });
        }
        return;
    }
    window_state w;
    w.start = start;
    if (r != nullptr) {
        w = *r;
        ++w.revision;
    }
    note_offset(w, part.first_offset);
    note_offset(w, part.last_offset);
    w = roll_up(id, k, w);
    if (r != nullptr)
        *r = w;
    else
        retain(l.closed, lane_capacity_[k], w);
    ++corrections_;
    emit_bar(states_[id], w, wk);
    if (k + 1 < widths_.size()) feed_lane(id, k + 1, w, false);
}

// The values of lane k's window `w`: the fold of lane k-1's retained windows inside it, ascending by
// start (lane 0's with their remembered bars folded in, as emitted). Keeps w's start, offsets, revision.
window_stage::window_state window_stage::roll_up(std::uint32_t id, std::size_t k, const window_state& w,
                                                 const std::vector<window_state>* open_parts) {
    const retained& r = k == 1 ? states_[id].closed : lane(id, k - 1).closed;
    const timestamp_ns end = w.start + widths_[k];
    scratch_windows_.clear();
    for (std::size_t i = 0; i < r.count; ++i) {
        const window_state& c = r.items[(r.head + i) % r.items.size()];
        if (c.start >= w.start && c.start < end) scratch_windows_.push_back(k == 1 ? with_bars(id, c) : c);
    }
    if (open_parts != nullptr)
        for (const window_state& c : *open_parts)
            if (c.start >= w.start && c.start < end) scratch_windows_.push_back(c);
    std::sort(scratch_windows_.begin(), scratch_windows_.end(),
              [](const window_state& a, const window_state& b) { return a.start < b.start; });
    window_state v;
    v.start = w.start;
    v.first_offset = w.first_offset;
    v.last_offset = w.last_offset;
    v.revision = w.revision;
    for (const window_state& c : scratch_windows_) fold_window(v, c);
    return v;
}

void window_stage::close_lane_window(std::uint32_t id, std::size_t k, std::size_t index) {
    lane_state& l = lane(id, k);
    const window_state w = roll_up(id, k, l.open[index]);
    l.open.erase(l.open.begin() + static_cast<std::ptrdiff_t>(index));
    --open_count_;
    emit_bar(states_[id], w, widths_[k]);
    retain(l.closed, lane_capacity_[k], w);
    if (k + 1 < widths_.size()) feed_lane(id, k + 1, w, true);
}

// Merges a part (a narrower window, or a remembered source bar as a window of one trade) into w.
void window_stage::fold_window(window_state& w, const window_state& part) {
    note_offset(w, part.first_offset);
    note_offset(w, part.last_offset);
    if (part.empty) return;
    if (w.empty) {
        w.empty = false;
        w.open_ts = part.open_ts;
        w.close_ts = part.close_ts;
        w.open = part.open;
        w.high = part.high;
        w.low = part.low;
        w.close = part.close;
    } else {
        if (part.open_ts < w.open_ts) {
            w.open_ts = part.open_ts;
            w.open = part.open;
        }
        if (part.close_ts >= w.close_ts) {
            w.close_ts = part.close_ts;
            w.close = part.close;
        }
        w.high = std::max(w.high, part.high);
        w.low = std::min(w.low, part.low);
    }
    w.volume += part.volume;
    w.pv += part.pv;
    w.trades += part.trades;
}

void window_stage::close_window(symbol_state& s, std::size_t index) {
    const window_state w = s.open[index];
    s.open.erase(s.open.begin() + static_cast<std::ptrdiff_t>(index));
    --open_count_;
    retain(s, w);
    push_bar(s, w, true);
}

// A lane-0 window as emitted: its bars from the memory folded in after its trades, ascending by start.
window_stage::window_state window_stage::with_bars(std::uint32_t id, const window_state& w) const {
    if (id >= bars_.size() || bars_[id].memory.empty()) return w;
    window_state folded = w;
    for (const source_bar& sb : bars_[id].memory.range(w.start, w.start + opt_.width_ns)) {
        window_state part;
        part.open_ts = part.close_ts = sb.start;
        part.open = sb.open;
        part.high = sb.high;
        part.low = sb.low;
        part.close = sb.close;
        part.volume = sb.volume;
        part.pv = bar_pv(sb.high, sb.low, sb.close, sb.volume);
        part.trades = 1;
        part.empty = false;
        fold_window(folded, part);
    }
    return folded;
}

// Lane 0's window is retained before this (the next lane rolls up the retained windows).
void window_stage::push_bar(const symbol_state& s, const window_state& w, bool closing) {
    const auto id = static_cast<std::uint32_t>(&s - states_.data());
    if (id >= bars_.size() || bars_[id].memory.empty()) // ticks only: no copy
        emit_bar(s, w, opt_.width_ns);
    else
        emit_bar(s, with_bars(id, w), opt_.width_ns);
    if (widths_.size() > 1) feed_lane(id, 1, w, closing);
}

void window_stage::emit_bar(const symbol_state& s, const window_state& w, std::int64_t width) {
    pending_bars_.push_back(make_bar(s, w, width));
    ++bars_emitted_;
}

bar window_stage::make_bar(const symbol_state& s, const window_state& w, std::int64_t width) {
    bar b;
    b.sym = s.sym;
    b.window_start = w.start;
    b.window_end = w.start + width;
    b.open = w.open;
    b.high = w.high;
    b.low = w.low;
    b.close = w.close;
    b.volume = w.volume;
    b.pv = w.pv;
    b.trades = w.trades;
    b.vwap = w.volume > 0 ? w.pv / w.volume : k_null_double;
    b.revision = w.revision;
    b.partition = s.partition;
    b.last_offset = w.last_offset;
    return b;
}

void window_stage::note_change(std::uint32_t id) {
    if (dirty_.size() <= id) dirty_.resize(static_cast<std::size_t>(id) + 1);
    if (dirty_[id] != 0) return;
    dirty_[id] = 1;
    dirty_ids_.push_back(id);
}

// Lane by lane: lane 0's open windows as push_bar would emit them; then each wider lane's windows
// that are open or hold an open narrower window, rolled up from the narrower lane's retained windows
// and its open values. Empty windows (nothing in them yet) send nothing.
void window_stage::collect_updates() {
    for (const std::uint32_t id : dirty_ids_) {
        dirty_[id] = 0;
        const symbol_state& s = states_[id];
        update_prev_.clear();
        for (const window_state& w : s.open) {
            update_prev_.push_back(with_bars(id, w));
            if (!update_prev_.back().empty) pending_updates_.push_back(make_bar(s, update_prev_.back(), opt_.width_ns));
        }
        for (std::size_t k = 1; k < widths_.size(); ++k) {
            const std::int64_t wk = widths_[k];
            const lane_state& l = lane(id, k);
            update_starts_.clear();
            for (const window_state& w : l.open) update_starts_.push_back(w.start);
            for (const window_state& w : update_prev_) update_starts_.push_back(window_start_of(w.start, wk));
            std::sort(update_starts_.begin(), update_starts_.end());
            update_starts_.erase(std::unique(update_starts_.begin(), update_starts_.end()), update_starts_.end());
            update_cur_.clear();
            for (const timestamp_ns start : update_starts_) {
                window_state w;
                w.start = start;
                for (const window_state& o : l.open)
                    if (o.start == start) w = o; // its offsets and revision
                update_cur_.push_back(roll_up(id, k, w, &update_prev_));
                if (!update_cur_.back().empty) pending_updates_.push_back(make_bar(s, update_cur_.back(), wk));
            }
            std::swap(update_prev_, update_cur_);
        }
    }
    bar_updates_ += pending_updates_.size();
    dirty_ids_.clear();
}

void window_stage::retain(retained& r, std::size_t capacity, const window_state& w) {
    if (capacity == 0) return;
    if (r.items.size() < capacity && r.count == r.items.size()) {
        // Grow while warming up; order is preserved because we only grow when head == 0 or full.
        if (r.head != 0) {
            std::rotate(r.items.begin(), r.items.begin() + static_cast<std::ptrdiff_t>(r.head), r.items.end());
            r.head = 0;
        }
        r.items.push_back(w);
        ++r.count;
        return;
    }
    const std::size_t cap = r.items.size();
    if (r.count == cap) { // full: overwrite the oldest, which is beyond the horizon by construction
        r.items[r.head] = w;
        r.head = (r.head + 1) % cap;
    } else {
        r.items[(r.head + r.count) % cap] = w;
        ++r.count;
    }
}

window_stage::window_state* window_stage::find_retained(retained& r, timestamp_ns start) {
    const std::size_t cap = r.items.size();
    for (std::size_t i = 0; i < r.count; ++i) {
        window_state& w = r.items[(r.head + r.count - 1 - i) % cap]; // newest first
        if (w.start == start) return &w;
    }
    return nullptr;
}

void window_stage::close_partition(std::int32_t p, partition_state& ps) {
    // Everything open in this partition becomes final: move the watermark past the last end (again
    // while closing opened a wider lane's window).
    while (!ps.heap.empty()) {
        timestamp_ns last_end = k_no_time;
        for (const heap_entry& e : ps.heap) last_end = std::max(last_end, e.end);
        advance(p, ps, std::max(ps.watermark == k_no_time ? last_end : ps.watermark, last_end));
    }
}

void window_stage::close_idle(timestamp_ns now) {
    if (opt_.per_symbol) {
        for_each_symbol([this, now](std::uint32_t id) {
            if (last_open_end(id) == k_no_time || now - clocks_[id].last_seen < opt_.idle_timeout_ns) return;
            close_symbol(id);
            ++idle_closed_symbols_;
        });
        return;
    }
    for (std::size_t p = 0; p < partitions_.size(); ++p) {
        partition_state& ps = partitions_[p];
        if (!ps.heap.empty() && now - ps.last_seen >= opt_.idle_timeout_ns)
            close_partition(static_cast<std::int32_t>(p), ps);
    }
}

void window_stage::safe_offsets(std::vector<std::pair<std::int32_t, std::int64_t>>& out) const {
    out.clear();
    for (std::size_t p = 0; p < partitions_.size(); ++p)
        if (partitions_[p].next_offset >= 0) out.emplace_back(static_cast<std::int32_t>(p), partitions_[p].next_offset);
    if (out.empty()) return;
    for (const symbol_state& s : states_) {
        const auto id = static_cast<std::uint32_t>(&s - states_.data());
        if (s.open.empty() && last_open_end(id) == k_no_time) continue;
        for (auto& [p, safe] : out) {
            if (p != s.partition) continue;
            for (const window_state& w : s.open)
                if (w.first_offset >= 0 && w.first_offset < safe) safe = w.first_offset;
            for (std::size_t k = 1; k < widths_.size(); ++k) // a wider bar still to emit needs its input
                for (const window_state& w : lane(id, k).open)
                    if (w.first_offset >= 0 && w.first_offset < safe) safe = w.first_offset;
            break;
        }
    }
}

void window_stage::discard_partitions(const std::vector<std::int32_t>& partitions) {
    for (std::int32_t p : partitions) {
        if (p < 0 || static_cast<std::size_t>(p) >= partitions_.size()) continue;
        for (std::size_t id = 0; id < states_.size(); ++id) {
            symbol_state& s = states_[id];
            if (s.partition != p) continue;
            clocks_[id] = symbol_clock{};
            open_count_ -= s.open.size();
            s.open.clear();
            for (std::size_t k = 1; k < widths_.size(); ++k) {
                open_count_ -= lane(static_cast<std::uint32_t>(id), k).open.size();
                lane(static_cast<std::uint32_t>(id), k).open.clear();
            }
        }
        // The symbols stay listed: their retained windows, vwap and anomaly state are still here.
        partition_state& ps = partitions_[static_cast<std::size_t>(p)];
        std::vector<std::uint32_t> members = std::move(ps.members);
        ps = partition_state{};
        ps.members = std::move(members);
        ps.changed = true;
    }
}

void window_stage::close_all() {
    if (opt_.per_symbol) {
        for_each_symbol([this](std::uint32_t id) { close_symbol(id); });
        return;
    }
    for (std::size_t p = 0; p < partitions_.size(); ++p) close_partition(static_cast<std::int32_t>(p), partitions_[p]);
}

// Checkpointing -------------------------------------------------------------------------------------

void window_stage::join(std::uint32_t id, std::int32_t p) {
    leave(id);
    states_[id].listed = p;
    partition(p).members.push_back(id);
}

// Takes the symbol off its partition's member list. Only a symbol that changes partition (input not
// keyed by symbol) or one a restore claims has to: rare, so a linear erase is fine.
void window_stage::leave(std::uint32_t id) {
    symbol_state& s = states_[id];
    if (s.listed < 0) return;
    partition_state& ps = partitions_[static_cast<std::size_t>(s.listed)];
    std::erase(ps.members, id);
    ps.changed = true;
    s.listed = -1;
}

void window_stage::changed_partitions(std::vector<std::int32_t>& out) {
    out.clear();
    for (std::size_t p = 0; p < partitions_.size(); ++p) {
        if (!partitions_[p].changed) continue;
        partitions_[p].changed = false;
        out.push_back(static_cast<std::int32_t>(p));
    }
}

void window_stage::known_partitions(std::vector<std::int32_t>& out) const {
    out.clear();
    for (std::size_t p = 0; p < partitions_.size(); ++p) {
        const partition_state& ps = partitions_[p];
        if (!ps.members.empty() || !ps.heap.empty() || ps.max_ts != k_no_time || ps.watermark != k_no_time ||
            ps.next_offset >= 0)
            out.push_back(static_cast<std::int32_t>(p));
    }
}

void window_stage::partition_symbols(std::int32_t p, std::vector<symbol>& out) const {
    out.clear();
    if (p < 0 || static_cast<std::size_t>(p) >= partitions_.size()) return;
    std::vector<std::uint32_t> ids = partitions_[static_cast<std::size_t>(p)].members;
    std::sort(ids.begin(), ids.end());
    out.reserve(ids.size());
    for (std::uint32_t id : ids) out.push_back(states_[id].sym);
}

namespace {

// start, open_ts, close_ts, open, high, low, close, volume, pv, trades, first_offset, last_offset,
// revision, empty.
constexpr std::size_t k_window_bytes = 3 * 8 + 6 * 8 + 8 + 2 * 8 + 4 + 1;
// A symbol's record: open count, windows, retained count, windows.
constexpr std::size_t k_window_symbol_bytes = 4 + 4;
constexpr std::size_t k_window_partition_bytes = 4 * 8;
// A symbol's clock: max_ts, watermark.
constexpr std::size_t k_clock_bytes = 2 * 8;

} // namespace

void window_stage::save_checkpoint(std::int32_t p, const std::vector<symbol>& syms, checkpoint_writer& out) const {
    const bool known = p >= 0 && static_cast<std::size_t>(p) < partitions_.size();
    const partition_state none;
    const partition_state& ps = known ? partitions_[static_cast<std::size_t>(p)] : none;
    out.record(ps.max_ts, ps.watermark, ps.emitted_watermark, ps.next_offset);
    auto put = [&out](const window_state& w) {
        out.record(w.start, w.open_ts, w.close_ts, w.open, w.high, w.low, w.close, w.volume, w.pv, w.trades,
                   w.first_offset, w.last_offset, w.revision, w.empty);
    };
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        if (id == symbol_table::k_none) {
            out.u32(0);
            out.u32(0);
            continue;
        }
        const symbol_state& s = states_[id];
        out.u32(static_cast<std::uint32_t>(s.open.size()));
        for (const window_state& w : s.open) put(w);
        // Retained windows oldest first: restored into a ring with head 0, they are found, and
        // overwritten, in the same order as here.
        const retained& r = s.closed;
        out.u32(static_cast<std::uint32_t>(r.count));
        for (std::size_t i = 0, at = r.head; i < r.count; ++i, at = at + 1 == r.items.size() ? 0 : at + 1)
            put(r.items[at]);
    }
}

void window_stage::save_clocks(const std::vector<symbol>& syms, checkpoint_writer& out) const {
    out.u8(opt_.per_symbol ? 1 : 0);
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        if (!opt_.per_symbol || id == symbol_table::k_none)
            out.record(k_no_time, k_no_time);
        else
            out.record(clocks_[id].max_ts, clocks_[id].watermark);
    }
}

bool window_stage::restore_checkpoint(std::int32_t p, const std::vector<symbol>& syms, checkpoint_reader& in,
                                      checkpoint_reader* clocks, bool apply, timestamp_ns now) {
    // The clocks first: the mode byte and one 16-byte clock per symbol, nothing more.
    bool saved_per_symbol = false;
    std::vector<symbol_clock> saved_clocks(syms.size());
    if (clocks != nullptr) {
        const std::uint8_t mode = clocks->u8();
        if (mode > 1) clocks->fail("event-time mode " + std::to_string(mode) + " (0 partition, 1 symbol)");
        saved_per_symbol = mode == 1;
        if (clocks->left() != syms.size() * k_clock_bytes)
            clocks->fail("clock section of " + std::to_string(clocks->left()) + " bytes for " +
                         std::to_string(syms.size()) + " symbols");
        for (symbol_clock& c : saved_clocks) {
            clocks->record("symbol clock", c.max_ts, c.watermark);
            if (!saved_per_symbol && (c.max_ts != k_no_time || c.watermark != k_no_time))
                clocks->fail("a symbol clock saved in partition mode");
        }
    }

    const std::int64_t width = opt_.width_ns;
    auto get = [&in, width](const char* what) {
        window_state w;
        in.record(what, w.start, w.open_ts, w.close_ts, w.open, w.high, w.low, w.close, w.volume, w.pv, w.trades,
                  w.first_offset, w.last_offset, w.revision, w.empty);
        if (w.start % width != 0 || w.start > std::numeric_limits<timestamp_ns>::max() - width)
            in.fail(std::string(what) + " window start not a window boundary");
        return w;
    };

    if (in.left() < k_window_partition_bytes + syms.size() * k_window_symbol_bytes)
        in.fail("truncated: window section shorter than its symbols");
    partition_state fields;
    in.record("partition fields", fields.max_ts, fields.watermark, fields.emitted_watermark, fields.next_offset);

    partition_state* ps = nullptr;
    if (apply) {
        ps = &partition(p);
        // Forget what the partition holds: its symbols' windows and its watermarks.
        for (std::uint32_t id : ps->members) {
            symbol_state& s = states_[id];
            clocks_[id] = symbol_clock{};
            if (id < bars_.size()) set_bar_memory(id, k_no_time, {});
            open_count_ -= s.open.size();
            s.open.clear();
            s.closed.items.clear();
            s.closed.head = s.closed.count = 0;
            for (std::size_t k = 1; k < widths_.size(); ++k) {
                open_count_ -= lane(id, k).open.size();
                lane(id, k) = lane_state{};
            }
            s.listed = -1;
        }
        ps->members.clear();
        ps->heap.clear();
        ps->max_ts = fields.max_ts;
        ps->watermark = fields.watermark;
        ps->emitted_watermark = fields.emitted_watermark;
        ps->next_offset = fields.next_offset;
        ps->last_seen = now;
    }

    std::vector<window_state> open, closed;
    for (std::size_t k = 0; k < syms.size(); ++k) {
        const symbol& sym = syms[k];
        open.clear();
        closed.clear();
        const std::uint32_t n_open = in.count(k_window_bytes, "open windows");
        for (std::uint32_t i = 0; i < n_open; ++i) {
            open.push_back(get("open window"));
            if (i > 0 && open[i].start <= open[i - 1].start) in.fail("open windows not in ascending order");
        }
        const std::uint32_t n_closed = in.count(k_window_bytes, "retained windows");
        for (std::uint32_t i = 0; i < n_closed; ++i) closed.push_back(get("retained window"));
        if (!apply) continue;

        bool added = false;
        const std::uint32_t id = symbols_.intern(sym, added);
        if (added) add_state(sym);
        if (states_[id].listed >= 0) { // held by another partition here: take it over
            symbol_state& s = states_[id];
            partition_state& other = partitions_[static_cast<std::size_t>(s.listed)];
            std::erase_if(other.heap, [id](const heap_entry& e) { return e.sym == id; });
            std::make_heap(other.heap.begin(), other.heap.end(),
                           [](const heap_entry& a, const heap_entry& b) { return heap_later(a, b); });
            open_count_ -= s.open.size();
            s.open.clear();
            for (std::size_t k = 1; k < widths_.size(); ++k) {
                open_count_ -= lane(id, k).open.size();
                lane(id, k).open.clear();
            }
            leave(id);
        }
        symbol_state& s = states_[id];
        s.partition = p;
        s.listed = p;
        ps->members.push_back(id);
        s.open.assign(open.begin(), open.end());
        open_count_ += s.open.size();
        if (!opt_.per_symbol)
            for (const window_state& w : s.open) ps->heap.push_back({w.start + width, id});
        // Without a clock of its own the symbol runs on its partition's, as it did when saved.
        const symbol_clock& c = saved_clocks[k];
        const bool own = saved_per_symbol && (c.max_ts != k_no_time || c.watermark != k_no_time);
        clocks_[id] =
            own ? symbol_clock{c.max_ts, c.watermark, now} : symbol_clock{fields.max_ts, fields.watermark, now};
        // The newest retain_capacity_ (this stage's horizon may be shorter than the saver's).
        const std::size_t keep = std::min(closed.size(), retain_capacity_);
        s.closed.items.assign(closed.end() - static_cast<std::ptrdiff_t>(keep), closed.end());
        s.closed.head = 0;
        s.closed.count = keep;
    }
    in.expect_end("window section");
    if (!apply) return saved_per_symbol;
    std::make_heap(ps->heap.begin(), ps->heap.end(),
                   [](const heap_entry& a, const heap_entry& b) { return heap_later(a, b); });
    if (pending_bars_.capacity() <= open_count_) pending_bars_.reserve(2 * open_count_);
    ps->changed = false;
    return saved_per_symbol;
}

void window_stage::set_bar_memory(std::uint32_t id, timestamp_ns from, std::vector<source_bar> bars) {
    if (bars_.size() <= id) bars_.resize(static_cast<std::size_t>(id) + 1);
    symbol_bar_memory& m = bars_[id].memory;
    bar_memory_bars_ -= m.size();
    bar_memory_bytes_ -= m.bytes();
    m.assign(from, std::move(bars));
    bar_memory_bars_ += m.size();
    bar_memory_bytes_ += m.bytes();
    bars_[id].report = -1;
    bars_[id].reported = false;
}

namespace {

constexpr std::size_t k_source_bar_bytes = 6 * 8; // start, open, high, low, close, volume

} // namespace

void window_stage::save_bar_memory(const std::vector<symbol>& syms, checkpoint_writer& out) const {
    for (const symbol& sym : syms) {
        const symbol_bar_memory* m = bar_memory_of(sym);
        if (m == nullptr) {
            out.record(k_no_time, std::uint32_t{0});
            continue;
        }
        out.record(m->memory_from(), static_cast<std::uint32_t>(m->size()));
        for (const source_bar& b : m->bars()) out.record(b.start, b.open, b.high, b.low, b.close, b.volume);
    }
}

void window_stage::restore_bar_memory(const std::vector<symbol>& syms, checkpoint_reader* in, bool apply) {
    std::vector<source_bar> bars;
    for (const symbol& sym : syms) {
        timestamp_ns from = k_no_time;
        bars.clear();
        if (in != nullptr) {
            in->record("bar memory", from);
            const std::uint32_t n = in->count(k_source_bar_bytes, "remembered bars");
            bars.resize(n);
            for (std::uint32_t i = 0; i < n; ++i) {
                source_bar& b = bars[i];
                in->record("remembered bar", b.start, b.open, b.high, b.low, b.close, b.volume);
                if (b.start < from) in->fail("a remembered bar before its memory_from");
                if (i > 0 && b.start <= bars[i - 1].start) in->fail("remembered bars not in ascending order");
            }
        }
        if (!apply) continue;
        const std::uint32_t id = symbols_.find(sym); // restore_checkpoint interned every symbol
        if (opt_.bar_memory_ns <= 0) {
            if (id < bars_.size()) set_bar_memory(id, k_no_time, {});
            continue;
        }
        if (in == nullptr) {
            const timestamp_ns max_ts = clocks_[id].max_ts;
            if (max_ts == k_no_time && id >= bars_.size()) continue;
            from = max_ts == k_no_time ? k_no_time : max_ts + 1;
        }
        set_bar_memory(id, from, bars);
    }
    if (in != nullptr) in->expect_end("bar memory section");
}

void window_stage::save_lanes(const std::vector<symbol>& syms, checkpoint_writer& out) const {
    out.u8(static_cast<std::uint8_t>(widths_.size() - 1));
    for (std::size_t k = 1; k < widths_.size(); ++k) out.i64(widths_[k]);
    auto put = [&out](const window_state& w) {
        out.record(w.start, w.open_ts, w.close_ts, w.open, w.high, w.low, w.close, w.volume, w.pv, w.trades,
                   w.first_offset, w.last_offset, w.revision, w.empty);
    };
    for (const symbol& sym : syms) {
        const std::uint32_t id = symbols_.find(sym);
        for (std::size_t k = 1; k < widths_.size(); ++k) {
            if (id == symbol_table::k_none) {
                out.u32(0);
                out.u32(0);
                continue;
            }
            const lane_state& l = lane(id, k);
            out.u32(static_cast<std::uint32_t>(l.open.size()));
            for (const window_state& w : l.open) put(w);
            const retained& r = l.closed;
            out.u32(static_cast<std::uint32_t>(r.count));
            for (std::size_t i = 0, at = r.head; i < r.count; ++i, at = at + 1 == r.items.size() ? 0 : at + 1)
                put(r.items[at]);
        }
    }
}

void window_stage::restore_lanes(const std::vector<symbol>& syms, checkpoint_reader* in, bool apply) {
    if (in == nullptr) return; // saved with one width: the extra lanes start empty (restore_checkpoint cleared them)
    const std::uint8_t lanes = in->u8();
    if (lanes + 1U != widths_.size()) in->fail("saved with " + std::to_string(lanes + 1U) + " widths");
    for (std::size_t k = 1; k < widths_.size(); ++k)
        if (in->i64() != widths_[k]) in->fail("saved with other widths");
    std::vector<window_state> open, closed;
    for (const symbol& sym : syms) {
        for (std::size_t k = 1; k < widths_.size(); ++k) {
            const std::int64_t wk = widths_[k];
            auto get = [in, wk](const char* what) {
                window_state w;
                in->record(what, w.start, w.open_ts, w.close_ts, w.open, w.high, w.low, w.close, w.volume, w.pv,
                           w.trades, w.first_offset, w.last_offset, w.revision, w.empty);
                if (w.start % wk != 0 || w.start > std::numeric_limits<timestamp_ns>::max() - wk)
                    in->fail(std::string(what) + " window start not a window boundary");
                return w;
            };
            open.clear();
            closed.clear();
            const std::uint32_t n_open = in->count(k_window_bytes, "open lane windows");
            for (std::uint32_t i = 0; i < n_open; ++i) {
                open.push_back(get("open lane window"));
                if (i > 0 && open[i].start <= open[i - 1].start) in->fail("open lane windows not in ascending order");
            }
            const std::uint32_t n_closed = in->count(k_window_bytes, "retained lane windows");
            for (std::uint32_t i = 0; i < n_closed; ++i) closed.push_back(get("retained lane window"));
            if (!apply) continue;
            const std::uint32_t id = symbols_.find(sym); // restore_checkpoint interned every symbol
            lane_state& l = lane(id, k);
            open_count_ -= l.open.size();
            l.open.assign(open.begin(), open.end());
            open_count_ += l.open.size();
            const std::size_t keep = std::min(closed.size(), lane_capacity_[k]);
            l.closed.items.assign(closed.end() - static_cast<std::ptrdiff_t>(keep), closed.end());
            l.closed.head = 0;
            l.closed.count = keep;
            if (!opt_.per_symbol) {
                partition_state& ps = partition(states_[id].partition);
                for (const window_state& w : l.open)
                    ps.heap.push_back({w.start + wk, id, static_cast<std::uint8_t>(k)});
            }
        }
    }
    in->expect_end("lane section");
    if (!apply) return;
    for (partition_state& ps : partitions_)
        std::make_heap(ps.heap.begin(), ps.heap.end(),
                       [](const heap_entry& a, const heap_entry& b) { return heap_later(a, b); });
    if (pending_bars_.capacity() <= open_count_) pending_bars_.reserve(2 * open_count_);
}

} // namespace tapewire
