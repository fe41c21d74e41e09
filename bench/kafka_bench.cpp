// tapewire-bench kafka: the Kafka input path, measured against two floors, in one run on one topic.
//
//   tapewire-bench kafka [--ticks N] [--partitions P] [--symbols S] [--threads 1|2|both]
//                        [--rate R] [--latency-seconds S] [--warmup-seconds S] [--fetch-wait-ms F]
//                        [--no-latency] [--no-kcat] [--no-tuned] [--tuned K=V] [--consumer K=V]
//                        [--producer K=V] [--idle K] [--seed N] [--verbose] [--json]
//
// An embedded broker (librdkafka's mock cluster, in this process) gets one topic pre-filled with N
// canonical ticks before anything is timed; then, on that same topic:
//   bare      a bare librdkafka consumer (rd_kafka_assign to every partition from the beginning, no
//             group, rd_kafka_consume_batch_queue in a loop) that only counts: the floor of reading;
//             run before and after the tapewire runs, the mean is the reference
//   tapewire  the real runtime, tapewire::pipeline in pipeline_mode::process (a group member),
//             consume + parse + window + vwap + anomaly + NDJSON sink to /dev/null, with
//             pipeline.threads 1 and 2, then both again with the proposed consumer setting
//   kcat      kcat -b BOOTSTRAP -C -t TOPIC -e -o beginning -q > /dev/null, wall clock around it
// and, on fresh topics, the end-to-end latency from produce() to the bar's emission (and to each
// tick leaving the anomaly stage) at a paced rate, for tapewire and for a bare consumer, with the
// consumer defaults and with fetch.wait.max.ms = F. Every phase must read exactly the messages
// produced; one that does not is an error, not a result. See README.md for the definitions.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/common/args.hpp"
#include "bench/common/cpu_time.hpp"
#include "bench/common/percentiles.hpp"
#include "bench/common/perf_control.hpp"
#include "bench/common/report.hpp"
#include "bench/common/tick_feed.hpp"
#include "operators/analytics.hpp"
#include "operators/parse.hpp"
#include "src/base/clock.hpp"
#include "src/base/metrics.hpp"
#include "src/base/tzif.hpp"
#include "src/kafka/client.hpp"
#include "src/kafka/consumer.hpp"
#include "src/kafka/embedded_broker.hpp"
#include "src/kafka/producer.hpp"
#include "src/runtime/options.hpp"
#include "src/runtime/pipeline.hpp"
#include "src/sink/outputs.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/runner.hpp"

extern char** environ;

namespace tapewire::bench {

int kafka_main(int argc, char** argv);

namespace {

// The embedded broker keeps ~5 MiB of record batches per partition and silently drops the oldest
// beyond that (rdkafka_mock.c: max_size = 5 MiB, max_cnt = 100 000 batches).
constexpr std::uint64_t k_broker_keeps = 5u << 20;

struct kafka_args {
    std::uint64_t ticks = 2'000'000;
    std::uint32_t partitions = 64;
    std::uint32_t symbols = 500;
    bool threads1 = true, threads2 = true;
    double rate = 50'000;
    double latency_seconds = 10;
    double warmup_seconds = 2;
    int fetch_wait_ms = 5;                   // the latency phase's tuned variant: consumer fetch.wait.max.ms
    idle_kind idle = pipeline_config{}.idle; // pipeline.idle of the tapewire runs
    bool latency = true;
    bool kcat = true;
    std::uint64_t seed = 42;
    bool json = false;
    bool verbose = false;
    // Extra librdkafka properties, for experiments: consumer ones go to every reader (bare, tapewire,
    // kcat -X, the latency chain), producer ones to the latency producer.
    std::vector<std::pair<std::string, std::string>> consumer_props, producer_props;
    // The tapewire runs are repeated with these consumer properties added (the change proposed in
    // README.md); --no-tuned skips them, --tuned K=V replaces the set.
    bool tuned = true;
    std::vector<std::pair<std::string, std::string>> tuned_props{{"queued.min.messages", "10000000"}};
    bool tuned_given = false;
};

// perf samples the phase named by TAPEWIRE_PERF_PHASE: "tapewire" (default: the throughput runs of
// the runtime, from start() to finished(), group join included) or "bare" (the bare consumer's runs).
perf_control& perf() {
    static perf_control p("tapewire");
    return p;
}

// CPU time of this process's threads over a span, grouped by thread name (librdkafka names its
// threads rdk:main, rdk:brokerN, the embedded broker's rdk:mock; the runtime's are tw-consume,
// tw-pipeline, tw-analytics).
struct cpu_use {
    std::vector<std::pair<std::string, double>> run_ns_by_name; // sorted, largest first
    double run_ns = 0, wait_ns = 0;                             // all threads
    double others_ns = 0, steal_ns = 0; // other processes on the machine; the hypervisor's steal

    // Threads born inside the span count from zero. The total is the process's CPU time (exact);
    // a thread that ended inside the span is counted up to its last reading in `b`, and what that
    // misses shows as "unseen".
    static cpu_use between(const cpu_snapshot& a, const cpu_snapshot& b) {
        cpu_use u;
        std::map<std::string, double> by;
        double seen = 0;
        for (const auto& [tid, v] : b.threads) {
            std::uint64_t run0 = 0, wait0 = 0;
            if (auto it = a.threads.find(tid); it != a.threads.end()) {
                run0 = it->second.run_ns;
                wait0 = it->second.wait_ns;
            }
            const double run = static_cast<double>(v.run_ns - run0);
            by[v.name] += run;
            seen += run;
            u.wait_ns += static_cast<double>(v.wait_ns - wait0);
        }
        u.run_ns = static_cast<double>(b.process_ns - a.process_ns);
        u.others_ns = std::max(0.0, b.machine.busy_ns - a.machine.busy_ns - u.run_ns);
        u.steal_ns = b.machine.steal_ns - a.machine.steal_ns;
        if (u.run_ns - seen > 0.01 * u.run_ns) by["unseen"] += u.run_ns - seen;
        u.run_ns_by_name.assign(by.begin(), by.end());
        std::sort(u.run_ns_by_name.begin(), u.run_ns_by_name.end(),
                  [](const auto& x, const auto& y) { return x.second > y.second; });
        return u;
    }

