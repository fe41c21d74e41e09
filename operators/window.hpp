// window: event-time tumbling windows per symbol → bars.
//
// The window of ts is [floor(ts/W)*W, +W). Event time runs on a watermark = max ts seen −
// allowed_lateness, kept either per input partition (partition mode: one clock for every symbol of
// the partition) or per symbol (symbol mode: each symbol its own clock, for feeds whose symbols are
// not in step, such as one file or one day of bars per symbol). A window is final, and emitted once,
// when its clock's watermark reaches its end. A tick whose window was already emitted is late:
// counted, dead-lettered as `late`, and if the window ended no more than late_update_horizon before
// that watermark, the corrected bar is emitted again with revision + 1. A partition (a symbol, in
// symbol mode) that receives nothing for idle_timeout of processing time closes its windows.
// flush() closes everything (end of input).
//
// Merging: open from the earliest ts (ties: first arrived), close from the latest ts (ties: last
// arrived), high max, low min, volume and the VWAP numerator summed, trades counted.
//
// Bar input (bar_memory_ns > 0): a bar message (is_bar) is the complete bar of its (symbol, start).
// Each symbol's bars are remembered (operators/bar_memory.hpp) and folded into a window, after its
// trades, whenever the window is emitted; a re-sent bar adds nothing, a changed one replaces its
// values and re-emits an emitted window with revision + 1. docs/design.md, "Bar input", has the rest.
//
// Several widths (lanes): lane 0 is the narrowest and the only one ticks touch. A window of lane k
// opens when a window of lane k-1 inside it closes, closes when its clock passes its end (after
// those inside it), and is the roll-up (fold_window) of lane k-1's windows inside it, in start order:
// the same fold that folds remembered source bars into a window. A correction of lane k-1 re-emits
// the lane-k window containing it with revision + 1. So a wider bar always equals the roll-up of the
// narrower bars as last emitted, and a tick dead-lettered late for lane 0 counts in no lane. The tick
// path is unchanged: the extra lanes cost nothing per tick, a little per lane-0 window closed.
//
// Live bars (emit_updates_ns > 0): a tick or bar that changes an open window marks its symbol; every
// emit_updates_ns of processing time (on_timer) each marked symbol's open bars go out as
// on_bar_update, in every lane (a wider lane's: the roll-up so far, its narrower open windows folded
// in), with the symbol's remembered bars folded in as at emission. Symbols that did not change send
// nothing; final bars are emitted exactly as without updates. Off, the tick path pays one branch.
//
// Memory per symbol: 88 B of state and a 24 B clock (symbol_clock, kept in both modes so that a
// restore may switch), plus 104 B per open window (usually one or two) and the retained ring of
// closed windows, (late_update_horizon / W + 2) x 104 B once warm (6.4 KB at 1 s and 1 min), plus
// its symbol_table entry; with bar input 48 B per remembered bar (up to twice that with slack) and
// 48 B of bookkeeping. Per partition: 96 B, 4 B per member symbol, and in partition mode 16 B per
// open window in its heap (symbol mode keeps no heap: a symbol's open windows are sorted by start).
// With lanes, each lane k >= 1 adds 56 B, its open windows and a ring of (late_update_horizon /
// W_k + 2) closed windows; lane k-1's ring grows by W_k / W_(k-1) windows (the roll-up reads them):
// 1s, 1m, 5m with a 60 s horizon keep 122 + 8 + 2 closed windows, about 14 KB per symbol.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "operators/bar_memory.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/stage.hpp"
#include "tapewire/symbol_table.hpp"

