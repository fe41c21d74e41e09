// Crossing threads: a stage chain on one thread emits into a `ring_emitter`; the runner on the next
// thread drains the ring with `drain_ring` into the next fused chain. Events keep their order, and
// watermarks and flushes travel in band behind the data they cover.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tapewire/blocking_put.hpp"
#include "tapewire/partition_control.hpp"
#include "tapewire/spsc_ring.hpp"
#include "tapewire/stage.hpp"

namespace tapewire {

// A dead letter that owns its bytes, to outlive the call that produced it. Only bad input pays for
// this allocation.
struct owned_dead_letter {
    dead_letter_reason reason;
    std::string payload, key, detail;
    origin src;

    explicit owned_dead_letter(const dead_letter_view& v)
        : reason(v.reason), payload(v.payload), key(v.key), detail(v.detail), src(v.src) {}
    [[nodiscard]] dead_letter_view view() const noexcept { return {reason, payload, key, detail, src}; }
};

enum class record_kind : std::uint8_t { tick, bar, bar_update, alert, dead_letter, watermark, flush, control };

struct flush_marker {}; // end of input, in band

// An open bar so far (window.emit_updates), told apart from a final bar by its record kind.
struct bar_update_of {
    const bar& b;
};

// One ring slot. Trivially copyable; a dead letter travels as an owning pointer that the consumer
// deletes.
struct record {
    record_kind kind;
    union {
        tick t;
        bar b;
        alert a;
        watermark w;
        owned_dead_letter* d;
        partition_control* control;
    };

    explicit record(const tick& x) noexcept : kind(record_kind::tick), t(x) {}
    explicit record(const bar& x) noexcept : kind(record_kind::bar), b(x) {}
    explicit record(bar_update_of x) noexcept : kind(record_kind::bar_update), b(x.b) {}
    explicit record(const alert& x) noexcept : kind(record_kind::alert), a(x) {}
    explicit record(const watermark& x) noexcept : kind(record_kind::watermark), w(x) {}
    explicit record(owned_dead_letter* x) noexcept : kind(record_kind::dead_letter), d(x) {}
    explicit record(flush_marker) noexcept : kind(record_kind::flush), w() {}
    explicit record(partition_control* x) noexcept : kind(record_kind::control), control(x) {}
};

using record_ring = spsc_ring<record>;

// The upstream end of a thread boundary. A full ring stalls the producing thread (backpressure),
// never drops; `abort` lets a shutting-down graph break a wait whose consumer has gone, and
// `stalled` is told how long each wait lasted.
class ring_emitter {
public:
    ring_emitter(record_ring& r, const std::atomic<bool>* abort = nullptr, std::size_t publish_every = 64,
                 stall_sink stalled = {}) noexcept
        : ring_(&r), put_(put_wait{abort, k_full_ring_wait, stalled}), publish_every_(publish_every) {}

    void on_tick(const tick& t) { put(t); }
    void on_bar(const bar& b) { put(b); }
    void on_bar_update(const bar& b) { put(bar_update_of{b}); }
    void on_alert(const alert& a) { put(a); }
    void on_watermark(const watermark& w) { put(w); }
    void on_dead_letter(const dead_letter_view& d) { put(new owned_dead_letter(d)); }
    void on_timer(timestamp_ns) { publish(); }
    void on_flush() {
        put_record(flush_marker{});
        publish();
    }
    // An instruction about input partitions; travels in band behind their last ticks.
    void on_control(partition_control c) {
        auto* v = new partition_control(std::move(c));
        if (!put_record(v)) delete v;
    }

    // Publishes staged records; call at the end of every batch of work.
    void publish() noexcept { ring_->publish(); }

    [[nodiscard]] std::uint64_t stalls() const noexcept { return put_.stalls(); }
    [[nodiscard]] std::int64_t stalled_ns() const noexcept { return put_.stalled_ns(); }

private:
    void put(owned_dead_letter* d) {
        if (!put_record(d)) delete d;
    }
    template <class T> void put(const T& x) { put_record(x); }

    // Constructs the record in its slot (no temporary: a tick is copied once, into the ring).
    template <class T> bool put_record(const T& x) {
        const bool put = put_([&] {
            if (ring_->try_stage(x)) return true;
            ring_->publish(); // let the consumer see what is there before waiting on it
            return false;
        });
        if (put && ring_->staged_count() >= publish_every_) ring_->publish();
        return put;
    }

    record_ring* ring_;
    blocking_put put_;
    std::size_t publish_every_;
};

// The downstream end: pops up to `max` records and dispatches them to `out`. Returns the count.
// Sets `flushed` when the in-band end-of-input marker arrives (after dispatching on_flush).
template <class E> std::size_t drain_ring(record_ring& ring, E& out, std::size_t max, bool& flushed) {
    std::size_t n = 0;
    while (n < max) {
        record* r = ring.front();
        if (r == nullptr) break;
        switch (r->kind) {
        case record_kind::tick: out.on_tick(r->t); break;
        case record_kind::bar: out.on_bar(r->b); break;
        case record_kind::bar_update: out.on_bar_update(r->b); break;
        case record_kind::alert: out.on_alert(r->a); break;
        case record_kind::watermark: out.on_watermark(r->w); break;
        case record_kind::dead_letter: {
            std::unique_ptr<owned_dead_letter> d(r->d);
            out.on_dead_letter(d->view());
            break;
        }
        case record_kind::flush:
            out.on_flush();
            flushed = true;
            break;
        case record_kind::control: {
            std::unique_ptr<partition_control> c(r->control);
            if constexpr (requires { out.on_control(*c); }) out.on_control(*c);
            break;
        }
        }
        ring.pop();
        ++n;
    }
    return n;
}

// Frees dead letters left in a ring nobody will drain (shutdown after a failure).
inline void discard_ring(record_ring& ring) {
    while (record* r = ring.front()) {
        if (r->kind == record_kind::dead_letter) delete r->d;
        if (r->kind == record_kind::control) delete r->control;
        ring.pop();
    }
}

} // namespace tapewire