    // "tw-pipeline 310, tw-consume 250, ... = 1140 ns CPU per message; 1.95 CPUs busy, ..."
    [[nodiscard]] std::string per_message(std::uint64_t messages, double seconds) const {
        std::string out;
        char buf[96];
        const double n = static_cast<double>(std::max<std::uint64_t>(messages, 1));
        double other = 0;
        for (const auto& [name, ns] : run_ns_by_name) {
            if (ns / n < 15) {
                other += ns;
                continue;
            }
            std::snprintf(buf, sizeof buf, "%s%s %.0f", out.empty() ? "" : ", ", name.c_str(), ns / n);
            out += buf;
        }
        if (other > 0) {
            std::snprintf(buf, sizeof buf, ", other %.0f", other / n);
            out += buf;
        }
        char tail[256];
        const double sec = seconds > 0 ? seconds * 1e9 : 1;
        std::snprintf(tail, sizeof tail,
                      " = %.0f ns of CPU per message; %.2f CPUs busy, %.2f threads waiting for one; other processes "
                      "%.2f CPUs, steal %.2f",
                      run_ns / n, run_ns / sec, wait_ns / sec, others_ns / sec, steal_ns / sec);
        return out + tail;
    }
};

// ---- pre-fill ------------------------------------------------------------------------------------

// "SYM0042" of {"symbol":"SYM0042",...}: the key of the message and, by its number, the partition.
std::string_view symbol_of(std::string_view payload) {
    constexpr std::string_view head = "{\"symbol\":\"";
    if (payload.substr(0, head.size()) != head) return {};
    const std::size_t end = payload.find('"', head.size());
    return end == std::string_view::npos ? std::string_view{} : payload.substr(head.size(), end - head.size());
}

std::uint32_t symbol_index(std::string_view sym) {
    std::uint32_t n = 0;
    if (sym.size() > 3) (void)std::from_chars(sym.data() + 3, sym.data() + sym.size(), n);
    return n;
}

struct delivery_counts {
    std::atomic<std::uint64_t> delivered{0}, failed{0};
};

void count_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* c = static_cast<delivery_counts*>(opaque);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        c->delivered.fetch_add(1, std::memory_order_relaxed);
    else if (c->failed.fetch_add(1, std::memory_order_relaxed) == 0)
        std::fprintf(stderr, "tapewire-bench: pre-fill delivery failed: %s\n", rd_kafka_err2str(m->err));
}

struct prefill_result {
    double seconds = 0;
    std::uint64_t payload_bytes = 0;
    std::uint64_t largest_partition = 0; // messages
};

// Produces the feed's messages, key = symbol, symbol i on partition i % P (explicit, so every
// partition holds the same number of symbols and none goes past what the broker keeps), with
// tapewire's producer defaults (idempotent, linger.ms 5). Then checks with the broker that every
// partition holds exactly what was sent to it, from offset 0.
prefill_result prefill(const std::string& bootstrap, const std::string& topic, const tick_feed& feed,
                       std::uint32_t partitions) {
    const std::size_t n = feed.size();
    std::vector<std::int32_t> part(n);
    std::vector<std::uint64_t> count(partitions, 0), bytes(partitions, 0);
    prefill_result r;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string_view m = feed.message(i);
        const std::string_view sym = symbol_of(m);
        if (sym.empty()) throw failure("pre-fill: message without a symbol: " + std::string(m));
        const auto p = static_cast<std::int32_t>(symbol_index(sym) % partitions);
        part[i] = p;
        ++count[static_cast<std::size_t>(p)];
        // A record in a v2 batch: ~10 bytes of framing + key + value; a batch adds ~70 bytes.
        bytes[static_cast<std::size_t>(p)] += m.size() + sym.size() + 12;
        r.payload_bytes += m.size();
    }
    const auto largest = static_cast<std::size_t>(std::max_element(bytes.begin(), bytes.end()) - bytes.begin());
    r.largest_partition = count[largest];
    if (bytes[largest] > k_broker_keeps * 9 / 10)
        throw failure("pre-fill: partition " + std::to_string(largest) + " would hold ~" +
                      std::to_string(bytes[largest] >> 10) + " KiB, but the embedded broker keeps only ~5 MiB per " +
                      "partition: raise --partitions or lower --ticks");

    delivery_counts dc;
    kafka_config kc;
    kafka_conf conf = make_kafka_conf(kc, kafka_role::producer, bootstrap, "tapewire-bench-prefill");
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &count_delivery);
    rd_kafka_conf_set_opaque(conf.get(), &dc);
    kafka_handle rk = make_kafka_client(std::move(conf), kafka_role::producer);

    const std::int64_t t0 = mono_ns();
    for (std::size_t i = 0; i < n; ++i) {
        const std::string_view m = feed.message(i);
        const std::string_view sym = symbol_of(m);
        for (;;) {
            const rd_kafka_resp_err_t err =
                rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(part[i]),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(sym.data(), sym.size()),
                                  RD_KAFKA_V_VALUE(const_cast<char*>(m.data()), m.size()), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                throw failure(std::string("pre-fill: produce failed: ") + rd_kafka_err2str(err));
            rd_kafka_poll(rk.get(), 1);
        }
        if ((i & 1023) == 0) rd_kafka_poll(rk.get(), 0);
    }
    for (int tries = 0; rd_kafka_flush(rk.get(), 1000) != RD_KAFKA_RESP_ERR_NO_ERROR; ++tries)
        if (tries >= 120 || dc.failed.load() != 0) throw failure("pre-fill: the broker did not take every message");
    r.seconds = static_cast<double>(mono_ns() - t0) / 1e9;
    count_check("pre-fill").equal("delivered", dc.delivered.load(), n).equal("failed", dc.failed.load(), 0).enforce();

    for (std::uint32_t p = 0; p < partitions; ++p) {
        std::int64_t low = -1, high = -1;
        const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk.get(), topic.c_str(), static_cast<std::int32_t>(p), &low, &high, 10'000);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
            throw failure("pre-fill: cannot read the offsets of partition " + std::to_string(p) + ": " +
                          rd_kafka_err2str(err));
        if (low != 0 || high != static_cast<std::int64_t>(count[p]))
            throw failure("pre-fill: partition " + std::to_string(p) + " holds offsets " + std::to_string(low) + ".." +
                          std::to_string(high) + ", expected 0.." + std::to_string(count[p]) +
                          " (the broker dropped messages: raise --partitions)");
    }
    return r;
}

// ---- floor 1: a bare consumer --------------------------------------------------------------------

// Messages read, sampled from the first one on: the start of the span the rate is computed over,
// and the count at the end of each 100 ms of it.
struct read_span {
    std::int64_t t_first = 0;          // mono ns of the first sample that saw a message
    std::uint64_t at_first = 0;        // messages by then: not counted in the rate
    std::vector<std::uint64_t> series; // messages at the end of each 100 ms

    [[nodiscard]] bool started() const noexcept { return t_first != 0; }
    void start(std::int64_t now, std::uint64_t messages) {
        t_first = now;
        at_first = messages;
    }
    void record(std::int64_t now, std::uint64_t messages) {
        const auto slot = static_cast<std::size_t>((now - t_first) / 100'000'000);
        if (series.size() <= slot) series.resize(slot + 1, messages);
        series[slot] = messages;
    }
    // The messages of each 100 ms.
    [[nodiscard]] std::vector<std::uint64_t> per_100ms() const {
        std::vector<std::uint64_t> out;
        std::uint64_t prev = at_first;
        for (const std::uint64_t v : series) {
            out.push_back(v - prev);
            prev = v;
        }
        return out;
    }
};

struct read_result {
    cpu_use cpu;                          // the process's threads over the timed span
    std::uint64_t messages = 0;           // read in the phase
    std::uint64_t counted = 0;            // messages the rate is computed over (after the first sample)
    double seconds = 0;                   // span the rate is computed over
    double startup_seconds = 0;           // from the start of the phase to its first message
    std::vector<std::uint64_t> per_100ms; // messages in each 100 ms from the first sample
    [[nodiscard]] double rate() const { return seconds > 0 ? static_cast<double>(counted) / seconds : 0; }
    // Seconds of the span in whole 100 ms slots in which no message arrived (the last slot aside).
    [[nodiscard]] double starved_seconds() const {
        std::size_t n = 0;
        for (std::size_t i = 0; i + 1 < per_100ms.size(); ++i) n += per_100ms[i] == 0 ? 1 : 0;
        return static_cast<double>(n) / 10;
    }
};

int g_group_serial = 0;
std::string unique_group(const char* what) {
    return "tapewire-bench-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(++g_group_serial);
}

