// tapewire-bench sink: the ODBC SQL sink into PostgreSQL, against libpq COPY of the same rows, in
// one run on one throwaway server.
//
//   tapewire-bench sink [--ticks N] [--runs R] [--batch-rows N] [--symbols S] [--event-rate E]
//                       [--start T] [--threads 1|2] [--copy-format text|binary|both] [--no-verify]
//                       [--rate R] [--duration S] [--latency-runs L] [--batch-interval D]
//                       [--fast-interval D] [--no-throughput] [--no-latency] [--statements]
//                       [--profile] [--seed N] [--json]
//
// A PostgreSQL 15 server (test/pg_server.hpp: initdb into a temporary folder, fsync on, default
// synchronous_commit) serves every phase:
//
//   writer    throughput: tapewire::pipeline in `run` mode without Kafka, the synthetic source as
//             fast as it goes (event time from a fixed past start), sink.kind = odbc with
//             archive_ticks = true, so every tick is a row of `ticks`, plus the few bars and alerts.
//             rows/s = rows committed (the writer's count) / wall time from start() to the end of
//             wait() (threads started, the input generated, parsed, windowed, written, committed,
//             the last batch committed, threads joined).
//   COPY      the rows the writer stored in `ticks`, read back into memory (untimed), then written
//             by libpq `COPY ticks_copy (...) FROM STDIN` into a table made with
//             `CREATE TABLE ticks_copy (LIKE ticks INCLUDING ALL)` (same columns and primary key),
//             one COPY in one transaction; timed from BEGIN to the end of COMMIT, formatting of the
//             rows included (text: the same UTC timestamp text and shortest round-trip doubles the
//             writer sends; binary: PostgreSQL's binary COPY format). Checked afterwards: the
//             table holds exactly the rows of `ticks` (EXCEPT both ways, untimed).
//   latency   bars only (archive_ticks = false), the synthetic source paced at --rate ticks/s of
//             wall clock from start = now, 1 s windows, --duration seconds per run, --latency-runs
//             runs with --batch-interval and as many with --fast-interval: the writer's own
//             histogram sql_bar_latency_ns (from a bar's emission on the operators' thread to the
//             commit of the transaction holding it), read just before the pipeline is stopped, so
//             the final flush is not in it. The bars of a window are emitted together and commits
//             come in a fixed cycle, so the runs start at evenly spread points of the interval and
//             their bars are pooled.
//
// Each throughput phase runs --runs times on fresh tables (dropped and created again), with a
// CHECKPOINT before every timed phase; the summary gives medians and the ratio of the medians.
// CPU time per thread of this process and of the server's processes is sampled from /proc every
// 100 ms, to show where the time goes. Two diagnostics, off by default:
//   --statements  the writer's exact INSERT (sql::upsert_unnest) alone through libpq, on the same
//                 rows in the same batches and the same array literals, and variants of it: the
//                 floor of the SQL itself, without psqlODBC and the pipeline
//   --profile     the server logs every statement's duration; each writer batch is split into
//                 client time (between COMMIT and the next BEGIN), sending, bind (the server parses
//                 the arrays), execute and commit
// See README.md for the definitions and the results.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/common/args.hpp"
#include "bench/common/cpu_time.hpp"
#include "bench/common/percentiles.hpp"
#include "bench/common/report.hpp"
#include "src/base/clock.hpp"
#include "src/base/duration_text.hpp"
#include "src/base/metrics.hpp"
#include "src/runtime/pipeline.hpp"
#include "tapewire/config.hpp"
#include "tapewire/time_text.hpp"

#if TAPEWIRE_BENCH_LIBPQ
#include <libpq-fe.h>

#include "src/sql/dialect.hpp"
#include "test/pg_server.hpp"
#endif

namespace tapewire::bench {

int sink_main(int argc, char** argv);

namespace {

struct sink_args {
    // throughput
    std::uint64_t ticks = 1'000'000;
    std::uint32_t runs = 3;
    std::uint32_t batch_rows = sink_config{}.batch_rows;
    std::uint32_t symbols = 100;
    double event_rate = 100'000; // ticks per second of event time: 100 symbols → 1 bar per 1000 ticks
    std::string start = "2024-11-27T15:00:00Z";
    std::uint32_t threads = pipeline_config{}.threads;
    bool copy_text = true, copy_binary = true;
    bool verify = true;
    bool statements = false; // the writer's SQL alone through libpq, and three variants
    bool profile = false;    // the server's statement log: where a writer batch spends its time
    // latency
    double rate = 20'000;
    double duration_s = 20;         // per latency run
    std::uint32_t latency_runs = 4; // per batch interval, started at evenly spread points of it
    duration batch_interval = sink_config{}.batch_interval;
    duration fast_interval = std::chrono::milliseconds(100); // 0: skip
    bool throughput = true, latency = true;
    std::uint64_t seed = 1;
    bool json = false;
};

#if TAPEWIRE_BENCH_LIBPQ

std::string ms(std::int64_t ns) { return fmt("%.1f ms", static_cast<double>(ns) / 1e6); }

// ---- libpq -----------------------------------------------------------------------------------------

using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

class pq {
public:
    explicit pq(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
        if (PQstatus(c_) != CONNECTION_OK) {
            const std::string msg = PQerrorMessage(c_);
            PQfinish(c_);
            throw failure("libpq: cannot connect: " + msg);
        }
        PQsetNoticeProcessor(
            c_, [](void*, const char*) {}, nullptr); // "table ... does not exist, skipping"
    }
    ~pq() { PQfinish(c_); }
    pq(const pq&) = delete;
    pq& operator=(const pq&) = delete;

    PGconn* get() const noexcept { return c_; }

