#include "src/sql/dialect.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "src/base/identifier.hpp"

namespace tapewire::sql {

namespace {

bool starts_with(std::string_view s, std::string_view p) noexcept { return s.substr(0, p.size()) == p; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string join_quoted(dialect_kind d, const std::vector<std::string>& names, std::string_view prefix = "") {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) out += ", ";
        out += prefix;
        out += quote(d, n);
    }
    return out;
}

std::vector<std::string> column_names(const table_def& t) {
    std::vector<std::string> out;
    for (const auto& c : t.columns) out.push_back(c.name);
    return out;
}

bool is_text(column_type t) noexcept {
    return t == column_type::symbol || t == column_type::name || t == column_type::long_text || t == column_type::ascii;
}

} // namespace

// ---- SQLSTATE ----------------------------------------------------------------------------------------

error_class classify(const std::string& s) {
    if (starts_with(s, "08")) return error_class::transient;                         // connection exception
    if (s == "40001" || s == "40P01") return error_class::transient;                 // serialization failure, deadlock
    if (s == "57P01" || s == "57P02" || s == "57P03") return error_class::transient; // shutdown, cannot connect now
    if (s == "HYT00" || s == "HYT01") return error_class::transient;                 // timeouts
    if (starts_with(s, "22") || starts_with(s, "23")) return error_class::data;      // data exception, constraint
    return error_class::fatal;
}

std::string describe(const sql_error& e) {
    return "database: " + std::string(e.what()) + (e.state.empty() ? "" : " (SQLSTATE " + e.state + ")");
}

error_class classify_error(dialect_kind d, std::string_view sqlstate, std::int64_t native, std::string_view message,
                           bool dead) {
    if (dead) return error_class::transient;
    const error_class by_state = classify(std::string(sqlstate));
    if (by_state != error_class::fatal) return by_state;
    if (d == dialect_kind::sqlite) {
        // sqliteodbc: SQLSTATE HY000 for most engine errors; the native code is SQLite's result code.
        switch (native & 0xff) {
        case 5:  // SQLITE_BUSY: another connection holds the lock
        case 6:  // SQLITE_LOCKED
        case 10: // SQLITE_IOERR
        case 13: // SQLITE_FULL: the disk is full; the batch waits until there is room
            return error_class::transient;
        case 18: // SQLITE_TOOBIG
        case 19: // SQLITE_CONSTRAINT
        case 20: // SQLITE_MISMATCH
            return error_class::data;
        default: break;
        }
        const std::string m = lower(message);
        if (m.find("constraint failed") != std::string::npos) return error_class::data;
        if (m.find("database is locked") != std::string::npos) return error_class::transient;
    }
    // psqlODBC (and other drivers) report some lost connections as HY000 with only a message.
    const std::string m = lower(message);
    for (std::string_view lost :
         {"could not send", "server closed the connection", "no connection to the server",
          "connection to the server was lost", "could not receive data", "terminating connection", "connection reset",
          "broken pipe", "communication link failure"})
        if (m.find(lost) != std::string::npos) return error_class::transient;
    return error_class::fatal;
}

// ---- dialects and identifiers ------------------------------------------------------------------------

dialect_kind dialect_from_dbms(std::string_view dbms_name) {
    if (dbms_name == "SQLite") return dialect_kind::sqlite;
    if (dbms_name == "PostgreSQL") return dialect_kind::postgresql;
    if (dbms_name == "Microsoft SQL Server") return dialect_kind::sqlserver;
    throw sql_error(error_class::fatal, "",
                    "unsupported database \"" + std::string(dbms_name) +
                        "\" (SQL_DBMS_NAME): tapewire writes to SQLite, PostgreSQL and Microsoft SQL Server");
}

std::string_view to_string(dialect_kind d) noexcept {
    switch (d) {
    case dialect_kind::sqlite: return "SQLite";
    case dialect_kind::postgresql: return "PostgreSQL";
    case dialect_kind::sqlserver: return "Microsoft SQL Server";
    }
    return "unknown";
}

