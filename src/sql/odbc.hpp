// A thin RAII layer over the ODBC C API (unixODBC): one connection with its own environment,
// statements, and typed parameter columns that bind either as arrays (SQL_ATTR_PARAMSET_SIZE,
// column-wise) or one element per parameter marker (multi-row VALUES).
//
// Every failing call reads its diagnostic records first (before any other call on the handle),
// then asks whether the connection died, and throws sql_error with the class the connection's
// classifier gives. The connection remembers that a statement of the open transaction failed and
// refuses to commit it: some drivers (psqlODBC) report success from SQLEndTran after the server
// aborted the transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sql.h>
#include <sqlext.h>

#include "src/sql/store.hpp"

namespace tapewire::sql::odbc {

struct diagnostic {
    std::string state; // SQLSTATE, 5 characters
    std::string message;
    std::int64_t native = 0;
};

// Every diagnostic record of a handle, in order (at most `max` of them).
std::vector<diagnostic> read_diagnostics(SQLSMALLINT handle_type, SQLHANDLE handle, int max = 8);

// Decides the class of a failure from its first diagnostic record (the dialect knows its driver's
// native codes). `dead` is true when the driver reports the connection dead: always transient.
using classifier = error_class (*)(const diagnostic& first, bool dead);

// The default: classify(state), and a dead connection is transient.
error_class default_classifier(const diagnostic& first, bool dead);

class connection {
public:
    // Connects with SQLDriverConnect; autocommit is switched off once connected.
    explicit connection(const std::string& connection_string, classifier cls = default_classifier);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void set_classifier(classifier cls) noexcept { classify_ = cls; }

    [[nodiscard]] std::string info(SQLUSMALLINT what); // SQLGetInfo as text
    void set_autocommit(bool on);

    // SQLExecDirect on a fresh statement; results are discarded.
    void exec(std::string_view sql);

    // Commits the open transaction, or, when a statement of it failed, rolls back and throws.
    void commit();
    // Rolls back; never throws (a dead connection cannot roll back, and needs none).
    void rollback() noexcept;

    [[nodiscard]] bool dead() noexcept; // SQL_ATTR_CONNECTION_DEAD (false when the driver does not say)
    [[nodiscard]] SQLHDBC handle() const noexcept { return dbc_; }

    // Builds the error of a call that just failed on `handle` (reads its diagnostics first) and
    // marks the open transaction failed. `what` names the call for the message.
    [[nodiscard]] sql_error failure(SQLSMALLINT handle_type, SQLHANDLE handle, std::string_view what);
    // Marks the open transaction failed without a driver error (e.g. a row of an array that failed
    // while the call as a whole reported success).
    void mark_failed(const sql_error& e);

private:
    SQLHENV env_ = SQL_NULL_HENV;
    SQLHDBC dbc_ = SQL_NULL_HDBC;
    bool connected_ = false;
    classifier classify_;
    std::optional<sql_error> txn_error_; // the first failure of the open transaction
};

// What a parameter column holds and how it binds.
enum class value_kind {
    int64,     // SQL_C_SBIGINT → SQL_BIGINT
    float64,   // SQL_C_DOUBLE → SQL_DOUBLE, NaN = NULL
    timestamp, // SQL_C_TYPE_TIMESTAMP → SQL_TYPE_TIMESTAMP(26, 6)
    text,      // SQL_C_CHAR (UTF-8) → SQL_VARCHAR
    wide_text, // SQL_C_WCHAR (UTF-16, converted from UTF-8 on add) → SQL_WVARCHAR / SQL_WLONGVARCHAR
};

// One column of parameter values, stored so that it binds without copies: values and indicators
// are contiguous arrays (column-wise binding), text is kept in one arena. Bind only after the last
// add (adding may move the storage).
class param_column {
public:
    explicit param_column(value_kind k) : kind_(k) {}

    [[nodiscard]] value_kind kind() const noexcept { return kind_; }
    [[nodiscard]] std::size_t size() const noexcept { return ind_.size(); }
    void clear() noexcept;
    void reserve(std::size_t n);

    void add_null();
    void add(std::int64_t v);
    void add(double v); // NaN → NULL
    void add(const SQL_TIMESTAMP_STRUCT& v);
    void add(std::string_view utf8); // text or wide_text