    result_ptr query(const std::string& sql, ExecStatusType want = PGRES_TUPLES_OK) {
        result_ptr r(PQexec(c_, sql.c_str()), &PQclear);
        if (PQresultStatus(r.get()) != want)
            throw failure("libpq: " + sql.substr(0, 80) + ": " + PQresultErrorMessage(r.get()));
        return r;
    }
    void exec(const std::string& sql) { (void)query(sql, PGRES_COMMAND_OK); }
    std::string scalar(const std::string& sql) {
        auto r = query(sql);
        if (PQntuples(r.get()) < 1 || PQnfields(r.get()) < 1) return {};
        return PQgetvalue(r.get(), 0, 0);
    }
    // A query's one whole number, such as a count(*).
    std::uint64_t number(const std::string& sql) {
        const std::string v = scalar(sql);
        const auto n = read_integer<std::uint64_t>(v);
        if (!n) throw failure("libpq: " + sql.substr(0, 80) + ": not a count: '" + v + "'");
        return *n;
    }

private:
    PGconn* c_;
};

// ---- the rows, read back -----------------------------------------------------------------------------

struct tick_row {
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::string symbol;
    std::int64_t ts_us = 0;                       // microseconds since 1970 (the column is timestamptz, microseconds)
    double price = 0, size = 0, bid = 0, ask = 0; // NaN = NULL
};

struct tick_rows {
    std::string source; // every row of one run has the same source ("synthetic@<start>")
    std::vector<tick_row> rows;
};

const char* k_tick_columns = "source, src_partition, src_offset, symbol, ts, price, size, bid, ask";

template <class T> T number_at(PGresult* r, int row, int col) {
    const char* s = PQgetvalue(r, row, col);
    const int len = PQgetlength(r, row, col);
    T v{};
    const auto res = std::from_chars(s, s + len, v);
    if (res.ec != std::errc() || res.ptr != s + len)
        throw failure("read back: not a number in column " + std::to_string(col) + ": " + std::string(s, len));
    return v;
}

double double_at(PGresult* r, int row, int col) {
    if (PQgetisnull(r, row, col)) return std::nan("");
    return number_at<double>(r, row, col);
}

tick_rows read_back(pq& db) {
    // extra_float_digits >= 1 (the default since PostgreSQL 12) prints the shortest exact text.
    db.exec("SET extra_float_digits = 1");
    auto r = db.query("SELECT source, src_partition, src_offset, symbol, "
                      "(extract(epoch FROM ts) * 1000000)::bigint, price, size, bid, ask FROM ticks "
                      "ORDER BY src_partition, src_offset");
    tick_rows out;
    const int n = PQntuples(r.get());
    out.rows.resize(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        if (i == 0)
            out.source = PQgetvalue(r.get(), 0, 0);
        else if (out.source != PQgetvalue(r.get(), i, 0))
            throw failure("read back: more than one source in ticks");
        tick_row& t = out.rows[static_cast<std::size_t>(i)];
        t.partition = number_at<std::int32_t>(r.get(), i, 1);
        t.offset = number_at<std::int64_t>(r.get(), i, 2);
        t.symbol.assign(PQgetvalue(r.get(), i, 3), static_cast<std::size_t>(PQgetlength(r.get(), i, 3)));
        t.ts_us = number_at<std::int64_t>(r.get(), i, 4);
        t.price = double_at(r.get(), i, 5);
        t.size = double_at(r.get(), i, 6);
        t.bid = double_at(r.get(), i, 7);
        t.ask = double_at(r.get(), i, 8);
    }
    return out;
}

// ---- COPY ----------------------------------------------------------------------------------------------

// COPY text format: tab-separated, \N for NULL, backslash escapes.
void text_field(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        default: out += c;
        }
    }
}

template <class T> void text_number(std::string& out, T v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void text_double(std::string& out, double v) {
    if (std::isnan(v))
        out += "\\N";
    else if (std::isinf(v))
        out += v > 0 ? "Infinity" : "-Infinity";
    else
        text_number(out, v); // shortest text that reads back exactly, as the writer's arrays
}

void text_row(std::string& out, const std::string& source, const tick_row& t) {
    text_field(out, source);
    out += '\t';
    text_number(out, t.partition);
    out += '\t';
    text_number(out, t.offset);
    out += '\t';
    text_field(out, t.symbol);
    out += '\t';
    out += format_utc(t.ts_us * 1000); // what the writer sends: 2024-11-27T15:00:00.123456Z
    out += '\t';
    text_double(out, t.price);
    out += '\t';
    text_double(out, t.size);
    out += '\t';
    text_double(out, t.bid);
    out += '\t';
    text_double(out, t.ask);
    out += '\n';
}

// COPY binary format: big-endian, each field a 32-bit length (-1 = NULL) and its bytes.
void put16(std::string& out, std::uint16_t v) {
    v = __builtin_bswap16(v);
    out.append(reinterpret_cast<const char*>(&v), 2);
}
void put32(std::string& out, std::uint32_t v) {
    v = __builtin_bswap32(v);
    out.append(reinterpret_cast<const char*>(&v), 4);
}
void put64(std::string& out, std::uint64_t v) {
    v = __builtin_bswap64(v);
    out.append(reinterpret_cast<const char*>(&v), 8);
}
void bin_text(std::string& out, std::string_view s) {
    put32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}
void bin_int32(std::string& out, std::int32_t v) {
    put32(out, 4);
    put32(out, static_cast<std::uint32_t>(v));
}
void bin_int64(std::string& out, std::int64_t v) {
    put32(out, 8);
    put64(out, static_cast<std::uint64_t>(v));
}
void bin_double(std::string& out, double v) {
    if (std::isnan(v)) {
        put32(out, 0xFFFFFFFFu);
        return;
    }
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    put32(out, 8);
    put64(out, bits);
}

constexpr std::int64_t k_pg_epoch_us = 946'684'800'000'000; // 2000-01-01 in microseconds since 1970

void binary_row(std::string& out, const std::string& source, const tick_row& t) {
    put16(out, 9);
    bin_text(out, source);
    bin_int32(out, t.partition);
    bin_int64(out, t.offset);
    bin_text(out, t.symbol);
    bin_int64(out, t.ts_us - k_pg_epoch_us);
    bin_double(out, t.price);
    bin_double(out, t.size);
    bin_double(out, t.bid);
    bin_double(out, t.ask);
}

void put_copy(pq& db, std::string& buf) {
    if (buf.empty()) return;
    if (PQputCopyData(db.get(), buf.data(), static_cast<int>(buf.size())) != 1)
        throw failure(std::string("libpq: PQputCopyData: ") + PQerrorMessage(db.get()));
    buf.clear();
}

struct copy_result {
    double seconds = 0;
    double client_cpu_s = 0; // this thread: formatting and libpq
    double server_cpu_s = 0; // every server process
    [[nodiscard]] double rate(std::size_t rows) const { return static_cast<double>(rows) / seconds; }
};

// One COPY of every row into ticks_copy, in one transaction: BEGIN to the end of COMMIT is timed.
copy_result copy_rows(pq& db, long postmaster, const tick_rows& in, bool binary) {
    constexpr std::size_t k_chunk = 256 * 1024;
    std::string buf;
    buf.reserve(k_chunk + 4096);
    cpu_sampler cpu(postmaster, "postgres");
    const double cpu0 = thread_cpu_seconds();
    const std::int64_t t0 = mono_ns();
    db.exec("BEGIN");
    (void)db.query(std::string("COPY ticks_copy (") + k_tick_columns + ") FROM STDIN" +
                       (binary ? " WITH (FORMAT binary)" : ""),
                   PGRES_COPY_IN);
    if (binary) {
        buf.append("PGCOPY\n\xff\r\n\0", 11);
        put32(buf, 0); // flags
        put32(buf, 0); // header extension
    }
    for (const tick_row& t : in.rows) {
        if (binary)
            binary_row(buf, in.source, t);
        else
            text_row(buf, in.source, t);
        if (buf.size() >= k_chunk) put_copy(db, buf);
    }
    if (binary) put16(buf, 0xFFFF);
    put_copy(db, buf);
    if (PQputCopyEnd(db.get(), nullptr) != 1)
        throw failure(std::string("libpq: PQputCopyEnd: ") + PQerrorMessage(db.get()));
    std::string error;
    std::uint64_t copied = 0;
    while (PGresult* r = PQgetResult(db.get())) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            error = PQresultErrorMessage(r);
        else
            copied = std::strtoull(PQcmdTuples(r), nullptr, 10);
        PQclear(r);
    }
    if (!error.empty()) {
        db.exec("ROLLBACK");
        throw failure("COPY: " + error);
    }
    db.exec("COMMIT");
    copy_result res;
    res.seconds = static_cast<double>(mono_ns() - t0) / 1e9;
    res.client_cpu_s = thread_cpu_seconds() - cpu0;
    const auto c = cpu.finish();
    if (auto it = c.find("postgres"); it != c.end()) res.server_cpu_s = it->second;
    count_check("COPY").equal("rows copied", copied, in.rows.size()).enforce();
    return res;
}

