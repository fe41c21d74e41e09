// The SQL side of the ODBC sink: one connection, the schema, and one call that writes a batch in
// one transaction. The writer thread (src/sink/sql_sink) decides when and what; this decides how,
// per database: the dialect comes from SQLGetInfo(SQL_DBMS_NAME).
//
//   SQLite      multi-row INSERT ... VALUES (up to 500 rows) ON CONFLICT DO UPDATE, WAL journal,
//               synchronous=FULL (sqliteodbc re-parses an array-bound statement for every row)
//   PostgreSQL  INSERT ... SELECT FROM unnest(one array parameter per column) ON CONFLICT DO UPDATE,
//               up to 10 000 rows in a handful of parameters (faster here than multi-row VALUES,
//               whose planning dominated, and than psqlODBC's client-side array expansion)
//   SQL Server  array-bound INSERT into a #staging table, then MERGE ... WITH (HOLDLOCK)
//
// Keys are deduplicated inside a batch (the last row of a key wins), since one multi-row upsert or
// MERGE cannot touch a key twice. Values always travel as bound parameters; table names come from
// the config, validated as identifiers, and are quoted for the dialect.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tapewire/types.hpp"

namespace tapewire::sql {

enum class dialect_kind { sqlite, postgresql, sqlserver };

// transient: roll back, reconnect with back-off, send the whole batch again (SQLSTATE class 08,
//            40001, 40P01, 57P01-57P03, HYT00, HYT01, a dead connection).
// data:      a row the database refuses (class 22, 23): isolate it, dead-letter it, commit the rest.
// fatal:     anything else (bad SQL, no such driver, permissions): stop with the message.
enum class error_class { transient, data, fatal };

class sql_error : public std::runtime_error {
public:
    sql_error(error_class c, std::string sqlstate, const std::string& message)
        : std::runtime_error(message), cls(c), state(std::move(sqlstate)) {}
    error_class cls;
    std::string state; // the first diagnostic record's SQLSTATE, "" when none
};

// Classifies a SQLSTATE (exposed for the unit tests; defined in dialect.cpp).
error_class classify(const std::string& sqlstate);

// "database: <message> (SQLSTATE <state>)", the text a database failure stops the run with.
std::string describe(const sql_error& e);

struct dead_letter_row {
    std::string reason; // to_string(dead_letter_reason), or "database" for a row the database refused
    std::string detail; // e.g. the missing field, or the database's message
    std::string payload;
    std::string key;
    std::string source; // the Kafka topic, or "<kind>@<run start>" for a source read without Kafka
    std::int32_t partition = 0;
    std::int64_t offset = -1;
    timestamp_ns received_at = 0; // wall clock when it was dead-lettered
};

// Where a partition's processing stands after a batch: the next offset to read and the operator
// state that goes with it (opaque bytes from operators/checkpoint).
struct partition_checkpoint {
    std::int32_t partition = 0;
    std::int64_t next_offset = 0;
    std::string state;
};

// The newest stored bar of a symbol: its window_start, and the latest window_end of its bars.
struct bar_extent {
    std::string symbol;
    timestamp_ns last_start = 0;
    timestamp_ns last_end = 0;
};

struct batch {
    std::vector<bar> bars;                         // upsert on (symbol, width_ns, window_start)
    std::vector<alert> alerts;                     // upsert on (symbol, ts, kind)
    std::vector<dead_letter_row> dead_letters;     // insert; a row whose (source, partition, offset) exists is skipped
    std::vector<tick> ticks;                       // archive_ticks: insert, (source, partition, offset) skips repeats
    std::string ticks_source;                      // `source` column of the ticks
    std::vector<partition_checkpoint> checkpoints; // upsert on (group, topic, partition)
    timestamp_ns written_at = 0;                   // updated_at of the rows

    [[nodiscard]] std::size_t rows() const noexcept {
        return bars.size() + alerts.size() + dead_letters.size() + ticks.size();
    }
    [[nodiscard]] bool empty() const noexcept { return rows() == 0 && checkpoints.empty(); }
};

// The tables of the store; the names of table_names say which is which.
enum class table_id : std::uint8_t { bars, alerts, dead_letters, ticks, offsets, state };
inline constexpr std::size_t k_table_count = 6;

// The table names, each a valid identifier (the config checks them when it loads).
struct table_names {
    std::string bars;
    std::string alerts;
    std::string dead_letters;
    std::string ticks;   // archived ticks
    std::string offsets; // checkpoints: the next offset of each partition
    std::string state;   // checkpoints: the operators' state of each partition

    [[nodiscard]] const std::string& of(table_id t) const noexcept;
};

struct store_options {
    std::string connection; // ODBC connection string
    std::string group;      // consumer group and input topic that key the checkpoints
    std::string topic;
    table_names tables;
    bool archive_ticks = false; // create the ticks table at start (else with the first archived tick)
};

class store {
public:
    // Connects (throws sql_error), creates every missing table and migrates a bars table of the
    // previous release (src/sql/dialect.hpp migrate_bars_width). Autocommit off.
    explicit store(store_options opt);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    [[nodiscard]] dialect_kind dialect() const noexcept;
    [[nodiscard]] std::string dbms() const; // SQLGetInfo(SQL_DBMS_NAME) and version

    // One transaction: every row and checkpoint of `b`, committed, or rolled back and thrown. After a
    // sql_error the connection may be dead: call reconnect() before anything else.
    void write(const batch& b);
    // The same statements in a transaction that is always rolled back: finds which rows the
    // database refuses without keeping anything. Throws like write().
    void probe(const batch& b);
    // Drops the connection and opens a new one (throws sql_error when the database is still away).
    void reconnect();

    // The stored checkpoints of these partitions for this group and topic (missing ones left out).
    std::vector<partition_checkpoint> load(const std::vector<std::int32_t>& partitions);

    // Where each symbol's stored bars end, one row per symbol of the bars table (any order). One
    // query; throws sql_error.
    std::vector<bar_extent> bar_extents();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace tapewire::sql
