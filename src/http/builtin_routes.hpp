// The routes that need no pipeline data: /healthz (the process is alive and serving) and /metrics
// (the metrics registry as the Prometheus text exposition, src/http/prometheus.hpp).
#pragma once

#include "src/base/metrics.hpp"
#include "src/http/router.hpp"

namespace tapewire::http {

// Adds /healthz and /metrics to `r`.
void add_builtin_routes(router& r, metrics_registry& metrics);

} // namespace tapewire::http