// Assigned to every partition from the beginning (no subscription, so no group join), reads with
// rd_kafka_consume_batch_queue in batches of up to 1024 with timeout 0 (what is queued, at once: as
// kafka_consumer_source does) and only counts; when nothing is queued it blocks in
// rd_kafka_consume_queue for the next message instead of spinning. (A batch call with a timeout
// waits until the batch is full or the timeout passes, which would add up to the timeout to the
// end.) Timed from the return of the first call that got a message to that of the call that got
// the last; the first call's messages are not counted in the rate.
read_result bare_consumer(const std::string& bootstrap, const std::string& topic, std::uint32_t partitions,
                          std::uint64_t expected, const kafka_args& a) {
    kafka_conf conf(rd_kafka_conf_new());
    set_property(conf.get(), "bootstrap.servers", bootstrap);
    set_property(conf.get(), "client.id", "tapewire-bench-bare");
    set_property(conf.get(), "group.id", unique_group("bare")); // rd_kafka_assign needs one; never joined
    set_property(conf.get(), "enable.auto.commit", "false");
    set_property(conf.get(), "enable.partition.eof", "false");
    set_property(conf.get(), "log.connection.close", "false");
    for (const auto& [k, v] : a.consumer_props) set_property(conf.get(), k, v);
    route_kafka_log(conf.get());
    kafka_handle rk = make_kafka_client(std::move(conf), kafka_role::consumer);
    (void)rd_kafka_poll_set_consumer(rk.get());
    kafka_partition_list parts(rd_kafka_topic_partition_list_new(static_cast<int>(partitions)));
    for (std::uint32_t p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), static_cast<std::int32_t>(p))->offset =
            RD_KAFKA_OFFSET_BEGINNING;

    read_result r;
    std::vector<rd_kafka_message_t*> batch(1024);
    const std::int64_t t_phase = mono_ns();
    if (const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), parts.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw failure(std::string("bare consumer: assign failed: ") + rd_kafka_err2str(err));
    kafka_queue queue(rd_kafka_queue_get_consumer(rk.get()));
    perf().enable("bare");
    read_span span;
    std::int64_t t_last = 0;
    std::uint64_t errors = 0;
    cpu_snapshot cpu0;
    const std::int64_t deadline = t_phase + 120'000'000'000;
    while (r.messages < expected) {
        ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 0, batch.data(), batch.size());
        if (n < 0) throw failure(std::string("bare consumer: ") + rd_kafka_err2str(rd_kafka_last_error()));
        if (n == 0) {
            batch[0] = rd_kafka_consume_queue(queue.get(), 100);
            n = batch[0] != nullptr ? 1 : 0;
        }
        const std::int64_t now = mono_ns();
        for (ssize_t i = 0; i < n; ++i) {
            rd_kafka_message_t* m = batch[static_cast<std::size_t>(i)];
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                ++r.messages;
            else if (++errors == 1)
                std::fprintf(stderr, "tapewire-bench: bare consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        if (!span.started() && r.messages > 0) {
            span.start(now, r.messages);
            cpu0 = cpu_snapshot::now();
        } else if (span.started()) {
            span.record(now, r.messages);
        }
        t_last = now;
        if (now > deadline) break;
    }
    perf().disable("bare");
    r.cpu = cpu_use::between(cpu0, cpu_snapshot::now());
    (void)rd_kafka_assign(rk.get(), nullptr);
    queue.reset();
    (void)rd_kafka_consumer_close(rk.get());
    count_check("bare consumer").equal("messages", r.messages, expected).equal("errors", errors, 0).enforce();
    r.counted = r.messages - span.at_first;
    r.seconds = static_cast<double>(t_last - span.t_first) / 1e9;
    r.startup_seconds = static_cast<double>(span.t_first - t_phase) / 1e9;
    r.per_100ms = span.per_100ms();
    return r;
}

// ---- tapewire: the runtime in `process` mode -----------------------------------------------------

struct pipeline_result : read_result {
    std::uint64_t bars = 0, alerts = 0, dead_letters = 0, stalls = 0, pauses = 0;
    double finish_seconds = 0; // from the last message parsed to every thread finished
};

