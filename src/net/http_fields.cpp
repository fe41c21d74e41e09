#include "src/net/http_fields.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <string>

namespace tapewire::net {

bool is_header_name(std::string_view name) noexcept {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

bool is_header_value(std::string_view value) noexcept {
    return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::optional<http_header> parse_header_line(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!is_header_name(name) || !is_header_value(value)) return std::nullopt;
    return http_header{std::string(name), std::string(value)};
}

std::optional<std::int64_t> parse_retry_after(std::string_view value, std::int64_t now_wall_ns) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    std::int64_t seconds = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (r.ec == std::errc() && r.ptr == value.data() + value.size()) {
        if (seconds < 0) return std::nullopt;
        return std::min<std::int64_t>(seconds, 86400 * 365) * 1'000'000'000;
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    std::tm tm{};
    const std::string text(value);
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') return std::nullopt;
    const std::int64_t at_ns = static_cast<std::int64_t>(timegm(&tm)) * 1'000'000'000;
    return at_ns > now_wall_ns ? at_ns - now_wall_ns : 0;
}

} // namespace tapewire::net
