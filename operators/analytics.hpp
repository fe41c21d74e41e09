// window → vwap → anomaly → Sink, fused on one thread: the chain the runtime and the benchmark both
// run behind parse. Pinned in memory once built (the links hold pointers), so not copyable.
#pragma once

#include <utility>

#include "operators/anomaly.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"
#include "tapewire/stage.hpp"

namespace tapewire {

// Several widths: vwap keeps its state per width, anomaly judges the narrowest width's bars only.
inline vwap_options with_widths(vwap_options v, const window_options& w) {
    v.widths_ns = w.widths_ns;
    return v;
}
inline anomaly_options with_widths(anomaly_options a, const window_options& w) {
    if (w.widths_ns.size() > 1) a.judged_width_ns = w.widths_ns.front();
    return a;
}

template <class Sink> struct analytics_chain {
    template <class... SinkArgs>
    analytics_chain(const window_options& w, vwap_options v, const anomaly_options& a, SinkArgs&&... sink_args)
        : window(w), vwap(with_widths(std::move(v), w)), anomaly(with_widths(a, w)),
          sink(std::forward<SinkArgs>(sink_args)...) {}
    analytics_chain(const analytics_chain&) = delete;
    analytics_chain& operator=(const analytics_chain&) = delete;

    window_stage window;
    vwap_stage vwap;
    anomaly_stage anomaly;
    Sink sink;
    link<anomaly_stage, Sink> to_sink{anomaly, sink};
    link<vwap_stage, link<anomaly_stage, Sink>> to_anomaly{vwap, to_sink};
    link<window_stage, link<vwap_stage, link<anomaly_stage, Sink>>> head{window, to_anomaly}; // feed this
};

} // namespace tapewire
