// An io_context's thread as a runner, like every other thread of the engine: named, stoppable, and
// an exception that escapes a handler reaches the runner's error handler (the pipeline stops)
// instead of ending the thread unseen.
#pragma once

#include <chrono>
#include <cstddef>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "tapewire/runner.hpp"

namespace tapewire::net {

class io_thread {
public:
    // The reactor's wait is bounded by this, so the runner's stop flag is seen even when nobody
    // wakes the reactor; stop() wakes it at once anyway.
    static constexpr std::chrono::milliseconds k_wait_slice{100};

    io_thread(boost::asio::io_context& io, runner_options opt, error_handler on_error)
        : agent_(io), runner_(agent_, std::move(opt), std::move(on_error)) {}
    io_thread(const io_thread&) = delete;
    io_thread& operator=(const io_thread&) = delete;
    ~io_thread() { stop(); }

    void start() {
        if (started_) return;
        started_ = true;
        runner_.start();
    }

    // Ends the loop and joins; the handlers still queued stay queued. Idempotent.
    void stop() {
        runner_.request_stop();
        agent_.wake();
        runner_.stop();
    }

    [[nodiscard]] bool started() const noexcept { return started_; }
    [[nodiscard]] bool failed() const noexcept { return runner_.failed(); }

private:
    // Runs the ready handlers; when there are none, waits in the reactor (epoll) for the next one,
    // up to k_wait_slice, rather than returning 0 to the runner's idle strategy. A fetcher is idle
    // almost all the time: polled under the default back-off, an idle io_context cost 4 % of a core
    // (1,500 wake-ups a second) against 0.04 % waiting in the reactor, and a handler posted from
    // another thread ran ~20 us later either way (median; measured on the 2-core dev VM).
    class agent_impl final : public agent {
    public:
        explicit agent_impl(boost::asio::io_context& io) : io_(io), work_(io.get_executor()) {}

        std::size_t do_work() override {
            std::size_t n = io_.poll();
            if (n == 0) n = io_.run_one_for(k_wait_slice);
            return n;
        }
        // From any thread: a wait in the reactor returns now, and so does every later one.
        void wake() { io_.stop(); }

    private:
        boost::asio::io_context& io_;
        // Without it, an io_context with nothing to wait for would return at once, every pass.
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    };

    agent_impl agent_;
    runner runner_;
    bool started_ = false;
};

} // namespace tapewire::net
