// The figures of pipeline_stats (the status line's and the summary's) as registry metrics with real
// labels, so /metrics and the summary agree: kept in step by analytics::publish() on the analytics
// thread, which is the only writer of these metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "operators/window.hpp"
#include "src/base/metrics.hpp"
#include "src/runtime/pipeline.hpp"

namespace tapewire {

class pipeline_metrics {
public:
    // `messages_in`: the feed's count of messages handed to parse.
    pipeline_metrics(metrics_registry& reg, const std::atomic<std::uint64_t>& messages_in);
    void update(const pipeline_stats& st, const window_stage& w);

private:
    struct tracked {
        counter* c;
        std::uint64_t published = 0;
        void step(std::uint64_t now) {
            if (now == published) return;
            c->add(now - published);
            published = now;
        }
    };
    const std::atomic<std::uint64_t>& messages_in_;
    tracked ticks_in_, ticks_out_, bars_, corrections_, late_, alerts_;
    std::array<tracked, k_dead_letter_reasons> dead_;
    gauge* open_windows_;
};

} // namespace tapewire
