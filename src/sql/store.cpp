#include "src/sql/store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "src/base/base64.hpp"
#include "src/base/connection_string.hpp"
#include "src/sql/dialect.hpp"
#include "src/sql/odbc.hpp"
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

struct bar_key {
    symbol sym;
    timestamp_ns start;
    bool operator==(const bar_key&) const = default;
};
struct bar_key_hash {
    std::size_t operator()(const bar_key& k) const noexcept {
        return k.sym.hash() ^ mix(static_cast<std::uint64_t>(k.start));
    }
};

struct alert_key {
    symbol sym;
    timestamp_ns ts;
    alert_kind kind;
    bool operator==(const alert_key&) const = default;
};
struct alert_key_hash {
    std::size_t operator()(const alert_key& k) const noexcept {
        return k.sym.hash() ^ mix(static_cast<std::uint64_t>(k.ts) * 31 + static_cast<std::uint64_t>(k.kind));
    }
};

struct source_key {
    std::string_view source;
    std::int32_t partition;
    std::int64_t offset;
    bool operator==(const source_key&) const = default;
};
struct source_key_hash {
    std::size_t operator()(const source_key& k) const noexcept {
        return std::hash<std::string_view>{}(k.source) ^
               mix(static_cast<std::uint64_t>(k.offset) * 1000003 + static_cast<std::uint32_t>(k.partition));
    }
};

