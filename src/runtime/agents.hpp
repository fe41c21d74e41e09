// The pipeline threads' agents, behind the feed's input ring:
//   threads = 1  fused_agent: parse → window → vwap → anomaly → outputs on one thread
//   threads = 2  parse_agent: parse → record_ring;  analytics_agent: record_ring → the analytics
// The consumer's instructions (`partition_control`) travel in band with the messages: a revoke
// reaches the window stage behind the last ticks of its partitions, a restore ahead of the first.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

#include "operators/parse.hpp"
#include "src/base/clock.hpp"
#include "src/runtime/analytics.hpp"
#include "src/runtime/commit_path.hpp"
#include "src/runtime/pipeline.hpp"
#include "tapewire/blocking_put.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/partition_control.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

// Everything the thread that owns the operators does besides running them: instructions from the
// consumer, the end of the input, barriers for the SQL writer.
struct analytics_control {
    analytics& an;
    const std::atomic<bool>& flush_windows;
    sql_checkpointer checkpoints;

    void on_control(const partition_control& c) { checkpoints.on_control(c, an); }
    // The end of the input: the open windows are flushed, unless the input is a durable Kafka
    // being left on a stop, where they are left (and, with SQL, saved) for the next reader.
    void on_end() {
        if (flush_windows.load(std::memory_order_acquire))
            an.head.on_flush();
        else
            an.sink.on_flush();
        checkpoints.on_end(an);
    }
    void on_timer(std::int64_t now_mono) { checkpoints.on_timer(now_mono, an); }
    [[nodiscard]] timestamp_ns processing_now() const noexcept { return checkpoints.processing_now(); }
};

// Pulls raw messages and parses them into `Out` (the fused analytics, or a ring to the next thread).
template <class Out> class parse_driver {
public:
    // `on_control` takes the consumer's instructions: the fused analytics apply them, a ring
    // carries them on, in order with the messages.
    parse_driver(message_ring& in, parse_stage& parse, std::uint32_t batch, const std::atomic<bool>& input_done,
                 std::function<void(partition_control)> on_control)
        : in_(in), parse_(parse), batch_(batch), input_done_(input_done), on_control_(std::move(on_control)) {}

    // Returns messages handled; sets `ended` once the input is over and fully drained.
    std::size_t pass(timestamp_ns now, Out& out, bool& ended) {
        parse_.on_timer(now, out);
        std::size_t n = 0;
        raw_message m;
        while (n < batch_ && in_.front(m)) {
            if (m.control) [[unlikely]]
                on_control_(in_.take_control());
            else
                parse_.on_message(m, out);
            in_.pop();
            ++n;
        }
        // The source publishes before it raises input_done, so done + empty means drained.
        ended = n == 0 && input_done_.load(std::memory_order_acquire) && !in_.front(m);
        return n;
    }

private:
    message_ring& in_;
    parse_stage& parse_;
    std::uint32_t batch_;
    const std::atomic<bool>& input_done_;
    std::function<void(partition_control)> on_control_;
};

// The records of the ring between the two threads, into the analytics; the end of the input and
// the consumer's instructions to the analytics' control.
struct from_ring {
    analytics_control& ctl;

    void on_tick(const tick& t) { ctl.an.head.on_tick(t); }
    void on_bar(const bar& b) { ctl.an.head.on_bar(b); }
    void on_bar_update(const bar& b) { ctl.an.head.on_bar_update(b); }
    void on_alert(const alert& a) { ctl.an.head.on_alert(a); }
    void on_dead_letter(const dead_letter_view& d) { ctl.an.head.on_dead_letter(d); }
    void on_watermark(const watermark& w) { ctl.an.head.on_watermark(w); }
    void on_timer(timestamp_ns now) { ctl.an.head.on_timer(now); }
    void on_control(const partition_control& c) { ctl.on_control(c); }
    void on_flush() { ctl.on_end(); }
};

