// What the source thread pulls from: the next raw message (key + JSON payload) and when it is due.
// Synthetic, replay, Kafka and the Yahoo sources live behind this interface; the base layer holds it
// so the Kafka consumer and the sources implement it without depending on each other.
#pragma once

#include <cstdint>
#include <string_view>

#include "tapewire/partition_control.hpp"

namespace tapewire {

struct source_message {
    std::string_view key;
    std::string_view payload;
    std::int32_t partition = 0;
    std::int64_t offset = -1;                   // position in the partition; -1 = the source does not number them
    std::int64_t release_at_mono_ns = 0;        // hand it over no earlier than this (0 = now)
    const partition_control* control = nullptr; // pull_result::control: the instruction (no key, no payload)
};

enum class pull_result {
    message, // `out` holds the next message
    control, // `out.control` holds an instruction for the graph, in its place among the messages
    idle,    // nothing right now; ask again later
    end,     // the input is over
};

class message_source {
public:
    virtual ~message_source() = default;
    // The next message, valid until the following call.
    virtual pull_result next(source_message& out) = 0;
    // Called once per pass of the source thread, before next(): timers, callbacks.
    virtual void poll() {}
    // The graph's input ring is full (true) or has room again (false): a source that can, holds
    // its upstream (a Kafka consumer pauses its partitions).
    virtual void on_stall(bool /*stalled*/) {}
    // End of input or stop: flush side files (labels).
    virtual void close() {}
};

} // namespace tapewire
