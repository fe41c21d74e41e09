#include "src/base/log.hpp"

#include <charconv>
#include <cmath>
#include <memory>
#include <mutex>
#include <utility>

#include <spdlog/details/null_mutex.h>
#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "src/base/duration_text.hpp"
#include "tapewire/json_write.hpp"

namespace tapewire::log {

namespace detail {
std::atomic<std::uint8_t> min_level{static_cast<std::uint8_t>(log_level::info)};
} // namespace detail

// The capture's insides, for the code below.
struct sink_access {
    static void add_record(capture& c, captured_record r) { c.records_.push_back(std::move(r)); }
    static void add_line(capture& c, std::string line) { c.lines_.push_back(std::move(line)); }
};

namespace {

// spdlog writes the timestamp (UTC, milliseconds) and the line's frame; the body is ours, so that
// both formats carry the same record and the JSON is escaped by the one JSON writer.
constexpr const char* k_text_pattern = "%Y-%m-%dT%H:%M:%S.%eZ %v";
constexpr const char* k_json_pattern = "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",%v}";
// Durations in records: enough digits to read, few enough that a jittered wait stays short.
constexpr int k_duration_digits = 3;

spdlog::level::level_enum spdlog_level(log_level l) noexcept {
    switch (l) {
    case log_level::debug: return spdlog::level::debug;
    case log_level::info: return spdlog::level::info;
    case log_level::warn: return spdlog::level::warn;
    case log_level::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

class capture_sink;

// Everything behind the one lock. Never destroyed: librdkafka's threads may log while the process
// exits, after static destructors have run.
struct log_state {
    std::mutex mu;
    log_format format = log_format::text;
    capture* capturing = nullptr;
    std::shared_ptr<spdlog::logger> to_stderr;
    std::shared_ptr<spdlog::logger> to_capture;

    log_state();
    void apply(const log_config& c) {
        format = c.format;
        const char* pattern = c.format == log_format::json ? k_json_pattern : k_text_pattern;
        for (auto* lg : {to_stderr.get(), to_capture.get()})
            lg->set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
        detail::min_level.store(static_cast<std::uint8_t>(c.level), std::memory_order_relaxed);
    }
    [[nodiscard]] log_config current() const {
        return {static_cast<log_level>(detail::min_level.load(std::memory_order_relaxed)), format};
    }
};

// Hands each formatted line to the capture in charge. Called under log_state::mu.
class capture_sink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
public:
    explicit capture_sink(log_state& s) : state_(s) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        if (state_.capturing == nullptr) return;
        spdlog::memory_buf_t line;
        formatter_->format(msg, line);
        std::size_t n = line.size();
        while (n > 0 && (line.data()[n - 1] == '\n' || line.data()[n - 1] == '\r')) --n;
        sink_access::add_line(*state_.capturing, std::string(line.data(), n));
    }
    void flush_() override {}

private:
    log_state& state_;
};

log_state::log_state()
    : to_stderr(std::make_shared<spdlog::logger>("tapewire", std::make_shared<spdlog::sinks::stderr_sink_st>())),
      to_capture(std::make_shared<spdlog::logger>("tapewire", std::make_shared<capture_sink>(*this))) {
    for (auto* lg : {to_stderr.get(), to_capture.get()}) {
        lg->set_level(spdlog::level::trace); // the facade filters before a record is made
        lg->flush_on(spdlog::level::trace);  // each record reaches the file before the next
    }
    apply({});
}

log_state& the_state() {
    static log_state* s = new log_state();
    return *s;
}

// ---- the body of a record ----

void append_number(std::string& out, auto v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// The one JSON string writer (json_buffer) into a growing string.
void append_json_string(std::string& out, std::string_view s) {
    const std::size_t at = out.size();
    out.resize(at + s.size() * 6 + 2); // "\u00XX" is the longest escape of a byte
    json_buffer j(out.data() + at, out.size() - at);
    j.string(s);
    out.resize(at + j.size());
}

// A field's value as the text format writes it, before any quoting.
std::string value_text(const field& f) {
    std::string out;
    switch (f.kind()) {
    case field_kind::integer: append_number(out, f.integer()); break;
    case field_kind::unsigned_integer: append_number(out, f.unsigned_integer()); break;
    case field_kind::number:
        if (std::isfinite(f.number()))
            append_number(out, f.number());
        else
            out = std::isnan(f.number()) ? "nan" : f.number() > 0 ? "inf" : "-inf";
        break;
    case field_kind::boolean: out = f.integer() != 0 ? "true" : "false"; break;
    case field_kind::text: out = f.text(); break;
    case field_kind::duration:
        out = format_duration(round_significant(duration{f.integer()}, k_duration_digits));
        break;
    }
    return out;
}

// Text values are quoted (with JSON's escapes) when a reader could not tell where they end.
bool needs_quotes(std::string_view v) noexcept {
    if (v.empty()) return true;
    for (unsigned char c : v)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
    return false;
}

// The message as is, but on one line: control characters as escapes.
void append_one_line(std::string& out, std::string_view s) {
    for (unsigned char c : s) {
        if (c >= 0x20 && c != 0x7f) {
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
}

// "WARN  kafka: message key=value ..."
std::string text_body(log_level l, std::string_view component, std::string_view message, std::span<const field> fs) {
    std::string out;
    for (char c : to_string(l)) out += static_cast<char>(c - 'a' + 'A');
    out.append(6 - to_string(l).size(), ' ');
    append_one_line(out, component);
    out += ": ";
    append_one_line(out, message);
    for (const field& f : fs) {
        out += ' ';
        append_one_line(out, f.key());
        out += '=';
        const std::string v = value_text(f);
        if (f.kind() == field_kind::text && needs_quotes(v))
            append_json_string(out, v);
        else
            out += v;
    }
    return out;
}

// "\"level\":\"warn\",\"component\":\"kafka\",\"msg\":\"...\",\"key\":value..." (the pattern adds
// the timestamp and the braces)
std::string json_body(log_level l, std::string_view component, std::string_view message, std::span<const field> fs) {
    std::string out = "\"level\":\"";
    out += to_string(l);
    out += "\",\"component\":";
    append_json_string(out, component);
    out += ",\"msg\":";
    append_json_string(out, message);
    for (const field& f : fs) {
        out += ',';
        append_json_string(out, f.key());
        out += ':';
        switch (f.kind()) {
        case field_kind::number:
            if (std::isfinite(f.number()))
                append_number(out, f.number());
            else
                out += "null"; // JSON has no NaN or infinity
            break;
        case field_kind::text:
        case field_kind::duration: append_json_string(out, value_text(f)); break;
        default: out += value_text(f); break;
        }
    }
    return out;
}

captured_record make_record(log_level l, std::string_view component, std::string_view message,
                            std::span<const field> fs) {
    captured_record r{l, std::string(component), std::string(message), {}};
    r.fields.reserve(fs.size());
    for (const field& f : fs) {
        captured_field c{std::string(f.key()), f.kind(), value_text(f), 0, 0};
        switch (f.kind()) {
        case field_kind::integer:
        case field_kind::boolean:
        case field_kind::duration:
            c.integer = f.integer();
            c.number = static_cast<double>(f.integer());
            break;
        case field_kind::unsigned_integer:
            c.integer = static_cast<std::int64_t>(f.unsigned_integer());
            c.number = static_cast<double>(f.unsigned_integer());
            break;
        case field_kind::number: c.number = f.number(); break;
        case field_kind::text: break;
        }
        r.fields.push_back(std::move(c));
    }
    return r;
}

} // namespace

void write(log_level l, std::string_view component, std::string_view message, std::span<const field> f) {
    if (!enabled(l)) return;
    log_state& s = the_state();
    std::lock_guard<std::mutex> lock(s.mu);
    std::string body =
        s.format == log_format::json ? json_body(l, component, message, f) : text_body(l, component, message, f);
    const spdlog::string_view_t view(body.data(), body.size());
    if (s.capturing != nullptr) {
        sink_access::add_record(*s.capturing, make_record(l, component, message, f));
        s.to_capture->log(spdlog_level(l), view);
    } else {
        s.to_stderr->log(spdlog_level(l), view);
    }
}

void configure(const log_config& settings) {
    log_state& s = the_state();
    std::lock_guard<std::mutex> lock(s.mu);
    s.apply(settings);
}

log_config settings() {
    log_state& s = the_state();
    std::lock_guard<std::mutex> lock(s.mu);
    return s.current();
}

const captured_field* captured_record::find(std::string_view key) const noexcept {
    for (const auto& f : fields)
        if (f.key == key) return &f;
    return nullptr;
}

capture::capture(log_config with) {
    log_state& s = the_state();
    std::lock_guard<std::mutex> lock(s.mu);
    previous_ = s.capturing;
    previous_settings_ = s.current();
    s.capturing = this;
    s.apply(with);
}

capture::~capture() {
    log_state& s = the_state();
    std::lock_guard<std::mutex> lock(s.mu);
    s.capturing = previous_;
    s.apply(previous_settings_);
}

std::vector<captured_record> capture::records() const {
    std::lock_guard<std::mutex> lock(the_state().mu);
    return records_;
}

std::vector<captured_record> capture::with(std::string_view component, std::string_view key) const {
    std::lock_guard<std::mutex> lock(the_state().mu);
    std::vector<captured_record> out;
    for (const auto& r : records_)
        if (r.component == component && r.find(key) != nullptr) out.push_back(r);
    return out;
}

std::vector<std::string> capture::lines() const {
    std::lock_guard<std::mutex> lock(the_state().mu);
    return lines_;
}

} // namespace tapewire::log
