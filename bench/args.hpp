// Command-line number readers the benchmark subcommands share.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace tapewire::bench {

// The whole text as a number of type T (integers), nothing left over.
template <class T> bool parse_number(std::string_view s, T& out) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// A finite, non-negative decimal.
inline bool parse_double(const char* s, double& out) {
    char* end = nullptr;
    out = std::strtod(s, &end);
    return end != s && *end == '\0' && std::isfinite(out) && out >= 0;
}

} // namespace tapewire::bench
