// End-to-end through the ODBC sink: the tapewire binary writing to SQLite (a file) and to a real
// PostgreSQL 15 that the test starts on a private port, killed with SIGKILL and restarted, with the
// database stopped under it (mid-run, and, with the pipeline in this process, at an assignment),
// and with a row the database refuses. Tables are read back with the databases' own command-line
// clients (sqlite3, psql), not through tapewire's code.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "pg_server.hpp"
#include "src/base/metrics.hpp"
#include "src/config/load.hpp"
#include "src/runtime/pipeline.hpp"

namespace {

using namespace tapewire::test;
using namespace std::chrono_literals;

constexpr const char* k_start = "2024-11-27T15:00:00Z";

// What a test compares: a table's rows as text, one per line, in key order; updated_at left out.
const char* k_bars_query =
    "SELECT symbol, width_ns, window_start, window_end, open, high, low, close, volume, trades, vwap, session_vwap, "
    "rolling_vwap, vwap_dev_bps, revision FROM %s ORDER BY symbol, width_ns, window_start";
const char* k_alerts_query = "SELECT symbol, ts, kind, value, threshold, score FROM %s ORDER BY symbol, ts, kind";

std::string with_table(const char* query, const std::string& table) {
    char buf[512];
    std::snprintf(buf, sizeof buf, query, table.c_str());
    return buf;
}

// A database as the tests see it: a connection string for tapewire and a way to run SQL.
struct database {
    std::string connection;
    std::function<std::string(const std::string& sql)> query; // rows, one per line
};

database sqlite_database(const std::string& file) {
    std::filesystem::remove(file);
    std::filesystem::remove(file + "-wal");
    std::filesystem::remove(file + "-shm");
    database d;
    d.connection = "Driver=SQLite3;Database=" + file;
    d.query = [file](const std::string& sql) {
        const command_result r = run_command({"sqlite3", "-batch", file, sql}, file + ".query", 60s);
        INFO("sqlite3 " << sql << "\n" << r.err);
        REQUIRE(r.status.ok());
        return r.out;
    };
    return d;
}

database postgres_database(pg_server& pg) {
    database d;
    d.connection = pg.odbc_connection();
    d.query = [&pg](const std::string& sql) { return pg.query(sql); };
    return d;
}

std::size_t line_count(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

std::vector<std::string> sink_args(const database& db) {
    return {"--set", "sink.kind=odbc", "--set", "sink.connection=" + db.connection};
}

// The fixed input of the crash and outage tests: 40 symbols, 2 000 ticks/s of event time (so a
// few thousand 1 s bars), anomalies injected so that alerts fire.
std::vector<std::string> input_args(std::uint64_t ticks) {
    return {"--ticks", std::to_string(ticks),
            "--set",   "source.rate=0",
            "--set",   "source.event_rate=2000",
            "--set",   std::string("source.start=") + k_start,
            "--set",   "source.symbol_count=40",
            "--set",   "source.seed=11",
            "--set",   "source.anomalies.enabled=true",
            "--set",   "source.anomalies.jump_every=20s",
            "--set",   "source.anomalies.burst_every=20s"};
}

std::string produce_input(const std::string& bootstrap, std::uint64_t ticks, const std::string& tag) {
    const command_result p = run_command(
        tapewire_cmd({"produce", "--set", "kafka.brokers=" + bootstrap}) + input_args(ticks), tag + ".produce");
    INFO("produce: " << p.status.text() << "\n" << p.err);
    REQUIRE(p.status.ok());
    REQUIRE(summary_count(p.err, "produced") == static_cast<std::int64_t>(ticks));
    return bootstrap;
}

std::vector<std::string> process_args(const std::string& bootstrap, const std::string& group, const database& db,
                                      const std::vector<std::string>& extra = {}) {
    // A killed member stays in the group until its session times out, and the broker holds the
    // next member's join until then: 3 s instead of librdkafka's 45 s.
    return tapewire_cmd({"process", "--set", "kafka.brokers=" + bootstrap, "--set", "kafka.group=" + group, "--set",
                         "kafka.stop_at_end=true", "--set", "kafka.consumer.session.timeout.ms=3000", "--set",
                         "kafka.consumer.heartbeat.interval.ms=300", "--set", "log.format=json"}) +
           sink_args(db) + extra;
}

// The reference: one uninterrupted `process` into tables named ref_*.
std::vector<std::string> ref_tables() {
    return {"--set", "sink.bars_table=ref_bars",         "--set", "sink.alerts_table=ref_alerts",
            "--set", "sink.dead_letters_table=ref_dead", "--set", "sink.offsets_table=ref_offsets",
            "--set", "sink.state_table=ref_state"};
}

void compare_tables(const database& db, const std::string& tag) {
    const std::string ref_bars = db.query(with_table(k_bars_query, "ref_bars"));
    const std::string bars = db.query(with_table(k_bars_query, "bars"));
    const std::string ref_alerts = db.query(with_table(k_alerts_query, "ref_alerts"));
    const std::string alerts = db.query(with_table(k_alerts_query, "alerts"));
    INFO(tag << ": " << line_count(ref_bars) << " reference bars, " << line_count(ref_alerts) << " reference alerts");
    CHECK(line_count(ref_bars) > 1000);
    CHECK(line_count(ref_alerts) > 10);
    CHECK(line_count(bars) == line_count(ref_bars));
    CHECK(line_count(alerts) == line_count(ref_alerts));
    // Row for row; on a difference, show the first one.
    const std::vector<std::string> a = split_lines(ref_bars), b = split_lines(bars);
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        if (a[i] != b[i]) {
            INFO("first differing bar row " << i << "\nreference: " << a[i] << "\nresumed:   " << b[i]);
            CHECK(a[i] == b[i]);
            break;
        }
    }
    CHECK(bars == ref_bars);
    const std::vector<std::string> c = split_lines(ref_alerts), d = split_lines(alerts);
    for (std::size_t i = 0; i < std::min(c.size(), d.size()); ++i) {
        if (c[i] != d[i]) {
            INFO("first differing alert row " << i << "\nreference: " << c[i] << "\nresumed:   " << d[i]);
            CHECK(c[i] == d[i]);
            break;
        }
    }
    CHECK(alerts == ref_alerts);
}

// A `tapewire broker` filled with a fixed input; one uninterrupted `process` into ref_*; then a
// `process` killed with SIGKILL at random points and restarted until it ends on its own; the bars
// and alerts tables must equal the reference row for row.
void crash_and_resume(const database& db, const std::string& tag, unsigned seed) {
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"ticks:64"});
    produce_input(bs, 300'000, tag);

    const command_result ref = run_command(process_args(bs, tag + "-ref", db, ref_tables()), tag + ".ref", 120s);
    INFO("reference: " << ref.status.text() << "\n" << ref.err);
    REQUIRE(ref.status.ok());
    REQUIRE(summary_count(ref.err, "messages in") == 300'000);

    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> delay_ms(50, 900);
    // Small, frequent batches, so that kills land between and inside many commits.
    const std::vector<std::string> small_batches{"--set", "sink.batch_interval=40ms", "--set", "sink.batch_rows=300"};
    int kills = 0;
    bool finished = false;
    for (int run = 0; run < 12 && !finished; ++run) {
        const std::string err_path = tag + ".run" + std::to_string(run) + ".stderr";
        child_process p;
        p.spawn(process_args(bs, tag + "-crash", db, small_batches), "", tag + ".run.stdout", err_path);
        if (run < 5) {
            REQUIRE(wait_for_record(err_path, "kafka", "assigned", 30s));
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
            p.signal(SIGKILL);
            const exit_status s = p.wait(10s);
            if (s.exited) {
                INFO(read_file(err_path));
                REQUIRE(s.ok()); // it got to the end before the kill
                finished = true;
            } else {
                ++kills;
            }
        } else {
            const exit_status s = p.wait(120s);
            INFO("final run: " << s.text() << "\n" << read_file(err_path));
            REQUIRE(s.ok());
            finished = true;
        }
    }
    INFO(kills << " kill(s)");
    CHECK(kills >= 3);
    REQUIRE(finished);
    compare_tables(db, tag);
    stop_broker(broker, tag);
}

} // namespace

