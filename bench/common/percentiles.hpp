// Percentiles over recorded samples, as every bench reports them: nearest rank over all the values,
// never interpolated and never from a histogram.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tapewire::bench {

// Nearest rank: the smallest value with at least p·n values at or below it (p in [0, 1]; p = 0
// gives the smallest, p = 1 the largest). `sorted` ascending; 0 when it is empty.
[[nodiscard]] std::int64_t nearest_rank(std::span<const std::int64_t> sorted, double p);

struct percentiles {
    std::size_t count = 0;
    std::int64_t p50 = 0, p99 = 0, p999 = 0, max = 0;
};

// Sorts the samples and takes their p50, p99, p99.9 and largest value (all 0 when there are none).
[[nodiscard]] percentiles summarise(std::vector<std::int64_t> samples);

// {"count":N,"p50":..,"p99":..,"p999":..,"max":..}
[[nodiscard]] std::string to_json(const percentiles& p);

// The middle value, the upper of the two middle ones for an even count (as run.sh's summaries);
// 0 when empty.
[[nodiscard]] double median(std::vector<double> v);

} // namespace tapewire::bench
