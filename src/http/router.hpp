// The embedded server's routes: an exact path → a handler that reads a parsed request and returns a
// status, a content type and a body, or opens a Server-Sent-Events stream. Parameters are read through
// checked helpers; a bad, repeated or unknown one is a 400 naming it, so every handler validates all of
// its input the same way. No I/O here: the server (server.hpp) reads and writes the bytes.
//
//     r.add("/api/bars", [&](const http::request& q) {
//         const std::string sym = q.param_symbol("symbol");
//         const auto limit = q.param_int("limit", 1, 5000, 500);
//         return http::response::json(bars_json(sym, limit));
//     });
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tapewire::http {

// Thrown by the parameter helpers (or a handler) for input the client got wrong: a 400 whose JSON
// error is what(), e.g. "limit: must be an integer from 1 to 5000, got \"x\"".
struct bad_request : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

class request {
public:
    // Splits and percent-decodes the target ("/api/bars?symbol=%5EGSPC&limit=5"). Throws bad_request
    // for a malformed escape, a parameter without a name or one given twice.
    explicit request(std::string_view target);

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    // The raw value of a parameter, if given ("" for `?flag` and `?flag=`).
    [[nodiscard]] std::optional<std::string_view> param(std::string_view name) const;

    // An integer in [min, max]; `fallback` when absent.
    [[nodiscard]] std::int64_t param_int(std::string_view name, std::int64_t min, std::int64_t max,
                                         std::int64_t fallback) const;
    // A ticker symbol (1 to 15 printable bytes, no ',', '"' or '\\'); required unless `fallback` is given.
    [[nodiscard]] std::string param_symbol(std::string_view name,
                                           std::optional<std::string_view> fallback = std::nullopt) const;
    // A comma-separated list of symbols ("AAPL,MSFT"), each checked as param_symbol does, at most
    // `max_items`, none twice; empty when absent.
    [[nodiscard]] std::vector<std::string> param_list(std::string_view name, std::size_t max_items) const;
    // One of `choices`; `fallback` when absent.
    [[nodiscard]] std::string param_choice(std::string_view name, std::initializer_list<std::string_view> choices,
                                           std::string_view fallback) const;
    // A positive duration with a unit ("1m", "250ms"); `fallback` when absent.
    [[nodiscard]] std::chrono::nanoseconds param_duration(std::string_view name,
                                                          std::chrono::nanoseconds fallback) const;

    // The first parameter no helper asked for ("" when every one was read): the router answers 400
    // for it, so a typo (`?limt=5`) is never silently ignored.
    [[nodiscard]] std::string unread_param() const;

private:
    struct parameter {
        std::string name, value;
        mutable bool read = false;
    };
    const parameter* find(std::string_view name) const;

    std::string path_;
    std::vector<parameter> params_;
};

// What a handler returns.
struct response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; // extra ones, e.g. {"Retry-After", "1"}
    bool cacheable = false;                                   // false: "Cache-Control: no-store" (every API answer)

    // Set by event_stream(): the connection becomes a Server-Sent-Events stream of the hub's events
    // whose key is in `stream_keys` (all of them when empty).
    bool stream = false;
    std::vector<std::string> stream_keys;

    static response json(std::string body, unsigned status = 200);
    static response text(std::string body, std::string content_type = "text/plain; charset=utf-8");
    // {"error":"<message>"} with `status`.
    static response error(unsigned status, std::string_view message);
    static response event_stream(std::vector<std::string> keys = {});
};

// The text of a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

class router {
public:
    using handler = std::function<response(const request&)>;

    // Replaces the handler of `path` if there is one.
    void add(std::string path, handler h);
    [[nodiscard]] bool has(std::string_view path) const;

    // The handler's answer; 404 for an unknown path; 400 naming the parameter for bad input; 500
    // (logged) when a handler throws anything else.
    [[nodiscard]] response handle(const request& r) const;

private:
    std::map<std::string, handler, std::less<>> routes_;
};

} // namespace tapewire::http
