// Runs a task (a coroutine on the fetch thread's io_context) forever: when it fails (throws) or
// ends, it is started again after an exponential back-off with jitter, and the others carry on.
// A task that made progress since its last start (called progress()) backs off from the minimum
// again, so one blip an hour never grows into a five-minute wait.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <utility> // before Boost 1.74's awaitable.hpp, which uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/base/log.hpp"
#include "src/base/metrics.hpp"
#include "tapewire/backoff.hpp"

namespace tapewire {

class task_run {
public:
    // The task did useful work (a response parsed, a frame decoded).
    void progress() noexcept { progressed_ = true; }
    [[nodiscard]] bool progressed() const noexcept { return progressed_; }
    // 1 for the first start, 2 after the first restart, ...
    [[nodiscard]] std::uint64_t attempt() const noexcept { return attempt_; }

private:
    friend boost::asio::awaitable<void> supervise(std::string, std::function<boost::asio::awaitable<void>(task_run&)>,
                                                  backoff, counter&);
    bool progressed_ = false;
    std::uint64_t attempt_ = 1;
};

// Never returns; ends when its io_context stops. `restarts` counts every restart.
inline boost::asio::awaitable<void> supervise(std::string name,
                                              std::function<boost::asio::awaitable<void>(task_run&)> task, backoff wait,
                                              counter& restarts) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (std::uint64_t attempt = 1;; ++attempt) {
        task_run run;
        run.attempt_ = attempt;
        std::string why = "ended";
        try {
            co_await task(run);
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (run.progressed()) wait.reset();
        const std::int64_t ns = wait.next();
        restarts.add();
        log::warn("fetch", "task stopped; restarting",
                  {{"task", name}, {"error", why}, {"attempt", attempt}, {"restart_in", std::chrono::nanoseconds(ns)}});
        timer.expires_after(std::chrono::nanoseconds(ns));
        co_await timer.async_wait(boost::asio::use_awaitable);
    }
}

} // namespace tapewire
