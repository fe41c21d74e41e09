// The yahoo-chart and yahoo-stream sources as a message_source: a fetch thread (the runner
// "tw-fetch", started by the source thread's first poll()) runs an io_context with the supervised
// tasks (chart workers, or one websocket per group of symbols); what they make waits in a
// fetch_outbox until the source thread takes it.
#pragma once

#include <memory>

#include "src/base/message_source.hpp"
#include "src/base/metrics.hpp"
#include "src/sources/source_context.hpp"
#include "tapewire/config.hpp"
#include "tapewire/runner.hpp"

namespace tapewire {

// Throws std::runtime_error when the source cannot start: a bad URL, an unreadable CA file. An
// exception that escapes the fetch thread (a task's own failures are retried by its supervisor)
// goes to `on_error`, and the fetch thread ends.
// `context`: the chart poller's gap backfill starts.
std::unique_ptr<message_source> make_yahoo_source(const source_config& cfg, metrics_registry& metrics,
                                                  error_handler on_error, const source_context& context = {});

} // namespace tapewire