namespace tapewire {

class checkpoint_reader;
class checkpoint_writer;

struct window_options {
    std::int64_t width_ns = 1'000'000'000;
    std::int64_t allowed_lateness_ns = 200'000'000;
    std::int64_t idle_timeout_ns = 5'000'000'000;         // 0 = never close on silence
    std::int64_t late_update_horizon_ns = 60'000'000'000; // 0 = never correct a bar
    bool per_symbol = false;                              // event time per symbol, not per partition
    std::int64_t bar_memory_ns = 31 * 86'400'000'000'000; // 0 = bars merge like trades (operators/bar_memory.hpp)
    // Several widths at once (window.widths): ascending, each a multiple of the one before, the first
    // equal to width_ns (empty: width_ns alone). Lane k's bars are rolled up from lane k-1's.
    std::vector<std::int64_t> widths_ns;
    // Live bars (window.emit_updates): every this much processing time, the open bars of each symbol
    // that changed since the last time go out as on_bar_update, every lane. 0 = off.
    std::int64_t emit_updates_ns = 0;
};

// Re-sent bars older than a symbol's bar memory, one report per symbol and pass (a run of them
// between two bars the memory still holds); the runtime drains and logs these.
struct bar_memory_report {
    symbol sym;
    std::uint64_t count = 0;       // bars beyond memory in this pass so far
    timestamp_ns oldest_start = 0; // the oldest of them
    timestamp_ns memory_from = 0;  // the symbol's memory is complete from here
};

class window_stage : public pass_through {
public:
    explicit window_stage(const window_options& opt);

    template <class E> void on_tick(const tick& t, E& out) {
        const accept_result r = accept(t);
        drain(out);
        if (r != accept_result::accepted) {
            if (r == accept_result::late) {
                char buf[256];
                json_buffer j(buf, sizeof buf);
                write_tick_json(j, t);
                out.on_dead_letter(
                    dead_letter_view{dead_letter_reason::late, j.view(), t.sym.view(), late_detail_, t.src});
            }
            return;
        }
        out.on_tick(t);
    }

    template <class E> void on_timer(timestamp_ns now, E& out) {
        now_ = now;
        if (opt_.idle_timeout_ns > 0 && now - last_idle_scan_ >= opt_.idle_timeout_ns / 4) {
            last_idle_scan_ = now;
            close_idle(now);
            drain(out);
        }
        // (A processing clock that stepped back restarts the cadence rather than pausing it.)
        if (opt_.emit_updates_ns > 0 &&
            (last_update_ == k_no_time || now < last_update_ || now - last_update_ >= opt_.emit_updates_ns)) {
            last_update_ = now;
            collect_updates();
            for (const bar& b : pending_updates_) out.on_bar_update(b);
            pending_updates_.clear();
        }
    }

    template <class E> void flush(E& out) {
        close_all();
        drain(out);
        out.on_flush();
    }

    // Counters.
    [[nodiscard]] std::uint64_t bars_emitted() const noexcept { return bars_emitted_; }
    // Open bars sent as updates (window.emit_updates), not counted in bars_emitted.
    [[nodiscard]] std::uint64_t bar_updates() const noexcept { return bar_updates_; }
    [[nodiscard]] std::uint64_t late_ticks() const noexcept { return late_; }
    [[nodiscard]] std::uint64_t corrections() const noexcept { return corrections_; }
    [[nodiscard]] std::size_t open_windows() const noexcept { return open_count_; }
    // Symbol mode: symbols whose windows idle_timeout closed (one per silence).
    [[nodiscard]] std::uint64_t idle_closed_symbols() const noexcept { return idle_closed_symbols_; }
    // The partition's watermark; in symbol mode the highest of its symbols' (the fastest symbol's).
    [[nodiscard]] timestamp_ns watermark_of(std::int32_t partition) const noexcept;
    // A symbol's own watermark in symbol mode (k_no_time if never seen or in partition mode).
    [[nodiscard]] timestamp_ns symbol_watermark(const symbol& s) const noexcept;
    [[nodiscard]] bool per_symbol() const noexcept { return opt_.per_symbol; }

