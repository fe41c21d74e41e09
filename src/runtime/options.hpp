// From the configuration to each operator's options: the one mapping the runtime, the tests and
// the benchmarks share, so that what they run is what `tapewire run` runs.
#pragma once

#include <string>

#include "operators/anomaly.hpp"
#include "operators/parse.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"
#include "tapewire/config.hpp"

namespace tapewire {

// window.watermark with `auto` resolved: symbol for bar input (source.format = bar, yahoo-chart)
// and replays (usually one file per symbol, each on its own clock); partition for live tick feeds,
// where one clock closes a quiet symbol's bar sooner. `why` (optional) says what decided it.
watermark_mode resolve_watermark(const window_config& w, const source_config& s, std::string* why = nullptr);
window_options to_window_options(const window_config& w, const source_config& s);
anomaly_options to_anomaly_options(const anomaly_config& c);
// Reads the session time zone (throws std::runtime_error when it is unknown).
// The VWAP stage keeps enough history to fold any correction the window stage can still emit.
vwap_options to_vwap_options(const vwap_config& v, const window_config& w);
parse_options to_parse_options(const source_config& s, const window_config& w);

} // namespace tapewire
