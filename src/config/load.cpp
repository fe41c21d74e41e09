#include "src/config/load.hpp"

#include "src/base/connection_string.hpp"
#include "tapewire/time_text.hpp"

#include <librdkafka/rdkafka.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>

#include "src/base/duration_text.hpp"
#include "src/base/identifier.hpp"
#include "src/base/tzif.hpp"
#include "src/net/url.hpp"
#include "tapewire/symbol.hpp"

namespace tapewire {

namespace {

const std::string k_override_file = "--set";

std::string render_error(const std::string& file, int line, const std::string& key, const std::string& message) {
    std::string out = file;
    if (line > 0) out += ':' + std::to_string(line);
    // "--set window.width: ..." reads like the command line it came from.
    out += (line == 0 && file == k_override_file) ? " " : ": ";
    if (!key.empty()) out += key + ": ";
    return out + message;
}

} // namespace

config_error::config_error(std::string in_file, int at_line, std::string at_key, std::string what_is_wrong)
    : std::runtime_error(render_error(in_file, at_line, at_key, what_is_wrong)), file(std::move(in_file)),
      line(at_line), key(std::move(at_key)), message(std::move(what_is_wrong)) {}

namespace {

struct location {
    std::string file;
    int line = 0;
};

// Where the value being read came from, so that every error can point at it.
struct value_context {
    const std::string& file;
    bool has_lines; // overrides are parsed from a made-up one-line document; its lines mean nothing
    const std::string& key;

    [[nodiscard]] int line_of(const toml::node& n) const noexcept {
        return has_lines ? static_cast<int>(n.source().begin.line) : 0;
    }
    [[noreturn]] void fail(const toml::node& n, std::string message) const {
        throw config_error(file, line_of(n), key, std::move(message));
    }
};

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out + '"';
}

std::string type_name(const toml::node& n) {
    switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::none: break;
    }
    return "nothing";
}

bool is_env_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
}

// "${NAME}" -> the variable's value, so secrets and per-host paths can stay out of the file.
std::string expand_env(std::string_view s, const value_context& ctx, const toml::node& n) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] != '$' || i + 1 >= s.size() || s[i + 1] != '{') {
            out += s[i++];
            continue;
        }
        const std::size_t close = s.find('}', i + 2);
        if (close == std::string_view::npos) ctx.fail(n, "unterminated \"${\" in " + quote(s));
        const std::string name(s.substr(i + 2, close - i - 2));
        if (!is_env_name(name)) ctx.fail(n, "invalid environment variable name \"${" + name + "}\"");
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) ctx.fail(n, "environment variable " + name + " is not set");
        out += value;
        i = close + 1;
    }
    return out;
}

// ---- readers: one per field type; they reject what cannot be stored, checks come later ----

void read_value(const value_context& ctx, const toml::node& n, std::string& out) {
    const auto* s = n.as_string();
    if (s == nullptr) ctx.fail(n, "expected a string, got " + type_name(n));
    out = expand_env(s->get(), ctx, n);
}

void read_value(const value_context& ctx, const toml::node& n, bool& out) {
    const auto* b = n.as_boolean();
    if (b == nullptr) ctx.fail(n, "expected true or false, got " + type_name(n));
    out = b->get();
}

template <class T>
requires std::is_unsigned_v<T>
void read_value(const value_context& ctx, const toml::node& n, T& out) {
    const auto* i = n.as_integer();
    if (i == nullptr) ctx.fail(n, "expected an integer, got " + type_name(n));
    const std::int64_t v = i->get();
    if (v < 0) ctx.fail(n, "must not be negative, got " + std::to_string(v));
    if (static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max())
        ctx.fail(n, "must be at most " + std::to_string(std::numeric_limits<T>::max()) + ", got " + std::to_string(v));
    out = static_cast<T>(v);
}

void read_value(const value_context& ctx, const toml::node& n, double& out) {
    if (const auto* f = n.as_floating_point()) {
        out = f->get();
    } else if (const auto* i = n.as_integer()) {
        out = static_cast<double>(i->get());
    } else {
        ctx.fail(n, "expected a number, got " + type_name(n));
    }
    if (!std::isfinite(out)) ctx.fail(n, "must be a finite number");
}

void read_value(const value_context& ctx, const toml::node& n, duration& out) {
    // 0 is the same in every unit, so it may be written bare.
    if (const auto* i = n.as_integer(); i != nullptr && i->get() == 0) {
        out = duration::zero();
        return;
    }
    if (!n.is_string()) ctx.fail(n, "expected a duration string such as \"250ms\", got " + type_name(n));
    const std::string text = expand_env(n.as_string()->get(), ctx, n);
    const auto d = parse_duration(text);
    if (!d) ctx.fail(n, "invalid duration " + quote(text) + " (a number and a unit: ns us ms s m h d, e.g. \"250ms\")");
    out = *d;
}

std::string join(const std::vector<std::string_view>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i)
        out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + std::string(words[i]);
    return out;
}

// "a, b or c": the names a kind may take, for errors.
template <named_kind Kind> std::string kind_choices() {
    std::vector<std::string_view> names;
    for (const auto& entry : kind_names<Kind>::table) names.push_back(entry.name);
    return join(names);
}

