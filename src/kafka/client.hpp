// What the producer, the consumer and the embedded broker share: owning handles, client
// configuration (tapewire's defaults, then the user's [kafka.producer] / [kafka.consumer]
// properties, which win), and librdkafka's log routed to the engine's log.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "tapewire/config.hpp"

namespace tapewire {

struct kafka_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct rd_kafka_deleter {
    void operator()(rd_kafka_t* rk) const noexcept { rd_kafka_destroy(rk); }
};
using kafka_handle = std::unique_ptr<rd_kafka_t, rd_kafka_deleter>;

struct rd_kafka_conf_deleter {
    void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
using kafka_conf = std::unique_ptr<rd_kafka_conf_t, rd_kafka_conf_deleter>;

struct rd_kafka_queue_deleter {
    void operator()(rd_kafka_queue_t* q) const noexcept { rd_kafka_queue_destroy(q); }
};
using kafka_queue = std::unique_ptr<rd_kafka_queue_t, rd_kafka_queue_deleter>;

struct rd_kafka_topic_partition_list_deleter {
    void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
using kafka_partition_list = std::unique_ptr<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_deleter>;

enum class kafka_role { producer, consumer };

// The client configuration: `bootstrap`, tapewire's defaults for the role, then the user's
// properties for it (each error names the file and line the property was set at). `client_id`
// tells the processes apart in broker logs.
kafka_conf make_kafka_conf(const kafka_config& cfg, kafka_role role, const std::string& bootstrap,
                           const std::string& client_id);

// librdkafka's log lines into the engine's log (component "kafka", fields client and facility), at
// the level librdkafka gives them.
void route_kafka_log(rd_kafka_conf_t* conf);

// Sets one property or throws kafka_error naming it.
void set_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

// Creates the client; the conf is consumed. Throws kafka_error with librdkafka's reason.
kafka_handle make_kafka_client(kafka_conf conf, kafka_role role);

// The tapewire defaults for a role, as (name, value) pairs, for docs and tests.
std::vector<std::pair<std::string, std::string>> kafka_defaults(kafka_role role);

} // namespace tapewire
