// The running graph: a source thread feeding raw messages into a ring, and one or two pipeline
// threads running parse → window → vwap → anomaly → sink. Built from the config, run until the
// input ends, a limit is reached, or stop() is called; then every open window is flushed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "src/base/metrics.hpp"
#include "tapewire/config.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

struct run_limits {
    duration max_duration{0};    // 0 = no limit
    std::uint64_t max_ticks = 0; // messages from the source; 0 = no limit
    // Asked while the start waits for a database that does not answer yet: true ends the wait (a
    // signal came). Unset: the wait ends only when the database answers.
    std::function<bool()> stop_requested;
};

// Counters readable from any thread while the graph runs (relaxed; a status line, not accounting).
struct pipeline_stats {
    std::atomic<std::uint64_t> messages{0}; // handed from the source to parse
    std::atomic<std::uint64_t> ticks{0};    // parsed
    std::atomic<std::uint64_t> bars{0};
    std::atomic<std::uint64_t> corrections{0};
    std::atomic<std::uint64_t> bar_updates{0}; // open bars sent (window.emit_updates), not in bars
    // Bar input (operators/window.hpp): bars new to the memory, re-sent unchanged, revised, re-sent
    // older than window.bar_memory; the memory now (bars, bytes).
    std::atomic<std::uint64_t> new_bars{0};
    std::atomic<std::uint64_t> duplicate_bars{0};
    std::atomic<std::uint64_t> bar_revisions{0};
    std::atomic<std::uint64_t> bars_beyond_memory{0};
    std::atomic<std::uint64_t> bar_memory_bars{0};
    std::atomic<std::uint64_t> bar_memory_bytes{0};
    std::atomic<std::uint64_t> alerts{0};
    std::atomic<std::uint64_t> dead_letters{0};
    std::array<std::atomic<std::uint64_t>, k_dead_letter_reasons> dead_by_reason{};
    std::atomic<std::uint64_t> source_stalls{0}; // passes the source found the input ring full
    std::atomic<std::uint64_t> produced{0};      // produce / run with Kafka: messages delivered to the topic
    std::atomic<std::uint64_t> sql_rows{0};      // sink kind "odbc": rows committed
    std::atomic<std::uint64_t> sql_commits{0};   // sink kind "odbc": transactions committed
};

// Which halves of the job this process runs (see docs/design.md):
//   run      sources → [Kafka kafka.topic →] graph → sinks; without Kafka when kafka.brokers = ""
//   produce  sources → Kafka kafka.topic
//   process  Kafka kafka.topic (a consumer-group member) → graph → sinks
enum class pipeline_mode { run, produce, process };

class pipeline {
public:
    explicit pipeline(const config& cfg, run_limits limits = {}, pipeline_mode mode = pipeline_mode::run);
    ~pipeline();
    pipeline(const pipeline&) = delete;
    pipeline& operator=(const pipeline&) = delete;

    // Starts the threads and returns at once.
    void start();
    // Stops the source; what it already sent is processed. Open windows are flushed, except when
    // reading a durable Kafka (`process`), where they stay uncommitted so a restart rebuilds them.
    // Safe from any thread.
    void stop() noexcept;
    // True once every thread has finished (input ended and drained, or a failure).
    [[nodiscard]] bool finished() const noexcept;
    // Waits for the threads. Returns the first error a thread reported ("" when none).
    std::string wait();

    [[nodiscard]] const pipeline_stats& stats() const noexcept;
    [[nodiscard]] std::string describe() const; // one line: source, threads, sink
    // The embedded broker's bootstrap list ("" unless kafka.brokers = "embedded").
    [[nodiscard]] std::string embedded_bootstraps() const;
    [[nodiscard]] metrics_registry& metrics() noexcept;
    // Kafka input: partitions assigned to this process now (0 without Kafka input).
    [[nodiscard]] std::size_t assigned_partitions() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace tapewire
