// Retry-After (RFC 9110 10.2.3) read into a wait, for everything that retries an HTTP server
// (the Yahoo fetcher, the alerts webhook). No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tapewire::net {

// delay-seconds or an HTTP-date, as a wait in ns from `now_wall_ns` (0 for a date in the past);
// nullopt when absent or unreadable.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_wall_ns);

} // namespace tapewire::net
