// The embedded broker goes away in milliseconds, so that a run on it (the default) ends when its
// work does. Hosted the other way, librdkafka 2.0.2 took a second to destroy it in most runs
// (src/kafka/embedded_broker.cpp says why).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "src/base/clock.hpp"
#include "src/base/metrics.hpp"
#include "src/config/load.hpp"
#include "src/kafka/embedded_broker.hpp"
#include "src/kafka/producer.hpp"
#include "src/runtime/pipeline.hpp"

namespace tapewire {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t k_ms = 1'000'000;

TEST_CASE("the embedded broker shuts down in milliseconds, with or without clients", "[kafka]") {
    // Several rounds, each bound to half the second the stall took: it came in about three runs in four.
    for (const bool used : {false, true}) {
        DYNAMIC_SECTION((used ? "after a producer wrote to it" : "unused")) {
            for (int round = 0; round < 5; ++round) {
                auto broker = std::make_unique<embedded_broker>(3);
                broker->create_topic("ticks", 4, 3);
                if (used) {
                    metrics_registry metrics;
                    kafka_producer producer(kafka_config{}, broker->bootstraps(), metrics, "ticks");
                    rd_kafka_topic_t* topic = producer.topic("ticks");
                    for (int i = 0; i < 100; ++i)
                        REQUIRE(producer.try_produce(topic, "SYM" + std::to_string(i % 7), "tick"));
                    REQUIRE(producer.flush(10s));
                    CHECK(producer.delivered() == 100);
                }
                const std::int64_t start = mono_ns();
                broker.reset();
                const std::int64_t took = mono_ns() - start;
                INFO("round " << round << ": " << took / k_ms << " ms");
                CHECK(took < 500 * k_ms);
            }
        }
    }
}

TEST_CASE("a run through the embedded broker is torn down within a second of its end", "[kafka][e2e]") {
    config c = load_config_text("", "(test)", {"source.rate=50000", "source.symbol_count=20", "kafka.partitions=4"});
    c.kafka.brokers = "embedded";
    c.kafka.group = "embedded-teardown";
    c.sink.path = "embedded_teardown.ndjson";
    auto p = std::make_unique<pipeline>(c, run_limits{duration{0}, 2'000});
    p->start();
    REQUIRE(p->wait().empty());
    CHECK(p->stats().produced.load() == 2'000);
    CHECK(p->stats().messages.load() == 2'000);
    // What is left once the work is done: the clients close, then the broker goes.
    const std::int64_t start = mono_ns();
    p.reset();
    const std::int64_t took = mono_ns() - start;
    INFO("torn down in " << took / k_ms << " ms");
    CHECK(took < 500 * k_ms);
}

} // namespace
} // namespace tapewire
