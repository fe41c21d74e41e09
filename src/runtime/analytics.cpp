// analytics: see analytics.hpp.
#include "src/runtime/analytics.hpp"

#include "src/base/log.hpp"
#include "tapewire/time_text.hpp"

namespace tapewire {

bar_input_metrics::bar_input_metrics(metrics_registry& reg)
    : new_bars_{&reg.get_counter("window_new_bars_total", "bar messages new to the bar memory")},
      duplicates_{&reg.get_counter("window_duplicate_bars_total", "bar messages received again unchanged: no effect")},
      revisions_{&reg.get_counter("window_bar_revisions_total",
                                  "bar messages received again changed: they replaced the earlier values")},
      beyond_{&reg.get_counter("window_bars_beyond_memory_total",
                               "bar messages re-sent older than window.bar_memory: no effect")},
      evicted_{&reg.get_counter("window_bar_memory_evicted_total",
                                "remembered bars forgotten by the per-symbol cap before window.bar_memory passed")},
      updates_{&reg.get_counter("window_bar_updates_total", "open bars sent as live updates (window.emit_updates)")},
      bars_(&reg.get_gauge("window_bar_memory_bars", "bars the bar memory holds")),
      bytes_(&reg.get_gauge("window_bar_memory_bytes", "bytes the bar memory holds (48 a bar, plus slack)")) {}

void bar_input_metrics::update(const window_stage& w) {
    auto step = [](tracked& t, std::uint64_t now) {
        if (now == t.published) return;
        t.c->add(now - t.published);
        t.published = now;
    };
    step(new_bars_, w.new_bars());
    step(duplicates_, w.duplicate_bars());
    step(revisions_, w.bar_revisions());
    step(beyond_, w.bars_beyond_memory());
    step(evicted_, w.bar_memory_evicted());
    step(updates_, w.bar_updates());
    bars_->set(static_cast<std::int64_t>(w.bar_memory_bars()));
    bytes_->set(static_cast<std::int64_t>(w.bar_memory_bytes()));
}

// One line per symbol and pass of re-sent bars that the memory no longer covers.
void analytics::log_bar_memory_reports() {
    window.drain_bar_memory_reports(reports_);
    if (reports_.empty()) return;
    for (const bar_memory_report& r : reports_) {
        const std::string oldest = format_utc(r.oldest_start), from = format_utc(r.memory_from);
        log::warn("window",
                  "re-sent bars older than the bar memory had no effect (they may differ from what was emitted); "
                  "window.bar_memory longer would check them",
                  {{"symbol", r.sym.view()}, {"bars", r.count}, {"oldest", oldest}, {"memory_from", from}});
    }
    reports_.clear();
}

} // namespace tapewire
