#include "src/runtime/pipeline.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "operators/analytics.hpp"
#include "operators/checkpoint.hpp"
#include "operators/parse.hpp"
#include "src/base/clock.hpp"
#include "src/base/log.hpp"
#include "src/base/tzif.hpp"
#include "src/kafka/consumer.hpp"
#include "src/kafka/embedded_broker.hpp"
#include "src/kafka/producer.hpp"
#include "src/runtime/options.hpp"
#include "src/sink/outputs.hpp"
#include "src/sink/sql_sink.hpp"
#include "src/sources/source_factory.hpp"
#include "src/sql/store.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

namespace {

// ---- the analytics chain: window → vwap → anomaly → outputs, fused -------------------------------

struct analytics : analytics_chain<output_sink> {
    using analytics_chain::analytics_chain;

    void publish(pipeline_stats& st) const {
        st.bars.store(sink.bars(), std::memory_order_relaxed);
        st.corrections.store(window.corrections(), std::memory_order_relaxed);
        st.alerts.store(sink.alerts(), std::memory_order_relaxed);
        st.dead_letters.store(sink.dead_letters(), std::memory_order_relaxed);
        for (std::size_t r = 0; r < k_dead_letter_reasons; ++r)
            st.dead_by_reason[r].store(sink.dead_letters(static_cast<dead_letter_reason>(r)),
                                       std::memory_order_relaxed);
    }
};

using analytics_head = decltype(analytics::head);

// ---- where the source thread puts messages ---------------------------------------------------------

// Into the graph's input ring.
class ring_outlet {
public:
    explicit ring_outlet(message_ring& r) : ring_(r) {}
    bool try_put(const source_message& m, const origin& o) { return ring_.try_stage(m.key, m.payload, o); }
    [[nodiscard]] bool too_large(const source_message& m) const {
        return m.key.size() + m.payload.size() > ring_.max_message();
    }
    [[nodiscard]] std::size_t limit() const { return ring_.max_message(); }
    void publish() { ring_.publish(); }
    void finish() { ring_.publish(); }

private:
    message_ring& ring_;
};

// Into the input topic, key = symbol. librdkafka's full queue (or, with the embedded broker, a
// consumer too far behind for the broker's retention) stalls the source.
class kafka_outlet {
public:
    kafka_outlet(kafka_producer& p, const std::string& topic) : producer_(p), topic_(p.topic(topic)) {}

    // Run with the embedded broker, which keeps only ~5 MiB per partition and silently drops the
    // oldest messages beyond: `backlog(average message bytes)` says how full the consumer's worst
    // partition could get, as a fraction of what is safe. Over 1 holds the producer; it resumes
    // below 1/2, so that it then writes large batches (this broker serves one batch per partition
    // per fetch, and a trickle of small ones would slow the consumer down further). Asked every
    // 256 messages, and on every attempt while holding.
    void hold_while(std::function<double(std::uint64_t)> backlog) { backlog_ = std::move(backlog); }

