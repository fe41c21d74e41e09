#include "src/kafka/client.hpp"

#include "src/base/log.hpp"

namespace tapewire {

namespace {

// librdkafka's levels are syslog's: 0-3 emergency to error, 4 warning, 5 notice, 6 info, 7 debug.
// Its notices and info are its own chatter (the embedded broker's handle announces its mock
// cluster, a MOCK notice, on every run): debug here, so that at "info" an operator sees what tapewire
// says and librdkafka's warnings and errors, as before the facade.
log_level from_syslog(int level) noexcept {
    if (level <= 3) return log_level::error;
    if (level == 4) return log_level::warn;
    return log_level::debug;
}

// librdkafka's log, on its own threads: one record each, tagged with the client's name and the
// facility librdkafka gives ("FAIL", "REQTMOUT", ...).
void log_librdkafka(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
    const log_level l = from_syslog(level);
    if (!log::enabled(l)) return;
    const log::field f[] = {{"client", rk != nullptr ? rd_kafka_name(rk) : "-"}, {"facility", facility}};
    log::write(l, "kafka", message != nullptr ? message : "", f);
}

} // namespace

void route_kafka_log(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, log_librdkafka); }

kafka_properties kafka_defaults(kafka_role role) {
    if (role == kafka_role::producer)
        return {
            // Exactly once per partition and in order, whatever the broker or network does.
            {"enable.idempotence", "true"},
            // Never give up on a message: an outage fills the queue, and QUEUE_FULL stalls the
            // source instead of dropping (rule: pause and retry, never drop).
            {"message.timeout.ms", "0"},
            // Same key → same partition as the Java client and kafka-python (murmur2), so
            // tapewire and the older producer agree on where a symbol lives.
            {"partitioner", "murmur2_random"},
            {"linger.ms", "5"},
            {"log.connection.close", "false"},
        };
    return {
        // Offsets are stored by tapewire only once the ticks they cover are out of every open
        // window; librdkafka commits what was stored.
        {"enable.auto.commit", "true"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        // Only moved partitions are revoked on a rebalance; the others keep their window state.
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "true"},
        // librdkafka 2.0 stops fetching every partition once 100 000 messages wait locally, and
        // looks again only up to a second later (fixed by fetch.queue.backoff.ms in 2.2): bound
        // the prefetch by bytes (queued.max.messages.kbytes, 64 MiB) and let the input ring
        // hold back instead. Measured by tapewire-bench kafka.
        {"queued.min.messages", "10000000"},
        {"log.connection.close", "false"},
    };
}

void set_property(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        throw kafka_error("kafka property " + name + ": " + err);
}

kafka_conf make_kafka_conf(const kafka_config& cfg, kafka_role role, const std::string& bootstrap,
                           const std::string& client_id, const kafka_properties& run_defaults) {
    kafka_conf conf(rd_kafka_conf_new());
    set_property(conf.get(), "bootstrap.servers", bootstrap);
    set_property(conf.get(), "client.id", client_id);
    if (role == kafka_role::consumer) set_property(conf.get(), "group.id", cfg.group);
    for (const auto& [name, value] : kafka_defaults(role)) set_property(conf.get(), name, value);
    for (const auto& [name, value] : run_defaults) set_property(conf.get(), name, value);
    for (const auto& p : role == kafka_role::producer ? cfg.producer : cfg.consumer) {
        char err[512];
        if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
            throw kafka_error(p.file + ":" + std::to_string(p.line) + ": kafka." +
                              (role == kafka_role::producer ? "producer." : "consumer.") + p.name + ": " + err);
    }
    route_kafka_log(conf.get());
    return conf;
}

kafka_handle make_kafka_client(kafka_conf conf, kafka_role role) {
    char err[512];
    rd_kafka_t* rk =
        rd_kafka_new(role == kafka_role::producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
    if (rk == nullptr) throw kafka_error(std::string("cannot create the Kafka client: ") + err);
    (void)conf.release(); // rd_kafka_new took it
    return kafka_handle(rk);
}

} // namespace tapewire
