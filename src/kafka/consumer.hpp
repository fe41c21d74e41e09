// The Kafka input of the graph: a consumer-group member reading the input topic in batches
// (rd_kafka_consume_batch_queue) and handing each message, with its partition and offset, to the
// source thread. Offsets are stored (and auto-committed by librdkafka) only up to what the graph
// has finished with: the window stage reports, per partition, the first offset still inside an open
// window (`offset_board`). A full input ring pauses the assigned partitions; room resumes them.
// Rebalances reach the graph as typed instructions (`partition_control`) in band with the messages.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/base/message_source.hpp"
#include "src/base/metrics.hpp"
#include "src/base/offset_board.hpp"
#include "src/kafka/client.hpp"
#include "tapewire/backoff.hpp"
#include "tapewire/config.hpp"
#include "tapewire/partition_control.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

// What a loader found for partitions being assigned: the next offset a sink saved for some of
// them, or, while its store is away, why not (the consumer asks again after a back-off).
struct saved_offsets {
    partition_offsets offsets;
    std::string unavailable; // not empty: nothing is known yet
};
using offsets_loader = std::function<saved_offsets(const std::vector<std::int32_t>&)>;

class kafka_consumer_source final : public message_source {
public:
    // `run_defaults`: librdkafka properties this run adds to tapewire's (the user's still win).
    kafka_consumer_source(const kafka_config& cfg, const std::string& bootstrap, metrics_registry& metrics,
                          const offset_board& board, const kafka_properties& run_defaults = {});
    ~kafka_consumer_source() override;

    pull_result next(source_message& out) override;
    void poll() override;
    void on_stall(bool stalled) override;

    // `run`: the input ends once the positions reach these (the producer's delivered ends). The
    // function returns nothing until the producer has finished.
    void end_when_reached(std::function<std::optional<partition_offsets>()> targets) { targets_ = std::move(targets); }

    // Where newly assigned partitions start: at the offsets `loader` returns for some of them,
    // instead of the committed offsets. The rebalance callback only holds the assignment back;
    // poll() asks the loader, again after each `retry` wait while it answers `unavailable`, and
    // then assigns the partitions, so nothing is read from them before their offsets are known.
    // Every assigned partition gets a `restore` instruction in band, before its first message, so
    // the graph loads (or clears) its state. A loader that throws stops the source thread.
    void on_assign(offsets_loader loader, backoff retry) {
        loader_ = std::move(loader);
        retry_ = retry;
    }

    // After the graph has drained: stores `final_offsets`, commits synchronously, leaves the group.
    void finish(const partition_offsets& final_offsets);

    // Partitions the group gave this consumer, held ones included; any thread.
    [[nodiscard]] std::size_t assigned() const noexcept { return assigned_count_.load(std::memory_order_relaxed); }
    // The offset after the last message handed over from `partition` (0 before any); any thread.
    [[nodiscard]] std::int64_t position(std::int32_t partition) const noexcept {
        const auto i = static_cast<std::size_t>(partition);
        return i < positions_.size() ? positions_[i].load(std::memory_order_relaxed) : 0;
    }
    [[nodiscard]] std::uint64_t consumed() const noexcept { return consumed_->value(); }

private:
    struct partition_state {
        std::int32_t partition;
        std::int64_t position = -1; // next offset to hand over (-1: nothing seen yet)
        std::int64_t stored = -1;   // highest offset stored for commit while assigned
        bool at_end = false;
        bool rewind_told = false; // a rewind was logged (once per assignment)
        gauge* lag = nullptr;
    };

    static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque);
    void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
    void on_assigned(rd_kafka_topic_partition_list_t* parts);
    void on_revoked(const rd_kafka_topic_partition_list_t* parts);
    void assign(rd_kafka_topic_partition_list_t* parts);
    void assign_held(std::int64_t now);
    [[nodiscard]] bool cooperative() const;
    partition_state* state_of(std::int32_t partition);
    void release_batch();
    bool fill_batch();
    bool reached_end() const;
    void store_offsets(const partition_offsets& offsets);
    void update_lag();
    void serve_group(std::int64_t since, int timeout_ms, bool& told);
    void leave_group();

    const kafka_config& cfg_;
    metrics_registry& metrics_;
    const offset_board& board_;
    kafka_handle rk_;
    kafka_queue queue_;
    std::vector<rd_kafka_message_t*> batch_;
    std::size_t batch_count_ = 0, batch_next_ = 0;
    std::vector<partition_state> assigned_;
    bool ever_assigned_ = false;
    bool paused_ = false;
    std::uint64_t board_seen_ = 0;
    std::int64_t last_store_ns_ = 0, last_lag_ns_ = 0;
    std::function<std::optional<partition_offsets>()> targets_;
    std::optional<partition_offsets> target_ends_;
    counter* consumed_;
    counter* rebalances_;
    counter* pauses_;
    counter* errors_;
    counter* load_retries_;
    counter* rewound_;
    gauge* held_gauge_;
    std::vector<std::atomic<std::int64_t>> positions_; // kafka.partitions of them
    std::atomic<std::size_t> assigned_count_{0};
    std::deque<partition_control> controls_; // waiting to be handed to the graph, in order
    partition_control control_sent_;         // the one handed out last (valid until the next call)

    // Resuming from a sink's saved offsets (on_assign).
    offsets_loader loader_;
    backoff retry_{0, 0};
    std::vector<std::int32_t> held_; // assigned by the group, waiting for their offsets
    std::int64_t retry_at_ = 0;      // mono time of the next load attempt
    bool closed_ = false;
};

} // namespace tapewire
