// The ODBC sink: rows cross from the graph's last thread to a writer thread through a bounded ring,
// and the writer commits them in batches, each in one transaction with the Kafka offsets and the
// operator state they correspond to (effectively once).
//
// Graph side (`sql_channel`, on the analytics thread): bars, alerts, dead letters and (archive) ticks
// go into the ring as they are emitted; a *barrier* follows them when a batch is due (batch_rows
// rows, or half of batch_interval since the first row after the last barrier). A barrier carries
// the checkpoints of the partitions that changed: next offset to read and the operators' state,
// taken on the thread that owns that state, so rows, offsets and state describe one moment.
//
// Writer side (`sql_writer`, its own thread): gathers rows up to a barrier and commits them with
// the barrier's checkpoints. When it falls behind it merges barriers (group commit) up to
// batch_rows or batch_interval. Transient database errors roll back, reconnect with capped
// exponential back-off and send the whole batch again; meanwhile the ring fills and the graph, and
// then the Kafka partitions, pause. A row the database refuses (SQLSTATE class 22/23) is isolated by
// bisection (probe transactions that are rolled back), dead-lettered with the database's message,
// and the rest is committed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "src/base/metrics.hpp"
#include "src/base/offset_board.hpp"
#include "src/sql/store.hpp"
#include "tapewire/backoff.hpp"
#include "tapewire/blocking_put.hpp"
#include "tapewire/config.hpp"
#include "tapewire/runner.hpp"
#include "tapewire/spsc_ring.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

struct sql_barrier {
    std::vector<sql::partition_checkpoint> checkpoints;
    std::int64_t first_row_mono = 0; // when the oldest row before it was emitted (0: none)
    bool end = false;                // the input is over: commit and finish
};

struct sql_item {
    std::variant<bar, alert, tick, std::unique_ptr<sql::dead_letter_row>, std::unique_ptr<sql_barrier>> v;
    std::int64_t emitted_mono = 0; // bars: when the graph emitted it (latency to the commit)
};

using sql_ring = spsc_ring<sql_item>;

// The graph's side of the ring. Single-threaded (the analytics thread).
class sql_channel {
public:
    // `source` names the input in dead_letters/ticks rows: the Kafka topic, or "<kind>@<run start>".
    // `abort` breaks a wait on a full ring when the pipeline is failing; `stalled` is told how long
    // each wait lasted.
    sql_channel(const sink_config& cfg, sql_ring& ring, std::string source, const std::atomic<bool>* abort,
                stall_sink stalled = {});

    void on_tick(const tick& t);
    void on_bar(const bar& b);
    void on_alert(const alert& a);
    void on_dead_letter(const dead_letter_view& d);

    // True when a barrier is due at `now_mono`.
    [[nodiscard]] bool due(std::int64_t now_mono) noexcept;
    // Partitions whose read position moved since the last barrier (appended to `out`).
    void moved_partitions(std::vector<std::int32_t>& out) const;
    // The offset after the last message of `partition` that reached the sink (-1: none yet).
    [[nodiscard]] std::int64_t next_offset(std::int32_t partition) const noexcept;
    // Sets where `partition` stands (its state was restored from a checkpoint at this offset).
    void set_next_offset(std::int32_t partition, std::int64_t next);
    // Sends a barrier with these checkpoints; `end` after the last rows of the input.
    void barrier(std::vector<sql::partition_checkpoint> checkpoints, bool end);
    void publish() noexcept { ring_.publish(); }
    // Time this thread spent waiting for the writer (a full ring), in total. Processing time that
    // the graph could not use: the window stage's idle_timeout must not count it as silence.
    [[nodiscard]] std::int64_t blocked_ns() const noexcept { return put_.stalled_ns(); }

private:
    void put(sql_item&& item);
    void moved(const origin& o);

    const sink_config& cfg_;
    sql_ring& ring_;
    std::string source_;
    blocking_put put_;
    std::vector<std::int64_t> next_;  // per partition
    std::vector<char> moved_;         // per partition, since the last barrier
    std::uint64_t rows_since_ = 0;    // rows since the last barrier
    std::int64_t first_row_mono_ = 0; // first row (or move) since the last barrier
    std::int64_t half_interval_ns_;
    bool any_moved_ = false;
};

// The writer thread.
class sql_writer final : public agent {
public:
    // `board` (may be null) receives the committed offsets, for Kafka's advisory commits.
    // `source` keys archived ticks, as in sql_channel.
    sql_writer(const sink_config& cfg, sql_ring& ring, std::unique_ptr<sql::store> store, offset_board* board,
               metrics_registry& metrics, const std::atomic<bool>& abort, std::string source);
    ~sql_writer() override;

    std::size_t do_work() override;
    void on_close() override;
    [[nodiscard]] bool done() const override { return finished_; }

    // Committed so far (any thread).
    [[nodiscard]] std::uint64_t rows_committed() const noexcept { return rows_->value(); }
    [[nodiscard]] std::uint64_t commits() const noexcept { return commits_->value(); }
    // The offsets of the last commit (call after the thread has stopped).
    [[nodiscard]] const partition_offsets& committed_offsets() const noexcept { return committed_; }
    [[nodiscard]] std::string describe() const;

private:
    void take(sql_item& item);
    bool commit_due(bool end) const;
    bool try_commit(); // false: backing off
    void back_off(const sql::sql_error& e);
    void isolate_refused(const sql::sql_error& first);

    const sink_config& cfg_;
    sql_ring& ring_;
    std::unique_ptr<sql::store> store_;
    offset_board* board_;
    const std::atomic<bool>& abort_;
    std::string dbms_;

    sql::batch batch_;
    std::vector<std::int64_t> first_rows_; // first_row_mono of the barriers merged into batch_
    bool ready_ = false;                   // a commit is due (retried after a back-off)
    bool end_seen_ = false;
    bool finished_ = false;
    bool reconnect_ = false;
    backoff backoff_;
    std::int64_t retry_at_ = 0;
    std::int64_t outage_since_ = 0;
    partition_offsets committed_;

    counter* rows_;
    counter* commits_;
    counter* retries_;
    counter* refused_;
    histogram* commit_ns_;
    histogram* row_age_ns_;                 // from the oldest row's emission to its commit
    histogram* bar_latency_ns_;             // from each bar's emission to its commit
    std::vector<std::int64_t> bar_emitted_; // emission times of batch_.bars
    gauge* pending_rows_;
    gauge* connected_;
};

} // namespace tapewire
