#include "src/sink/outputs.hpp"

#include "tapewire/json_write.hpp"

namespace tapewire {

namespace {

// Room in librdkafka's queue comes back with delivery reports, a broker round trip away: naps of
// up to a millisecond, as the 1 ms poll that served them before.
constexpr idle_options k_producer_wait{idle_kind::backoff, 0, 10, std::chrono::microseconds(50),
                                       std::chrono::milliseconds(1)};

} // namespace

output_sink::output_sink(const sink_config& sink, const kafka_config& topics, kafka_producer* kafka,
                         bool dead_letters_to_kafka, const std::atomic<bool>* abort, stall_sink stalled)
    : cfg_(sink), kafka_(kafka), abort_(abort), put_(put_wait{abort, k_producer_wait, stalled}) {
    if (sink.kind.contains(sink_kind::ndjson)) ndjson_ = std::make_unique<ndjson_sink>(sink);
    if (kafka_ != nullptr && sink.kind.contains(sink_kind::kafka)) {
        if (sink.bars) bars_topic_ = kafka_->topic(topics.bars_topic);
        if (sink.alerts) alerts_topic_ = kafka_->topic(topics.alerts_topic);
        kafka_desc_ = "kafka(" + topics.bars_topic + "," + topics.alerts_topic + ")";
    }
    if (kafka_ != nullptr && dead_letters_to_kafka && !topics.dlq_topic.empty())
        dlq_topic_ = kafka_->topic(topics.dlq_topic);
}

void output_sink::produce(rd_kafka_topic_t* topic, std::string_view key, std::string_view payload,
                          const std::vector<kafka_header>& headers) {
    // A full producer queue holds this thread (and so the graph, and so the input) until the
    // broker takes more: backpressure, never a drop. Its room comes back as delivery reports are
    // served, so every retry serves them. On abort the message goes (the pipeline is failing).
    (void)put_([&] {
        if (kafka_->try_produce(topic, key, payload, headers)) return true;
        kafka_->poll(0);
        if (auto f = kafka_->failure(); !f.empty()) throw kafka_error(f);
        return false;
    });
}

void output_sink::on_bar(const bar& b) {
    ++bars_;
    if (sql_ != nullptr) sql_->on_bar(b);
    if (ndjson_) ndjson_->on_bar(b);
    if (bars_topic_ != nullptr) {
        char buf[640];
        json_buffer j(buf, sizeof buf);
        write_bar_json(j, b);
        produce(bars_topic_, b.sym.view(), j.view());
    }
}

void output_sink::on_bar_update(const bar& b) {
    ++bar_updates_;
    if (!cfg_.updates) return;
    if (ndjson_) ndjson_->on_bar_update(b);
    if (bars_topic_ != nullptr) {
        char buf[640];
        json_buffer j(buf, sizeof buf);
        write_bar_update_json(j, b);
        produce(bars_topic_, b.sym.view(), j.view());
    }
}

void output_sink::on_alert(const alert& a) {
    ++alerts_;
    if (sql_ != nullptr) sql_->on_alert(a);
    if (ndjson_) ndjson_->on_alert(a);
    if (alerts_topic_ != nullptr) {
        char buf[320];
        json_buffer j(buf, sizeof buf);
        write_alert_json(j, a);
        produce(alerts_topic_, a.sym.view(), j.view());
    }
}

void output_sink::on_dead_letter(const dead_letter_view& d) {
    ++dead_letters_;
    ++by_reason_[static_cast<std::size_t>(d.reason)];
    if (sql_ != nullptr) sql_->on_dead_letter(d);
    if (ndjson_) ndjson_->on_dead_letter(d);
    if (dlq_topic_ != nullptr && cfg_.dead_letters) {
        // The original bytes as the value, so a fixed consumer can re-read them; why in headers.
        const std::string partition = std::to_string(d.src.partition);
        const std::string offset = std::to_string(d.src.offset);
        produce(dlq_topic_, d.key, d.payload,
                {{"reason", to_string(d.reason)},
                 {"detail", d.detail},
                 {"source.partition", partition},
                 {"source.offset", offset}});
    }
}

void output_sink::on_timer(timestamp_ns now) {
    if (sql_ != nullptr) sql_->publish();
    if (ndjson_) ndjson_->on_timer(now);
    if (kafka_ != nullptr) {
        kafka_->poll(0);
        if (auto f = kafka_->failure(); !f.empty()) throw kafka_error(f);
    }
}

void output_sink::on_flush() {
    if (ndjson_) ndjson_->on_flush();
    if (kafka_ != nullptr) {
        while (!kafka_->flush(std::chrono::milliseconds(200))) {
            if (auto f = kafka_->failure(); !f.empty()) throw kafka_error(f);
            if (abort_ != nullptr && abort_->load(std::memory_order_relaxed)) return; // failing anyway
        }
        if (auto f = kafka_->failure(); !f.empty()) throw kafka_error(f);
    }
}

std::uint64_t output_sink::sync_files() {
    if (ndjson_) ndjson_->on_flush();
    return kafka_ != nullptr ? kafka_->produced() : 0;
}

std::string output_sink::describe() const {
    std::string s;
    if (!sql_desc_.empty()) s = sql_desc_;
    if (ndjson_) s += (s.empty() ? "" : ",") + std::string("ndjson(") + ndjson_->path() + ")";
    if (!kafka_desc_.empty()) s += (s.empty() ? "" : ",") + kafka_desc_;
    if (dlq_topic_ != nullptr) s += (s.empty() ? "" : ",") + std::string("dlq(kafka)");
    return s.empty() ? "none" : s;
}

} // namespace tapewire
