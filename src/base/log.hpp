// The engine's one log: records with a level, a timestamp, the component that speaks ("kafka",
// "sql", "fetch", "pipeline", "cli", ...), a message and key = value fields, written to stderr as a
// human line or as one JSON object per line (log.level, log.format). spdlog writes them; it stays
// out of this header, which much of the engine includes.
//
// Safe from any thread, librdkafka's callbacks included. Not for the hot path: a record that passes
// the level formats, allocates and takes a lock.
//
//     log::warn("sql", "database unavailable, holding the batch",
//               {{"sqlstate", e.state}, {"rows", batch.rows()}, {"retry_in", duration{wait}}});
//
// writes, as text:
//     2025-01-02T14:30:00.123Z WARN  sql: database unavailable, holding the batch sqlstate=08001 rows=120
//     retry_in=250ms
// (one line), or as json:
//     {"ts":"2025-01-02T14:30:00.123Z","level":"warn","component":"sql","msg":"database unavailable,
//     holding the batch","sqlstate":"08001","rows":120,"retry_in":"250ms"}
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/config.hpp"

namespace tapewire::log {

enum class field_kind : std::uint8_t { integer, unsigned_integer, number, boolean, text, duration };

// One key = value of a record. It views its key and text: it lives for the call it is passed to.
// Field keys are snake_case words; "ts", "level", "component" and "msg" are the record's own.
class field {
public:
    template <std::signed_integral T> field(std::string_view key, T v) noexcept
        : key_(key), kind_(field_kind::integer), integer_(v) {}
    template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>) field(std::string_view key, T v)
    noexcept : key_(key), kind_(field_kind::unsigned_integer), unsigned_(v) {}
    field(std::string_view key, bool v) noexcept : key_(key), kind_(field_kind::boolean), integer_(v ? 1 : 0) {}
    field(std::string_view key, double v) noexcept : key_(key), kind_(field_kind::number), number_(v) {}
    field(std::string_view key, std::string_view v) noexcept : key_(key), kind_(field_kind::text), text_(v) {}
    field(std::string_view key, const char* v) noexcept : field(key, std::string_view(v != nullptr ? v : "")) {}
    field(std::string_view key, const std::string& v) noexcept : field(key, std::string_view(v)) {}
    // Written as duration text to three significant digits: "250ms", "1.23s", "5m".
    template <class Rep, class Period> field(std::string_view key, std::chrono::duration<Rep, Period> v) noexcept
        : key_(key), kind_(field_kind::duration),
          integer_(std::chrono::duration_cast<std::chrono::nanoseconds>(v).count()) {}

    [[nodiscard]] std::string_view key() const noexcept { return key_; }
    [[nodiscard]] field_kind kind() const noexcept { return kind_; }
    [[nodiscard]] std::int64_t integer() const noexcept { return integer_; } // integer, boolean, duration (ns)
    [[nodiscard]] std::uint64_t unsigned_integer() const noexcept { return unsigned_; }
    [[nodiscard]] double number() const noexcept { return number_; }
    [[nodiscard]] std::string_view text() const noexcept { return text_; }

private:
    std::string_view key_;
    field_kind kind_;
    std::int64_t integer_ = 0;
    std::uint64_t unsigned_ = 0;
    double number_ = 0;
    std::string_view text_;
};

using fields = std::initializer_list<field>;

namespace detail {
extern std::atomic<std::uint8_t> min_level; // the least severe level written, as a log_level
} // namespace detail

// Whether a record of this level would be written: a caller that must work to build a record can
// ask first. The level functions below ask themselves.
[[nodiscard]] inline bool enabled(log_level l) noexcept {
    return static_cast<std::uint8_t>(l) >= detail::min_level.load(std::memory_order_relaxed);
}

// Writes one record if its level passes. Takes a span for a record whose fields depend on the case
// (a std::vector<field>); the functions below take the usual braced list.
void write(log_level l, std::string_view component, std::string_view message, std::span<const field> f = {});

inline void debug(std::string_view component, std::string_view message, fields f = {}) {
    if (enabled(log_level::debug)) write(log_level::debug, component, message, {f.begin(), f.size()});
}
inline void info(std::string_view component, std::string_view message, fields f = {}) {
    if (enabled(log_level::info)) write(log_level::info, component, message, {f.begin(), f.size()});
}
inline void warn(std::string_view component, std::string_view message, fields f = {}) {
    if (enabled(log_level::warn)) write(log_level::warn, component, message, {f.begin(), f.size()});
}
inline void error(std::string_view component, std::string_view message, fields f = {}) {
    if (enabled(log_level::error)) write(log_level::error, component, message, {f.begin(), f.size()});
}

// Applies [log]; the built-in defaults (info, text) hold until it is called.
void configure(const log_config& settings);
[[nodiscard]] log_config settings();

// ---- the test hook ----

// A field as a capture keeps it.
struct captured_field {
    std::string key;
    field_kind kind = field_kind::text;
    std::string text;         // the value as the text format writes it, unquoted: "3", "250ms", "ticks"
    std::int64_t integer = 0; // integer and unsigned kinds, a duration's nanoseconds (unrounded), a boolean's 0/1
    double number = 0;        // the number kind, and the integer kinds converted
};

struct captured_record {
    log_level level = log_level::info;
    std::string component;
    std::string message;
    std::vector<captured_field> fields;

    // The field named `key`, or null.
    [[nodiscard]] const captured_field* find(std::string_view key) const noexcept;
};

// While one lives, records go to it instead of stderr: the structured record, and the line the
// format would have written. Its settings apply meanwhile; the previous capture (if any) and
// settings come back when it goes. Made and dropped on one thread; records arrive from any.
class capture {
public:
    explicit capture(log_config with = {log_level::debug, log_format::text});
    ~capture();
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;

    [[nodiscard]] std::vector<captured_record> records() const;
    // The records of `component` that carry a field named `key`.
    [[nodiscard]] std::vector<captured_record> with(std::string_view component, std::string_view key) const;
    [[nodiscard]] std::vector<std::string> lines() const;

private:
    friend struct sink_access;
    std::vector<captured_record> records_;
    std::vector<std::string> lines_;
    capture* previous_ = nullptr;
    log_config previous_settings_;
};

} // namespace tapewire::log
