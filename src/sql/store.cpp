#include "src/sql/store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <concepts>
#include <filesystem>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "src/base/base64.hpp"
#include "src/base/connection_string.hpp"
#include "src/base/log.hpp"
#include "src/sql/dialect.hpp"
#include "src/sql/odbc.hpp"
#include "src/sql/tables.hpp"
#include "tapewire/time_text.hpp"

namespace tapewire::sql {

namespace {

// One parameter array: at most this many rows and about this many bytes of bound buffers.
constexpr std::size_t k_array_rows = 10000;
constexpr std::size_t k_array_bytes = std::size_t{32} << 20;

SQL_TIMESTAMP_STRUCT to_struct(timestamp_ns ns) {
    const utc_time t = to_utc(ns);
    SQL_TIMESTAMP_STRUCT s{};
    s.year = static_cast<SQLSMALLINT>(t.year);
    s.month = static_cast<SQLUSMALLINT>(t.month);
    s.day = static_cast<SQLUSMALLINT>(t.day);
    s.hour = static_cast<SQLUSMALLINT>(t.hour);
    s.minute = static_cast<SQLUSMALLINT>(t.minute);
    s.second = static_cast<SQLUSMALLINT>(t.second);
    s.fraction = static_cast<SQLUINTEGER>(t.micros) * 1000; // nanoseconds
    return s;
}

std::uint64_t mix(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return h;
}

std::size_t hash_one(std::string_view v) noexcept { return std::hash<std::string_view>{}(v); }
std::size_t hash_one(std::int64_t v) noexcept { return static_cast<std::size_t>(mix(static_cast<std::uint64_t>(v))); }
std::size_t hash_one(time_value v) noexcept { return hash_one(v.ns); }

// A key as key_of() gives it: a tuple of the key columns' values.
struct key_hash {
    template <class... T> std::size_t operator()(const std::tuple<T...>& key) const noexcept {
        std::size_t h = 0;
        std::apply([&](const auto&... v) { ((h = h * 1000003 ^ hash_one(v)), ...); }, key);
        return h;
    }
};

// The rows to send: one per key, in the order keys first appear. An upsert keeps the last row of a
// key (the later values win), an insert that skips stored keys the first.
template <class Schema>
std::vector<std::size_t> unique_rows(const std::vector<typename Schema::row>& rows, const row_context& ctx) {
    constexpr bool keep_last = Schema::conflict != on_conflict::ignore;
    using key = decltype(key_of<Schema>(rows.front(), ctx));
    std::vector<std::size_t> out;
    out.reserve(rows.size());
    std::unordered_map<key, std::size_t, key_hash> seen;
    seen.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto [it, inserted] = seen.try_emplace(key_of<Schema>(rows[i], ctx), out.size());
        if (inserted)
            out.push_back(i);
        else if (keep_last)
            out[it->second] = i;
    }
    return out;
}

timestamp_ns wall_clock_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

error_class classify_sqlite(const odbc::diagnostic& d, bool dead) {
    return classify_error(dialect_kind::sqlite, d.state, d.native, d.message, dead);
}
error_class classify_postgresql(const odbc::diagnostic& d, bool dead) {
    return classify_error(dialect_kind::postgresql, d.state, d.native, d.message, dead);
}
error_class classify_sqlserver(const odbc::diagnostic& d, bool dead) {
    return classify_error(dialect_kind::sqlserver, d.state, d.native, d.message, dead);
}

} // namespace

struct store::impl {
    // One target table: its definition, the parameter columns of the rows being sent, and the
    // statement kept prepared across batches.
    struct table {
        table_def def;
        std::vector<odbc::param_column> cols;
        std::unique_ptr<odbc::statement> stmt; // SQLite: full-size multi-row upsert; PostgreSQL: the
                                               // unnest upsert; SQL Server: the #staging INSERT
        std::size_t stmt_rows = 0;
        std::vector<odbc::param_column> arrays; // PostgreSQL: one array literal per column
        std::unique_ptr<odbc::statement> plain; // PostgreSQL ticks: the INSERT without ON CONFLICT
    };