// threads = 1: parse and the analytics fused on one thread.
class fused_agent final : public agent {
public:
    fused_agent(message_ring& in, parse_stage& parse, analytics_control ctl, std::uint32_t batch,
                const std::atomic<bool>& input_done, offset_publisher offsets, pipeline_stats& stats)
        : ctl_(std::move(ctl)),
          driver_(in, parse, batch, input_done, [this](const partition_control& c) { ctl_.on_control(c); }),
          parse_(parse), an_(ctl_.an), offsets_(std::move(offsets)), stats_(stats) {}

    std::size_t do_work() override {
        const timestamp_ns now = wall_ns();
        an_.head.on_timer(ctl_.processing_now());
        bool ended = false;
        const std::size_t n = driver_.pass(now, an_.head, ended);
        if (ended) {
            ctl_.on_end();
            done_ = true;
        }
        const std::int64_t mono = mono_ns();
        offsets_.on_timer(mono, an_.window, an_.sink);
        if (!ended) ctl_.on_timer(mono);
        publish();
        return n;
    }
    void on_close() override { publish(); }
    [[nodiscard]] bool done() const override { return done_; }

private:
    void publish() {
        stats_.ticks.store(parse_.parsed(), std::memory_order_relaxed);
        an_.publish(stats_);
    }

    analytics_control ctl_;
    parse_driver<analytics_head> driver_;
    parse_stage& parse_;
    analytics& an_;
    offset_publisher offsets_;
    pipeline_stats& stats_;
    bool done_ = false;
};

// threads = 2, first half: parse into the ring.
class parse_agent final : public agent {
public:
    parse_agent(message_ring& in, parse_stage& parse, record_ring& out, std::uint32_t batch,
                const std::atomic<bool>& input_done, const std::atomic<bool>& abort, pipeline_stats& stats,
                stall_sink stalled)
        : driver_(in, parse, batch, input_done, [this](partition_control c) { emit_.on_control(std::move(c)); }),
          parse_(parse), emit_(out, &abort, 64, stalled), stats_(stats) {}

    std::size_t do_work() override {
        bool ended = false;
        const std::size_t n = driver_.pass(wall_ns(), emit_, ended);
        if (ended) {
            emit_.on_flush(); // travels in band behind the last tick
            done_ = true;
        }
        // Counted before the ring publishes them, so the analytics never sees a tick uncounted.
        stats_.ticks.store(parse_.parsed(), std::memory_order_relaxed);
        emit_.publish();
        return n;
    }
    [[nodiscard]] bool done() const override { return done_; }

private:
    parse_driver<ring_emitter> driver_;
    parse_stage& parse_;
    ring_emitter emit_;
    pipeline_stats& stats_;
    bool done_ = false;
};

// threads = 2, second half: the analytics, drained from the ring.
class analytics_agent final : public agent {
public:
    analytics_agent(record_ring& in, analytics_control ctl, std::uint32_t batch, offset_publisher offsets,
                    pipeline_stats& stats)
        : in_(in), ctl_(std::move(ctl)), an_(ctl_.an), batch_(batch), offsets_(std::move(offsets)), stats_(stats) {}

    std::size_t do_work() override {
        an_.head.on_timer(ctl_.processing_now());
        bool flushed = false;
        from_ring out{ctl_};
        const std::size_t n = drain_ring(in_, out, batch_, flushed);
        if (flushed) done_ = true;
        const std::int64_t mono = mono_ns();
        offsets_.on_timer(mono, an_.window, an_.sink);
        if (!flushed) ctl_.on_timer(mono);
        an_.publish(stats_);
        return n;
    }
    void on_close() override {
        if (!done_) discard_ring(in_);
    }
    [[nodiscard]] bool done() const override { return done_; }

private:
    record_ring& in_;
    analytics_control ctl_;
    analytics& an_;
    std::uint32_t batch_;
    offset_publisher offsets_;
    pipeline_stats& stats_;
    bool done_ = false;
};

} // namespace tapewire