// ---- the writer's statement alone, through libpq (--statements) -------------------------------------

// The statement text with ? as $1, $2, ... for libpq (the store's SQL has no other '?').
std::string numbered(const std::string& sql) {
    std::string out;
    int n = 0;
    for (char c : sql) {
        if (c == '?')
            out += "$" + std::to_string(++n);
        else
            out += c;
    }
    return out;
}

struct statement_variant {
    std::string name, sql;
};

// The store's own INSERTs for the ticks table (sql::upsert_unnest, exactly what the writer
// prepares): the plain one it sends, and the ON CONFLICT DO NOTHING one it falls back to when a
// batch repeats a stored tick.
std::vector<statement_variant> statement_variants() {
    const auto t = sql::ticks_table("ticks_x");
    return {{"writer's INSERT ... SELECT unnest(..), .. (plain)", numbered(sql::upsert_unnest(t, false))},
            {"the same with ON CONFLICT DO NOTHING (its fallback)", numbered(sql::upsert_unnest(t, true))}};
}

// One array literal per column, as the store builds them (store.cpp: append_array).
void build_arrays(std::vector<std::string>& a, const tick_rows& in, std::size_t begin, std::size_t end) {
    a.assign(9, std::string("{"));
    char buf[24];
    auto integer = [&](std::string& out, std::int64_t v) {
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    };
    for (std::size_t i = begin; i < end; ++i) {
        const tick_row& t = in.rows[i];
        if (i > begin)
            for (auto& col : a) col += ',';
        sql::append_array_text(a[0], in.source);
        integer(a[1], t.partition);
        integer(a[2], t.offset);
        sql::append_array_text(a[3], t.symbol);
        sql::append_array_text(a[4], format_utc(t.ts_us * 1000));
        sql::append_array_double(a[5], t.price);
        sql::append_array_double(a[6], t.size);
        sql::append_array_double(a[7], t.bid);
        sql::append_array_double(a[8], t.ask);
    }
    for (auto& col : a) col += '}';
}

// The rows in batches of `batch` rows, one transaction each, into a fresh ticks_x: timed from the
// first batch's arrays to the last COMMIT (client work included: the writer does it in turn too).
copy_result run_statement(pq& db, long postmaster, const tick_rows& in, const statement_variant& v, std::size_t batch) {
    db.exec("DROP TABLE IF EXISTS ticks_x");
    db.exec("CREATE TABLE ticks_x (LIKE ticks INCLUDING ALL)");
    db.exec("CHECKPOINT");
    {
        result_ptr r(PQprepare(db.get(), "tw_variant", v.sql.c_str(), 9, nullptr), &PQclear);
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
            throw failure("prepare " + v.name + ": " + PQresultErrorMessage(r.get()));
    }
    std::vector<std::string> arrays;
    cpu_sampler cpu(postmaster, "postgres");
    const double cpu0 = thread_cpu_seconds();
    const std::int64_t t0 = mono_ns();
    for (std::size_t b = 0; b < in.rows.size(); b += batch) {
        build_arrays(arrays, in, b, std::min(in.rows.size(), b + batch));
        const char* params[9];
        for (std::size_t k = 0; k < 9; ++k) params[k] = arrays[k].c_str();
        db.exec("BEGIN");
        result_ptr r(PQexecPrepared(db.get(), "tw_variant", 9, params, nullptr, nullptr, 0), &PQclear);
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
            const std::string msg = PQresultErrorMessage(r.get());
            db.exec("ROLLBACK");
            throw failure(v.name + ": " + msg);
        }
        db.exec("COMMIT");
    }
    copy_result res;
    res.seconds = static_cast<double>(mono_ns() - t0) / 1e9;
    res.client_cpu_s = thread_cpu_seconds() - cpu0;
    const auto c = cpu.finish();
    if (auto it = c.find("postgres"); it != c.end()) res.server_cpu_s = it->second;
    db.exec("DEALLOCATE tw_variant");
    count_check(v.name).equal("rows in ticks_x", db.number("SELECT count(*) FROM ticks_x"), in.rows.size()).enforce();
    return res;
}

