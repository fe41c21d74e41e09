// The wiring: what a run needs (`run_plan`, decided once from the mode and the validated config),
// built in order, then started, stopped and joined. The jobs themselves live beside it:
// feed.hpp (the source threads), agents.hpp (the pipeline threads), analytics.hpp (the operator
// chain), commit_path.hpp (offsets, checkpoints, resuming from the database).
#include "src/runtime/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"
#include "src/base/tzif.hpp"
#include "src/kafka/consumer.hpp"
#include "src/kafka/embedded_broker.hpp"
#include "src/kafka/producer.hpp"
#include "src/runtime/agents.hpp"
#include "src/runtime/analytics.hpp"
#include "src/runtime/commit_path.hpp"
#include "src/runtime/feed.hpp"
#include "src/runtime/options.hpp"
#include "src/sink/sql_sink.hpp"
#include "src/sink/webhook.hpp"
#include "src/sources/source_factory.hpp"
#include "src/sql/store.hpp"
#include "tapewire/backoff.hpp"
#include "tapewire/blocking_put.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

namespace {

// What a run needs, decided once.
struct run_plan {
    bool embedded = false;      // the broker lives in this process (kafka.brokers = "embedded")
    bool produces = false;      // a source thread writes the input topic (run with Kafka, produce)
    bool has_graph = false;     // the operators run here (run, process)
    bool kafka_in = false;      // the graph reads the input topic as a group member
    bool reads_back = false;    // run through Kafka: the input ends once all the source produced is read
    bool durable_input = false; // a Kafka that outlives the process: a stop leaves open windows to the next reader
    bool kafka_outputs = false; // bars and alerts to their topics (sink kind "kafka")
    bool dlq = false;           // dead letters of Kafka input to kafka.dlq_topic
    bool odbc = false;          // the SQL writer (sink kind "odbc")
    bool resumable = false;     // checkpoints go to the database and are loaded on assignment
};

run_plan make_plan(const config& c, pipeline_mode mode) {
    const bool kafka = !c.kafka.brokers.empty();
    if (!kafka && mode != pipeline_mode::run)
        throw std::runtime_error(std::string(mode == pipeline_mode::produce ? "produce" : "process") +
                                 " needs Kafka, but kafka.brokers is \"\"");
    run_plan p;
    p.embedded = c.kafka.brokers == "embedded";
    p.produces = kafka && mode != pipeline_mode::process;
    p.has_graph = mode != pipeline_mode::produce;
    p.kafka_in = kafka && p.has_graph;
    p.reads_back = p.produces && p.kafka_in;
    p.durable_input = p.kafka_in && !p.embedded;
    p.kafka_outputs = p.kafka_in && c.sink.kind.contains(sink_kind::kafka);
    p.dlq = p.kafka_in && !c.kafka.dlq_topic.empty();
    p.odbc = p.has_graph && c.sink.kind.contains(sink_kind::odbc);
    // The embedded broker's topic starts empty every run: checkpoints of an earlier run would
    // point into nothing.
    p.resumable = p.odbc && p.durable_input;
    return p;
}

runner_options runner_opts(const pipeline_config& c, const char* name, std::size_t index) {
    runner_options r;
    r.name = name;
    r.idle.kind = c.idle;
    if (index < c.cpus.size()) r.cpu = c.cpus[index];
    return r;
}

} // namespace

struct pipeline::impl {
    const config cfg; // as validated: never edited
    const run_limits limits;
    const pipeline_mode mode;
    const run_plan plan;
    pipeline_stats stats;
    metrics_registry metrics;
    std::atomic<bool> input_done{false};   // the graph's input has ended
    std::atomic<bool> produce_done{false}; // the producer half has delivered everything
    std::atomic<std::uint64_t> produce_sent{0}, consumed_sent{0};
    std::atomic<bool> abort{false};
    std::atomic<bool> flush_windows{true};

    // Kafka
    std::unique_ptr<embedded_broker> broker;
    std::string bootstrap;
    std::unique_ptr<kafka_producer> tick_producer;   // sources → topic
    std::unique_ptr<kafka_producer> output_producer; // bars, alerts, dead letters → topics
    offset_board board;
    kafka_consumer_source* consumer = nullptr; // owned by graph_feed