std::string quote(dialect_kind d, std::string_view name) {
    if (!is_sql_identifier(name))
        throw sql_error(error_class::fatal, "",
                        "invalid SQL identifier \"" + std::string(name) + "\": " + std::string(k_identifier_rule));
    if (d == dialect_kind::sqlserver) return "[" + std::string(name) + "]";
    return "\"" + std::string(name) + "\"";
}

// ---- tables ------------------------------------------------------------------------------------------

std::string_view sql_type(dialect_kind d, column_type t) noexcept {
    switch (d) {
    case dialect_kind::sqlite:
        switch (t) {
        case column_type::int32:
        case column_type::int64: return "INTEGER";
        case column_type::float64: return "REAL";
        default: return "TEXT"; // timestamps too: ISO-8601 UTC text
        }
    case dialect_kind::postgresql:
        switch (t) {
        case column_type::int32: return "INTEGER";
        case column_type::int64: return "BIGINT";
        case column_type::float64: return "DOUBLE PRECISION";
        case column_type::timestamp: return "TIMESTAMP(6) WITH TIME ZONE";
        default: return "TEXT";
        }
    case dialect_kind::sqlserver:
        switch (t) {
        case column_type::symbol: return "NVARCHAR(32)";
        case column_type::name: return "NVARCHAR(200)";
        case column_type::long_text: return "NVARCHAR(MAX)";
        case column_type::ascii: return "VARCHAR(MAX)";
        case column_type::int32: return "INT";
        case column_type::int64: return "BIGINT";
        case column_type::float64: return "FLOAT";
        case column_type::timestamp: return "DATETIME2(6)";
        }
    }
    return "TEXT";
}

bool table_def::is_key(std::string_view column) const noexcept {
    return std::find(key.begin(), key.end(), column) != key.end();
}

std::string create_table(dialect_kind d, const table_def& t) {
    std::string cols;
    for (const auto& c : t.columns) {
        if (!cols.empty()) cols += ", ";
        cols += quote(d, c.name) + " " + std::string(sql_type(d, c.type));
        if (t.is_key(c.name)) cols += " NOT NULL";
    }
    cols += ", PRIMARY KEY (" + join_quoted(d, t.key) + ")";
    const std::string name = quote(d, t.name);
    switch (d) {
    case dialect_kind::sqlite:
        return "CREATE TABLE IF NOT EXISTS " + name + " (" + cols + ")" + (t.without_rowid ? " WITHOUT ROWID" : "");
    case dialect_kind::postgresql: return "CREATE TABLE IF NOT EXISTS " + name + " (" + cols + ")";
    case dialect_kind::sqlserver:
        return "IF OBJECT_ID(N'" + name + "', N'U') IS NULL CREATE TABLE " + name + " (" + cols + ")";
    }
    return {};
}

// ON CONFLICT (key) DO NOTHING / DO UPDATE SET c = excluded.c, ... [WHERE guard <= excluded.guard]
static std::string on_conflict_clause(dialect_kind d, const table_def& t) {
    std::string sql = " ON CONFLICT (" + join_quoted(d, t.key) + ") DO ";
    if (t.conflict == on_conflict::ignore) return sql + "NOTHING";
    sql += "UPDATE SET ";
    bool first = true;
    for (const auto& c : t.columns) {
        if (t.is_key(c.name)) continue;
        if (!first) sql += ", ";
        first = false;
        sql += quote(d, c.name) + " = excluded." + quote(d, c.name);
    }
    if (t.conflict == on_conflict::update_if_not_older)
        sql += " WHERE " + quote(d, t.name) + "." + quote(d, t.guard) + " <= excluded." + quote(d, t.guard);
    return sql;
}

