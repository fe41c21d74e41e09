// The stage model. A stage is a small value type with one handler per event kind, each taking the
// downstream emitter as a template parameter:
//
//     template <class E> void on_tick(const tick&, E& out);
//     template <class E> void on_bar(const bar&, E& out);
//     template <class E> void on_bar_update(const bar&, E& out);        // an open bar so far, not final
//     template <class E> void on_alert(const alert&, E& out);
//     template <class E> void on_dead_letter(const dead_letter_view&, E& out);
//     template <class E> void on_watermark(const watermark&, E& out);
//     template <class E> void on_timer(timestamp_ns now_wall, E& out);   // processing-time tick
//     template <class E> void flush(E& out);                              // end of input
//
// `pass_through` forwards everything, so a stage only writes the handlers it cares about. Stages on
// one thread are fused with `link`: direct, inlinable calls, no virtual dispatch, no queue.
#pragma once

#include <concepts>
#include <cstdint>

#include "tapewire/types.hpp"

namespace tapewire {

// Event-time progress of one input partition, travelling in band after the data it covers.
struct watermark {
    std::int32_t partition = 0;
    timestamp_ns ts = k_no_time;
};

// What every downstream end of a stage accepts.
template <class E>
concept emitter = requires(E& e, const tick& t, const bar& b, const alert& a, const dead_letter_view& d,
                           const watermark& w, timestamp_ns now) {
    e.on_tick(t);
    e.on_bar(b);
    e.on_bar_update(b);
    e.on_alert(a);
    e.on_dead_letter(d);
    e.on_watermark(w);
    e.on_timer(now);
    e.on_flush();
};

struct pass_through {
    template <class E> void on_tick(const tick& t, E& out) { out.on_tick(t); }
    template <class E> void on_bar(const bar& b, E& out) { out.on_bar(b); }
    template <class E> void on_bar_update(const bar& b, E& out) { out.on_bar_update(b); }
    template <class E> void on_alert(const alert& a, E& out) { out.on_alert(a); }
    template <class E> void on_dead_letter(const dead_letter_view& d, E& out) { out.on_dead_letter(d); }
    template <class E> void on_watermark(const watermark& w, E& out) { out.on_watermark(w); }
    template <class E> void on_timer(timestamp_ns, E&) {}
    template <class E> void flush(E& out) { out.on_flush(); }
};

// Fuses a stage with its downstream: the pair is itself an emitter for the stage before it.
template <class Stage, class Next> class link {
public:
    link(Stage& s, Next& n) noexcept : stage_(&s), next_(&n) {}

    void on_tick(const tick& t) { stage_->on_tick(t, *next_); }
    void on_bar(const bar& b) { stage_->on_bar(b, *next_); }
    void on_bar_update(const bar& b) { stage_->on_bar_update(b, *next_); }
    void on_alert(const alert& a) { stage_->on_alert(a, *next_); }
    void on_dead_letter(const dead_letter_view& d) { stage_->on_dead_letter(d, *next_); }
    void on_watermark(const watermark& w) { stage_->on_watermark(w, *next_); }
    // Timers reach every stage of the fused chain, upstream first.
    void on_timer(timestamp_ns now) {
        stage_->on_timer(now, *next_);
        next_->on_timer(now);
    }
    void on_flush() { stage_->flush(*next_); }

    Stage& stage() noexcept { return *stage_; }
    Next& next() noexcept { return *next_; }

private:
    Stage* stage_;
    Next* next_;
};

// An emitter that discards everything (the end of a chain that only counts, in tests and benches).
struct null_emitter {
    void on_tick(const tick&) {}
    void on_bar(const bar&) {}
    void on_bar_update(const bar&) {}
    void on_alert(const alert&) {}
    void on_dead_letter(const dead_letter_view&) {}
    void on_watermark(const watermark&) {}
    void on_timer(timestamp_ns) {}
    void on_flush() {}
};

static_assert(emitter<null_emitter>);

} // namespace tapewire