    // The SQL writer, and resuming from what it saved
    std::unique_ptr<sql_ring> sql_rows;
    std::unique_ptr<sql_channel> sql_feed;
    std::unique_ptr<sql_writer> writer;
    restore_board restore;
    std::unique_ptr<checkpoint_loader> loader; // called on the consumer thread

    std::unique_ptr<webhook_sink> webhook; // [alerts] webhook_url; outlives the analytics that offer to it

    // The graph
    message_ring input;
    std::unique_ptr<record_ring> hop; // threads = 2
    parse_stage parse;
    std::unique_ptr<analytics> an;
    std::unique_ptr<bar_input_metrics> bar_metrics;
    std::unique_ptr<pipeline_metrics> stats_metrics;

    std::unique_ptr<feed_base> producer_feed; // source → Kafka
    std::unique_ptr<feed_base> graph_feed;    // source or Kafka → input ring
    std::vector<std::unique_ptr<agent>> agents;
    std::vector<std::unique_ptr<runner>> runners;

    std::mutex error_mu;
    std::string first_error;
    bool finished_consumer = false;

    impl(const config& c, run_limits l, pipeline_mode m)
        : cfg(c), limits(l), mode(m), plan(make_plan(c, m)), input(c.pipeline.input_ring_bytes),
          parse(to_parse_options(c.source, c.window)) {
        if (!c.kafka.brokers.empty()) start_kafka();
        std::unique_ptr<kafka_consumer_source> kafka_in;
        if (plan.kafka_in) {
            kafka_in = std::make_unique<kafka_consumer_source>(cfg.kafka, bootstrap, metrics, board,
                                                               broker ? embedded_broker::consumer_defaults()
                                                                      : kafka_properties{});
            consumer = kafka_in.get();
        }
        if (plan.produces) start_producer_feed();
        if (!plan.has_graph) return;
        if (plan.kafka_outputs || plan.dlq)
            output_producer = std::make_unique<kafka_producer>(cfg.kafka, bootstrap, metrics, "outputs");
        std::string why;
        const watermark_mode event_time = resolve_watermark(cfg.window, cfg.source, &why);
        log::info("window", event_time == watermark_mode::symbol ? "event time per symbol" : "event time per partition",
                  {{"watermark", to_string(event_time)}, {"why", why}});
        an = std::make_unique<analytics>(to_window_options(cfg.window, cfg.source),
                                         to_vwap_options(cfg.vwap, cfg.window), to_anomaly_options(cfg.anomaly),
                                         cfg.sink, cfg.kafka, output_producer.get(), plan.dlq, &abort,
                                         output_producer ? stall_metric("kafka_outputs") : stall_sink{});
        bar_metrics = std::make_unique<bar_input_metrics>(metrics);
        an->bar_metrics = bar_metrics.get();
        stats_metrics = std::make_unique<pipeline_metrics>(metrics, consumed_sent);
        an->stats_metrics = stats_metrics.get();
        if (!cfg.alerts.webhook_url.empty()) {
            webhook = std::make_unique<webhook_sink>(cfg.alerts, metrics, fail());
            an->sink.attach_webhook(webhook.get());
        }
        if (plan.odbc) start_sql();
        start_graph_feed(std::move(kafka_in));
        start_agents();
    }

    // A database that does not answer when the run starts (a transient error: no connection yet, as
    // when it starts beside us) is waited for with the sink's back-off until it answers or a stop is
    // asked for; any other error (a refused login, a missing driver) stops the start at once.
    template <class F> auto when_database_answers(const char* what, F&& f) const {
        backoff retry(cfg.sink.retry_min.count(), cfg.sink.retry_max.count());
        const std::int64_t since = mono_ns();
        for (;;) {
            std::int64_t wait_ns = 0;
            try {
                auto result = f();
                if (retry.failures() > 0)
                    log::info("sql", "the database answers", {{"for", what}, {"waited", duration{mono_ns() - since}}});
                return result;
            } catch (const sql::sql_error& e) {
                if (e.cls != sql::error_class::transient) throw database_error(e);
                wait_ns = retry.next();
                log::warn("sql", "database unavailable at start; waiting",
                          {{"for", what}, {"sqlstate", e.state}, {"error", e.what()}, {"retry_in", duration{wait_ns}}});
                for (const std::int64_t until = mono_ns() + wait_ns; mono_ns() < until;) {
                    if (limits.stop_requested && limits.stop_requested())
                        throw std::runtime_error("stopped while waiting for the database: " + sql::describe(e));
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                }
            }
        }
    }

