#include "src/kafka/producer.hpp"

#include <algorithm>

#include "src/base/clock.hpp"

namespace tapewire {

kafka_producer::kafka_producer(const kafka_config& cfg, const std::string& bootstrap, metrics_registry& metrics,
                               const std::string& role)
    : produced_(
          &metrics.get_counter("kafka_produced_total{producer=\"" + role + "\"}", "messages handed to librdkafka")),
      delivered_(
          &metrics.get_counter("kafka_delivered_total{producer=\"" + role + "\"}", "messages the broker acknowledged")),
      errors_(
          &metrics.get_counter("kafka_produce_errors_total{producer=\"" + role + "\"}", "permanent delivery failures")),
      queue_full_(&metrics.get_counter("kafka_produce_queue_full_total{producer=\"" + role + "\"}",
                                       "produce calls refused with QUEUE_FULL (backpressure)")),
      delivery_latency_(&metrics.get_histogram("kafka_delivery_latency_ns{producer=\"" + role + "\"}",
                                               "produce() to delivery report")) {
    kafka_conf conf = make_kafka_conf(cfg, kafka_role::producer, bootstrap, "tapewire-" + role);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &kafka_producer::delivery_report);
    rd_kafka_conf_set_opaque(conf.get(), this);
    rk_ = make_kafka_client(std::move(conf), kafka_role::producer);
}

kafka_producer::~kafka_producer() {
    for (auto& [_, t] : topics_) rd_kafka_topic_destroy(t);
}

rd_kafka_topic_t* kafka_producer::topic(const std::string& name) {
    for (auto& [n, t] : topics_)
        if (n == name) return t;
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr);
    if (t == nullptr) throw kafka_error("cannot open topic " + name + ": " + rd_kafka_err2str(rd_kafka_last_error()));
    topics_.emplace_back(name, t);
    std::lock_guard<std::mutex> lock(mu_);
    ends_.push_back({t, name, {}});
    return t;
}

bool kafka_producer::try_produce(rd_kafka_topic_t* topic, std::string_view key, std::string_view payload,
                                 const std::vector<kafka_header>& headers) {
    auto* stamp = reinterpret_cast<void*>(static_cast<std::intptr_t>(mono_ns()));
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (headers.empty()) {
        if (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(payload.data()),
                             payload.size(), key.data(), key.size(), stamp) != 0)
            err = rd_kafka_last_error();
    } else {
        rd_kafka_headers_t* hs = rd_kafka_headers_new(headers.size());
        for (const auto& h : headers) // an empty value is "", not a null header
            rd_kafka_header_add(hs, h.name, -1, h.value.empty() ? "" : h.value.data(),
                                static_cast<ssize_t>(h.value.size()));
        err = rd_kafka_producev(rk_.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(key.data(), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                                RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_OPAQUE(stamp), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(hs); // owned by the message on success
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        produced_->add();
        return true;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        queue_full_->add();
        return false;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char reason[512];
        rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
        throw kafka_error(std::string("Kafka producer fatal error: ") + reason);
    }
    throw kafka_error("cannot produce to " + std::string(rd_kafka_topic_name(topic)) + " (" +
                      std::to_string(payload.size()) + " bytes): " + rd_kafka_err2str(err));
}

void kafka_producer::poll(int timeout_ms) { (void)rd_kafka_poll(rk_.get(), timeout_ms); }

bool kafka_producer::flush(std::chrono::milliseconds timeout) {
    return rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int kafka_producer::in_flight() const { return rd_kafka_outq_len(rk_.get()); }

std::string kafka_producer::failure() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
}

std::vector<std::pair<std::int32_t, std::int64_t>> kafka_producer::delivered_ends(const std::string& topic) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<std::int32_t, std::int64_t>> out;
    for (const auto& [handle, name, ends] : ends_) {
        if (name != topic) continue;
        for (std::size_t p = 0; p < ends.size(); ++p)
            if (ends[p] > 0) out.emplace_back(static_cast<std::int32_t>(p), ends[p]);
    }
    return out;
}

void kafka_producer::delivery_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<kafka_producer*>(opaque)->on_report(m);
}

void kafka_producer::on_report(const rd_kafka_message_t* m) {
    const auto stamp = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(m->_private));
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        errors_->add();
        std::lock_guard<std::mutex> lock(mu_);
        if (failure_.empty())
            failure_ =
                std::string("delivery to ") + rd_kafka_topic_name(m->rkt) + " failed: " + rd_kafka_err2str(m->err);
        return;
    }
    delivered_->add();
    delivery_latency_->record(mono_ns() - stamp);
    if (on_delivery) on_delivery(m->partition, m->offset, stamp);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [handle, name, ends] : ends_) {
        if (handle != m->rkt) continue;
        const auto p = static_cast<std::size_t>(m->partition);
        if (ends.size() <= p) ends.resize(p + 1, 0);
        ends[p] = std::max(ends[p], m->offset + 1);
        break;
    }
}

} // namespace tapewire
