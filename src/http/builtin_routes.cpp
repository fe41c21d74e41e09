#include "src/http/builtin_routes.hpp"

namespace tapewire::http {

namespace {

// "name{labels}" + "_count" -> "name_count{labels}".
std::string with_suffix(const std::string& name, const char* suffix) {
    const auto brace = name.find('{');
    if (brace == std::string::npos) return name + suffix;
    return name.substr(0, brace) + suffix + name.substr(brace);
}

} // namespace

std::string metrics_text(const std::vector<metrics_registry::sample>& samples) {
    std::string out;
    for (const auto& s : samples) {
        if (s.kind == "histogram") {
            out += with_suffix(s.name, "_count") + ' ' + std::to_string(s.count) + '\n';
            out += with_suffix(s.name, "_sum") + ' ' + std::to_string(s.sum) + '\n';
        } else {
            out += s.name + ' ' + std::to_string(s.value) + '\n';
        }
    }
    return out;
}

void add_builtin_routes(router& r, metrics_registry& metrics) {
    r.add("/healthz", [](const request&) { return response::json("{\"status\":\"ok\"}"); });
    r.add("/metrics", [&metrics](const request&) {
        return response::text(metrics_text(metrics.snapshot()), "text/plain; version=0.0.4; charset=utf-8");
    });
}

} // namespace tapewire::http
