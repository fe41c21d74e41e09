// The yahoo-chart and yahoo-stream sources as a message_source: a fetch thread ("tw-fetch") runs
// an io_context with the supervised tasks (chart workers, or one websocket per group of symbols);
// what they make waits in a fetch_outbox until the source thread takes it.
#pragma once

#include <memory>

#include "src/base/message_source.hpp"
#include "src/base/metrics.hpp"
#include "tapewire/config.hpp"

namespace tapewire {

// Throws std::runtime_error when the source cannot start: a bad URL, an unreadable CA file.
std::unique_ptr<message_source> make_yahoo_source(const config& cfg, metrics_registry& metrics);

} // namespace tapewire