    bool try_put(const source_message& m, const origin&) {
        if (backlog_ && (holding_ || (count_ & 255) == 0)) {
            const double f = backlog_(count_ == 0 ? 128 : bytes_ / count_);
            holding_ = holding_ ? f >= 0.5 : f > 1.0;
            if (holding_) return false;
        }
        if (!producer_.try_produce(topic_, m.key, m.payload)) return false;
        bytes_ += m.key.size() + m.payload.size();
        ++count_;
        return true;
    }
    [[nodiscard]] bool too_large(const source_message&) const { return false; } // librdkafka says so
    [[nodiscard]] std::size_t limit() const { return 0; }
    void publish() {
        producer_.poll(0);
        if (auto f = producer_.failure(); !f.empty()) throw kafka_error(f);
    }
    // Waits until the broker has every message; retried for as long as the outage lasts.
    void finish() {
        while (!producer_.flush(std::chrono::milliseconds(100))) {
            if (auto f = producer_.failure(); !f.empty()) throw kafka_error(f);
        }
        if (auto f = producer_.failure(); !f.empty()) throw kafka_error(f);
    }

private:
    kafka_producer& producer_;
    rd_kafka_topic_t* topic_;
    std::function<double(std::uint64_t)> backlog_;
    bool holding_ = false;
    std::uint64_t bytes_ = 0, count_ = 0;
};

// ---- source thread ---------------------------------------------------------------------------------

// Pulls messages from a source into an outlet, in batches, stalling (never dropping) when the
// outlet has no room.
class feed_base : public agent {
public:
    void request_stop() noexcept { stop_.store(true, std::memory_order_release); }

protected:
    std::atomic<bool> stop_{false};
};

template <class Outlet> class feed_agent final : public feed_base {
public:
    // A stall that lasts `hold_after_ns` is passed on to the source (a Kafka consumer pauses its
    // partitions); shorter ones are absorbed by what the source buffers.
    feed_agent(std::unique_ptr<message_source> src, Outlet out, std::uint32_t batch, std::uint64_t max_ticks,
               std::atomic<bool>& input_done, std::atomic<std::uint64_t>& sent_counter, pipeline_stats& stats,
               std::int64_t hold_after_ns = 0)
        : src_(std::move(src)), out_(std::move(out)), batch_(batch), max_ticks_(max_ticks), input_done_(input_done),
          sent_counter_(sent_counter), stats_(stats), hold_after_ns_(hold_after_ns) {}

    std::size_t do_work() override {
        if (finished_) return 0;
        if (stop_.load(std::memory_order_acquire)) {
            finish();
            return 0;
        }
        src_->poll();
        const std::int64_t now = mono_ns();
        std::size_t n = 0;
        while (n < batch_) {
            if (!pending_) {
                if (max_ticks_ != 0 && sent_ >= max_ticks_) {
                    finish();
                    break;
                }
                const pull_result r = src_->next(msg_);
                if (r == pull_result::end) {
                    finish();
                    break;
                }
                if (r == pull_result::idle) break;
                pending_ = true;
                control_ = r == pull_result::control;
            }
            if (msg_.release_at_mono_ns > now) break; // paced: not due yet
            // Stamped with the pass's clock: the batch becomes visible at one publish anyway, so a
            // read per message would only cost the source its speed.
            const origin o{msg_.partition, msg_.offset >= 0 ? msg_.offset : static_cast<std::int64_t>(sent_), now};
            if (!out_.try_put(msg_, o)) {
                if (out_.too_large(msg_)) {
                    // Larger than the ring can ever hold: say so rather than wait forever.
                    log::error("pipeline",
                               "a source message exceeds the input ring's limit; raise "
                               "pipeline.input_ring_bytes",
                               {{"message", sent_}, {"bytes", msg_.payload.size()}, {"limit", out_.limit()}});
                    throw std::runtime_error("source message larger than pipeline.input_ring_bytes / 4");
                }
                stats_.source_stalls.fetch_add(1, std::memory_order_relaxed);
                if (stalled_since_ == 0) stalled_since_ = now;
                if (!held_ && now - stalled_since_ >= hold_after_ns_) {
                    held_ = true;
                    src_->on_stall(true);
                }
                break; // backpressure: downstream is behind; keep the message and retry
            }
            stalled_since_ = 0;
            if (held_) {
                held_ = false;
                src_->on_stall(false);
            }
            pending_ = false;
            if (!control_) ++sent_;
            ++n;
        }
        out_.publish();
        sent_counter_.store(sent_, std::memory_order_relaxed);
        return n;
    }

    void on_close() override { finish(); }

    [[nodiscard]] bool done() const override { return finished_; }

private:
    void finish() {
        if (finished_) return;
        finished_ = true;
        src_->close();
        out_.finish();
        sent_counter_.store(sent_, std::memory_order_relaxed);
        input_done_.store(true, std::memory_order_release);
    }

    std::unique_ptr<message_source> src_;
    Outlet out_;
    std::uint32_t batch_;
    std::uint64_t max_ticks_;
    std::atomic<bool>& input_done_;
    std::atomic<std::uint64_t>& sent_counter_;
    pipeline_stats& stats_;
    source_message msg_;
    bool pending_ = false;
    bool control_ = false; // the pending message is an instruction, not input
    std::int64_t hold_after_ns_;
    std::int64_t stalled_since_ = 0; // mono time the current stall began (0: not stalled)
    bool held_ = false;              // the source was told to hold
    bool finished_ = false;
    std::uint64_t sent_ = 0;
};

// ---- committing Kafka offsets only for what the outputs hold ------------------------------------

// On the thread that owns the window state: every 100 ms, the safe offsets of the window stage,
// released to the consumer once the outputs written before them are durable (the NDJSON file
// flushed, the Kafka outputs delivered).
class offset_publisher {
public:
    offset_publisher(offset_board* board, const kafka_producer* outputs) : board_(board), outputs_(outputs) {}

