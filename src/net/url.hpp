// Absolute URLs as the fetcher needs them: scheme, host, port and the request target. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tapewire::net {

struct url {
    std::string scheme; // "http", "https", "ws" or "wss" (lower case)
    std::string host;   // "query2.finance.yahoo.com", "127.0.0.1"; IPv6 literals without brackets
    std::string port;   // always set: explicit, else 80 / 443 by scheme
    std::string target; // path and query, "/" when the URL has none; never holds a fragment

    [[nodiscard]] bool tls() const noexcept { return scheme == "https" || scheme == "wss"; }
    // "host" or "host:port" when the port is not the scheme's default, for the Host header.
    [[nodiscard]] std::string host_header() const;
};

// Parses "scheme://host[:port][/path][?query]". Throws std::invalid_argument naming what is wrong
// (unknown scheme, user info, empty host, bad port).
url parse_url(std::string_view text);

// Percent-encodes everything outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~), for a
// symbol in a path segment or a query value: "^GSPC" -> "%5EGSPC", "BRK/B" -> "BRK%2FB".
std::string percent_encode(std::string_view text);

// The inverse, for a request's path and query: "%5EGSPC" -> "^GSPC"; with `plus_is_space` (a query
// component, as forms send it) "+" -> " ". Nothing on a malformed escape ("%G1", "%4") or one that
// decodes to a NUL byte.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// A local address to listen on: "127.0.0.1:8080", "0.0.0.0:0", "[::1]:8080", "localhost:8080".
struct listen_address {
    std::string host;       // an IP literal ("localhost" becomes "127.0.0.1"); IPv6 without brackets
    std::uint16_t port = 0; // 0 = any free port
    // "127.0.0.1:8080", "[::1]:8080"
    [[nodiscard]] std::string text() const;
};

// Parses "host:port" with an IPv4 or IPv6 literal (or "localhost") and a port from 0 to 65535.
// Throws std::invalid_argument saying what is wrong.
listen_address parse_listen_address(std::string_view text);

} // namespace tapewire::net
