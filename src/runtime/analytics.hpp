// The chain the thread that owns the operators runs behind parse: window → vwap → anomaly → the
// configured outputs, fused; and its counters for the status line.
#pragma once

#include <atomic>
#include <cstddef>

#include "operators/analytics.hpp"
#include "src/runtime/pipeline.hpp"
#include "src/sink/outputs.hpp"

namespace tapewire {

struct analytics : analytics_chain<output_sink> {
    using analytics_chain::analytics_chain;

    void publish(pipeline_stats& st) const {
        st.bars.store(sink.bars(), std::memory_order_relaxed);
        st.corrections.store(window.corrections(), std::memory_order_relaxed);
        st.alerts.store(sink.alerts(), std::memory_order_relaxed);
        st.dead_letters.store(sink.dead_letters(), std::memory_order_relaxed);
        for (std::size_t r = 0; r < k_dead_letter_reasons; ++r)
            st.dead_by_reason[r].store(sink.dead_letters(static_cast<dead_letter_reason>(r)),
                                       std::memory_order_relaxed);
    }
};

using analytics_head = decltype(analytics::head);

} // namespace tapewire
