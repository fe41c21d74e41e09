// Threads: a runner hands an agent's exception to its error handler once and stops, and an
// io_context's thread is such a runner.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "src/net/io_thread.hpp"
#include "tapewire/runner.hpp"

using namespace tapewire;
using namespace std::chrono_literals;

namespace {

// What an error handler was told, from whichever thread told it.
struct error_log {
    std::mutex mu;
    int calls = 0;
    std::string runner, what;

    error_handler handler() {
        return [this](const std::string& r, const std::string& w) {
            std::lock_guard<std::mutex> lock(mu);
            ++calls;
            runner = r;
            what = w;
        };
    }
    int count() {
        std::lock_guard<std::mutex> lock(mu);
        return calls;
    }
};

template <class Pred> bool eventually(Pred done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// Throws on its third pass.
class failing_agent final : public agent {
public:
    std::size_t do_work() override {
        if (passes_.fetch_add(1) + 1 == 3) throw std::runtime_error("disk on fire");
        return 1;
    }
    void on_close() override { closed_ = true; }
    [[nodiscard]] int passes() const { return passes_.load(); }
    [[nodiscard]] bool closed() const { return closed_.load(); }

private:
    std::atomic<int> passes_{0};
    std::atomic<bool> closed_{false};
};

} // namespace

TEST_CASE("an agent that throws reaches the error handler once and its runner stops", "[runner]") {
    failing_agent a;
    error_log log;
    runner_options opt;
    opt.name = "tw-test";
    runner r(a, opt, log.handler());
    r.start();
    REQUIRE(eventually([&] { return r.finished(); }));
    CHECK(r.failed());
    CHECK(log.count() == 1);
    CHECK(log.runner == "tw-test");
    CHECK(log.what == "disk on fire");
    std::this_thread::sleep_for(20ms);
    CHECK(a.passes() == 3);  // no pass after the throw
    CHECK_FALSE(a.closed()); // a failed agent is not closed as if it had finished
    r.stop();
    CHECK(log.count() == 1);
}

TEST_CASE("an exception that escapes an io_context's handler reaches its io thread's error handler", "[runner][net]") {
    boost::asio::io_context io{1};
    error_log log;
    runner_options opt;
    opt.name = "tw-io-test";
    net::io_thread t(io, opt, log.handler());
    std::atomic<int> ran{0};
    boost::asio::post(io, [&] { ++ran; });
    t.start();
    REQUIRE(eventually([&] { return ran.load() == 1; }));
    CHECK_FALSE(t.failed());
    boost::asio::post(io, [] { throw std::logic_error("handler bug"); });
    boost::asio::post(io, [&] { ++ran; }); // never runs: the thread has ended
    REQUIRE(eventually([&] { return t.failed(); }));
    REQUIRE(eventually([&] { return log.count() == 1; }));
    CHECK(log.runner == "tw-io-test");
    CHECK(log.what == "handler bug");
    std::this_thread::sleep_for(20ms);
    CHECK(ran.load() == 1);
    t.stop();
    CHECK(log.count() == 1);
}

TEST_CASE("an idle io thread stops at once, without waiting out its reactor's slice", "[runner][net]") {
    boost::asio::io_context io{1};
    net::io_thread t(io, runner_options{}, {});
    t.start();
    std::this_thread::sleep_for(20ms); // parked in the reactor, nothing to do
    const auto t0 = std::chrono::steady_clock::now();
    t.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < net::io_thread::k_wait_slice / 2);
    CHECK_FALSE(t.failed());
}