// tapewire::pipeline as `tapewire process` builds it, reading the topic as a group member until every
// partition is at its end. stats() is sampled every ~1 ms from this thread; the span runs from the
// first sample that sees a message handed to parse to the first sample at which every message has
// been parsed (stats().ticks: with pipeline.threads = 1 that is after window, vwap and anomaly too,
// which run fused behind parse; with 2 the analytics thread is at most one 4096-record ring behind).
// Messages handed over before the first sample are not counted in the rate. The run then goes on
// to its end (every partition seen at its end, open windows flushed, threads joined), which is
// checked but not timed: the embedded broker holds a fetch that finds no new data for the
// consumer's fetch.wait.max.ms (500 ms), and the end-of-partition events wait for such a fetch.
pipeline_result run_pipeline(const std::string& bootstrap, const std::string& topic, const std::string& dlq,
                             const kafka_args& a, std::uint32_t threads, bool tuned) {
    config c;
    c.kafka.brokers = bootstrap;
    c.kafka.topic = topic;
    c.kafka.group = unique_group(threads == 1 ? "tw1" : "tw2");
    c.kafka.partitions = a.partitions;
    c.kafka.stop_at_end = true;
    c.kafka.dlq_topic = dlq;
    c.sink.kind = {sink_kind::ndjson};
    c.sink.path = "/dev/null";
    c.pipeline.threads = threads;
    c.pipeline.idle = a.idle;
    for (const auto& [k, v] : a.consumer_props) c.kafka.consumer.push_back({k, v, "(--consumer)", 0});
    if (tuned)
        for (const auto& [k, v] : a.tuned_props) c.kafka.consumer.push_back({k, v, "(tuned)", 0});

    pipeline p(c, run_limits{}, pipeline_mode::process);
    const std::int64_t t_phase = mono_ns();
    perf().enable("tapewire");
    p.start();
    read_span span;
    std::int64_t t_parsed = 0, t_end = 0;
    cpu_snapshot cpu0, cpu1;
    const std::int64_t deadline = t_phase + 180'000'000'000;
    for (;;) {
        const pipeline_stats& st = p.stats();
        const std::uint64_t msgs = st.messages.load(std::memory_order_relaxed);
        const std::uint64_t parsed = st.ticks.load(std::memory_order_relaxed);
        const bool done = p.finished();
        const std::int64_t now = mono_ns();
        if (!span.started() && msgs > 0) {
            span.start(now, msgs);
            cpu0 = cpu_snapshot::now();
        }
        if (span.started() && t_parsed == 0) span.record(now, msgs);
        if (span.started() && t_parsed == 0 && (parsed >= a.ticks || done)) {
            t_parsed = now;
            perf().disable("tapewire");
            cpu1 = cpu_snapshot::now();
        }
        if (done) {
            t_end = now;
            perf().disable("tapewire");
            break;
        }
        if (now > deadline) {
            p.stop();
            (void)p.wait();
            throw failure("tapewire (threads=" + std::to_string(threads) + ") did not finish within 180 s: " +
                          std::to_string(msgs) + " of " + std::to_string(a.ticks) + " messages");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const std::string error = p.wait();
    const pipeline_stats& st = p.stats();
    pipeline_result r;
    r.messages = st.messages.load();
    const std::uint64_t parsed = st.ticks.load();
    r.bars = st.bars.load();
    r.alerts = st.alerts.load();
    r.dead_letters = st.dead_letters.load();
    r.stalls = st.source_stalls.load();
    r.pauses = p.metrics().get_counter("kafka_pauses_total").value();
    const std::string who = "tapewire (threads=" + std::to_string(threads) + ")";
    if (!error.empty()) throw failure(who + ": " + error);
    count_check(who)
        .equal("messages read", r.messages, a.ticks)
        .equal("parsed", parsed, a.ticks)
        .equal("dead letters", r.dead_letters, 0)
        .enforce();
    if (!span.started()) throw failure(who + ": no sample saw a message before it finished");
    r.counted = r.messages - span.at_first;
    r.seconds = static_cast<double>(t_parsed - span.t_first) / 1e9;
    r.startup_seconds = static_cast<double>(span.t_first - t_phase) / 1e9;
    r.finish_seconds = static_cast<double>(t_end - t_parsed) / 1e9;
    r.cpu = cpu_use::between(cpu0, cpu1);
    r.per_100ms = span.per_100ms();
    return r;
}

// ---- floor 2: kcat -------------------------------------------------------------------------------

struct kcat_result {
    double seconds = 0;       // wall clock around the child that wrote to /dev/null
    double count_seconds = 0; // the same command with its output counted through a pipe
    std::uint64_t lines = 0;  // messages the counting run printed
    [[nodiscard]] double rate(std::uint64_t n) const { return seconds > 0 ? static_cast<double>(n) / seconds : 0; }
};

// Runs kcat with stdout on /dev/null (count = false) or on a pipe whose lines are counted here.
// Returns the wall-clock seconds from spawn to exit; throws unless kcat exits 0.
double spawn_kcat(const std::vector<std::string>& args, bool count, std::uint64_t& lines) {
    std::vector<char*> argv;
    for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int fds[2] = {-1, -1};
    if (count) {
        if (::pipe2(fds, O_CLOEXEC) != 0) throw failure("kcat: pipe failed");
        posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid = -1;
    const std::int64_t t0 = mono_ns();
    const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (count) ::close(fds[1]);
    if (rc != 0) {
        if (count) ::close(fds[0]);
        throw failure(std::string("cannot run kcat: ") + std::strerror(rc) + " (install kcat, or pass --no-kcat)");
    }
    lines = 0;
    if (count) {
        static char buf[1 << 16];
        for (;;) {
            const ssize_t n = ::read(fds[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (const char* p = buf; (p = static_cast<const char*>(std::memchr(p, '\n', buf + n - p))) != nullptr; ++p)
                ++lines;
        }
        ::close(fds[0]);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::int64_t t1 = mono_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw failure("kcat failed (status " + std::to_string(status) + ")");
    return static_cast<double>(t1 - t0) / 1e9;
}

kcat_result run_kcat(const std::string& bootstrap, const std::string& topic, std::uint64_t expected,
                     const kafka_args& a) {
    std::vector<std::string> args{"kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-o", "beginning", "-q"};
    for (const auto& [k, v] : a.consumer_props) {
        args.emplace_back("-X");
        args.push_back(k + "=" + v);
    }
    kcat_result r;
    // First the check that kcat reads every message (same command, output counted through a pipe),
    // then the timed run exactly as specified, output to /dev/null.
    r.count_seconds = spawn_kcat(args, true, r.lines);
    count_check("kcat").equal("lines printed", r.lines, expected).enforce();
    std::uint64_t ignored = 0;
    r.seconds = spawn_kcat(args, false, ignored);
    return r;
}

// ---- latency: produce() → bar emitted --------------------------------------------------------------

struct stamp {
    std::int32_t partition;
    std::int64_t offset;
    std::int64_t at;         // mono ns
    std::int64_t ingest = 0; // mono ns the consumer thread took the message from librdkafka (tapewire)
};

// The end of the latency chain: stamps each tick as it leaves the anomaly stage, and each bar as it
// is emitted with the (partition, offset) of the tick being processed when it was (the tick whose
// arrival advanced its partition's watermark past the window's end); then hands everything to the
// runtime's own output sink (NDJSON to /dev/null). Stamps are resolved to produce() times after
// the run, once every delivery report is in.
class latency_terminal {
public:
    latency_terminal(const config& c, std::size_t ticks, std::size_t bars) : sink_(c.sink, c.kafka, nullptr, false) {
        ticks_.reserve(ticks);
        bars_.reserve(bars);
    }

    void on_tick(const tick& t) {
        ticks_.push_back({t.src.partition, t.src.offset, mono_ns(), t.src.ingest_ns});
        sink_.on_tick(t);
        progress_.store(ticks_.size(), std::memory_order_release);
    }
    void on_bar(const bar& b) {
        if (current_.offset >= 0)
            bars_.push_back({current_.partition, current_.offset, mono_ns(), current_.ingest_ns});
        else
            ++untimed_bars_; // emitted by a timer (idle partition) or the flush: no tick closed it
        if (b.revision != 0) ++corrections_;
        sink_.on_bar(b);
    }
    void on_bar_update(const bar& b) { sink_.on_bar_update(b); }
    void on_alert(const alert& a) { sink_.on_alert(a); }
    void on_dead_letter(const dead_letter_view& d) {
        dead_letters_.fetch_add(1, std::memory_order_relaxed);
        sink_.on_dead_letter(d);
    }
    void on_watermark(const watermark& w) { sink_.on_watermark(w); }
    void on_timer(timestamp_ns now) { sink_.on_timer(now); }
    void on_flush() { sink_.on_flush(); }

    void set_current(const origin& o) noexcept { current_ = o; }
    void clear_current() noexcept { current_.offset = -1; }

    [[nodiscard]] std::uint64_t progress() const noexcept { return progress_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t dead_letters() const noexcept { return dead_letters_.load(std::memory_order_relaxed); }
    // Read only after the pipeline thread has been joined.
    [[nodiscard]] const std::vector<stamp>& ticks() const noexcept { return ticks_; }
    [[nodiscard]] const std::vector<stamp>& bars() const noexcept { return bars_; }
    [[nodiscard]] std::uint64_t untimed_bars() const noexcept { return untimed_bars_; }
    [[nodiscard]] std::uint64_t corrections() const noexcept { return corrections_; }
    [[nodiscard]] std::uint64_t alerts() const noexcept { return sink_.alerts(); }

private:
    output_sink sink_;
    origin current_{0, -1, 0};
    std::vector<stamp> ticks_, bars_;
    std::uint64_t untimed_bars_ = 0, corrections_ = 0;
    std::atomic<std::uint64_t> progress_{0};
    std::atomic<std::uint64_t> dead_letters_{0};
};
static_assert(emitter<latency_terminal>);

using latency_chain = analytics_chain<latency_terminal>;

// The runtime's source thread, as pipeline.cpp's feed_agent<ring_outlet> runs it for Kafka input:
// batches of pipeline.batch messages from the consumer into the input ring, the pass's clock as
// ingest time, a full ring pausing the partitions.
class consume_agent final : public agent {
public:
    consume_agent(kafka_consumer_source& src, message_ring& ring, std::uint32_t batch)
        : src_(src), ring_(ring), batch_(batch) {}

    std::size_t do_work() override {
        src_.poll();
        const std::int64_t now = mono_ns();
        std::size_t n = 0;
        while (n < batch_) {
            if (!pending_) {
                if (src_.next(msg_) != pull_result::message) break;
                pending_ = true;
            }
            if (!ring_.try_stage(msg_.key, msg_.payload, origin{msg_.partition, msg_.offset, now})) {
                if (!stalled_) {
                    stalled_ = true;
                    src_.on_stall(true);
                }
                break;
            }
            if (stalled_) {
                stalled_ = false;
                src_.on_stall(false);
            }
            pending_ = false;
            ++n;
        }
        ring_.publish();
        return n;
    }

private:
    kafka_consumer_source& src_;
    message_ring& ring_;
    std::uint32_t batch_;
    source_message msg_;
    bool pending_ = false, stalled_ = false;
};

// The runtime's pipeline thread with pipeline.threads = 1 (pipeline.cpp's fused_agent): timers,
// then up to pipeline.batch messages parsed straight into window → vwap → anomaly → terminal.
class process_agent final : public agent {
public:
    process_agent(message_ring& ring, parse_stage& parse, latency_chain& chain, std::uint32_t batch)
        : ring_(ring), parse_(parse), chain_(chain), batch_(batch) {}

    std::size_t do_work() override {
        const timestamp_ns now = wall_ns();
        chain_.head.on_timer(now);
        parse_.on_timer(now, chain_.head);
        std::size_t n = 0;
        raw_message m;
        while (n < batch_ && ring_.front(m)) {
            chain_.sink.set_current(m.src);
            parse_.on_message(m, chain_.head);
            ring_.pop();
            ++n;
        }
        chain_.sink.clear_current();
        return n;
    }

private:
    message_ring& ring_;
    parse_stage& parse_;
    latency_chain& chain_;
    std::uint32_t batch_;
};

// Produce times by (partition, offset), filled from the producer's delivery reports.
class produce_times {
public:
    explicit produce_times(std::uint32_t partitions) : at_(partitions) {}
    void record(std::int32_t p, std::int64_t off, std::int64_t at) {
        if (p < 0 || static_cast<std::size_t>(p) >= at_.size() || off < 0) return;
        auto& v = at_[static_cast<std::size_t>(p)];
        if (v.size() <= static_cast<std::size_t>(off)) v.resize(static_cast<std::size_t>(off) + 1 + 4096, 0);
        v[static_cast<std::size_t>(off)] = at;
    }
    [[nodiscard]] std::int64_t of(const stamp& s) const {
        const auto p = static_cast<std::size_t>(s.partition);
        const auto o = static_cast<std::size_t>(s.offset);
        if (p >= at_.size() || o >= at_[p].size() || at_[p][o] == 0)
            throw failure("latency: no delivery report for partition " + std::to_string(s.partition) + " offset " +
                          std::to_string(s.offset));
        return at_[p][o];
    }

private:
    std::vector<std::vector<std::int64_t>> at_;
};

struct paced_run {
    std::uint64_t total = 0;                     // ticks produced (warm-up + measured)
    std::int64_t t0 = 0, meas0 = 0, meas1 = 0;   // mono ns: start, measured span [meas0, meas1)
    std::int64_t behind_p99 = 0, behind_max = 0; // producer behind its schedule (ns)
    std::int64_t ack_p50 = 0, ack_p99 = 0;       // produce() to delivery report (histogram, +-12.5 %)
};

// Produces `a.rate` ticks/s on `topic` from this thread, with tapewire::kafka_producer and
// linger.ms = 0: warm-up seconds, then latency_seconds measured. Tick i is due at t0 + i/rate; the
// thread sleeps (timer slack 1 ns) until then. Each tick is canonical JSON, key = symbol, for a
// random one of `a.symbols` symbols (a one-cent random walk each, round-lot sizes), with event time
// = the wall clock when it is built. Returns once every tick is delivered.
paced_run produce_paced(const std::string& bootstrap, const std::string& topic, const kafka_args& a,
                        produce_times& times, const std::atomic<bool>& abort) {
    kafka_config kc;
    kc.producer.push_back({"linger.ms", "0", "(tapewire-bench kafka)", 0});
    for (const auto& [k, v] : a.producer_props) kc.producer.push_back({k, v, "(--producer)", 0});
    metrics_registry metrics;
    kafka_producer prod(kc, bootstrap, metrics, "bench");
    prod.on_delivery = [&times](std::int32_t p, std::int64_t off, std::int64_t at) { times.record(p, off, at); };
    rd_kafka_topic_t* kt = prod.topic(topic);

    random_market market(a.symbols, a.seed);
    paced_run r;
    r.total = static_cast<std::uint64_t>(std::llround(a.rate * (a.warmup_seconds + a.latency_seconds)));
    std::vector<std::int64_t> behind;
    behind.reserve(r.total);

    (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); // this thread only; the default is 50 us
    const double period_ns = 1e9 / a.rate;
    r.t0 = mono_ns();
    r.meas0 = r.t0 + static_cast<std::int64_t>(a.warmup_seconds * 1e9);
    r.meas1 = r.meas0 + static_cast<std::int64_t>(a.latency_seconds * 1e9);
    char buf[256];
    for (std::uint64_t i = 0; i < r.total && !abort.load(std::memory_order_relaxed); ++i) {
        const std::int64_t due = r.t0 + static_cast<std::int64_t>(static_cast<double>(i) * period_ns);
        std::int64_t now = mono_ns();
        if (now < due) {
            prod.poll(0);
            const timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
            while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
            }
            now = mono_ns();
        }
        behind.push_back(now - due);
        const random_market::trade t = market.next();
        json_buffer j(buf, sizeof buf);
        write_tick_json(j, tick::trade(market.sym(t.symbol), wall_ns(), t.price, t.size));
        while (!prod.try_produce(kt, market.name(t.symbol), j.view())) prod.poll(1);
        if ((i & 63) == 0) prod.poll(0);
    }
    (void)::prctl(PR_SET_TIMERSLACK, 50'000UL, 0, 0, 0);
    for (int tries = 0; !prod.flush(std::chrono::milliseconds(1000)); ++tries)
        if (tries >= 30 || !prod.failure().empty()) throw failure("latency producer: not delivered: " + prod.failure());
    if (abort.load()) return r;
    if (!prod.failure().empty()) throw failure("latency producer: " + prod.failure());
    count_check("latency producer").equal("delivered", prod.delivered(), r.total).enforce();
    const percentiles b = summarise(std::move(behind));
    r.behind_p99 = b.p99;
    r.behind_max = b.max;
    const histogram& acks = metrics.get_histogram("kafka_delivery_latency_ns{producer=\"bench\"}");
    r.ack_p50 = acks.quantile(0.5);
    r.ack_p99 = acks.quantile(0.99);
    return r;
}

struct latency_result {
    percentiles bar, tick;       // tick: as it leaves the anomaly stage (tapewire) or the consumer (bare)
    percentiles in_bar, in_tick; // tapewire only: from the consumer thread's hand-over, not produce()
    std::uint64_t produced = 0, bars_total = 0, untimed_bars = 0, alerts = 0;
    double join_seconds = 0;
    std::int64_t behind_p99 = 0, behind_max = 0, ack_p50 = 0, ack_p99 = 0;
    std::vector<std::pair<std::int64_t, std::int64_t>> per_second; // tick p50, max by second produced
};

// Latencies of the stamps produced inside the measured span, and by second produced.
void resolve(const paced_run& run, const produce_times& times, const std::vector<stamp>& ticks,
             const std::vector<stamp>* bars, latency_result& r) {
    std::vector<std::int64_t> tick_lat, bar_lat, in_tick, in_bar;
    tick_lat.reserve(ticks.size());
    in_tick.reserve(ticks.size());
    const double total_s = static_cast<double>(run.meas1 - run.t0) / 1e9;
    std::vector<std::vector<std::int64_t>> by_second(static_cast<std::size_t>(std::ceil(total_s)) + 1);
    for (const stamp& s : ticks) {
        const std::int64_t at = times.of(s);
        if (at >= run.meas0 && at < run.meas1) {
            tick_lat.push_back(s.at - at);
            if (s.ingest != 0) in_tick.push_back(s.at - s.ingest);
        }
        const auto sec = static_cast<std::size_t>(std::max<std::int64_t>(at - run.t0, 0) / 1'000'000'000);
        if (sec < by_second.size()) by_second[sec].push_back(s.at - at);
    }
    if (bars != nullptr)
        for (const stamp& s : *bars) {
            const std::int64_t at = times.of(s);
            if (at >= run.meas0 && at < run.meas1) {
                bar_lat.push_back(s.at - at);
                if (s.ingest != 0) in_bar.push_back(s.at - s.ingest);
            }
        }
    for (auto& v : by_second) {
        const percentiles q = summarise(std::move(v));
        if (q.count > 0) r.per_second.emplace_back(q.p50, q.max);
    }
    r.tick = summarise(std::move(tick_lat));
    r.bar = summarise(std::move(bar_lat));
    r.in_tick = summarise(std::move(in_tick));
    r.in_bar = summarise(std::move(in_bar));
    r.produced = run.total;
    r.behind_p99 = run.behind_p99;
    r.behind_max = run.behind_max;
    r.ack_p50 = run.ack_p50;
    r.ack_p99 = run.ack_p99;
}

// The tapewire chain, as the runtime runs it with pipeline.threads = 1, fed by a paced producer
// once the consumer has its partitions. `fetch_wait_ms` < 0: tapewire's consumer defaults.
latency_result tapewire_latency(const std::string& bootstrap, const std::string& topic, const kafka_args& a,
                                int fetch_wait_ms) {
    config c;
    c.kafka.brokers = bootstrap;
    c.kafka.topic = topic;
    c.kafka.group = unique_group("latency");
    c.kafka.partitions = a.partitions;
    c.kafka.dlq_topic = "";
    c.sink.kind = {sink_kind::ndjson};
    c.sink.path = "/dev/null";
    c.pipeline.idle = a.idle;
    if (fetch_wait_ms >= 0)
        c.kafka.consumer.push_back({"fetch.wait.max.ms", std::to_string(fetch_wait_ms), "(tapewire-bench kafka)", 0});
    for (const auto& [k, v] : a.consumer_props) c.kafka.consumer.push_back({k, v, "(--consumer)", 0});

    const double total_s = a.warmup_seconds + a.latency_seconds;
    const auto expected = static_cast<std::uint64_t>(std::llround(a.rate * total_s));
    metrics_registry metrics;
    offset_board board; // never published: the bench commits nothing
    kafka_consumer_source src(c.kafka, bootstrap, metrics, board);
    message_ring ring(c.pipeline.input_ring_bytes);
    parse_stage parse(to_parse_options(c.source, c.window));
    auto chain = std::make_unique<latency_chain>(
        to_window_options(c.window, c.source), to_vwap_options(c.vwap, c.window), to_anomaly_options(c.anomaly), c,
        expected + 1024, static_cast<std::size_t>(a.symbols * (total_s + 4) * 2) + 1024);
    consume_agent feed(src, ring, c.pipeline.batch);
    process_agent proc(ring, parse, *chain, c.pipeline.batch);
    std::string thread_error;
    std::atomic<bool> thread_failed{false};
    auto on_error = [&](const std::string& who, const std::string& what) {
        if (!thread_failed.exchange(true)) thread_error = who + ": " + what;
    };
    runner_options ro;
    ro.idle.kind = c.pipeline.idle;
    ro.name = "tw-consume";
    runner feed_thread(feed, ro, on_error);
    ro.name = "tw-pipeline";
    runner proc_thread(proc, ro, on_error);
    const std::int64_t t_phase = mono_ns();
    proc_thread.start();
    feed_thread.start();

    latency_result r;
    while (src.assigned() == 0) {
        if (thread_failed.load()) throw failure("latency consumer: " + thread_error);
        if (mono_ns() - t_phase > 60'000'000'000) throw failure("latency consumer: no partitions after 60 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    r.join_seconds = static_cast<double>(mono_ns() - t_phase) / 1e9;

    produce_times times(a.partitions);
    const paced_run run = produce_paced(bootstrap, topic, a, times, thread_failed);

    // Everything produced must come out of the chain.
    const std::int64_t wait0 = mono_ns();
    while (chain->sink.progress() < run.total && !thread_failed.load() && mono_ns() - wait0 < 60'000'000'000)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    feed_thread.stop();
    proc_thread.stop();
    if (thread_failed.load()) throw failure("latency chain: " + thread_error);
    const latency_terminal& term = chain->sink;
    count_check("latency chain")
        .equal("ticks out", term.ticks().size(), run.total)
        .equal("parsed", parse.parsed(), run.total)
        .equal("dead letters", term.dead_letters(), 0)
        .enforce();
    resolve(run, times, term.ticks(), &term.bars(), r);
    r.bars_total = term.bars().size() + term.untimed_bars();
    r.untimed_bars = term.untimed_bars();
    r.alerts = term.alerts();
    if (r.bar.count == 0) throw failure("latency: no bar was emitted in the measured span");
    return r;
}

// The floor: a bare consumer assigned to every partition of the (new, empty) topic from the
// beginning, stamping each message as librdkafka hands it over. It takes what is queued without
// waiting (consume_batch_queue, timeout 0) and, when nothing is, blocks for the next message
// (rd_kafka_consume_queue), so it wakes as soon as one arrives.
latency_result bare_latency(const std::string& bootstrap, const std::string& topic, const kafka_args& a,
                            int fetch_wait_ms) {
    kafka_conf conf(rd_kafka_conf_new());
    set_property(conf.get(), "bootstrap.servers", bootstrap);
    set_property(conf.get(), "client.id", "tapewire-bench-bare-latency");
    set_property(conf.get(), "group.id", unique_group("bare-latency"));
    set_property(conf.get(), "enable.auto.commit", "false");
    set_property(conf.get(), "enable.partition.eof", "false");
    set_property(conf.get(), "log.connection.close", "false");
    if (fetch_wait_ms >= 0) set_property(conf.get(), "fetch.wait.max.ms", std::to_string(fetch_wait_ms));
    for (const auto& [k, v] : a.consumer_props) set_property(conf.get(), k, v);
    route_kafka_log(conf.get());
    kafka_handle rk = make_kafka_client(std::move(conf), kafka_role::consumer);
    (void)rd_kafka_poll_set_consumer(rk.get());
    kafka_partition_list parts(rd_kafka_topic_partition_list_new(static_cast<int>(a.partitions)));
    for (std::uint32_t p = 0; p < a.partitions; ++p)
        rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), static_cast<std::int32_t>(p))->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    if (const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), parts.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw failure(std::string("bare latency consumer: assign failed: ") + rd_kafka_err2str(err));
    kafka_queue queue(rd_kafka_queue_get_consumer(rk.get()));

    const double total_s = a.warmup_seconds + a.latency_seconds;
    std::vector<stamp> got;
    got.reserve(static_cast<std::size_t>(a.rate * total_s) + 1024);
    std::atomic<bool> stop{false}, failed{false};
    std::atomic<std::uint64_t> progress{0};
    std::uint64_t errors = 0;
    std::thread reader([&] {
        std::vector<rd_kafka_message_t*> batch(1024);
        auto take = [&](rd_kafka_message_t* m, std::int64_t now) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                got.push_back({m->partition, m->offset, now});
            else if (++errors == 1)
                std::fprintf(stderr, "tapewire-bench: bare latency consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        };
        while (!stop.load(std::memory_order_relaxed)) {
            const ssize_t n = rd_kafka_consume_batch_queue(queue.get(), 0, batch.data(), batch.size());
            if (n < 0) {
                failed.store(true);
                return;
            }
            if (n == 0) {
                if (rd_kafka_message_t* m = rd_kafka_consume_queue(queue.get(), 10)) take(m, mono_ns());
            } else {
                const std::int64_t now = mono_ns();
                for (ssize_t i = 0; i < n; ++i) take(batch[static_cast<std::size_t>(i)], now);
            }
            progress.store(got.size(), std::memory_order_release);
        }
    });

    latency_result r;
    produce_times times(a.partitions);
    paced_run run;
    try {
        run = produce_paced(bootstrap, topic, a, times, failed);
    } catch (...) {
        stop.store(true);
        reader.join();
        throw;
    }
    const std::int64_t wait0 = mono_ns();
    while (progress.load() < run.total && !failed.load() && mono_ns() - wait0 < 60'000'000'000)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop.store(true);
    reader.join();
    (void)rd_kafka_assign(rk.get(), nullptr);
    queue.reset();
    (void)rd_kafka_consumer_close(rk.get());
    count_check("bare latency consumer")
        .equal("messages", got.size(), run.total)
        .equal("errors", errors, 0)
        .equal("failed reads", failed.load() ? 1 : 0, 0)
        .enforce();
    resolve(run, times, got, nullptr, r);
    return r;
}

// ---- the command -----------------------------------------------------------------------------------

// "8.25 us", "310 us", "12.5 ms": three significant digits or so.
std::string us(std::int64_t ns) {
    const auto v = static_cast<double>(ns);
    if (ns < 10'000) return fmt("%.2f us", v / 1e3);
    if (ns < 10'000'000) return fmt("%.0f us", v / 1e3);
    return fmt("%.1f ms", v / 1e6);
}

int run_kafka(const kafka_args& a) {
    const std::string load0 = load_average();
    embedded_broker broker(1);
    const std::string& bootstrap = broker.bootstraps();
    const std::string topic = "bench.ticks", dlq = "bench.ticks.dlq", lat_topic = "bench.latency";
    broker.create_topic(topic, static_cast<int>(a.partitions));
    broker.create_topic(dlq, static_cast<int>(a.partitions));

    // The same generator as `graph`: an hour ago, event time +1 us per tick, strictly increasing.
    feed_options fo;
    fo.ticks = a.ticks;
    fo.symbols = a.symbols;
    fo.seed = a.seed;
    fo.first_ts = an_hour_ago();
    fo.mean_step_ns = 1000;
    const tick_feed feed = make_feed(fo);
    progress(a.json, "kafka: broker %s, pre-filling %s with %llu ticks on %u partitions...\n", bootstrap.c_str(),
             topic.c_str(), static_cast<unsigned long long>(a.ticks), a.partitions);
    const prefill_result pf = prefill(bootstrap, topic, feed, a.partitions);
    progress(a.json, "  pre-filled in %.2f s; bare consumer...\n", pf.seconds);

    // Bare, tapewire, tapewire, bare: the floor is read on both sides of the runtime's runs, so a
    // change of the VM's speed during the runs shows (and is averaged) instead of biasing the ratio.
    const read_result bare1 = bare_consumer(bootstrap, topic, a.partitions, a.ticks, a);
    std::optional<pipeline_result> tw1, tw2, tw1t, tw2t;
    if (a.threads1) {
        progress(a.json, "  tapewire, pipeline.threads = 1...\n");
        tw1 = run_pipeline(bootstrap, topic, dlq, a, 1, false);
    }
    if (a.threads2) {
        progress(a.json, "  tapewire, pipeline.threads = 2...\n");
        tw2 = run_pipeline(bootstrap, topic, dlq, a, 2, false);
    }
    std::string tuned_desc;
    for (const auto& [k, v] : a.tuned_props) tuned_desc += (tuned_desc.empty() ? "" : " ") + k + "=" + v;
    if (a.tuned && a.threads1) {
        progress(a.json, "  tapewire, pipeline.threads = 1, %s...\n", tuned_desc.c_str());
        tw1t = run_pipeline(bootstrap, topic, dlq, a, 1, true);
    }
    if (a.tuned && a.threads2) {
        progress(a.json, "  tapewire, pipeline.threads = 2, %s...\n", tuned_desc.c_str());
        tw2t = run_pipeline(bootstrap, topic, dlq, a, 2, true);
    }
    progress(a.json, "  bare consumer again...\n");
    const read_result bare2 = bare_consumer(bootstrap, topic, a.partitions, a.ticks, a);
    const double bare_rate = (bare1.rate() + bare2.rate()) / 2;
    std::optional<kcat_result> kc;
    if (a.kcat) {
        progress(a.json, "  kcat (a counting run, then the timed run)...\n");
        kc = run_kcat(bootstrap, topic, a.ticks, a);
    }
    // Latency, on a fresh topic each: the bare floor, then tapewire, first with the consumer
    // defaults (fetch.wait.max.ms 500), then with fetch.wait.max.ms = F.
    std::optional<latency_result> bare_lat, tw_lat, bare_lat_fw, tw_lat_fw;
    if (a.latency) {
        int serial = 0;
        auto fresh_topic = [&] {
            const std::string t = lat_topic + "." + std::to_string(++serial);
            broker.create_topic(t, static_cast<int>(a.partitions));
            return t;
        };
        progress(a.json, "  latency at %.0f ticks/s, %.0f s warm-up + %.0f s each: bare consumer...\n", a.rate,
                 a.warmup_seconds, a.latency_seconds);
        bare_lat = bare_latency(bootstrap, fresh_topic(), a, -1);
        progress(a.json, "  latency: tapewire (group join first)...\n");
        tw_lat = tapewire_latency(bootstrap, fresh_topic(), a, -1);
        progress(a.json, "  latency with fetch.wait.max.ms = %d: bare consumer...\n", a.fetch_wait_ms);
        bare_lat_fw = bare_latency(bootstrap, fresh_topic(), a, a.fetch_wait_ms);
        progress(a.json, "  latency with fetch.wait.max.ms = %d: tapewire...\n", a.fetch_wait_ms);
        tw_lat_fw = tapewire_latency(bootstrap, fresh_topic(), a, a.fetch_wait_ms);
    }
    const std::string load1 = load_average();

    auto ratio = [&](const std::optional<pipeline_result>& t) { return t ? t->rate() / bare_rate : 0.0; };
    const double r1 = ratio(tw1), r2 = ratio(tw2);
    if (a.json) {
        std::string s = "{\"bench\":\"kafka\",\"ticks\":" + std::to_string(a.ticks) +
                        ",\"partitions\":" + std::to_string(a.partitions) + ",\"symbols\":" + std::to_string(a.symbols);
        s += ",\"tapewire_ticks_per_s\":" + (tw1 ? json_number(tw1->rate()) : "null");
        s += ",\"tapewire_2t_ticks_per_s\":" + (tw2 ? json_number(tw2->rate()) : "null");
        s += ",\"bare_consumer_msgs_per_s\":" + json_number(bare_rate);
        s += ",\"kcat_msgs_per_s\":" + (kc ? json_number(kc->rate(a.ticks)) : "null");
        s += ",\"ratio_vs_bare\":" + (tw1 ? json_number(r1, 4) : "null");
        s += ",\"ratio_2t_vs_bare\":" + (tw2 ? json_number(r2, 4) : "null");
        auto rate_of = [](const std::optional<pipeline_result>& t) { return t ? json_number(t->rate()) : "null"; };
        auto starved = [](const std::optional<pipeline_result>& t) {
            return t ? json_number(t->starved_seconds(), 1) : std::string("null");
        };
        s += ",\"tapewire_starved_s\":" + starved(tw1);
        s += ",\"tapewire_2t_starved_s\":" + starved(tw2);
        s += ",\"tuned\":\"" + (a.tuned ? tuned_desc : std::string()) + "\"";
        s += ",\"tapewire_tuned_ticks_per_s\":" + rate_of(tw1t);
        s += ",\"tapewire_2t_tuned_ticks_per_s\":" + rate_of(tw2t);
        s += ",\"ratio_tuned_vs_bare\":" + (tw1t ? json_number(ratio(tw1t), 4) : "null");
        s += ",\"ratio_2t_tuned_vs_bare\":" + (tw2t ? json_number(ratio(tw2t), 4) : "null");
        s += ",\"tapewire_tuned_starved_s\":" + starved(tw1t);
        s += ",\"tapewire_2t_tuned_starved_s\":" + starved(tw2t);
        auto cpu_ns = [](const read_result& x) {
            return json_number(x.cpu.run_ns / static_cast<double>(std::max<std::uint64_t>(x.counted, 1)));
        };
        double others = std::max(bare1.cpu.others_ns / bare1.seconds, bare2.cpu.others_ns / bare2.seconds);
        for (const auto* t : {&tw1, &tw2, &tw1t, &tw2t})
            if (*t) others = std::max(others, (*t)->cpu.others_ns / (*t)->seconds);
        s += ",\"other_cpus_max\":" + json_number(others / 1e9, 2);
        s += ",\"bare_cpu_ns_per_msg\":" + cpu_ns(bare1);
        s += ",\"tapewire_cpu_ns_per_msg\":" + (tw1 ? cpu_ns(*tw1) : "null");
        s += ",\"tapewire_2t_cpu_ns_per_msg\":" + (tw2 ? cpu_ns(*tw2) : "null");
        auto pct = [](const std::optional<latency_result>& l, bool bar) {
            return l ? to_json(bar ? l->bar : l->tick) : std::string("null");
        };
        s += ",\"latency_rate\":" + (a.latency ? json_number(a.rate) : "null");
        s += ",\"bar_latency_ns\":" + pct(tw_lat, true);
        s += ",\"tick_latency_ns\":" + pct(tw_lat, false);
        s += ",\"bare_latency_ns\":" + pct(bare_lat, false);
        auto inner = [](const std::optional<latency_result>& l, bool bar) {
            return l ? to_json(bar ? l->in_bar : l->in_tick) : std::string("null");
        };
        s += ",\"bar_internal_ns\":" + inner(tw_lat, true);
        s += ",\"tick_internal_ns\":" + inner(tw_lat, false);
        s += ",\"fetch_wait_ms\":" + std::to_string(a.fetch_wait_ms);
        s += ",\"bar_latency_fw_ns\":" + pct(tw_lat_fw, true);
        s += ",\"tick_latency_fw_ns\":" + pct(tw_lat_fw, false);
        s += ",\"bare_latency_fw_ns\":" + pct(bare_lat_fw, false);
        s += ",\"bar_internal_fw_ns\":" + inner(tw_lat_fw, true);
        s += ",\"tick_internal_fw_ns\":" + inner(tw_lat_fw, false);
        s += "}";
        std::printf("%s\n", s.c_str());
        return 0;
    }

    std::printf("kafka: embedded broker %s (in process), topic %s: %u partitions, %llu ticks, %u symbols, "
                "%.1f MiB of JSON (largest partition %llu messages); pre-filled in %.2f s\n",
                bootstrap.c_str(), topic.c_str(), a.partitions, static_cast<unsigned long long>(a.ticks), a.symbols,
                static_cast<double>(pf.payload_bytes) / (1 << 20),
                static_cast<unsigned long long>(pf.largest_partition), pf.seconds);
    std::printf("  bare consumer      %6.3f M msgs/s   (mean of %.3f before and %.3f after the tapewire runs; "
                "first message after %.2f s)\n",
                bare_rate / 1e6, bare1.rate() / 1e6, bare2.rate() / 1e6, bare1.startup_seconds);
    std::printf("      cpu: %s\n", bare1.cpu.per_message(bare1.counted, bare1.seconds).c_str());
    if (a.verbose) {
        for (const auto* b : {&bare1, &bare2}) {
            std::printf("      messages per 100 ms:");
            for (const std::uint64_t v : b->per_100ms) std::printf(" %llu", static_cast<unsigned long long>(v));
            std::printf("\n");
        }
    }
    for (const auto* t : {&tw1, &tw2, &tw1t, &tw2t}) {
        if (!*t) continue;
        const pipeline_result& p = **t;
        const bool one = t == &tw1 || t == &tw1t;
        if (t == &tw1t || (t == &tw2t && !tw1t)) std::printf("  with %s:\n", tuned_desc.c_str());
        std::printf("  tapewire %d thread%s %6.3f M ticks/s  (%.3f s over %llu messages, %.1f s of it without any; "
                    "group join %.2f s, end of input seen %.2f s after the last parse; %llu bars, %llu alerts, 0 dead "
                    "letters; input ring full on %llu passes, partitions paused %llu times)  = %.3f x bare\n",
                    one ? 1 : 2, one ? " " : "s", p.rate() / 1e6, p.seconds, static_cast<unsigned long long>(p.counted),
                    p.starved_seconds(), p.startup_seconds, p.finish_seconds, static_cast<unsigned long long>(p.bars),
                    static_cast<unsigned long long>(p.alerts), static_cast<unsigned long long>(p.stalls),
                    static_cast<unsigned long long>(p.pauses), p.rate() / bare_rate);
        std::printf("      cpu: %s\n", p.cpu.per_message(p.counted, p.seconds).c_str());
        if (a.verbose) {
            std::printf("      messages per 100 ms:");
            for (const std::uint64_t v : p.per_100ms) std::printf(" %llu", static_cast<unsigned long long>(v));
            std::printf("\n");
        }
    }
    if (kc)
        std::printf("  kcat               %6.3f M msgs/s   (%.2f s wall clock around the process, start-up and "
                    "metadata included; the counting run read %llu in %.2f s)\n",
                    kc->rate(a.ticks) / 1e6, kc->seconds, static_cast<unsigned long long>(kc->lines),
                    kc->count_seconds);
    if (tw1 || tw2) {
        std::printf("  ratio tapewire / bare:");
        if (tw1) std::printf(" %.3f (1 thread)", r1);
        if (tw2) std::printf(" %.3f (2 threads)", r2);
        if (tw1t) std::printf(" %.3f (1 thread, tuned)", ratio(tw1t));
        if (tw2t) std::printf(" %.3f (2 threads, tuned)", ratio(tw2t));
        std::printf("   target >= 0.7\n");
    }
    if (a.latency) {
        std::printf("latency: %.0f ticks/s offered by one producer (kafka_producer, linger.ms 0), %u partitions, "
                    "%u symbols, 1 s windows; %.0f s measured after %.0f s warm-up, a fresh topic per run\n",
                    a.rate, a.partitions, a.symbols, a.latency_seconds, a.warmup_seconds);
        auto line = [&](const char* what, const percentiles& p) {
            std::printf("    %-43s n %-7zu p50 %-9s p99 %-9s p99.9 %-9s max %s\n", what, p.count, us(p.p50).c_str(),
                        us(p.p99).c_str(), us(p.p999).c_str(), us(p.max).c_str());
        };
        auto block = [&](const char* title, const latency_result& b, const latency_result& t) {
            std::printf("  %s\n", title);
            line("bare: produce() -> message in hand", b.tick);
            line("tapewire: produce() -> bar emitted", t.bar);
            line("tapewire: produce() -> tick leaves anomaly", t.tick);
            line("tapewire: hand-over -> bar emitted", t.in_bar);
            line("tapewire: hand-over -> tick leaves anomaly", t.in_tick);
            std::printf("    (tapewire: group join %.2f s; %llu bars, %llu not closed by a tick, %llu alerts; producer "
                        "behind schedule p99 %s, max %s (bare run: %s, %s); produce() -> delivery report p50 %s, "
                        "p99 %s (bare run: %s, %s))\n",
                        t.join_seconds, static_cast<unsigned long long>(t.bars_total),
                        static_cast<unsigned long long>(t.untimed_bars), static_cast<unsigned long long>(t.alerts),
                        us(t.behind_p99).c_str(), us(t.behind_max).c_str(), us(b.behind_p99).c_str(),
                        us(b.behind_max).c_str(), us(t.ack_p50).c_str(), us(t.ack_p99).c_str(), us(b.ack_p50).c_str(),
                        us(b.ack_p99).c_str());
            if (a.verbose) {
                for (const auto* x : {&b, &t}) {
                    std::printf("    %s tick latency by second produced (warm-up first), p50/max:",
                                x == &b ? "bare" : "tapewire");
                    for (const auto& [p50, mx] : x->per_second) std::printf(" %s/%s", us(p50).c_str(), us(mx).c_str());
                    std::printf("\n");
                }
            }
        };
        block("consumer defaults (fetch.wait.max.ms 500):", *bare_lat, *tw_lat);
        const std::string t2 = "fetch.wait.max.ms = " + std::to_string(a.fetch_wait_ms) + ":";
        block(t2.c_str(), *bare_lat_fw, *tw_lat_fw);
    }
    std::printf("  load average %s before, %s after\n", load0.c_str(), load1.c_str());
    return 0;
}

option_table kafka_options(kafka_args& a) {
    option_table t("tapewire-bench kafka",
                   "Pre-fills a topic of an in-process embedded broker with N canonical ticks, then reads it with a\n"
                   "bare librdkafka consumer (floor 1), with tapewire::pipeline in process mode (consume, parse,\n"
                   "window, vwap, anomaly, NDJSON to /dev/null), and with kcat (floor 2); then measures the latency\n"
                   "from produce() to the bar's emission at R ticks/s offered, on fresh topics: a bare consumer and\n"
                   "tapewire, each with the consumer defaults and with fetch.wait.max.ms = F.\n");
    t.add("--ticks N", "ticks in the pre-filled topic (default 2000000)", whole(a.ticks, std::uint64_t{1}));
    t.add("--partitions P", "partitions of both topics (default 64; the broker keeps ~5 MiB each)",
          whole(a.partitions, 1u, 10'000u));
    t.add("--symbols S", "distinct symbols (default 500)", whole(a.symbols, 1u));
    t.add("--threads T", "pipeline.threads of the tapewire runs: 1, 2 or both (default both)",
          one_or_both(a.threads1, a.threads2, "1", "2"));
    t.add("--rate R", "latency phase: ticks/s offered (default 50000)", positive(a.rate));
    t.add("--latency-seconds S", "latency phase: seconds measured (default 10)", positive(a.latency_seconds));
    t.add("--warmup-seconds S", "latency phase: seconds produced first, unmeasured (default 2)",
          positive(a.warmup_seconds));
    t.add("--fetch-wait-ms F", "latency phase: fetch.wait.max.ms of the second pair of runs (default 5)",
          whole(a.fetch_wait_ms, 0));
    t.add("--idle K", "pipeline.idle of the tapewire runs: backoff (default), spin or sleep", kind_value(a.idle));
    t.add("--no-latency", "skip the latency phase", flag(a.latency, false));
    t.add("--no-kcat", "skip kcat (floor 2)", flag(a.kcat, false));
    t.add("--no-tuned", "skip the tapewire runs with the proposed consumer settings", flag(a.tuned, false));
    t.add("--tuned K=V", "consumer property of those runs (repeatable; default\nqueued.min.messages=10000000)",
          {[&a](std::string_view v) {
               auto kv = read_key_value(v);
               if (!kv) return false;
               if (!a.tuned_given) a.tuned_props.clear(); // the first --tuned replaces the default set
               a.tuned_given = true;
               a.tuned_props.push_back(std::move(*kv));
               return true;
           },
           "KEY=VALUE"});
    t.add("--seed N", "input generator seed (default 42)", whole(a.seed));
    t.add("--consumer K=V", "extra librdkafka consumer property for every reader (experiments)",
          key_value(a.consumer_props));
    t.add("--producer K=V", "extra librdkafka property for the latency producer (experiments)",
          key_value(a.producer_props));
    t.add("--verbose",
          "also print messages per 100 ms of each read, and the tick latency by\nsecond of the latency runs",
          flag(a.verbose));
    t.add("--json", "one JSON object instead of text", flag(a.json));
    return t;
}

} // namespace

int kafka_main(int argc, char** argv) {
    kafka_args a;
    if (const auto exit_code = kafka_options(a).parse(argc, argv)) return *exit_code;
    try {
        return run_kafka(a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapewire-bench kafka: %s\n", e.what());
        return 1;
    }
}

} // namespace tapewire::bench
