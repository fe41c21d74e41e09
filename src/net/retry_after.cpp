#include "src/net/retry_after.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <string>

namespace tapewire::net {

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
