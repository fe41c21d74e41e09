// Rings: spsc_ring element lifetimes and capacity, and two-thread stress tests (tagged [concurrency]
// so `tapewire_tests "[concurrency]"` runs them under TSan) for spsc_ring, message_ring and the
// record_ring behind ring_emitter / drain_ring.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "collect.hpp"
#include "tapewire/graph.hpp"
#include "tapewire/message_ring.hpp"
#include "tapewire/spsc_ring.hpp"

using namespace tapewire;

#if defined(__SANITIZE_THREAD__)
#define TAPEWIRE_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TAPEWIRE_TEST_TSAN 1
#endif
#endif

namespace {

#if defined(TAPEWIRE_TEST_TSAN)
constexpr std::uint64_t k_stress_n = 200'000; // TSan is ~10x slower: stay well under 5 s
#else
constexpr std::uint64_t k_stress_n = 2'000'000;
#endif

constexpr auto k_deadline = std::chrono::seconds(60); // a lost element must fail, not hang

// Counts constructions, moves, copies and destructions, and keeps the set of live objects so a
// double destruction (or destroying something never built) is caught by address, not by reading a
// dead object.
struct tracked {
    static inline int constructed = 0, destroyed = 0, moved = 0, copied = 0, bad_destroy = 0;
    static inline std::set<const tracked*> live;

    static void reset() {
        constructed = destroyed = moved = copied = bad_destroy = 0;
        live.clear();
    }

    int value = 0;

    explicit tracked(int v) : value(v) { born(); }
    tracked(const tracked& o) : value(o.value) {
        ++copied;
        born();
    }
    tracked(tracked&& o) noexcept : value(o.value) {
        o.value = -1;
        ++moved;
        born();
    }
    tracked& operator=(const tracked&) = delete;
    tracked& operator=(tracked&&) = delete;
    ~tracked() {
        ++destroyed;
        if (live.erase(this) != 1) ++bad_destroy;
    }

private:
    void born() {
        ++constructed;
        live.insert(this);
    }
};

// Payload of message number `seq`: 1..300 bytes, byte j = '!' + (31 seq + j) mod 90, i.e. a window
// of a repeating 90-character pattern starting at (31 seq) mod 90.
std::size_t payload_len(std::uint64_t seq) { return 1 + static_cast<std::size_t>((seq * 7919) % 300); }
const std::string& payload_pattern() {
    static const std::string p = [] {
        std::string s(90 + 300, ' ');
        for (std::size_t j = 0; j < s.size(); ++j) s[j] = static_cast<char>('!' + j % 90);
        return s;
    }();
    return p;
}
std::string_view payload_of(std::uint64_t seq) {
    return std::string_view(payload_pattern()).substr(static_cast<std::size_t>((seq * 31) % 90), payload_len(seq));
}
// Key: the low decimal digits of seq (0..5 bytes, written into a caller buffer to stay allocation free).
std::string_view key_of(std::uint64_t seq, char (&buf)[8]) {
    std::uint64_t v = seq % 100'000;
    std::size_t n = 0;
    char tmp[8];
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < 5);
    for (std::size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
    return {buf, n};
}

} // namespace

TEST_CASE("spsc_ring capacity rounds up to a power of two and holds exactly that many", "[ring]") {
    CHECK(spsc_ring<int>(0).capacity() == 2);
    CHECK(spsc_ring<int>(1).capacity() == 2);
    CHECK(spsc_ring<int>(2).capacity() == 2);
    CHECK(spsc_ring<int>(3).capacity() == 4);
    CHECK(spsc_ring<int>(5).capacity() == 8);
    CHECK(spsc_ring<int>(1000).capacity() == 1024);
    CHECK(spsc_ring<int>(1024).capacity() == 1024);
    CHECK(spsc_ring<int>(1025).capacity() == 2048);

    spsc_ring<int> r(5);
    for (int i = 0; i < 8; ++i) CHECK(r.try_push(i));
    CHECK_FALSE(r.try_push(8));
}

