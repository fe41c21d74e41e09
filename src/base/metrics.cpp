#include "src/base/metrics.hpp"

#include <bit>

namespace tapewire {

std::size_t histogram::bucket_of(std::int64_t v) noexcept {
    if (v < k_sub) return v <= 0 ? 0 : static_cast<std::size_t>(v);
    const auto u = static_cast<std::uint64_t>(v);
    const int top = 63 - std::countl_zero(u); // >= k_sub_bits
    const int octave = top - k_sub_bits + 1;
    const auto sub = static_cast<std::size_t>((u >> (top - k_sub_bits)) & (k_sub - 1));
    const std::size_t b = static_cast<std::size_t>(octave) * k_sub + sub;
    return b < k_buckets ? b : k_buckets - 1;
}

std::int64_t histogram::upper_bound_of(std::size_t bucket) noexcept {
    if (bucket < static_cast<std::size_t>(k_sub)) return static_cast<std::int64_t>(bucket);
    const auto octave = static_cast<int>(bucket / k_sub);
    const auto sub = static_cast<std::uint64_t>(bucket % k_sub);
    const int top = octave + k_sub_bits - 1;
    const std::uint64_t low = (std::uint64_t{1} << top) | (sub << (top - k_sub_bits));
    return static_cast<std::int64_t>(low + (std::uint64_t{1} << (top - k_sub_bits)) - 1);
}

std::int64_t histogram::quantile(double q) const noexcept {
    const std::uint64_t n = count();
    if (n == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n));
    if (rank >= n) rank = n - 1;
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < k_buckets; ++b) {
        seen += buckets_[b].load(std::memory_order_relaxed);
        if (seen > rank) return upper_bound_of(b);
    }
    return upper_bound_of(k_buckets - 1);
}

namespace {

template <class T, class Index>
T& find_or_add(std::mutex& mu, std::deque<T>& store, Index& index, const std::string& name, const std::string& help) {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = index.find(name); it != index.end()) return *it->second.metric;
    T& m = store.emplace_back();
    index.emplace(name, typename Index::mapped_type{help, &m});
    return m;
}

} // namespace

counter& metrics_registry::get_counter(const std::string& name, const std::string& help) {
    return find_or_add(mu_, counters_, counter_index_, name, help);
}

gauge& metrics_registry::get_gauge(const std::string& name, const std::string& help) {
    return find_or_add(mu_, gauges_, gauge_index_, name, help);
}

histogram& metrics_registry::get_histogram(const std::string& name, const std::string& help) {
    return find_or_add(mu_, histograms_, histogram_index_, name, help);
}

std::vector<metrics_registry::sample> metrics_registry::snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, sample> out;
    for (const auto& [name, s] : counter_index_)
        out[name] = sample{name, "counter", s.help, static_cast<std::int64_t>(s.metric->value())};
    for (const auto& [name, s] : gauge_index_) out[name] = sample{name, "gauge", s.help, s.metric->value()};
    for (const auto& [name, s] : histogram_index_) {
        sample x{name, "histogram", s.help};
        x.count = s.metric->count();
        x.sum = s.metric->sum();
        x.p50 = s.metric->quantile(0.5);
        x.p99 = s.metric->quantile(0.99);
        x.max_bucket = s.metric->quantile(1.0);
        x.buckets.resize(histogram::k_buckets);
        for (std::size_t b = 0; b < histogram::k_buckets; ++b) x.buckets[b] = s.metric->bucket_count(b);
        out[name] = x;
    }
    std::vector<sample> v;
    v.reserve(out.size());
    for (auto& [_, s] : out) v.push_back(std::move(s));
    return v;
}

} // namespace tapewire
