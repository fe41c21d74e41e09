// The SQL text of the three dialects (SQLite, PostgreSQL, SQL Server) and the value encodings the
// store uses, checked without a database: this is all the SQL Server dialect can be tested on here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <string>

#include "src/base/connection_string.hpp"
#include "src/base/identifier.hpp"
#include "src/sql/dialect.hpp"
#include "src/sql/odbc.hpp"

using namespace tapewire;
using namespace tapewire::sql;

namespace {

std::size_t count(const std::string& s, std::string_view what) {
    std::size_t n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
    return n;
}

bool contains(const std::string& s, std::string_view what) { return s.find(what) != std::string::npos; }

} // namespace

TEST_CASE("SQLSTATEs are classified as transient, data or fatal", "[sql]") {
    for (const char* s : {"08001", "08S01", "08006", "40001", "40P01", "57P01", "57P02", "57P03", "HYT00", "HYT01"})
        CHECK(classify(s) == error_class::transient);
    for (const char* s : {"22001", "22003", "22P02", "23000", "23505", "23514"})
        CHECK(classify(s) == error_class::data);
    for (const char* s : {"42P01", "42S02", "HY000", "IM002", "28000", "57014", ""})
        CHECK(classify(s) == error_class::fatal);
}

TEST_CASE("driver errors without a telling SQLSTATE are classified by native code, message and a dead connection",
          "[sql]") {
    // sqliteodbc: HY000 with SQLite's result code as the native error.
    CHECK(classify_error(dialect_kind::sqlite, "HY000", 19, "CHECK constraint failed", false) == error_class::data);
    CHECK(classify_error(dialect_kind::sqlite, "HY000", 2067, "UNIQUE constraint failed", false) == error_class::data);
    CHECK(classify_error(dialect_kind::sqlite, "HY000", 5, "database is locked", false) == error_class::transient);
    CHECK(classify_error(dialect_kind::sqlite, "HY000", 1, "near \"x\": syntax error", false) == error_class::fatal);
    // psqlODBC: some lost connections come as HY000 with only the message.
    CHECK(classify_error(dialect_kind::postgresql, "HY000", 1, "could not send data to server", false) ==
          error_class::transient);
    CHECK(classify_error(dialect_kind::postgresql, "HY000", 1, "server closed the connection unexpectedly", false) ==
          error_class::transient);
    CHECK(classify_error(dialect_kind::postgresql, "HY000", 1, "no connection to the server", false) ==
          error_class::transient);
    CHECK(classify_error(dialect_kind::postgresql, "42601", 1, "syntax error", false) == error_class::fatal);
    CHECK(classify_error(dialect_kind::postgresql, "23514", 1, "violates check constraint", false) ==
          error_class::data);
    // Whatever the record says, a dead connection is transient.
    CHECK(classify_error(dialect_kind::sqlserver, "HY000", 0, "general error", true) == error_class::transient);
    CHECK(classify_error(dialect_kind::sqlserver, "40001", 1205, "deadlock victim", false) == error_class::transient);
}

TEST_CASE("the dialect comes from SQL_DBMS_NAME and an unknown database is refused", "[sql]") {
    CHECK(dialect_from_dbms("SQLite") == dialect_kind::sqlite);
    CHECK(dialect_from_dbms("PostgreSQL") == dialect_kind::postgresql);
    CHECK(dialect_from_dbms("Microsoft SQL Server") == dialect_kind::sqlserver);
    try {
        (void)dialect_from_dbms("MySQL");
        FAIL("MySQL accepted");
    } catch (const sql_error& e) {
        CHECK(e.cls == error_class::fatal);
        CHECK(contains(e.what(), "MySQL"));
    }
}

TEST_CASE("identifiers are validated and quoted per dialect, so reserved words work as column names", "[sql]") {
    CHECK(quote(dialect_kind::sqlite, "bars") == "\"bars\"");
    CHECK(quote(dialect_kind::postgresql, "open") == "\"open\"");
    CHECK(quote(dialect_kind::sqlserver, "open") == "[open]");
    CHECK(quote(dialect_kind::sqlserver, "close") == "[close]");
    CHECK(quote(dialect_kind::sqlserver, "_x9") == "[_x9]");
    for (const char* bad : {"", "9bars", "bars;drop table x", "bars\"", "bar]s", "my.bars", "b ars"})
        CHECK_THROWS_AS(quote(dialect_kind::postgresql, bad), sql_error);
    CHECK_NOTHROW(quote(dialect_kind::sqlite, std::string(63, 'a')));
    CHECK_THROWS_AS(quote(dialect_kind::sqlite, std::string(64, 'a')), sql_error);
}

