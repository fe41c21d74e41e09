// A librdkafka producer as tapewire uses it: keyed messages to named topics, QUEUE_FULL reported
// to the caller as "not now" (backpressure on whoever produces, never a drop), delivery reports
// counted into the metrics registry, and a permanent delivery failure kept as an error the owner
// must stop on, since the message is gone from librdkafka's hands.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/metrics.hpp"
#include "src/kafka/client.hpp"

namespace tapewire {

struct kafka_header {
    const char* name;
    std::string_view value;
};

class kafka_producer {
public:
    // `role` names the producer in its metrics and client.id: "ticks" or "outputs".
    kafka_producer(const kafka_config& cfg, const std::string& bootstrap, metrics_registry& metrics,
                   const std::string& role);
    ~kafka_producer();
    kafka_producer(const kafka_producer&) = delete;
    kafka_producer& operator=(const kafka_producer&) = delete;

    // The topic's handle, created on first use.
    rd_kafka_topic_t* topic(const std::string& name);

    // Enqueues a copy of the message; false when librdkafka's queue is full (poll, then retry).
    // Throws kafka_error for anything else (too large, unknown topic, fatal idempotence error).
    bool try_produce(rd_kafka_topic_t* topic, std::string_view key, std::string_view payload,
                     const std::vector<kafka_header>& headers = {});

    // Serves delivery reports; call it every pass.
    void poll(int timeout_ms = 0);
    // Waits up to `timeout` for every queued message to be delivered; true when none is left.
    bool flush(std::chrono::milliseconds timeout);
    [[nodiscard]] int in_flight() const;

    // The first permanent delivery failure or fatal error ("" while all is well).
    [[nodiscard]] std::string failure() const;

    [[nodiscard]] std::uint64_t produced() const noexcept { return produced_->value(); }
    [[nodiscard]] std::uint64_t delivered() const noexcept { return delivered_->value(); }

    // After flush(): for each partition of `topic` that received messages, the offset after the
    // last one delivered (the consumer has read everything once its position reaches it).
    [[nodiscard]] std::vector<std::pair<std::int32_t, std::int64_t>> delivered_ends(const std::string& topic) const;

    // Optional hook per successful delivery (benchmarks): partition, offset, produce() time (mono ns).
    std::function<void(std::int32_t, std::int64_t, std::int64_t)> on_delivery;

    [[nodiscard]] rd_kafka_t* handle() noexcept { return rk_.get(); }

private:
    static void delivery_report(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
    void on_report(const rd_kafka_message_t* m);

    kafka_handle rk_;
    std::vector<std::pair<std::string, rd_kafka_topic_t*>> topics_;
    counter* produced_;
    counter* delivered_;
    counter* errors_;
    counter* queue_full_;
    histogram* delivery_latency_;
    mutable std::mutex mu_; // delivery reports may be served by flush() on another thread
    std::string failure_;
    struct topic_ends {
        const rd_kafka_topic_t* handle;
        std::string name;
        std::vector<std::int64_t> ends; // per partition: offset after the last delivered
    };
    std::vector<topic_ends> ends_;
};

} // namespace tapewire
