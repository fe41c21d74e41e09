#include "src/http/prometheus.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace tapewire::http {

namespace {

bool name_start(char c, bool colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool name_char(char c, bool colon) { return name_start(c, colon) || (c >= '0' && c <= '9'); }

bool valid_name(std::string_view s, bool colon) {
    if (s.empty() || !name_start(s[0], colon)) return false;
    for (const char c : s)
        if (!name_char(c, colon)) return false;
    return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// prometheus-cpp 1.0.1 writes HELP as given; the format wants \ and newline escaped there.
std::string escape_help(std::string_view help) {
    std::string out;
    out.reserve(help.size());
    for (const char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

struct exposed_name {
    std::string family;
    double divisor = 1; // divides values, histogram bounds and sums (a division rounds 1023/1e9 to 1.023e-06)
};

// The family a registry metric is exposed as: nanoseconds in seconds, counters ending _total.
exposed_name exposed(std::string_view family, const std::string& kind) {
    std::string stem(family);
    bool total = false;
    if (kind == "counter" && ends_with(stem, "_total")) {
        stem.resize(stem.size() - 6);
        total = true;
    }
    exposed_name e;
    if (ends_with(stem, "_ns")) {
        stem.replace(stem.size() - 3, 3, "_seconds");
        e.divisor = 1e9;
    }
    if (kind == "counter" || total) stem += "_total";
    e.family = std::move(stem);
    return e;
}

prometheus::MetricType type_of(const std::string& kind) {
    if (kind == "counter") return prometheus::MetricType::Counter;
    if (kind == "gauge") return prometheus::MetricType::Gauge;
    return prometheus::MetricType::Histogram;
}

void fill_histogram(prometheus::ClientMetric& m, const metrics_registry::sample& s, std::string_view family,
                    double divisor) {
    const std::vector<std::int64_t> bounds = histogram_bounds(family);
    std::uint64_t total = 0;
    std::size_t b = 0;
    for (const std::int64_t le : bounds) {
        for (; b < s.buckets.size() && histogram::upper_bound_of(b) <= le; ++b) total += s.buckets[b];
        m.histogram.bucket.push_back({total, static_cast<double>(le) / divisor});
    }
    for (; b < s.buckets.size(); ++b) total += s.buckets[b];
    m.histogram.bucket.push_back({total, std::numeric_limits<double>::infinity()});
    // The buckets were read one by one: their sum, not the separate count, keeps +Inf == _count.
    m.histogram.sample_count = total;
    m.histogram.sample_sum = static_cast<double>(s.sum) / divisor;
}

} // namespace

build_info this_build() {
#if defined(__clang__)
    const char* compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char* compiler = "gcc " __VERSION__;
#else
    const char* compiler = "unknown";
#endif
    return {TAPEWIRE_VERSION, compiler};
}

std::optional<series_name> parse_series_name(std::string_view name) {
    series_name out;
    const std::size_t brace = name.find('{');
    out.family = std::string(name.substr(0, brace));
    if (!valid_name(out.family, true)) return std::nullopt;
    if (brace == std::string_view::npos) return out;
    std::size_t i = brace + 1;
    while (i < name.size() && name[i] != '}') {
        const std::size_t eq = name.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= name.size() || name[eq + 1] != '"') return std::nullopt;
        std::string label(name.substr(i, eq - i));
        if (!valid_name(label, false)) return std::nullopt;
        std::string value;
        std::size_t j = eq + 2;
        for (; j < name.size() && name[j] != '"'; ++j) {
            if (name[j] != '\\') {
                value += name[j];
                continue;
            }
            if (++j == name.size()) return std::nullopt;
            value += name[j] == 'n' ? '\n' : name[j]; // \\ and \" stand for themselves
        }
        if (j == name.size()) return std::nullopt; // unclosed quote
        out.labels.emplace_back(std::move(label), std::move(value));
        i = j + 1;
        if (i < name.size() && name[i] == ',') ++i;
    }
    if (i + 1 != name.size()) return std::nullopt; // no closing brace, or text after it
    return out;
}

std::vector<std::int64_t> histogram_bounds(std::string_view family) {
    std::vector<std::int64_t> bounds;
    const bool nanoseconds = ends_with(family, "_ns");
    const int first = nanoseconds ? 10 : 0, last = nanoseconds ? 36 : 40, step = nanoseconds ? 1 : 2;
    for (int k = first; k <= last; k += step) bounds.push_back((std::int64_t{1} << k) - 1);
    return bounds;
}

std::string expose(const std::vector<metrics_registry::sample>& samples, const build_info& build) {
    std::vector<prometheus::MetricFamily> families;
    std::map<std::string, std::size_t> family_index;
    std::set<std::pair<std::string, std::vector<prometheus::ClientMetric::Label>>> seen;
    for (const auto& s : samples) {
        auto parsed = parse_series_name(s.name);
        if (!parsed) continue;
        const exposed_name e = exposed(parsed->family, s.kind);
        const prometheus::MetricType type = type_of(s.kind);
        auto [it, added] = family_index.try_emplace(e.family, families.size());
        if (added) families.push_back({e.family, escape_help(s.help), type, {}});
        prometheus::MetricFamily& f = families[it->second];
        if (f.type != type) continue;
        if (f.help.empty()) f.help = escape_help(s.help);
        prometheus::ClientMetric m;
        bool le_taken = false;
        for (auto& [k, v] : parsed->labels) {
            le_taken = le_taken || k == "le";
            m.label.push_back({std::move(k), std::move(v)});
        }
        std::sort(m.label.begin(), m.label.end());
        if ((type == prometheus::MetricType::Histogram && le_taken) || !seen.emplace(e.family, m.label).second)
            continue;
        if (type == prometheus::MetricType::Counter)
            m.counter.value = static_cast<double>(static_cast<std::uint64_t>(s.value)) / e.divisor;
        else if (type == prometheus::MetricType::Gauge)
            m.gauge.value = static_cast<double>(s.value) / e.divisor;
        else
            fill_histogram(m, s, parsed->family, e.divisor);
        f.metric.push_back(std::move(m));
    }
    prometheus::MetricFamily info{
        "tapewire_build_info", "the running binary: version and compiler; always 1", prometheus::MetricType::Gauge, {}};
    prometheus::ClientMetric one;
    one.label = {{"compiler", build.compiler}, {"version", build.version}};
    one.gauge.value = 1;
    info.metric.push_back(std::move(one));
    families.push_back(std::move(info));
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    return out.str();
}

std::string expose(const metrics_registry& metrics, const build_info& build) {
    return expose(metrics.snapshot(), build);
}

} // namespace tapewire::http
