// The feed: the source thread's agent, pulling messages from a `message_source` in batches and
// putting them into an outlet (the graph's input ring, or the input topic), stalling, never
// dropping, when the outlet has no room. Also the embedded broker's throttle on the producer.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"
#include "src/base/message_source.hpp"
#include "src/kafka/consumer.hpp"
#include "src/kafka/producer.hpp"
#include "src/runtime/pipeline.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

// ---- where the source thread puts messages ---------------------------------------------------------

// Into the graph's input ring; an instruction from the consumer takes its place among the messages.
class ring_outlet {
public:
    explicit ring_outlet(message_ring& r) : ring_(r) {}
    bool try_put(const source_message& m, const origin& o) {
        if (m.control != nullptr) [[unlikely]]
            return ring_.try_stage_control(*m.control);
        return ring_.try_stage(m.key, m.payload, o);
    }
    [[nodiscard]] bool too_large(const source_message& m) const {
        return m.key.size() + m.payload.size() > ring_.max_message();
    }
    [[nodiscard]] std::size_t limit() const { return ring_.max_message(); }
    void publish() { ring_.publish(); }
    void finish() { ring_.publish(); }

private:
    message_ring& ring_;
};

// `run` with the embedded broker, which keeps only ~5 MiB per partition and silently drops the
// oldest messages beyond: holds the producer while the consumer's worst partition, plus everything
// librdkafka has not delivered yet (it may all land on that partition), exceeds 4 MiB of messages.
// Over that it holds; it resumes below half, so that it then writes large batches (this broker
// serves one batch per partition per fetch, and a trickle of small ones would slow the consumer
// down further). Asked every 256 messages, and on every attempt while holding.
class broker_throttle {
public:
    broker_throttle(const kafka_consumer_source& consumer, const kafka_producer& producer, std::string topic)
        : consumer_(&consumer), producer_(&producer), topic_(std::move(topic)) {}

    // Before each message: true = hold it back for now.
    [[nodiscard]] bool holding() {
        if (!holding_ && (count_ & 255) != 0) return false;
        const double f = backlog(count_ == 0 ? 128 : bytes_ / count_);
        holding_ = holding_ ? f >= 0.5 : f > 1.0;
        return holding_;
    }
    // A message of `bytes` went to the producer.
    void sent(std::size_t bytes) {
        bytes_ += bytes;
        ++count_;
    }

private:
    // How full the worst partition could get, as a fraction of what is safe.
    [[nodiscard]] double backlog(std::uint64_t avg_bytes) const {
        const double limit = static_cast<double>((std::uint64_t{4} << 20) / (avg_bytes + 64));
        std::int64_t worst = 0;
        for (const auto& [p, end] : producer_->delivered_ends(topic_))
            worst = std::max(worst, end - consumer_->position(p));
        const auto undelivered = static_cast<std::int64_t>(producer_->produced() - producer_->delivered());
        return static_cast<double>(worst + undelivered) / limit;
    }

    const kafka_consumer_source* consumer_;
    const kafka_producer* producer_;
    std::string topic_;
    bool holding_ = false;
    std::uint64_t bytes_ = 0, count_ = 0;
};

// Into the input topic, key = symbol. librdkafka's full queue (or, with the embedded broker, a
// consumer too far behind for the broker's retention) stalls the source.
class kafka_outlet {
public:
    // `abort` (may be null) ends the wait in finish() when the pipeline is failing anyway.
    kafka_outlet(kafka_producer& p, const std::string& topic, const std::atomic<bool>* abort = nullptr)
        : producer_(p), topic_(p.topic(topic)), abort_(abort) {}

    void hold_while(broker_throttle throttle) { throttle_.emplace(std::move(throttle)); }

    // The sources that feed a topic have no partitions to instruct: they send no control.
    bool try_put(const source_message& m, const origin&) {
        if (throttle_ && throttle_->holding()) return false;
        if (!producer_.try_produce(topic_, m.key, m.payload)) return false;
        if (throttle_) throttle_->sent(m.key.size() + m.payload.size());
        return true;
    }
    [[nodiscard]] bool too_large(const source_message&) const { return false; } // librdkafka says so
    [[nodiscard]] std::size_t limit() const { return 0; }
    void publish() {
        producer_.poll(0);
        if (auto f = producer_.failure(); !f.empty()) throw kafka_error(f);
    }
    // Waits until the broker has every message; retried for as long as the outage lasts, unless
    // another thread has failed the pipeline (then the undelivered count is the error).
    void finish() {
        while (!producer_.flush(std::chrono::milliseconds(100))) {
            if (auto f = producer_.failure(); !f.empty()) throw kafka_error(f);
            if (abort_ != nullptr && abort_->load(std::memory_order_acquire))
                throw kafka_error("the pipeline failed with " + std::to_string(producer_.in_flight()) +
                                  " messages not yet delivered to the broker");
        }
        if (auto f = producer_.failure(); !f.empty()) throw kafka_error(f);
    }

private:
    kafka_producer& producer_;
    rd_kafka_topic_t* topic_;
    const std::atomic<bool>* abort_;
    std::optional<broker_throttle> throttle_;
};

// ---- the source thread -----------------------------------------------------------------------------

class feed_base : public agent {
public:
    void request_stop() noexcept { stop_.store(true, std::memory_order_release); }

protected:
    std::atomic<bool> stop_{false};
};

// Pulls messages from a source into an outlet, in batches, stalling (never dropping) when the
// outlet has no room.
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

} // namespace tapewire
