// tapewire-bench: end-to-end harness for the operator graph.
//
//   tapewire-bench graph [--ticks N] [--symbols S] [--threads 1|2] [--rate R] [--json] [--warmup N]
//                        [--warmup-span S] [--ring N] [--seed N] [--pin] [--no-latency]
//                        [--watermark partition|symbol] [--widths 1s,1m,5m]
//
// Pre-generated canonical tick JSON goes through parse → window (1 s, 200 ms lateness) → vwap →
// anomaly → a terminal emitter that counts and timestamps every tick. One thread fuses the whole
// chain; two threads put a record_ring between parse and window, as the pipeline does.
//
// Latency is measured from each message's intended hand-off time, not from when the feeder got
// round to it: with --rate R, message i is due at start + i/R, and a feeder that falls behind
// still charges the delay to the pipeline (no coordinated omission). With --rate 0 the intended
// time is the moment of hand-off.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <x86intrin.h>

#include "alloc_count.hpp"
#include "bench/common/args.hpp"
#include "bench/common/cpu_time.hpp"
#include "bench/common/percentiles.hpp"
#include "bench/common/perf_control.hpp"
#include "bench/common/report.hpp"
#include "bench/common/tick_feed.hpp"
#include "operators/analytics.hpp"
#include "operators/anomaly.hpp"
#include "operators/parse.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"
#include "src/base/clock.hpp"
#include "src/base/duration_text.hpp"
#include "tapewire/config.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/idle.hpp"
#include "tapewire/runner.hpp"
#include "tapewire/stage.hpp"

namespace tapewire::bench {
namespace {

// Per-tick timestamps read the TSC directly: the kernel's own clock source here is the TSC
// (constant_tsc, nonstop_tsc), but steady_clock::now() through the vDSO costs 28-48 ns on this VM
// against ~8 ns for rdtsc, and every tick pays for two reads. The TSC is scaled to nanoseconds
// with a factor calibrated against steady_clock at start-up.
struct tsc_clock {
    std::uint64_t tsc0;
    std::int64_t ns0;
    double ns_per_tick;

    tsc_clock() {
        using namespace std::chrono;
        auto steady = [] { return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count(); };
        const std::int64_t a_ns = steady();
        const std::uint64_t a_tsc = __rdtsc();
        std::this_thread::sleep_for(milliseconds(100));
        const std::int64_t b_ns = steady();
        const std::uint64_t b_tsc = __rdtsc();
        ns_per_tick = static_cast<double>(b_ns - a_ns) / static_cast<double>(b_tsc - a_tsc);
        tsc0 = b_tsc;
        ns0 = b_ns;
    }
    [[nodiscard]] std::int64_t now() const noexcept {
        return ns0 + static_cast<std::int64_t>(static_cast<double>(__rdtsc() - tsc0) * ns_per_tick);
    }
};

const tsc_clock& the_clock() {
    static const tsc_clock c;
    return c;
}

// Shadows tapewire::mono_ns in this file: every latency and span here is read from the TSC.
inline std::int64_t mono_ns() noexcept { return the_clock().now(); }

double clock_cost_ns() {
    constexpr int n = 1'000'000;
    std::int64_t sink = 0;
    const auto t0 = mono_ns();
    for (int i = 0; i < n; ++i) sink += mono_ns();
    const auto t1 = mono_ns();
    if (sink == 42) std::puts(""); // keeps the loop
    return static_cast<double>(t1 - t0) / n;
}

// Processing-time timers go out this often (in messages), as a runtime's timer would every few ms.
constexpr std::uint64_t k_timer_every = 1u << 16;

// The end of the graph: counts what arrives and records each tick's latency, indexed by the tick's
// source offset (its message index) in a buffer allocated before the run.
class terminal {
public:
    terminal(std::int64_t* latency, std::size_t capacity) noexcept : latency_(latency), capacity_(capacity) {}

    void on_tick(const tick& t) {
        if (latency_ != nullptr) {
            const std::int64_t now = mono_ns();
            const auto i = static_cast<std::uint64_t>(t.src.offset);
            if (i < capacity_) latency_[i] = now - t.src.ingest_ns;
        }
        ++ticks_;
    }
    void on_bar(const bar&) { ++bars_; }
    void on_bar_update(const bar&) { ++bar_updates_; }
    void on_alert(const alert& a) {
        ++alerts_;
        ++by_kind_[static_cast<std::size_t>(a.kind) & 3];
    }
    void on_dead_letter(const dead_letter_view&) { ++dead_letters_; }
    void on_watermark(const watermark&) { ++watermarks_; }
    void on_timer(timestamp_ns) {}
    void on_flush() { ++flushes_; }