    store_options opt;
    dialect_kind kind = dialect_kind::sqlite;
    std::string dbms;
    std::unique_ptr<odbc::connection> conn;
    std::array<table, k_table_count> tables; // by table_id
    bool ticks_ready = false;
    // PostgreSQL: archived ticks go in with a plain INSERT (ON CONFLICT's index pre-check and
    // speculative insertion cost a third of the statement); a batch that does repeat a stored key
    // (a commit whose outcome was lost) fails with 23505 and is sent again with ON CONFLICT DO NOTHING.
    bool ticks_conflict_safe = false;
    std::string base64_text; // the state column's text, reused

    explicit impl(store_options o) : opt(std::move(o)) {
        for_each_table([&]<class Schema>(std::type_identity<Schema>) {
            at(Schema::id).def = definition<Schema>(opt.tables.of(Schema::id));
        });
        for (table& t : tables) (void)quote(dialect_kind::sqlite, t.def.name); // validates every name
    }

    table& at(table_id id) noexcept { return tables[static_cast<std::size_t>(id)]; }

    [[nodiscard]] odbc::value_kind kind_of(column_type t) const {
        switch (t) {
        case column_type::int32:
        case column_type::int64: return odbc::value_kind::int64;
        case column_type::float64: return odbc::value_kind::float64;
        case column_type::timestamp: // ISO-8601 text, except for SQL Server
            return kind == dialect_kind::sqlserver ? odbc::value_kind::timestamp : odbc::value_kind::text;
        default: return text_kind();
        }
    }
    [[nodiscard]] odbc::value_kind text_kind() const {
        return kind == dialect_kind::sqlserver ? odbc::value_kind::wide_text : odbc::value_kind::text;
    }

    void drop_statements() {
        for (table& t : tables) {
            t.stmt.reset();
            t.plain.reset();
            t.stmt_rows = 0;
        }
    }

    void connect() {
        drop_statements();
        conn.reset();
        if (std::string path = sqlite_database_path(opt.connection); !path.empty() && path != ":memory:") {
            std::error_code ec; // a folder that cannot be made shows up as the driver's error
            const auto dir = std::filesystem::path(path).parent_path();
            if (!dir.empty()) std::filesystem::create_directories(dir, ec);
        }
        auto c = std::make_unique<odbc::connection>(opt.connection);
        const std::string name = c->info(SQL_DBMS_NAME);
        kind = dialect_from_dbms(name);
        dbms = name + " " + c->info(SQL_DBMS_VER);
        c->set_classifier(kind == dialect_kind::sqlite       ? classify_sqlite
                          : kind == dialect_kind::postgresql ? classify_postgresql
                                                             : classify_sqlserver);
        for (table& t : tables) {
            t.cols.clear();
            for (const auto& col : t.def.columns) t.cols.emplace_back(kind_of(col.type));
        }
        if (auto pre = session_setup_autocommit(kind); !pre.empty()) {
            c->set_autocommit(true);
            for (const auto& sql : pre) c->exec(sql);
            c->set_autocommit(false);
        }
        try {
            for (const auto& sql : session_setup(kind)) c->exec(sql);
            c->commit();
        } catch (...) {
            c->rollback();
            throw;
        }
        conn = std::move(c); // only a connection set up completely is kept
    }

    // After a reconnect() that failed there is no connection: make one (or throw again).
    void ensure_connected() {
        if (!conn) connect();
    }

    void create_schema() {
        // Two processes creating the same table at once: PostgreSQL's CREATE TABLE IF NOT EXISTS
        // can fail with a unique violation in its catalog; the second attempt finds the table.
        // SQLite fails one of two transactions that read and then both want to write (busy, a
        // transient error) without waiting: after the rollback, the next attempt waits its turn.
        for (int attempt = 1;; ++attempt) {
            try {
                for (const table& t : tables) {
                    if (&t == &at(table_id::ticks) && !opt.archive_ticks) continue;
                    conn->exec(create_table(kind, t.def));
                }
                conn->commit();
                ticks_ready = opt.archive_ticks;
                return;
            } catch (const sql_error& e) {
                conn->rollback();
                const bool busy = kind == dialect_kind::sqlite && e.cls == error_class::transient;
                if (attempt >= 3 || (!busy && (e.cls == error_class::transient ||
                                               (e.state != "23505" && e.state != "42P07" && e.state != "42S01"))))
                    throw;
            }
        }
    }

