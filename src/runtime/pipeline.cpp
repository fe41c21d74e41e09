#include "src/runtime/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "operators/analytics.hpp"
#include "operators/parse.hpp"
#include "src/runtime/clock.hpp"
#include "src/runtime/tzif.hpp"
#include "src/sink/ndjson.hpp"
#include "src/sources/message_source.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

namespace {

// ---- the analytics chain: window → vwap → anomaly → sink, fused -------------------------------

struct analytics : analytics_chain<ndjson_sink> {
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

// ---- source thread -------------------------------------------------------------------------------

class source_agent final : public agent {
public:
    source_agent(std::unique_ptr<message_source> src, message_ring& ring, std::uint32_t batch, std::uint64_t max_ticks,
                 std::atomic<bool>& input_done, pipeline_stats& stats)
        : src_(std::move(src)), ring_(ring), batch_(batch), max_ticks_(max_ticks), input_done_(input_done),
          stats_(stats) {}

    void request_stop() noexcept { stop_.store(true, std::memory_order_release); }

    std::size_t do_work() override {
        if (finished_) return 0;
        if (stop_.load(std::memory_order_acquire)) {
            finish();
            return 0;
        }
        const std::int64_t now = mono_ns();
        std::size_t n = 0;
        while (n < batch_) {
            if (!pending_) {
                if (max_ticks_ != 0 && sent_ >= max_ticks_) {
                    finish();
                    break;
                }
                if (!src_->next(msg_)) {
                    finish();
                    break;
                }
                pending_ = true;
            }
            if (msg_.release_at_mono_ns > now) break; // paced: not due yet
            // Stamped with the pass's clock: the batch becomes visible at one publish anyway, so a
            // read per message would only cost the source its speed.
            const origin o{msg_.partition, static_cast<std::int64_t>(sent_), now};
            if (!ring_.try_stage(msg_.key, msg_.payload, o)) {
                if (msg_.key.size() + msg_.payload.size() > ring_.max_message()) {
                    // Larger than the ring can ever hold: say so rather than wait forever.
                    std::fprintf(stderr,
                                 "tapewire: source message %llu of %zu bytes exceeds the input ring's limit (%zu); "
                                 "raise pipeline.input_ring_bytes\n",
                                 static_cast<unsigned long long>(sent_), msg_.payload.size(), ring_.max_message());
                    throw std::runtime_error("source message larger than pipeline.input_ring_bytes / 4");
                }
                stats_.source_stalls.fetch_add(1, std::memory_order_relaxed);
                break; // backpressure: the pipeline is behind; keep the message and retry
            }
            pending_ = false;
            ++sent_;
            ++n;
        }
        ring_.publish();
        stats_.messages.store(sent_, std::memory_order_relaxed);
        return n;
    }

    void on_close() override { finish(); }

    [[nodiscard]] bool done() const override { return finished_; }

private:
    void finish() {
        if (finished_) return;
        finished_ = true;
        ring_.publish();
        src_->close();
        stats_.messages.store(sent_, std::memory_order_relaxed);
        input_done_.store(true, std::memory_order_release);
    }