    void start_kafka() {
        if (!plan.embedded) {
            bootstrap = cfg.kafka.brokers;
            return;
        }
        const auto& k = cfg.kafka;
        broker = std::make_unique<embedded_broker>(static_cast<int>(k.embedded_brokers));
        const int parts = static_cast<int>(k.partitions);
        const int replication = static_cast<int>(std::min<std::uint32_t>(k.embedded_brokers, 3));
        broker->create_topic(k.topic, parts, replication);
        if (!k.dlq_topic.empty()) broker->create_topic(k.dlq_topic, parts, replication);
        broker->create_topic(k.bars_topic, parts, replication);
        broker->create_topic(k.alerts_topic, parts, replication);
        bootstrap = broker->bootstraps();
    }

    void start_producer_feed() {
        tick_producer = std::make_unique<kafka_producer>(cfg.kafka, bootstrap, metrics, "ticks");
        kafka_outlet out(*tick_producer, cfg.kafka.topic, &abort);
        if (plan.embedded && plan.reads_back)
            out.hold_while(broker_throttle(*consumer, *tick_producer, cfg.kafka.topic));
        producer_feed = std::make_unique<feed_agent<kafka_outlet>>(
            make_message_source(cfg.source, metrics, fail(), read_source_context()), std::move(out), cfg.pipeline.batch,
            limits.max_ticks, produce_done, produce_sent, stats);
    }

    void start_sql() {
        const sql::store_options opts = store_options();
        std::unique_ptr<sql::store> st =
            when_database_answers("the SQL sink", [&] { return std::make_unique<sql::store>(opts); });
        sql_rows = std::make_unique<sql_ring>(cfg.sink.ring_size);
        // Dead letters and archived ticks are keyed by where they came from: the topic, or this
        // run of a source read without Kafka.
        const std::string source =
            plan.kafka_in ? cfg.kafka.topic : std::string(to_string(cfg.source.kind)) + "@" + std::to_string(wall_ns());
        sql_feed = std::make_unique<sql_channel>(cfg.sink, *sql_rows, source, &abort, stall_metric("sql_ring"));
        writer = std::make_unique<sql_writer>(cfg.sink, *sql_rows, std::move(st), plan.kafka_in ? &board : nullptr,
                                              metrics, abort, source);
        an->sink.attach_sql(sql_feed.get(), writer->describe());
        if (plan.resumable) {
            loader = std::make_unique<checkpoint_loader>(opts, restore);
            consumer->on_assign([l = loader.get()](const std::vector<std::int32_t>& parts) { return l->load(parts); },
                                backoff(cfg.sink.retry_min.count(), cfg.sink.retry_max.count()));
        }
    }

    void start_graph_feed(std::unique_ptr<kafka_consumer_source> kafka_in) {
        if (plan.reads_back) {
            // run: the input ends once everything produced has been read back.
            kafka_in->end_when_reached([this]() -> std::optional<partition_offsets> {
                if (!produce_done.load(std::memory_order_acquire)) return std::nullopt;
                return tick_producer->delivered_ends(cfg.kafka.topic);
            });
        }
        std::unique_ptr<message_source> src;
        if (kafka_in)
            src = std::move(kafka_in);
        else
            src = make_message_source(cfg.source, metrics, fail(), read_source_context());
        // run through Kafka: --ticks counts what the source produces, not what is read back.
        const std::uint64_t max_ticks = plan.reads_back ? 0 : limits.max_ticks;
        const std::int64_t hold_after = plan.kafka_in ? cfg.kafka.pause_after.count() : 0;
        graph_feed = std::make_unique<feed_agent<ring_outlet>>(std::move(src), ring_outlet(input), cfg.pipeline.batch,
                                                               max_ticks, input_done, consumed_sent, stats, hold_after);
    }