TEST_CASE("run writes bars and alerts to SQLite and ends with a summary and a query that works", "[sql][sqlite][e2e]") {
    const database db = sqlite_database("sql_run.db");
    const command_result r = run_command(tapewire_cmd({"run", "--config", TAPEWIRE_SOURCE_DIR "/conf/tapewire.toml",
                                                       "--set", "sink.connection=" + db.connection}) +
                                             input_args(100'000),
                                         "sql_run", 120s);
    INFO(r.status.text() << "\n" << r.err);
    REQUIRE(r.status.ok());
    const std::int64_t bars = summary_count(r.err, "bars");
    const std::int64_t alerts = summary_count(r.err, "alerts");
    REQUIRE(bars > 0);
    CHECK(db.query("SELECT COUNT(*) FROM bars") == std::to_string(bars) + "\n");
    CHECK(db.query("SELECT COUNT(*) FROM alerts") == std::to_string(alerts) + "\n");
    CHECK(summary_count(r.err, "database") == bars + alerts);
    // The query the summary suggests runs as printed.
    const std::size_t at = r.err.find("  try           ");
    REQUIRE(at != std::string::npos);
    const std::string line = r.err.substr(at + 16, r.err.find('\n', at) - at - 16);
    const command_result q = run_command({"sh", "-c", line}, "sql_run.try", 30s);
    INFO(line << "\n" << q.err);
    CHECK(q.status.ok());
    CHECK(line_count(q.out) == 7); // header, rule, 5 rows
}

// test/fixtures/db_v1/bars_v1.db was written by the previous release (make_bars_v1.sh): a bars table
// without width_ns, holding 1 m bars from 15:00 and 1 s bars from 16:00. A run of this release on
// it rewrites the 1 s bars over a longer span; the 1 m bars it does not touch must stay as they were.
TEST_CASE("a run on a database made by the previous release keeps working: bars migrated, new bars upserted, nothing "
          "lost",
          "[sql][sqlite][e2e]") {
    const database db = sqlite_database("sql_v1.db");
    std::filesystem::copy_file(TAPEWIRE_SOURCE_DIR "/test/fixtures/db_v1/bars_v1.db", "sql_v1.db");
    const database ref = sqlite_database("sql_v1_ref.db");
    REQUIRE(db.query("SELECT COUNT(*) FROM pragma_table_info('bars') WHERE name = 'width_ns'") == "0\n");
    const std::string old_count = db.query("SELECT COUNT(*) FROM bars");
    REQUIRE(old_count == "110\n");
    const std::string columns = "symbol, window_start, window_end, open, high, low, close, volume, trades, vwap, "
                                "session_vwap, rolling_vwap, vwap_dev_bps, revision";
    const std::string old_minutes = db.query("SELECT " + columns +
                                             " FROM bars WHERE window_start < '2024-11-27T16' ORDER BY symbol, "
                                             "window_start");
    REQUIRE(line_count(old_minutes) == 10);

    // The fixture's second run, over twice the ticks.
    const auto run_on = [](const database& d, const std::string& tag) {
        const command_result r = run_command(tapewire_cmd({"run",
                                                           "--config",
                                                           TAPEWIRE_SOURCE_DIR "/conf/tapewire.toml",
                                                           "--set",
                                                           "sink.connection=" + d.connection,
                                                           "--set",
                                                           "log.format=json",
                                                           "--ticks",
                                                           "8000",
                                                           "--set",
                                                           "source.rate=0",
                                                           "--set",
                                                           "source.event_rate=200",
                                                           "--set",
                                                           "source.symbol_count=5",
                                                           "--set",
                                                           "source.seed=11",
                                                           "--set",
                                                           "source.anomalies.enabled=false",
                                                           "--set",
                                                           "window.width=1s",
                                                           "--set",
                                                           "source.start=2024-11-27T16:00:00Z"}),
                                             tag, 120s);
        INFO(tag << ": " << r.status.text() << "\n" << r.err);
        REQUIRE(r.status.ok());
        return r;
    };
    const command_result r = run_on(db, "sql_v1");
    const auto migrated = log_records(r.err, "sql", "rows");
    REQUIRE(migrated.size() == 1);
    CHECK(migrated[0].text("rows") + "\n" == old_count);
    const command_result fresh = run_on(ref, "sql_v1_ref");
    CHECK(log_records(fresh.err, "sql", "rows").empty()); // a new database has nothing to migrate

    // The 1 s bars equal a fresh run's, row for row: each bar of the old table was updated in place.
    const std::string seconds = "SELECT width_ns, " + columns +
                                " FROM bars WHERE width_ns = 1000000000 ORDER BY "
                                "symbol, window_start";
    const std::string ref_seconds = ref.query(seconds);
    CHECK(line_count(ref_seconds) == static_cast<std::size_t>(summary_count(fresh.err, "bars")));
    CHECK(line_count(ref_seconds) > 100);
    CHECK(db.query(seconds) == ref_seconds);
    // The 1 m bars kept every value, with their width.
    CHECK(db.query("SELECT " + columns + " FROM bars WHERE width_ns = 60000000000 ORDER BY symbol, window_start") ==
          old_minutes);
    CHECK(db.query("SELECT COUNT(*) FROM bars") == std::to_string(line_count(ref_seconds) + 10) + "\n");
    CHECK(db.query("SELECT COUNT(*) FROM bars WHERE width_ns NOT IN (1000000000, 60000000000)") == "0\n");
}

TEST_CASE("a process killed with SIGKILL and restarted leaves SQLite tables equal to an uninterrupted run",
          "[sql][sqlite][crash][e2e]") {
    crash_and_resume(sqlite_database("sql_crash.db"), "sql_crash_sqlite", 7);
}

TEST_CASE("a process killed with SIGKILL and restarted leaves PostgreSQL tables equal to an uninterrupted run",
          "[sql][postgres][crash][e2e]") {
    pg_server pg("sql_crash_pg");
    crash_and_resume(postgres_database(pg), "sql_crash_pg", 13);
}

namespace {

// Resident memory of a process, in KiB (0 when it is gone).
std::int64_t rss_kib(int pid) {
    const std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    const std::size_t at = status.find("VmRSS:");
    return at == std::string::npos ? 0 : std::stoll(status.substr(at + 6));
}

// Polls `ready` every 20 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ready()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// The `--set` values of a command line, to build in this process the config its child would load.
std::vector<std::string> overrides_of(const std::vector<std::string>& argv) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == "--set") out.push_back(argv[++i]);
    return out;
}

