// `tapewire run --config conf/yahoo.toml` end to end, against a local server replaying Yahoo.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/base/clock.hpp"
#include "src/base/duration_text.hpp"
#include "tapewire/time_text.hpp"
#include "test/child_process.hpp"
#include "test/output_bar.hpp"
#include "test/pg_server.hpp"
#include "test/support/chart_gen.hpp"
#include "test/support/http_test_server.hpp"
#include "test/support/ws_test_server.hpp"

using namespace tapewire;
using namespace tapewire::test;
using namespace std::chrono_literals;

TEST_CASE("run with conf/yahoo.toml polls the chart API and writes the bars to its configured sinks",
          "[chart][net][e2e]") {
    const std::string day = read_file(yahoo_fixture_path("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    const std::string closed = read_file(yahoo_fixture_path("chart_v8_AAPL_1m_2025-02-01_weekend_no_bars.json"));
    const std::string gone = read_file(yahoo_fixture_path("chart_v8_error_not_found_404.json"));
    http_test_server srv([&](const http_request& r) {
        if (r.target.rfind("/v8/finance/chart/AAPL?", 0) == 0) {
            // A rate limit first, as Yahoo likes to; then the recorded day, gzip and chunked as Yahoo sends it.
            if (r.sequence == 0)
                return http_reply::json("Edge: Too Many Requests", 429).with_header("Retry-After", "1");
            return http_reply::json(day).gzipped().in_chunks(8192);
        }
        if (r.target.rfind("/v8/finance/chart/BTC-USD?", 0) == 0) return http_reply::json(gone, 404);
        return http_reply::json(closed); // the others: market closed, no bars
    });

    const std::string db = "yahoo_run.db", ndjson = "yahoo_run.ndjson";
    for (const auto& f : {db, db + "-wal", db + "-shm", ndjson}) std::filesystem::remove(f);
    const command_result r = run_command(
        tapewire_cmd({"run", "--config", TAPEWIRE_SOURCE_DIR "/conf/yahoo.toml", "--set",
                      "source.base_url=" + srv.origin(), "--set", "sink.connection=Driver=SQLite3;Database=" + db,
                      "--set", "sink.path=" + ndjson, "--set", "log.format=json", "--ticks", "390"}),
        "yahoo_run", 120s);
    INFO(r.status.text() << "\n" << r.err);
    REQUIRE(r.status.ok());
    // 391 recorded rows: one null, the rest (the trailing live bar long complete) sent once each.
    CHECK(summary_count(r.err, "produced") == 390);
    const std::int64_t bars = summary_count(r.err, "bars");
    CHECK(bars == 390); // one-minute windows: one bar per Yahoo minute
    const command_result q = run_command(
        {"sqlite3", "-batch", db, "SELECT COUNT(*), COUNT(DISTINCT window_start), MIN(symbol), MAX(symbol) FROM bars"},
        "yahoo_run.query", 30s);
    INFO(q.err);
    REQUIRE(q.status.ok());
    CHECK(q.out == "390|390|AAPL|AAPL\n");
    // The same bars in the NDJSON file beside it.
    std::size_t lines = 0;
    for (const std::string& line : split_lines(read_file(ndjson)))
        lines += line.find("\"type\":\"bar\"") != std::string::npos;
    CHECK(lines == 390);
    // Backed off on the 429 as long as Retry-After asked, and the delisted symbol was reported.
    bool rate_limited = false, delisted = false;
    for (const log_record& l : log_records(r.err, "fetch", "retry_in")) {
        rate_limited = rate_limited || (l.text("status") == "429" && l.text("retry_after") == "1" &&
                                        parse_duration(l.text("retry_in")) >= std::chrono::seconds(1));
        delisted = delisted || (l.text("symbol") == "BTC-USD" && l.text("status") == "404" &&
                                l.text("detail") == "No data found, symbol may be delisted");
    }
    CHECK(rate_limited);
    CHECK(delisted);
    // The summary counts what was fetched, by status.
    CHECK_THAT(r.err, Catch::Contains("1 x 404"));
    CHECK_THAT(r.err, Catch::Contains("1 x 429"));
}

TEST_CASE("run with the yahoo-stream source turns the streamer's frames into ticks and bars, reconnecting",
          "[stream][net][e2e]") {
    std::vector<std::string> frames = split_lines(read_file(yahoo_fixture_path("ws_v2_frames_BTC-USD.txt")));
    REQUIRE(frames.size() == 35);
    ws_server_options opt;
    opt.frames = frames;
    opt.garbage_before = {"not json at all", R"({"type":"pricing","message":"@@@@"})"};
    opt.drop_after = 10; // the first connection drops after 10 frames (2 garbage, 8 ticks); the source reconnects
    ws_test_server srv(opt);

    const std::string ndjson = "yahoo_stream_run.ndjson";
    std::filesystem::remove(ndjson);
    // The second connection replays the frames from the start: the ticks already seen come again
    // (a real streamer would send new ones), so the run stops at 8 + 35.
    const command_result r = run_command(tapewire_cmd({"run",
                                                       "--config",
                                                       TAPEWIRE_SOURCE_DIR "/conf/yahoo.toml",
                                                       "--set",
                                                       "source.kind=yahoo-stream",
                                                       "--set",
                                                       "source.stream_url=" + srv.url(),
                                                       "--set",
                                                       "source.symbols=[\"BTC-USD\"]",
                                                       "--set",
                                                       "source.backoff_min=100ms",
                                                       "--set",
                                                       "source.stream_silence=30s",
                                                       "--set",
                                                       "sink.kind=ndjson",
                                                       "--set",
                                                       "sink.path=" + ndjson,
                                                       "--set",
                                                       "window.width=1s",
                                                       "--set",
                                                       "log.format=json",
                                                       "--ticks",
                                                       "43"}),
                                         "yahoo_stream_run", 120s);
    INFO(r.status.text() << "\n" << r.err);
    REQUIRE(r.status.ok());
    CHECK(summary_count(r.err, "produced") == 43);
    CHECK(summary_count(r.err, "ticks parsed") == 43);
    // One restart, after the dropped connection: ended by --ticks, not by a silent stream.
    CHECK(log_records(r.err, "fetch", "restart_in").size() == 1);
    CHECK(summary_count(r.err, "bars") > 0);
    CHECK(srv.connections() >= 2);
    // Subscribed on both connections, with the configured symbol.
    std::size_t subscribes = 0;
    for (const auto& m : srv.messages()) subscribes += m.text == R"({"subscribe":["BTC-USD"]})";
    CHECK(subscribes >= 2);
    CHECK_THAT(r.err, Catch::Contains("1 reconnects"));
    CHECK_THAT(r.err, Catch::Contains("4 undecodable")); // two garbage frames on each connection
}

namespace {

const std::vector<std::string> k_three = {"AAPL", "MSFT", "NVDA"};

// A local Yahoo serving `gen`'s bars: each symbol's first request a 429 (Retry-After: 1), then
// gzip and chunked answers; every target is kept.
struct generated_yahoo {
    test::chart_gen gen;
    std::mutex mu;
    std::set<std::string> limited;
    std::vector<std::string> targets;
    http_test_server srv;

    explicit generated_yahoo(test::chart_gen g)
        : gen(std::move(g)), srv([this](const http_request& r) {
              const std::string sym = test::chart_gen::symbol_of(r.target);
              {
                  std::lock_guard lk(mu);
                  targets.push_back(r.target);
                  if (limited.insert(sym).second)
                      return http_reply::json("Edge: Too Many Requests", 429).with_header("Retry-After", "1");
              }
              return http_reply::json(gen.answer_for(r.target)).gzipped().in_chunks(4096);
          }) {}

    std::size_t requests() {
        std::lock_guard lk(mu);
        return targets.size();
    }

    // The targets asked for `sym`, in order, the rate-limited first one left out.
    std::vector<std::string> asked(const std::string& sym) {
        std::lock_guard lk(mu);
        std::vector<std::string> out;
        for (const std::string& t : targets)
            if (test::chart_gen::symbol_of(t) == sym) out.push_back(t);
        if (!out.empty()) out.erase(out.begin());
        return out;
    }
};

// `tapewire run --config conf/yahoo.toml` for the three symbols against `y`, sessions as `y.gen`'s
// calendar has them, until `bars` bars were fetched.
std::vector<std::string> yahoo_args(generated_yahoo& y, const std::string& connection, const std::string& ndjson,
                                    std::int64_t bars) {
    const std::int64_t start = ((y.gen.session_start_s(0)) % 86400 + 86400) % 86400 / 60;
    char hhmm[8];
    std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", static_cast<int>(start / 60), static_cast<int>(start % 60));
    std::vector<std::string> args{"run",
                                  "--config",
                                  TAPEWIRE_SOURCE_DIR "/conf/yahoo.toml",
                                  "--set",
                                  "source.base_url=" + y.srv.origin(),
                                  "--set",
                                  R"(source.symbols=["AAPL","MSFT","NVDA"])",
                                  "--set",
                                  "source.bar_grace=0s",
                                  "--set",
                                  "source.poll_interval=1s",
                                  "--set",
                                  "source.backoff_min=100ms",
                                  "--set",
                                  "vwap.session_tz=UTC",
                                  "--set",
                                  std::string("vwap.session_start=") + hhmm,
                                  "--set",
                                  "sink.connection=" + connection,
                                  "--set",
                                  "sink.path=" + ndjson,
                                  "--set",
                                  "log.format=json",
                                  "--ticks",
                                  std::to_string(bars)};
    return with_test_http(tapewire_cmd({}) + args);
}

command_result run_yahoo(generated_yahoo& y, const std::string& db, const std::string& ndjson, std::int64_t bars,
                         const std::string& tag, const std::vector<std::string>& extra = {}) {
    return run_command(yahoo_args(y, "Driver=SQLite3;Database=" + db, ndjson, bars) + extra, tag, 180s);
}

// Runs a SELECT and returns its rows, one a line, columns separated by '|'.
using sql_query = std::function<std::string(const std::string& sql)>;

sql_query sqlite_query(const std::string& db) {
    return [db](const std::string& sql) {
        const command_result q = run_command({"sqlite3", "-batch", db, sql}, db + ".query", 30s);
        INFO(q.err);
        REQUIRE(q.status.ok());
        return q.out;
    };
}

// window_start as format_utc writes it: SQLite keeps that text; PostgreSQL needs it spelled.
constexpr const char* k_sqlite_start = "window_start";
constexpr const char* k_postgres_start = R"(to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))";

// symbol|window_start|open|high|low|close|volume|... rows of the bars table, keyed by symbol|window_start.
std::map<std::string, std::vector<std::string>> bar_rows(const sql_query& query, const std::string& columns,
                                                         const std::string& start = k_sqlite_start) {
    const std::string out_text = query("SELECT symbol, " + start + ", " + columns + " FROM bars ORDER BY 1, 2");
    std::map<std::string, std::vector<std::string>> out;
    for (const std::string& line : split_lines(out_text)) {
        std::vector<std::string> f;
        std::size_t at = 0;
        for (std::size_t bar = line.find('|'); bar != std::string::npos; bar = line.find('|', at)) {
            f.push_back(line.substr(at, bar - at));
            at = bar + 1;
        }
        f.push_back(line.substr(at));
        REQUIRE(f.size() >= 2);
        const std::string key = f[0] + "|" + f[1];
        CHECK(out.count(key) == 0); // the key is unique: each bar once
        out[key] = std::vector<std::string>(f.begin() + 2, f.end());
    }
    return out;
}

std::map<std::string, std::vector<std::string>> bar_rows(const std::string& db, const std::string& columns) {
    return bar_rows(sqlite_query(db), columns);
}

// The database holds exactly `gen`'s bars of the three symbols from `from_s` on, values as served.
void check_served_bars(const sql_query& query, const test::chart_gen& gen, std::int64_t from_s,
                       const std::string& start = k_sqlite_start) {
    const auto rows = bar_rows(query, "open, high, low, close, volume, revision", start);
    std::size_t expected = 0;
    for (const std::string& sym : k_three) {
        for (std::int64_t m : gen.bar_minutes(sym, from_s, gen.now_s())) {
            ++expected;
            const auto it = rows.find(sym + "|" + format_utc(m * 1'000'000'000));
            INFO(sym << " " << format_utc(m * 1'000'000'000));
            REQUIRE(it != rows.end());
            const chart_bar b = test::chart_gen::bar(sym, m);
            const auto& v = it->second;
            CHECK(std::stod(v[0]) == b.open);
            CHECK(std::stod(v[1]) == b.high);
            CHECK(std::stod(v[2]) == b.low);
            CHECK(std::stod(v[3]) == b.close);
            CHECK(std::stod(v[4]) == b.volume);
            CHECK(v[5] == "0"); // never corrected: no bar came twice into the window stage
        }
    }
    CHECK(rows.size() == expected);
}

void check_served_bars(const std::string& db, const test::chart_gen& gen, std::int64_t from_s) {
    check_served_bars(sqlite_query(db), gen, from_s);
}

std::size_t served_count(const test::chart_gen& gen, std::int64_t from_s) {
    std::size_t n = 0;
    for (const std::string& sym : k_three) n += gen.bar_minutes(sym, from_s, gen.now_s()).size();
    return n;
}

void remove_db(const std::string& db, const std::string& ndjson) {
    for (const auto& f : {db, db + "-wal", db + "-shm", ndjson}) std::filesystem::remove(f);
}

void check_no_late(const command_result& r, const std::string& ndjson) {
    CHECK(summary_count(r.err, "dead letters") == 0);
    CHECK(summary_count(r.err, "bars") == summary_count(r.err, "produced"));
    std::size_t dead = 0;
    for (const std::string& line : split_lines(read_file(ndjson)))
        dead += line.find("\"type\":\"dead_letter\"") != std::string::npos;
    CHECK(dead == 0);
}

} // namespace

TEST_CASE("a restart after a day's downtime fills the gap once from the database left by the earlier run",
          "[chart][net][e2e]") {
    const std::int64_t now_s = wall_ns() / 1'000'000'000 / 60 * 60;
    // Run 2 is served the real now, three hours into today's session D; run 1 was served D-2,
    // 200 minutes into its session, and stopped there.
    test::chart_gen later = test::chart_gen::into_session(now_s, 3);
    const std::int64_t today = later.session_of_s(now_s);
    const std::int64_t d2 = later.session_start_s(today - 2);
    test::chart_gen earlier = later;
    earlier.set_now(d2 + 200 * 60);

    const std::string db = "yahoo_gap.db", ndjson = "yahoo_gap.ndjson";
    remove_db(db, ndjson);
    {
        generated_yahoo y(earlier);
        const std::int64_t n = static_cast<std::int64_t>(served_count(earlier, d2));
        const command_result r = run_yahoo(y, db, ndjson, n, "yahoo_gap.1");
        INFO(r.status.text() << "\n" << r.err);
        REQUIRE(r.status.ok());
        CHECK(summary_count(r.err, "produced") == n);
        for (const std::string& sym : k_three) CHECK(y.asked(sym).front().find("range=1d") != std::string::npos);
        check_served_bars(db, earlier, d2);
    }
    // Everything run 1 wrote but updated_at: the refetched session must leave it as it was.
    const std::string kept = "open, high, low, close, volume, trades, vwap, session_vwap, rolling_vwap, revision";
    const auto before = bar_rows(db, kept);
    REQUIRE(!before.empty());

    std::filesystem::remove(ndjson);
    generated_yahoo y(later);
    const std::int64_t n = static_cast<std::int64_t>(served_count(later, d2));
    const command_result r = run_yahoo(y, db, ndjson, n, "yahoo_gap.2");
    INFO(r.status.text() << "\n" << r.err);
    REQUIRE(r.status.ok());
    CHECK(summary_count(r.err, "produced") == n);
    // Asked from the session of the last stored bar (one chunk: the gap is two days), then polled.
    for (const std::string& sym : k_three) {
        const auto asked = y.asked(sym);
        INFO(sym);
        REQUIRE(asked.size() >= 2);
        CHECK(asked[0].find("period1=" + std::to_string(d2) + "&") != std::string::npos);
        std::int64_t p2 = 0;
        CHECK(test::chart_gen::query_int(asked[0], "period2", p2));
        CHECK(p2 >= now_s);
        CHECK(asked[1].find("range=1d") != std::string::npos);
    }
    check_served_bars(db, later, d2);
    const auto after = bar_rows(db, kept);
    for (const auto& [key, values] : before) {
        INFO(key);
        REQUIRE(after.count(key) == 1);
        CHECK(after.at(key) == values);
    }
    check_no_late(r, ndjson);
    // Each served bar entered run 2's bar memory once (the refetch and the polls do not overlap), and
    // each window came out once: the refetched bars that run 1 had written are not counted twice.
    CHECK(summary_count(r.err, "bar input") == n);
    CHECK(r.err.find(" new, 0 duplicates, 0 revised, 0 beyond memory") != std::string::npos);
    std::set<std::string> windows;
    std::size_t bar_lines = 0;
    for (const std::string& line : split_lines(read_file(ndjson))) {
        if (line.find("\"type\":\"bar\"") == std::string::npos) continue;
        ++bar_lines;
        const out_bar b = parse_bar(line);
        windows.insert(b.symbol + "@" + std::to_string(b.start));
    }
    CHECK(bar_lines == static_cast<std::size_t>(n));
    CHECK(windows.size() == bar_lines);
}

TEST_CASE("run with three yahoo-chart symbols on one Kafka partition writes every completed bar of every symbol "
          "once, equal to the served values, with no late dead letters",
          "[chart][net][e2e][kafka]") {
    const std::int64_t now_s = wall_ns() / 1'000'000'000 / 60 * 60;
    test::chart_gen gen = test::chart_gen::into_session(now_s, 3);
    const std::int64_t today = gen.session_start_s(gen.session_of_s(now_s));
    const std::string db = "yahoo_three.db", ndjson = "yahoo_three.ndjson";
    remove_db(db, ndjson);
    generated_yahoo y(gen);
    const std::int64_t n = static_cast<std::int64_t>(served_count(gen, today));
    const command_result r =
        run_yahoo(y, db, ndjson, n, "yahoo_three", {"--set", "kafka.brokers=embedded", "--set", "kafka.partitions=1"});
    INFO(r.status.text() << "\n" << r.err);
    REQUIRE(r.status.ok());
    CHECK(summary_count(r.err, "produced") == n);
    check_served_bars(db, gen, today);
    check_no_late(r, ndjson);
}

TEST_CASE("a run whose database is down at start waits for it, asks Yahoo nothing before, then fills the gap",
          "[chart][net][e2e][sql]") {
    const std::int64_t now_s = wall_ns() / 1'000'000'000 / 60 * 60;
    test::chart_gen later = test::chart_gen::into_session(now_s, 3);
    const std::int64_t d2 = later.session_start_s(later.session_of_s(now_s) - 2);
    test::chart_gen earlier = later;
    earlier.set_now(d2 + 200 * 60);
    pg_server pg("yahoo_wait");
    const sql_query psql = [&pg](const std::string& sql) { return pg.query(sql); };
    const std::string ndjson = "yahoo_wait.ndjson";
    {
        generated_yahoo y(earlier);
        const auto n = static_cast<std::int64_t>(served_count(earlier, d2));
        const command_result r = run_command(yahoo_args(y, pg.odbc_connection(), ndjson, n), "yahoo_wait.1", 180s);
        INFO(r.status.text() << "\n" << r.err);
        REQUIRE(r.status.ok());
        check_served_bars(psql, earlier, d2, k_postgres_start);
    }
    pg.stop();

    std::filesystem::remove(ndjson);
    generated_yahoo y(later);
    const auto n = static_cast<std::int64_t>(served_count(later, d2));
    const std::string err_path = "yahoo_wait.2.stderr";
    child_process run;
    run.spawn(yahoo_args(y, pg.odbc_connection(), ndjson, n) + std::vector<std::string>{"--set", "sink.retry_max=1s"},
              "", "yahoo_wait.2.stdout", err_path);
    const auto waiting = [&err_path] {
        for (const log_record& l : log_records(test::read_file(err_path), "sql", "retry_in"))
            if (l.text("msg") == "database unavailable at start; waiting" && l.text("sqlstate").rfind("08", 0) == 0)
                return true;
        return false;
    };
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!waiting() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    INFO(test::read_file(err_path));
    REQUIRE(waiting());
    std::this_thread::sleep_for(1s); // a while down: the poller must still be waiting after it
    CHECK(y.requests() == 0);
    pg.start();
    const exit_status st = run.wait(180s);
    const std::string err = test::read_file(err_path);
    INFO(st.text() << "\n" << err);
    REQUIRE(st.ok());
    CHECK(summary_count(err, "produced") == n);
    CHECK(log_records(err, "sql", "waited").size() == 1); // "the database answers", once
    // The plan was read once the database was back: each symbol asked from D-2's session first.
    for (const std::string& sym : k_three) {
        const auto asked = y.asked(sym);
        INFO(sym);
        REQUIRE(!asked.empty());
        CHECK(asked[0].find("period1=" + std::to_string(d2) + "&") != std::string::npos);
    }
    check_served_bars(psql, later, d2, k_postgres_start);
}