    std::unique_ptr<message_source> src_;
    message_ring& ring_;
    std::uint32_t batch_;
    std::uint64_t max_ticks_;
    std::atomic<bool>& input_done_;
    pipeline_stats& stats_;
    std::atomic<bool> stop_{false};
    source_message msg_;
    bool pending_ = false;
    bool finished_ = false;
    std::uint64_t sent_ = 0;
};

// ---- pipeline threads ----------------------------------------------------------------------------

// Pulls raw messages and parses them into `Out` (the fused analytics, or a ring to the next thread).
template <class Out> class parse_driver {
public:
    parse_driver(message_ring& in, parse_stage& parse, std::uint32_t batch, const std::atomic<bool>& input_done)
        : in_(in), parse_(parse), batch_(batch), input_done_(input_done) {}

    // Returns messages handled; sets `ended` once the input is over and fully drained.
    std::size_t pass(timestamp_ns now, Out& out, bool& ended) {
        parse_.on_timer(now, out);
        std::size_t n = 0;
        raw_message m;
        while (n < batch_ && in_.front(m)) {
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
};

// threads = 1: parse and the analytics fused on one thread.
class fused_agent final : public agent {
public:
    fused_agent(message_ring& in, parse_stage& parse, analytics& an, std::uint32_t batch,
                const std::atomic<bool>& input_done, pipeline_stats& stats)
        : driver_(in, parse, batch, input_done), parse_(parse), an_(an), stats_(stats) {}

    std::size_t do_work() override {
        const timestamp_ns now = wall_ns();
        an_.head.on_timer(now);
        bool ended = false;
        const std::size_t n = driver_.pass(now, an_.head, ended);
        if (ended) {
            an_.head.on_flush();
            done_ = true;
        }
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

    parse_driver<analytics_head> driver_;
    parse_stage& parse_;
    analytics& an_;
    pipeline_stats& stats_;
    bool done_ = false;
};

// threads = 2, first half: parse into the ring.
class parse_agent final : public agent {
public:
    parse_agent(message_ring& in, parse_stage& parse, record_ring& out, std::uint32_t batch,
                const std::atomic<bool>& input_done, const std::atomic<bool>& abort, pipeline_stats& stats)
        : driver_(in, parse, batch, input_done), parse_(parse), emit_(out, &abort), stats_(stats) {}

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
    analytics_agent(record_ring& in, analytics& an, std::uint32_t batch, pipeline_stats& stats)
        : in_(in), an_(an), batch_(batch), stats_(stats) {}

    std::size_t do_work() override {
        an_.head.on_timer(wall_ns());
        bool flushed = false;
        const std::size_t n = drain_ring(in_, an_.head, batch_, flushed);
        if (flushed) done_ = true;
        an_.publish(stats_);
        return n;
    }
    void on_close() override {
        if (!done_) discard_ring(in_);
    }
    [[nodiscard]] bool done() const override { return done_; }

private:
    record_ring& in_;
    analytics& an_;
    std::uint32_t batch_;
    pipeline_stats& stats_;
    bool done_ = false;
};

window_options to_window_options(const window_config& c) {
    return {c.width.count(), c.allowed_lateness.count(), c.idle_timeout.count(), c.late_update_horizon.count()};
}

anomaly_options to_anomaly_options(const anomaly_config& c) {
    return {c.price_jump, c.return_z, c.volume_spike, c.vwap_dev_bps, c.ewma_alpha, c.warmup_bars};
}

vwap_options to_vwap_options(const config& c) {
    vwap_options o;
    o.rolling_windows = c.vwap.rolling_windows;
    // Enough history to fold any correction the window stage can still emit into the session sums.
    const std::int64_t horizon_windows =
        c.window.late_update_horizon.count() / std::max<std::int64_t>(1, c.window.width.count());
    o.history = static_cast<std::uint32_t>(std::clamp<std::int64_t>(horizon_windows + 2, o.rolling_windows, 4096));
    o.calendar = make_session_calendar(c.vwap.session_tz, c.vwap.session_start);
    return o;
}

parse_options to_parse_options(const config& c) {
    parse_options o;
    (void)o.default_symbol.assign(c.source.symbol);
    o.max_future_skew_ns = c.window.max_future_skew.count();
    return o;
}

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
    pipeline_stats stats;
    std::atomic<bool> input_done{false};
    std::atomic<bool> abort{false};

    message_ring input;
    std::unique_ptr<record_ring> hop; // threads = 2
    parse_stage parse;
    std::unique_ptr<analytics> an;

    std::unique_ptr<source_agent> source;
    std::vector<std::unique_ptr<agent>> agents;
    std::vector<std::unique_ptr<runner>> runners;

    std::mutex error_mu;
    std::string first_error;

    explicit impl(const config& c, run_limits l)
        : cfg(c), limits(l), input(c.pipeline.input_ring_bytes), parse(to_parse_options(c)) {
        an = std::make_unique<analytics>(to_window_options(c.window), to_vwap_options(c), to_anomaly_options(c.anomaly),
                                         c.sink);
        source = std::make_unique<source_agent>(make_message_source(c), input, c.pipeline.batch, l.max_ticks,
                                                input_done, stats);
        if (c.pipeline.threads >= 2) {
            hop = std::make_unique<record_ring>(c.pipeline.ring_size);
            agents.push_back(
                std::make_unique<parse_agent>(input, parse, *hop, c.pipeline.batch, input_done, abort, stats));
            agents.push_back(std::make_unique<analytics_agent>(*hop, *an, c.pipeline.batch, stats));
        } else {
            agents.push_back(std::make_unique<fused_agent>(input, parse, *an, c.pipeline.batch, input_done, stats));
        }
    }

    void on_error(const std::string& who, const std::string& what) {
        {
            std::lock_guard<std::mutex> lock(error_mu);
            if (first_error.empty()) first_error = who + ": " + what;
        }
        // One thread failing stops the rest: the source first, then any wait on a ring.
        source->request_stop();
        abort.store(true, std::memory_order_release);
        for (auto& r : runners) r->request_stop();
    }
};

pipeline::pipeline(const config& cfg, run_limits limits) : impl_(std::make_unique<impl>(cfg, limits)) {}

pipeline::~pipeline() {
    if (impl_) {
        stop();
        wait();
    }
}

void pipeline::start() {
    auto& m = *impl_;
    auto handler = [&m](const std::string& who, const std::string& what) { m.on_error(who, what); };
    m.runners.push_back(std::make_unique<runner>(*m.source, runner_opts(m.cfg, "tw-source", 0), handler));
    const char* names[] = {"tw-pipeline", "tw-analytics"};
    for (std::size_t i = 0; i < m.agents.size(); ++i)
        m.runners.push_back(std::make_unique<runner>(*m.agents[i], runner_opts(m.cfg, names[i], i + 1), handler));
    for (auto& r : m.runners) r->start();
}

void pipeline::stop() noexcept { impl_->source->request_stop(); }

bool pipeline::finished() const noexcept {
    for (const auto& r : impl_->runners)
        if (!r->finished()) return false;
    return true;
}

std::string pipeline::wait() {
    for (auto& r : impl_->runners) r->join();
    std::lock_guard<std::mutex> lock(impl_->error_mu);
    return impl_->first_error;
}

const pipeline_stats& pipeline::stats() const noexcept { return impl_->stats; }

std::string pipeline::describe() const {
    const config& c = impl_->cfg;
    std::string s = "source=" + c.source.kind + " threads=" + std::to_string(c.pipeline.threads) + " sink=";
    for (std::size_t i = 0; i < c.sink.kind.size(); ++i) s += (i ? "," : "") + c.sink.kind[i];
    s += "(" + impl_->an->sink.path() + ")";
    return s;
}

} // namespace tapewire
