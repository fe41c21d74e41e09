// Time zones from the system's compiled tz database (TZif files, RFC 8536), read once at startup so
// the session calendar the operators use stays a pure lookup table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/session_calendar.hpp"

namespace tapewire {

// Years past the file's own transitions are filled in from its POSIX TZ footer up to this one.
inline constexpr int k_tz_last_year = 2100;

// UTC offset changes of zone `name` (e.g. "America/New_York"), sorted, consecutive equal offsets
// merged. The first entry has at = k_no_time and gives the offset before any recorded change.
// "UTC" needs no file. Throws std::runtime_error("unknown time zone 'X'") when the name is not a
// relative path inside `zoneinfo_dir` or no such file exists, and std::runtime_error for a file
// that is not valid TZif.
[[nodiscard]] std::vector<utc_offset_change> load_time_zone(const std::string& name,
                                                            const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

// The same from the bytes of a TZif file; `name` only labels errors.
[[nodiscard]] std::vector<utc_offset_change> parse_tzif(std::string_view data, const std::string& name);

// "HH:MM" (00:00 to 23:59) as seconds after midnight; nullopt when malformed.
[[nodiscard]] std::optional<std::int64_t> parse_time_of_day(std::string_view hhmm);

// Sessions of `tz_name` that begin at local `session_start_hhmm` ("09:30" -> 34200 s) each day.
// Throws std::runtime_error for an unknown zone or a malformed start.
[[nodiscard]] session_calendar make_session_calendar(const std::string& tz_name, const std::string& session_start_hhmm);

} // namespace tapewire