template <named_kind Kind> void read_value(const value_context& ctx, const toml::node& n, Kind& out) {
    std::string text;
    read_value(ctx, n, text);
    const auto kind = kind_from_string<Kind>(text);
    if (!kind) ctx.fail(n, "must be " + kind_choices<Kind>() + ", got " + quote(text));
    out = *kind;
}

// One sink (`kind = "odbc"`) or several (`kind = ["odbc", "ndjson"]`); each at most once.
void read_value(const value_context& ctx, const toml::node& n, sink_kinds& out) {
    sink_kinds kinds;
    const auto add = [&](const toml::node& element) {
        if (!element.is_string()) ctx.fail(element, "expected an array of strings, found " + type_name(element));
        const std::string text = expand_env(element.as_string()->get(), ctx, element);
        const auto kind = kind_from_string<sink_kind>(text);
        if (!kind)
            ctx.fail(element, "unknown sink kind " + quote(text) + " (known: " + kind_choices<sink_kind>() + ")");
        if (!kinds.insert(*kind)) ctx.fail(element, "sink kind " + quote(text) + " is listed twice");
    };
    if (n.is_string()) {
        add(n);
    } else if (const auto* a = n.as_array()) {
        for (const auto& element : *a) add(element);
        if (kinds.empty()) ctx.fail(n, "needs at least one sink kind");
    } else {
        ctx.fail(n, "expected a string or an array of strings, got " + type_name(n));
    }
    out = kinds;
}

void read_value(const value_context& ctx, const toml::node& n, std::vector<std::string>& out) {
    const auto* a = n.as_array();
    if (a == nullptr) ctx.fail(n, "expected an array of strings, got " + type_name(n));
    std::vector<std::string> values;
    for (const auto& element : *a) {
        if (!element.is_string()) ctx.fail(element, "expected an array of strings, found " + type_name(element));
        values.push_back(expand_env(element.as_string()->get(), ctx, element));
    }
    out = std::move(values);
}

void read_value(const value_context& ctx, const toml::node& n, std::vector<int>& out) {
    const auto* a = n.as_array();
    if (a == nullptr) ctx.fail(n, "expected an array of integers, got " + type_name(n));
    std::vector<int> values;
    for (const auto& element : *a) {
        const auto* i = element.as_integer();
        if (i == nullptr) ctx.fail(element, "expected an array of integers, found " + type_name(element));
        if (i->get() < std::numeric_limits<int>::min() || i->get() > std::numeric_limits<int>::max())
            ctx.fail(element, "integer " + std::to_string(i->get()) + " out of range");
        values.push_back(static_cast<int>(i->get()));
    }
    out = std::move(values);
}

// `widths = ["1m", "5m"]`, or one duration, or on the command line "1m,5m".
struct duration_or_list_reader {
    void operator()(const value_context& ctx, const toml::node& n, std::vector<duration>& out) const {
        std::vector<duration> values;
        auto one = [&](const toml::node& element, std::string_view text) {
            const auto d = parse_duration(std::string(text));
            if (!d) ctx.fail(element, "invalid duration " + quote(std::string(text)) + " (e.g. \"1m\")");
            values.push_back(*d);
        };
        if (const auto* a = n.as_array()) {
            for (const auto& element : *a) {
                if (!element.is_string())
                    ctx.fail(element, "expected an array of duration strings, found " + type_name(element));
                one(element, expand_env(element.as_string()->get(), ctx, element));
            }
        } else if (n.is_string()) {
            const std::string text = expand_env(n.as_string()->get(), ctx, n);
            std::size_t from = 0;
            for (std::size_t comma = text.find(',');; comma = text.find(',', from)) {
                std::string_view part =
                    std::string_view(text).substr(from, comma == std::string::npos ? comma : comma - from);
                while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
                while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
                one(n, part);
                if (comma == std::string::npos) break;
                from = comma + 1;
            }
        } else {
            ctx.fail(n, "expected a duration or an array of durations, got " + type_name(n));
        }
        out = std::move(values);
    }
};

struct default_reader {
    template <class T> void operator()(const value_context& ctx, const toml::node& n, T& out) const {
        read_value(ctx, n, out);
    }
};

// For lists that usually hold one entry: `path = "a.ndjson"` as well as `path = ["a", "b"]`.
struct string_or_list_reader {
    void operator()(const value_context& ctx, const toml::node& n, std::vector<std::string>& out) const {
        if (n.is_string()) {
            std::string one;
            read_value(ctx, n, one);
            out = {std::move(one)};
        } else if (n.is_array()) {
            read_value(ctx, n, out);
        } else {
            ctx.fail(n, "expected a string or an array of strings, got " + type_name(n));
        }
    }
};

// ---- the TOML text describe_config prints for each field type ----