    // Bar input (a tick with is_bar, bar_memory_ns > 0): bars not remembered before; re-sent unchanged
    // (no effect); re-sent changed (replaced their earlier values); re-sent older than the memory (no
    // effect, reported); forgotten by the hard cap k_bar_memory_cap before bar_memory had passed.
    [[nodiscard]] std::uint64_t new_bars() const noexcept { return new_bars_; }
    [[nodiscard]] std::uint64_t duplicate_bars() const noexcept { return duplicate_bars_; }
    [[nodiscard]] std::uint64_t bar_revisions() const noexcept { return bar_revisions_; }
    [[nodiscard]] std::uint64_t bars_beyond_memory() const noexcept { return bars_beyond_memory_; }
    [[nodiscard]] std::uint64_t bar_memory_evicted() const noexcept { return bar_memory_evicted_; }
    // What the bar memory holds now, over all symbols (48 B a bar plus vector slack).
    [[nodiscard]] std::size_t bar_memory_bars() const noexcept { return bar_memory_bars_; }
    [[nodiscard]] std::size_t bar_memory_bytes() const noexcept { return bar_memory_bytes_; }
    // The reports made since the last call, appended to `out`. Call it on a timer.
    void drain_bar_memory_reports(std::vector<bar_memory_report>& out);
    // A symbol's bar memory (nullptr if it never received a bar), for tests and checkpoints.
    [[nodiscard]] const symbol_bar_memory* bar_memory_of(const symbol& s) const noexcept;

    // Per partition seen, the offset from which a re-read would rebuild every open window: the
    // first offset of its oldest open window, or the offset after the last tick when none is open.
    // Offsets below it are done with and may be committed. Scans the open windows: call it on a
    // timer, not per tick.
    void safe_offsets(std::vector<std::pair<std::int32_t, std::int64_t>>& out) const;

    // The partitions were handed to another consumer, which re-reads from the safe offsets: forget
    // their open windows (without emitting them) and their watermarks.
    void discard_partitions(const std::vector<std::int32_t>& partitions);

    // Checkpointing (operators/checkpoint.hpp defines the format and drives the save/restore calls).
    //
    // Partitions whose state changed since the last call (a tick, on time or late, a window closed by
    // a timer or a flush, a discard), ascending; clears their flags. `out` is replaced. A restore
    // clears its partition's flag: the state is then the saved one.
    void changed_partitions(std::vector<std::int32_t>& out);
    // Partitions holding any state (symbols, windows, a watermark or an offset), ascending.
    void known_partitions(std::vector<std::int32_t>& out) const;
    // The symbols of `partition` (whose last tick came from it), in the order of their ids here.
    // Each partition keeps a list of its symbols, so this and a save cost O(the partition's symbols).
    void partition_symbols(std::int32_t partition, std::vector<symbol>& out) const;
    [[nodiscard]] std::int64_t width_ns() const noexcept { return opt_.width_ns; }
    // Every lane's width, narrowest (lane 0, width_ns()) first.
    [[nodiscard]] const std::vector<std::int64_t>& widths_ns() const noexcept { return widths_; }
    // Writes, for each of `syms` and each lane k >= 1, its open windows (start, offsets and revision
    // only: their values are rolled up at close) and its retained closed windows.
    void save_lanes(const std::vector<symbol>& syms, checkpoint_writer& out) const;
    // Reads what save_lanes wrote, after restore_checkpoint (apply = false only checks it). Without
    // the section (in == nullptr) the extra lanes start empty: a lane-k window whose narrower windows
    // closed before the save is then emitted from those still retained, or not at all.
    void restore_lanes(const std::vector<symbol>& syms, checkpoint_reader* in, bool apply);
    [[nodiscard]] std::int64_t bar_memory_ns() const noexcept { return opt_.bar_memory_ns; }
    // Writes the partition's fields, then, for each of `syms` (from partition_symbols), its open
    // windows and its retained closed windows.
    void save_checkpoint(std::int32_t partition, const std::vector<symbol>& syms, checkpoint_writer& out) const;
    // Writes the event-time mode, then each of `syms`' clock (max_ts, watermark; k_no_time for both in
    // partition mode, where the partition's fields are the clock).
    void save_clocks(const std::vector<symbol>& syms, checkpoint_writer& out) const;
    // Reads what save_checkpoint (and save_clocks, into `clocks`, when the blob has them) wrote.
    // apply = false only checks it: throws std::runtime_error on malformed input and changes nothing.
    // apply = true (on bytes that passed the check) replaces the partition's state and its symbols'
    // windows (other symbols of the partition are forgotten; `syms` held by another partition here
    // move over); last_seen restarts at `now`. The heap of open windows is rebuilt from them (with
    // this stage's symbol ids), not saved. A symbol without a clock of its own (clocks == nullptr, a
    // blob of format 1, or one saved in partition mode) takes its partition's: exact, since every
    // window that was open stays open and every closed one stays closed. Returns whether the blob
    // was saved in symbol mode.
    bool restore_checkpoint(std::int32_t partition, const std::vector<symbol>& syms, checkpoint_reader& in,
                            checkpoint_reader* clocks, bool apply, timestamp_ns now);
    // Writes each of `syms`' bar memory: i64 memory_from, u32 n, n remembered bars (ascending start).
    void save_bar_memory(const std::vector<symbol>& syms, checkpoint_writer& out) const;
    // Reads what save_bar_memory wrote (apply = false only checks it, as restore_checkpoint does), after
    // restore_checkpoint. Without the section (in == nullptr: a blob older than bar memory) each symbol
    // restores an empty memory complete only after its clock's max_ts: a bar the saver may already
    // have merged (additively) counts as beyond memory if re-sent, and is not merged twice.
    void restore_bar_memory(const std::vector<symbol>& syms, checkpoint_reader* in, bool apply);

private:
    // accepted: forwarded downstream; late: dead-lettered (late_detail_ says why); absorbed: neither
    // (a bar that changed nothing new downstream, or only re-emitted a bar).
    enum class accept_result { accepted, late, absorbed };

