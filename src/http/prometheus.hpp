// The metrics registry as the Prometheus text exposition (format 0.0.4), built as prometheus-cpp
// metric families and written by its TextSerializer. The hot path keeps the registry's atomics; this
// runs only when /metrics is asked for.
//
// Names: a registry name "family{label=\"v\",...}" becomes the family and its labels. Families ending
// `_ns` are exposed in seconds (`_seconds`, values divided by 1e9, Prometheus' base unit); counters
// get the `_total` suffix the format expects when they lack it. Histograms get fixed `le` bounds
// 2^k - 1 in the recorded unit (k = 10..36 for nanoseconds: ~1 µs to ~69 s), which are upper edges of
// the registry's log-linear buckets, so each cumulative count is an exact sum of recorded buckets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/metrics.hpp"

namespace tapewire::http {

inline constexpr const char* k_exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

// What tapewire_build_info{...} 1 says about this binary.
struct build_info {
    std::string version;
    std::string compiler;
};

// This binary's version (TAPEWIRE_VERSION) and compiler.
[[nodiscard]] build_info this_build();

// A registry name split into its family and labels (values unescaped: \\, \" and \n).
struct series_name {
    std::string family;
    std::vector<std::pair<std::string, std::string>> labels;
};

// Nullopt when the name is not a valid Prometheus series (bad family or label name, unclosed quote).
[[nodiscard]] std::optional<series_name> parse_series_name(std::string_view name);

// The `le` bounds (in the recorded unit) a histogram named `family` is exposed with.
[[nodiscard]] std::vector<std::int64_t> histogram_bounds(std::string_view family);

// The exposition of `samples` (as metrics_registry::snapshot() gives them) plus tapewire_build_info.
// Samples whose name does not parse, or that repeat a series or change a family's type, are left out.
[[nodiscard]] std::string expose(const std::vector<metrics_registry::sample>& samples, const build_info& build);
[[nodiscard]] std::string expose(const metrics_registry& metrics, const build_info& build);

} // namespace tapewire::http
