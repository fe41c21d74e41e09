// The one blocking put: waits through an idle strategy until there is room, gives up on abort, and
// accounts the time it stalled; ring_emitter waits with it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "src/base/metrics.hpp"
#include "tapewire/blocking_put.hpp"
#include "tapewire/graph.hpp"

using namespace tapewire;
using namespace std::chrono_literals;

namespace {

std::int64_t now_ns() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

// A metrics-like counter, told each wait's length.
struct test_counter {
    std::uint64_t total = 0;
    int calls = 0;
    void add(std::uint64_t n) {
        total += n;
        ++calls;
    }
};

} // namespace

TEST_CASE("a blocking put that succeeds first time neither waits nor counts", "[put]") {
    test_counter told;
    blocking_put put(put_wait{nullptr, k_full_ring_wait, stall_sink(told)});
    int tries = 0;
    CHECK(put([&] { return ++tries > 0; }));
    CHECK(tries == 1);
    CHECK(put.stalls() == 0);
    CHECK(put.stalled_ns() == 0);
    CHECK(told.calls == 0);
}

TEST_CASE("a blocking put waits until there is room and accounts the time it stalled", "[put]") {
    metrics_registry reg;
    counter& told = reg.get_counter("stalled_ns");
    blocking_put put(put_wait{nullptr, k_full_ring_wait, stall_sink(told)});
    std::atomic<bool> room{false};
    std::atomic<std::int64_t> freed_at{0};
    std::thread freer([&] {
        std::this_thread::sleep_for(30ms);
        freed_at.store(now_ns());
        room.store(true);
    });
    // The stall is timed from before the second try to after the last: it covers [second try, freed].
    std::int64_t second_try_at = 0;
    int tries = 0;
    const std::int64_t t0 = now_ns();
    CHECK(put([&] {
        if (++tries == 2) second_try_at = now_ns();
        return room.load();
    }));
    const std::int64_t waited = now_ns() - t0;
    freer.join();
    REQUIRE(tries > 1);
    CHECK(put.stalls() == 1);
    CHECK(put.stalled_ns() >= freed_at.load() - second_try_at);
    CHECK(put.stalled_ns() <= waited);
    CHECK(told.value() == static_cast<std::uint64_t>(put.stalled_ns()));
    // A second wait adds to the first.
    const std::int64_t first = put.stalled_ns();
    tries = 0;
    CHECK(put([&] { return ++tries == 3; }));
    CHECK(put.stalls() == 2);
    CHECK(put.stalled_ns() > first);
    CHECK(told.value() == static_cast<std::uint64_t>(put.stalled_ns()));
}

TEST_CASE("a blocking put returns false promptly once the abort flag is raised", "[put]") {
    std::atomic<bool> abort{false};
    test_counter told;
    // The slowest wait the engine uses: naps of up to a millisecond.
    const idle_options slow{idle_kind::backoff, 0, 10, 50us, 1ms};
    blocking_put put(put_wait{&abort, slow, stall_sink(told)});
    std::atomic<std::int64_t> raised_at{0};
    std::thread aborter([&] {
        std::this_thread::sleep_for(50ms);
        raised_at.store(now_ns());
        abort.store(true);
    });
    std::int64_t second_try_at = 0;
    int tries = 0;
    const bool put_done = put([&] {
        if (++tries == 2) second_try_at = now_ns();
        return false; // never any room: the consumer has gone
    });
    const std::int64_t returned_at = now_ns();
    aborter.join();
    CHECK_FALSE(put_done);
    CHECK(tries > 1);
    INFO("returned " << (returned_at - raised_at.load()) / 1000 << " us after the abort");
    CHECK(returned_at - raised_at.load() < 20'000'000); // a nap or two, never the wait of a put that succeeds
    CHECK(put.stalls() == 1);
    CHECK(put.stalled_ns() >= raised_at.load() - second_try_at);
    CHECK(told.calls == 1);
    CHECK(told.total == static_cast<std::uint64_t>(put.stalled_ns()));
}

TEST_CASE("ring_emitter waits on a full ring, says how long, and gives up on abort", "[put][ring]") {
    record_ring ring(4);
    std::atomic<bool> abort{false};
    test_counter told;
    ring_emitter out(ring, &abort, 1, stall_sink(told));
    for (int i = 0; i < 4; ++i) out.on_watermark(watermark{i, i});
    CHECK(out.stalls() == 0);
    std::thread consumer([&] {
        std::this_thread::sleep_for(20ms);
        bool flushed = false;
        struct counting {
            int n = 0;
            void on_tick(const tick&) {}
            void on_bar(const bar&) {}
            void on_bar_update(const bar&) {}
            void on_alert(const alert&) {}
            void on_dead_letter(const dead_letter_view&) {}
            void on_watermark(const watermark&) { ++n; }
            void on_flush() {}
        } c;
        while (c.n < 1) drain_ring(ring, c, 1, flushed);
    });
    const std::int64_t t0 = now_ns();
    out.on_watermark(watermark{4, 4}); // the ring is full: waits for the consumer
    const std::int64_t waited = now_ns() - t0;
    consumer.join();
    CHECK(out.stalls() == 1);
    CHECK(out.stalled_ns() > 0);
    CHECK(out.stalled_ns() <= waited);
    CHECK(told.total == static_cast<std::uint64_t>(out.stalled_ns()));

    // Full again, and nobody will drain it: an abort frees the producer, and an owning record is
    // released rather than leaked (ASan would say).
    std::thread aborter([&] {
        std::this_thread::sleep_for(10ms);
        abort.store(true);
    });
    out.on_control(partition_control{partition_control::action::revoke, {1, 2}});
    aborter.join();
    CHECK(out.stalls() == 2);
    discard_ring(ring);
}
