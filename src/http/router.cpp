#include "src/http/router.hpp"

#include <algorithm>
#include <charconv>
#include <exception>

#include "src/base/duration_text.hpp"
#include "src/base/log.hpp"
#include "src/net/url.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/symbol.hpp"

namespace tapewire::http {

namespace {

// The value as the client wrote it, for an error message: quoted, cut short.
std::string shown(std::string_view v) {
    constexpr std::size_t k_max = 40;
    return json_quote(v.size() > k_max ? std::string(v.substr(0, k_max)) + "..." : std::string(v));
}

[[noreturn]] void fail(std::string_view name, const std::string& why) {
    throw bad_request(std::string(name) + ": " + why);
}

std::string symbol_problem(std::string_view s) {
    if (s.empty()) return "must not be empty";
    if (s.size() > symbol::k_max_size) return "a symbol is at most " + std::to_string(symbol::k_max_size) + " bytes";
    for (const char c : s)
        if (c <= 0x20 || c >= 0x7f || c == ',' || c == '"' || c == '\\')
            return "a symbol holds printable characters other than ',', '\"' and '\\', got " + shown(s);
    return {};
}

} // namespace

std::string json_quote(std::string_view s) {
    std::string out(s.size() * 6 + 2, '\0'); // \u00XX is the longest escape
    json_buffer b(out.data(), out.size());
    b.string(s);
    out.resize(b.size());
    return out;
}

request::request(std::string_view target) {
    const auto q = target.find('?');
    auto p = net::percent_decode(target.substr(0, q), false);
    if (!p) throw bad_request("path: malformed percent escape");
    path_ = std::move(*p);
    if (q == std::string_view::npos) return;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        if (pair.empty()) continue; // "a=1&&b=2"
        const auto eq = pair.find('=');
        auto name = net::percent_decode(pair.substr(0, eq), true);
        auto value = net::percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
        if (!name || !value) throw bad_request("query: malformed percent escape");
        if (name->empty()) throw bad_request("query: a parameter without a name");
        if (find(*name) != nullptr) fail(*name, "given twice");
        params_.push_back({std::move(*name), std::move(*value)});
    }
}

const request::parameter* request::find(std::string_view name) const {
    for (const auto& p : params_)
        if (p.name == name) return &p;
    return nullptr;
}

std::optional<std::string_view> request::param(std::string_view name) const {
    const parameter* p = find(name);
    if (p == nullptr) return std::nullopt;
    p->read = true;
    return std::string_view(p->value);
}

std::int64_t request::param_int(std::string_view name, std::int64_t min, std::int64_t max,
                                std::int64_t fallback) const {
    const auto v = param(name);
    if (!v) return fallback;
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (v->empty() || ec != std::errc{} || end != v->data() + v->size() || n < min || n > max)
        fail(name,
             "must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + shown(*v));
    return n;
}

std::string request::param_symbol(std::string_view name, std::optional<std::string_view> fallback) const {
    const auto v = param(name);
    if (!v) {
        if (fallback) return std::string(*fallback);
        fail(name, "required");
    }
    if (auto why = symbol_problem(*v); !why.empty()) fail(name, why);
    return std::string(*v);
}

std::vector<std::string> request::param_list(std::string_view name, std::size_t max_items) const {
    std::vector<std::string> out;
    const auto v = param(name);
    if (!v) return out;
    std::string_view rest = *v;
    for (;;) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        if (auto why = symbol_problem(item); !why.empty()) fail(name, why);
        if (std::find(out.begin(), out.end(), item) != out.end()) fail(name, shown(item) + " is listed twice");
        if (out.size() == max_items) fail(name, "at most " + std::to_string(max_items) + " items");
        out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    return out;
}

std::string request::param_choice(std::string_view name, std::initializer_list<std::string_view> choices,
                                  std::string_view fallback) const {
    const auto v = param(name);
    if (!v) return std::string(fallback);
    if (std::find(choices.begin(), choices.end(), *v) != choices.end()) return std::string(*v);
    std::string list;
    for (const auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    fail(name, "must be one of " + list + ", got " + shown(*v));
}

std::chrono::nanoseconds request::param_duration(std::string_view name, std::chrono::nanoseconds fallback) const {
    const auto v = param(name);
    if (!v) return fallback;
    const auto d = parse_duration(*v);
    if (!d || *d <= std::chrono::nanoseconds::zero())
        fail(name, "must be a positive duration with a unit (e.g. 1m, 250ms), got " + shown(*v));
    return *d;
}

std::string request::unread_param() const {
    for (const auto& p : params_)
        if (!p.read) return p.name;
    return {};
}

response response::json(std::string body, unsigned status) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

response response::text(std::string body, std::string content_type) {
    response r;
    r.content_type = std::move(content_type);
    r.body = std::move(body);
    return r;
}

response response::error(unsigned status, std::string_view message) {
    return json("{\"error\":" + json_quote(message) + "}", status);
}

response response::event_stream(std::vector<std::string> keys) {
    response r;
    r.content_type = "text/event-stream";
    r.stream = true;
    r.stream_keys = std::move(keys);
    return r;
}

void router::add(std::string path, handler h) { routes_.insert_or_assign(std::move(path), std::move(h)); }

bool router::has(std::string_view path) const { return routes_.find(path) != routes_.end(); }

response router::handle(const request& r) const {
    const auto it = routes_.find(r.path());
    if (it == routes_.end()) return response::error(404, "no such path: " + r.path());
    try {
        response out = it->second(r);
        if (const std::string unread = r.unread_param(); !unread.empty())
            return response::error(400, unread + ": unknown parameter");
        return out;
    } catch (const bad_request& e) {
        return response::error(400, e.what());
    } catch (const std::exception& e) {
        log::error("http", "handler failed", {{"path", r.path()}, {"error", e.what()}});
        return response::error(500, "internal error");
    }
}

} // namespace tapewire::http
