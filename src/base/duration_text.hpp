// Durations as people write them in configs, on the command line and in log lines: a decimal number
// and a unit. The one reader and the one writer of duration text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tapewire/config.hpp"

namespace tapewire {

// "250ms", "1s", "1.5s", "2h", "100us", "500ns", "1d", "0". Units: ns us ms s m h d.
// nullopt for anything else: no sign, no spaces, no exponent, and the value must be a whole number
// of nanoseconds that fits the type.
[[nodiscard]] std::optional<duration> parse_duration(std::string_view s);

// The shortest text parse_duration reads back to exactly `d`: "250ms", "1s", "1m", "1.5s", "0".
// Negative durations keep a leading '-', which parse_duration rejects.
[[nodiscard]] std::string format_duration(duration d);

// `d` rounded (half away from zero) to `digits` significant decimal digits, for a measured or
// jittered duration that reads better as "1.23s" than as "1.234567891s". Needs digits >= 1.
[[nodiscard]] duration round_significant(duration d, int digits) noexcept;

} // namespace tapewire
