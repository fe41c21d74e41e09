// `tapewire run --config conf/yahoo.toml` end to end, against a local server replaying Yahoo.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "src/base/duration_text.hpp"
#include "test/child_process.hpp"
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
