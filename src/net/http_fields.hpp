// HTTP header fields without I/O: the checks that keep a header from breaking a request, "Name:
// value" lines as a config writes them, and Retry-After (RFC 9110 10.2.3) read into a wait. For
// the client, the Yahoo fetcher, the alerts webhook and the config checks alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tapewire::net {

// A request header beyond those the client sets itself (Host, User-Agent, Accept, Content-Type...).
struct http_header {
    std::string name;  // an RFC 9110 token: "Idempotency-Key"
    std::string value; // no CR, LF or NUL
};

// An RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~, at least one.
bool is_header_name(std::string_view name) noexcept;
// Nothing that would end the header line: no CR, LF or NUL.
bool is_header_value(std::string_view value) noexcept;

// "Authorization: Bearer x" -> {"Authorization", "Bearer x"} (spaces around the value trimmed);
// nullopt without a colon, with a name that is not a token or a value that fails is_header_value.
std::optional<http_header> parse_header_line(std::string_view line);

// delay-seconds or an HTTP-date, as a wait in ns from `now_wall_ns` (0 for a date in the past);
// nullopt when absent or unreadable.
std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_wall_ns);

} // namespace tapewire::net