// ---- the server's statement log (--profile) -----------------------------------------------------------

// Every statement logged with its duration and the time it ended (ms resolution), without parameters.
void enable_statement_log(pq& db) {
    db.exec("ALTER SYSTEM SET log_min_duration_statement = 0");
    db.exec("ALTER SYSTEM SET log_parameter_max_length = 0");
    db.exec("ALTER SYSTEM SET log_line_prefix = '%m [%p] '");
    (void)db.query("SELECT pg_reload_conf()");
}

std::uintmax_t file_size(const std::string& path) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    return ec ? 0 : n;
}

// Per writer batch, in ms: what the server log shows between and inside its statements.
struct batch_profile {
    std::uint64_t batches = 0;
    double client = 0;  // COMMIT done → next BEGIN: the writer takes rows, builds the arrays
    double send = 0;    // BEGIN → bind starts: psqlODBC's Describe round trip, the parameters sent
    double bind = 0;    // the server parses the array parameters (text → typed arrays)
    double execute = 0; // the INSERT: unnest, heap and index inserts, ON CONFLICT checks
    double between = 0; // execute done → COMMIT starts
    double commit = 0;  // COMMIT: the WAL flushed
    [[nodiscard]] double total() const { return client + send + bind + execute + between + commit; }
};

// Reads the log from `offset`: the ticks INSERTs of one backend (the writer's) and its BEGIN/COMMIT.
batch_profile profile_from_log(const std::string& path, std::uintmax_t offset) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) throw failure("cannot read the server log " + path);
    std::fseek(f, static_cast<long>(offset), SEEK_SET);
    struct event {
        char kind; // b(egin) B(ind) E(xecute) C(ommit)
        double start, end;
    };
    std::vector<event> ev;
    std::string writer_pid;
    double day = 0, prev_end = -1;
    char line[4096];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        // 2026-11-28 14:45:35.123 UTC [6435] LOG:  duration: 13.650 ms  bind _PLAN...: INSERT INTO "ticks" ...
        const std::string_view l(line);
        const std::string_view mark = "] LOG:  duration: ";
        const std::size_t d = l.find(mark);
        const std::size_t pid_at = l.find('[');
        if (l.size() < 24 || d == std::string_view::npos || pid_at == std::string_view::npos || pid_at > d) continue;
        const std::string pid(l.substr(pid_at + 1, d - pid_at - 1));
        const double hh = std::atof(std::string(l.substr(11, 2)).c_str());
        const double mm = std::atof(std::string(l.substr(14, 2)).c_str());
        const double ss = std::atof(std::string(l.substr(17, 6)).c_str());
        double end = (hh * 3600 + mm * 60 + ss) * 1000 + day;
        if (prev_end >= 0 && end + 43'200'000 < prev_end) { // past midnight
            day += 86'400'000;
            end += 86'400'000;
        }
        prev_end = end;
        const std::size_t num = d + mark.size();
        const double dur = std::atof(std::string(l.substr(num, 16)).c_str());
        const std::size_t what_at = l.find(" ms  ", num);
        if (what_at == std::string_view::npos) continue;
        std::string_view what = l.substr(what_at + 5);
        while (!what.empty() && (what.back() == '\n' || what.back() == '\r')) what.remove_suffix(1);
        const bool ticks = what.find("INSERT INTO \"ticks\"") != std::string_view::npos;
        char kind = 0;
        if (what == "statement: BEGIN")
            kind = 'b';
        else if (what == "statement: COMMIT")
            kind = 'C';
        else if (ticks && what.starts_with("bind "))
            kind = 'B';
        else if (ticks && what.starts_with("execute "))
            kind = 'E';
        if (kind == 0) continue;
        if ((kind == 'B' || kind == 'E') && writer_pid.empty()) writer_pid = pid;
        if (!writer_pid.empty() && pid != writer_pid) continue;
        ev.push_back({kind, end - dur, end});
    }
    std::fclose(f);
    // A batch: BEGIN, bind, execute, COMMIT in this order (a batch with bars has their statements
    // between BEGIN and the ticks' bind: they count as "send"). The first batch has no "client".
    batch_profile p;
    double last_commit_end = -1;
    for (std::size_t i = 0; i < ev.size(); ++i) {
        const bool whole = i + 3 < ev.size() && ev[i].kind == 'b' && ev[i + 1].kind == 'B' && ev[i + 2].kind == 'E' &&
                           ev[i + 3].kind == 'C';
        if (!whole) {
            if (ev[i].kind == 'C') last_commit_end = ev[i].end;
            continue;
        }
        if (last_commit_end >= 0) {
            ++p.batches;
            p.client += ev[i].start - last_commit_end;
            p.send += ev[i + 1].start - ev[i].start; // BEGIN itself included (~0.05 ms)
            p.bind += ev[i + 1].end - ev[i + 1].start;
            p.execute += ev[i + 2].end - ev[i + 2].start;
            p.between += ev[i + 3].start - ev[i + 2].end;
            p.commit += ev[i + 3].end - ev[i + 3].start;
        }
        last_commit_end = ev[i + 3].end;
        i += 3;
    }
    if (p.batches > 0) {
        const auto n = static_cast<double>(p.batches);
        for (double* x : {&p.client, &p.send, &p.bind, &p.execute, &p.between, &p.commit}) *x /= n;
    }
    return p;
}

// ---- the pipeline ------------------------------------------------------------------------------------

const char* k_tables[] = {"bars",       "alerts",           "dead_letters",  "ticks",
                          "ticks_copy", "tapewire_offsets", "tapewire_state"};

void drop_tables(pq& db) {
    for (const char* t : k_tables) db.exec(std::string("DROP TABLE IF EXISTS ") + t);
}