// The outage tests' rig: a PostgreSQL, and a `tapewire broker` whose input topic holds `n` ticks
// of the fixed input.
struct outage_rig {
    outage_rig(const std::string& tag, const std::string& topic, std::uint64_t n)
        : pg(tag), db(postgres_database(pg)), bs(start_broker(broker, tag, {topic})) {
        produce_input(bs, n, tag);
    }

    pg_server pg;
    database db;
    child_process broker;
    std::string bs;
};

// The outage tests archive every tick too (`archive`), so that a row lost or doubled anywhere
// shows. Their reference: one uninterrupted `process` into ref_*, ticks into ref_ticks.
void run_archived_reference(const std::string& bs, const std::string& tag, const database& db,
                            const std::vector<std::string>& archive) {
    const command_result ref = run_command(
        process_args(bs, tag + "-ref", db,
                     ref_tables() + archive + std::vector<std::string>{"--set", "sink.ticks_table=ref_ticks"}),
        tag + ".ref", 180s);
    INFO("reference: " << ref.status.text() << "\n" << ref.err);
    REQUIRE(ref.status.ok());
}

std::int64_t archived_ticks(const database& db) { return std::stoll("0" + db.query("SELECT COUNT(*) FROM ticks")); }

// Each of the `n` input messages archived exactly once.
void check_each_tick_once(const database& db, std::uint64_t n) {
    CHECK(db.query("SELECT COUNT(*), COUNT(DISTINCT src_offset::text || ':' || src_partition::text) FROM ticks") ==
          std::to_string(n) + "|" + std::to_string(n) + "\n");
}

} // namespace

