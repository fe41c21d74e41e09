// The SQL store against real databases through ODBC: SQLite (a file in the work folder), a
// throwaway PostgreSQL 15 (test/pg_server.hpp), and a live SQL Server when
// TAPEWIRE_MSSQL_CONNECTION names one. Each check runs on fresh tables; rows are read back through a
// separate ODBC connection.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pg_server.hpp"
#include "src/base/log.hpp"
#include "src/sql/dialect.hpp"
#include "src/sql/odbc.hpp"
#include "src/sql/store.hpp"
#include "tapewire/config.hpp"
#include "tapewire/time_text.hpp"

namespace {

using namespace tapewire;
using namespace tapewire::sql;
using tapewire::test::pg_server;

constexpr timestamp_ns k_sec = 1'000'000'000;
constexpr timestamp_ns k_t0 = 1767623400123456789; // 2026-01-05T14:30:00.123456789Z
constexpr double k_nan = k_null_double;

// The config's default names.
table_names default_tables() {
    const sink_config d;
    return {.bars = d.bars_table,
            .alerts = d.alerts_table,
            .dead_letters = d.dead_letters_table,
            .ticks = d.ticks_table,
            .offsets = d.offsets_table,
            .state = d.state_table};
}

// A database and a set of table names for one check.
struct target {
    std::string name;
    dialect_kind kind = dialect_kind::sqlite;
    std::string connection;
    table_names tables = default_tables();
    bool archive_ticks = true;
    std::unique_ptr<pg_server> pg;
    bool drop_tables = false; // a shared database (SQL Server): drop the tables at the end

    target() = default;
    target(const target&) = delete;
    target& operator=(const target&) = delete;
    ~target();

