// window → vwap → anomaly → Sink, fused on one thread: the chain the runtime and the benchmark both
// run behind parse. Pinned in memory once built (the links hold pointers), so not copyable.
#pragma once

#include <utility>

#include "operators/anomaly.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"
#include "tapewire/stage.hpp"

namespace tapewire {

template <class Sink> struct analytics_chain {
    template <class... SinkArgs>
    analytics_chain(const window_options& w, vwap_options v, const anomaly_options& a, SinkArgs&&... sink_args)
        : window(w), vwap(std::move(v)), anomaly(a), sink(std::forward<SinkArgs>(sink_args)...) {}
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