std::string upsert(dialect_kind d, const table_def& t, std::size_t rows) {
    const std::string name = quote(d, t.name);
    std::string row = "(";
    for (std::size_t i = 0; i < t.columns.size(); ++i) row += i == 0 ? "?" : ", ?";
    row += ")";
    std::string sql = "INSERT INTO " + name + " (" + join_quoted(d, column_names(t)) + ") VALUES ";
    sql.reserve(sql.size() + rows * (row.size() + 2) + 256);
    for (std::size_t r = 0; r < std::max<std::size_t>(rows, 1); ++r) {
        if (r > 0) sql += ", ";
        sql += row;
    }
    return sql + on_conflict_clause(d, t);
}

std::string staging_name(const table_def& t) {
    (void)quote(dialect_kind::sqlserver, t.name); // validates
    return "#tw_" + t.name;
}

std::string staging_prepare(const table_def& t) {
    constexpr auto d = dialect_kind::sqlserver;
    const std::string staging = staging_name(t);
    std::string cols;
    for (const auto& c : t.columns) {
        if (!cols.empty()) cols += ", ";
        cols += quote(d, c.name) + " " + std::string(sql_type(d, c.type));
        // A temp table takes tempdb's collation: compare text in the database's own.
        if (is_text(c.type)) cols += " COLLATE DATABASE_DEFAULT";
        cols += " NULL";
    }
    return "IF OBJECT_ID(N'tempdb.." + staging + "') IS NULL BEGIN CREATE TABLE [" + staging + "] (" + cols +
           ") END ELSE BEGIN TRUNCATE TABLE [" + staging + "] END";
}

std::string staging_insert(const table_def& t) {
    constexpr auto d = dialect_kind::sqlserver;
    std::string sql = "INSERT INTO [" + staging_name(t) + "] (" + join_quoted(d, column_names(t)) + ") VALUES (";
    for (std::size_t i = 0; i < t.columns.size(); ++i) sql += i == 0 ? "?" : ", ?";
    return sql + ")";
}

std::string merge(const table_def& t) {
    constexpr auto d = dialect_kind::sqlserver;
    std::string sql = "MERGE " + quote(d, t.name) + " WITH (HOLDLOCK) AS t USING [" + staging_name(t) + "] AS s ON ";
    for (std::size_t i = 0; i < t.key.size(); ++i) {
        if (i > 0) sql += " AND ";
        sql += "t." + quote(d, t.key[i]) + " = s." + quote(d, t.key[i]);
    }
    if (t.conflict != on_conflict::ignore) {
        sql += " WHEN MATCHED";
        if (t.conflict == on_conflict::update_if_not_older)
            sql += " AND t." + quote(d, t.guard) + " <= s." + quote(d, t.guard);
        sql += " THEN UPDATE SET ";
        bool first = true;
        for (const auto& c : t.columns) {
            if (t.is_key(c.name)) continue;
            if (!first) sql += ", ";
            first = false;
            sql += quote(d, c.name) + " = s." + quote(d, c.name);
        }
    }
    sql += " WHEN NOT MATCHED BY TARGET THEN INSERT (" + join_quoted(d, column_names(t)) + ") VALUES (" +
           join_quoted(d, column_names(t), "s.") + ");";
    return sql;
}

std::string load_checkpoints(dialect_kind d, const table_def& offsets, const table_def& state) {
    const auto q = [&](std::string_view n) { return quote(d, n); };
    std::string sql = "SELECT o." + q("src_partition") + ", o." + q("next_offset") + ", s." + q("state") + " FROM " +
                      q(offsets.name) + " o LEFT JOIN " + q(state.name) + " s ON ";
    for (std::string_view c : {"consumer_group", "topic", "src_partition", "next_offset"}) {
        if (c != "consumer_group") sql += " AND ";
        sql += "s." + q(c) + " = o." + q(c);
    }
    return sql + " WHERE o." + q("consumer_group") + " = ? AND o." + q("topic") + " = ?";
}

std::string bar_extents(dialect_kind d, const table_def& bars) {
    const auto q = [&](std::string_view n) { return quote(d, n); };
    return "SELECT " + q("symbol") + ", MAX(" + q("window_start") + "), MAX(" + q("window_end") + ") FROM " +
           q(bars.name) + " GROUP BY " + q("symbol");
}