    struct window_state {
        timestamp_ns start = 0;
        timestamp_ns open_ts = 0, close_ts = 0;
        double open = 0, high = 0, low = 0, close = 0, volume = 0, pv = 0;
        std::uint64_t trades = 0;
        std::int64_t first_offset = -1; // offset of the first tick merged (offsets rise within a partition)
        std::int64_t last_offset = -1;
        std::uint32_t revision = 0;
        bool empty = true;
    };

    // Recently closed windows of one symbol, kept for late corrections; oldest dropped first.
    struct retained {
        std::vector<window_state> items; // circular
        std::size_t head = 0, count = 0;
    };

    struct symbol_state {
        symbol sym;
        std::int32_t partition = 0;
        std::int32_t listed = -1;       // the partition whose member list holds this symbol (-1: none)
        std::vector<window_state> open; // sorted by start, usually one or two
        retained closed;
    };

    // A symbol's event-time clock in symbol mode, indexed by symbol id beside states_ (a side vector:
    // partition mode never reads it, and symbol_state keeps its size).
    struct symbol_clock {
        timestamp_ns max_ts = k_no_time;
        timestamp_ns watermark = k_no_time;
        timestamp_ns last_seen = 0; // processing time of the symbol's last tick
    };

    // A symbol's bar memory and its beyond-memory reporting, indexed by symbol id beside states_ and
    // grown only when a bar arrives (tick feeds never touch it).
    struct symbol_bars {
        symbol_bar_memory memory;
        std::int32_t report = -1; // index in reports_ of this pass's report, until drained
        bool reported = false;    // this pass (since the last bar the memory held) has had its report
    };

    struct heap_entry {
        timestamp_ns end;
        std::uint32_t sym;
        std::uint8_t lane = 0; // in the padding: still 16 B
    };

    // The windows of one symbol in one lane k >= 1 (lane 0 is symbol_state's open/closed). An open
    // one holds its start, offsets and revision; its values are rolled up when it closes.
    struct lane_state {
        std::vector<window_state> open; // sorted by start
        retained closed;
    };

