// The consumer's instructions (`partition_control`) in the graph's input ring: typed records that
// keep their place among the messages, on one thread and between two, and that take nothing when
// there is no room for them.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "tapewire/message_ring.hpp"
#include "tapewire/partition_control.hpp"

using namespace tapewire;

namespace {

partition_control revoke(std::vector<std::int32_t> parts) {
    return {partition_control::action::revoke, std::move(parts)};
}
partition_control restore(std::vector<std::int32_t> parts) {
    return {partition_control::action::restore, std::move(parts)};
}

} // namespace

TEST_CASE("message_ring hands an instruction out exactly between the messages it was put between", "[ring][control]") {
    message_ring ring(4096);
    REQUIRE(ring.try_stage("A", "{\"p\":1}", origin{3, 10, 0}));
    REQUIRE(ring.try_stage_control(revoke({3, 7})));
    REQUIRE(ring.try_stage_control(restore({4})));
    REQUIRE(ring.try_stage("B", "{\"p\":2}", origin{4, 0, 0}));
    ring.publish();

    raw_message m;
    REQUIRE(ring.front(m));
    CHECK_FALSE(m.control);
    CHECK(m.payload == "{\"p\":1}");
    ring.pop();
    REQUIRE(ring.front(m));
    REQUIRE(m.control);
    CHECK(m.payload.empty());
    CHECK(ring.take_control() == revoke({3, 7}));
    ring.pop();
    REQUIRE(ring.front(m));
    REQUIRE(m.control);
    CHECK(ring.take_control() == restore({4}));
    ring.pop();
    REQUIRE(ring.front(m));
    CHECK_FALSE(m.control);
    CHECK(m.key == "B");
    CHECK(m.src.partition == 4);
    ring.pop();
    CHECK_FALSE(ring.front(m));
}

TEST_CASE("message_ring refuses an instruction when its side queue is full and stages no marker for it",
          "[ring][control]") {
    message_ring ring(1 << 16);
    int queued = 0;
    while (ring.try_stage_control(revoke({queued}))) ++queued;
    CHECK(queued == 64); // the side queue's capacity; the ring itself had room for many more markers
    REQUIRE(ring.try_stage("K", "{}", origin{}));
    ring.publish();

    raw_message m;
    for (int i = 0; i < queued; ++i) {
        REQUIRE(ring.front(m));
        REQUIRE(m.control);
        CHECK(ring.take_control() == revoke({i}));
        ring.pop();
    }
    // The refused instruction left no marker behind: the message staged after it comes next.
    REQUIRE(ring.front(m));
    CHECK_FALSE(m.control);
    CHECK(m.key == "K");
    ring.pop();
    CHECK_FALSE(ring.front(m));
    // Taken records free their places.
    CHECK(ring.try_stage_control(restore({1, 2})));
}

TEST_CASE("message_ring keeps instructions in order with messages between two threads",
          "[ring][control][concurrency]") {
    constexpr std::uint64_t k_n = 200'000;
    message_ring ring(8192); // small: both sides wait on each other often
    std::atomic<bool> stop{false};
    // Every 97th item is an instruction naming its own position; the rest are messages that do.
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < k_n && !stop.load(std::memory_order_relaxed);) {
            const bool ok = i % 97 == 0
                                ? ring.try_stage_control(restore({static_cast<std::int32_t>(i)}))
                                : ring.try_stage("k", std::to_string(i), origin{0, static_cast<std::int64_t>(i), 0});
            if (ok) {
                ++i;
                if (i % 16 == 0) ring.publish();
            } else {
                ring.publish();
                std::this_thread::yield();
            }
        }
        ring.publish();
    });

    std::uint64_t next = 0, bad = 0, controls = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    raw_message m;
    while (next < k_n && std::chrono::steady_clock::now() < deadline) {
        if (!ring.front(m)) {
            std::this_thread::yield();
            continue;
        }
        if (next % 97 == 0) {
            if (!m.control || ring.take_control() != restore({static_cast<std::int32_t>(next)})) ++bad;
            ++controls;
        } else if (m.control || m.payload != std::to_string(next) || m.src.offset != static_cast<std::int64_t>(next)) {
            ++bad;
        }
        ring.pop();
        ++next;
    }
    stop = true;
    producer.join();
    CHECK(bad == 0);
    CHECK(next == k_n);
    CHECK(controls == (k_n + 96) / 97);
}
