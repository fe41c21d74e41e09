#include "src/net/url.hpp"

#include <cctype>
#include <charconv>
#include <stdexcept>

#include <arpa/inet.h>

namespace tapewire::net {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

const char* default_port(std::string_view scheme) { return scheme == "https" || scheme == "wss" ? "443" : "80"; }

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw std::invalid_argument("bad URL \"" + std::string(text) + "\": " + why);
}

} // namespace

std::string url::host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + host + "]" : host;
    if (port != default_port(scheme)) h += ":" + port;
    return h;
}

url parse_url(std::string_view text) {
    url u;
    const auto sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0) bad(text, "no scheme");
    u.scheme = lower(text.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https" && u.scheme != "ws" && u.scheme != "wss")
        bad(text, "unknown scheme \"" + u.scheme + "\"");

    std::string_view rest = text.substr(sep + 3);
    rest = rest.substr(0, rest.find('#')); // a fragment never goes on the wire
    const auto auth_end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, auth_end);
    const std::string_view target = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (authority.find('@') != std::string_view::npos) bad(text, "user info is not supported");

    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) bad(text, "unterminated IPv6 literal");
        host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') bad(text, "junk after the IPv6 literal");
            port = after.substr(1);
            if (port.empty()) bad(text, "empty port");
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        if (port.empty()) bad(text, "empty port");
    }
    if (host.empty()) bad(text, "empty host");
    u.host = lower(host);

    if (port.empty()) {
        u.port = default_port(u.scheme);
    } else {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            bad(text, "bad port \"" + std::string(port) + "\"");
        u.port = std::to_string(value);
    }

    if (target.empty())
        u.target = "/";
    else if (target.front() == '?')
        u.target = "/" + std::string(target);
    else
        u.target = std::string(target);
    return u;
}

std::string percent_encode(std::string_view text) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 0x0f];
        }
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+' && plus_is_space) {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string listen_address::text() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

listen_address parse_listen_address(std::string_view text) {
    const auto bad_address = [&](const std::string& why) {
        return std::invalid_argument("bad listen address \"" + std::string(text) + "\": " + why);
    };
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) throw bad_address("unterminated IPv6 literal");
        host = text.substr(1, close - 1);
        if (close + 1 >= text.size() || text[close + 1] != ':') throw bad_address("expected host:port");
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad_address("expected host:port, e.g. 127.0.0.1:8080");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) throw bad_address("an IPv6 host goes in brackets: [::1]:8080");
    }
    listen_address a;
    a.host = host == "localhost" ? "127.0.0.1" : std::string(host);
    unsigned char scratch[16];
    const bool v6 = a.host.find(':') != std::string::npos;
    if (a.host.empty() || inet_pton(v6 ? AF_INET6 : AF_INET, a.host.c_str(), scratch) != 1)
        throw bad_address("host must be an IP address such as 127.0.0.1, 0.0.0.0 or [::1]");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        throw bad_address("port must be a number from 0 to 65535");
    a.port = static_cast<std::uint16_t>(value);
    return a;
}

} // namespace tapewire::net