    void on_timer(std::int64_t now_mono, const window_stage& window, output_sink& sink) {
        if (board_ == nullptr || now_mono - last_ < 100'000'000) return;
        last_ = now_mono;
        window.safe_offsets(scratch_);
        if (scratch_.empty()) return;
        const std::uint64_t mark = sink.sync_files();
        pending_.push_back({scratch_, mark});
        release();
    }

private:
    void release() {
        const std::uint64_t delivered = outputs_ != nullptr ? outputs_->delivered() : 0;
        const partition_offsets* latest = nullptr;
        std::size_t n = 0;
        for (const auto& p : pending_) {
            if (p.mark > delivered) break;
            latest = &p.safe;
            ++n;
        }
        if (latest != nullptr) board_->publish(*latest);
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
        if (pending_.size() > 64) pending_.erase(pending_.begin()); // outputs stuck: keep the newest
    }

    struct snapshot {
        partition_offsets safe;
        std::uint64_t mark;
    };
    offset_board* board_;
    const kafka_producer* outputs_;
    std::vector<snapshot> pending_;
    partition_offsets scratch_;
    std::int64_t last_ = 0;
};

// ---- pipeline threads ----------------------------------------------------------------------------

// "revoke 3 7 12" → {revoke, {3, 7, 12}}; "restore 4" → {restore, {4}}
partition_control parse_control(std::string_view text) {
    partition_control c;
    c.what = text.starts_with("restore") ? partition_control::action::restore : partition_control::action::revoke;
    std::size_t i = text.find(' ');
    while (i != std::string_view::npos && i < text.size()) {
        ++i;
        std::int32_t p = 0;
        const auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), p);
        if (ec != std::errc{}) break;
        c.partitions.push_back(p);
        i = static_cast<std::size_t>(end - text.data());
    }
    return c;
}

// ---- resuming from the database (kind "odbc" with Kafka input) -----------------------------------

// The saved state of newly assigned partitions: put by the consumer thread, which loads it from the
// database at the assignment, and taken by the thread that owns the operators when the partition's
// "restore" instruction reaches it (before the partition's first message).
class restore_board {
public:
    void put(std::int32_t partition, std::int64_t next_offset, std::string state) {
        std::lock_guard<std::mutex> lock(mu_);
        saved_[partition] = {next_offset, std::move(state)};
    }
    std::optional<std::pair<std::int64_t, std::string>> take(std::int32_t partition) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = saved_.find(partition);
        if (it == saved_.end()) return std::nullopt;
        auto v = std::move(it->second);
        saved_.erase(it);
        return v;
    }

private:
    std::mutex mu_;
    std::map<std::int32_t, std::pair<std::int64_t, std::string>> saved_;
};

// On the analytics thread: sends the SQL writer a barrier when a batch is due, with, for Kafka
// input, a checkpoint (next offset and operator state) of every owned partition that changed.
class sql_checkpointer {
public:
    sql_checkpointer() = default;
    sql_checkpointer(sql_channel* ch, bool with_state) : ch_(ch), with_state_(with_state) {}

    void on_timer(std::int64_t now_mono, analytics& an) {
        if (ch_ != nullptr && ch_->due(now_mono)) send(an, false);
    }
    void on_end(analytics& an) {
        if (ch_ != nullptr) send(an, true);
    }

    // Instructions from the consumer. A revoked partition's state is committed before it is
    // forgotten; an assigned one's is loaded from the board (or starts empty).
    // The processing-time clock of the window stage: the wall clock less the time this thread was
    // held by the SQL writer (a database outage is not silence on the input).
    [[nodiscard]] timestamp_ns processing_now() const noexcept {
        return wall_ns() - (ch_ != nullptr ? ch_->blocked_ns() : 0);
    }

