// A runner owns one thread: names it, optionally pins it, and loops idle(agent.do_work()) until
// stopped. No exception escapes the thread; it goes to the error handler and the runner stops.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include <pthread.h>
#include <sched.h>

#include "tapewire/idle.hpp"

namespace tapewire {

// A unit of work scheduled by a runner. do_work() returns how much it did (0 = nothing to do).
class agent {
public:
    virtual ~agent() = default;
    virtual void on_start() {}
    virtual std::size_t do_work() = 0;
    // Called once after the loop ends, on the runner's thread: drain, flush, release.
    virtual void on_close() {}
    // True when the agent has finished on its own (e.g. end of input reached and drained).
    [[nodiscard]] virtual bool done() const { return false; }
};

struct runner_options {
    std::string name = "tapewire";
    int cpu = -1; // pin to this CPU when >= 0
    idle_options idle;
};

using error_handler = std::function<void(const std::string& runner, const std::string& what)>;

class runner {
public:
    runner(agent& a, runner_options opt, error_handler on_error = {})
        : agent_(a), opt_(std::move(opt)), on_error_(std::move(on_error)) {}

    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;
    ~runner() { stop(); }

    void start() {
        thread_ = std::thread([this] { loop(); });
    }

    // Asks the loop to end, then joins. Idempotent.
    void stop() {
        stop_.store(true, std::memory_order_release);
        if (thread_.joinable()) thread_.join();
    }

    // Lets the loop end once the agent reports done(); join() waits for that.
    void join() {
        if (thread_.joinable()) thread_.join();
    }

    void request_stop() noexcept { stop_.store(true, std::memory_order_release); }
    [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
    [[nodiscard]] bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }

private:
    void loop() noexcept {
        name_and_pin();
        try {
            agent_.on_start();
            idle_strategy idle(opt_.idle);
            while (!stop_.load(std::memory_order_acquire) && !agent_.done()) idle.idle(agent_.do_work());
            agent_.on_close();
        } catch (const std::exception& e) {
            fail(e.what());
        } catch (...) {
            fail("unknown exception");
        }
        finished_.store(true, std::memory_order_release);
    }

    void fail(const char* what) noexcept {
        failed_.store(true, std::memory_order_release);
        if (on_error_) {
            try {
                on_error_(opt_.name, what);
            } catch (...) {
            }
        }
    }

    void name_and_pin() noexcept {
        // Linux limits thread names to 15 bytes.
        std::string n = opt_.name.substr(0, 15);
        pthread_setname_np(pthread_self(), n.c_str());
        if (opt_.cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(opt_.cpu, &set);
            pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        }
    }

    agent& agent_;
    runner_options opt_;
    error_handler on_error_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> finished_{false};
    std::atomic<bool> failed_{false};
};

} // namespace tapewire