std::string show_value(const std::string& v) { return quote(v); }
std::string show_value(bool v) { return v ? "true" : "false"; }
std::string show_value(int v) { return std::to_string(v); }
template <class T>
requires std::is_unsigned_v<T> std::string show_value(T v) { return std::to_string(v); }
std::string show_value(double v) {
    // Shortest text that reads back exactly; plain digits in the range people write by hand, since
    // the shortest form alone would turn 100000 into "1e+05".
    const double magnitude = std::fabs(v);
    const bool plain = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e15);
    char buf[64];
    const auto [end, ec] = plain ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                                 : std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc{} ? std::string(buf, end) : std::to_string(v);
}
std::string show_value(duration v) { return quote(format_duration(v)); }
template <named_kind Kind> std::string show_value(Kind v) { return quote(to_string(v)); }
std::string show_value(sink_kinds v) {
    std::string out = "[";
    for (sink_kind k : v) out += (out.size() == 1 ? "" : ", ") + show_value(k);
    return out + "]";
}
template <class T> std::string show_value(const std::vector<T>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : ", ") + show_value(v[i]);
    return out + "]";
}

template <class T> constexpr bool k_is_text =
    std::is_same_v<T, std::string> || std::is_same_v<T, duration> || named_kind<T> || std::is_same_v<T, sink_kinds> ||
    std::is_same_v<T, std::vector<std::string>> || std::is_same_v<T, std::vector<duration>>;

// ---- the binder: every key, how to read, check and show it ----

struct field_spec {
    std::string section;    // "source.anomalies"
    std::string name;       // "jump_every"
    std::string key;        // "source.anomalies.jump_every"
    bool text_like = false; // an override's raw text may stand for the value
    std::function<void(config&, const value_context&, const toml::node&)> read;
    std::function<std::string(const config&)> check; // "" when the value is acceptable
    std::function<std::string(const config&)> show;
};

struct no_check {
    template <class T> std::string operator()(const T&) const { return {}; }
};

// Binds the fields of one section struct; `Get` maps a (const or not) config to that struct.
template <class Get> class section_binder {
public:
    section_binder(std::string name, Get get, std::vector<field_spec>& out)
        : name_(std::move(name)), get_(get), out_(out) {}

    template <class S, class T, class Check = no_check, class Reader = default_reader>
    section_binder& add(std::string_view name, T S::*member, Check check = {}, Reader reader = {}) {
        const Get get = get_;
        out_.push_back(field_spec{
            name_,
            std::string(name),
            name_ + "." + std::string(name),
            k_is_text<T>,
            [get, member, reader](config& c, const value_context& ctx, const toml::node& n) {
                reader(ctx, n, get(c).*member);
            },
            [get, member, check](const config& c) { return std::string(check(get(c).*member)); },
            [get, member](const config& c) { return show_value(get(c).*member); },
        });
        return *this;
    }

private:
    std::string name_;
    Get get_;
    std::vector<field_spec>& out_;
};

// ---- checks ----

const auto k_positive = [](const auto& v) -> std::string {
    return v > std::remove_cvref_t<decltype(v)>{} ? "" : "must be greater than 0";
};
const auto k_non_negative = [](const auto& v) -> std::string {
    return v >= std::remove_cvref_t<decltype(v)>{} ? "" : "must not be negative";
};

std::string check_symbol(const std::string& s) {
    if (s.empty()) return "a symbol must not be empty";
    if (s.size() > symbol::k_max_size)
        return "symbol " + quote(s) + " is longer than " + std::to_string(symbol::k_max_size) + " bytes";
    return {};
}

const auto k_symbol_list = [](const std::vector<std::string>& symbols) -> std::string {
    std::set<std::string_view> seen;
    for (const auto& s : symbols) {
        if (auto e = check_symbol(s); !e.empty()) return e;
        if (!seen.insert(s).second) return "symbol " + quote(s) + " is listed twice";
    }
    return {};
};

// Lanes nest: a wider bar is the roll-up of whole narrower ones.
const auto k_widths = [](const std::vector<duration>& widths) -> std::string {
    if (widths.size() > 8) return "at most 8 widths, got " + std::to_string(widths.size());
    for (std::size_t i = 0; i < widths.size(); ++i) {
        if (widths[i] <= duration::zero()) return "every width must be greater than 0";
        if (i == 0) continue;
        if (widths[i] <= widths[i - 1])
            return "must ascend (" + format_duration(widths[i]) + " after " + format_duration(widths[i - 1]) + ")";
        if (widths[i] % widths[i - 1] != duration::zero())
            return format_duration(widths[i]) + " is not a multiple of " + format_duration(widths[i - 1]);
    }
    return {};
};

// Live bars: off, or a cadence a dashboard can use without flooding the sinks.
const auto k_update_cadence = [](const duration& d) -> std::string {
    if (d == duration::zero()) return "";
    return d >= std::chrono::milliseconds(10) ? "" : "must be 0 (off) or at least 10ms";
};

const auto k_optional_symbol = [](const std::string& s) -> std::string { return s.empty() ? "" : check_symbol(s); };

const auto k_non_empty_text = [](const std::string& s) -> std::string { return s.empty() ? "must not be empty" : ""; };

const auto k_non_empty_paths = [](const std::vector<std::string>& paths) -> std::string {
    for (const auto& p : paths)
        if (p.empty()) return "a path must not be empty";
    return {};
};

