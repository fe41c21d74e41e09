#include "src/http/builtin_routes.hpp"

#include "src/http/prometheus.hpp"

namespace tapewire::http {

void add_builtin_routes(router& r, metrics_registry& metrics) {
    r.add("/healthz", [](const request&) { return response::json("{\"status\":\"ok\"}"); });
    r.add("/metrics", [&metrics, build = this_build()](const request&) {
        return response::text(expose(metrics, build), k_exposition_content_type);
    });
}

} // namespace tapewire::http
