// The metrics registry: one metric per name, references that stay valid, and histogram quantiles
// within a bucket's width of the truth.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

#include "src/base/metrics.hpp"

using namespace tapewire;

TEST_CASE("a metric registered twice under one name is the same metric", "[metrics]") {
    metrics_registry r;
    counter& a = r.get_counter("kafka_produced_total{producer=\"ticks\"}", "messages");
    counter& b = r.get_counter("kafka_produced_total{producer=\"ticks\"}");
    CHECK(&a == &b);
    a.add(3);
    b.add();
    for (int i = 0; i < 100; ++i) (void)r.get_gauge("g" + std::to_string(i)); // growth keeps references valid
    CHECK(a.value() == 4);
    const auto snap = r.snapshot();
    REQUIRE(snap.size() == 101);
    CHECK(snap[0].name == "g0");
    const auto it = std::find_if(snap.begin(), snap.end(), [](const auto& s) { return s.kind == "counter"; });
    REQUIRE(it != snap.end());
    CHECK(it->value == 4);
    CHECK(it->help == "messages");
}

TEST_CASE("histogram buckets are monotone and a quantile is within 12.5 % above the truth", "[metrics]") {
    std::size_t prev = 0;
    for (std::int64_t v = 0; v < 1'000'000; v += 7) {
        const std::size_t b = histogram::bucket_of(v);
        CHECK(b >= prev);
        prev = b;
        REQUIRE(histogram::upper_bound_of(b) >= v);
        if (v >= 8) REQUIRE(static_cast<double>(histogram::upper_bound_of(b)) <= static_cast<double>(v) * 1.125 + 1);
    }
    histogram h;
    for (std::int64_t v = 1; v <= 1000; ++v) h.record(v * 1000); // 1 µs .. 1 ms
    CHECK(h.count() == 1000);
    const auto p50 = h.quantile(0.5);
    CHECK(p50 >= 500'000);
    CHECK(p50 <= 563'000);
    const auto p99 = h.quantile(0.99);
    CHECK(p99 >= 990'000);
    CHECK(p99 <= 1'114'000);
    CHECK(h.quantile(1.0) >= 1'000'000);
}