    [[nodiscard]] std::string q(std::string_view ident) const { return quote(kind, ident); }
    [[nodiscard]] store_options options(std::string group = "g", std::string topic = "ticks") const {
        return store_options{connection, std::move(group), std::move(topic), tables, archive_ticks};
    }
};

using row = std::vector<std::optional<std::string>>;

void exec(const target& t, const std::string& sql) {
    odbc::connection c(t.connection);
    c.exec(sql);
    c.commit();
}

std::vector<row> select(const target& t, const std::string& sql) {
    odbc::connection c(t.connection);
    odbc::statement s(c);
    s.prepare(sql);
    s.query();
    SQLSMALLINT ncols = 0;
    REQUIRE(SQLNumResultCols(s.handle(), &ncols) == SQL_SUCCESS);
    std::vector<row> out;
    while (s.fetch()) {
        row r;
        for (SQLSMALLINT i = 1; i <= ncols; ++i)
            r.push_back(s.get_text(static_cast<SQLUSMALLINT>(i), t.kind == dialect_kind::sqlserver));
        out.push_back(std::move(r));
    }
    s.close_cursor();
    c.rollback();
    return out;
}

std::int64_t count_rows(const target& t, const std::string& table) {
    const auto rows = select(t, "SELECT COUNT(*) FROM " + t.q(table));
    REQUIRE(rows.size() == 1);
    return std::stoll(rows[0][0].value());
}

double num(const std::optional<std::string>& v) {
    REQUIRE(v.has_value());
    return std::stod(*v);
}

timestamp_ns when(const std::optional<std::string>& v) {
    REQUIRE(v.has_value());
    timestamp_ns ts = 0;
    INFO("timestamp text: " << *v);
    REQUIRE(parse_timestamp_text(*v, ts));
    return ts;
}

target::~target() {
    if (!drop_tables) return;
    for (const std::string* n :
         {&tables.bars, &tables.alerts, &tables.dead_letters, &tables.ticks, &tables.offsets, &tables.state}) {
        try {
            exec(*this, "IF OBJECT_ID(N'" + q(*n) + "', N'U') IS NOT NULL DROP TABLE " + q(*n));
        } catch (...) {
        }
    }
}

std::unique_ptr<target> sqlite_target(const std::string& tag) {
    auto t = std::make_unique<target>();
    t->name = "SQLite";
    t->kind = dialect_kind::sqlite;
    const std::string file = "sql_store_" + tag + ".db";
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(file + suffix);
    t->connection = "Driver=SQLite3;Database=" + file;
    return t;
}

std::unique_ptr<target> postgres_target(const std::string& tag) {
    auto t = std::make_unique<target>();
    t->name = "PostgreSQL";
    t->kind = dialect_kind::postgresql;
    t->pg = std::make_unique<pg_server>("sql_store_" + tag);
    t->connection = t->pg->odbc_connection();
    return t;
}

const char* mssql_connection() { return std::getenv("TAPEWIRE_MSSQL_CONNECTION"); }

// Fresh table names in the shared database, dropped at the end.
std::unique_ptr<target> sqlserver_target() {
    auto t = std::make_unique<target>();
    t->name = "SQL Server";
    t->kind = dialect_kind::sqlserver;
    t->connection = mssql_connection();
    std::random_device rd;
    const std::string suffix = "_tw" + std::to_string(rd() % 1000000000);
    auto& n = t->tables;
    for (std::string* name : {&n.bars, &n.alerts, &n.dead_letters, &n.ticks, &n.offsets, &n.state}) *name += suffix;
    t->drop_tables = true;
    return t;
}

bar make_bar(std::string_view sym, timestamp_ns start, double close) {
    bar b;
    b.sym = symbol::from(sym);
    b.window_start = start;
    b.window_end = start + k_sec;
    b.open = b.high = b.low = b.close = close;
    b.volume = 10;
    b.trades = 3;
    b.vwap = close;
    b.session_vwap = close;
    b.rolling_vwap = close;
    b.vwap_dev_bps = 0.5;
    return b;
}

alert make_alert(std::string_view sym, timestamp_ns ts, alert_kind kind, double value) {
    alert a;
    a.sym = symbol::from(sym);
    a.ts = ts;
    a.kind = kind;
    a.value = value;
    a.threshold = 0.25;
    a.score = value / 0.25;
    return a;
}

tick make_tick(std::int32_t partition, std::int64_t offset, double price) {
    tick t = tick::trade(symbol::from("AAA"), k_t0 + offset, price, 100);
    t.src.partition = partition;
    t.src.offset = offset;
    return t;
}

dead_letter_row make_dead_letter(std::int32_t partition, std::int64_t offset, std::string payload) {
    dead_letter_row d;
    d.reason = "bad_price";
    d.detail = "price";
    d.payload = std::move(payload);
    d.key = "AAA";
    d.source = "ticks";
    d.partition = partition;
    d.offset = offset;
    d.received_at = k_t0;
    return d;
}

// The CHECK that makes the database refuse the symbol POISON: SQLite cannot add a constraint to
// a table, so there the test creates the bars table itself before the store does.
void refuse_poison(const target& t, bool before_store) {
    if (t.kind == dialect_kind::sqlite) {
        if (!before_store) return;
        std::string ddl = create_table(t.kind, bars_table(t.tables.bars));
        const auto at = ddl.find(", PRIMARY KEY");
        REQUIRE(at != std::string::npos);
        ddl.insert(at, ", CHECK (\"symbol\" <> 'POISON')");
        exec(t, ddl);
    } else if (!before_store) {
        exec(t, "ALTER TABLE " + t.q(t.tables.bars) + " ADD CONSTRAINT " + t.q(t.tables.bars + "_no_poison") +
                    " CHECK (" + t.q("symbol") + " <> 'POISON')");
    }
}

// ---- the checks --------------------------------------------------------------------------------------

void check_schema_and_upserts(const target& t) {
    {
        store first(t.options());
        CHECK(first.dialect() == t.kind);
        CHECK(first.dbms().find(std::string(to_string(t.kind))) == 0);
    }
    store s(t.options()); // the schema exists: creating it again is fine
    store other(t.options());
    for (const std::string* n : {&t.tables.bars, &t.tables.alerts, &t.tables.dead_letters, &t.tables.ticks,
                                 &t.tables.offsets, &t.tables.state})
        CHECK(count_rows(t, *n) == 0);

    batch b1;
    b1.bars = {make_bar("AAA", k_t0, 1.5), make_bar("BBB", k_t0, 2.5)};
    b1.alerts = {make_alert("AAA", k_t0, alert_kind::price_jump, 0.5)};
    b1.written_at = k_t0 - 789 + 10 * k_sec;
    s.write(b1);

    // The same keys again in a later batch, and twice within one batch: the last row wins.
    batch b2;
    bar a2 = make_bar("AAA", k_t0, 3.25);
    a2.revision = 1;
    b2.bars = {a2, make_bar("CCC", k_t0 + k_sec, 4.0), make_bar("CCC", k_t0 + k_sec, 5.0)};
    b2.alerts = {make_alert("AAA", k_t0, alert_kind::price_jump, 0.75),
                 make_alert("AAA", k_t0, alert_kind::volume_spike, 9),
                 make_alert("AAA", k_t0, alert_kind::price_jump, 0.875)};
    b2.written_at = k_t0 - 789 + 20 * k_sec;
    s.write(b2);

    const auto bars = select(t, "SELECT " + t.q("symbol") + ", " + t.q("close") + ", " + t.q("revision") + ", " +
                                    t.q("updated_at") + " FROM " + t.q(t.tables.bars) + " ORDER BY " + t.q("symbol"));
    REQUIRE(bars.size() == 3);
    CHECK(bars[0][0] == "AAA");
    CHECK(num(bars[0][1]) == 3.25);
    CHECK(num(bars[0][2]) == 1);
    CHECK(when(bars[0][3]) == b2.written_at);
    CHECK(bars[1][0] == "BBB");
    CHECK(num(bars[1][1]) == 2.5);
    CHECK(when(bars[1][3]) == b1.written_at);
    CHECK(bars[2][0] == "CCC");
    CHECK(num(bars[2][1]) == 5.0);

    const auto alerts = select(t, "SELECT " + t.q("kind") + ", " + t.q("value") + ", " + t.q("score") + " FROM " +
                                      t.q(t.tables.alerts) + " ORDER BY " + t.q("kind"));
    REQUIRE(alerts.size() == 2);
    CHECK(alerts[0][0] == "price_jump");
    CHECK(num(alerts[0][1]) == 0.875);
    CHECK(num(alerts[0][2]) == 3.5);
    CHECK(alerts[1][0] == "volume_spike");
    CHECK(num(alerts[1][1]) == 9);
}

void check_nulls_and_timestamps(const target& t) {
    store s(t.options());
    batch b;
    bar x = make_bar("NUL", k_t0, 1.5);
    x.vwap = x.session_vwap = x.rolling_vwap = x.vwap_dev_bps = k_nan;
    x.volume = 0;
    x.window_end = k_t0 + k_sec + 1; // 1 ns past: cut to the microsecond
    b.bars = {x};
    b.alerts = {make_alert("NUL", k_t0 + 7, alert_kind::vwap_dev, k_nan)};
    tick plain = make_tick(0, 1, 10.5);
    tick quoted = make_tick(0, 2, 10.75);
    quoted.bid = 10.5;
    quoted.ask = 11;
    b.ticks = {plain, quoted};
    b.ticks_source = "ticks";
    b.written_at = k_t0 - 789 + 5 * k_sec + 654321000;
    s.write(b);

    const auto bars =
        select(t, "SELECT " + t.q("vwap") + ", " + t.q("session_vwap") + ", " + t.q("rolling_vwap") + ", " +
                      t.q("vwap_dev_bps") + ", " + t.q("open") + ", " + t.q("window_start") + ", " + t.q("window_end") +
                      ", " + t.q("updated_at") + " FROM " + t.q(t.tables.bars));
    REQUIRE(bars.size() == 1);
    CHECK_FALSE(bars[0][0].has_value());
    CHECK_FALSE(bars[0][1].has_value());
    CHECK_FALSE(bars[0][2].has_value());
    CHECK_FALSE(bars[0][3].has_value());
    CHECK(num(bars[0][4]) == 1.5);
    CHECK(when(bars[0][5]) == k_t0 - 789); // microseconds kept
    CHECK(when(bars[0][6]) == k_t0 + k_sec - 789);
    CHECK(when(bars[0][7]) == b.written_at);
    if (t.kind == dialect_kind::sqlite) CHECK(bars[0][5] == "2026-01-05T14:30:00.123456Z");

    const auto alerts = select(t, "SELECT " + t.q("value") + ", " + t.q("ts") + " FROM " + t.q(t.tables.alerts));
    REQUIRE(alerts.size() == 1);
    CHECK_FALSE(alerts[0][0].has_value());
    CHECK(when(alerts[0][1]) == k_t0 - 789);

    const auto ticks = select(t, "SELECT " + t.q("src_offset") + ", " + t.q("bid") + ", " + t.q("ask") + ", " +
                                     t.q("price") + ", " + t.q("size") + ", " + t.q("ts") + " FROM " +
                                     t.q(t.tables.ticks) + " ORDER BY " + t.q("src_offset"));
    REQUIRE(ticks.size() == 2);
    CHECK_FALSE(ticks[0][1].has_value());
    CHECK_FALSE(ticks[0][2].has_value());
    CHECK(num(ticks[0][3]) == 10.5);
    CHECK(num(ticks[0][4]) == 100);
    CHECK(num(ticks[1][1]) == 10.5);
    CHECK(num(ticks[1][2]) == 11);
    CHECK(when(ticks[1][5]) == k_t0 - 789); // k_t0 + 2 ns, cut to the microsecond
}

void check_inserts_skip_repeats(const target& t) {
    store s(t.options());
    batch b;
    b.dead_letters = {make_dead_letter(3, 17, "{\"first\":1}"), make_dead_letter(3, 17, "{\"again\":1}"),
                      make_dead_letter(3, 18, std::string("a\0b\xff", 4)), make_dead_letter(4, 17, "other")};
    b.dead_letters[2].key = "";
    b.ticks = {make_tick(0, 1, 10), make_tick(0, 2, 11), make_tick(0, 1, 99)};
    b.ticks_source = "ticks";
    s.write(b);

    batch again;
    again.dead_letters = {make_dead_letter(3, 17, "{\"third\":1}"), make_dead_letter(3, 19, "new")};
    again.ticks = {make_tick(0, 2, 77), make_tick(0, 3, 12), make_tick(1, 1, 13)};
    again.ticks_source = "ticks";
    s.write(again);
    again.ticks_source = "replay"; // another source: its own keys
    again.dead_letters.clear();
    s.write(again);

    const auto dl =
        select(t, "SELECT " + t.q("src_partition") + ", " + t.q("src_offset") + ", " + t.q("payload") + ", " +
                      t.q("msg_key") + ", " + t.q("reason") + ", " + t.q("received_at") + " FROM " +
                      t.q(t.tables.dead_letters) + " ORDER BY " + t.q("src_partition") + ", " + t.q("src_offset"));
    REQUIRE(dl.size() == 4);
    CHECK(dl[0][1] == "17");
    CHECK(dl[0][2] == "{\"first\":1}");
    CHECK(dl[0][4] == "bad_price");
    CHECK(when(dl[0][5]) == k_t0 - 789);
    CHECK(dl[1][2] == "a\xEF\xBF\xBD"
                      "b\xEF\xBF\xBD"); // stored as valid UTF-8 text
    CHECK((dl[1][3] == "" || !dl[1][3].has_value()));
    CHECK(dl[2][1] == "19");
    CHECK(dl[3][0] == "4");

    CHECK(count_rows(t, t.tables.ticks) == 4 + 3);
    const auto prices =
        select(t, "SELECT " + t.q("price") + " FROM " + t.q(t.tables.ticks) + " WHERE " + t.q("source") +
                      " = 'ticks' ORDER BY " + t.q("src_partition") + ", " + t.q("src_offset"));
    REQUIRE(prices.size() == 4);
    CHECK(num(prices[0][0]) == 10);
    CHECK(num(prices[1][0]) == 11);
    CHECK(num(prices[2][0]) == 12);
    CHECK(num(prices[3][0]) == 13);
}

void check_checkpoints(const target& t) {
    std::string all_bytes;
    for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
    {
        store s(t.options("g1", "ticks"));
        CHECK(s.load({0, 1, 2}).empty());
        batch b; // checkpoints alone are a batch
        b.checkpoints = {{0, 100, all_bytes}, {1, 5, ""}, {2, 7, "x"}, {2, 9, "y"}};
        REQUIRE_FALSE(b.empty());
        s.write(b);
    }
    store s(t.options("g1", "ticks")); // a restart reads what the last run committed
    auto got = s.load({0, 1, 2, 3});
    REQUIRE(got.size() == 3);
    CHECK(got[0].partition == 0);
    CHECK(got[0].next_offset == 100);
    CHECK(got[0].state == all_bytes);
    CHECK(got[1].partition == 1);
    CHECK(got[1].next_offset == 5);
    CHECK(got[1].state.empty());
    CHECK(got[2].partition == 2);
    CHECK(got[2].next_offset == 9); // the last checkpoint of a partition in a batch wins
    CHECK(got[2].state == "y");
    CHECK(s.load({1}).size() == 1);

    // A stale writer (after a rebalance) never moves an offset back, nor its state.
    batch stale;
    stale.checkpoints = {{0, 50, "stale"}, {1, 6, "moved"}};
    s.write(stale);
    got = s.load({0, 1});
    REQUIRE(got.size() == 2);
    CHECK(got[0].next_offset == 100);
    CHECK(got[0].state == all_bytes);
    CHECK(got[1].next_offset == 6);
    CHECK(got[1].state == "moved");

    batch newer;
    newer.checkpoints = {{0, 150, "new"}};
    s.write(newer);
    newer.checkpoints = {{0, 150, "same offset"}}; // the same offset again (a re-sent batch) may rewrite the state
    s.write(newer);
    got = s.load({0});
    REQUIRE(got.size() == 1);
    CHECK(got[0].next_offset == 150);
    CHECK(got[0].state == "same offset");

    // Checkpoints belong to a group and a topic.
    store other_group(t.options("g2", "ticks"));
    CHECK(other_group.load({0, 1, 2}).empty());
    store other_topic(t.options("g1", "quotes"));
    CHECK(other_topic.load({0, 1, 2}).empty());
    CHECK(count_rows(t, t.tables.offsets) == 3);
    CHECK(count_rows(t, t.tables.state) == 3);
}

void check_refused_rows(const target& t) {
    refuse_poison(t, true);
    store s(t.options());
    refuse_poison(t, false);

    batch b;
    b.bars = {make_bar("AAA", k_t0, 1), make_bar("POISON", k_t0, 2), make_bar("BBB", k_t0, 3)};
    b.alerts = {make_alert("AAA", k_t0, alert_kind::price_jump, 1)};
    b.dead_letters = {make_dead_letter(0, 1, "x")};
    b.checkpoints = {{0, 10, "state"}};

    for (int round = 0; round < 2; ++round) { // the connection stays usable after a refused batch
        try {
            s.write(b);
            FAIL("the batch with POISON was committed");
        } catch (const sql_error& e) {
            INFO(e.what());
            CHECK(e.cls == error_class::data);
        }
        CHECK(count_rows(t, t.tables.bars) == 0);
        CHECK(count_rows(t, t.tables.alerts) == 0);
        CHECK(count_rows(t, t.tables.dead_letters) == 0);
        CHECK(s.load({0}).empty());
    }

    // probe(): the same statements, never kept.
    try {
        s.probe(b);
        FAIL("probe accepted POISON");
    } catch (const sql_error& e) {
        CHECK(e.cls == error_class::data);
    }
    batch good = b;
    good.bars.erase(good.bars.begin() + 1);
    s.probe(good);
    CHECK(count_rows(t, t.tables.bars) == 0);
    CHECK(count_rows(t, t.tables.alerts) == 0);
    CHECK(s.load({0}).empty());

    s.write(good);
    CHECK(count_rows(t, t.tables.bars) == 2);
    CHECK(count_rows(t, t.tables.alerts) == 1);
    CHECK(count_rows(t, t.tables.dead_letters) == 1);
    const auto got = s.load({0});
    REQUIRE(got.size() == 1);
    CHECK(got[0].next_offset == 10);
}

void check_large_batch(const target& t) {
    store s(t.options());
    batch b;
    constexpr int n_bars = 20'011; // several arrays / statements and a remainder
    for (int i = 0; i < n_bars; ++i)
        b.bars.push_back(make_bar("S" + std::to_string(i % 1000), k_t0 + (i / 1000) * k_sec, 1 + i * 0.25));
    for (int i = 0; i < 25'003; ++i) b.ticks.push_back(make_tick(i % 7, i, 10 + (i % 100) * 0.01));
    b.ticks_source = "ticks";
    b.dead_letters = {make_dead_letter(0, 1, std::string(200'000, 'p')), make_dead_letter(0, 2, "small")};
    for (int p = 0; p < 64; ++p) b.checkpoints.push_back({p, 1000 + p, std::string(static_cast<std::size_t>(p), 's')});
    s.write(b);
    CHECK(count_rows(t, t.tables.bars) == n_bars);
    CHECK(count_rows(t, t.tables.ticks) == 25'003);
    CHECK(count_rows(t, t.tables.dead_letters) == 2);
    CHECK(s.load({63}).at(0).state == std::string(63, 's'));
    const auto big = select(t, "SELECT " + t.q("payload") + " FROM " + t.q(t.tables.dead_letters) + " WHERE " +
                                   t.q("src_offset") + " = 1");
    REQUIRE(big.size() == 1);
    CHECK(big[0][0].value().size() == 200'000);
    const auto last = select(t, "SELECT " + t.q("close") + " FROM " + t.q(t.tables.bars) + " WHERE " + t.q("symbol") +
                                    " = 'S10' AND " + t.q("trades") + " = 3 ORDER BY " + t.q("window_start") + " DESC");
    REQUIRE(last.size() == 21);
    CHECK(num(last[0][0]) == 1 + 20'010 * 0.25);
}

// bar_extents: nothing for an empty table, then per symbol its newest stored bar, to the microsecond.
void check_bar_extents(const target& t) {
    store s(t.options());
    CHECK(s.bar_extents().empty());
    batch b;
    for (int i = 0; i < 50; ++i) b.bars.push_back(make_bar("AAA", k_t0 + i * 60 * k_sec, 1 + i));
    b.bars.push_back(make_bar("BBB", k_t0 - 86400 * k_sec, 7));
    b.bars.push_back(make_bar("BBB", k_t0 - 3 * 86400 * k_sec, 8));
    s.write(b);
    auto ext = s.bar_extents();
    std::sort(ext.begin(), ext.end(), [](const bar_extent& x, const bar_extent& y) { return x.symbol < y.symbol; });
    REQUIRE(ext.size() == 2);
    const timestamp_ns us = 1000; // the databases keep microseconds
    CHECK(ext[0].symbol == "AAA");
    CHECK(ext[0].last_start == (k_t0 + 49 * 60 * k_sec) / us * us);
    CHECK(ext[0].last_end == (k_t0 + 49 * 60 * k_sec + k_sec) / us * us);
    CHECK(ext[1].symbol == "BBB");
    CHECK(ext[1].last_start == (k_t0 - 86400 * k_sec) / us * us);
    // The store writes on after reading: the read left no transaction open.
    b.bars = {make_bar("BBB", k_t0 + 86400 * k_sec, 9)};
    s.write(b);
    CHECK(count_rows(t, "bars") == 53);
}

// The bars table as the previous release created it (its DDL text, verbatim, with the table's
// name): no width_ns, the key (symbol, window_start).
std::string old_bars_ddl(const target& t) {
    const std::string n = t.q(t.tables.bars);
    switch (t.kind) {
    case dialect_kind::sqlite:
        return "CREATE TABLE IF NOT EXISTS " + n +
               " (\"symbol\" TEXT NOT NULL, \"window_start\" TEXT NOT NULL, \"window_end\" TEXT, \"open\" REAL, "
               "\"high\" REAL, \"low\" REAL, \"close\" REAL, \"volume\" REAL, \"trades\" INTEGER, \"vwap\" REAL, "
               "\"session_vwap\" REAL, \"rolling_vwap\" REAL, \"vwap_dev_bps\" REAL, \"revision\" INTEGER, "
               "\"updated_at\" TEXT, PRIMARY KEY (\"symbol\", \"window_start\")) WITHOUT ROWID";
    case dialect_kind::postgresql:
        return "CREATE TABLE IF NOT EXISTS " + n +
               " (\"symbol\" TEXT NOT NULL, \"window_start\" TIMESTAMP(6) WITH TIME ZONE NOT NULL, \"window_end\" "
               "TIMESTAMP(6) WITH TIME ZONE, \"open\" DOUBLE PRECISION, \"high\" DOUBLE PRECISION, \"low\" DOUBLE "
               "PRECISION, \"close\" DOUBLE PRECISION, \"volume\" DOUBLE PRECISION, \"trades\" BIGINT, \"vwap\" "
               "DOUBLE PRECISION, \"session_vwap\" DOUBLE PRECISION, \"rolling_vwap\" DOUBLE PRECISION, "
               "\"vwap_dev_bps\" DOUBLE PRECISION, \"revision\" INTEGER, \"updated_at\" TIMESTAMP(6) WITH TIME ZONE, "
               "PRIMARY KEY (\"symbol\", \"window_start\"))";
    case dialect_kind::sqlserver:
        return "IF OBJECT_ID(N'" + n + "', N'U') IS NULL CREATE TABLE " + n +
               " ([symbol] NVARCHAR(32) NOT NULL, [window_start] DATETIME2(6) NOT NULL, [window_end] DATETIME2(6), "
               "[open] FLOAT, [high] FLOAT, [low] FLOAT, [close] FLOAT, [volume] FLOAT, [trades] BIGINT, [vwap] FLOAT, "
               "[session_vwap] FLOAT, [rolling_vwap] FLOAT, [vwap_dev_bps] FLOAT, [revision] INT, [updated_at] "
               "DATETIME2(6), PRIMARY KEY ([symbol], [window_start]))";
    }
    return {};
}

// A row as the previous release wrote it: UTC times to the microsecond, 2026-01-05T14:30:00.123456.
struct old_bar {
    const char* symbol;
    const char* start;
    const char* end;
    std::int64_t width_ns; // what the migration must find
    const char* close;     // "NULL" or a number
    int revision;
};

constexpr old_bar k_old_bars[] = {
    {"AAA", "2026-01-05T14:30:00.123456", "2026-01-05T14:30:01.123456", 1'000'000'000, "1.5", 0},
    {"AAA", "2026-01-05T14:31:00.000000", "2026-01-05T14:32:00.000000", 60'000'000'000, "2.5", 1},
    {"BBB", "2026-01-05T14:30:00.750000", "2026-01-05T14:30:01.000000", 250'000'000, "3.5", 0}, // borrows a second
    {"BBB", "2026-01-04T00:00:00.000000", "2026-01-05T00:00:00.000000", 86'400'000'000'000, "4.5", 0}, // a day
    {"CCC", "2026-01-05T14:30:00.000000", "2026-01-05T14:30:00.000001", 1'000, "NULL", 2},             // 1 us
};

timestamp_ns old_time(const char* text) {
    timestamp_ns ts = 0;
    REQUIRE(parse_timestamp_text(std::string(text) + "Z", ts));
    return ts;
}

// A bars table of the previous release with rows of several widths; one or two stores starting on
// it at once; then every row is there with its width, the key is the new one (the upserts below
// name it in ON CONFLICT / MERGE), and a later start migrates nothing.
void check_migrates_old_bars(const target& t, int stores_at_once) {
    exec(t, old_bars_ddl(t));
    const std::string zone = t.kind == dialect_kind::sqlserver ? "" : "Z"; // DATETIME2 takes no zone
    for (const old_bar& r : k_old_bars)
        exec(t, "INSERT INTO " + t.q(t.tables.bars) + " (" + t.q("symbol") + ", " + t.q("window_start") + ", " +
                    t.q("window_end") + ", " + t.q("open") + ", " + t.q("high") + ", " + t.q("low") + ", " +
                    t.q("close") + ", " + t.q("volume") + ", " + t.q("trades") + ", " + t.q("vwap") + ", " +
                    t.q("session_vwap") + ", " + t.q("rolling_vwap") + ", " + t.q("vwap_dev_bps") + ", " +
                    t.q("revision") + ", " + t.q("updated_at") + ") VALUES ('" + r.symbol + "', '" + r.start + zone +
                    "', '" + r.end + zone + "', 1, 2, 0.5, " + r.close + ", 10, 3, " + r.close + ", 1.25, 1.5, 0.75, " +
                    std::to_string(r.revision) + ", '2026-01-06T00:00:00.000000" + zone + "')");
    const std::int64_t n_old = std::size(k_old_bars);
    REQUIRE(count_rows(t, t.tables.bars) == n_old);

    log::capture logged({log_level::info, log_format::text});
    std::vector<std::string> failures(static_cast<std::size_t>(stores_at_once));
    {
        std::vector<std::thread> starts;
        for (std::size_t i = 0; i < failures.size(); ++i)
            starts.emplace_back([&, i] {
                try {
                    store s(t.options());
                } catch (const std::exception& e) {
                    failures[i] = e.what();
                }
            });
        for (auto& th : starts) th.join();
    }
    for (const auto& f : failures) CHECK(f == "");
    const auto migrated = logged.with("sql", "rows");
    REQUIRE(migrated.size() == 1); // once, however many stores started
    CHECK(migrated[0].find("rows")->integer == n_old);
    CHECK(migrated[0].find("table")->text == t.tables.bars);

    const auto rows = select(t, "SELECT " + t.q("symbol") + ", " + t.q("window_start") + ", " + t.q("window_end") +
                                    ", " + t.q("width_ns") + ", " + t.q("close") + ", " + t.q("vwap") + ", " +
                                    t.q("revision") + ", " + t.q("rolling_vwap") + ", " + t.q("updated_at") + " FROM " +
                                    t.q(t.tables.bars) + " ORDER BY " + t.q("symbol") + ", " + t.q("window_start"));
    REQUIRE(rows.size() == std::size(k_old_bars));
    std::vector<old_bar> expected(std::begin(k_old_bars), std::end(k_old_bars));
    std::sort(expected.begin(), expected.end(), [](const old_bar& a, const old_bar& b) {
        return std::string(a.symbol) + a.start < std::string(b.symbol) + b.start;
    });
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const old_bar& e = expected[i];
        INFO(e.symbol << " " << e.start);
        CHECK(rows[i][0] == e.symbol);
        CHECK(when(rows[i][1]) == old_time(e.start));
        CHECK(when(rows[i][2]) == old_time(e.end));
        CHECK(num(rows[i][3]) == static_cast<double>(e.width_ns));
        CHECK(rows[i][3] == std::to_string(e.width_ns)); // a whole number, not a float
        if (std::string_view(e.close) == "NULL") {
            CHECK_FALSE(rows[i][4].has_value());
            CHECK_FALSE(rows[i][5].has_value());
        } else {
            CHECK(num(rows[i][4]) == std::stod(e.close));
            CHECK(num(rows[i][5]) == std::stod(e.close));
        }
        CHECK(num(rows[i][6]) == e.revision);
        CHECK(num(rows[i][7]) == 1.5);
        CHECK(when(rows[i][8]) == old_time("2026-01-06T00:00:00.000000"));
    }

    // The new key: the same (symbol, width, start) updates the migrated row; another width that
    // starts at the same time is a row of its own.
    store s(t.options());
    CHECK(logged.with("sql", "rows").size() == 1); // nothing left to migrate
    bar same = make_bar("AAA", old_time("2026-01-05T14:30:00.123456"), 9.5);
    bar wider = same;
    wider.window_end = same.window_start + 60 * k_sec;
    wider.close = 10.5;
    batch b;
    b.bars = {same, wider};
    s.write(b);
    CHECK(count_rows(t, t.tables.bars) == n_old + 1);
    const auto aaa =
        select(t, "SELECT " + t.q("width_ns") + ", " + t.q("close") + " FROM " + t.q(t.tables.bars) + " WHERE " +
                      t.q("symbol") + " = 'AAA' ORDER BY " + t.q("window_start") + ", " + t.q("width_ns"));
    REQUIRE(aaa.size() == 3);
    CHECK(aaa[0][0] == "1000000000");
    CHECK(num(aaa[0][1]) == 9.5);
    CHECK(aaa[1][0] == "60000000000");
    CHECK(num(aaa[1][1]) == 10.5);
    CHECK(aaa[2][0] == "60000000000"); // the migrated 14:31 bar, untouched
    CHECK(num(aaa[2][1]) == 2.5);
}

} // namespace

// ---- SQLite ------------------------------------------------------------------------------------------

TEST_CASE("SQLite store creates its schema idempotently and upserts bars and alerts, the last row of a key winning",
          "[sql][sqlite]") {
    auto t = sqlite_target("upsert");
    check_schema_and_upserts(*t);
    const auto mode = select(*t, "PRAGMA journal_mode");
    REQUIRE(mode.size() == 1);
    CHECK(mode[0][0] == "wal");
}

TEST_CASE("SQLite store creates the folder of its database file", "[sql][sqlite]") {
    std::filesystem::remove_all("sql_store_folder");
    store_options o{"Driver=SQLite3;Database=sql_store_folder/sub/tapewire.db", "g", "ticks", default_tables()};
    store s(o);
    CHECK(std::filesystem::exists("sql_store_folder/sub/tapewire.db"));
}

TEST_CASE("SQLite store writes NULL for NaN and keeps microseconds in ISO-8601 UTC text", "[sql][sqlite]") {
    check_nulls_and_timestamps(*sqlite_target("nulls"));
}

TEST_CASE("SQLite store inserts dead letters and archived ticks once and skips repeated keys", "[sql][sqlite]") {
    check_inserts_skip_repeats(*sqlite_target("inserts"));
}

TEST_CASE("SQLite store round-trips checkpoints through load() and never moves an offset back", "[sql][sqlite]") {
    check_checkpoints(*sqlite_target("checkpoints"));
}

TEST_CASE("SQLite store fails a batch with a refused row as a data error, keeps none of it, and probe() keeps nothing",
          "[sql][sqlite]") {
    check_refused_rows(*sqlite_target("refused"));
}

TEST_CASE("SQLite store writes a batch larger than one multi-row statement whole", "[sql][sqlite]") {
    check_large_batch(*sqlite_target("large"));
}

TEST_CASE("SQLite store reads where each symbol's stored bars end", "[sql][sqlite]") {
    check_bar_extents(*sqlite_target("extents"));
}

TEST_CASE("SQLite store migrates a bars table of the previous release: every row kept, width from its window, then "
          "upserts by the new key",
          "[sql][sqlite]") {
    SECTION("one store") { check_migrates_old_bars(*sqlite_target("migrate"), 1); }
    SECTION("two stores starting at once") { check_migrates_old_bars(*sqlite_target("migrate2"), 2); }
}

// ---- PostgreSQL --------------------------------------------------------------------------------------

TEST_CASE("PostgreSQL store creates its schema idempotently and upserts bars and alerts, the last row of a key "
          "winning",
          "[sql][postgres]") {
    check_schema_and_upserts(*postgres_target("upsert"));
}

TEST_CASE("PostgreSQL store writes NULL for NaN and keeps microseconds in TIMESTAMPTZ", "[sql][postgres]") {
    auto t = postgres_target("nulls");
    check_nulls_and_timestamps(*t);
    CHECK(t->pg->query("SELECT window_start::text FROM bars") == "2026-01-05 14:30:00.123456+00\n");
}

TEST_CASE("PostgreSQL store inserts dead letters and archived ticks once and skips repeated keys", "[sql][postgres]") {
    check_inserts_skip_repeats(*postgres_target("inserts"));
}

TEST_CASE("PostgreSQL store round-trips checkpoints through load() and never moves an offset back", "[sql][postgres]") {
    check_checkpoints(*postgres_target("checkpoints"));
}

TEST_CASE("PostgreSQL store fails a batch with a refused row as a data error, keeps none of it, and probe() keeps "
          "nothing",
          "[sql][postgres]") {
    check_refused_rows(*postgres_target("refused"));
}

TEST_CASE("PostgreSQL store writes a batch larger than one unnest statement whole", "[sql][postgres]") {
    check_large_batch(*postgres_target("large"));
}

TEST_CASE("PostgreSQL store reads where each symbol's stored bars end", "[sql][postgres]") {
    check_bar_extents(*postgres_target("extents"));
}

TEST_CASE("PostgreSQL store migrates a bars table of the previous release: every row kept, width from its window, "
          "then upserts by the new key",
          "[sql][postgres]") {
    auto t = postgres_target("migrate");
    check_migrates_old_bars(*t, 2);
    // The key swapped in place of the old one: one primary key, on the three columns.
    CHECK(t->pg->query("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'bars'::regclass AND "
                       "contype = 'p'") == "PRIMARY KEY (symbol, width_ns, window_start)\n");
}

TEST_CASE("PostgreSQL stopped under the store gives a transient error, and after a restart reconnect() works and "
          "the re-sent batch lands once",
          "[sql][postgres]") {
    auto t = postgres_target("outage");
    store s(t->options());
    batch b;
    for (int i = 0; i < 1000; ++i) b.bars.push_back(make_bar("S" + std::to_string(i), k_t0, 1 + i));
    b.checkpoints = {{0, 1000, "state"}};

    t->pg->stop();
    try {
        s.write(b);
        FAIL("a write to a stopped database succeeded");
    } catch (const sql_error& e) {
        INFO(e.what());
        CHECK(e.cls == error_class::transient);
    }
    try {
        s.reconnect();
        FAIL("reconnected to a stopped database");
    } catch (const sql_error& e) {
        INFO(e.what());
        CHECK(e.cls == error_class::transient);
    }

    t->pg->start();
    s.reconnect();
    s.write(b);
    s.write(b); // sent again (its commit was not seen): the upserts make it land once
    CHECK(count_rows(*t, "bars") == 1000);
    const auto got = s.load({0});
    REQUIRE(got.size() == 1);
    CHECK(got[0].next_offset == 1000);
    CHECK(got[0].state == "state");
}

// ---- SQL Server (live, optional) ---------------------------------------------------------------------

TEST_CASE("SQL Server store passes the store checks live (needs TAPEWIRE_MSSQL_CONNECTION)", "[sql][sqlserver]") {
    if (mssql_connection() == nullptr || *mssql_connection() == '\0') {
        WARN("skipped: TAPEWIRE_MSSQL_CONNECTION not set");
        return;
    }
    SECTION("schema and upserts") { check_schema_and_upserts(*sqlserver_target()); }
    SECTION("NULL and timestamps") { check_nulls_and_timestamps(*sqlserver_target()); }
    SECTION("inserts skip repeats") { check_inserts_skip_repeats(*sqlserver_target()); }
    SECTION("checkpoints") { check_checkpoints(*sqlserver_target()); }
    SECTION("refused rows") { check_refused_rows(*sqlserver_target()); }
    SECTION("large batch") { check_large_batch(*sqlserver_target()); }
    SECTION("bar extents") { check_bar_extents(*sqlserver_target()); }
    SECTION("bars of the previous release migrated") { check_migrates_old_bars(*sqlserver_target(), 2); }
}