std::string select_no_rows(dialect_kind d, std::string_view table) {
    return "SELECT * FROM " + quote(d, table) + " WHERE 1 = 0";
}

std::vector<std::string> migrate_bars_width(dialect_kind d, const table_def& bars) {
    const auto q = [&](std::string_view n) { return quote(d, n); };
    const std::string name = q(bars.name);
    const std::string start = q("window_start"), end = q("window_end"), width = q("width_ns");
    switch (d) {
    case dialect_kind::sqlite: {
        // tapewire's own text, 2026-01-05T14:30:00.123456Z: whole seconds from the first 19
        // characters, microseconds from the 6 after the point. A time that does not read gives
        // NULL, which the NOT NULL column refuses: the migration fails rather than guess.
        const auto seconds = [](const std::string& c) {
            return "CAST(strftime('%s', substr(" + c + ", 1, 19)) AS INTEGER)";
        };
        const auto micros = [](const std::string& c) { return "CAST(substr(" + c + ", 21, 6) AS INTEGER)"; };
        const std::string width_of = "((" + seconds(end) + " - " + seconds(start) + ") * 1000000 + " + micros(end) +
                                     " - " + micros(start) + ") * 1000";
        table_def fresh = bars;
        fresh.name = bars.name.substr(0, 50) + "_width_new"; // an identifier of at most 63 bytes
        std::string into, from;
        for (const auto& c : bars.columns) {
            if (!into.empty()) {
                into += ", ";
                from += ", ";
            }
            into += q(c.name);
            from += c.name == "width_ns" ? width_of : q(c.name);
        }
        return {create_table(d, fresh),
                "INSERT INTO " + q(fresh.name) + " (" + into + ") SELECT " + from + " FROM " + name,
                "DROP TABLE " + name, "ALTER TABLE " + q(fresh.name) + " RENAME TO " + name};
    }
    case dialect_kind::postgresql: {
        // The name is an identifier (validated by q), so it needs no escaping inside the literals.
        const std::string literal = "'" + name + "'";
        return {"ALTER TABLE " + name + " ADD COLUMN " + width + " BIGINT",
                "UPDATE " + name + " SET " + width + " = ROUND((EXTRACT(EPOCH FROM " + end + ") - EXTRACT(EPOCH FROM " +
                    start + ")) * 1000000)::BIGINT * 1000",
                "ALTER TABLE " + name + " ALTER COLUMN " + width + " SET NOT NULL",
                "DO $$DECLARE pk name; BEGIN SELECT conname INTO pk FROM pg_constraint WHERE conrelid = " + literal +
                    "::regclass AND contype = 'p'; IF pk IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP "
                    "CONSTRAINT %I', " +
                    literal + ", pk); END IF; END$$",
                "ALTER TABLE " + name + " ADD PRIMARY KEY (" + join_quoted(d, bars.key) + ")"};
    }
    case dialect_kind::sqlserver: {
        // One batch a statement: T-SQL compiles a batch whole, and the UPDATE names the new column.
        return {"ALTER TABLE " + name + " ADD " + width + " BIGINT NULL",
                "UPDATE " + name + " SET " + width + " = DATEDIFF_BIG(microsecond, " + start + ", " + end + ") * 1000",
                "ALTER TABLE " + name + " ALTER COLUMN " + width + " BIGINT NOT NULL",
                "DECLARE @pk sysname = (SELECT name FROM sys.key_constraints WHERE parent_object_id = OBJECT_ID(N'" +
                    name + "') AND type = 'PK'); IF @pk IS NOT NULL BEGIN DECLARE @sql nvarchar(max) = N'ALTER TABLE " +
                    name + " DROP CONSTRAINT ' + QUOTENAME(@pk); EXEC sp_executesql @sql END",
                "ALTER TABLE " + name + " ADD PRIMARY KEY (" + join_quoted(d, bars.key) + ")"};
    }
    }
    return {};
}

