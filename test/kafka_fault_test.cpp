// Faults on the Kafka path, in process: the test hosts the embedded broker itself, so it can take a
// broker down or make it refuse produce requests while a `run` pipeline streams through it. The
// output must equal that of the same ticks without Kafka: no tick lost, none counted twice.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "src/config/load.hpp"
#include "src/kafka/embedded_broker.hpp"
#include "src/runtime/pipeline.hpp"

namespace tapewire {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t k_ticks = 150'000;
constexpr std::int16_t k_api_produce = 0; // Kafka protocol ApiKey of Produce requests

config fault_config(const std::string& brokers, const std::string& out, const std::string& group) {
    config c = load_config_text("", "(test)",
                                {
                                    "source.rate=50000",
                                    "source.start=2026-11-27T15:00:00Z",
                                    "source.symbol_count=40",
                                    "source.seed=7",
                                    // The outage must not count as silence that closes windows.
                                    "window.idle_timeout=5m",
                                    "kafka.partitions=12",
                                });
    c.kafka.brokers = brokers;
    c.kafka.group = group;
    c.sink.path = out;
    return c;
}

std::vector<std::string> bar_lines(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (line.find("\"type\":\"bar\"") != std::string::npos) out.push_back(line);
    std::sort(out.begin(), out.end());
    return out;
}

std::uint64_t trades_in(const std::vector<std::string>& bars) {
    std::uint64_t n = 0;
    for (const auto& b : bars) {
        const auto at = b.find("\"trades\":");
        if (at != std::string::npos) n += std::stoull(b.substr(at + 9));
    }
    return n;
}

// The same ticks without Kafka: the reference output.
std::vector<std::string> reference_bars(const std::string& out) {
    config c = fault_config("", out, "unused");
    pipeline p(c, run_limits{duration{0}, k_ticks});
    p.start();
    REQUIRE(p.wait().empty());
    return bar_lines(out);
}

template <class Pred> bool wait_for(Pred pred, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// Runs the pipeline through `broker`, calling `fault` once a first part of the ticks went through.
template <class Fault> void run_with_fault(embedded_broker& broker, const std::string& tag, Fault fault) {
    const std::string out = "kafka_fault_" + tag + ".ndjson";
    const auto expected = reference_bars("kafka_fault_" + tag + "_reference.ndjson");
    REQUIRE(trades_in(expected) == k_ticks);

    const std::string group = "fault-" + tag;
    // Keep the group's coordinator on broker 1 so that the fault hits the data path only.
    broker.set_group_coordinator(group, 1);
    config c = fault_config(broker.bootstraps(), out, group);
    pipeline p(c, run_limits{duration{0}, k_ticks});
    p.start();
    REQUIRE(wait_for([&] { return p.stats().messages.load() >= 20'000 || p.finished(); }, 60s));
    fault();
    REQUIRE(wait_for([&] { return p.finished(); }, 120s));
    const std::string error = p.wait();
    REQUIRE(error.empty());

    const pipeline_stats& st = p.stats();
    CHECK(st.produced.load() == k_ticks);
    CHECK(st.messages.load() == k_ticks);
    CHECK(st.ticks.load() == k_ticks);
    CHECK(st.dead_letters.load() == 0);
    const auto got = bar_lines(out);
    CHECK(trades_in(got) == k_ticks);
    CHECK(got.size() == expected.size());
    CHECK(got == expected);
}

TEST_CASE("a broker down for 3 s and back loses no tick and counts none twice", "[kafka][fault][e2e]") {
    embedded_broker broker(3);
    broker.create_topic("ticks", 12, 3);
    broker.create_topic("ticks.dlq", 12, 3);
    run_with_fault(broker, "down", [&] {
        broker.set_broker_down(2); // leads a third of the partitions
        std::this_thread::sleep_for(3s);
        broker.set_broker_up(2);
    });
}

TEST_CASE("produce requests that fail and are retried lose no tick and duplicate none", "[kafka][fault][e2e]") {
    embedded_broker broker(3);
    broker.create_topic("ticks", 12, 3);
    broker.create_topic("ticks.dlq", 12, 3);
    run_with_fault(broker, "errors", [&] {
        // Retriable errors, some of them after the broker may have appended: the idempotent
        // producer's sequence numbers must keep every message exactly once and in order.
        broker.push_request_errors(k_api_produce, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        broker.push_request_errors(k_api_produce, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
        broker.push_request_errors(k_api_produce, 4, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
        broker.push_request_errors(k_api_produce, 4, RD_KAFKA_RESP_ERR__TRANSPORT);
    });
}

} // namespace
} // namespace tapewire

namespace tapewire {
namespace {

TEST_CASE("a full input ring pauses the Kafka partitions, resumes them, and loses nothing", "[kafka][e2e]") {
    embedded_broker broker(1);
    broker.create_topic("ticks", 8);
    broker.create_topic("ticks.dlq", 8);
    config c = fault_config(broker.bootstraps(), "kafka_pause.ndjson", "pause");
    c.source.rate = 0;
    c.pipeline.input_ring_bytes = 4096; // a few dozen messages: the consumer outruns the graph
    c.kafka.pause_after = duration{0};  // pause at the first full ring, to exercise pause/resume
    constexpr std::uint64_t n = 5'000;
    pipeline p(c, run_limits{duration{0}, n});
    p.start();
    REQUIRE(wait_for([&] { return p.finished(); }, 120s));
    REQUIRE(p.wait().empty());
    CHECK(p.stats().produced.load() == n);
    CHECK(p.stats().messages.load() == n);
    CHECK(trades_in(bar_lines("kafka_pause.ndjson")) == n);
    std::uint64_t pauses = 0;
    for (const auto& m : p.metrics().snapshot())
        if (m.name == "kafka_pauses_total") pauses = static_cast<std::uint64_t>(m.value);
    CHECK(pauses > 0);
    CHECK(p.stats().source_stalls.load() > 0);
}

} // namespace
} // namespace tapewire
