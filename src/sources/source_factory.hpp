// Builds the source a config names: synthetic, replay, yahoo-chart or yahoo-stream.
#pragma once

#include <memory>

#include "src/base/message_source.hpp"
#include "src/base/metrics.hpp"
#include "src/sources/source_context.hpp"
#include "tapewire/config.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

// Builds the source named by cfg.kind; network sources register their metrics in `metrics`, and a
// failure of their fetch thread goes to `on_error` (the pipeline's: it stops the run). `context`
// carries what the runtime read for it (yahoo-chart: where each symbol's gap backfill starts).
// Throws std::runtime_error with a clear message when it cannot start (a replay file missing, a
// labels file not writable, a bad start time, a CA file that cannot be read).
std::unique_ptr<message_source> make_message_source(const source_config& cfg, metrics_registry& metrics,
                                                    error_handler on_error, const source_context& context = {});

} // namespace tapewire
