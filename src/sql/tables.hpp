// The store's six tables, each declared once: its columns in order (name, SQL type, and how the
// value is read from the row the table stores), its key, and what a write does when the key exists.
// The dialect makes every statement's text from these (table_def, src/sql/dialect) and the store
// binds the columns from the same accessors (src/sql/store.cpp): adding a column is one line here.
//
// An accessor takes the row (and, when it needs one, the batch's row_context) and returns how the
// value travels: double (NaN = NULL), a signed integer, std::string_view (text, made valid UTF-8 by
// the store), time_value (UTC timestamp) or base64_value (bytes, stored as base64 text). The
// declarations are checked when this header compiles: every column's value fits its SQL type, every
// key and guard column exists, every name is an identifier.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "src/base/identifier.hpp"
#include "src/sql/store.hpp"
#include "tapewire/types.hpp"

namespace tapewire::sql {

// ---- what a declaration says ---------------------------------------------------------------------

enum class column_type {
    symbol,    // a ticker or alert kind: short text
    name,      // topic, group, source, reason: text up to 200 characters
    long_text, // payload, detail, message key: unbounded text
    ascii,     // base64 state: unbounded ASCII text
    int32,
    int64,
    float64,
    timestamp, // UTC, microseconds
};

enum class on_conflict {
    update,              // upsert: the row's other columns take the new values
    ignore,              // insert; a row whose key exists is skipped
    update_if_not_older, // upsert only when the new `guard` column >= the stored one
};

// What an accessor may read besides its row: the same for every row of a batch.
struct row_context {
    timestamp_ns now = 0;    // the batch's write time (updated_at)
    std::string_view source; // archived ticks: the input they came from
    std::string_view group;  // checkpoints: the consumer group and input topic they belong to
    std::string_view topic;
};

struct time_value {
    timestamp_ns ns = 0;
    bool operator==(const time_value&) const = default;
};
struct base64_value {
    std::string_view bytes;
};

template <class Read> struct column {
    std::string_view name;
    column_type type;
    Read read; // (const Row&) or (const Row&, const row_context&) → the value
};
template <class Read> column(std::string_view, column_type, Read) -> column<Read>;

// ---- the tables ----------------------------------------------------------------------------------

struct bars_schema {
    using row = bar;
    static constexpr table_id id = table_id::bars;
    static constexpr auto columns = std::tuple{
        column{"symbol", column_type::symbol, [](const bar& x) { return x.sym.view(); }},
        column{"window_start", column_type::timestamp, [](const bar& x) { return time_value{x.window_start}; }},
        column{"window_end", column_type::timestamp, [](const bar& x) { return time_value{x.window_end}; }},
        // Exact in nanoseconds; the two times are kept to the microsecond only.
        column{"width_ns", column_type::int64, [](const bar& x) { return std::int64_t{bar_width(x)}; }},
        column{"open", column_type::float64, [](const bar& x) { return x.open; }},
        column{"high", column_type::float64, [](const bar& x) { return x.high; }},
        column{"low", column_type::float64, [](const bar& x) { return x.low; }},
        column{"close", column_type::float64, [](const bar& x) { return x.close; }},
        column{"volume", column_type::float64, [](const bar& x) { return x.volume; }},
        column{"trades", column_type::int64,
               [](const bar& x) {
                   constexpr std::uint64_t k_max = std::numeric_limits<std::int64_t>::max();
                   return static_cast<std::int64_t>(std::min(x.trades, k_max));
               }},
        column{"vwap", column_type::float64, [](const bar& x) { return x.vwap; }},
        column{"session_vwap", column_type::float64, [](const bar& x) { return x.session_vwap; }},
        column{"rolling_vwap", column_type::float64, [](const bar& x) { return x.rolling_vwap; }},
        column{"vwap_dev_bps", column_type::float64, [](const bar& x) { return x.vwap_dev_bps; }},
        column{"revision", column_type::int32, [](const bar& x) { return std::int64_t{x.revision}; }},
        column{"updated_at", column_type::timestamp,
               [](const bar&, const row_context& c) { return time_value{c.now}; }},
    };
    // Bars of several widths share the table: a symbol's bars of one width sit together in the key.
    static constexpr std::array<std::string_view, 3> key{"symbol", "width_ns", "window_start"};
    static constexpr on_conflict conflict = on_conflict::update;
    static constexpr std::string_view guard{};
    static constexpr bool without_rowid = true; // SQLite: cluster on the key (small rows)
};

struct alerts_schema {
    using row = alert;
    static constexpr table_id id = table_id::alerts;
    static constexpr auto columns = std::tuple{
        column{"symbol", column_type::symbol, [](const alert& x) { return x.sym.view(); }},
        column{"ts", column_type::timestamp, [](const alert& x) { return time_value{x.ts}; }},
        column{"kind", column_type::symbol, [](const alert& x) { return to_string(x.kind); }},
        column{"value", column_type::float64, [](const alert& x) { return x.value; }},
        column{"threshold", column_type::float64, [](const alert& x) { return x.threshold; }},
        column{"score", column_type::float64, [](const alert& x) { return x.score; }},
        column{"updated_at", column_type::timestamp,
               [](const alert&, const row_context& c) { return time_value{c.now}; }},
    };
    static constexpr std::array<std::string_view, 3> key{"symbol", "ts", "kind"};
    static constexpr on_conflict conflict = on_conflict::update;
    static constexpr std::string_view guard{};
    static constexpr bool without_rowid = true;
};

struct dead_letters_schema {
    using row = dead_letter_row;
    static constexpr table_id id = table_id::dead_letters;
    static constexpr auto columns = std::tuple{
        column{"source", column_type::name, [](const dead_letter_row& x) { return std::string_view(x.source); }},
        column{"src_partition", column_type::int32, [](const dead_letter_row& x) { return x.partition; }},
        column{"src_offset", column_type::int64, [](const dead_letter_row& x) { return x.offset; }},
        column{"reason", column_type::name, [](const dead_letter_row& x) { return std::string_view(x.reason); }},
        column{"detail", column_type::long_text, [](const dead_letter_row& x) { return std::string_view(x.detail); }},
        column{"msg_key", column_type::long_text, [](const dead_letter_row& x) { return std::string_view(x.key); }},
        column{"payload", column_type::long_text, [](const dead_letter_row& x) { return std::string_view(x.payload); }},
        column{"received_at", column_type::timestamp,
               [](const dead_letter_row& x, const row_context& c) {
                   return time_value{x.received_at != 0 ? x.received_at : c.now};
               }},
    };
    static constexpr std::array<std::string_view, 3> key{"source", "src_partition", "src_offset"};
    static constexpr on_conflict conflict = on_conflict::ignore;
    static constexpr std::string_view guard{};
    static constexpr bool without_rowid = false;
};

struct ticks_schema {
    using row = tick;
    static constexpr table_id id = table_id::ticks;
    static constexpr auto columns = std::tuple{
        column{"source", column_type::name, [](const tick&, const row_context& c) { return c.source; }},
        column{"src_partition", column_type::int32, [](const tick& x) { return x.src.partition; }},
        column{"src_offset", column_type::int64, [](const tick& x) { return x.src.offset; }},
        column{"symbol", column_type::symbol, [](const tick& x) { return x.sym.view(); }},
        column{"ts", column_type::timestamp, [](const tick& x) { return time_value{x.ts}; }},
        column{"price", column_type::float64, [](const tick& x) { return x.close; }},
        column{"size", column_type::float64, [](const tick& x) { return x.volume; }},
        column{"bid", column_type::float64, [](const tick& x) { return x.bid; }},
        column{"ask", column_type::float64, [](const tick& x) { return x.ask; }},
    };
    // The high-volume table leads its key with the fixed-width columns (cheaper index compares).
    static constexpr std::array<std::string_view, 3> key{"src_partition", "src_offset", "source"};
    static constexpr on_conflict conflict = on_conflict::ignore;
    static constexpr std::string_view guard{};
    static constexpr bool without_rowid = true;
};

// A partition's checkpoint is two rows, its offset and its state, each placed by the same columns
// and upserted only forward: a late commit of an old owner cannot rewind a partition.
struct checkpoint_schema {
    using row = partition_checkpoint;
    static constexpr auto place = std::tuple{
        column{"consumer_group", column_type::name,
               [](const partition_checkpoint&, const row_context& c) { return c.group; }},
        column{"topic", column_type::name, [](const partition_checkpoint&, const row_context& c) { return c.topic; }},
        column{"src_partition", column_type::int32, [](const partition_checkpoint& x) { return x.partition; }},
        column{"next_offset", column_type::int64, [](const partition_checkpoint& x) { return x.next_offset; }},
    };
    static constexpr auto updated_at =
        column{"updated_at", column_type::timestamp,
               [](const partition_checkpoint&, const row_context& c) { return time_value{c.now}; }};
    static constexpr std::array<std::string_view, 3> key{"consumer_group", "topic", "src_partition"};
    static constexpr on_conflict conflict = on_conflict::update_if_not_older;
    static constexpr std::string_view guard = "next_offset";
    static constexpr bool without_rowid = false;
};

struct offsets_schema : checkpoint_schema {
    static constexpr table_id id = table_id::offsets;
    static constexpr auto columns = std::tuple_cat(place, std::tuple{updated_at});
};

struct state_schema : checkpoint_schema {
    static constexpr table_id id = table_id::state;
    static constexpr auto columns =
        std::tuple_cat(place, std::tuple{column{"state", column_type::ascii,
                                                [](const partition_checkpoint& x) { return base64_value{x.state}; }},
                                         updated_at});
};

// Calls f(std::type_identity<Schema>{}) for each table, in table_id order.
template <class F> void for_each_table(F&& f) {
    f(std::type_identity<bars_schema>{});
    f(std::type_identity<alerts_schema>{});
    f(std::type_identity<dead_letters_schema>{});
    f(std::type_identity<ticks_schema>{});
    f(std::type_identity<offsets_schema>{});
    f(std::type_identity<state_schema>{});
}

// ---- reading a declaration -----------------------------------------------------------------------

// Column `c`'s value of `row`.
template <class Row, class Column> constexpr auto read(const Column& c, const Row& row, const row_context& ctx) {
    if constexpr (std::is_invocable_v<decltype(c.read), const Row&, const row_context&>)
        return c.read(row, ctx);
    else
        return c.read(row);
}

template <class Schema> inline constexpr std::size_t column_count =
    std::tuple_size_v<std::remove_const_t<decltype(Schema::columns)>>;

// Calls f(index, column) for each column, in order.
template <class Schema, class F> constexpr void for_each_column(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (f(std::integral_constant<std::size_t, I>{}, std::get<I>(Schema::columns)), ...);
    }
    (std::make_index_sequence<column_count<Schema>>{});
}

