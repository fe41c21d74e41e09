// The embedded broker: librdkafka's Kafka-protocol broker ("mock cluster", rdkafka_mock.h) hosted
// in this process on 127.0.0.1, so `tapewire run` needs no Kafka installation and tests get a real
// protocol peer (kcat and other processes can connect to it too). In memory only, and each
// partition keeps ~5 MiB: for development and tests, never production.
#pragma once

#include <cstdint>
#include <string>

#include "src/kafka/client.hpp"

struct rd_kafka_mock_cluster_s;

namespace tapewire {

class embedded_broker {
public:
    // Starts `brokers` brokers listening on ephemeral 127.0.0.1 ports.
    explicit embedded_broker(int brokers = 1);
    ~embedded_broker();
    embedded_broker(const embedded_broker&) = delete;
    embedded_broker& operator=(const embedded_broker&) = delete;

    // Creates the topic unless it exists; throws kafka_error.
    void create_topic(const std::string& name, int partitions, int replication = 1);

    // "127.0.0.1:PORT,127.0.0.1:PORT2": a bootstrap list for any client.
    [[nodiscard]] const std::string& bootstraps() const noexcept { return bootstraps_; }
    [[nodiscard]] int brokers() const noexcept { return brokers_; }

    // Fault injection for tests: broker ids are 1..brokers.
    void set_broker_down(int broker_id);
    void set_broker_up(int broker_id);
    // Makes broker `broker_id` the coordinator of consumer group `group`.
    void set_group_coordinator(const std::string& group, int broker_id);
    // The next `count` requests of `api_key` (RD_KAFKAP_Produce = 0, ...) fail with `error`.
    void push_request_errors(int api_key, int count, rd_kafka_resp_err_t error);

    [[nodiscard]] rd_kafka_mock_cluster_s* cluster() noexcept { return cluster_; }

    // What a consumer of this broker needs beyond tapewire's defaults (the user's properties still win).
    static kafka_properties consumer_defaults();

private:
    kafka_handle host_;                          // owns the cluster, and is a client of it (one idle connection)
    rd_kafka_mock_cluster_s* cluster_ = nullptr; // host_'s, destroyed with it
    int brokers_;
    std::string bootstraps_;
};

} // namespace tapewire
