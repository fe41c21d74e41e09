// The Kafka input of the graph: a consumer-group member reading the input topic in batches
// (rd_kafka_consume_batch_queue) and handing each message, with its partition and offset, to the
// source thread. Offsets are stored (and auto-committed by librdkafka) only up to what the graph
// has finished with: the window stage reports, per partition, the first offset still inside an open
// window (`offset_board`). A full input ring pauses the assigned partitions; room resumes them.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/base/message_source.hpp"
#include "src/base/metrics.hpp"
#include "src/base/offset_board.hpp"
#include "src/kafka/client.hpp"
#include "tapewire/config.hpp"
#include "tapewire/partition_control.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

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

    // Where newly assigned partitions start: `loader` (called on this consumer's thread, inside the
    // rebalance) returns the offsets a sink stored for some of them; those start there instead of
    // at the committed offset. Every assigned partition then gets a `restore` instruction in band,
    // before its first message, so the graph loads (or clears) its state.
    void on_assign(std::function<partition_offsets(const std::vector<std::int32_t>&)> loader) {
        loader_ = std::move(loader);
    }

    // After the graph has drained: stores `final_offsets`, commits synchronously, leaves the group.
    void finish(const partition_offsets& final_offsets);

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
        gauge* lag = nullptr;
    };

    static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque);
    void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
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
    std::vector<std::atomic<std::int64_t>> positions_; // kafka.partitions of them
    std::atomic<std::size_t> assigned_count_{0};
    std::deque<partition_control> controls_; // waiting to be handed to the graph, in order
    partition_control control_sent_;         // the one handed out last (valid until the next call)
    std::function<partition_offsets(const std::vector<std::int32_t>&)> loader_;
    std::string failure_; // an error inside a librdkafka callback, thrown from next()
    bool closed_ = false;
};

} // namespace tapewire
