// The chain the thread that owns the operators runs behind parse: window → vwap → anomaly → the
// configured outputs, fused; and its counters for the status line.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "operators/analytics.hpp"
#include "src/base/metrics.hpp"
#include "src/runtime/pipeline.hpp"
#include "src/runtime/pipeline_metrics.hpp"
#include "src/sink/outputs.hpp"

namespace tapewire {

// The window stage's bar-input and live-bar counters in the metrics registry (window_*), kept in step
// by publish().
class bar_input_metrics {
public:
    explicit bar_input_metrics(metrics_registry& reg);
    void update(const window_stage& w);

private:
    struct tracked {
        counter* c;
        std::uint64_t published = 0;
    };
    tracked new_bars_, duplicates_, revisions_, beyond_, evicted_, updates_;
    gauge* bars_;
    gauge* bytes_;
};

struct analytics : analytics_chain<output_sink> {
    using analytics_chain::analytics_chain;

    // Counters for the status line and the summary; logs the window stage's bar memory reports.
    void publish(pipeline_stats& st) {
        st.bars.store(sink.bars(), std::memory_order_relaxed);
        st.corrections.store(window.corrections(), std::memory_order_relaxed);
        st.bar_updates.store(sink.bar_updates(), std::memory_order_relaxed);
        st.alerts.store(sink.alerts(), std::memory_order_relaxed);
        st.dead_letters.store(sink.dead_letters(), std::memory_order_relaxed);
        for (std::size_t r = 0; r < k_dead_letter_reasons; ++r)
            st.dead_by_reason[r].store(sink.dead_letters(static_cast<dead_letter_reason>(r)),
                                       std::memory_order_relaxed);
        st.new_bars.store(window.new_bars(), std::memory_order_relaxed);
        st.duplicate_bars.store(window.duplicate_bars(), std::memory_order_relaxed);
        st.bar_revisions.store(window.bar_revisions(), std::memory_order_relaxed);
        st.bars_beyond_memory.store(window.bars_beyond_memory(), std::memory_order_relaxed);
        st.bar_memory_bars.store(window.bar_memory_bars(), std::memory_order_relaxed);
        st.bar_memory_bytes.store(window.bar_memory_bytes(), std::memory_order_relaxed);
        if (bar_metrics != nullptr) bar_metrics->update(window);
        if (stats_metrics != nullptr) stats_metrics->update(st, window);
        log_bar_memory_reports();
    }

    bar_input_metrics* bar_metrics = nullptr;
    pipeline_metrics* stats_metrics = nullptr;

private:
    void log_bar_memory_reports();
    std::vector<bar_memory_report> reports_;
};

using analytics_head = decltype(analytics::head);

} // namespace tapewire
