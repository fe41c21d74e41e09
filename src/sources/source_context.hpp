// What the runtime knows about a source's past that the source cannot find out itself: where the
// database's bars end. The runtime reads it (sources may not include src/sql) and hands it over
// through make_message_source.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "tapewire/types.hpp"

namespace tapewire {

struct source_context {
    // yahoo-chart gap backfill: per symbol, the time its history is asked from before the regular
    // polls (the start of the session of its last stored bar). A symbol not listed is not backfilled.
    std::map<std::string, timestamp_ns, std::less<>> backfill_from;
};

} // namespace tapewire
