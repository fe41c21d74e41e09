// tapewire-micro: Google Benchmark micro benches of the pieces the graph harness puts together.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/common/tick_feed.hpp"
#include "operators/parse.hpp"
#include "operators/window.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/idle.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/spsc_ring.hpp"
#include "tapewire/stage.hpp"

namespace tapewire::bench {
namespace {

constexpr timestamp_ns k_base_ts = 1'732'800'000'123'456'789;

// One canonical tick message in a buffer with the padding simdjson reads past the end.
struct padded_tick {
    char bytes[256 + k_message_padding];
    raw_message message;

    padded_tick() {
        std::fill(std::begin(bytes), std::end(bytes), ' ');
        json_buffer j(bytes, 256);
        write_tick_json(j, tick::trade(symbol::from("SYM0042"), k_base_ts, 189.53, 100));
        message.payload = j.view();
    }
};

// parse_stage::decode of the same canonical tick over and over: the floor cost of one message.
void BM_parse_one_tick(benchmark::State& state) {
    padded_tick msg;
    parse_stage parse(parse_options{});
    tick t;
    for (auto _ : state) {
        const parse_outcome r = parse.decode(msg.message, t);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(t);
    }
    if (!parse.decode(msg.message, t).ok) state.SkipWithError("canonical tick rejected");
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(msg.message.payload.size()));
}
BENCHMARK(BM_parse_one_tick);

// decode over 64 Ki distinct messages (1000 symbols, varying numbers), as the graph harness feeds
// it: the branch predictor cannot learn one message by heart.
void BM_parse_feed(benchmark::State& state) {
    feed_options fo;
    fo.ticks = 1 << 16;
    fo.first_ts = k_base_ts;
    const tick_feed f = make_feed(fo);
    parse_stage parse(parse_options{});
    raw_message m;
    tick t;
    std::size_t i = 0, bytes = 0;
    for (auto _ : state) {
        m.payload = f.message(i);
        bytes += m.payload.size();
        const parse_outcome r = parse.decode(m, t);
        benchmark::DoNotOptimize(r);
        benchmark::DoNotOptimize(t);
        i = (i + 1) & ((1 << 16) - 1);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_parse_feed);

// Waiting in the two-thread benches: spin briefly, then yield, never sleep. On a shared 2-core
// machine a pure spin can hold the core the other side needs for a whole time slice.
class spin_then_yield {
public:
    void wait() noexcept {
        if (++spins_ < 256) {
            cpu_relax();
        } else {
            spins_ = 0;
            std::this_thread::yield();
        }
    }
    void reset() noexcept { spins_ = 0; }

private:
    std::uint32_t spins_ = 0;
};

record sample_record() { return record(tick::trade(symbol::from("SYM0042"), k_base_ts, 189.53, 100)); }

// One record in and out of an spsc_ring<record> on one thread: the ring's own bookkeeping plus
// copying a slot, without any cache line moving between cores.
void BM_ring_hop(benchmark::State& state) {
    record_ring ring(static_cast<std::size_t>(state.range(0)));
    const record rec = sample_record();
    std::int64_t sum = 0;
    for (auto _ : state) {
        if (!ring.try_push(rec)) state.SkipWithError("ring full");
        record* r = ring.front();
        sum += r->t.ts;
        ring.pop();
    }
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ring_hop)->Arg(4096);

// Throughput across two threads: this thread stages records and publishes every 64 (as
// ring_emitter does); a second thread pops them. Items/s is the sustained hand-off rate.
void BM_ring_hop_two_threads(benchmark::State& state) {
    record_ring ring(static_cast<std::size_t>(state.range(0)));
    const record rec = sample_record();
    const auto total = static_cast<std::uint64_t>(state.max_iterations);
    std::atomic<std::int64_t> consumed_sum{0};
    std::thread consumer([&] {
        std::int64_t sum = 0;
        spin_then_yield idle;
        for (std::uint64_t seen = 0; seen < total;) {
            if (record* r = ring.front()) {
                sum += r->t.ts;
                ring.pop();
                ++seen;
                idle.reset();
            } else {
                idle.wait();
            }
        }
        consumed_sum.store(sum, std::memory_order_relaxed);
    });
    spin_then_yield idle;
    for (auto _ : state) {
        while (!ring.try_stage(rec)) {
            ring.publish();
            idle.wait();
        }
        if (ring.staged_count() >= 64) ring.publish();
    }
    ring.publish();
    consumer.join();
    benchmark::DoNotOptimize(consumed_sum.load(std::memory_order_relaxed));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ring_hop_two_threads)->Arg(4096)->Arg(65536)->UseRealTime();

// Round trip of one record through two rings (ping, then the echo back): twice the one-way hop
// latency between the two cores.
void BM_ring_ping_pong(benchmark::State& state) {
    record_ring ping(64), pong(64);
    const record rec = sample_record();
    const auto total = static_cast<std::uint64_t>(state.max_iterations);
    std::thread echo([&] {
        spin_then_yield idle;
        for (std::uint64_t n = 0; n < total;) {
            if (record* r = ping.front()) {
                const record copy = *r;
                ping.pop();
                ping.release();
                while (!pong.try_push(copy)) idle.wait();
                ++n;
            } else {
                idle.wait();
            }
        }
    });
    spin_then_yield idle;
    for (auto _ : state) {
        while (!ping.try_push(rec)) idle.wait();
        record* r = nullptr;
        while ((r = pong.front()) == nullptr) idle.wait();
        benchmark::DoNotOptimize(r->t.ts);
        pong.pop();
        pong.release();
    }
    echo.join();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ring_ping_pong)->UseRealTime();

// window_stage::on_tick with 1000 symbols in rotation and event time advancing 1 µs per tick, so a
// window closes (1000 bars into the null emitter) every million ticks, as in the graph harness.
void BM_window_update(benchmark::State& state) {
    const auto n_sym = static_cast<std::uint32_t>(state.range(0));
    std::vector<tick> protos;
    protos.reserve(n_sym);
    for (std::uint32_t i = 0; i < n_sym; ++i)
        protos.push_back(tick::trade(symbol::from(symbol_name(i, n_sym)), 0, 100.0 + i % 50, 100));
    window_stage window(window_options{});
    null_emitter out;
    timestamp_ns ts = k_base_ts;
    std::uint32_t s = 0;
    for (auto _ : state) {
        tick t = protos[s];
        t.ts = ts;
        ts += 1000;
        s = s + 1 == n_sym ? 0 : s + 1;
        window.on_tick(t, out);
    }
    benchmark::DoNotOptimize(window.bars_emitted());
    state.SetItemsProcessed(state.iterations());
    state.counters["bars"] = static_cast<double>(window.bars_emitted());
}
BENCHMARK(BM_window_update)->Arg(1000);

// What the graph harness pays per timestamp (two per tick).
void BM_steady_clock_now(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_steady_clock_now);

} // namespace
} // namespace tapewire::bench

BENCHMARK_MAIN();
