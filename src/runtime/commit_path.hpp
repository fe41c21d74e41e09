// The commit path: what makes the outputs and the Kafka offsets describe one moment of the stream.
//   offset_publisher   without SQL: the window stage's safe offsets, released to the consumer once
//                      the outputs written before them are durable (NDJSON flushed, Kafka delivered)
//   sql_checkpointer   with SQL: barriers to the writer, each with a checkpoint (next offset and
//                      operator state) of every owned partition that changed; applies the
//                      consumer's revoke / restore instructions to the operators
//   restore_board      saved state of newly assigned partitions, from the consumer thread (which
//                      loads it) to the thread that owns the operators (which restores it)
//   checkpoint_loader  the consumer's loader: offsets and state of assigned partitions, from the
//                      database
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "src/base/offset_board.hpp"
#include "src/kafka/consumer.hpp"
#include "src/kafka/producer.hpp"
#include "src/runtime/analytics.hpp"
#include "src/sink/sql_sink.hpp"
#include "src/sql/store.hpp"
#include "tapewire/partition_control.hpp"

namespace tapewire {

// How a database failure stops the pipeline (sql::describe's text).
std::runtime_error database_error(const sql::sql_error& e);

// On the thread that owns the window state: every 100 ms, the safe offsets of the window stage,
// released to the consumer once the outputs written before them are durable (the NDJSON file
// flushed, the Kafka outputs delivered).
class offset_publisher {
public:
    // Null `board`: nothing to publish (no Kafka input, or the SQL writer publishes).
    offset_publisher(offset_board* board, const kafka_producer* outputs) : board_(board), outputs_(outputs) {}

    void on_timer(std::int64_t now_mono, const window_stage& window, output_sink& sink);

private:
    void release();

    struct snapshot {
        partition_offsets safe;
        std::uint64_t mark;
    };
    offset_board* board_;
    const kafka_producer* outputs_;
    std::vector<snapshot> pending_;
    partition_offsets scratch_;
    std::int64_t last_ = 0;
};

// The saved state of newly assigned partitions: put by the consumer thread, which loads it from the
// database at the assignment, and taken by the thread that owns the operators when the partition's
// restore instruction reaches it (before the partition's first message).
class restore_board {
public:
    void put(std::int32_t partition, std::int64_t next_offset, std::string state);
    std::optional<std::pair<std::int64_t, std::string>> take(std::int32_t partition);

private:
    std::mutex mu_;
    std::map<std::int32_t, std::pair<std::int64_t, std::string>> saved_;
};

// On the consumer thread, at an assignment: the offsets and operator state the database holds for
// these partitions, read on a connection of its own; the state goes on the restore board. While
// the database is away it answers `unavailable` (the consumer holds the partitions and asks again
// after a back-off); any other database error stops the pipeline.
class checkpoint_loader {
public:
    checkpoint_loader(sql::store_options options, restore_board& board) : options_(std::move(options)), board_(board) {}

    saved_offsets load(const std::vector<std::int32_t>& partitions);

private:
    sql::store_options options_;
    restore_board& board_;
    std::unique_ptr<sql::store> store_; // opened at the first assignment, again after a failure
};

// On the analytics thread: sends the SQL writer a barrier when a batch is due, with, for Kafka
// input, a checkpoint (next offset and operator state) of every owned partition that changed.
class sql_checkpointer {
public:
    sql_checkpointer() = default;
    // `board` (null: nothing is ever restored) holds the state of partitions being assigned.
    sql_checkpointer(sql_channel* ch, restore_board* board) : ch_(ch), board_(board) {}

    void on_timer(std::int64_t now_mono, analytics& an) {
        if (ch_ != nullptr && ch_->due(now_mono)) send(an, false);
    }
    void on_end(analytics& an) {
        if (ch_ != nullptr) send(an, true);
    }

    // The processing-time clock of the window stage: the wall clock less the time this thread was
    // held by the SQL writer (a database outage is not silence on the input).
    [[nodiscard]] timestamp_ns processing_now() const noexcept;

    // Instructions from the consumer. A revoked partition's state is committed before it is
    // forgotten; an assigned one's is loaded from the board (or starts empty).
    void on_control(const partition_control& c, analytics& an);

private:
    void send(analytics& an, bool end);

    sql_channel* ch_ = nullptr;
    restore_board* board_ = nullptr;
    std::vector<std::int32_t> owned_;
    std::vector<std::int32_t> scratch_;
};

} // namespace tapewire