    // The names of a table's columns (in the open transaction).
    std::vector<std::string> columns_of(const std::string& table) {
        odbc::statement s(*conn);
        s.prepare(select_no_rows(kind, table));
        s.query();
        auto names = s.column_names();
        s.close_cursor();
        return names;
    }

    bool bars_have_width() {
        const auto names = columns_of(at(table_id::bars).def.name);
        return std::find(names.begin(), names.end(), "width_ns") != names.end();
    }

    // A bars table of the previous release (no width_ns) gets the column and the key (symbol,
    // width_ns, window_start) in one transaction. Two processes starting at once: the second waits
    // on the first's lock, then finds the column (or fails on it, rolls back and finds it).
    void migrate_bars() {
        const table_def& bars = at(table_id::bars).def;
        for (int attempt = 1;; ++attempt) {
            try {
                const bool done = bars_have_width();
                conn->rollback(); // no read lock held while waiting for the write lock
                if (done) return;
                const std::vector<std::string> steps = migrate_bars_width(kind, bars);
                conn->exec(steps.front());
                // SQLite's first step only took the write lock; another process may have migrated
                // while this one waited for it (PostgreSQL and SQL Server fail on the added column).
                if (kind == dialect_kind::sqlite && bars_have_width()) {
                    conn->rollback();
                    return;
                }
                for (std::size_t i = 1; i < steps.size(); ++i) conn->exec(steps[i]);
                const std::int64_t rows = count_rows(bars.name);
                conn->commit();
                log::info("sql", "table migrated to the key (symbol, width_ns, window_start)",
                          {{"table", bars.name}, {"rows", rows}});
                return;
            } catch (const sql_error& e) {
                conn->rollback();
                bool done = false;
                try {
                    done = bars_have_width();
                    conn->rollback();
                } catch (const sql_error&) {
                    conn->rollback();
                }
                if (done) return; // another process migrated it
                if (attempt >= 3 || e.cls != error_class::transient)
                    throw sql_error(e.cls, e.state,
                                    "migrating table " + bars.name +
                                        " to the key (symbol, width_ns, window_start): " + e.what());
            }
        }
    }

    std::int64_t count_rows(const std::string& table) {
        odbc::statement s(*conn);
        s.prepare("SELECT COUNT(*) FROM " + quote(kind, table));
        s.query();
        const std::int64_t n = s.fetch() ? s.get_int64(1).value_or(0) : 0;
        s.close_cursor();
        return n;
    }

    void add_text(odbc::param_column& c, std::string_view s) {
        if (is_clean_text(s))
            c.add(s);
        else
            c.add(clean_text(s)); // invalid UTF-8 and NUL bytes become U+FFFD: every TEXT column takes it
    }

    void add_time(odbc::param_column& c, timestamp_ns ns) {
        if (kind == dialect_kind::sqlserver) {
            c.add(to_struct(ns));
        } else {
            char text[k_utc_text_size];
            c.add(std::string_view(text, static_cast<std::size_t>(write_utc(ns, text) - text)));
        }
    }

    // One value as its column binds it (tables.hpp: the value types an accessor returns).
    void put(odbc::param_column& c, double v) { c.add(v); }
    void put(odbc::param_column& c, std::signed_integral auto v) { c.add(static_cast<std::int64_t>(v)); }
    void put(odbc::param_column& c, std::string_view v) { add_text(c, v); }
    void put(odbc::param_column& c, time_value v) { add_time(c, v.ns); }
    void put(odbc::param_column& c, base64_value v) {
        base64_encode(v.bytes, base64_text);
        c.add(std::string_view(base64_text));
    }

    // The parameter columns of `t` hold rows[i] for each i of `order`.
    template <class Schema> void fill(table& t, const std::vector<typename Schema::row>& rows,
                                      const std::vector<std::size_t>& order, const row_context& ctx) {
        clear(t, order.size());
        for (std::size_t i : order)
            for_each_column<Schema>([&](std::size_t c, const auto& col) { put(t.cols[c], read(col, rows[i], ctx)); });
    }