TEST_CASE("the identifier rule is one function, for the config's table names and the dialect's quoting", "[sql]") {
    static_assert(is_sql_identifier("bars") && is_sql_identifier("_x9") && is_sql_identifier("B_2"));
    CHECK(is_sql_identifier(std::string(63, 'a')));
    CHECK_FALSE(is_sql_identifier(std::string(64, 'a')));
    for (const char* bad : {"", "9bars", "bars;drop table x", "bars\"", "bar]s", "my.bars", "b ars", "t\xc3\xa9"}) {
        INFO(bad);
        CHECK_FALSE(is_sql_identifier(bad));
    }
}

TEST_CASE("a database failure reads \"database: <message> (SQLSTATE <state>)\"", "[sql]") {
    CHECK(describe(sql_error(error_class::fatal, "42P01", "relation \"bars\" does not exist")) ==
          "database: relation \"bars\" does not exist (SQLSTATE 42P01)");
    CHECK(describe(sql_error(error_class::fatal, "", "no such driver")) == "database: no such driver");
}

TEST_CASE("SQLite DDL and multi-row upserts: TEXT timestamps, ON CONFLICT DO UPDATE, DO NOTHING, no offset going back",
          "[sql][sqlite]") {
    constexpr auto d = dialect_kind::sqlite;
    CHECK(create_table(d, offsets_table("tapewire_offsets")) ==
          "CREATE TABLE IF NOT EXISTS \"tapewire_offsets\" (\"consumer_group\" TEXT NOT NULL, \"topic\" TEXT NOT NULL, "
          "\"src_partition\" INTEGER NOT NULL, \"next_offset\" INTEGER, \"updated_at\" TEXT, "
          "PRIMARY KEY (\"consumer_group\", \"topic\", \"src_partition\"))");
    const std::string bars = create_table(d, bars_table("bars"));
    CHECK(contains(bars, "\"window_start\" TEXT NOT NULL"));
    CHECK(contains(bars, "\"open\" REAL"));
    CHECK(contains(bars, "\"trades\" INTEGER"));
    CHECK(contains(bars, "\"window_end\" TEXT, \"width_ns\" INTEGER NOT NULL, \"open\" REAL"));
    CHECK(contains(bars, "PRIMARY KEY (\"symbol\", \"width_ns\", \"window_start\")) WITHOUT ROWID"));

    CHECK(upsert(d, alerts_table("alerts"), 1) ==
          "INSERT INTO \"alerts\" (\"symbol\", \"ts\", \"kind\", \"value\", \"threshold\", \"score\", \"updated_at\") "
          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (\"symbol\", \"ts\", \"kind\") DO UPDATE SET "
          "\"value\" = excluded.\"value\", \"threshold\" = excluded.\"threshold\", \"score\" = excluded.\"score\", "
          "\"updated_at\" = excluded.\"updated_at\"");
    CHECK(upsert(d, dead_letters_table("dead_letters"), 1) ==
          "INSERT INTO \"dead_letters\" (\"source\", \"src_partition\", \"src_offset\", \"reason\", \"detail\", "
          "\"msg_key\", \"payload\", \"received_at\") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (\"source\", "
          "\"src_partition\", \"src_offset\") DO NOTHING");
    const std::string offsets = upsert(d, offsets_table("tapewire_offsets"), 1);
    CHECK(contains(offsets, "DO UPDATE SET \"next_offset\" = excluded.\"next_offset\", \"updated_at\" = "
                            "excluded.\"updated_at\" WHERE \"tapewire_offsets\".\"next_offset\" <= "
                            "excluded.\"next_offset\""));
    const std::string state = upsert(d, state_table("tapewire_state"), 1);
    CHECK(contains(state, "\"state\" = excluded.\"state\""));
    CHECK(contains(state, "WHERE \"tapewire_state\".\"next_offset\" <= excluded.\"next_offset\""));
    // Multi-row VALUES lists, within SQLite's 32 766 parameters.
    CHECK(rows_per_statement(d, 16) == 500);
    for (std::size_t cols = 1; cols <= 100; ++cols) {
        const std::size_t rows = rows_per_statement(d, cols);
        CHECK(rows >= 1);
        CHECK(rows * cols <= 32766);
    }
    const std::string two = upsert(d, bars_table("bars"), 2);
    CHECK(count(two, "?") == 32);
    CHECK(count(two, "), (") == 1);

    const auto pre = session_setup_autocommit(d);
    CHECK(std::find(pre.begin(), pre.end(), "PRAGMA journal_mode=WAL") != pre.end());
    CHECK(std::find(pre.begin(), pre.end(), "PRAGMA synchronous=FULL") != pre.end());
}

TEST_CASE("PostgreSQL DDL and upserts that unnest one array parameter a column", "[sql][postgres]") {
    constexpr auto d = dialect_kind::postgresql;
    const std::string bars = create_table(d, bars_table("bars"));
    CHECK(
        bars.rfind("CREATE TABLE IF NOT EXISTS \"bars\" (\"symbol\" TEXT NOT NULL, \"window_start\" TIMESTAMP(6) "
                   "WITH TIME ZONE NOT NULL, \"window_end\" TIMESTAMP(6) WITH TIME ZONE, \"width_ns\" BIGINT NOT NULL, "
                   "\"open\" DOUBLE PRECISION",
                   0) == 0);
    CHECK(contains(bars, "\"trades\" BIGINT"));
    CHECK(contains(bars, "\"revision\" INTEGER"));
    CHECK_FALSE(contains(bars, "WITHOUT ROWID"));
    const std::string dl = create_table(d, dead_letters_table("dead_letters"));
    CHECK(contains(dl, "\"src_offset\" BIGINT NOT NULL"));
    CHECK(contains(dl, "\"payload\" TEXT"));
    CHECK(contains(dl, "PRIMARY KEY (\"source\", \"src_partition\", \"src_offset\")"));
    // The high-volume table leads its key with the fixed-width columns (cheaper index compares).
    CHECK(
        contains(create_table(d, ticks_table("ticks")), "PRIMARY KEY (\"src_partition\", \"src_offset\", \"source\")"));

    const std::string plain_ticks =
        "INSERT INTO \"ticks\" (\"source\", \"src_partition\", \"src_offset\", \"symbol\", \"ts\", \"price\", "
        "\"size\", \"bid\", \"ask\") SELECT unnest(?::text[]), unnest(?::integer[]), unnest(?::bigint[]), "
        "unnest(?::text[]), unnest(?::timestamp with time zone[]), unnest(?::double precision[]), unnest(?::double "
        "precision[]), unnest(?::double precision[]), unnest(?::double precision[])";
    CHECK(upsert_unnest(ticks_table("ticks"), false) == plain_ticks);
    CHECK(upsert_unnest(ticks_table("ticks")) ==
          plain_ticks + " ON CONFLICT (\"src_partition\", \"src_offset\", \"source\") DO NOTHING");
    const std::string b = upsert_unnest(bars_table("bars"));
    CHECK(count(b, "?::") == 16);
    CHECK(contains(b, "[]) ON CONFLICT (\"symbol\", \"width_ns\", \"window_start\") DO UPDATE SET \"window_end\" = "
                      "excluded.\"window_end\", \"open\" = excluded.\"open\""));
    CHECK_FALSE(contains(b, "\"width_ns\" = excluded"));
    CHECK_FALSE(contains(b, "\"symbol\" = excluded"));
    CHECK_FALSE(contains(b, "\"window_start\" = excluded"));
    CHECK(contains(upsert_unnest(offsets_table("tapewire_offsets")),
                   "WHERE \"tapewire_offsets\".\"next_offset\" <= excluded.\"next_offset\""));
    CHECK(rows_per_statement(d, 16) == 1);

    std::string lit;
    append_array_text(lit, "a\"b\\c,{}");
    lit += ',';
    append_array_text(lit, "");
    CHECK(lit == "\"a\\\"b\\\\c,{}\",\"\"");
    lit.clear();
    for (double v : {0.1 + 0.2, -1.5, 1e-300, k_null_double, std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
        append_array_double(lit, v);
        lit += ',';
    }
    CHECK(lit == "0.30000000000000004,-1.5,1e-300,NULL,Infinity,-Infinity,");

    const auto setup = session_setup(d);
    CHECK(std::find(setup.begin(), setup.end(), "SET TIME ZONE 'UTC'") != setup.end());
}

TEST_CASE("SQL Server T-SQL: DDL types, bracket quoting, #staging and MERGE WITH (HOLDLOCK)", "[sql][sqlserver]") {
    constexpr auto d = dialect_kind::sqlserver;
    const std::string bars = create_table(d, bars_table("bars"));
    CHECK(bars.rfind("IF OBJECT_ID(N'[bars]', N'U') IS NULL CREATE TABLE [bars] ([symbol] NVARCHAR(32) NOT NULL, "
                     "[window_start] DATETIME2(6) NOT NULL, [window_end] DATETIME2(6), [width_ns] BIGINT NOT NULL, "
                     "[open] FLOAT, [high] FLOAT, "
                     "[low] FLOAT, [close] FLOAT, [volume] FLOAT, [trades] BIGINT",
                     0) == 0);
    CHECK(contains(bars, "[revision] INT,"));
    CHECK(contains(bars, "PRIMARY KEY ([symbol], [width_ns], [window_start]))"));
    const std::string dl = create_table(d, dead_letters_table("dead_letters"));
    CHECK(contains(dl, "[source] NVARCHAR(200) NOT NULL"));
    CHECK(contains(dl, "[payload] NVARCHAR(MAX)"));
    CHECK(contains(create_table(d, state_table("tapewire_state")), "[state] VARCHAR(MAX)"));

    const auto alerts = alerts_table("alerts");
    CHECK(staging_name(alerts) == "#tw_alerts");
    CHECK(staging_prepare(alerts) ==
          "IF OBJECT_ID(N'tempdb..#tw_alerts') IS NULL BEGIN CREATE TABLE [#tw_alerts] ([symbol] NVARCHAR(32) "
          "COLLATE DATABASE_DEFAULT NULL, [ts] DATETIME2(6) NULL, [kind] NVARCHAR(32) COLLATE DATABASE_DEFAULT NULL, "
          "[value] FLOAT NULL, [threshold] FLOAT NULL, [score] FLOAT NULL, [updated_at] DATETIME2(6) NULL) END ELSE "
          "BEGIN TRUNCATE TABLE [#tw_alerts] END");
    CHECK(staging_insert(alerts) == "INSERT INTO [#tw_alerts] ([symbol], [ts], [kind], [value], [threshold], [score], "
                                    "[updated_at]) VALUES (?, ?, ?, ?, ?, ?, ?)");
    CHECK(merge(alerts) ==
          "MERGE [alerts] WITH (HOLDLOCK) AS t USING [#tw_alerts] AS s ON t.[symbol] = s.[symbol] AND t.[ts] = s.[ts] "
          "AND t.[kind] = s.[kind] WHEN MATCHED THEN UPDATE SET [value] = s.[value], [threshold] = s.[threshold], "
          "[score] = s.[score], [updated_at] = s.[updated_at] WHEN NOT MATCHED BY TARGET THEN INSERT ([symbol], [ts], "
          "[kind], [value], [threshold], [score], [updated_at]) VALUES (s.[symbol], s.[ts], s.[kind], s.[value], "
          "s.[threshold], s.[score], s.[updated_at]);");
    const std::string bars_merge = merge(bars_table("bars"));
    CHECK(contains(bars_merge, "[open] = s.[open]"));
    CHECK(contains(bars_merge, "[close] = s.[close]"));
    CHECK(contains(bars_merge, "AS s ON t.[symbol] = s.[symbol] AND t.[width_ns] = s.[width_ns] AND t.[window_start] = "
                               "s.[window_start] WHEN MATCHED"));

    // Dead letters and ticks: insert only.
    const std::string dl_merge = merge(dead_letters_table("dead_letters"));
    CHECK_FALSE(contains(dl_merge, "WHEN MATCHED"));
    CHECK(contains(dl_merge, "WHEN NOT MATCHED BY TARGET THEN INSERT"));
    CHECK_FALSE(contains(merge(ticks_table("ticks")), "WHEN MATCHED"));

    // Checkpoints never go back.
    CHECK(contains(merge(offsets_table("tapewire_offsets")),
                   "WHEN MATCHED AND t.[next_offset] <= s.[next_offset] THEN UPDATE SET [next_offset] = "
                   "s.[next_offset], [updated_at] = s.[updated_at]"));
    CHECK(contains(merge(state_table("tapewire_state")), "WHEN MATCHED AND t.[next_offset] <= s.[next_offset]"));

    const auto setup = session_setup(d);
    CHECK(std::find(setup.begin(), setup.end(), "SET XACT_ABORT ON") != setup.end());
    CHECK(std::find(setup.begin(), setup.end(), "SET NOCOUNT ON") != setup.end());
    CHECK(rows_per_statement(d, 16) == 1);
}

TEST_CASE("checkpoints load with one join that drops a state row of another offset", "[sql]") {
    const std::string pg =
        load_checkpoints(dialect_kind::postgresql, offsets_table("tapewire_offsets"), state_table("tapewire_state"));
    CHECK(pg == "SELECT o.\"src_partition\", o.\"next_offset\", s.\"state\" FROM \"tapewire_offsets\" o LEFT JOIN "
                "\"tapewire_state\" s ON s.\"consumer_group\" = o.\"consumer_group\" AND s.\"topic\" = o.\"topic\" AND "
                "s.\"src_partition\" = o.\"src_partition\" AND s.\"next_offset\" = o.\"next_offset\" WHERE "
                "o.\"consumer_group\" = ? AND o.\"topic\" = ?");
    CHECK(contains(load_checkpoints(dialect_kind::sqlserver, offsets_table("o"), state_table("s")),
                   "FROM [o] o LEFT JOIN [s] s ON"));
}

TEST_CASE("text for TEXT columns is made valid UTF-8 without NUL, and converts to UTF-16 for SQL Server", "[sql]") {
    CHECK(is_clean_text("plain"));
    CHECK(is_clean_text("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK(is_clean_text("\xEF\xBF\xBD"));
    CHECK_FALSE(is_clean_text(std::string("a\0b", 3)));
    CHECK_FALSE(is_clean_text("\xff"));
    CHECK_FALSE(is_clean_text("\xc3"));         // truncated
    CHECK_FALSE(is_clean_text("\xc0\xaf"));     // overlong
    CHECK_FALSE(is_clean_text("\xed\xa0\x80")); // surrogate
    CHECK(clean_text(std::string("a\0b\xff", 4)) == "a\xEF\xBF\xBD"
                                                    "b\xEF\xBF\xBD");
    CHECK(clean_text("h\xc3\xa9llo") == "h\xc3\xa9llo");

    const std::string s = "h\xc3\xa9llo \xf0\x9f\x98\x80";
    const std::u16string w = odbc::utf8_to_utf16(s);
    CHECK(w.size() == 8); // h é l l o space + a surrogate pair
    CHECK(odbc::utf16_to_utf8(w) == s);
}

TEST_CASE("a SQLite connection string names the database file whose folder the store creates", "[sql][sqlite]") {
    CHECK(sqlite_database_path("Driver=SQLite3;Database=data/tapewire.db") == "data/tapewire.db");
    CHECK(sqlite_database_path("driver={SQLite3}; database = {/tmp/a;b.db};Timeout=1000") == "/tmp/a;b.db");
    CHECK(sqlite_database_path("Driver=PostgreSQL Unicode;Server=h;Database=tapewire") == "");
    CHECK(sqlite_database_path("DSN=prod") == "");
}

TEST_CASE("the bars migration text per dialect computes width from the row's own window", "[sql]") {
    const table_def bars = bars_table("bars");
    CHECK(select_no_rows(dialect_kind::sqlite, "bars") == "SELECT * FROM \"bars\" WHERE 1 = 0");
    CHECK(select_no_rows(dialect_kind::sqlserver, "bars") == "SELECT * FROM [bars] WHERE 1 = 0");

    // SQLite: a rebuild in SQLite's documented order, every column copied by name, the width from
    // the row's own ISO text (seconds from the first 19 characters, microseconds from the 6 after the point).
    const auto lite = migrate_bars_width(dialect_kind::sqlite, bars);
    REQUIRE(lite.size() == 4);
    CHECK(lite[0] == create_table(dialect_kind::sqlite, [&] {
              table_def t = bars;
              t.name = "bars_width_new";
              return t;
          }()));
    CHECK(contains(lite[0], "PRIMARY KEY (\"symbol\", \"width_ns\", \"window_start\")) WITHOUT ROWID"));
    CHECK(lite[1] ==
          "INSERT INTO \"bars_width_new\" (\"symbol\", \"window_start\", \"window_end\", \"width_ns\", \"open\", "
          "\"high\", \"low\", \"close\", \"volume\", \"trades\", \"vwap\", \"session_vwap\", \"rolling_vwap\", "
          "\"vwap_dev_bps\", \"revision\", \"updated_at\") SELECT \"symbol\", \"window_start\", \"window_end\", "
          "((CAST(strftime('%s', substr(\"window_end\", 1, 19)) AS INTEGER) - CAST(strftime('%s', "
          "substr(\"window_start\", 1, 19)) AS INTEGER)) * 1000000 + CAST(substr(\"window_end\", 21, 6) AS INTEGER) - "
          "CAST(substr(\"window_start\", 21, 6) AS INTEGER)) * 1000, \"open\", \"high\", \"low\", \"close\", "
          "\"volume\", \"trades\", \"vwap\", \"session_vwap\", \"rolling_vwap\", \"vwap_dev_bps\", \"revision\", "
          "\"updated_at\" FROM \"bars\"");
    CHECK(lite[2] == "DROP TABLE \"bars\"");
    CHECK(lite[3] == "ALTER TABLE \"bars_width_new\" RENAME TO \"bars\"");
    // The longest table name still gives an identifier for the new table.
    const std::string longest(63, 'b');
    CHECK(migrate_bars_width(dialect_kind::sqlite, bars_table(longest))[3] ==
          "ALTER TABLE \"" + std::string(50, 'b') + "_width_new\" RENAME TO \"" + longest + "\"");

    // PostgreSQL: the column added, filled from the row's own times to the microsecond, then made
    // part of the key in place of the primary key pg_constraint names.
    CHECK(migrate_bars_width(dialect_kind::postgresql, bars) ==
          std::vector<std::string>{
              "ALTER TABLE \"bars\" ADD COLUMN \"width_ns\" BIGINT",
              "UPDATE \"bars\" SET \"width_ns\" = ROUND((EXTRACT(EPOCH FROM \"window_end\") - EXTRACT(EPOCH FROM "
              "\"window_start\")) * 1000000)::BIGINT * 1000",
              "ALTER TABLE \"bars\" ALTER COLUMN \"width_ns\" SET NOT NULL",
              "DO $$DECLARE pk name; BEGIN SELECT conname INTO pk FROM pg_constraint WHERE conrelid = "
              "'\"bars\"'::regclass AND contype = 'p'; IF pk IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP "
              "CONSTRAINT %I', '\"bars\"', pk); END IF; END$$",
              "ALTER TABLE \"bars\" ADD PRIMARY KEY (\"symbol\", \"width_ns\", \"window_start\")"});

    // SQL Server: the same in T-SQL, one batch a statement (no SQL Server here: the text is the test).
    CHECK(migrate_bars_width(dialect_kind::sqlserver, bars) ==
          std::vector<std::string>{
              "ALTER TABLE [bars] ADD [width_ns] BIGINT NULL",
              "UPDATE [bars] SET [width_ns] = DATEDIFF_BIG(microsecond, [window_start], [window_end]) * 1000",
              "ALTER TABLE [bars] ALTER COLUMN [width_ns] BIGINT NOT NULL",
              "DECLARE @pk sysname = (SELECT name FROM sys.key_constraints WHERE parent_object_id = "
              "OBJECT_ID(N'[bars]') AND type = 'PK'); IF @pk IS NOT NULL BEGIN DECLARE @sql nvarchar(max) = "
              "N'ALTER TABLE [bars] DROP CONSTRAINT ' + QUOTENAME(@pk); EXEC sp_executesql @sql END",
              "ALTER TABLE [bars] ADD PRIMARY KEY ([symbol], [width_ns], [window_start])"});
}