    void start_agents() {
        // With the SQL writer, the offsets that count are those it committed with the rows: it
        // publishes them for Kafka's (advisory) commits itself.
        const offset_publisher offsets(plan.kafka_in && !writer ? &board : nullptr, output_producer.get());
        analytics_control ctl{*an, flush_windows,
                              sql_checkpointer(sql_feed.get(), plan.resumable ? &restore : nullptr)};
        const std::uint32_t batch = cfg.pipeline.batch;
        if (cfg.pipeline.threads >= 2) {
            hop = std::make_unique<record_ring>(cfg.pipeline.ring_size);
            agents.push_back(std::make_unique<parse_agent>(input, parse, *hop, batch, input_done, abort, stats,
                                                           stall_metric("analytics_ring")));
            agents.push_back(std::make_unique<analytics_agent>(*hop, std::move(ctl), batch, offsets, stats));
        } else {
            agents.push_back(
                std::make_unique<fused_agent>(input, parse, std::move(ctl), batch, input_done, offsets, stats));
        }
    }

    // yahoo-chart's gap backfill: each configured symbol with stored bars is asked from the start
    // of the session of its last one, so the refilled day's session VWAP is whole. Read on a
    // connection of its own, before anything runs.
    source_context read_source_context() const {
        source_context ctx;
        const source_config& s = cfg.source;
        if (s.kind != source_kind::yahoo_chart || !s.backfill || !cfg.sink.kind.contains(sink_kind::odbc)) return ctx;
        const std::vector<sql::bar_extent> extents =
            when_database_answers("the gap backfill", [&] { return sql::store(store_options()).bar_extents(); });
        const session_calendar cal = make_session_calendar(cfg.vwap.session_tz, cfg.vwap.session_start);
        for (const sql::bar_extent& e : extents)
            if (std::find(s.symbols.begin(), s.symbols.end(), e.symbol) != s.symbols.end())
                ctx.backfill_from[e.symbol] = cal.start_of(cal.session_of(e.last_start));
        return ctx;
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

    // Time a thread waited for room at one site (a full ring, a busy writer), as a counter.
    stall_sink stall_metric(const std::string& site) {
        return stall_sink(metrics.get_counter("put_stalled_ns_total{site=\"" + site + "\"}",
                                              "time waited for room to put: a full ring, a busy writer (ns)"));
    }

    // A source's own threads report their failures here, as the runners do.
    error_handler fail() {
        return [this](const std::string& who, const std::string& what) { on_error(who, what); };
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
    const pipeline_config& pc = m.cfg.pipeline;
    std::size_t cpu = 0;
    if (m.producer_feed)
        m.runners.push_back(std::make_unique<runner>(*m.producer_feed, runner_opts(pc, "tw-produce", cpu++), handler));
    if (m.graph_feed)
        m.runners.push_back(std::make_unique<runner>(
            *m.graph_feed, runner_opts(pc, m.consumer ? "tw-consume" : "tw-source", cpu++), handler));
    const char* names[] = {"tw-pipeline", "tw-analytics"};
    for (std::size_t i = 0; i < m.agents.size(); ++i)
        m.runners.push_back(std::make_unique<runner>(*m.agents[i], runner_opts(pc, names[i], cpu++), handler));
    if (m.writer) m.runners.push_back(std::make_unique<runner>(*m.writer, runner_opts(pc, "tw-sql", cpu++), handler));
    if (m.webhook) m.webhook->start();
    for (auto& r : m.runners) r->start();
}

void pipeline::stop() noexcept {
    auto& m = *impl_;
    if (m.plan.reads_back) {
        // run through Kafka: stop the sources; the consumer ends once it has read back everything
        // they produced, so what was sent is processed (the embedded broker dies with us).
        m.producer_feed->request_stop();
        return;
    }
    // Reading a Kafka that outlives this process: leave open windows to the next reader.
    if (m.plan.durable_input) m.flush_windows.store(false, std::memory_order_release);
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
    if (m.webhook) m.webhook->stop(); // the analytics thread has ended: drain what it offered
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
    m.stats.messages.store(m.plan.has_graph ? m.consumed_sent.load(std::memory_order_relaxed)
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
    if (!m.plan.has_graph) return s + "(produce only)";
    s += "threads=" + std::to_string(c.pipeline.threads) + " sink=" + m.an->sink.describe();
    if (m.webhook) s += " alerts=" + m.webhook->describe();
    return s;
}

std::string pipeline::embedded_bootstraps() const { return impl_->broker ? impl_->bootstrap : std::string(); }

metrics_registry& pipeline::metrics() noexcept { return impl_->metrics; }

std::size_t pipeline::assigned_partitions() const noexcept {
    return impl_->consumer != nullptr ? impl_->consumer->assigned() : 0;
}

} // namespace tapewire