// The rows to send: one per key, in the order keys first appear; `keep_last` picks the last row
// of a key (an upsert: the later values win), else the first (an insert that skips repeats).
template <class Key, class Hash, class KeyOf>
std::vector<std::size_t> unique_rows(std::size_t n, KeyOf key_of, bool keep_last) {
    std::vector<std::size_t> out;
    out.reserve(n);
    std::unordered_map<Key, std::size_t, Hash> seen;
    seen.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto [it, inserted] = seen.try_emplace(key_of(i), out.size());
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
    sink_config names;
    dialect_kind kind = dialect_kind::sqlite;
    std::string dbms;
    std::unique_ptr<odbc::connection> conn;
    table bars, alerts, dead_letters, ticks, offsets, state;
    bool ticks_ready = false;
    // PostgreSQL: archived ticks go in with a plain INSERT (ON CONFLICT's index pre-check and
    // speculative insertion cost a third of the statement); a batch that does repeat a stored key
    // (a commit whose outcome was lost) fails with 23505 and is sent again with ON CONFLICT DO NOTHING.
    bool ticks_conflict_safe = false;

    explicit impl(store_options o) : opt(std::move(o)) {
        if (opt.tables != nullptr) names = *opt.tables;
        opt.tables = &names;
        bars.def = bars_table(names.bars_table);
        alerts.def = alerts_table(names.alerts_table);
        dead_letters.def = dead_letters_table(names.dead_letters_table);
        ticks.def = ticks_table(names.ticks_table);
        offsets.def = offsets_table(names.offsets_table);
        state.def = state_table(names.state_table);
        for (table* t : all()) (void)quote(dialect_kind::sqlite, t->def.name); // validates every name
    }

    std::vector<table*> all() { return {&bars, &alerts, &dead_letters, &ticks, &offsets, &state}; }

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
        for (table* t : all()) {
            t->stmt.reset();
            t->plain.reset();
            t->stmt_rows = 0;
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
        for (table* t : all()) {
            t->cols.clear();
            for (const auto& col : t->def.columns) t->cols.emplace_back(kind_of(col.type));
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
        for (int attempt = 1;; ++attempt) {
            try {
                for (table* t : all()) {
                    if (t == &ticks && !names.archive_ticks) continue;
                    conn->exec(create_table(kind, t->def));
                }
                conn->commit();
                ticks_ready = names.archive_ticks;
                return;
            } catch (const sql_error& e) {
                conn->rollback();
                if (attempt >= 3 || e.cls == error_class::transient ||
                    (e.state != "23505" && e.state != "42P07" && e.state != "42S01"))
                    throw;
            }
        }
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
        const bool plain = &t == &ticks && !ticks_conflict_safe;
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
        const timestamp_ns now = b.written_at != 0 ? b.written_at : wall_clock_ns();

        if (!b.bars.empty()) {
            const auto rows = unique_rows<bar_key, bar_key_hash>(
                b.bars.size(),
                [&](std::size_t i) {
                    return bar_key{b.bars[i].sym, b.bars[i].window_start};
                },
                true);
            clear(bars, rows.size());
            auto& c = bars.cols;
            for (std::size_t i : rows) {
                const bar& x = b.bars[i];
                add_text(c[0], x.sym.view());
                add_time(c[1], x.window_start);
                add_time(c[2], x.window_end);
                c[3].add(x.open);
                c[4].add(x.high);
                c[5].add(x.low);
                c[6].add(x.close);
                c[7].add(x.volume);
                c[8].add(static_cast<std::int64_t>(std::min<std::uint64_t>(x.trades, INT64_MAX)));
                c[9].add(x.vwap);
                c[10].add(x.session_vwap);
                c[11].add(x.rolling_vwap);
                c[12].add(x.vwap_dev_bps);
                c[13].add(static_cast<std::int64_t>(x.revision));
                add_time(c[14], now);
            }
            send(bars);
        }

        if (!b.alerts.empty()) {
            const auto rows = unique_rows<alert_key, alert_key_hash>(
                b.alerts.size(),
                [&](std::size_t i) {
                    return alert_key{b.alerts[i].sym, b.alerts[i].ts, b.alerts[i].kind};
                },
                true);
            clear(alerts, rows.size());
            auto& c = alerts.cols;
            for (std::size_t i : rows) {
                const alert& x = b.alerts[i];
                add_text(c[0], x.sym.view());
                add_time(c[1], x.ts);
                c[2].add(to_string(x.kind));
                c[3].add(x.value);
                c[4].add(x.threshold);
                c[5].add(x.score);
                add_time(c[6], now);
            }
            send(alerts);
        }

        if (!b.dead_letters.empty()) {
            const auto& d = b.dead_letters;
            const auto rows = unique_rows<source_key, source_key_hash>(
                d.size(),
                [&](std::size_t i) {
                    return source_key{d[i].source, d[i].partition, d[i].offset};
                },
                false);
            clear(dead_letters, rows.size());
            auto& c = dead_letters.cols;
            for (std::size_t i : rows) {
                const dead_letter_row& x = d[i];
                add_text(c[0], x.source);
                c[1].add(static_cast<std::int64_t>(x.partition));
                c[2].add(static_cast<std::int64_t>(x.offset));
                add_text(c[3], x.reason);
                add_text(c[4], x.detail);
                add_text(c[5], x.key);
                add_text(c[6], x.payload);
                add_time(c[7], x.received_at != 0 ? x.received_at : now);
            }
            send(dead_letters);
        }

        if (!b.ticks.empty()) {
            if (!ticks_ready) conn->exec(create_table(kind, ticks.def)); // archive_ticks off in the config
            const auto& t = b.ticks;
            const std::string_view source = b.ticks_source;
            const auto rows = unique_rows<source_key, source_key_hash>(
                t.size(),
                [&](std::size_t i) {
                    return source_key{source, t[i].src.partition, t[i].src.offset};
                },
                false);
            clear(ticks, rows.size());
            auto& c = ticks.cols;
            for (std::size_t i : rows) {
                const tick& x = t[i];
                add_text(c[0], source);
                c[1].add(static_cast<std::int64_t>(x.src.partition));
                c[2].add(static_cast<std::int64_t>(x.src.offset));
                add_text(c[3], x.sym.view());
                add_time(c[4], x.ts);
                c[5].add(x.close);
                c[6].add(x.volume);
                c[7].add(x.bid);
                c[8].add(x.ask);
            }
            send(ticks);
        }

        if (!b.checkpoints.empty()) {
            const auto& k = b.checkpoints;
            const auto rows = unique_rows<std::int32_t, std::hash<std::int32_t>>(
                k.size(), [&](std::size_t i) { return k[i].partition; }, true);
            clear(offsets, rows.size());
            clear(state, rows.size());
            auto& o = offsets.cols;
            auto& s = state.cols;
            for (std::size_t i : rows) {
                const partition_checkpoint& x = k[i];
                add_text(o[0], opt.group);
                add_text(o[1], opt.topic);
                o[2].add(static_cast<std::int64_t>(x.partition));
                o[3].add(x.next_offset);
                add_time(o[4], now);
                add_text(s[0], opt.group);
                add_text(s[1], opt.topic);
                s[2].add(static_cast<std::int64_t>(x.partition));
                s[3].add(x.next_offset);
                s[4].add(base64_encode(x.state));
                add_time(s[5], now);
            }
            send(offsets);
            send(state);
        }
    }
};

store::store(store_options opt) : impl_(std::make_unique<impl>(std::move(opt))) {
    impl_->connect();
    impl_->create_schema();
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
        s.prepare(load_checkpoints(m.kind, m.offsets.def, m.state.def));
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
                                        m.state.def.name + " is not base64");
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

} // namespace tapewire::sql