TEST_CASE("PostgreSQL stopped for 5 s mid-run loses no row, doubles none, and the memory stays bounded",
          "[sql][postgres][fault][e2e]") {
    const std::string tag = "sql_outage";
    constexpr std::uint64_t n = 300'000;
    outage_rig rig(tag, "ticks:64", n);
    // Every tick is a row too (archive_ticks), and the ring to the writer is small: the outage
    // backs up into the graph and then into the Kafka partitions within moments. librdkafka's own
    // prefetch is held to 4 MiB: at its default (64 MiB, more than this whole topic) how much of
    // the topic it had fetched when the outage began decided the growth measured below, not
    // tapewire (a loaded CI machine once saw 42 MiB).
    const std::vector<std::string> archive{"--set", "sink.archive_ticks=true",
                                           "--set", "sink.ring_size=2048",
                                           "--set", "kafka.consumer.queued.max.messages.kbytes=4096"};
    run_archived_reference(rig.bs, tag, rig.db, archive);

    child_process p;
    const std::string err_path = tag + ".run.stderr";
    p.spawn(process_args(rig.bs, tag + "-run", rig.db, archive), "", tag + ".run.stdout", err_path);
    REQUIRE(wait_for_record(err_path, "kafka", "assigned", 30s));
    // Some batches in, then the database goes away for 5 s.
    (void)wait_until([&] { return archived_ticks(rig.db) >= 1000; }, 30s);
    const std::int64_t before = archived_ticks(rig.db);
    REQUIRE(before >= 1000);
    REQUIRE(before < static_cast<std::int64_t>(n)); // mid-run
    rig.pg.stop();
    std::this_thread::sleep_for(500ms); // the graph has backed up by now
    const std::int64_t rss_start = rss_kib(p.pid());
    std::int64_t rss_max = rss_start;
    for (int i = 0; i < 45; ++i) {
        std::this_thread::sleep_for(100ms);
        rss_max = std::max(rss_max, rss_kib(p.pid()));
    }
    rig.pg.start();
    const exit_status s = p.wait(180s);
    const std::string err = read_file(err_path);
    INFO("run: " << s.text() << "\n" << err);
    REQUIRE(s.ok());
    // The writer held its batch and retried while the database was away, and said when it was back.
    CHECK(!log_records(err, "sql", "retry_in").empty());
    CHECK(!log_records(err, "sql", "outage").empty());
    INFO("RSS " << rss_start << " KiB when the outage had begun, at most " << rss_max << " KiB during it");
    CHECK(rss_start > 0);
    CHECK(rss_max - rss_start < 32 * 1024);

    check_each_tick_once(rig.db, n);
    compare_tables(rig.db, tag);
    stop_broker(rig.broker, tag);
}

