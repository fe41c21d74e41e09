// The tables' declarations (src/sql/tables.hpp): what each column reads from its row, the keys that
// find repeats in a batch, and the definitions the dialect's text is made from.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "src/sql/tables.hpp"

using namespace tapewire;
using namespace tapewire::sql;

namespace {

using value = std::variant<double, std::int64_t, std::string_view, time_value, base64_value>;

// Every column of `row`, by name, in the declared order.
template <class Schema>
std::vector<std::pair<std::string, value>> columns_of(const typename Schema::row& row, const row_context& ctx) {
    std::vector<std::pair<std::string, value>> out;
    for_each_column<Schema>([&](std::size_t, const auto& c) {
        const auto v = read(c, row, ctx);
        if constexpr (std::is_integral_v<decltype(v)>)
            out.emplace_back(std::string(c.name), std::int64_t{v});
        else
            out.emplace_back(std::string(c.name), v);
    });
    return out;
}

template <class T> T get(const std::vector<std::pair<std::string, value>>& cols, std::string_view name) {
    for (const auto& [n, v] : cols)
        if (n == name) return std::get<T>(v);
    FAIL("no column " << name);
    return T{};
}

} // namespace

TEST_CASE("a bar's columns read its fields, with the batch's write time as updated_at", "[sql]") {
    bar b;
    b.sym = symbol::from("AAPL");
    b.window_start = 1'000;
    b.window_end = 2'000;
    b.open = 1.5;
    b.close = 2.5;
    b.trades = std::numeric_limits<std::uint64_t>::max(); // past BIGINT: held at its largest value
    b.revision = 3;
    const row_context ctx{.now = 77};
    const auto cols = columns_of<bars_schema>(b, ctx);
    REQUIRE(cols.size() == 16);
    CHECK(cols.front().first == "symbol");
    CHECK(cols.back().first == "updated_at");
    CHECK(get<std::string_view>(cols, "symbol") == "AAPL");
    CHECK(get<time_value>(cols, "window_start").ns == 1'000);
    CHECK(get<time_value>(cols, "window_end").ns == 2'000);
    CHECK(get<double>(cols, "open") == 1.5);
    CHECK(get<double>(cols, "close") == 2.5);
    CHECK(std::isnan(get<double>(cols, "vwap"))); // NULL
    CHECK(get<std::int64_t>(cols, "trades") == std::numeric_limits<std::int64_t>::max());
    CHECK(get<std::int64_t>(cols, "revision") == 3);
    CHECK(get<time_value>(cols, "updated_at").ns == 77);
}

TEST_CASE("ticks take their source and checkpoints their group and topic from the batch", "[sql]") {
    tick t = tick::trade(symbol::from("MSFT"), 5'000, 10.25, 3);
    t.src.partition = 4;
    t.src.offset = 99;
    const row_context ctx{.now = 1, .source = "ticks@1", .group = "g", .topic = "in"};
    const auto tc = columns_of<ticks_schema>(t, ctx);
    CHECK(get<std::string_view>(tc, "source") == "ticks@1");
    CHECK(get<std::int64_t>(tc, "src_partition") == 4);
    CHECK(get<std::int64_t>(tc, "src_offset") == 99);
    CHECK(get<double>(tc, "price") == 10.25);
    CHECK(get<double>(tc, "size") == 3);
    CHECK(std::isnan(get<double>(tc, "bid")));

    partition_checkpoint k{7, 1234, std::string("\0\x01state", 7)};
    const auto oc = columns_of<offsets_schema>(k, ctx);
    const auto sc = columns_of<state_schema>(k, ctx);
    for (const auto* c : {&oc, &sc}) {
        CHECK(get<std::string_view>(*c, "consumer_group") == "g");
        CHECK(get<std::string_view>(*c, "topic") == "in");
        CHECK(get<std::int64_t>(*c, "src_partition") == 7);
        CHECK(get<std::int64_t>(*c, "next_offset") == 1234);
    }
    CHECK(get<base64_value>(sc, "state").bytes == k.state); // every byte, encoded by the store
}

TEST_CASE("a dead letter keeps its own receive time, or takes the batch's", "[sql]") {
    dead_letter_row d;
    d.reason = "not_json";
    d.payload = "{";
    d.source = "ticks";
    d.partition = 2;
    d.offset = 5;
    const row_context ctx{.now = 900};
    CHECK(get<time_value>(columns_of<dead_letters_schema>(d, ctx), "received_at").ns == 900);
    d.received_at = 800;
    const auto cols = columns_of<dead_letters_schema>(d, ctx);
    CHECK(get<time_value>(cols, "received_at").ns == 800);
    CHECK(get<std::string_view>(cols, "payload") == "{");
    CHECK(get<std::string_view>(cols, "reason") == "not_json");
}

TEST_CASE("a table's key reads the key columns in the key's order", "[sql]") {
    tick t;
    t.src.partition = 3;
    t.src.offset = 8;
    const row_context ctx{.source = "s"};
    // ticks: (src_partition, src_offset, source), not the column order.
    CHECK(key_of<ticks_schema>(t, ctx) == std::tuple{std::int32_t{3}, std::int64_t{8}, std::string_view("s")});
    alert a;
    a.sym = symbol::from("X");
    a.ts = 10;
    a.kind = alert_kind::volume_spike;
    CHECK(key_of<alerts_schema>(a, ctx) == std::tuple{std::string_view("X"), time_value{10}, to_string(a.kind)});
    static_assert(key_columns<ticks_schema> == std::array<std::size_t, 3>{1, 2, 0});
    static_assert(column_index<bars_schema>("updated_at") == 15);
    static_assert(column_index<bars_schema>("no_such_column") == column_count<bars_schema>);
}

TEST_CASE("a bar's width_ns is window_end - window_start and leads the key after symbol", "[sql]") {
    bar b;
    b.sym = symbol::from("AAPL");
    b.window_start = 1'767'623'400'000'000'000;
    b.window_end = b.window_start + 300'000'000'000; // 5 m
    const auto cols = columns_of<bars_schema>(b, row_context{});
    CHECK(get<std::int64_t>(cols, "width_ns") == 300'000'000'000);
    b.window_end = b.window_start + 1; // exact to the nanosecond, though the times are kept to the microsecond
    CHECK(get<std::int64_t>(columns_of<bars_schema>(b, row_context{}), "width_ns") == 1);
    // Two widths starting together are two rows: the key holds the width.
    bar wide = b;
    wide.window_end = b.window_start + 60'000'000'000;
    CHECK(key_of<bars_schema>(b, row_context{}) ==
          std::tuple{std::string_view("AAPL"), std::int64_t{1}, time_value{b.window_start}});
    CHECK(key_of<bars_schema>(b, row_context{}) != key_of<bars_schema>(wide, row_context{}));
    CHECK(bars_table("bars").key == std::vector<std::string>{"symbol", "width_ns", "window_start"});
    CHECK(bars_table("bars").columns[column_index<bars_schema>("width_ns")].type == column_type::int64);
}

TEST_CASE("the dialect's definitions list the declared columns, key and conflict rule", "[sql]") {
    const table_def t = offsets_table("tapewire_offsets");
    CHECK(t.name == "tapewire_offsets");
    REQUIRE(t.columns.size() == column_count<offsets_schema>);
    CHECK(t.columns[2].name == "src_partition");
    CHECK(t.columns[2].type == column_type::int32);
    CHECK(t.key == std::vector<std::string>{"consumer_group", "topic", "src_partition"});
    CHECK(t.conflict == on_conflict::update_if_not_older);
    CHECK(t.guard == "next_offset");
    CHECK(t.is_key("topic"));
    CHECK_FALSE(t.is_key("next_offset"));
    CHECK(bars_table("b").without_rowid);
    CHECK_FALSE(dead_letters_table("d").without_rowid);
    std::vector<table_id> ids;
    for_each_table([&]<class Schema>(std::type_identity<Schema>) { ids.push_back(Schema::id); });
    CHECK(ids == std::vector<table_id>{table_id::bars, table_id::alerts, table_id::dead_letters, table_id::ticks,
                                       table_id::offsets, table_id::state});
}

TEST_CASE("table names are looked up by table_id", "[sql]") {
    const table_names n{.bars = "b", .alerts = "a", .dead_letters = "d", .ticks = "t", .offsets = "o", .state = "s"};
    CHECK(n.of(table_id::bars) == "b");
    CHECK(n.of(table_id::alerts) == "a");
    CHECK(n.of(table_id::dead_letters) == "d");
    CHECK(n.of(table_id::ticks) == "t");
    CHECK(n.of(table_id::offsets) == "o");
    CHECK(n.of(table_id::state) == "s");
}