// Kafka's own rule for topic names: 1 to 249 of [a-zA-Z0-9._-].
std::string check_topic(const std::string& t) {
    if (t.empty()) return "a topic name must not be empty";
    if (t.size() > 249) return "topic name longer than 249 characters";
    if (t == "." || t == "..") return "\".\" and \"..\" are not topic names";
    for (char c : t)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return "topic name " + quote(t) + " may hold only letters, digits, '.', '_' and '-'";
    return {};
}
const auto k_topic_name = [](const std::string& t) { return check_topic(t); };
const auto k_optional_topic_name = [](const std::string& t) { return t.empty() ? std::string() : check_topic(t); };

const auto k_start_time = [](const std::string& s) -> std::string {
    timestamp_ns ignored = 0; // the same reader the synthetic source resolves `start` with
    return s == "now" || parse_timestamp_text(s, ignored)
               ? ""
               : "must be \"now\" or an RFC 3339 time such as \"2024-07-01T13:30:00Z\", got " + quote(s);
};

const auto k_time_zone = [](const std::string& name) -> std::string {
    try {
        (void)load_time_zone(name);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
};

const auto k_time_of_day = [](const std::string& s) -> std::string {
    return parse_time_of_day(s) ? "" : "must be a local time HH:MM (00:00 to 23:59), got " + quote(s);
};

// Table names are pasted into SQL text (values never are): src/base/identifier.hpp.
const auto k_sql_identifier = [](const std::string& s) -> std::string {
    return is_sql_identifier(s) ? "" : "must be a table name: " + std::string(k_identifier_rule) + "; got " + quote(s);
};

auto url_of_scheme(std::vector<std::string_view> schemes) {
    return [schemes = std::move(schemes)](const std::string& text) -> std::string {
        try {
            const net::url u = net::parse_url(text);
            if (std::find(schemes.begin(), schemes.end(), u.scheme) == schemes.end())
                return "must be a " + join(schemes) + " URL, got " + quote(text);
            return {};
        } catch (const std::exception& e) {
            return e.what();
        }
    };
}

// "" turns the server off; otherwise host:port with an IP literal (src/net/url.hpp).
const auto k_listen_address = [](const std::string& text) -> std::string {
    if (text.empty()) return {};
    try {
        (void)net::parse_listen_address(text);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
};

const auto k_concurrency = [](std::uint32_t v) -> std::string {
    return v >= 1 && v <= 256 ? "" : "must be 1 to 256, got " + std::to_string(v);
};

const auto k_weight = [](double v) -> std::string { return v > 0 && v <= 1 ? "" : "must be in (0, 1]"; };

const auto k_thread_count = [](std::uint32_t v) -> std::string {
    return v == 1 || v == 2 ? ""
                            : "must be 1 (all stages on one thread) or 2 (parse | the rest), got " + std::to_string(v);
};

// Linux's default CPU set size; a larger number is a typo rather than a CPU.
constexpr int k_max_cpus = 1024;

const auto k_cpu_list = [](const std::vector<int>& cpus) -> std::string {
    for (int cpu : cpus)
        if (cpu < 0 || cpu >= k_max_cpus)
            return "CPU " + std::to_string(cpu) + " is out of range 0.." + std::to_string(k_max_cpus - 1);
    return {};
};

const std::vector<field_spec>& fields() {
    static const std::vector<field_spec> table = [] {
        std::vector<field_spec> f;
        section_binder(
            "source", [](auto& c) -> auto& { return c.source; }, f)
            .add("kind", &source_config::kind)
            .add("symbols", &source_config::symbols, k_symbol_list)
            .add("symbol_count", &source_config::symbol_count, k_positive)
            .add("rate", &source_config::rate, k_non_negative)
            .add("event_rate", &source_config::event_rate, k_non_negative)
            .add("seed", &source_config::seed)
            .add("start", &source_config::start, k_start_time)
            .add("volatility", &source_config::volatility, k_non_negative)
            .add("spread_bps", &source_config::spread_bps, k_non_negative)
            .add("size_alpha", &source_config::size_alpha, k_positive)
            .add("path", &source_config::path, k_non_empty_paths, string_or_list_reader{})
            .add("speed", &source_config::speed, k_non_negative)
            .add("format", &source_config::format)
            .add("symbol", &source_config::symbol, k_optional_symbol)
            .add("backfill", &source_config::backfill);
        // The Yahoo keys sit in [source] beside the others (source.base_url, source.poll_interval).
        section_binder(
            "source", [](auto& c) -> auto& { return c.source.yahoo; }, f)
            .add("base_url", &yahoo_config::base_url, url_of_scheme({"http", "https"}))
            .add("stream_url", &yahoo_config::stream_url, url_of_scheme({"ws", "wss"}))
            .add("poll_interval", &yahoo_config::poll_interval, k_positive)
            .add("concurrency", &yahoo_config::concurrency, k_concurrency)
            .add("keep_alive", &yahoo_config::keep_alive)
            .add("connect_timeout", &yahoo_config::connect_timeout, k_positive)
            .add("request_timeout", &yahoo_config::request_timeout, k_positive)
            .add("bar_grace", &yahoo_config::bar_grace)
            .add("backoff_min", &yahoo_config::backoff_min, k_positive)
            .add("backoff_max", &yahoo_config::backoff_max, k_positive)
            .add("not_found_backoff", &yahoo_config::not_found_backoff, k_positive)
            .add("resubscribe_interval", &yahoo_config::resubscribe_interval, k_positive)
            .add("stream_silence", &yahoo_config::stream_silence, k_positive)
            .add("stream_symbols_per_connection", &yahoo_config::stream_symbols_per_connection, k_positive)
            .add("tls_verify", &yahoo_config::tls_verify)
            .add("ca_file", &yahoo_config::ca_file)
            .add("user_agent", &yahoo_config::user_agent)
            .add("max_pending", &yahoo_config::max_pending, k_positive);
        section_binder(
            "source.anomalies", [](auto& c) -> auto& { return c.source.anomalies; }, f)
            .add("enabled", &anomaly_injection_config::enabled)
            .add("jump_every", &anomaly_injection_config::jump_every, k_positive)
            .add("jump_size", &anomaly_injection_config::jump_size, k_non_negative)
            .add("burst_every", &anomaly_injection_config::burst_every, k_positive)
            .add("burst_factor", &anomaly_injection_config::burst_factor, k_positive)
            .add("burst_length", &anomaly_injection_config::burst_length)
            .add("labels", &anomaly_injection_config::labels);
        section_binder(
            "window", [](auto& c) -> auto& { return c.window; }, f)
            .add("width", &window_config::width, k_positive)
            .add("widths", &window_config::widths, k_widths, duration_or_list_reader{})
            .add("allowed_lateness", &window_config::allowed_lateness)
            .add("idle_timeout", &window_config::idle_timeout)
            .add("late_update_horizon", &window_config::late_update_horizon)
            .add("max_future_skew", &window_config::max_future_skew)
            .add("watermark", &window_config::watermark)
            .add("bar_memory", &window_config::bar_memory, k_non_negative)
            .add("emit_updates", &window_config::emit_updates, k_update_cadence);
        section_binder(
            "vwap", [](auto& c) -> auto& { return c.vwap; }, f)
            .add("rolling_windows", &vwap_config::rolling_windows, k_positive)
            .add("session_tz", &vwap_config::session_tz, k_time_zone)
            .add("session_start", &vwap_config::session_start, k_time_of_day);
        section_binder(
            "anomaly", [](auto& c) -> auto& { return c.anomaly; }, f)
            .add("price_jump", &anomaly_config::price_jump, k_positive)
            .add("return_z", &anomaly_config::return_z, k_positive)
            .add("volume_spike", &anomaly_config::volume_spike, k_positive)
            .add("vwap_dev_bps", &anomaly_config::vwap_dev_bps, k_positive)
            .add("ewma_alpha", &anomaly_config::ewma_alpha, k_weight)
            .add("warmup_bars", &anomaly_config::warmup_bars);
        section_binder(
            "pipeline", [](auto& c) -> auto& { return c.pipeline; }, f)
            .add("threads", &pipeline_config::threads, k_thread_count)
            .add("ring_size", &pipeline_config::ring_size, k_positive)
            .add("input_ring_bytes", &pipeline_config::input_ring_bytes, k_positive)
            .add("batch", &pipeline_config::batch, k_positive)
            .add("idle", &pipeline_config::idle)
            .add("cpus", &pipeline_config::cpus, k_cpu_list);
        section_binder(
            "sink", [](auto& c) -> auto& { return c.sink; }, f)
            .add("kind", &sink_config::kind)
            .add("path", &sink_config::path, k_non_empty_text)
            .add("bars", &sink_config::bars)
            .add("alerts", &sink_config::alerts)
            .add("dead_letters", &sink_config::dead_letters)
            .add("updates", &sink_config::updates)
            .add("connection", &sink_config::connection, k_non_empty_text)
            .add("batch_rows", &sink_config::batch_rows, k_positive)
            .add("batch_interval", &sink_config::batch_interval, k_positive)
            .add("archive_ticks", &sink_config::archive_ticks)
            .add("retry_min", &sink_config::retry_min, k_positive)
            .add("retry_max", &sink_config::retry_max, k_positive)
            .add("ring_size", &sink_config::ring_size, k_positive)
            .add("bars_table", &sink_config::bars_table, k_sql_identifier)
            .add("alerts_table", &sink_config::alerts_table, k_sql_identifier)
            .add("dead_letters_table", &sink_config::dead_letters_table, k_sql_identifier)
            .add("ticks_table", &sink_config::ticks_table, k_sql_identifier)
            .add("offsets_table", &sink_config::offsets_table, k_sql_identifier)
            .add("state_table", &sink_config::state_table, k_sql_identifier);
        section_binder(
            "kafka", [](auto& c) -> auto& { return c.kafka; }, f)
            .add("brokers", &kafka_config::brokers)
            .add("topic", &kafka_config::topic, k_topic_name)
            .add("group", &kafka_config::group, k_non_empty_text)
            .add("partitions", &kafka_config::partitions, k_positive)
            .add("embedded_brokers", &kafka_config::embedded_brokers, k_positive)
            .add("bars_topic", &kafka_config::bars_topic, k_topic_name)
            .add("alerts_topic", &kafka_config::alerts_topic, k_topic_name)
            .add("dlq_topic", &kafka_config::dlq_topic, k_optional_topic_name)
            .add("stop_at_end", &kafka_config::stop_at_end)
            .add("pause_after", &kafka_config::pause_after);
        section_binder(
            "log", [](auto& c) -> auto& { return c.log; }, f)
            .add("level", &log_config::level)
            .add("format", &log_config::format);
        section_binder(
            "http", [](auto& c) -> auto& { return c.http; }, f)
            .add("listen", &http_config::listen, k_listen_address)
            .add("token", &http_config::token)
            .add("max_connections", &http_config::max_connections, k_positive)
            .add("max_request_bytes", &http_config::max_request_bytes, k_positive)
            .add("header_timeout", &http_config::header_timeout, k_positive)
            .add("idle_timeout", &http_config::idle_timeout, k_positive)
            .add("max_sse_clients", &http_config::max_sse_clients);
        return f;
    }();
    return table;
}

// Constraints between fields. `blame` lists the keys whose location the error points at, first
// one that was set wins.
struct cross_check {
    std::string key;
    std::vector<std::string> blame;
    std::function<std::string(const config&)> check;
};

const std::vector<cross_check>& cross_checks() {
    static const std::vector<cross_check> table{
        {"source.path",
         {"source.path", "source.kind"},
         [](const config& c) -> std::string {
             return c.source.kind == source_kind::replay && c.source.path.empty()
                        ? "required when source.kind = \"replay\""
                        : "";
         }},
        {"source.symbols",
         {"source.symbols", "source.kind"},
         [](const config& c) -> std::string {
             return is_yahoo(c.source.kind) && c.source.symbols.empty()
                        ? "required when source.kind = \"" + std::string(to_string(c.source.kind)) + "\""
                        : "";
         }},
        {"source.backoff_max",
         {"source.backoff_max", "source.backoff_min"},
         [](const config& c) -> std::string {
             return c.source.yahoo.backoff_max < c.source.yahoo.backoff_min ? "must not be less than source.backoff_min"
                                                                            : "";
         }},
        {"source.anomalies.enabled",
         {"source.anomalies.enabled", "source.kind"},
         [](const config& c) -> std::string {
             return c.source.anomalies.enabled && c.source.kind != source_kind::synthetic
                        ? "anomaly injection needs source.kind = \"synthetic\""
                        : "";
         }},
        {"window.width",
         {"window.width", "window.widths"},
         [](const config& c) -> std::string {
             const auto& w = c.window;
             if (w.widths.empty() || w.width == window_config{}.width ||
                 std::find(w.widths.begin(), w.widths.end(), w.width) != w.widths.end())
                 return "";
             return "must be one of window.widths (" + show_value(w.widths) + ")";
         }},
        {"window.bar_memory",
         {"window.bar_memory", "window.late_update_horizon", "window.width"},
         [](const config& c) -> std::string {
             // A bar that can still correct an emitted bar must still be remembered.
             const auto& w = c.window;
             return w.bar_memory > duration::zero() && w.bar_memory < w.late_update_horizon + w.width
                        ? "must be 0 or at least window.late_update_horizon + window.width (" +
                              format_duration(w.late_update_horizon + w.width) + ")"
                        : "";
         }},
        {"sink.updates",
         {"sink.updates", "window.emit_updates"},
         [](const config& c) -> std::string {
             return c.sink.updates && c.window.emit_updates == duration::zero()
                        ? "sink.updates = true needs window.emit_updates > 0 (it is 0: no updates are made)"
                        : "";
         }},
        {"sink.kind",
         {"sink.kind", "kafka.brokers"},
         [](const config& c) -> std::string {
             return c.sink.kind.contains(sink_kind::kafka) && c.kafka.brokers.empty()
                        ? "sink kind \"kafka\" needs kafka.brokers (it is \"\")"
                        : "";
         }},
    };
    return table;
}

// [kafka.producer] and [kafka.consumer] take any librdkafka property; librdkafka checks them.
struct property_table {
    std::string_view section;
    std::vector<kafka_property> kafka_config::*list;
    rd_kafka_type_t type;
};
const property_table k_property_tables[] = {
    {"kafka.producer", &kafka_config::producer, RD_KAFKA_PRODUCER},
    {"kafka.consumer", &kafka_config::consumer, RD_KAFKA_CONSUMER},
};

const property_table* find_property_table(std::string_view key) {
    for (const auto& t : k_property_tables)
        if (key == t.section ||
            (key.size() > t.section.size() && key.starts_with(t.section) && key[t.section.size()] == '.'))
            return &t;
    return nullptr;
}

// Values that should not be echoed by check-config.
bool is_secret_property(std::string_view name) {
    return name.find("password") != std::string_view::npos || name.find("secret") != std::string_view::npos ||
           name.find("sasl.oauthbearer.config") != std::string_view::npos ||
           name.find(".pem") != std::string_view::npos;
}

const field_spec* find_field(std::string_view key) {
    for (const auto& f : fields())
        if (f.key == key) return &f;
    return nullptr;
}

bool is_section(std::string_view key) {
    for (const auto& f : fields())
        if (f.section == key || f.section.starts_with(std::string(key) + ".")) return true;
    return false;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// " (did you mean 'x'?)" for the closest known name within a typo's reach, else "".
std::string suggestion(std::string_view word, const std::set<std::string>& known) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 2) + 1;
    for (const auto& k : known) {
        const std::size_t d = edit_distance(word, k);
        if (d < best_distance) {
            best = k;
            best_distance = d;
        }
    }
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// Names (fields and subsections) directly inside `section` ("" = the top level).
std::set<std::string> names_in(std::string_view section) {
    const std::string prefix = section.empty() ? "" : std::string(section) + ".";
    std::set<std::string> out;
    for (const auto& f : fields()) {
        const std::string full = f.key;
        if (!full.starts_with(prefix)) continue;
        const std::string rest = full.substr(prefix.size());
        out.insert(rest.substr(0, rest.find('.')));
    }
    return out;
}

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

class config_loader {
public:
    explicit config_loader(std::string file) : file_(std::move(file)) { cfg_.file = file_; }

    void apply_text(std::string_view text) {
        toml::table root;
        try {
            root = toml::parse(text, file_);
        } catch (const toml::parse_error& e) {
            throw config_error(file_, static_cast<int>(e.source().begin.line), "", std::string(e.description()));
        }
        apply_table(root, "", file_, true);
    }

    void apply_override(std::string_view text) {
        const std::size_t eq = text.find('=');
        const std::string key(trim(text.substr(0, eq == std::string_view::npos ? text.size() : eq)));
        if (eq == std::string_view::npos || key.empty())
            throw config_error(k_override_file, 0, key,
                               "expected KEY=VALUE (e.g. window.width=2s), got " + quote(text));
        const std::string raw(trim(text.substr(eq + 1)));

        // Parsing "v = <value>" lets every TOML literal through; anything else is taken as text.
        toml::table doc;
        bool parsed = false;
        try {
            doc = toml::parse("v = " + raw);
            parsed = doc.size() == 1 && doc.contains("v");
        } catch (const toml::parse_error&) {
        }
        const toml::node* value = parsed ? doc.get("v") : nullptr;
        // "sink.path=-" fails to parse, but "source.symbol=123" or "source.start=2024-07-01T09:30:00Z"
        // parse as numbers and dates: a text field wants the characters as typed.
        const field_spec* field = find_field(key);
        const bool wants_text = field != nullptr && field->text_like;
        if (value != nullptr && wants_text && !value->is_string() && !value->is_array()) value = nullptr;
        const toml::value<std::string> as_text(raw);
        apply(key, value != nullptr ? *value : as_text, location{k_override_file, 0}, k_override_file, false);
    }

    void validate() const {
        for (const auto& f : fields())
            if (auto message = f.check(cfg_); !message.empty()) throw error_at({f.key}, f.key, message);
        for (const auto& c : cross_checks())
            if (auto message = c.check(cfg_); !message.empty()) throw error_at(c.blame, c.key, message);
        validate_properties();
    }

    config take() && { return std::move(cfg_); }

private:
    void apply_table(const toml::table& table, const std::string& prefix, const std::string& file, bool has_lines) {
        // toml++ keeps keys sorted by name; apply them in file order, so that of several mistakes
        // the first one in the file is the one reported.
        struct entry {
            int line;
            std::string key;
            const toml::node* value;
        };
        std::vector<entry> entries;
        entries.reserve(table.size());
        for (const auto& [k, v] : table) {
            int line = 0;
            if (has_lines)
                line = static_cast<int>(k.source().begin.line != 0 ? k.source().begin.line : v.source().begin.line);
            entries.push_back({line, prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str()), &v});
        }
        std::stable_sort(entries.begin(), entries.end(),
                         [](const entry& a, const entry& b) { return a.line < b.line; });
        for (const entry& e : entries) apply(e.key, *e.value, location{file, e.line}, file, has_lines);
    }

    void apply(const std::string& key, const toml::node& value, const location& key_at, const std::string& file,
               bool has_lines) {
        if (const property_table* table = find_property_table(key)) {
            apply_property(*table, key, value, key_at, file, has_lines);
            return;
        }
        if (const field_spec* field = find_field(key)) {
            const value_context ctx{file, has_lines, key};
            field->read(cfg_, ctx, value);
            const int value_line = ctx.line_of(value);
            origin_[key] = location{file, value_line != 0 ? value_line : key_at.line};
            return;
        }
        if (is_section(key)) {
            if (const auto* t = value.as_table()) {
                apply_table(*t, key, file, has_lines);
                return;
            }
            throw config_error(file, key_at.line, key,
                               "expected a table of settings ([" + key + "]), got " + type_name(value));
        }
        const std::size_t dot = key.rfind('.');
        const std::string parent = dot == std::string::npos ? "" : key.substr(0, dot);
        const std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
        if (parent.empty()) {
            const std::string hint = suggestion(leaf, names_in(""));
            if (value.is_table()) throw config_error(file, key_at.line, key, "unknown section" + hint);
            throw config_error(file, key_at.line, key,
                               "unknown key; settings belong in a section such as [source]" + hint);
        }
        if (!is_section(parent)) {
            // Only an override can get here, e.g. "windw.width=1s".
            std::set<std::string> all;
            for (const auto& f : fields()) all.insert(f.key);
            throw config_error(file, key_at.line, key, "unknown key" + suggestion(key, all));
        }
        const std::string hint = suggestion(leaf, names_in(parent));
        throw config_error(file, key_at.line, key, (value.is_table() ? "unknown section" : "unknown key") + hint);
    }

    // `linger.ms = 5` in TOML is a nested table; flattened back it is the property "linger.ms".
    void apply_property(const property_table& table, const std::string& key, const toml::node& value,
                        const location& key_at, const std::string& file, bool has_lines) {
        if (const auto* t = value.as_table()) {
            apply_table(*t, key, file, has_lines);
            return;
        }
        const value_context ctx{file, has_lines, key};
        if (key.size() <= table.section.size())
            ctx.fail(value, "expected a table of librdkafka properties ([" + std::string(table.section) + "])");
        const std::string name = key.substr(table.section.size() + 1);
        std::string text;
        if (const auto* str = value.as_string()) {
            text = expand_env(str->get(), ctx, value);
        } else if (const auto* i = value.as_integer()) {
            text = std::to_string(i->get());
        } else if (const auto* f = value.as_floating_point()) {
            text = show_value(f->get());
        } else if (const auto* b = value.as_boolean()) {
            text = b->get() ? "true" : "false";
        } else {
            ctx.fail(value, "expected a string, number or boolean, got " + type_name(value));
        }
        const int value_line = ctx.line_of(value);
        kafka_property p{name, std::move(text), file, value_line != 0 ? value_line : key_at.line};
        auto& list = cfg_.kafka.*table.list;
        const auto same =
            std::find_if(list.begin(), list.end(), [&](const kafka_property& q) { return q.name == name; });
        if (same != list.end())
            *same = std::move(p);
        else
            list.push_back(std::move(p));
    }

    // librdkafka knows its properties and their ranges: ask it, and point at the line on refusal.
    void validate_properties() const {
        for (const auto& table : k_property_tables) {
            rd_kafka_conf_t* conf = rd_kafka_conf_new();
            for (const auto& p : cfg_.kafka.*table.list) {
                char err[512];
                if (rd_kafka_conf_set(conf, p.name.c_str(), p.value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
                    rd_kafka_conf_destroy(conf);
                    throw config_error(p.file, p.line, std::string(table.section) + "." + p.name, err);
                }
            }
            rd_kafka_conf_destroy(conf);
        }
    }

    config_error error_at(const std::vector<std::string>& blame, const std::string& key,
                          const std::string& message) const {
        for (const auto& b : blame) {
            if (auto it = origin_.find(b); it != origin_.end())
                return config_error(it->second.file, it->second.line, key, message);
        }
        return config_error(file_, 0, key, message); // the default itself is at fault
    }

    std::string file_;
    config cfg_;
    std::map<std::string, location, std::less<>> origin_; // where each key was last set
};

} // namespace

config load_config_text(std::string_view toml_text, const std::string& file_name,
                        const std::vector<std::string>& overrides) {
    config_loader loader(file_name);
    loader.apply_text(toml_text);
    for (const auto& o : overrides) loader.apply_override(o);
    loader.validate();
    return std::move(loader).take();
}

config load_config_file(const std::string& path, const std::vector<std::string>& overrides) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw config_error(path, 0, "", "cannot read: is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw config_error(path, 0, "", std::string("cannot open: ") + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw config_error(path, 0, "", std::string("cannot read: ") + std::strerror(errno));
    return load_config_text(text.str(), path, overrides);
}

config default_config() { return config{}; }

std::string describe_config(const config& c) {
    std::string out =
        "# effective configuration, " + (c.file.empty() ? std::string("built-in defaults") : "from " + c.file) + "\n";
    std::string section;
    for (const auto& f : fields()) {
        if (f.section != section) {
            section = f.section;
            out += "\n[" + section + "]\n";
        }
        // An ODBC connection string may hold a password (expanded from ${ENV}): never print it; nor
        // the HTTP token, beyond whether there is one.
        const bool connection = f.section == "sink" && f.name == "connection";
        const bool token = f.section == "http" && f.name == "token";
        out += f.name + " = " +
               (connection ? quote(hide_connection_password(c.sink.connection))
                : token    ? quote(c.http.token.empty() ? "" : "(hidden)")
                           : f.show(c)) +
               "\n";
    }
    for (const auto& table : k_property_tables) {
        const auto& list = c.kafka.*table.list;
        if (list.empty()) continue;
        out += "\n[" + std::string(table.section) + "]\n";
        for (const auto& p : list)
            out += quote(p.name) + " = " + (is_secret_property(p.name) ? "\"(hidden)\"" : quote(p.value)) + "\n";
    }
    return out;
}

} // namespace tapewire