config base_config(const sink_args& a, const std::string& connection) {
    config c;
    c.kafka.brokers = ""; // no Kafka: source → graph → writer
    c.source.kind = source_kind::synthetic;
    c.source.symbol_count = a.symbols;
    c.source.seed = a.seed;
    c.sink.kind = {sink_kind::odbc};
    c.sink.connection = connection;
    c.sink.batch_rows = a.batch_rows;
    c.pipeline.threads = a.threads;
    return c;
}

struct writer_result {
    double seconds = 0;
    std::uint64_t rows = 0, commits = 0, ticks = 0, bars = 0, alerts = 0;
    double write_s = 0; // sum of sql_commit_ns: inside store::write (build, send, commit)
    std::int64_t commit_p50 = 0, commit_p99 = 0;
    std::map<std::string, double> cpu; // CPU seconds per thread name, "postgres" = the server
    [[nodiscard]] double rate() const { return static_cast<double>(rows) / seconds; }
};

writer_result run_writer(const sink_args& a, const std::string& connection, long postmaster) {
    config c = base_config(a, connection);
    c.source.rate = 0; // as fast as the sink takes them
    c.source.event_rate = a.event_rate;
    c.source.start = a.start;
    c.sink.archive_ticks = true;
    run_limits limits;
    limits.max_ticks = a.ticks;
    pipeline p(c, limits, pipeline_mode::run); // connects and creates the tables (untimed)
    cpu_sampler cpu(postmaster, "postgres");
    const std::int64_t t0 = mono_ns();
    p.start();
    const std::string err = p.wait();
    const std::int64_t t1 = mono_ns();
    writer_result r;
    r.cpu = cpu.finish();
    if (!err.empty()) throw failure("pipeline: " + err);
    const pipeline_stats& st = p.stats();
    r.seconds = static_cast<double>(t1 - t0) / 1e9;
    r.rows = st.sql_rows.load(std::memory_order_relaxed);
    r.commits = st.sql_commits.load(std::memory_order_relaxed);
    r.ticks = st.ticks.load(std::memory_order_relaxed);
    r.bars = st.bars.load(std::memory_order_relaxed);
    r.alerts = st.alerts.load(std::memory_order_relaxed);
    histogram& commit_ns = p.metrics().get_histogram("sql_commit_ns");
    r.write_s = static_cast<double>(commit_ns.sum()) / 1e9;
    r.commit_p50 = commit_ns.quantile(0.5);
    r.commit_p99 = commit_ns.quantile(0.99);
    count_check("pipeline")
        .equal("ticks parsed", r.ticks, a.ticks)
        .at_least("rows committed", r.rows, a.ticks)
        .enforce();
    return r;
}

struct latency_result {
    duration interval{};
    double seconds = 0;
    std::uint64_t commits = 0, ticks = 0;
    std::vector<std::int64_t> bars;              // per committed bar: its sql_bar_latency_ns bucket (upper bound)
    std::int64_t commit_p50 = 0, commit_p99 = 0; // sql_commit_ns
};

// Every recorded value of a histogram, as the upper bound of its bucket, in ascending order:
// quantile() at the middle of each rank's step returns that rank's bucket. Retried if a record
// lands meanwhile.
std::vector<std::int64_t> values_of(const histogram& h) {
    for (;;) {
        const std::uint64_t n = h.count();
        std::vector<std::int64_t> out;
        out.reserve(n);
        for (std::uint64_t i = 0; i < n; ++i)
            out.push_back(h.quantile((static_cast<double>(i) + 0.5) / static_cast<double>(n)));
        if (h.count() == n) return out;
    }
}

// Sleeps until the wall clock's position within the second is `offset_ns`.
void sleep_until_subsecond(std::int64_t offset_ns) {
    const std::int64_t now = wall_ns();
    std::int64_t wait = (offset_ns - now % 1'000'000'000 + 2'000'000'000) % 1'000'000'000;
    std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
}

latency_result run_latency(const sink_args& a, const std::string& connection, duration interval,
                           std::int64_t start_offset_ns) {
    config c = base_config(a, connection);
    c.source.rate = a.rate;
    c.source.event_rate = 0; // = rate: event time runs with the wall clock
    c.source.start = "now";
    c.sink.archive_ticks = false;
    c.sink.batch_interval = interval;
    sleep_until_subsecond(start_offset_ns);
    pipeline p(c, run_limits{}, pipeline_mode::run);
    const std::int64_t t0 = mono_ns();
    const auto run_ns = static_cast<std::int64_t>(a.duration_s * 1e9);
    p.start();
    while (mono_ns() - t0 < run_ns && !p.finished()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    latency_result r;
    r.interval = interval;
    r.seconds = static_cast<double>(mono_ns() - t0) / 1e9;
    // Read while running: the final flush's bars (committed at once at the end) are not in it.
    r.bars = values_of(p.metrics().get_histogram("sql_bar_latency_ns"));
    histogram& commit_ns = p.metrics().get_histogram("sql_commit_ns");
    r.commit_p50 = commit_ns.quantile(0.5);
    r.commit_p99 = commit_ns.quantile(0.99);
    r.commits = commit_ns.count();
    r.ticks = p.stats().ticks.load(std::memory_order_relaxed);
    p.stop();
    const std::string err = p.wait();
    if (!err.empty()) throw failure("pipeline: " + err);
    if (r.bars.empty()) throw failure("latency: no bar was committed in " + fmt("%.0f s", a.duration_s));
    return r;
}

// ---- the whole bench -----------------------------------------------------------------------------------

long postmaster_pid(const std::string& dir) {
    std::FILE* f = std::fopen((dir + "/data/postmaster.pid").c_str(), "r");
    if (f == nullptr) return 0;
    long pid = 0;
    if (std::fscanf(f, "%ld", &pid) != 1) pid = 0;
    std::fclose(f);
    return pid;
}

std::string cpu_line(const std::map<std::string, double>& cpu, double seconds) {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& [name, s] : cpu)
        if (s >= 0.005 * seconds) v.emplace_back(s, name);
    std::sort(v.rbegin(), v.rend());
    std::string out;
    for (const auto& [s, name] : v) out += (out.empty() ? "" : ", ") + name + fmt(" %.2f", s / seconds);
    return out;
}

double cpu_of(const std::map<std::string, double>& cpu, const std::string& name) {
    auto it = cpu.find(name);
    return it == cpu.end() ? 0 : it->second;
}

