// The Server-Sent-Events hub: every open event stream is a subscriber with a bounded queue of
// preformatted frames. publish() formats an event once and queues the same bytes for each subscriber
// that wants its key; a subscriber whose queue is full (a client that does not read) is dropped and
// counted, never waited for, so one slow browser cannot hold back the others or the pipeline.
//
// Lives on the HTTP thread: attach, publish, heartbeat and detach all run there (the server's
// sessions and its timers), so it takes no lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/metrics.hpp"

namespace tapewire::http {

using sse_frame = std::shared_ptr<const std::string>;

// One open stream as the hub sees it; the session that owns the connection writes its queue out.
struct sse_subscriber {
    std::vector<std::string> keys; // the event keys it wants; empty = every event
    std::deque<sse_frame> queue;   // frames not yet written; the front one may be being written
    bool dropped = false;          // the hub gave up on it: the session closes the connection
    // Called from publish() and heartbeat(); they must not attach or detach (the session detaches
    // later, once its writer has stopped).
    std::function<void()> wake; // a frame was queued
    std::function<void()> drop; // the queue overflowed: close the connection

    [[nodiscard]] bool wants(std::string_view key) const;
};

class sse_hub {
public:
    // At most `max_clients` streams at once, each holding at most `queue_frames` frames.
    sse_hub(std::size_t max_clients, std::size_t queue_frames, metrics_registry& metrics);

    // A new subscriber, or null when max_clients are already attached.
    [[nodiscard]] std::shared_ptr<sse_subscriber> attach(std::vector<std::string> keys, std::function<void()> wake,
                                                         std::function<void()> drop);
    // The session is gone; idempotent.
    void detach(const sse_subscriber* s);

    // Queues "event: <event>\ndata: <data>\n\n" for every subscriber whose keys include `key` (or who
    // asked for all); an empty key reaches every subscriber. `data` may hold newlines: each line
    // becomes a data: line. Returns the number of subscribers it was queued for.
    std::size_t publish(std::string_view event, std::string_view data, std::string_view key = {});
    // A comment frame to every subscriber, so proxies and browsers keep an idle stream open.
    void heartbeat();

    [[nodiscard]] std::size_t clients() const noexcept { return subscribers_.size(); }
    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.value(); }

    // The bytes of one event, as publish() queues them.
    static std::string format(std::string_view event, std::string_view data);

private:
    void offer(sse_subscriber& s, const sse_frame& f);

    std::size_t max_clients_;
    std::size_t queue_frames_;
    std::vector<std::shared_ptr<sse_subscriber>> subscribers_;
    gauge& clients_;
    counter& dropped_;
    counter& events_;
};

} // namespace tapewire::http
