#include "src/kafka/embedded_broker.hpp"

#include <vector>

#include <librdkafka/rdkafka_mock.h>

namespace tapewire {

embedded_broker::embedded_broker(int brokers) : brokers_(brokers) {
    kafka_conf conf(rd_kafka_conf_new());
    set_property(conf.get(), "client.id", "tapewire-embedded-broker");
    set_property(conf.get(), "log.connection.close", "false");
    route_kafka_log(conf.get());
    host_ = make_kafka_client(std::move(conf), kafka_role::producer);
    cluster_ = rd_kafka_mock_cluster_new(host_.get(), brokers);
    if (cluster_ == nullptr) throw kafka_error("cannot start the embedded Kafka broker");
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
}

embedded_broker::~embedded_broker() {
    if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
}

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
