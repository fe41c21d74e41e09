// A fetcher whose io_context thread throws stops `tapewire run` with exit code 1 and the error on
// stderr, within a second, instead of running on without a source. The throw is a failpoint.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

#include "src/base/clock.hpp"
#include "test/child_process.hpp"
#include "test/support/http_test_server.hpp"

using namespace tapewire;
using namespace tapewire::test;
using namespace std::chrono_literals;

namespace {

// The mono_ns field of the JSON log record of `point` firing, -1 when there is none.
std::int64_t fired_at(const std::string& err, const std::string& point) {
    for (const log_record& r : log_records(err, "failpoint", "mono_ns"))
        if (r.text("point") == point) return r.number("mono_ns");
    return -1;
}

} // namespace

TEST_CASE("a fetcher whose io thread throws makes run exit 1 within a second, naming the error",
          "[chart][net][e2e][runner]") {
    const std::string day = read_file(yahoo_fixture_path("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    http_test_server srv([&](const http_request&) { return http_reply::json(day).gzipped(); });
    child_process broker;
    const std::string bootstrap = start_broker(broker, "fetch_failure", {"ticks:4", "ticks.dlq:4"});

    // Straight into the graph (the fetcher on tw-source), and through Kafka (on tw-produce): a
    // broker in its own process, and the embedded one (the default), whose teardown is part of
    // the exit being timed. The throw comes once the bars have gone all the way through: a
    // consumer takes a few seconds to join its group.
    struct route {
        const char* name;
        const char* tag;
        std::string brokers;
        const char* after;
    };
    for (const route& r : {route{"straight into the graph", "fetch_failure_direct", "", "1500ms"},
                           route{"through a separate broker", "fetch_failure_kafka", bootstrap, "6s"},
                           route{"through the embedded broker", "fetch_failure_embedded", "embedded", "6s"}}) {
        DYNAMIC_SECTION(r.name) {
            const std::string tag = r.tag;
            std::filesystem::remove(tag + ".ndjson");
            child_process child;
            // No --ticks and no --duration: only the failure can end this run.
            child.spawn({"env",           "TAPEWIRE_FAILPOINTS=fetch.io_thread=throw(" + std::string(r.after) + ")",
                         TAPEWIRE_BINARY, "run",
                         "--set",         k_test_http_listen,
                         "--config",      TAPEWIRE_SOURCE_DIR "/conf/yahoo.toml",
                         "--set",         "source.base_url=" + srv.origin(),
                         "--set",         "sink.kind=ndjson",
                         "--set",         "sink.path=" + tag + ".ndjson",
                         "--set",         "kafka.brokers=" + r.brokers,
                         "--set",         "kafka.group=" + tag,
                         "--set",         "log.format=json"},
                        "", tag + ".stdout", tag + ".stderr");
            const exit_status s = child.wait(60s);
            const std::int64_t exited = mono_ns(); // at most one 10 ms poll of wait() late
            const std::string err = read_file(tag + ".stderr");
            INFO(s.text() << "\n" << err);
            REQUIRE(s.exited);
            CHECK(s.code == 1);
            const std::int64_t thrown = fired_at(err, "fetch.io_thread");
            REQUIRE(thrown > 0);
            INFO("exited " << (exited - thrown) / 1'000'000 << " ms after the throw");
            CHECK(exited - thrown < 1'000'000'000);
            // The error, named with the thread it escaped from, in the summary.
            CHECK_THAT(err, Catch::Contains("stopped by an error"));
            CHECK_THAT(err, Catch::Contains("error         tw-fetch: failpoint fetch.io_thread"));
            // The run was live when its source died: fetched, and through the graph.
            CHECK(srv.requests_seen() > 0);
            CHECK(summary_count(err, "messages in") > 0);
        }
    }
    stop_broker(broker, "fetch_failure");
}