TEST_CASE("a row PostgreSQL refuses lands in dead_letters with its message, and the rest of its batch is committed",
          "[sql][postgres][e2e]") {
    const std::string tag = "sql_poison";
    pg_server pg(tag);
    const database db = postgres_database(pg);
    const std::vector<std::string> base =
        tapewire_cmd({"run", "--set", "kafka.brokers=", "--set", "source.rate=0", "--set",
                      std::string("source.start=") + k_start, "--set", "source.event_rate=1000"}) +
        sink_args(db);
    // The tables, then a rule that refuses one symbol's bars.
    const command_result first = run_command(base + std::vector<std::string>{"--ticks", "10"}, tag + ".schema");
    INFO(first.err);
    REQUIRE(first.status.ok());
    db.query("DELETE FROM bars; DELETE FROM alerts; DELETE FROM dead_letters");
    db.query("ALTER TABLE bars ADD CONSTRAINT no_poison CHECK (symbol <> 'POISON')");

    const command_result r = run_command(
        base + std::vector<std::string>{"--ticks", "30000", "--set", R"(source.symbols=["AAA","POISON","ZZZ"])",
                                        "--set", "sink.kind=[\"odbc\",\"ndjson\"]", "--set",
                                        "sink.path=" + tag + ".ndjson", "--set", "log.format=json"},
        tag + ".run", 60s);
    INFO(r.status.text() << "\n" << r.err);
    REQUIRE(r.status.ok());
    // Every bar of the NDJSON output, by key; the POISON ones are refused.
    std::set<std::string> all, poison;
    for (const std::string& line : split_lines(read_file(tag + ".ndjson"))) {
        if (line.find("\"type\":\"bar\"") == std::string::npos) continue;
        const std::size_t s = line.find("\"symbol\":\""), w = line.find("\"window_start\":");
        const std::string key = line.substr(s + 10, line.find('"', s + 10) - s - 10) + "@" +
                                line.substr(w + 15, line.find(',', w) - w - 15);
        all.insert(key);
        if (key.rfind("POISON@", 0) == 0) poison.insert(key);
    }
    REQUIRE(poison.size() > 5);
    REQUIRE(all.size() > poison.size() * 2);
    CHECK(db.query("SELECT COUNT(*) FROM bars") == std::to_string(all.size() - poison.size()) + "\n");
    CHECK(db.query("SELECT COUNT(*) FROM bars WHERE symbol = 'POISON'") == "0\n");
    CHECK(db.query("SELECT COUNT(*) FROM dead_letters WHERE reason = 'database' AND detail LIKE '%no_poison%' AND "
                   "payload LIKE '%\"symbol\":\"POISON\"%'") == std::to_string(poison.size()) + "\n");
    // Each refused row was logged with the row it was (a bar may be refused again in a revision).
    std::size_t logged = 0;
    for (const log_record& l : log_records(r.err, "sql", "source")) {
        CHECK(l.text("source") == "db:bars:POISON:1s"); // the width tells apart bars that start together
        CHECK(l.text("key") == "POISON");
        ++logged;
    }
    CHECK(logged >= poison.size());
}

