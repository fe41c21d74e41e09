// The SQL text of the store, per database, as pure functions (no ODBC): DDL, upserts, the SQL
// Server staging table and MERGE from the tables' declarations (src/sql/tables.hpp), identifier
// quoting, the classification of a driver's errors, and the text encodings (array literals, UTF-8).
// Unit-tested on their text in test/sql_dialect_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/sql/store.hpp"
#include "src/sql/tables.hpp"
#include "tapewire/types.hpp"

namespace tapewire::sql {

// From SQLGetInfo(SQL_DBMS_NAME): "SQLite", "PostgreSQL", "Microsoft SQL Server". Anything else
// throws sql_error (fatal).
dialect_kind dialect_from_dbms(std::string_view dbms_name);
std::string_view to_string(dialect_kind d) noexcept;

// ---- identifiers -------------------------------------------------------------------------------------

// "name" (SQLite, PostgreSQL) or [name] (SQL Server); throws sql_error (fatal) for a name that is not
// an identifier (src/base/identifier.hpp).
std::string quote(dialect_kind d, std::string_view name);

// ---- tables ------------------------------------------------------------------------------------------

// The column type in CREATE TABLE.
std::string_view sql_type(dialect_kind d, column_type t) noexcept;

// CREATE TABLE when missing (IF NOT EXISTS, or IF OBJECT_ID(...) IS NULL in T-SQL).
std::string create_table(dialect_kind d, const table_def& t);

// SQLite (and PostgreSQL): INSERT of `rows` parameter rows with ON CONFLICT per t.conflict.
std::string upsert(dialect_kind d, const table_def& t, std::size_t rows);

// PostgreSQL: one INSERT of any number of rows, each column bound as one array literal (a text
// parameter cast to the column's array type) and unnested, with ON CONFLICT per t.conflict, or,
// with `with_conflict_clause` false, a plain INSERT (a duplicate key then fails with 23505).
std::string upsert_unnest(const table_def& t, bool with_conflict_clause = true);
// The PostgreSQL array type of a column: text[], integer[], bigint[], double precision[],
// timestamp with time zone[].
std::string_view pg_array_type(column_type t) noexcept;
// Array literal elements: text quoted with '"' and '\' escaped, a double in its shortest exact
// form (Infinity, -Infinity), NULL unquoted.
void append_array_text(std::string& out, std::string_view s);
void append_array_double(std::string& out, double v);

// SQL Server: the session's temp table for t (#tw_<name>), a batch that creates it when missing
// and empties it otherwise, its array INSERT, and the MERGE from it into t.
std::string staging_name(const table_def& t);
std::string staging_prepare(const table_def& t);
std::string staging_insert(const table_def& t);
std::string merge(const table_def& t);

// SELECT of the checkpoints of one group and topic (2 parameters: group, topic): src_partition,
// next_offset, state (NULL when no state row matches the offset).
std::string load_checkpoints(dialect_kind d, const table_def& offsets, const table_def& state);

// SELECT symbol, MAX(window_start), MAX(window_end) FROM bars GROUP BY symbol: where each
// symbol's stored bars end (store::bar_extents).
std::string bar_extents(dialect_kind d, const table_def& bars);

// SELECT * FROM the table WHERE 1=0: no rows, only the names of its columns.
std::string select_no_rows(dialect_kind d, std::string_view table);

// The bars table of the previous release has no width_ns and the key (symbol, window_start). These
// statements, run in order in one transaction, give it the column, each row's width from its own
// window_end - window_start (exact to the microsecond the times are kept to), and the key
// (symbol, width_ns, window_start) of `bars`:
//   SQLite      rebuild (a key cannot be altered): CREATE <name>_width_new, INSERT ... SELECT, DROP,
//               RENAME (SQLite's documented order for a table rebuild)
//   PostgreSQL  ADD COLUMN, UPDATE from EXTRACT(EPOCH ...), SET NOT NULL, DROP the primary key found
//               in pg_constraint, ADD PRIMARY KEY
//   SQL Server  the same with DATEDIFF_BIG(microsecond, ...) and sys.key_constraints
// The first statement takes the table's lock (SQLite: the database's write lock).
std::vector<std::string> migrate_bars_width(dialect_kind d, const table_def& bars);

// Statements run once per connection, before autocommit goes off (SQLite journal and sync mode)
// and in the first transaction (PostgreSQL time zone, SQL Server NOCOUNT/XACT_ABORT).
std::vector<std::string> session_setup_autocommit(dialect_kind d);
std::vector<std::string> session_setup(dialect_kind d);

// SQLite: rows of one multi-row INSERT for a table of `columns` columns (1 for the dialects that
// bind arrays: PostgreSQL's unnest, SQL Server's #staging).
std::size_t rows_per_statement(dialect_kind d, std::size_t columns) noexcept;

// ---- errors ------------------------------------------------------------------------------------------

// The class of a driver error, from SQLSTATE, the driver's native code (sqliteodbc reports the
// SQLite result code with SQLSTATE HY000) and the message (psqlODBC reports some lost connections
// as HY000). `dead`: the driver says the connection is dead (transient).
error_class classify_error(dialect_kind d, std::string_view sqlstate, std::int64_t native, std::string_view message,
                           bool dead);

// ---- values ------------------------------------------------------------------------------------------

// One code point from s at i (advanced past it); an invalid or truncated sequence gives U+FFFD and
// advances one byte.
char32_t decode_utf8(std::string_view s, std::size_t& i) noexcept;
void append_utf8(std::string& out, char32_t cp);
// True when s is valid UTF-8 without NUL bytes (what every TEXT column accepts).
bool is_clean_text(std::string_view s) noexcept;
// s with every invalid UTF-8 byte and every NUL replaced by U+FFFD.
std::string clean_text(std::string_view s);

} // namespace tapewire::sql
