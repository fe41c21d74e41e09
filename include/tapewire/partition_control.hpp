// An instruction about input partitions from the Kafka consumer to the thread that owns the
// operators, travelling in band with the messages: `revoke` behind the last messages of the
// partitions taken away, `restore` ahead of the first messages of the partitions assigned. A typed
// record end to end: the consumer fills it, the input ring carries it beside the messages
// (`message_ring`), a `record_ring` carries it on between two pipeline threads.
#pragma once

#include <cstdint>
#include <vector>

namespace tapewire {

struct partition_control {
    enum class action : std::uint8_t {
        revoke,  // taken away: forget their open windows (the next owner rebuilds them)
        restore, // assigned: load their saved operator state, if any, before their first message
    };
    action what = action::revoke;
    std::vector<std::int32_t> partitions;

    friend bool operator==(const partition_control&, const partition_control&) = default;
};

} // namespace tapewire