template <class Schema> constexpr std::size_t column_index(std::string_view name) {
    std::size_t found = column_count<Schema>;
    for_each_column<Schema>([&](auto i, const auto& c) {
        if (c.name == name) found = i;
    });
    return found;
}

// Where each key column is among the columns.
template <class Schema> inline constexpr auto key_columns = [] {
    std::array<std::size_t, Schema::key.size()> out{};
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = column_index<Schema>(Schema::key[k]);
    return out;
}();

// A row's key values, as a tuple (to find repeats of a key within a batch).
template <class Schema> auto key_of(const typename Schema::row& row, const row_context& ctx) {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
        return std::tuple{read(std::get<key_columns<Schema>[K]>(Schema::columns), row, ctx)...};
    }
    (std::make_index_sequence<Schema::key.size()>{});
}

// The value types each SQL type takes.
template <class V> constexpr bool fits(column_type t) {
    switch (t) {
    case column_type::symbol:
    case column_type::name:
    case column_type::long_text: return std::is_same_v<V, std::string_view>;
    case column_type::ascii: return std::is_same_v<V, base64_value>;
    case column_type::int32:
    case column_type::int64: return std::signed_integral<V>;
    case column_type::float64: return std::is_same_v<V, double>;
    case column_type::timestamp: return std::is_same_v<V, time_value>;
    }
    return false;
}

