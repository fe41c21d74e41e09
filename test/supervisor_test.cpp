// The supervisor restarts a failed task with back-off and leaves the others alone.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"
#include "src/sources/supervisor.hpp"

using namespace tapewire;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

asio::awaitable<void> sleep_ms(int ms) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(std::chrono::milliseconds(ms));
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

TEST_CASE("A failing task is restarted with growing back-off while its sibling runs on", "[supervisor]") {
    log::capture logged;
    asio::io_context io{1};
    metrics_registry reg;
    counter& restarts = reg.get_counter("restarts");
    counter& other_restarts = reg.get_counter("other_restarts");
    std::vector<std::int64_t> starts;
    int sibling_beats = 0;

    // Fails at once four times, then makes progress and fails once more, then runs for good.
    asio::co_spawn(io,
                   supervise(
                       "flaky",
                       [&](task_run& run) -> asio::awaitable<void> {
                           starts.push_back(mono_ns());
                           CHECK(run.attempt() == starts.size());
                           if (starts.size() == 5) {
                               run.progress();
                               throw std::runtime_error("lost it after some work");
                           }
                           if (starts.size() < 5) throw std::runtime_error("connection refused");
                           co_await sleep_ms(100000);
                       },
                       backoff(50'000'000, 400'000'000, 7), restarts),
                   asio::detached);
    asio::co_spawn(io,
                   supervise(
                       "steady",
                       [&](task_run&) -> asio::awaitable<void> {
                           for (;;) {
                               ++sibling_beats;
                               co_await sleep_ms(10);
                           }
                       },
                       backoff(50'000'000, 400'000'000), other_restarts),
                   asio::detached);
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (starts.size() < 6 && std::chrono::steady_clock::now() < end) io.run_for(10ms);
    io.run_for(50ms);

    REQUIRE(starts.size() == 6);
    CHECK(restarts.value() == 5);
    CHECK(other_restarts.value() == 0);
    CHECK(sibling_beats >= 50); // ran all along
    const auto gap_ms = [&](std::size_t i) { return (starts[i + 1] - starts[i]) / 1'000'000; };
    // 50, 100, 200, 400 ms (each x0.8 .. x1.2)...
    CHECK(gap_ms(0) >= 40);
    CHECK(gap_ms(1) >= 80);
    CHECK(gap_ms(2) >= 160);
    CHECK(gap_ms(3) >= 320);
    CHECK(gap_ms(3) < 1000);
    // ...then the task made progress before failing: back to the minimum.
    CHECK(gap_ms(4) >= 40);
    CHECK(gap_ms(4) < 300);
    // One record a restart: the task, what it threw, which attempt ended, the wait before the next.
    const auto records = logged.with("fetch", "restart_in");
    REQUIRE(records.size() == 5);
    for (std::size_t i = 0; i < records.size(); ++i) {
        INFO(i);
        CHECK(records[i].level == log_level::warn);
        CHECK(records[i].find("task")->text == "flaky");
        CHECK(records[i].find("attempt")->integer == static_cast<std::int64_t>(i + 1));
    }
    CHECK(records[0].find("error")->text == "connection refused");
    CHECK(records[4].find("error")->text == "lost it after some work");
    // The waits logged are the waits taken.
    for (std::size_t i = 0; i < records.size(); ++i)
        CHECK(starts[i + 1] - starts[i] >= records[i].find("restart_in")->integer);
}