    // Sends rows of one table, one per key.
    template <class Schema> void write_rows(const std::vector<typename Schema::row>& rows, const row_context& ctx) {
        if (rows.empty()) return;
        table& t = at(Schema::id);
        fill<Schema>(t, rows, unique_rows<Schema>(rows, ctx), ctx);
        send(t);
    }

    static void clear(table& t, std::size_t rows) {
        for (auto& c : t.cols) {
            c.clear();
            c.reserve(rows);
        }
    }

    // Rows of the next array from `begin`: at most k_array_rows and about k_array_bytes.
    static std::size_t array_chunk(const table& t, std::size_t begin, std::size_t n) {
        std::size_t m = std::min(k_array_rows, n - begin);
        for (;;) {
            std::size_t bytes = 0;
            for (const auto& c : t.cols) bytes += c.array_bytes(begin, m);
            if (bytes <= k_array_bytes || m == 1) return m;
            m = std::max<std::size_t>(1, m / 2);
        }
    }

    // Sends the rows in t.cols to the database (inside the open transaction).
    void send(table& t) {
        const std::size_t n = t.cols.empty() ? 0 : t.cols.front().size();
        if (n == 0) return;
        switch (kind) {
        case dialect_kind::sqlite: send_values(t, n); break;
        case dialect_kind::postgresql: send_unnest(t, n); break;
        case dialect_kind::sqlserver: send_staged(t, n); break;
        }
    }

    // SQLite and PostgreSQL: multi-row INSERT ... VALUES (...), (...) ON CONFLICT. The statement of
    // the full row count stays prepared across batches; a shorter remainder is prepared once.
    void send_values(table& t, std::size_t n) {
        const auto ncols = static_cast<SQLUSMALLINT>(t.cols.size());
        const std::size_t full = rows_per_statement(kind, ncols);
        for (std::size_t begin = 0; begin < n;) {
            std::size_t m = std::min(full, n - begin);
            // Keep one statement's values to about k_array_bytes (large dead letters).
            while (m > 1) {
                std::size_t bytes = 0;
                for (const auto& c : t.cols) bytes += c.array_bytes(begin, m);
                if (bytes <= k_array_bytes) break;
                m /= 2;
            }
            odbc::statement* s = nullptr;
            std::unique_ptr<odbc::statement> once;
            if (m == full) {
                if (!t.stmt || t.stmt_rows != full) {
                    t.stmt = std::make_unique<odbc::statement>(*conn);
                    t.stmt->prepare(upsert(kind, t.def, full));
                    t.stmt_rows = full;
                }
                s = t.stmt.get();
            } else {
                once = std::make_unique<odbc::statement>(*conn);
                once->prepare(upsert(kind, t.def, m));
                s = once.get();
            }
            s->reset_params(1);
            for (std::size_t r = 0; r < m; ++r)
                for (SQLUSMALLINT c = 0; c < ncols; ++c)
                    s->bind(static_cast<SQLUSMALLINT>(r * ncols + c + 1), t.cols[c], begin + r);
            s->execute();
            begin += m;
        }
    }

    // PostgreSQL: each column of up to k_array_rows rows as one array literal, bound as a single text
    // parameter and unnested by the server: a few parameters a statement instead of thousands
    // (psqlODBC converts every parameter on the client and the server plans every VALUES row;
    // measured ~45 k rows/s for 500-800-row VALUES lists of ticks, ~100 k rows/s this way).
    void send_unnest(table& t, std::size_t n) {
        const auto ncols = static_cast<SQLUSMALLINT>(t.cols.size());
        const bool plain = &t == &at(table_id::ticks) && !ticks_conflict_safe;
        std::unique_ptr<odbc::statement>& stmt = plain ? t.plain : t.stmt;
        if (!stmt) {
            stmt = std::make_unique<odbc::statement>(*conn);
            stmt->prepare(upsert_unnest(t.def, !plain));
        }
        if (t.arrays.size() != ncols) t.arrays.assign(ncols, odbc::param_column(odbc::value_kind::text));
        std::string literal;
        for (std::size_t begin = 0; begin < n;) {
            const std::size_t m = array_chunk(t, begin, n);
            for (SQLUSMALLINT c = 0; c < ncols; ++c) {
                literal.clear();
                append_array(literal, t.cols[c], begin, m);
                t.arrays[c].clear();
                t.arrays[c].add(std::string_view(literal));
            }
            stmt->reset_params(1);
            for (SQLUSMALLINT c = 0; c < ncols; ++c) stmt->bind(c + 1, t.arrays[c], 0);
            stmt->execute();
            begin += m;
        }
    }