    void on_control(const partition_control& c, analytics& an, restore_board* board) {
        if (c.what == partition_control::action::revoke) {
            if (ch_ != nullptr) send(an, false);
            for (std::int32_t p : c.partitions) {
                std::erase(owned_, p);
                if (ch_ != nullptr) ch_->set_next_offset(p, -1);
            }
            an.window.discard_partitions(c.partitions);
            return;
        }
        for (std::int32_t p : c.partitions) {
            std::optional<std::pair<std::int64_t, std::string>> saved;
            if (board != nullptr) saved = board->take(p);
            // Nothing saved: start empty, whatever an earlier ownership of the partition left.
            if (saved)
                restore_partition_state(an.window, an.vwap, an.anomaly, p, saved->second, processing_now());
            else
                clear_partition_state(an.window, an.vwap, an.anomaly, p, processing_now());
            if (ch_ != nullptr) ch_->set_next_offset(p, saved ? saved->first : -1);
            if (std::find(owned_.begin(), owned_.end(), p) == owned_.end()) owned_.push_back(p);
        }
    }

private:
    void send(analytics& an, bool end) {
        std::vector<sql::partition_checkpoint> cps;
        if (with_state_) {
            scratch_.clear();
            an.window.changed_partitions(scratch_);
            ch_->moved_partitions(scratch_);
            std::sort(scratch_.begin(), scratch_.end());
            scratch_.erase(std::unique(scratch_.begin(), scratch_.end()), scratch_.end());
            for (std::int32_t p : scratch_) {
                if (std::find(owned_.begin(), owned_.end(), p) == owned_.end()) continue;
                const std::int64_t next = ch_->next_offset(p);
                if (next < 0) continue;
                cps.push_back({p, next, save_partition_state(an.window, an.vwap, an.anomaly, p)});
            }
        }
        ch_->barrier(std::move(cps), end);
    }

    sql_channel* ch_ = nullptr;
    bool with_state_ = false;
    std::vector<std::int32_t> owned_;
    std::vector<std::int32_t> scratch_;
};

// Everything the thread that owns the operators does besides running them: instructions from the
// consumer, the end of the input, barriers for the SQL writer.
struct analytics_control {
    analytics& an;
    const std::atomic<bool>& flush_windows;
    restore_board* board = nullptr;
    sql_checkpointer checkpoints;