    struct partition_state {
        timestamp_ns max_ts = k_no_time;
        timestamp_ns watermark = k_no_time;
        timestamp_ns emitted_watermark = k_no_time;
        timestamp_ns last_seen = 0;         // processing time of the last tick
        std::int64_t next_offset = -1;      // offset after the last tick seen (-1: none numbered)
        std::vector<heap_entry> heap;       // min-heap on (end, sym) of open windows
        std::vector<std::uint32_t> members; // symbols whose last tick came from here (checkpoints)
        bool changed = false;               // state changed since the last changed_partitions()
    };

    // One predicted branch picks the mode; each mode's tick path is compiled on its own.
    accept_result accept(const tick& t) { return opt_.per_symbol ? accept_in<true>(t) : accept_in<false>(t); }
    template <bool PerSymbol> accept_result accept_in(const tick& t);
    template <bool PerSymbol>
    accept_result accept_bar(const tick& t, std::uint32_t id, partition_state& ps, timestamp_ns watermark);
    accept_result late_bar(symbol_state& s, bar_outcome o, timestamp_ns start, timestamp_ns watermark,
                           std::int64_t offset);
    template <bool PerSymbol> void open_window(std::uint32_t id, partition_state& ps,
                                               std::vector<window_state>::iterator at, const window_state& fresh);
    template <bool PerSymbol>
    void advance_clock(std::uint32_t id, std::int32_t p, partition_state& ps, timestamp_ns ts);
    void forget_old_bars(const symbol_state& s, symbol_bar_memory& m);
    void note_beyond_memory(std::uint32_t id, symbol_bars& sb, timestamp_ns start);
    // Replaces a symbol's bar memory (keeping the running totals), or empties it (memory_from = from).
    void set_bar_memory(std::uint32_t id, timestamp_ns from, std::vector<source_bar> bars);
    void add_state(const symbol& sym); // for a symbol just interned: its state and clock
    partition_state& partition(std::int32_t p);
    void advance(std::int32_t p, partition_state& ps, timestamp_ns wm);
    void advance_symbol(std::int32_t p, partition_state& ps, symbol_state& s, symbol_clock& c, timestamp_ns wm);
    void close_symbol(std::uint32_t id);
    template <class F> void for_each_symbol(F&& f);
    void close_window(symbol_state& s, std::size_t index);
    void close_idle(timestamp_ns now);
    void close_partition(std::int32_t p, partition_state& ps);
    void close_all();
    static window_state* find_retained(retained& r, timestamp_ns start);
    static void retain(retained& r, std::size_t capacity, const window_state& w);
    window_state* find_retained(symbol_state& s, timestamp_ns start) { return find_retained(s.closed, start); }
    void retain(symbol_state& s, const window_state& w) { retain(s.closed, retain_capacity_, w); }
    // A change to a final window within late_update_horizon, for a late tick and a late bar alike:
    // the retained window gets it and revision + 1 (or, never emitted, a fresh one is retained);
    // emitted again (feeding the wider widths) and counted as a correction.
    template <class Change> void correct(symbol_state& s, timestamp_ns start, Change&& change);
    // Emits a lane-0 window (folding the symbol's remembered bars in) and feeds the next lane.
    void push_bar(const symbol_state& s, const window_state& w, bool closing = false);
    [[nodiscard]] window_state with_bars(std::uint32_t id, const window_state& w) const;
    void emit_bar(const symbol_state& s, const window_state& w, std::int64_t width);
    [[nodiscard]] static bar make_bar(const symbol_state& s, const window_state& w, std::int64_t width);
    // Live bars: a change to one of the symbol's open windows (off the tick path: only with updates on).
    [[gnu::noinline]] void note_change(std::uint32_t id);
    // The open bars of the symbols changed since the last call, every lane, into pending_updates_.
    void collect_updates();
    // Lanes: lane k's window containing `part` (a window of lane k-1 just closed or re-emitted).
    lane_state& lane(std::uint32_t id, std::size_t k) { return lanes_[id * (widths_.size() - 1) + k - 1]; }
    [[nodiscard]] const lane_state& lane(std::uint32_t id, std::size_t k) const {
        return lanes_[id * (widths_.size() - 1) + k - 1];
    }
    void feed_lane(std::uint32_t id, std::size_t k, const window_state& part, bool closing);
    // With `open_parts` (lane k-1's open windows as they would be emitted now), those inside w are
    // folded in too: the wider lane's open bar so far, for an update.
    [[nodiscard]] window_state roll_up(std::uint32_t id, std::size_t k, const window_state& w,
                                       const std::vector<window_state>* open_parts = nullptr);
    void close_lane_window(std::uint32_t id, std::size_t k, std::size_t index);
    void close_lanes(std::uint32_t id, timestamp_ns wm);              // symbol mode: lanes >= 1 up to wm
    [[nodiscard]] timestamp_ns last_open_end(std::uint32_t id) const; // over every lane; k_no_time if none
    [[nodiscard]] timestamp_ns clock_watermark(std::uint32_t id);
    static void fold_window(window_state& w, const window_state& part);
    void join(std::uint32_t id, std::int32_t partition);
    void leave(std::uint32_t id);
    static void merge(window_state& w, const tick& t);
    static void note_offset(window_state& w, std::int64_t offset); // a bar's message, folded in at emission