    // The stored values (text: the bytes added, UTF-16 for wide_text).
    [[nodiscard]] bool is_null(std::size_t row) const noexcept { return ind_[row] == SQL_NULL_DATA; }
    [[nodiscard]] std::int64_t int_at(std::size_t row) const noexcept { return i64_[row]; }
    [[nodiscard]] double double_at(std::size_t row) const noexcept { return f64_[row]; }
    [[nodiscard]] std::string_view text_at(std::size_t row) const noexcept {
        return {arena_.data() + offset_[row], text_len(row)};
    }

    // Binds element `row` to parameter marker `index` (1-based) of a single-row parameter set.
    SQLRETURN bind_one(SQLHSTMT stmt, SQLUSMALLINT index, std::size_t row);
    // Binds rows [begin, begin + n) as an array to marker `index` (SQL_ATTR_PARAMSET_SIZE = n is
    // the caller's). Text is copied to a fixed-width buffer first.
    SQLRETURN bind_array(SQLHSTMT stmt, SQLUSMALLINT index, std::size_t begin, std::size_t n);

    // Bytes a bind_array of these rows needs (to cap the memory of one array).
    [[nodiscard]] std::size_t array_bytes(std::size_t begin, std::size_t n) const;

private:
    [[nodiscard]] std::size_t text_len(std::size_t row) const noexcept {
        return ind_[row] == SQL_NULL_DATA ? 0 : static_cast<std::size_t>(ind_[row]);
    }

    value_kind kind_;
    std::vector<SQLLEN> ind_;              // length (text) or 0, or SQL_NULL_DATA
    std::vector<SQLBIGINT> i64_;           // int64
    std::vector<double> f64_;              // float64
    std::vector<SQL_TIMESTAMP_STRUCT> ts_; // timestamp
    std::vector<char> arena_;              // text bytes (UTF-8, or UTF-16 code units)
    std::vector<std::size_t> offset_;      // text: where each row starts in arena_
    std::vector<char> fixed_;              // bind_array copy of text, fixed width per row
};

class statement {
public:
    explicit statement(connection& c);
    ~statement();
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    void prepare(std::string_view sql);
    // Executes the prepared statement with the bound parameters. With an array bound, rows the
    // driver reports failed (SQL_PARAM_ERROR, or fewer processed) fail the call too.
    void execute();
    // Executes and leaves the result set open for fetch().
    void query();
    void exec_direct(std::string_view sql);

    // Drops every parameter binding and sets the parameter set size (1 = no array).
    void reset_params(std::size_t paramset_size = 1);
    // param_column::bind_one / bind_array on this statement; a failure throws sql_error.
    void bind(SQLUSMALLINT index, param_column& col, std::size_t row);
    void bind_array(SQLUSMALLINT index, param_column& col, std::size_t begin, std::size_t n);
    [[nodiscard]] SQLHSTMT handle() const noexcept { return stmt_; }

    // Results: fetch() advances to the next row (false at the end); get_* read a column (1-based)
    // of the current row with SQLGetData, nullopt for NULL.
    bool fetch();
    std::optional<std::string> get_text(SQLUSMALLINT col, bool wide = false);
    std::optional<std::int64_t> get_int64(SQLUSMALLINT col);
    std::optional<double> get_double(SQLUSMALLINT col);
    std::optional<SQL_TIMESTAMP_STRUCT> get_timestamp(SQLUSMALLINT col);
    // The names of the result set's columns, in order (after query(); no fetch needed).
    std::vector<std::string> column_names();
    void close_cursor() noexcept;

private:
    void check(SQLRETURN rc, std::string_view what);
    void check_rows(SQLRETURN rc);

    connection& conn_;
    SQLHSTMT stmt_ = SQL_NULL_HSTMT;
    std::size_t paramset_ = 1;
    std::vector<SQLUSMALLINT> status_; // SQL_ATTR_PARAM_STATUS_PTR of an array
    SQLULEN processed_ = 0;            // SQL_ATTR_PARAMS_PROCESSED_PTR
};

// UTF-8 → UTF-16 (invalid bytes become U+FFFD) and back, for SQL_C_WCHAR.
std::u16string utf8_to_utf16(std::string_view s);
std::string utf16_to_utf8(std::u16string_view s);

} // namespace tapewire::sql::odbc