std::vector<std::string> session_setup_autocommit(dialect_kind d) {
    // SQLite: WAL lets readers (the sqlite3 shell, a dashboard) read while the sink writes;
    // synchronous=FULL syncs the WAL at every commit, so a committed batch survives a power loss
    // too, not only a killed process. One sync per batch of thousands of rows costs little.
    if (d == dialect_kind::sqlite) return {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"};
    return {};
}

std::vector<std::string> session_setup(dialect_kind d) {
    switch (d) {
    case dialect_kind::sqlite: return {};
    // Timestamps travel as SQL_TIMESTAMP_STRUCT without a zone: the session reads them as UTC.
    case dialect_kind::postgresql: return {"SET TIME ZONE 'UTC'"};
    // NOCOUNT: no row-count messages between the statements of a batch; XACT_ABORT: any error
    // aborts the whole transaction, as PostgreSQL does.
    case dialect_kind::sqlserver: return {"SET NOCOUNT ON", "SET XACT_ABORT ON"};
    }
    return {};
}

std::size_t rows_per_statement(dialect_kind d, std::size_t columns) noexcept {
    const std::size_t cols = std::max<std::size_t>(columns, 1);
    // sqliteodbc runs a parameter array one row at a time and parses the statement again for each
    // (~45 k rows/s here); 500-row VALUES lists parse once per 500 rows (~110-120 k rows/s).
    // SQLite takes up to 32 766 parameters a statement.
    if (d == dialect_kind::sqlite) return std::clamp<std::size_t>(30000 / cols, 1, 500);
    return 1;
}

std::string_view pg_array_type(column_type t) noexcept {
    switch (t) {
    case column_type::int32: return "integer[]";
    case column_type::int64: return "bigint[]";
    case column_type::float64: return "double precision[]";
    case column_type::timestamp: return "timestamp with time zone[]";
    default: return "text[]";
    }
}

std::string upsert_unnest(const table_def& t, bool with_conflict_clause) {
    constexpr auto d = dialect_kind::postgresql;
    // unnest() in the select list (zipped in lockstep) rather than FROM unnest(a, b, ...): the
    // server then streams the rows instead of first copying them into a tuplestore.
    std::string sql = "INSERT INTO " + quote(d, t.name) + " (" + join_quoted(d, column_names(t)) + ") SELECT ";
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
        if (i > 0) sql += ", ";
        sql += "unnest(?::";
        sql += pg_array_type(t.columns[i].type);
        sql += ")";
    }
    return with_conflict_clause ? sql + on_conflict_clause(d, t) : sql;
}

void append_array_text(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

void append_array_double(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NULL";
    } else if (std::isinf(v)) {
        out += v > 0 ? "Infinity" : "-Infinity";
    } else {
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, v); // shortest form that reads back exactly
        out.append(buf, r.ptr);
    }
}

// ---- UTF-8 -------------------------------------------------------------------------------------------

char32_t decode_utf8(std::string_view s, std::size_t& i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (c < 0x80) {
        ++i;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        ++i;
        return 0xFFFD;
    }
    if (i + len > s.size()) {
        ++i;
        return 0xFFFD;
    }
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        cp = cp << 6 | (b(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return 0xFFFD;
    }
    i += len;
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | cp >> 6);
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | cp >> 12);
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | cp >> 18);
        out += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
        out += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

bool is_clean_text(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x01 && c < 0x80) {
            ++i;
            continue;
        }
        if (c == 0) return false;
        const std::size_t at = i;
        if (decode_utf8(s, i) == 0xFFFD && !(i - at == 3 && s.substr(at, 3) == "\xEF\xBF\xBD")) return false;
    }
    return true;
}

std::string clean_text(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        const char32_t cp = decode_utf8(s, i);
        append_utf8(out, cp == 0 ? char32_t{0xFFFD} : cp);
    }
    return out;
}

} // namespace tapewire::sql
