#include "src/http/sse_hub.hpp"

#include <algorithm>
#include <utility>

namespace tapewire::http {

bool sse_subscriber::wants(std::string_view key) const {
    return key.empty() || keys.empty() || std::find(keys.begin(), keys.end(), key) != keys.end();
}

sse_hub::sse_hub(std::size_t max_clients, std::size_t queue_frames, metrics_registry& metrics)
    : max_clients_(max_clients), queue_frames_(std::max<std::size_t>(queue_frames, 1)),
      clients_(metrics.get_gauge("http_sse_clients", "event streams open now")),
      dropped_(metrics.get_counter("http_sse_dropped_total",
                                   "event streams closed because the client did not keep up (its queue was full)")),
      events_(metrics.get_counter("http_sse_events_total", "events published to the event streams")) {}

std::shared_ptr<sse_subscriber> sse_hub::attach(std::vector<std::string> keys, std::function<void()> wake,
                                                std::function<void()> drop) {
    if (subscribers_.size() >= max_clients_) return nullptr;
    auto s = std::make_shared<sse_subscriber>();
    s->keys = std::move(keys);
    s->wake = std::move(wake);
    s->drop = std::move(drop);
    subscribers_.push_back(s);
    clients_.set(static_cast<std::int64_t>(subscribers_.size()));
    return s;
}

void sse_hub::detach(const sse_subscriber* s) {
    const auto it = std::find_if(subscribers_.begin(), subscribers_.end(), [s](const auto& p) { return p.get() == s; });
    if (it == subscribers_.end()) return;
    subscribers_.erase(it);
    clients_.set(static_cast<std::int64_t>(subscribers_.size()));
}

std::string sse_hub::format(std::string_view event, std::string_view data) {
    std::string out;
    out.reserve(event.size() + data.size() + 16);
    out.append("event: ").append(event).append("\n");
    for (;;) {
        const auto nl = data.find('\n');
        out.append("data: ").append(data.substr(0, nl)).append("\n");
        if (nl == std::string_view::npos) break;
        data.remove_prefix(nl + 1);
    }
    return out.append("\n");
}

void sse_hub::offer(sse_subscriber& s, const sse_frame& f) {
    if (s.dropped) return;
    if (s.queue.size() >= queue_frames_) {
        s.dropped = true;
        dropped_.add();
        if (s.drop) s.drop();
        return;
    }
    s.queue.push_back(f);
    if (s.wake) s.wake();
}

std::size_t sse_hub::publish(std::string_view event, std::string_view data, std::string_view key) {
    events_.add();
    sse_frame frame;
    std::size_t reached = 0;
    for (const auto& s : subscribers_) {
        if (!s->wants(key)) continue;
        if (!frame) frame = std::make_shared<const std::string>(format(event, data));
        offer(*s, frame);
        reached += s->dropped ? 0 : 1;
    }
    return reached;
}

void sse_hub::heartbeat() {
    static const sse_frame k_comment = std::make_shared<const std::string>(": heartbeat\n\n");
    for (const auto& s : subscribers_) offer(*s, k_comment);
}

} // namespace tapewire::http
