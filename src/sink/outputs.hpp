// The end of the analytics chain: every configured output behind one emitter. NDJSON (a file or
// stdout) and Kafka (bars and alerts to their topics, key = symbol; dead letters of Kafka input to
// the dead-letter topic with the reason in a header) can run side by side. Counts what it is given
// whatever the outputs, for the status line and the summary.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "src/kafka/producer.hpp"
#include "src/sink/ndjson.hpp"
#include "src/sink/sql_sink.hpp"
#include "tapewire/blocking_put.hpp"
#include "tapewire/config.hpp"
#include "tapewire/stage.hpp"

namespace tapewire {

class output_sink {
public:
    // `sink` says which outputs; `topics` names the Kafka topics they write to. `kafka` is the
    // outputs' producer (null when no Kafka output is configured); `dead_letters_to_kafka` sends
    // dead letters to topics.dlq_topic. `abort` breaks a wait on the producer when the pipeline
    // is failing; `stalled` is told how long each wait for room in its queue lasted.
    output_sink(const sink_config& sink, const kafka_config& topics, kafka_producer* kafka, bool dead_letters_to_kafka,
                const std::atomic<bool>* abort = nullptr, stall_sink stalled = {});

    void on_tick(const tick& t) {
        if (sql_ != nullptr) sql_->on_tick(t);
    }
    void on_bar(const bar& b);
    // Open bars (window.emit_updates): counted, and with sink.updates written to NDJSON and the bars
    // topic; never to SQL, which stores final bars only (docs/schema.md).
    void on_bar_update(const bar& b);
    void on_alert(const alert& a);
    void on_dead_letter(const dead_letter_view& d);
    void on_watermark(const watermark&) {}
    void on_timer(timestamp_ns now);
    void on_flush();

    // Pushes what was written so far to the file (not fsync) so offsets committed after it do not
    // run ahead of the output; returns the Kafka outputs produced so far, to compare with delivered.
    std::uint64_t sync_files();

    [[nodiscard]] std::uint64_t bars() const noexcept { return bars_; }
    [[nodiscard]] std::uint64_t bar_updates() const noexcept { return bar_updates_; }
    [[nodiscard]] std::uint64_t alerts() const noexcept { return alerts_; }
    [[nodiscard]] std::uint64_t dead_letters() const noexcept { return dead_letters_; }
    [[nodiscard]] std::uint64_t dead_letters(dead_letter_reason r) const noexcept {
        return by_reason_[static_cast<std::size_t>(r)];
    }
    [[nodiscard]] std::string describe() const;

    // Rows also go to the SQL writer through this channel (kind "odbc"); null: none.
    void attach_sql(sql_channel* ch, std::string description) {
        sql_ = ch;
        sql_desc_ = std::move(description);
    }
    [[nodiscard]] sql_channel* sql() const noexcept { return sql_; }

private:
    void produce(rd_kafka_topic_t* topic, std::string_view key, std::string_view payload,
                 const std::vector<kafka_header>& headers = {});

    sink_config cfg_;
    std::unique_ptr<ndjson_sink> ndjson_;
    kafka_producer* kafka_ = nullptr;
    rd_kafka_topic_t* bars_topic_ = nullptr;
    rd_kafka_topic_t* alerts_topic_ = nullptr;
    rd_kafka_topic_t* dlq_topic_ = nullptr;
    std::string kafka_desc_;
    const std::atomic<bool>* abort_;
    blocking_put put_;
    sql_channel* sql_ = nullptr;
    std::string sql_desc_;
    std::string scratch_;
    std::uint64_t bars_ = 0, bar_updates_ = 0, alerts_ = 0, dead_letters_ = 0;
    std::array<std::uint64_t, k_dead_letter_reasons> by_reason_{};
};

static_assert(emitter<output_sink>);

} // namespace tapewire