    void on_control(const partition_control& c) { checkpoints.on_control(c, an, board); }
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
                 std::function<void(const partition_control&)> on_control)
        : in_(in), parse_(parse), batch_(batch), input_done_(input_done), on_control_(std::move(on_control)) {}

    // Returns messages handled; sets `ended` once the input is over and fully drained.
    std::size_t pass(timestamp_ns now, Out& out, bool& ended) {
        parse_.on_timer(now, out);
        std::size_t n = 0;
        raw_message m;
        while (n < batch_ && in_.front(m)) {
            if (m.src.partition == k_control_partition) [[unlikely]]
                on_control_(parse_control(m.payload));
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
    std::function<void(const partition_control&)> on_control_;
};

// The records of the ring between the two threads, into the analytics; the end of the input and
// the consumer's instructions to the analytics' control.
struct from_ring {
    analytics_control& ctl;

    void on_tick(const tick& t) { ctl.an.head.on_tick(t); }
    void on_bar(const bar& b) { ctl.an.head.on_bar(b); }
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
        : driver_(in, parse, batch, input_done, [this](const partition_control& c) { emit_.on_control(c); }),
          parse_(parse), emit_(out, &abort, 64, stalled), stats_(stats) {}

    std::size_t do_work() override {
        bool ended = false;
        const std::size_t n = driver_.pass(wall_ns(), emit_, ended);
        if (ended) {
            emit_.on_flush(); // travels in band behind the last tick
            done_ = true;
        }
        emit_.publish();
        stats_.ticks.store(parse_.parsed(), std::memory_order_relaxed);
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

runner_options runner_opts(const config& c, const char* name, std::size_t index) {
    runner_options r;
    r.name = name;
    r.idle.kind = c.pipeline.idle;
    if (index < c.pipeline.cpus.size()) r.cpu = c.pipeline.cpus[index];
    return r;
}

} // namespace

struct pipeline::impl {
    config cfg;
    run_limits limits;
    pipeline_mode mode;
    pipeline_stats stats;
    metrics_registry metrics;
    std::atomic<bool> input_done{false};   // the graph's input has ended
    std::atomic<bool> produce_done{false}; // the producer half has delivered everything
    std::atomic<std::uint64_t> produce_sent{0};
    std::atomic<bool> abort{false};
    std::atomic<bool> flush_windows{true};

    // Kafka
    std::unique_ptr<embedded_broker> broker;
    std::string bootstrap;
    std::unique_ptr<kafka_producer> tick_producer;   // sources → topic
    std::unique_ptr<kafka_producer> output_producer; // bars, alerts, dead letters → topics
    offset_board board;
    kafka_consumer_source* consumer = nullptr; // owned by its feed agent

    // The SQL writer (sink kind "odbc")
    std::unique_ptr<sql_ring> sql_rows;
    std::unique_ptr<sql_channel> sql_feed;
    std::unique_ptr<sql_writer> writer;
    restore_board restore;
    std::unique_ptr<sql::store> loader_store; // the consumer thread's connection, for assignments
    std::atomic<bool> stopping{false};
    bool resumable = false; // checkpoints go to the database and are loaded on assignment

    // The graph
    bool has_graph = false;
    message_ring input;
    std::unique_ptr<record_ring> hop; // threads = 2
    parse_stage parse;
    std::unique_ptr<analytics> an;

    std::unique_ptr<feed_base> producer_feed; // source → Kafka
    std::unique_ptr<feed_base> graph_feed;    // source or Kafka → input ring
    std::vector<std::unique_ptr<agent>> agents;
    std::vector<std::unique_ptr<runner>> runners;

    std::mutex error_mu;
    std::string first_error;
    bool finished_consumer = false;

    std::atomic<std::uint64_t> consumed_sent{0};

    impl(const config& c, run_limits l, pipeline_mode m)
        : cfg(c), limits(l), mode(m), input(c.pipeline.input_ring_bytes), parse(to_parse_options(c)) {
        const bool kafka = !c.kafka.brokers.empty();
        if (!kafka && mode != pipeline_mode::run)
            throw std::runtime_error(std::string(mode == pipeline_mode::produce ? "produce" : "process") +
                                     " needs Kafka, but kafka.brokers is \"\"");
        if (kafka) start_kafka();
        const error_handler fail = [this](const std::string& who, const std::string& what) { on_error(who, what); };
        const bool produces = kafka && mode != pipeline_mode::process;
        has_graph = mode != pipeline_mode::produce;

        std::unique_ptr<kafka_consumer_source> kafka_in;
        if (has_graph && kafka) {
            kafka_in = std::make_unique<kafka_consumer_source>(cfg, bootstrap, metrics, board);
            consumer = kafka_in.get();
        }
        if (produces) {
            tick_producer = std::make_unique<kafka_producer>(c.kafka, bootstrap, metrics, "ticks");
            kafka_outlet out(*tick_producer, c.kafka.topic);
            if (broker && consumer != nullptr) {
                // Held when the consumer's worst partition, plus everything librdkafka still
                // holds (it may all land on that partition), comes near what the broker keeps.
                kafka_consumer_source* cons = consumer;
                kafka_producer* prod = tick_producer.get();
                out.hold_while([cons, prod, topic = c.kafka.topic](std::uint64_t avg_bytes) {
                    const double limit = static_cast<double>((std::uint64_t{4} << 20) / (avg_bytes + 64));
                    std::int64_t worst = 0;
                    for (const auto& [p, end] : prod->delivered_ends(topic))
                        worst = std::max(worst, end - cons->position(p));
                    return static_cast<double>(worst +
                                               static_cast<std::int64_t>(prod->produced() - prod->delivered())) /
                           limit;
                });
            }
            producer_feed = std::make_unique<feed_agent<kafka_outlet>>(make_message_source(c.source, metrics, fail),
                                                                       std::move(out), c.pipeline.batch, l.max_ticks,
                                                                       produce_done, produce_sent, stats);
        }
        if (!has_graph) return;

        const bool kafka_outputs = kafka && c.sink.kind.contains(sink_kind::kafka);
        const bool dlq = kafka && !c.kafka.dlq_topic.empty();
        if (kafka_outputs || dlq)
            output_producer = std::make_unique<kafka_producer>(c.kafka, bootstrap, metrics, "outputs");
        an = std::make_unique<analytics>(to_window_options(c.window), to_vwap_options(c), to_anomaly_options(c.anomaly),
                                         c, output_producer.get(), dlq, &abort,
                                         output_producer ? stall_metric("kafka_outputs") : stall_sink{});
        const bool odbc = c.sink.kind.contains(sink_kind::odbc);
        if (odbc) start_sql(kafka);
        // Resuming needs a Kafka that outlives the process: the embedded broker's topic starts
        // empty every run, so checkpoints of an earlier run would point into nothing.
        resumable = odbc && consumer != nullptr && !broker;
        if (resumable)
            consumer->on_assign([this](const std::vector<std::int32_t>& parts) { return load_checkpoints(parts); });

        if (kafka_in) {
            if (produces) {
                // run: the input ends once everything produced has been read back.
                kafka_in->end_when_reached([this]() -> std::optional<partition_offsets> {
                    if (!produce_done.load(std::memory_order_acquire)) return std::nullopt;
                    return tick_producer->delivered_ends(cfg.kafka.topic);
                });
            }
            graph_feed = std::make_unique<feed_agent<ring_outlet>>(
                std::move(kafka_in), ring_outlet(input), c.pipeline.batch, produces ? 0 : l.max_ticks, input_done,
                consumed_sent, stats, c.kafka.pause_after.count());
        } else {
            graph_feed = std::make_unique<feed_agent<ring_outlet>>(make_message_source(c.source, metrics, fail),
                                                                   ring_outlet(input), c.pipeline.batch, l.max_ticks,
                                                                   input_done, consumed_sent, stats);
        }
        // With the SQL writer, the offsets that count are those it committed with the rows: it
        // publishes them for Kafka's (advisory) commits itself.
        const offset_publisher offsets(consumer != nullptr && !writer ? &board : nullptr, output_producer.get());
        analytics_control ctl{*an, flush_windows, resumable ? &restore : nullptr,
                              sql_checkpointer(sql_feed.get(), resumable)};
        if (c.pipeline.threads >= 2) {
            hop = std::make_unique<record_ring>(c.pipeline.ring_size);
            agents.push_back(std::make_unique<parse_agent>(input, parse, *hop, c.pipeline.batch, input_done, abort,
                                                           stats, stall_metric("analytics_ring")));
            agents.push_back(std::make_unique<analytics_agent>(*hop, std::move(ctl), c.pipeline.batch, offsets, stats));
        } else {
            agents.push_back(std::make_unique<fused_agent>(input, parse, std::move(ctl), c.pipeline.batch, input_done,
                                                           offsets, stats));
        }
    }

    // Time a thread waited for room at one site (a full ring, a busy writer), as a counter.
    stall_sink stall_metric(const std::string& site) {
        return stall_sink(metrics.get_counter("put_stalled_ns_total{site=\"" + site + "\"}",
                                              "time waited for room to put: a full ring, a busy writer (ns)"));
    }

    sql::store_options store_options() const {
        const sink_config& s = cfg.sink;
        return {s.connection,
                cfg.kafka.group,
                cfg.kafka.topic,
                {.bars = s.bars_table,
                 .alerts = s.alerts_table,
                 .dead_letters = s.dead_letters_table,
                 .ticks = s.ticks_table,
                 .offsets = s.offsets_table,
                 .state = s.state_table},
                s.archive_ticks};
    }

    static std::runtime_error database_error(const sql::sql_error& e) { return std::runtime_error(sql::describe(e)); }

    void start_sql(bool kafka) {
        std::unique_ptr<sql::store> st;
        try {
            st = std::make_unique<sql::store>(store_options());
        } catch (const sql::sql_error& e) {
            throw database_error(e);
        }
        sql_rows = std::make_unique<sql_ring>(cfg.sink.ring_size);
        // Dead letters and archived ticks are keyed by where they came from: the topic, or this
        // run of a source read without Kafka.
        const std::string source =
            kafka ? cfg.kafka.topic : std::string(to_string(cfg.source.kind)) + "@" + std::to_string(wall_ns());
        sql_feed = std::make_unique<sql_channel>(cfg.sink, *sql_rows, source, &abort, stall_metric("sql_ring"));
        writer = std::make_unique<sql_writer>(cfg, *sql_rows, std::move(st), consumer != nullptr ? &board : nullptr,
                                              metrics, abort, source);
        an->sink.attach_sql(sql_feed.get(), writer->describe());
    }

    // On the consumer thread, at an assignment: the offsets and operator state the database holds
    // for these partitions. Waits (with back-off) while the database is away: reading on without
    // them would process the partitions from the wrong place.
    partition_offsets load_checkpoints(const std::vector<std::int32_t>& parts) {
        std::int64_t wait = cfg.sink.retry_min.count();
        for (;;) {
            try {
                if (!loader_store) loader_store = std::make_unique<sql::store>(store_options());
                partition_offsets out;
                for (auto& cp : loader_store->load(parts)) {
                    out.emplace_back(cp.partition, cp.next_offset);
                    restore.put(cp.partition, cp.next_offset, std::move(cp.state));
                }
                return out;
            } catch (const sql::sql_error& e) {
                if (e.cls != sql::error_class::transient) throw database_error(e);
                loader_store.reset();
                if (abort.load(std::memory_order_acquire) || stopping.load(std::memory_order_acquire))
                    throw std::runtime_error("stopped while waiting for the database to load the saved offsets");
                log::warn("sql", "cannot load the saved offsets; retrying",
                          {{"error", e.what()}, {"retry_in", std::chrono::nanoseconds(wait)}});
                std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
                wait = std::min<std::int64_t>(wait * 2, cfg.sink.retry_max.count());
            }
        }
    }

    void start_kafka() {
        if (cfg.kafka.brokers == "embedded") {
            broker = std::make_unique<embedded_broker>(static_cast<int>(cfg.kafka.embedded_brokers));
            const int parts = static_cast<int>(cfg.kafka.partitions);
            const int replication = static_cast<int>(std::min<std::uint32_t>(cfg.kafka.embedded_brokers, 3));
            broker->create_topic(cfg.kafka.topic, parts, replication);
            if (!cfg.kafka.dlq_topic.empty()) broker->create_topic(cfg.kafka.dlq_topic, parts, replication);
            broker->create_topic(cfg.kafka.bars_topic, parts, replication);
            broker->create_topic(cfg.kafka.alerts_topic, parts, replication);
            bootstrap = broker->bootstraps();
            // This broker holds a fetch that finds nothing for the whole fetch.wait.max.ms (500 ms
            // by default) even when data arrives meanwhile: bars would trail their ticks by seconds.
            const bool set = std::any_of(cfg.kafka.consumer.begin(), cfg.kafka.consumer.end(),
                                         [](const kafka_property& p) { return p.name == "fetch.wait.max.ms"; });
            if (!set)
                cfg.kafka.consumer.insert(cfg.kafka.consumer.begin(), {"fetch.wait.max.ms", "5", "(embedded)", 0});
        } else {
            bootstrap = cfg.kafka.brokers;
        }
    }

    void on_error(const std::string& who, const std::string& what) {
        {
            std::lock_guard<std::mutex> lock(error_mu);
            if (first_error.empty()) first_error = who + ": " + what;
        }
        // One thread failing stops the rest: the sources first, then any wait on a ring.
        if (producer_feed) producer_feed->request_stop();
        if (graph_feed) graph_feed->request_stop();
        abort.store(true, std::memory_order_release);
        for (auto& r : runners) r->request_stop();
    }
};

pipeline::pipeline(const config& cfg, run_limits limits, pipeline_mode mode)
    : impl_(std::make_unique<impl>(cfg, limits, mode)) {}

pipeline::~pipeline() {
    if (impl_) {
        stop();
        wait();
    }
}

void pipeline::start() {
    auto& m = *impl_;
    auto handler = [&m](const std::string& who, const std::string& what) { m.on_error(who, what); };
    std::size_t cpu = 0;
    if (m.producer_feed)
        m.runners.push_back(
            std::make_unique<runner>(*m.producer_feed, runner_opts(m.cfg, "tw-produce", cpu++), handler));
    if (m.graph_feed)
        m.runners.push_back(std::make_unique<runner>(
            *m.graph_feed, runner_opts(m.cfg, m.consumer ? "tw-consume" : "tw-source", cpu++), handler));
    const char* names[] = {"tw-pipeline", "tw-analytics"};
    for (std::size_t i = 0; i < m.agents.size(); ++i)
        m.runners.push_back(std::make_unique<runner>(*m.agents[i], runner_opts(m.cfg, names[i], cpu++), handler));
    if (m.writer)
        m.runners.push_back(std::make_unique<runner>(*m.writer, runner_opts(m.cfg, "tw-sql", cpu++), handler));
    for (auto& r : m.runners) r->start();
}

void pipeline::stop() noexcept {
    auto& m = *impl_;
    m.stopping.store(true, std::memory_order_release);
    if (m.producer_feed && m.consumer != nullptr) {
        // run through Kafka: stop the sources; the consumer ends once it has read back everything
        // they produced, so what was sent is processed (the embedded broker dies with us).
        m.producer_feed->request_stop();
        return;
    }
    // Reading a Kafka that outlives this process: leave open windows to the next reader.
    if (m.consumer != nullptr && !m.broker) m.flush_windows.store(false, std::memory_order_release);
    if (m.producer_feed) m.producer_feed->request_stop();
    if (m.graph_feed) m.graph_feed->request_stop();
}

bool pipeline::finished() const noexcept {
    for (const auto& r : impl_->runners)
        if (!r->finished()) return false;
    return true;
}

std::string pipeline::wait() {
    auto& m = *impl_;
    for (auto& r : m.runners) r->join();
    if (m.consumer != nullptr && !m.finished_consumer) {
        m.finished_consumer = true;
        std::string err;
        {
            std::lock_guard<std::mutex> lock(m.error_mu);
            err = m.first_error;
        }
        // Commit what the outputs hold: everything read when the graph finished cleanly, else the
        // last offsets the graph published.
        try {
            if (err.empty()) {
                partition_offsets final_offsets;
                if (m.writer)
                    final_offsets = m.writer->committed_offsets();
                else
                    m.an->window.safe_offsets(final_offsets);
                m.consumer->finish(final_offsets);
            } else {
                m.consumer->finish({});
            }
        } catch (const std::exception& e) {
            m.on_error("tw-consume", e.what());
        }
    }
    m.stats.produced.store(m.tick_producer ? m.tick_producer->delivered() : 0, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(m.error_mu);
    return m.first_error;
}

const pipeline_stats& pipeline::stats() const noexcept {
    auto& m = *impl_;
    m.stats.messages.store(m.has_graph ? m.consumed_sent.load(std::memory_order_relaxed)
                                       : m.produce_sent.load(std::memory_order_relaxed),
                           std::memory_order_relaxed);
    if (m.tick_producer) m.stats.produced.store(m.tick_producer->delivered(), std::memory_order_relaxed);
    if (m.writer) {
        m.stats.sql_rows.store(m.writer->rows_committed(), std::memory_order_relaxed);
        m.stats.sql_commits.store(m.writer->commits(), std::memory_order_relaxed);
    }
    return m.stats;
}

std::string pipeline::describe() const {
    const auto& m = *impl_;
    const config& c = m.cfg;
    std::string s;
    if (m.mode != pipeline_mode::process) s = "source=" + std::string(to_string(c.source.kind)) + " ";
    if (!c.kafka.brokers.empty()) {
        s += "kafka=" + std::string(m.broker ? "embedded(" + m.bootstrap + ")" : m.bootstrap) +
             " topic=" + c.kafka.topic + " ";
        if (m.mode != pipeline_mode::produce) s += "group=" + c.kafka.group + " ";
    }
    if (!m.has_graph) return s + "(produce only)";
    s += "threads=" + std::to_string(c.pipeline.threads) + " sink=" + m.an->sink.describe();
    return s;
}

std::string pipeline::embedded_bootstraps() const { return impl_->broker ? impl_->bootstrap : std::string(); }

metrics_registry& pipeline::metrics() noexcept { return impl_->metrics; }

std::size_t pipeline::assigned_partitions() const noexcept {
    return impl_->consumer != nullptr ? impl_->consumer->assigned() : 0;
}

} // namespace tapewire
