#include "src/kafka/embedded_broker.hpp"

#include <string>
#include <vector>

#include <librdkafka/rdkafka_mock.h>

namespace tapewire {

// The cluster is hosted through `test.mock.num.brokers` rather than rd_kafka_mock_cluster_new()
// so that librdkafka destroys it inside rd_kafka_destroy() of the host, once the host is
// terminating. rd_kafka_mock_cluster_destroy() on a live host takes a full second in most runs
// (librdkafka 2.0.2; 7 to 9 runs in 10 here): its thread sends TERMINATE to the cluster's internal
// broker thread and only then drops its reference to it (rd_kafka_mock_cluster_destroy0 in
// src/rdkafka_mock.c); when that thread handles the op first it still sees the reference, goes
// back to waiting on its op queue for rd_kafka_max_block_ms = 1000 ms (rd_kafka_broker_thread_main
// in src/rdkafka_broker.c), and nothing wakes it. With the host terminating, rd_kafka_broker_serve
// caps that wait at 1 ms, and the broker is gone in milliseconds. The same stall, on a client's
// internal broker: confluentinc/librdkafka#1690.
embedded_broker::embedded_broker(int brokers) : brokers_(brokers) {
    kafka_conf conf(rd_kafka_conf_new());
    set_property(conf.get(), "client.id", "tapewire-embedded-broker");
    set_property(conf.get(), "log.connection.close", "false");
    set_property(conf.get(), "test.mock.num.brokers", std::to_string(brokers));
    route_kafka_log(conf.get());
    try {
        host_ = make_kafka_client(std::move(conf), kafka_role::producer);
    } catch (const kafka_error& e) {
        throw kafka_error(std::string("cannot start the embedded Kafka broker: ") + e.what());
    }
    cluster_ = rd_kafka_handle_mock_cluster(host_.get());
    if (cluster_ == nullptr) throw kafka_error("cannot start the embedded Kafka broker");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

// host_ takes the cluster with it.
embedded_broker::~embedded_broker() = default;

kafka_properties embedded_broker::consumer_defaults() {
    // This broker holds a fetch that finds nothing for the whole fetch.wait.max.ms (500 ms by
    // default) even when data arrives meanwhile: bars would trail their ticks by seconds.
    return {{"fetch.wait.max.ms", "5"}};
}

void embedded_broker::create_topic(const std::string& name, int partitions, int replication) {
    const rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        throw kafka_error("embedded broker: cannot create topic " + name + ": " + rd_kafka_err2str(err));
}

void embedded_broker::set_broker_down(int broker_id) { (void)rd_kafka_mock_broker_set_down(cluster_, broker_id); }

void embedded_broker::set_broker_up(int broker_id) { (void)rd_kafka_mock_broker_set_up(cluster_, broker_id); }

void embedded_broker::set_group_coordinator(const std::string& group, int broker_id) {
    const rd_kafka_resp_err_t err = rd_kafka_mock_coordinator_set(cluster_, "group", group.c_str(), broker_id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw kafka_error("embedded broker: cannot set the coordinator of " + group + ": " + rd_kafka_err2str(err));
}

void embedded_broker::push_request_errors(int api_key, int count, rd_kafka_resp_err_t error) {
    std::vector<rd_kafka_resp_err_t> errors(static_cast<std::size_t>(count), error);
    rd_kafka_mock_push_request_errors_array(cluster_, static_cast<std::int16_t>(api_key), errors.size(), errors.data());
}

} // namespace tapewire
