// pipeline_metrics: see pipeline_metrics.hpp.
#include "src/runtime/pipeline_metrics.hpp"

#include <string>

namespace tapewire {

namespace {

std::array<counter*, k_dead_letter_reasons> dead_letter_counters(metrics_registry& reg) {
    std::array<counter*, k_dead_letter_reasons> out{};
    for (std::size_t r = 0; r < k_dead_letter_reasons; ++r)
        out[r] = &reg.get_counter("dead_letters_total{reason=\"" +
                                      std::string(to_string(static_cast<dead_letter_reason>(r))) + "\"}",
                                  "inputs rejected and dead-lettered, by reason");
    return out;
}

} // namespace

pipeline_metrics::pipeline_metrics(metrics_registry& reg, const std::atomic<std::uint64_t>& messages_in)
    : messages_in_(messages_in), ticks_in_{&reg.get_counter("ticks_in_total",
                                                            "messages handed from the source (or Kafka) to parse")},
      ticks_out_{&reg.get_counter("ticks_out_total", "ticks parsed and handed to the window stage")},
      bars_{&reg.get_counter("bars_total", "bars emitted, late corrections included")},
      corrections_{&reg.get_counter("bar_corrections_total", "bars emitted again, corrected by a late tick")},
      late_{&reg.get_counter("late_ticks_total", "ticks that arrived behind their window's watermark")},
      alerts_{&reg.get_counter("alerts_total", "anomaly alerts emitted")},
      open_windows_(&reg.get_gauge("open_windows", "bars being built now (symbol x width windows not yet closed)")) {
    const auto counters = dead_letter_counters(reg);
    for (std::size_t r = 0; r < k_dead_letter_reasons; ++r) dead_[r].c = counters[r];
}

void pipeline_metrics::update(const pipeline_stats& st, const window_stage& w) {
    ticks_in_.step(messages_in_.load(std::memory_order_relaxed));
    ticks_out_.step(st.ticks.load(std::memory_order_relaxed));
    bars_.step(st.bars.load(std::memory_order_relaxed));
    corrections_.step(st.corrections.load(std::memory_order_relaxed));
    late_.step(w.late_ticks());
    alerts_.step(st.alerts.load(std::memory_order_relaxed));
    for (std::size_t r = 0; r < k_dead_letter_reasons; ++r)
        dead_[r].step(st.dead_by_reason[r].load(std::memory_order_relaxed));
    open_windows_->set(static_cast<std::int64_t>(w.open_windows()));
}

} // namespace tapewire