// The assignment that finds the database away: the consumer holds the partitions (no wait inside
// librdkafka's rebalance callback), reads nothing from them, and once the database is back starts
// each at the offset saved with its state, so the tables equal an uninterrupted run's.
TEST_CASE("partitions assigned while PostgreSQL is down are held, read nothing, and resume at their saved offsets",
          "[sql][postgres][kafka][fault][e2e]") {
    const std::string tag = "sql_held";
    constexpr std::uint64_t n = 300'000;
    outage_rig rig(tag, "ticks:16", n);
    // Every tick is a row, through a small ring: the writer sets the pace, so a kill lands mid-run.
    const std::vector<std::string> archive{"--set", "sink.archive_ticks=true",  "--set", "sink.ring_size=2048",
                                           "--set", "sink.batch_interval=40ms", "--set", "sink.batch_rows=300",
                                           "--set", "sink.retry_max=1s"};
    run_archived_reference(rig.bs, tag, rig.db, archive);

    // A first member commits some checkpoints and is killed.
    const std::vector<std::string> run_args = process_args(rig.bs, tag + "-run", rig.db, archive);
    {
        child_process first;
        first.spawn(run_args, "", tag + ".first.stdout", tag + ".first.stderr");
        REQUIRE(wait_for_record(tag + ".first.stderr", "kafka", "assigned", 30s)); // the tables exist
        REQUIRE(wait_until([&] { return archived_ticks(rig.db) >= 2000; }, 60s));
        first.signal(SIGKILL);
        (void)first.wait(10s);
    }
    // A COMMIT sent just before the kill may still be under way in its server process: once that
    // is gone, what is saved is final.
    REQUIRE(wait_until(
        [&] {
            return rig.db.query("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                                "backend_type = 'client backend' AND pid <> pg_backend_pid()") == "0\n";
        },
        30s));
    const std::int64_t saved = std::stoll(
        "0" + rig.db.query("SELECT SUM(next_offset) FROM tapewire_offsets WHERE consumer_group = '" + tag + "-run'"));
    INFO(saved << " messages covered by the saved checkpoints");
    REQUIRE(saved > 0);
    REQUIRE(saved < static_cast<std::int64_t>(n));

    // The next member connects, then the database goes away before the group assigns it anything.
    tapewire::pipeline p(tapewire::load_config_text("", "(test)", overrides_of(run_args)), {},
                         tapewire::pipeline_mode::process);
    rig.pg.stop();
    p.start();
    tapewire::metrics_registry& m = p.metrics();
    const tapewire::gauge& held = m.get_gauge("kafka_partitions_held");
    const tapewire::counter& retries = m.get_counter("kafka_offset_load_retries_total");
    const tapewire::counter& rebalances = m.get_counter("kafka_rebalances_total");
    REQUIRE(wait_until([&] { return held.value() > 0 && retries.value() >= 2; }, 60s));
    // Held for longer than the session timeout (3 s): the group keeps the member meanwhile.
    const std::uint64_t rebalances_then = rebalances.value();
    std::this_thread::sleep_for(4s);
    INFO(held.value() << " partition(s) held, " << retries.value() << " load attempt(s) failed");
    CHECK(held.value() > 0);
    CHECK(static_cast<std::size_t>(held.value()) == p.assigned_partitions()); // every one of them
    CHECK(rebalances.value() == rebalances_then);
    CHECK(p.stats().messages.load() == 0);
    CHECK_FALSE(p.finished());

    rig.pg.start();
    REQUIRE(wait_until([&] { return p.finished(); }, 180s));
    CHECK(p.wait().empty());
    CHECK(held.value() == 0);
    // librdkafka 2.0 may deliver messages again after pausing a partition; the consumer skips them.
    INFO(m.get_counter("kafka_rewound_messages_total").value() << " message(s) delivered again and skipped");
    // Every partition started where its checkpoint said: what the killed member had committed is
    // not read again.
    CHECK(static_cast<std::int64_t>(p.stats().messages.load()) == static_cast<std::int64_t>(n) - saved);
    check_each_tick_once(rig.db, n);
    compare_tables(rig.db, tag);
    stop_broker(rig.broker, tag);
}
