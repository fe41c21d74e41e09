// The routes that need no pipeline data: /healthz (the process is alive and serving) and /metrics
// (the metrics registry as Prometheus text).
#pragma once

#include <string>
#include <vector>

#include "src/base/metrics.hpp"
#include "src/http/router.hpp"

namespace tapewire::http {

// The registry's samples in the Prometheus text format (0.0.4): counters and gauges as one line each
// (their names already carry their labels), histograms as _count and _sum lines. Untyped: the
// exposition with TYPE, HELP and buckets is src/http/prometheus (issue 12, package B).
[[nodiscard]] std::string metrics_text(const std::vector<metrics_registry::sample>& samples);

// Adds /healthz and /metrics to `r`.
void add_builtin_routes(router& r, metrics_registry& metrics);

} // namespace tapewire::http
