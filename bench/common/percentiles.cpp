#include "bench/common/percentiles.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tapewire::bench {

std::int64_t nearest_rank(std::span<const std::int64_t> sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

percentiles summarise(std::vector<std::int64_t> samples) {
    std::sort(samples.begin(), samples.end());
    percentiles p;
    p.count = samples.size();
    p.p50 = nearest_rank(samples, 0.50);
    p.p99 = nearest_rank(samples, 0.99);
    p.p999 = nearest_rank(samples, 0.999);
    p.max = samples.empty() ? 0 : samples.back();
    return p;
}

std::string to_json(const percentiles& p) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "{\"count\":%zu,\"p50\":%lld,\"p99\":%lld,\"p999\":%lld,\"max\":%lld}", p.count,
                  static_cast<long long>(p.p50), static_cast<long long>(p.p99), static_cast<long long>(p.p999),
                  static_cast<long long>(p.max));
    return buf;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace tapewire::bench