template <class Schema> constexpr bool well_formed() {
    bool ok = true;
    for_each_column<Schema>([&](auto i, const auto& c) {
        using value = decltype(read(c, std::declval<const typename Schema::row&>(), row_context{}));
        ok = ok && fits<value>(c.type) && is_sql_identifier(c.name) && column_index<Schema>(c.name) == i;
    });
    for (std::size_t k : key_columns<Schema>) ok = ok && k < column_count<Schema>;
    if (Schema::conflict == on_conflict::update_if_not_older)
        ok = ok && column_index<Schema>(Schema::guard) < column_count<Schema>;
    return ok;
}

static_assert(well_formed<bars_schema>());
static_assert(well_formed<alerts_schema>());
static_assert(well_formed<dead_letters_schema>());
static_assert(well_formed<ticks_schema>());
static_assert(well_formed<offsets_schema>());
static_assert(well_formed<state_schema>());

// ---- the declaration as data, for the dialect's text ------------------------------------------------

struct column_def {
    std::string name;
    column_type type;
};

struct table_def {
    std::string name; // validated identifier (from the config)
    std::vector<column_def> columns;
    std::vector<std::string> key; // the primary key's columns
    on_conflict conflict = on_conflict::update;
    std::string guard;          // update_if_not_older: the column that must not go backwards
    bool without_rowid = false; // SQLite: cluster on the key (small rows)

    [[nodiscard]] bool is_key(std::string_view column) const noexcept;
};

template <class Schema> table_def definition(std::string name) {
    table_def t;
    t.name = std::move(name);
    for_each_column<Schema>([&](auto, const auto& c) { t.columns.push_back({std::string(c.name), c.type}); });
    t.key.assign(Schema::key.begin(), Schema::key.end());
    t.conflict = Schema::conflict;
    t.guard = std::string(Schema::guard);
    t.without_rowid = Schema::without_rowid;
    return t;
}

// The six tables, with the names from the config.
inline table_def bars_table(std::string name) { return definition<bars_schema>(std::move(name)); }
inline table_def alerts_table(std::string name) { return definition<alerts_schema>(std::move(name)); }
inline table_def dead_letters_table(std::string name) { return definition<dead_letters_schema>(std::move(name)); }
inline table_def ticks_table(std::string name) { return definition<ticks_schema>(std::move(name)); }
inline table_def offsets_table(std::string name) { return definition<offsets_schema>(std::move(name)); }
inline table_def state_table(std::string name) { return definition<state_schema>(std::move(name)); }

} // namespace tapewire::sql