    template <class E> void drain(E& out) {
        if (pending_bars_.empty() && pending_watermarks_.empty()) return;
        for (const bar& b : pending_bars_) out.on_bar(b);
        pending_bars_.clear();
        for (const watermark& w : pending_watermarks_) out.on_watermark(w);
        pending_watermarks_.clear();
    }

    window_options opt_;
    std::size_t retain_capacity_;
    std::vector<std::int64_t> widths_;          // per lane, widths_[0] == opt_.width_ns
    std::vector<std::size_t> lane_capacity_;    // retained ring per lane (lane 0: retain_capacity_)
    std::vector<lane_state> lanes_;             // (id, lane k >= 1) at id * (lanes - 1) + k - 1
    std::vector<window_state> scratch_windows_; // roll_up's buffer
    symbol_table symbols_;
    std::vector<symbol_state> states_;
    std::vector<symbol_clock> clocks_;       // beside states_, same ids
    std::vector<std::uint32_t> scratch_ids_; // for_each_symbol's buffer
    std::vector<partition_state> partitions_;
    std::vector<bar> pending_bars_;
    std::vector<watermark> pending_watermarks_;
    // Live bars; not checkpointed: a restored stage sends its next updates at the next change.
    std::vector<std::uint8_t> dirty_;      // beside states_, same ids (grown by note_change)
    std::vector<std::uint32_t> dirty_ids_; // changed since the last updates, in order of first change
    std::vector<bar> pending_updates_;
    std::vector<window_state> update_prev_, update_cur_; // a lane's open values, read by the next lane
    std::vector<timestamp_ns> update_starts_;
    timestamp_ns last_update_ = k_no_time;
    std::uint64_t bar_updates_ = 0;
    timestamp_ns now_ = 0;
    timestamp_ns last_idle_scan_ = 0;
    const char* late_detail_ = "";
    std::vector<symbol_bars> bars_; // beside states_, same ids, as long as the highest id that sent a bar
    std::vector<bar_memory_report> reports_;
    std::uint64_t new_bars_ = 0, duplicate_bars_ = 0, bar_revisions_ = 0, bars_beyond_memory_ = 0,
                  bar_memory_evicted_ = 0;
    std::size_t bar_memory_bars_ = 0, bar_memory_bytes_ = 0;
    std::uint64_t bars_emitted_ = 0, late_ = 0, corrections_ = 0, idle_closed_symbols_ = 0;
    std::size_t open_count_ = 0;
};

// floor(ts / w) * w for any sign of ts.
constexpr timestamp_ns window_start_of(timestamp_ns ts, std::int64_t w) noexcept {
    timestamp_ns q = ts / w;
    if (ts % w != 0 && ts < 0) --q;
    return q * w;
}

} // namespace tapewire