int run_sink(const sink_args& a) {
    const std::string load0 = load_average();
    progress(a.json, "sink: starting PostgreSQL 15 (initdb into a temporary folder)...\n");
    // The server's folder goes under the temporary directory (same disk here), not the repository.
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(std::filesystem::temp_directory_path());
    std::unique_ptr<test::pg_server> pg;
    try {
        pg = std::make_unique<test::pg_server>("sink_bench");
    } catch (...) {
        std::filesystem::current_path(cwd);
        throw;
    }
    std::filesystem::current_path(cwd);
    const std::string connection = pg->odbc_connection();
    const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(pg->port()) +
                                 " dbname=" + test::pg_server::k_database + " user=" + test::pg_server::k_user;
    pq db(conninfo);
    const long postmaster = postmaster_pid(pg->dir());
    const std::string version = db.scalar("SHOW server_version");
    const std::string fsync = db.scalar("SHOW fsync");
    const std::string sync_commit = db.scalar("SHOW synchronous_commit");
    const std::string wal_sync = db.scalar("SHOW wal_sync_method");
    progress(a.json, "  PostgreSQL %s on 127.0.0.1:%d, fsync=%s synchronous_commit=%s wal_sync_method=%s\n",
             version.c_str(), pg->port(), fsync.c_str(), sync_commit.c_str(), wal_sync.c_str());
    const std::string server_log = pg->dir() + "/server.log";
    if (a.profile) enable_statement_log(db);

    std::vector<writer_result> writers;
    std::vector<copy_result> texts, binaries;
    std::vector<batch_profile> profiles;
    const std::vector<statement_variant> variants =
        a.statements ? statement_variants() : std::vector<statement_variant>{};
    std::vector<std::vector<double>> variant_rates(variants.size());
    std::vector<double> w_rates, t_rates, b_rates;
    std::uint64_t copied_rows = 0;
    if (a.throughput) {
        progress(a.json,
                 "throughput: %llu ticks, %u symbols, %.0f ticks/s of event time from %s (%.1f s), "
                 "batch_rows %u, pipeline.threads %u, %u run(s)\n",
                 static_cast<unsigned long long>(a.ticks), a.symbols, a.event_rate, a.start.c_str(),
                 static_cast<double>(a.ticks) / a.event_rate, a.batch_rows, a.threads, a.runs);
        for (std::uint32_t run = 1; run <= a.runs; ++run) {
            drop_tables(db);
            db.exec("CHECKPOINT");
            const std::uintmax_t log_at = file_size(server_log);
            const writer_result w = run_writer(a, connection, postmaster);
            writers.push_back(w);
            w_rates.push_back(w.rate());
            count_check("ticks table").equal("rows", db.number("SELECT count(*) FROM ticks"), a.ticks).enforce();
            progress(a.json,
                     "  run %u: writer %.0f rows/s (%llu rows: %llu ticks, %llu bars, %llu alerts; %llu commits; "
                     "%.2f s; in store::write %.0f%% of it, commit p50 %s p99 %s)\n"
                     "         CPU per second of wall time: %s\n",
                     run, w.rate(), static_cast<unsigned long long>(w.rows), static_cast<unsigned long long>(w.ticks),
                     static_cast<unsigned long long>(w.bars), static_cast<unsigned long long>(w.alerts),
                     static_cast<unsigned long long>(w.commits), w.seconds, 100.0 * w.write_s / w.seconds,
                     ms(w.commit_p50).c_str(), ms(w.commit_p99).c_str(), cpu_line(w.cpu, w.seconds).c_str());
            if (a.profile) {
                const batch_profile bp = profile_from_log(server_log, log_at);
                profiles.push_back(bp);
                progress(a.json,
                         "         per batch (server log, %llu batches, ms): client %.1f, send %.1f, bind %.1f, "
                         "execute %.1f, between %.1f, commit %.1f = %.1f\n",
                         static_cast<unsigned long long>(bp.batches), bp.client, bp.send, bp.bind, bp.execute,
                         bp.between, bp.commit, bp.total());
            }

            const tick_rows rows = read_back(db);
            copied_rows = rows.rows.size();
            auto one_copy = [&](bool binary) {
                db.exec("DROP TABLE IF EXISTS ticks_copy");
                db.exec("CREATE TABLE ticks_copy (LIKE ticks INCLUDING ALL)");
                db.exec("CHECKPOINT");
                const copy_result c = copy_rows(db, postmaster, rows, binary);
                if (a.verify)
                    count_check(std::string("COPY ") + (binary ? "binary" : "text"))
                        .equal("rows that differ between ticks and ticks_copy",
                               db.number("SELECT (SELECT count(*) FROM (SELECT * FROM ticks EXCEPT ALL SELECT * FROM "
                                         "ticks_copy) x) + (SELECT count(*) FROM (SELECT * FROM ticks_copy EXCEPT ALL "
                                         "SELECT * FROM ticks) y)"),
                               0)
                        .enforce();
                progress(a.json,
                         "         COPY %-6s %.0f rows/s (%.2f s; CPU per second: client %.2f, postgres %.2f)\n",
                         binary ? "binary" : "text", c.rate(rows.rows.size()), c.seconds, c.client_cpu_s / c.seconds,
                         c.server_cpu_s / c.seconds);
                return c;
            };
            if (a.copy_text) {
                texts.push_back(one_copy(false));
                t_rates.push_back(texts.back().rate(copied_rows));
            }
            if (a.copy_binary) {
                binaries.push_back(one_copy(true));
                b_rates.push_back(binaries.back().rate(copied_rows));
            }
            for (std::size_t v = 0; v < variants.size(); ++v) {
                const copy_result c = run_statement(db, postmaster, rows, variants[v], a.batch_rows);
                variant_rates[v].push_back(c.rate(copied_rows));
                progress(a.json,
                         "         libpq, %u-row batches, %s: %.0f rows/s (%.2f s; CPU per second: client %.2f, "
                         "postgres %.2f)\n",
                         a.batch_rows, variants[v].name.c_str(), c.rate(copied_rows), c.seconds,
                         c.client_cpu_s / c.seconds, c.server_cpu_s / c.seconds);
            }
        }
    }

    // Every bar of a window is emitted at once and the commits come every batch_interval, so within
    // one run all bars sit at about the same place in the commit cycle. The runs of one interval
    // start at evenly spread points of it (start k of L at k/L of the interval past a whole second,
    // where windows end), and their bars are pooled.
    struct latency_series {
        duration interval{};
        std::vector<latency_result> runs;
        std::vector<std::int64_t> pooled; // sorted
    };
    std::vector<latency_series> lats;
    if (a.latency) {
        std::vector<duration> intervals{a.batch_interval};
        if (a.fast_interval.count() > 0) intervals.push_back(a.fast_interval);
        for (duration iv : intervals) {
            latency_series ls;
            ls.interval = iv;
            progress(a.json,
                     "latency: bars only, %.0f ticks/s paced, start = now, 1 s windows, batch_interval %s, %u run(s) "
                     "of %.0f s...\n",
                     a.rate, format_duration(iv).c_str(), a.latency_runs, a.duration_s);
            for (std::uint32_t k = 0; k < a.latency_runs; ++k) {
                drop_tables(db);
                db.exec("CHECKPOINT");
                const std::int64_t offset = (iv.count() * k / a.latency_runs) % 1'000'000'000;
                ls.runs.push_back(run_latency(a, connection, iv, offset));
                const latency_result& l = ls.runs.back();
                ls.pooled.insert(ls.pooled.end(), l.bars.begin(), l.bars.end());
                progress(a.json,
                         "  run %u (start %3.0f ms past a second): %zu bars committed in %.1f s, %llu commits: "
                         "emission -> commit p50 %s, p99 %s; commit p50 %s p99 %s\n",
                         k + 1, static_cast<double>(offset) / 1e6, l.bars.size(), l.seconds,
                         static_cast<unsigned long long>(l.commits), ms(nearest_rank(l.bars, 0.5)).c_str(),
                         ms(nearest_rank(l.bars, 0.99)).c_str(), ms(l.commit_p50).c_str(), ms(l.commit_p99).c_str());
            }
            std::sort(ls.pooled.begin(), ls.pooled.end());
            lats.push_back(std::move(ls));
        }
    }
    const std::string load1 = load_average();

    const double w_med = median(w_rates), t_med = median(t_rates), b_med = median(b_rates);
    const double r_text = t_med > 0 ? w_med / t_med : 0, r_bin = b_med > 0 ? w_med / b_med : 0;
    if (a.json) {
        std::string s = "{\"bench\":\"sink\",\"postgresql\":\"" + version + "\",\"fsync\":\"" + fsync +
                        "\",\"synchronous_commit\":\"" + sync_commit + "\"";
        s += ",\"ticks\":" + std::to_string(a.ticks) + ",\"runs\":" + std::to_string(writers.size()) +
             ",\"batch_rows\":" + std::to_string(a.batch_rows) + ",\"symbols\":" + std::to_string(a.symbols) +
             ",\"event_rate\":" + json_number(a.event_rate) + ",\"threads\":" + std::to_string(a.threads);
        if (a.throughput) {
            s += ",\"writer_rows_per_s\":" + json_number(w_med);
            s += ",\"copy_text_rows_per_s\":" + (t_rates.empty() ? "null" : json_number(t_med));
            s += ",\"copy_binary_rows_per_s\":" + (b_rates.empty() ? "null" : json_number(b_med));
            s += ",\"ratio_vs_copy_text\":" + (t_rates.empty() ? "null" : json_number(r_text, 4));
            s += ",\"ratio_vs_copy_binary\":" + (b_rates.empty() ? "null" : json_number(r_bin, 4));
            std::vector<double> share, sql_cpu, pg_cpu;
            for (const auto& w : writers) {
                share.push_back(w.write_s / w.seconds);
                sql_cpu.push_back(cpu_of(w.cpu, "tw-sql") / w.seconds);
                pg_cpu.push_back(cpu_of(w.cpu, "postgres") / w.seconds);
            }
            s += ",\"writer_in_store_write\":" + json_number(median(share), 3);
            s += ",\"writer_tw_sql_cpu\":" + json_number(median(sql_cpu), 3);
            s += ",\"writer_postgres_cpu\":" + json_number(median(pg_cpu), 3);
            auto list = [](const std::vector<double>& v) {
                std::string l = "[";
                for (std::size_t i = 0; i < v.size(); ++i) l += (i ? "," : "") + json_number(v[i]);
                return l + "]";
            };
            s += ",\"writer_runs\":" + list(w_rates) + ",\"copy_text_runs\":" + list(t_rates) +
                 ",\"copy_binary_runs\":" + list(b_rates);
            const char* variant_keys[] = {"libpq_writer_sql_rows_per_s", "libpq_on_conflict_fallback_rows_per_s"};
            for (std::size_t v = 0; v < variants.size() && v < 2; ++v)
                s += ",\"" + std::string(variant_keys[v]) + "\":" + json_number(median(variant_rates[v]));
            if (!profiles.empty()) {
                auto med = [&](double batch_profile::*field) {
                    std::vector<double> v;
                    for (const auto& p : profiles) v.push_back(p.*field);
                    return json_number(median(v), 2);
                };
                s += ",\"batch_ms\":{\"client\":" + med(&batch_profile::client) +
                     ",\"send\":" + med(&batch_profile::send) + ",\"bind\":" + med(&batch_profile::bind) +
                     ",\"execute\":" + med(&batch_profile::execute) + ",\"between\":" + med(&batch_profile::between) +
                     ",\"commit\":" + med(&batch_profile::commit) + "}";
            }
        }
        for (std::size_t i = 0; i < lats.size(); ++i) {
            const latency_series& l = lats[i];
            std::vector<double> c50, c99;
            for (const auto& r : l.runs) {
                c50.push_back(static_cast<double>(r.commit_p50));
                c99.push_back(static_cast<double>(r.commit_p99));
            }
            const std::string name = i == 0 ? "bar_latency_ns" : "bar_latency_fast_ns";
            s += ",\"" + name +
                 "\":{\"batch_interval_ms\":" + json_number(static_cast<double>(l.interval.count()) / 1e6, 0) +
                 ",\"runs\":" + std::to_string(l.runs.size()) + ",\"count\":" + std::to_string(l.pooled.size()) +
                 ",\"p50\":" + std::to_string(nearest_rank(l.pooled, 0.5)) +
                 ",\"p99\":" + std::to_string(nearest_rank(l.pooled, 0.99)) +
                 ",\"max_bucket\":" + std::to_string(l.pooled.empty() ? 0 : l.pooled.back()) +
                 ",\"commit_p50\":" + json_number(median(c50)) + ",\"commit_p99\":" + json_number(median(c99)) + "}";
        }
        if (a.latency)
            s += ",\"latency_rate\":" + json_number(a.rate) + ",\"latency_seconds\":" + json_number(a.duration_s, 1);
        s += ",\"load_before\":\"" + load0 + "\",\"load_after\":\"" + load1 + "\"}";
        std::printf("%s\n", s.c_str());
        return 0;
    }

    std::printf("tapewire-bench sink: PostgreSQL %s (fsync=%s, synchronous_commit=%s), load average %s before, %s "
                "after\n",
                version.c_str(), fsync.c_str(), sync_commit.c_str(), load0.c_str(), load1.c_str());
    if (a.throughput) {
        std::printf("  throughput, median of %zu run(s), %llu ticks (+ %llu bars and alerts), batch_rows %u:\n",
                    writers.size(), static_cast<unsigned long long>(a.ticks),
                    static_cast<unsigned long long>(writers.empty() ? 0 : writers.front().rows - a.ticks),
                    a.batch_rows);
        std::printf("    tapewire writer   %10.0f rows/s\n", w_med);
        if (!t_rates.empty())
            std::printf("    COPY text         %10.0f rows/s   writer / COPY = %.3f\n", t_med, r_text);
        if (!b_rates.empty()) std::printf("    COPY binary       %10.0f rows/s   writer / COPY = %.3f\n", b_med, r_bin);
        for (std::size_t v = 0; v < variants.size(); ++v) {
            const double m = median(variant_rates[v]);
            std::printf("    libpq %s: %.0f rows/s (%.3f x COPY text)\n", variants[v].name.c_str(), m,
                        t_med > 0 ? m / t_med : 0);
        }
        std::printf("    target: writer >= 0.45 x COPY\n");
    }
    for (const latency_series& l : lats)
        std::printf("  latency, batch_interval %-6s bar emission -> commit: p50 %s, p99 %s, max %s (%zu bars from %zu "
                    "runs; bucket upper bounds, within 12.5 %%)\n",
                    format_duration(l.interval).c_str(), ms(nearest_rank(l.pooled, 0.5)).c_str(),
                    ms(nearest_rank(l.pooled, 0.99)).c_str(), ms(l.pooled.empty() ? 0 : l.pooled.back()).c_str(),
                    l.pooled.size(), l.runs.size());
    return 0;
}

