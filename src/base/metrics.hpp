// One registry of named counters, gauges and histograms that every component registers into and
// the observability issue will expose (Prometheus text, the dashboard). Updating a metric is one
// relaxed atomic operation on memory the component holds a reference to: no lookup, no lock on the
// hot path. Registration takes a lock and happens at start-up or on a partition assignment.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tapewire {

class counter {
public:
    void add(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

class gauge {
public:
    void set(std::int64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
    void add(std::int64_t d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
    [[nodiscard]] std::int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> v_{0};
};

// Log-linear buckets over nanoseconds (or any non-negative integer): 8 sub-buckets per power of two,
// so a quantile read back is within 12.5 % of the true value, from 1 to 2^40 (~18 minutes in ns).
class histogram {
public:
    static constexpr int k_sub_bits = 3;
    static constexpr int k_sub = 1 << k_sub_bits;
    static constexpr int k_octaves = 41;
    static constexpr std::size_t k_buckets = static_cast<std::size_t>(k_octaves) * k_sub;

    void record(std::int64_t v) noexcept {
        buckets_[bucket_of(v)].fetch_add(1, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
        sum_.fetch_add(v > 0 ? static_cast<std::uint64_t>(v) : 0, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t bucket_count(std::size_t b) const noexcept {
        return buckets_[b].load(std::memory_order_relaxed);
    }
    // The upper bound of the bucket holding the q-quantile (0 when empty).
    [[nodiscard]] std::int64_t quantile(double q) const noexcept;

    static std::size_t bucket_of(std::int64_t v) noexcept;
    static std::int64_t upper_bound_of(std::size_t bucket) noexcept;

private:
    std::array<std::atomic<std::uint64_t>, k_buckets> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_{0};
};

// Metrics are named like Prometheus series: "kafka_consumer_lag{partition=\"3\"}". Entries are
// never removed, so references handed out stay valid for the registry's life.
class metrics_registry {
public:
    counter& get_counter(const std::string& name, const std::string& help = {});
    gauge& get_gauge(const std::string& name, const std::string& help = {});
    histogram& get_histogram(const std::string& name, const std::string& help = {});

    struct sample {
        std::string name, kind, help;
        std::int64_t value = 0; // counter and gauge
        std::uint64_t count = 0, sum = 0;
        std::int64_t p50 = 0, p99 = 0, max_bucket = 0; // histogram
        std::vector<std::uint64_t> buckets;            // histogram: count per bucket (histogram::k_buckets)
    };
    // A consistent-enough copy of every metric, sorted by name, for reports and the exporter.
    [[nodiscard]] std::vector<sample> snapshot() const;

private:
    template <class T> struct slot {
        std::string help;
        T* metric;
    };
    mutable std::mutex mu_;
    std::deque<counter> counters_;
    std::deque<gauge> gauges_;
    std::deque<histogram> histograms_;
    std::map<std::string, slot<counter>> counter_index_;
    std::map<std::string, slot<gauge>> gauge_index_;
    std::map<std::string, slot<histogram>> histogram_index_;
};

} // namespace tapewire