TEST_CASE("spsc_ring try_push fails when full and succeeds after a pop", "[ring]") {
    SECTION("a small ring releases each popped slot at once") {
        spsc_ring<int> r(4);
        for (int i = 0; i < 4; ++i) REQUIRE(r.try_push(i));
        CHECK_FALSE(r.try_push(4));
        CHECK_FALSE(r.try_stage(4));
        REQUIRE(r.front() != nullptr);
        CHECK(*r.front() == 0);
        r.pop();
        CHECK(r.try_push(4));
        CHECK_FALSE(r.try_push(5));
        // FIFO across the wrap.
        for (int want = 1; want <= 4; ++want) {
            int* p = r.front();
            REQUIRE(p != nullptr);
            CHECK(*p == want);
            r.pop();
        }
        CHECK(r.front() == nullptr);
    }
    SECTION("a larger ring hands popped slots back in batches, and on release()") {
        spsc_ring<int> r(64);
        for (int i = 0; i < 64; ++i) REQUIRE(r.try_push(i));
        CHECK_FALSE(r.try_push(64));
        REQUIRE(r.front() != nullptr);
        r.pop();
        r.release();
        CHECK(r.try_push(64));
        CHECK_FALSE(r.try_push(65));
    }
    SECTION("staged elements are invisible until published") {
        spsc_ring<int> r(8);
        REQUIRE(r.try_stage(1));
        REQUIRE(r.try_stage(2));
        CHECK(r.staged_count() == 2);
        CHECK(r.front() == nullptr);
        r.publish();
        CHECK(r.staged_count() == 0);
        REQUIRE(r.front() != nullptr);
        CHECK(*r.front() == 1);
    }
}

TEST_CASE("spsc_ring destroys every element exactly once, including staged and published ones left at the end",
          "[ring]") {
    tracked::reset();
    {
        spsc_ring<tracked> r(8);
        REQUIRE(r.capacity() == 8);
        for (int i = 1; i <= 5; ++i) REQUIRE(r.try_push(i)); // constructed in place: 5
        CHECK(tracked::constructed == 5);
        CHECK(tracked::moved == 0);
        CHECK(tracked::copied == 0);
        for (int want = 1; want <= 2; ++want) {
            tracked* p = r.front();
            REQUIRE(p != nullptr);
            CHECK(p->value == want);
            r.pop(); // destroys it
        }
        CHECK(tracked::destroyed == 2);
        REQUIRE(r.try_stage(6)); // staged, never published
        REQUIRE(r.try_stage(7));
        tracked temp(8);
        REQUIRE(r.try_push(std::move(temp))); // publishes 6, 7 and a moved-in 8
        CHECK(tracked::moved == 1);
        CHECK(temp.value == -1);
        REQUIRE(r.try_stage(9)); // staged again
        // Left in the ring: 3, 4, 5 (published), 6, 7, 8 (published by the push), 9 (staged).
        CHECK(tracked::live.size() == 8); // those 7 + temp
    }
    CHECK(tracked::live.empty());
    CHECK(tracked::bad_destroy == 0);
    CHECK(tracked::constructed == tracked::destroyed);
    CHECK(tracked::constructed == 10); // 1..9 and temp

    // Again with the indices wrapped around the end of the slot array.
    tracked::reset();
    {
        spsc_ring<tracked> r(4);
        for (int round = 0; round < 3; ++round) {
            for (int i = 0; i < 3; ++i) REQUIRE(r.try_push(round * 10 + i));
            for (int i = 0; i < 3; ++i) {
                REQUIRE(r.front() != nullptr);
                CHECK(r.front()->value == round * 10 + i);
                r.pop();
            }
        }
        REQUIRE(r.try_push(100));
        REQUIRE(r.try_push(101));
        REQUIRE(r.try_stage(102));
        REQUIRE(r.try_stage(103));
        CHECK_FALSE(r.try_stage(104));
    }
    CHECK(tracked::live.empty());
    CHECK(tracked::bad_destroy == 0);
    CHECK(tracked::constructed == 9 + 4);
    CHECK(tracked::destroyed == 9 + 4);
}