#endif // TAPEWIRE_BENCH_LIBPQ

option_table sink_options(sink_args& a) {
    option_table t("tapewire-bench sink",
                   "The ODBC sink into a throwaway PostgreSQL 15: tapewire's writer (archive_ticks) against libpq COPY "
                   "of\nthe same rows in the same run, and bars-only latency from a bar's emission to its commit.\n");
    t.add("--ticks N", "ticks of each throughput run (default 1000000)", whole(a.ticks, std::uint64_t{1}));
    t.add("--runs R", "throughput runs, fresh tables each (default 3); medians are reported", whole(a.runs, 1u));
    t.add("--batch-rows N", "sink.batch_rows (default 5000)", whole(a.batch_rows, 1u));
    t.add("--symbols S", "source.symbol_count (default 100)", whole(a.symbols, 1u));
    t.add("--event-rate E",
          "throughput: ticks per second of event time (default 100000: 1 bar per\n1000 ticks with 100 symbols)",
          positive(a.event_rate));
    t.add("--start T", "throughput: event time of the first tick (default 2024-11-27T15:00:00Z)", text(a.start));
    t.add("--threads T", "pipeline.threads (default 1)", whole(a.threads, 1u, 2u));
    t.add("--copy-format F", "text, binary or both (default both)",
          one_or_both(a.copy_text, a.copy_binary, "text", "binary"));
    t.add("--no-verify", "skip the check that ticks_copy equals ticks", flag(a.verify, false));
    t.add("--statements",
          "also run the writer's INSERT alone through libpq on the same rows and\n"
          "batches, and with ON CONFLICT DO NOTHING (the writer's fallback)",
          flag(a.statements));
    t.add("--profile",
          "log every statement on the server (durations only) and break a writer\n"
          "batch down: client, send, bind, execute, commit",
          flag(a.profile));
    t.add("--rate R", "latency: ticks per second of wall clock (default 20000)", positive(a.rate));
    t.add("--duration S", "latency: seconds per run (default 20)", positive(a.duration_s));
    t.add("--latency-runs L",
          "latency: runs per batch interval, started at 0, 1/L, ... of the interval\n"
          "past a whole second, their bars pooled (default 4)",
          whole(a.latency_runs, 1u));
    t.add("--batch-interval D", "latency: sink.batch_interval of the first run (default 500ms)",
          duration_value(a.batch_interval, true));
    t.add("--fast-interval D", "latency: sink.batch_interval of the second run (default 100ms; 0 = none)",
          duration_value(a.fast_interval, false));
    t.add("--no-throughput", "only the latency runs", flag(a.throughput, false));
    t.add("--no-latency", "only the throughput runs", flag(a.latency, false));
    t.add("--seed N", "source.seed (default 1)", whole(a.seed));
    t.add("--json", "one JSON object instead of text", flag(a.json));
    return t;
}

} // namespace

int sink_main(int argc, char** argv) {
    sink_args a;
    if (const auto exit_code = sink_options(a).parse(argc, argv)) return *exit_code;
#if TAPEWIRE_BENCH_LIBPQ
    try {
        return run_sink(a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapewire-bench sink: %s\n", e.what());
        return 1;
    }
#else
    std::fprintf(stderr, "tapewire-bench sink: built without libpq (apt-get install libpq-dev, then cmake again)\n");
    return 1;
#endif
}

} // namespace tapewire::bench
