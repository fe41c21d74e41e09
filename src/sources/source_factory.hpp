// Builds the source a config names: synthetic, replay, yahoo-chart or yahoo-stream.
#pragma once

#include <memory>

#include "src/base/message_source.hpp"
#include "src/base/metrics.hpp"
#include "tapewire/config.hpp"

namespace tapewire {

// Builds the source named by cfg.source.kind; network sources register their metrics in `metrics`.
// Throws std::runtime_error with a clear message when it cannot start (a replay file missing, a
// labels file not writable, a bad start time, a CA file that cannot be read).
std::unique_ptr<message_source> make_message_source(const config& cfg, metrics_registry& metrics);

} // namespace tapewire