    // A PostgreSQL array literal of rows [begin, begin + n) of a column: {1,NULL,3}.
    static void append_array(std::string& out, const odbc::param_column& c, std::size_t begin, std::size_t n) {
        out += '{';
        char buf[24];
        for (std::size_t r = begin; r < begin + n; ++r) {
            if (r > begin) out += ',';
            if (c.is_null(r)) {
                out += "NULL";
                continue;
            }
            switch (c.kind()) {
            case odbc::value_kind::int64: {
                const auto res = std::to_chars(buf, buf + sizeof buf, c.int_at(r));
                out.append(buf, res.ptr);
                break;
            }
            case odbc::value_kind::float64: append_array_double(out, c.double_at(r)); break;
            case odbc::value_kind::text: append_array_text(out, c.text_at(r)); break;
            case odbc::value_kind::timestamp:
            case odbc::value_kind::wide_text: break; // not used for PostgreSQL
            }
        }
        out += '}';
    }

    // SQL Server: array-bound INSERT into the session's #staging table, then one MERGE from it.
    void send_staged(table& t, std::size_t n) {
        const auto ncols = static_cast<SQLUSMALLINT>(t.cols.size());
        conn->exec(staging_prepare(t.def));
        if (!t.stmt) t.stmt = std::make_unique<odbc::statement>(*conn);
        const std::string insert = staging_insert(t.def);
        for (std::size_t begin = 0; begin < n;) {
            const std::size_t m = array_chunk(t, begin, n);
            t.stmt->reset_params(m);
            for (SQLUSMALLINT c = 0; c < ncols; ++c) t.stmt->bind_array(c + 1, t.cols[c], begin, m);
            t.stmt->exec_direct(insert);
            begin += m;
        }
        t.stmt->reset_params(1);
        conn->exec(merge(t.def));
    }

    // Every statement of the batch, in the open transaction (no commit).
    void run(const batch& b) {
        const row_context ctx{b.written_at != 0 ? b.written_at : wall_clock_ns(), b.ticks_source, opt.group, opt.topic};
        write_rows<bars_schema>(b.bars, ctx);
        write_rows<alerts_schema>(b.alerts, ctx);
        write_rows<dead_letters_schema>(b.dead_letters, ctx);
        if (!b.ticks.empty() && !ticks_ready)
            conn->exec(create_table(kind, at(table_id::ticks).def)); // archive_ticks off in the config
        write_rows<ticks_schema>(b.ticks, ctx);
        if (!b.checkpoints.empty()) { // a partition's offset and state: the same rows of both tables
            const auto rows = unique_rows<offsets_schema>(b.checkpoints, ctx);
            fill<offsets_schema>(at(table_id::offsets), b.checkpoints, rows, ctx);
            fill<state_schema>(at(table_id::state), b.checkpoints, rows, ctx);
            send(at(table_id::offsets));
            send(at(table_id::state));
        }
    }
};

const std::string& table_names::of(table_id t) const noexcept {
    switch (t) {
    case table_id::bars: return bars;
    case table_id::alerts: return alerts;
    case table_id::dead_letters: return dead_letters;
    case table_id::ticks: return ticks;
    case table_id::offsets: return offsets;
    case table_id::state: return state;
    }
    return bars;
}

store::store(store_options opt) : impl_(std::make_unique<impl>(std::move(opt))) {
    impl_->connect();
    impl_->create_schema();
    impl_->migrate_bars();
}

store::~store() = default;

dialect_kind store::dialect() const noexcept { return impl_->kind; }

std::string store::dbms() const { return impl_->dbms; }