    std::uint64_t ticks() const noexcept { return ticks_; }
    std::uint64_t bars() const noexcept { return bars_; }
    std::uint64_t bar_updates() const noexcept { return bar_updates_; }
    std::uint64_t alerts() const noexcept { return alerts_; }
    std::uint64_t alerts(alert_kind k) const noexcept { return by_kind_[static_cast<std::size_t>(k) & 3]; }
    std::uint64_t dead_letters() const noexcept { return dead_letters_; }
    std::uint64_t watermarks() const noexcept { return watermarks_; }
    std::uint64_t flushes() const noexcept { return flushes_; }

private:
    std::int64_t* latency_;
    std::size_t capacity_;
    std::uint64_t ticks_ = 0, bars_ = 0, bar_updates_ = 0, alerts_ = 0, dead_letters_ = 0, watermarks_ = 0,
                  flushes_ = 0;
    std::uint64_t by_kind_[4] = {};
};
static_assert(emitter<terminal>);

// window → vwap → anomaly → terminal, the same fused chain the runtime runs behind parse.
using downstream = analytics_chain<terminal>;

// The second thread of --threads 2: drains the ring into the downstream chain until the in-band
// flush has gone through.
class drain_agent final : public agent {
public:
    drain_agent(record_ring& ring, downstream& d) noexcept : ring_(ring), down_(d) {}

    std::size_t do_work() override {
        bool flushed = false;
        const std::size_t n = drain_ring(ring_, down_.head, 256, flushed);
        if (n == 0) return 0;
        if (flushed) flushed_ = true;
        records_ += n;
        if (records_ >= next_timer_) {
            next_timer_ = records_ + k_timer_every;
            down_.head.on_timer(wall_ns());
        }
        progress_.store(down_.sink.ticks(), std::memory_order_release);
        return n;
    }
    [[nodiscard]] bool done() const override { return flushed_; }