TEST_CASE("spsc_ring carries every element exactly once and in order between two threads", "[ring][concurrency]") {
    spsc_ring<std::uint64_t> ring(1024);
    std::atomic<bool> stop{false};
    std::thread producer([&] {
        std::uint64_t i = 0;
        while (i < k_stress_n && !stop.load(std::memory_order_relaxed)) {
            if (ring.try_stage(i)) {
                ++i;
                if (i % 32 == 0) ring.publish(); // batched publish
            } else {
                ring.publish();
                std::this_thread::yield();
            }
        }
        ring.publish();
    });

    std::uint64_t expected = 0, mismatches = 0, first_bad = 0, first_bad_at = 0;
    const auto deadline = std::chrono::steady_clock::now() + k_deadline;
    std::uint64_t empty_polls = 0;
    while (expected < k_stress_n) {
        std::uint64_t* p = ring.front();
        if (p == nullptr) {
            if (++empty_polls % 1024 == 0 && std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::yield();
            continue;
        }
        if (*p != expected && mismatches++ == 0) {
            first_bad = *p;
            first_bad_at = expected;
        }
        ring.pop();
        ++expected;
    }
    stop = true;
    producer.join();
    INFO("first mismatch: got " << first_bad << " where " << first_bad_at << " was due");
    CHECK(mismatches == 0);
    CHECK(expected == k_stress_n);
    CHECK(ring.front() == nullptr); // nothing extra
}

TEST_CASE("message_ring carries variable-length messages intact between two threads, across the buffer's end",
          "[ring][concurrency]") {
    message_ring ring(64 * 1024);
    std::atomic<bool> stop{false};
    std::thread producer([&] {
        char kbuf[8];
        std::uint64_t i = 0;
        while (i < k_stress_n && !stop.load(std::memory_order_relaxed)) {
            origin src;
            src.partition = static_cast<std::int32_t>(i % 4);
            src.offset = static_cast<std::int64_t>(i);
            if (ring.try_stage(key_of(i, kbuf), payload_of(i), src)) {
                ++i;
                if (i % 32 == 0) ring.publish();
            } else {
                ring.publish();
                std::this_thread::yield();
            }
        }
        ring.publish();
    });

    std::uint64_t expected = 0, bad = 0, first_bad_at = 0, wraps = 0, empty_polls = 0;
    const char* last = nullptr;
    unsigned padding_sum = 0;
    const auto deadline = std::chrono::steady_clock::now() + k_deadline;
    raw_message m;
    char kbuf[8];
    while (expected < k_stress_n) {
        if (!ring.front(m)) {
            if (++empty_polls % 1024 == 0 && std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::yield();
            continue;
        }
        const bool ok = m.src.offset == static_cast<std::int64_t>(expected) &&
                        m.src.partition == static_cast<std::int32_t>(expected % 4) && m.key == key_of(expected, kbuf) &&
                        m.payload == payload_of(expected);
        // The padding behind the payload must be readable (a sanitizer would flag a read past the buffer).
        for (std::size_t j = 0; j < k_message_padding; ++j)
            padding_sum += static_cast<unsigned char>(m.payload.data()[m.payload.size() + j]);
        if (last != nullptr && m.payload.data() < last) ++wraps; // started again at the buffer's front
        last = m.payload.data();
        if (!ok && bad++ == 0) first_bad_at = expected;
        ring.pop();
        ++expected;
    }
    stop = true;
    producer.join();
    INFO("first bad message: " << first_bad_at << " (padding checksum " << padding_sum << ")");
    CHECK(bad == 0);
    CHECK(expected == k_stress_n);
    CHECK(wraps > 100); // the records went round the buffer many times, so many skipped its tail
    CHECK_FALSE(ring.front(m));
}

TEST_CASE("message_ring refuses a message larger than max_message", "[ring]") {
    message_ring ring(4096);
    const std::size_t max = ring.max_message();
    CHECK(max == 4096 / 4 - 40 - k_message_padding); // a quarter of the buffer less header and padding
    const std::string big(max + 1, 'x');
    CHECK_FALSE(ring.try_push("", big, origin{}));
    const std::string fits(max, 'y');
    REQUIRE(ring.try_push("", fits, origin{}));
    raw_message m;
    REQUIRE(ring.front(m));
    CHECK(m.payload == fits);
}

namespace {

// Checks, on the consuming thread, that records arrive as the producer below emitted them.
struct sequence_checker {
    std::uint64_t next = 0; // position in the emitted sequence
    std::uint64_t ticks = 0, dead = 0, bad = 0, first_bad_at = ~std::uint64_t{0};
    std::size_t flushes = 0;

    void fail() {
        if (bad++ == 0) first_bad_at = next;
    }
    void on_tick(const tick& t) {
        if (next % 1000 == 999 || t.ts != static_cast<timestamp_ns>(next) ||
            t.src.offset != static_cast<std::int64_t>(next) || t.sym.view() != "SEQ" ||
            t.close != static_cast<double>(next % 1000) + 1.0)
            fail();
        ++ticks;
        ++next;
    }
    void on_dead_letter(const dead_letter_view& d) {
        if (next % 1000 != 999 || d.reason != dead_letter_reason::bad_price ||
            d.payload != "dl-" + std::to_string(next) || d.key != "SEQ" || d.detail != "stress" ||
            d.src.offset != static_cast<std::int64_t>(next))
            fail();
        ++dead;
        ++next;
    }
    void on_bar(const bar&) { fail(); }
    void on_bar_update(const bar&) { fail(); }
    void on_alert(const alert&) { fail(); }
    void on_watermark(const watermark&) { fail(); }
    void on_timer(timestamp_ns) {}
    void on_flush() { ++flushes; }
};

} // namespace

TEST_CASE("ring_emitter and drain_ring carry ticks, dead letters and the final flush in order between two threads",
          "[ring][concurrency]") {
    record_ring ring(1024);
    std::atomic<bool> abort{false};
    const std::uint64_t n = k_stress_n;
    std::thread producer([&] {
        ring_emitter out(ring, &abort, 32);
        for (std::uint64_t i = 0; i < n && !abort.load(std::memory_order_relaxed); ++i) {
            if (i % 1000 == 999) {
                const std::string payload = "dl-" + std::to_string(i);
                origin src;
                src.offset = static_cast<std::int64_t>(i);
                out.on_dead_letter(dead_letter_view{dead_letter_reason::bad_price, payload, "SEQ", "stress", src});
            } else {
                tick t = tick::trade(symbol::from("SEQ"), static_cast<timestamp_ns>(i),
                                     static_cast<double>(i % 1000) + 1.0, 1.0);
                t.src.offset = static_cast<std::int64_t>(i);
                out.on_tick(t);
            }
        }
        out.on_flush();
    });

    sequence_checker check;
    bool flushed = false;
    std::uint64_t empty_polls = 0;
    const auto deadline = std::chrono::steady_clock::now() + k_deadline;
    while (!flushed) {
        if (drain_ring(ring, check, 256, flushed) == 0) {
            if (++empty_polls % 1024 == 0 && std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::yield();
        }
    }
    abort = true;
    producer.join();
    if (!flushed) discard_ring(ring); // free what a failed run left behind
    INFO("first out-of-sequence record at " << check.first_bad_at);
    CHECK(flushed);
    CHECK(check.bad == 0);
    CHECK(check.next == n);
    CHECK(check.dead == n / 1000);
    CHECK(check.ticks == n - n / 1000);
    CHECK(check.flushes == 1);
    CHECK(ring.front() == nullptr); // nothing after the flush
}

TEST_CASE("ring_emitter and drain_ring keep every event kind and its order on one thread", "[ring]") {
    record_ring ring(16);
    ring_emitter out(ring, nullptr, 4);
    tick t = tick::trade(symbol::from("A"), 5, 10.0, 2.0);
    bar b;
    b.sym = symbol::from("A");
    b.window_start = 1000;
    alert a;
    a.sym = symbol::from("A");
    a.kind = alert_kind::vwap_dev;
    a.value = 200;
    out.on_tick(t);
    out.on_bar(b);
    bar u = b;
    u.volume = 7;
    out.on_bar_update(u);
    {
        const std::string payload = "not json";
        out.on_dead_letter(dead_letter_view{dead_letter_reason::not_json, payload, "A", "d", origin{2, 9, 0}});
    } // the view's bytes are gone: the ring holds its own copy
    out.on_alert(a);
    out.on_watermark(watermark{2, 777});
    out.on_flush();

    tapewire::test::collector c;
    bool flushed = false;
    CHECK(drain_ring(ring, c, 100, flushed) == 7);
    CHECK(flushed);
    using k = tapewire::test::collector::kind;
    CHECK(c.order == std::vector<k>{k::tick, k::bar, k::bar_update, k::dead_letter, k::alert, k::watermark, k::flush});
    REQUIRE(c.bar_updates.size() == 1);
    CHECK(c.bar_updates[0].volume == 7.0);
    REQUIRE(c.ticks.size() == 1);
    CHECK(c.ticks[0].pv == 20.0);
    REQUIRE(c.bars.size() == 1);
    CHECK(c.bars[0].window_start == 1000);
    REQUIRE(c.dead_letters.size() == 1);
    CHECK(c.dead_letters[0].payload == "not json");
    CHECK(c.dead_letters[0].key == "A");
    CHECK(c.dead_letters[0].src.offset == 9);
    REQUIRE(c.alerts.size() == 1);
    CHECK(c.alerts[0].value == 200.0);
    REQUIRE(c.watermarks.size() == 1);
    CHECK(c.watermarks[0].ts == 777);
    CHECK(out.stalls() == 0);

    // A ring nobody drains gives its dead letters back (leak-checked under ASan).
    record_ring left(8);
    ring_emitter out2(left, nullptr, 1);
    out2.on_dead_letter(dead_letter_view{dead_letter_reason::late, "x", "A", "", origin{}});
    out2.on_tick(t);
    discard_ring(left);
    CHECK(left.front() == nullptr);
}