void store::write(const batch& b) {
    if (b.empty()) return;
    impl_->ensure_connected();
    auto& conn = *impl_->conn;
    try {
        impl_->run(b);
        conn.commit();
    } catch (const sql_error& e) {
        conn.rollback();
        if (e.state != "23505" || b.ticks.empty() || impl_->kind != dialect_kind::postgresql) throw;
        // Perhaps an archived tick that is already stored: once more, skipping stored ticks.
        impl_->ticks_conflict_safe = true;
        try {
            impl_->run(b);
            conn.commit();
        } catch (...) {
            impl_->ticks_conflict_safe = false;
            conn.rollback();
            throw;
        }
        impl_->ticks_conflict_safe = false;
    } catch (...) {
        conn.rollback();
        throw;
    }
    if (!b.ticks.empty()) impl_->ticks_ready = true;
}

void store::probe(const batch& b) {
    if (b.empty()) return;
    impl_->ensure_connected();
    auto& conn = *impl_->conn;
    // A stored tick is not a refused row: probes skip them as the retried write does.
    impl_->ticks_conflict_safe = true;
    try {
        impl_->run(b);
    } catch (...) {
        impl_->ticks_conflict_safe = false;
        conn.rollback();
        throw;
    }
    impl_->ticks_conflict_safe = false;
    conn.rollback();
}

void store::reconnect() { impl_->connect(); }

std::vector<partition_checkpoint> store::load(const std::vector<std::int32_t>& partitions) {
    auto& m = *impl_;
    m.ensure_connected();
    std::unordered_map<std::int32_t, partition_checkpoint> found;
    try {
        odbc::statement s(*m.conn);
        s.prepare(load_checkpoints(m.kind, m.at(table_id::offsets).def, m.at(table_id::state).def));
        odbc::param_column group(m.text_kind()), topic(m.text_kind());
        m.add_text(group, m.opt.group);
        m.add_text(topic, m.opt.topic);
        s.reset_params(1);
        s.bind(1, group, 0);
        s.bind(2, topic, 0);
        s.query();
        while (s.fetch()) {
            partition_checkpoint c;
            c.partition = static_cast<std::int32_t>(s.get_int64(1).value_or(0));
            c.next_offset = s.get_int64(2).value_or(0);
            if (auto text = s.get_text(3)) {
                if (!base64_decode(*text, c.state))
                    throw sql_error(error_class::fatal, "",
                                    "the stored state of partition " + std::to_string(c.partition) + " in " +
                                        m.opt.tables.state + " is not base64");
            }
            found[c.partition] = std::move(c);
        }
        s.close_cursor();
        m.conn->rollback(); // ends the read transaction
    } catch (...) {
        m.conn->rollback();
        throw;
    }
    std::vector<partition_checkpoint> out;
    std::unordered_set<std::int32_t> done;
    for (std::int32_t p : partitions) {
        auto it = found.find(p);
        if (it != found.end() && done.insert(p).second) out.push_back(it->second);
    }
    return out;
}

std::vector<bar_extent> store::bar_extents() {
    auto& m = *impl_;
    m.ensure_connected();
    std::vector<bar_extent> out;
    const bool wide = m.kind == dialect_kind::sqlserver;
    // Every dialect's text of a time reads with parse_timestamp_text (SQLite's ISO text,
    // PostgreSQL's "... +00", SQL Server's seven digits).
    const auto time_at = [&](odbc::statement& s, SQLUSMALLINT col) {
        const std::optional<std::string> text = s.get_text(col, wide);
        timestamp_ns ts = 0;
        if (!text || !parse_timestamp_text(*text, ts))
            throw sql_error(error_class::fatal, "",
                            "a stored time in " + m.opt.tables.bars + " does not read: '" + text.value_or("NULL") +
                                "'");
        return ts;
    };
    try {
        odbc::statement s(*m.conn);
        s.prepare(sql::bar_extents(m.kind, m.at(table_id::bars).def));
        s.query();
        while (s.fetch()) {
            bar_extent e;
            e.symbol = s.get_text(1, wide).value_or("");
            e.last_start = time_at(s, 2);
            e.last_end = time_at(s, 3);
            out.push_back(std::move(e));
        }
        s.close_cursor();
        m.conn->rollback(); // ends the read transaction
    } catch (...) {
        m.conn->rollback();
        throw;
    }
    return out;
}

} // namespace tapewire::sql