    // Ticks that have reached the terminal, readable from the feeding thread.
    [[nodiscard]] std::uint64_t progress() const noexcept { return progress_.load(std::memory_order_acquire); }

private:
    record_ring& ring_;
    downstream& down_;
    bool flushed_ = false;
    std::uint64_t records_ = 0;
    std::uint64_t next_timer_ = 0;
    std::atomic<std::uint64_t> progress_{0};
};

struct graph_args {
    std::uint64_t ticks = 5'000'000;
    std::uint64_t warmup = 200'000;
    double warmup_span_s = -1; // event time the warm-up covers; < 0: late_update_horizon + 4 windows
    std::uint32_t symbols = 1000;
    std::uint32_t threads = 1;
    double rate = 0;
    bool json = false;
    std::uint32_t ring = pipeline_config{}.ring_size;
    std::uint64_t seed = 42;
    bool pin = false;
    bool latency = true;
    watermark_mode watermark = watermark_mode::partition; // whose event time closes windows
    std::vector<std::int64_t> widths_ns;                  // --widths: several widths; empty: 1 s alone
};

struct graph_result {
    double seconds = 0;
    std::uint64_t ticks = 0;
    percentiles latency; // ns, from intended hand-off to the terminal
    std::uint64_t allocations = 0;
    std::uint64_t ring_stalls = 0;
    std::uint64_t bars = 0, alerts = 0, dead_letters = 0, watermarks = 0;
};

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Hands messages [begin, end) to parse, which emits into `out`. With rate > 0, message i is due at
// t0 + (i - begin)/rate, and `before_wait` runs whenever the feeder is ahead of schedule (to publish
// staged records, so nothing sits in the ring while the feeder spins). At rate 0 the hand-off time
// is read per message, unless `timed` is false.
template <class E, class BeforeWait> void feed(const tick_feed& f, parse_stage& parse, E& out, std::size_t begin,
                                               std::size_t end, double rate, bool timed, BeforeWait&& before_wait) {
    raw_message m;
    m.src.partition = 0;
    const double period_ns = rate > 0 ? 1e9 / rate : 0;
    const std::int64_t t0 = mono_ns();
    for (std::size_t i = begin; i < end; ++i) {
        std::int64_t handoff = 0;
        if (rate > 0) {
            handoff = t0 + static_cast<std::int64_t>(static_cast<double>(i - begin) * period_ns);
            if (mono_ns() < handoff) {
                before_wait();
                while (mono_ns() < handoff) cpu_relax();
            }
        } else if (timed) {
            handoff = mono_ns();
        }
        m.payload = f.message(i);
        m.src.offset = static_cast<std::int64_t>(i);
        m.src.ingest_ns = handoff;
        parse.on_message(m, out);
        if ((i & (k_timer_every - 1)) == 0) {
            const std::int64_t now = wall_ns();
            parse.on_timer(now, out);
            out.on_timer(now);
        }
    }
}

int run_graph(const graph_args& a) {
    const std::uint64_t total = a.warmup + a.ticks;

    // Every stage runs with the defaults of its option struct; the window's are spelled out because
    // the harness is specified as 1 s windows with 200 ms allowed lateness.
    parse_options popt;
    window_options wopt;
    wopt.width_ns = 1'000'000'000;
    wopt.allowed_lateness_ns = 200'000'000;
    wopt.per_symbol = a.watermark == watermark_mode::symbol;
    if (a.widths_ns.size() > 1) wopt.widths_ns = a.widths_ns;
    if (!a.widths_ns.empty()) wopt.width_ns = a.widths_ns.front();
    vwap_options vopt;
    anomaly_options aopt;

    // Per-symbol history (the window's retained bars for late corrections, the vwap stage's
    // history) reaches its final size only after late_update_horizon of event time. At 1 µs per tick
    // no warm-up of reasonable length gets there, so by default the warm-up ticks are spread over
    // the horizon plus a few windows; the measured ticks then advance ~1 µs each.
    const double span_s = a.warmup_span_s >= 0
                              ? a.warmup_span_s
                              : static_cast<double>(wopt.late_update_horizon_ns + 4 * wopt.width_ns +
                                                    (a.widths_ns.size() > 1 ? 2 * a.widths_ns.back() : 0)) /
                                    1e9;
    // With --widths the warm-up also spans two of the widest windows, so that every lane's rings reach
    // their size; the measured ticks then cost what each lane-0 window closed costs the wider lanes.

    feed_options fo;
    fo.ticks = total;
    fo.symbols = a.symbols;
    fo.seed = a.seed;
    fo.first_ts = an_hour_ago();
    fo.mean_step_ns = 1000;
    if (a.warmup > 0 && span_s > 0) {
        fo.fast_ticks = a.warmup;
        fo.fast_step_ns =
            std::max<std::int64_t>(static_cast<std::int64_t>(span_s * 1e9 / static_cast<double>(a.warmup)), 1);
    }
    const auto gen0 = mono_ns();
    const tick_feed feed_data = make_feed(fo);
    const auto gen1 = mono_ns();

    // --no-latency (at rate 0 only) drops both clock reads per tick, to show what they cost.
    const bool timed = a.latency || a.rate > 0;
    std::vector<std::int64_t> latency(timed ? total : 0, -1);
    parse_stage parse(popt);
    auto down = std::make_unique<downstream>(wopt, vopt, aopt, timed ? latency.data() : nullptr, latency.size());

    graph_result r;
    r.ticks = a.ticks;
    const std::int64_t now = wall_ns();
    if (a.pin) pin_to(0);

    perf_control perf;
    double steal0 = 0, steal1 = 0; // ns
    std::uint64_t alloc0 = 0, alloc1 = 0;
    std::uint64_t stalls0 = 0;
    terminal before = down->sink; // counters at the start of the measured phase
    std::int64_t t_start = 0, t_end = 0;
    std::string thread_error;

    if (a.threads <= 1) {
        auto& head = down->head;
        parse.on_timer(now, head);
        head.on_timer(now);
        feed(feed_data, parse, head, 0, a.warmup, 0, timed, [] {});
        before = down->sink;
        steal0 = read_machine_cpu().steal_ns;
        perf.enable();
        alloc0 = heap_allocations();
        t_start = mono_ns();
        feed(feed_data, parse, head, a.warmup, total, a.rate, timed, [] {});
        parse.flush(head);
        t_end = mono_ns();
        alloc1 = heap_allocations();
        perf.disable();
        steal1 = read_machine_cpu().steal_ns;
    } else {
        record_ring ring(a.ring);
        std::atomic<bool> abort{false};
        ring_emitter em(ring, &abort, 64);
        drain_agent agent(ring, *down);
        runner_options ro;
        ro.name = "tw-bench-down";
        ro.cpu = a.pin ? 1 : -1;
        runner th(agent, ro, [&](const std::string&, const std::string& what) {
            thread_error = what;
            abort.store(true, std::memory_order_relaxed);
        });
        down->head.on_timer(now); // before the thread starts: no race on the window's clock
        th.start();
        parse.on_timer(now, em);

        auto publish = [&em] { em.publish(); };
        feed(feed_data, parse, em, 0, a.warmup, 0, timed, publish);
        em.publish();
        // Measure from a drained pipeline, so the warm-up's backlog is not billed to the run.
        idle_strategy wait;
        while (agent.progress() < a.warmup && !th.finished()) wait.idle(0);
        // The downstream thread is idle now (the ring is empty): its counters are stable to copy.
        before = down->sink;
        stalls0 = em.stalls();

        steal0 = read_machine_cpu().steal_ns;
        perf.enable();
        alloc0 = heap_allocations();
        t_start = mono_ns();
        feed(feed_data, parse, em, a.warmup, total, a.rate, timed, publish);
        parse.flush(em); // in band: travels behind the last tick
        th.join();
        t_end = mono_ns();
        alloc1 = heap_allocations();
        perf.disable();
        steal1 = read_machine_cpu().steal_ns;
        r.ring_stalls = em.stalls() - stalls0;
        if (th.failed()) throw failure("downstream thread failed: " + thread_error);
    }

    const terminal& term = down->sink;
    r.seconds = static_cast<double>(t_end - t_start) / 1e9;
    r.allocations = alloc1 - alloc0;
    r.bars = term.bars() - before.bars();
    r.alerts = term.alerts() - before.alerts();
    r.dead_letters = term.dead_letters() - before.dead_letters();
    r.watermarks = term.watermarks() - before.watermarks();

    // The run only counts if every tick made it through every stage.
    count_check("inconsistent run")
        .equal("ticks at the terminal", term.ticks(), total)
        .equal("parsed", parse.parsed(), total)
        .equal("dead letters", term.dead_letters(), 0)
        .equal("flushes", term.flushes(), 1)
        .enforce();

    std::vector<std::int64_t> measured;
    if (timed) measured.assign(latency.begin() + static_cast<std::ptrdiff_t>(a.warmup), latency.end());
    r.latency = summarise(std::move(measured));

    const double tps = r.seconds > 0 ? static_cast<double>(r.ticks) / r.seconds : 0;
    const double allocs_per_tick = r.ticks > 0 ? static_cast<double>(r.allocations) / static_cast<double>(r.ticks) : 0;
    if (a.json) {
        std::printf("{\"bench\":\"graph\",\"threads\":%u,\"ticks\":%llu,\"seconds\":%.6f,\"ticks_per_s\":%.0f,"
                    "\"latency_ns\":{\"p50\":%lld,\"p99\":%lld,\"p999\":%lld,\"max\":%lld},\"allocs_per_tick\":%.9g,"
                    "\"symbols\":%u,\"rate\":%.9g,\"watermark\":\"%s\",\"widths\":%zu}\n",
                    a.threads, static_cast<unsigned long long>(r.ticks), r.seconds, tps,
                    static_cast<long long>(r.latency.p50), static_cast<long long>(r.latency.p99),
                    static_cast<long long>(r.latency.p999), static_cast<long long>(r.latency.max), allocs_per_tick,
                    a.symbols, a.rate, std::string(to_string(a.watermark)).c_str(),
                    std::max<std::size_t>(1, a.widths_ns.size()));
        return 0;
    }

    std::printf("graph: threads=%u symbols=%u ticks=%llu warmup=%llu over %.0f s rate=%s ring=%u watermark=%s "
                "widths=%zu%s\n",
                a.threads, a.symbols, static_cast<unsigned long long>(r.ticks),
                static_cast<unsigned long long>(a.warmup), span_s,
                a.rate > 0 ? std::to_string(static_cast<long long>(a.rate)).append(" ticks/s").c_str() : "max", a.ring,
                std::string(to_string(a.watermark)).c_str(), std::max<std::size_t>(1, a.widths_ns.size()),
                a.pin ? " pinned" : "");
    std::printf("  input        %llu messages, %.1f MiB with padding, generated in %.2f s\n",
                static_cast<unsigned long long>(total), static_cast<double>(feed_data.total_bytes()) / (1 << 20),
                static_cast<double>(gen1 - gen0) / 1e9);
    std::printf("  throughput   %.3f M ticks/s  (%.3f s)\n", tps / 1e6, r.seconds);
    if (timed) {
        std::printf(
            "  latency ns   p50 %lld  p99 %lld  p99.9 %lld  max %lld  (from intended hand-off to the terminal)\n",
            static_cast<long long>(r.latency.p50), static_cast<long long>(r.latency.p99),
            static_cast<long long>(r.latency.p999), static_cast<long long>(r.latency.max));
    } else {
        std::printf("  latency ns   not measured (--no-latency: no clock reads per tick)\n");
    }
    std::printf("  allocations  %llu during the measured phase = %.9g per tick\n",
                static_cast<unsigned long long>(r.allocations), allocs_per_tick);
    std::printf("  measured     %llu bars, %llu watermarks, %llu dead letters, %llu ring-full stalls\n",
                static_cast<unsigned long long>(r.bars), static_cast<unsigned long long>(r.watermarks),
                static_cast<unsigned long long>(r.dead_letters), static_cast<unsigned long long>(r.ring_stalls));
    std::printf("  alerts       %llu:", static_cast<unsigned long long>(r.alerts));
    for (alert_kind k : {alert_kind::price_jump, alert_kind::return_z, alert_kind::volume_spike, alert_kind::vwap_dev})
        std::printf(" %s %llu", std::string(to_string(k)).c_str(),
                    static_cast<unsigned long long>(term.alerts(k) - before.alerts(k)));
    std::printf("\n");
    std::printf("  clock        TSC (rdtsc, scaled) %.1f ns per call (%s)\n", clock_cost_ns(),
                timed ? "2 reads per tick" : "not read per tick");
    std::printf("  steal        %.0f ms of CPU time taken by the hypervisor during the measured phase (/proc/stat)\n",
                (steal1 - steal0) / 1e6);
    return 0;
}

option_table jitter_options(double& seconds) {
    option_table t("tapewire-bench jitter",
                   "One spinning thread per CPU reads the clock back to back and reports the gaps.\n");
    t.add("--seconds S", "how long to spin (default 5)", positive(seconds));
    return t;
}

// The graph harness's options; its usage is the binary's, naming the other subcommands too.
option_table graph_options(graph_args& a) {
    double jitter_seconds = 0;
    option_table t(
        "tapewire-bench graph",
        "       " + jitter_options(jitter_seconds).synopsis() +
            "\n"
            "       tapewire-bench kafka [options]   (Kafka input against its floors; tapewire-bench kafka "
            "--help)\n"
            "       tapewire-bench sink [options]    (the ODBC sink into PostgreSQL against libpq COPY; sink "
            "--help)\n"
            "       tapewire-bench fetch [options]   (the yahoo-chart poller against a local server, "
            "keep-alive on and off)\n"
            "jitter: one thread per CPU spins on the clock for S seconds (default 5) and reports the gaps,\n"
            "        the floor under any latency tail on this machine.\n"
            "graph: parse -> window -> vwap -> anomaly over pre-generated tick JSON\n");
    t.add("--ticks N", "measured ticks (default 5000000)", whole(a.ticks, std::uint64_t{1}));
    t.add("--warmup N", "ticks fed first, unmeasured, so tables reach steady size (default 200000)", whole(a.warmup));
    t.add("--warmup-span S",
          "seconds of event time the warm-up ticks cover (default: the window's\n"
          "late-update horizon + 4 windows = 64; 0 = 1 us per tick like the rest)",
          non_negative(a.warmup_span_s));
    t.add("--symbols S", "distinct symbols (default 1000)", whole(a.symbols, 1u));
    t.add("--threads T", "1: all stages fused; 2: parse | ring | window-vwap-anomaly (default 1)",
          whole(a.threads, 1u, 2u));
    t.add("--rate R", "hand-off pace in ticks/s, 0 = as fast as possible (default 0)", non_negative(a.rate));
    t.add("--ring N", "records in the ring between the threads (default: pipeline.ring_size, 4096)", whole(a.ring, 2u));
    t.add("--seed N", "input generator seed (default 42)", whole(a.seed));
    t.add("--pin", "pin the feeding thread to CPU 0 and the downstream thread to CPU 1", flag(a.pin));
    t.add("--no-latency",
          "with --rate 0: skip both clock reads per tick (latency fields read 0), to\n"
          "show what the measurement itself costs",
          flag(a.latency, false));
    t.add("--watermark W",
          "partition: one event-time clock per input partition; symbol: one per symbol\n(default partition)",
          one_of(a.watermark, {{"partition", watermark_mode::partition}, {"symbol", watermark_mode::symbol}}));
    t.add("--widths LIST", "several window widths from one pass, e.g. 1s,1m,5m (default: 1s alone)",
          option_value{[&a](std::string_view s) {
                           std::vector<std::int64_t> widths;
                           for (std::size_t from = 0;;) {
                               const std::size_t comma = s.find(',', from);
                               const auto d = parse_duration(s.substr(from, comma == s.npos ? comma : comma - from));
                               if (!d || d->count() <= 0) return false;
                               if (!widths.empty() && (d->count() <= widths.back() || d->count() % widths.back() != 0))
                                   return false;
                               widths.push_back(d->count());
                               if (comma == s.npos) break;
                               from = comma + 1;
                           }
                           a.widths_ns = std::move(widths);
                           return true;
                       },
                       "ascending durations, each a multiple of the one before"});
    t.add("--json", "one JSON object instead of text", flag(a.json));
    return t;
}

int graph_main(int argc, char** argv) {
    graph_args a;
    if (const auto exit_code = graph_options(a).parse(argc, argv)) return *exit_code;
    try {
        return run_graph(a);
    } catch (const failure& e) {
        std::fprintf(stderr, "tapewire-bench graph: %s\n", e.what());
        return 1;
    }
}

// jitter: what the machine does to a thread that never blocks. One spinning thread per CPU reads
// the clock back to back; any gap is time the thread did not run (an interrupt, the hypervisor,
// another process). The graph's latency tail cannot be better than this.
int jitter_main(int argc, char** argv) {
    double seconds = 5;
    if (const auto exit_code = jitter_options(seconds).parse(argc, argv)) return *exit_code;
    struct gaps {
        std::uint64_t over_10us = 0, over_100us = 0, over_1ms = 0;
        std::int64_t max = 0, stalled_ns = 0;
    };
    const long cpus = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
    std::vector<gaps> result(static_cast<std::size_t>(cpus));
    const auto duration_ns = static_cast<std::int64_t>(seconds * 1e9);
    std::vector<std::thread> threads;
    for (long c = 0; c < cpus; ++c) {
        threads.emplace_back([&, c] {
            pin_to(static_cast<int>(c));
            gaps g;
            const std::int64_t start = mono_ns();
            std::int64_t prev = start;
            while (prev - start < duration_ns) {
                const std::int64_t now = mono_ns();
                const std::int64_t gap = now - prev;
                if (gap > 10'000) {
                    ++g.over_10us;
                    g.stalled_ns += gap;
                    if (gap > 100'000) ++g.over_100us;
                    if (gap > 1'000'000) ++g.over_1ms;
                    g.max = std::max(g.max, gap);
                }
                prev = now;
            }
            result[static_cast<std::size_t>(c)] = g;
        });
    }
    for (auto& t : threads) t.join();
    std::printf("jitter: %.1f s of back-to-back clock reads, one spinning thread per CPU\n", seconds);
    for (std::size_t c = 0; c < result.size(); ++c) {
        const gaps& g = result[c];
        std::printf(
            "  cpu %zu  gaps > 10 us: %llu, > 100 us: %llu, > 1 ms: %llu, longest %.3f ms, %.2f%% of the time lost\n",
            c, static_cast<unsigned long long>(g.over_10us), static_cast<unsigned long long>(g.over_100us),
            static_cast<unsigned long long>(g.over_1ms), static_cast<double>(g.max) / 1e6,
            100.0 * static_cast<double>(g.stalled_ns) / static_cast<double>(duration_ns));
    }
    return 0;
}

} // namespace

int kafka_main(int argc, char** argv); // kafka_bench.cpp
int sink_main(int argc, char** argv);  // sink_bench.cpp
int fetch_main(int argc, char** argv); // fetch_bench.cpp

} // namespace tapewire::bench

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "graph") return tapewire::bench::graph_main(argc - 2, argv + 2);
    if (argc >= 2 && std::string_view(argv[1]) == "jitter") return tapewire::bench::jitter_main(argc - 2, argv + 2);
    if (argc >= 2 && std::string_view(argv[1]) == "kafka") return tapewire::bench::kafka_main(argc - 2, argv + 2);
    if (argc >= 2 && std::string_view(argv[1]) == "sink") return tapewire::bench::sink_main(argc - 2, argv + 2);
    if (argc >= 2 && std::string_view(argv[1]) == "fetch") return tapewire::bench::fetch_main(argc - 2, argv + 2);
    const bool help = argc >= 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help");
    tapewire::bench::graph_args a;
    tapewire::bench::graph_options(a).usage(help ? stdout : stderr);
    return help ? 0 : 2;
}
