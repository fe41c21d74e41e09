// The Yahoo sources as the pipeline sees them: a message_source fed by the fetch thread.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "src/sources/replay.hpp"
#include "src/sources/source_factory.hpp"
#include "test/support/http_test_server.hpp"

using namespace tapewire;
using namespace tapewire::test;
using namespace std::chrono_literals;

namespace {

config chart_config(const std::string& origin, std::vector<std::string> symbols) {
    config c;
    c.source.kind = source_kind::yahoo_chart;
    c.source.symbols = std::move(symbols);
    c.source.yahoo.base_url = origin;
    c.source.yahoo.poll_interval = 100ms;
    c.source.yahoo.backoff_min = 50ms;
    c.source.yahoo.request_timeout = 2s;
    return c;
}

} // namespace

TEST_CASE("The yahoo-chart source hands the fetch thread's bars to the source thread, each once",
          "[chart][net][concurrency]") {
    const std::string day = read_file(yahoo_fixture_path("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    http_test_server srv([&](const http_request&) { return http_reply::json(day).gzipped(); });
    metrics_registry reg;
    auto src = make_message_source(chart_config(srv.origin(), {"AAPL", "MSFT"}).source, reg, {});
    std::set<std::pair<std::string, timestamp_ns>> seen;
    std::size_t messages = 0;
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < end && (messages < 780 || srv.requests_seen() < 10)) {
        src->poll();
        source_message m;
        const pull_result r = src->next(m);
        if (r == pull_result::idle) {
            std::this_thread::sleep_for(1ms);
            continue;
        }
        REQUIRE(r == pull_result::message);
        timestamp_ns ts = 0;
        REQUIRE(peek_ts(m.payload, ts));
        std::string_view sym;
        REQUIRE(peek_symbol(m.payload, sym));
        CHECK(sym == m.key);
        CHECK(seen.emplace(std::string(m.key), ts).second);
        ++messages;
    }
    CHECK(messages == 780); // two symbols' days, no bar twice however often they were polled
    CHECK(srv.requests_seen() >= 10);
    src->close(); // with requests in flight: stops the fetch thread cleanly
}

TEST_CASE("Closing the yahoo-chart source while a request hangs returns at once", "[chart][net][concurrency]") {
    http_test_server srv([&](const http_request&) { return http_reply::failing(http_fault::stall); });
    metrics_registry reg;
    config c = chart_config(srv.origin(), {"AAPL"});
    c.source.yahoo.request_timeout = 60s;
    auto src = make_message_source(c.source, reg, {});
    const auto wait_end = std::chrono::steady_clock::now() + 10s;
    while (srv.requests_seen() == 0 && std::chrono::steady_clock::now() < wait_end) {
        src->poll(); // the first pass starts the fetch thread
        std::this_thread::sleep_for(5ms);
    }
    REQUIRE(srv.requests_seen() == 1);
    const auto t0 = std::chrono::steady_clock::now();
    src->close();
    src.reset();
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("A yahoo source with a CA file that cannot be read fails at start naming it", "[chart][net]") {
    metrics_registry reg;
    config c = chart_config("https://127.0.0.1:9", {"AAPL"});
    c.source.yahoo.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_WITH(make_message_source(c.source, reg, {}), Catch::Contains("/nonexistent/ca.pem"));
}
