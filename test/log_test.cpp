// The log facade: levels filter, the text and JSON lines carry the same record and read back, fields
// keep their types, and records from several threads at once arrive whole.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "src/base/duration_text.hpp"
#include "src/base/log.hpp"

using namespace tapewire;
using namespace std::chrono_literals;

namespace {

// "2025-01-02T14:30:00.123Z" as Unix milliseconds, or -1 when it is not that shape.
std::int64_t timestamp_ms(std::string_view s) {
    if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' ||
        s[23] != 'Z')
        return -1;
    std::tm t{};
    const auto num = [&](std::size_t at, std::size_t n) {
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    t.tm_year = num(0, 4) - 1900;
    t.tm_mon = num(5, 2) - 1;
    t.tm_mday = num(8, 2);
    t.tm_hour = num(11, 2);
    t.tm_min = num(14, 2);
    t.tm_sec = num(17, 2);
    const int ms = num(20, 3);
    if (ms < 0 || t.tm_sec < 0) return -1;
    return static_cast<std::int64_t>(timegm(&t)) * 1000 + ms;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

TEST_CASE("records below the configured level are dropped", "[log]") {
    log::capture cap({log_level::warn, log_format::text});
    CHECK_FALSE(log::enabled(log_level::info));
    CHECK(log::enabled(log_level::warn));
    log::debug("test", "not written");
    log::info("test", "not written");
    log::warn("test", "written", {{"n", 1}});
    log::error("test", "written", {{"n", 2}});
    const auto records = cap.records();
    REQUIRE(records.size() == 2);
    CHECK(records[0].level == log_level::warn);
    CHECK(records[0].find("n")->integer == 1);
    CHECK(records[1].level == log_level::error);
    CHECK(records[1].find("n")->integer == 2);
    CHECK(cap.lines().size() == 2);

    log::configure({log_level::error, log_format::text});
    log::warn("test", "now dropped too");
    CHECK(cap.records().size() == 2);
}

TEST_CASE("a capture restores the settings and the capture it replaced", "[log]") {
    const log_config before = log::settings();
    {
        log::capture outer({log_level::info, log_format::json});
        {
            log::capture inner({log_level::debug, log_format::text});
            log::debug("test", "to the inner one");
        }
        CHECK(log::settings().level == log_level::info);
        CHECK(log::settings().format == log_format::json);
        log::debug("test", "dropped: the outer one wants info");
        log::info("test", "to the outer one");
        REQUIRE(outer.records().size() == 1);
        CHECK(outer.records()[0].message == "to the outer one");
    }
    CHECK(log::settings().level == before.level);
    CHECK(log::settings().format == before.format);
}

TEST_CASE("a text record is one line: time, level, component, message, then key=value fields", "[log]") {
    log::capture cap({log_level::debug, log_format::text});
    const std::int64_t t0 = now_ms();
    log::warn("sql", "database unavailable, holding the batch",
              {{"sqlstate", "08001"},
               {"rows", std::size_t{120}},
               {"retry_in", duration{1'234'567'891}},
               {"error", "could not connect: \"refused\"\nsecond line"},
               {"empty", ""},
               {"ratio", 0.25},
               {"first", true},
               {"offset", std::int64_t{-1}}});
    log::info("kafka", "a message\nthat tries to break the line");
    const std::int64_t t1 = now_ms();
    const auto lines = cap.lines();
    REQUIRE(lines.size() == 2);
    const std::string& line = lines[0];
    INFO(line);
    REQUIRE(line.size() > 25);
    const std::int64_t ts = timestamp_ms(std::string_view(line).substr(0, 24));
    CHECK(ts >= t0);
    CHECK(ts <= t1);
    CHECK(line.substr(24) == " WARN  sql: database unavailable, holding the batch sqlstate=08001 rows=120 "
                             "retry_in=1.23s error=\"could not connect: \\\"refused\\\"\\nsecond line\" empty=\"\" "
                             "ratio=0.25 first=true offset=-1");
    CHECK(lines[1].substr(24) == " INFO  kafka: a message\\nthat tries to break the line");
    CHECK(lines[1].find('\n') == std::string::npos);
}

TEST_CASE("a json record parses back to the same time, level, component, message and fields", "[log]") {
    log::capture cap({log_level::debug, log_format::json});
    const std::int64_t t0 = now_ms();
    const std::string tricky = "quote \" backslash \\ tab \t bell \x07 caf\xc3\xa9";
    log::error("fetch", tricky,
               {{"symbol", "BTC-USD"},
                {"status", 404},
                {"bytes", std::uint64_t{18'446'744'073'709'551'615ULL}},
                {"wait", 1h},
                {"ratio", 1.5},
                {"nothing", std::numeric_limits<double>::quiet_NaN()},
                {"ok", false},
                {"detail", tricky}});
    const std::int64_t t1 = now_ms();
    const auto lines = cap.lines();
    REQUIRE(lines.size() == 1);
    INFO(lines[0]);
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    REQUIRE(parser.parse(lines[0]).get(e) == simdjson::SUCCESS);
    std::string_view ts;
    REQUIRE(e["ts"].get(ts) == simdjson::SUCCESS);
    CHECK(timestamp_ms(ts) >= t0);
    CHECK(timestamp_ms(ts) <= t1);
    CHECK(e["level"].get_string().value() == "error");
    CHECK(e["component"].get_string().value() == "fetch");
    CHECK(e["msg"].get_string().value() == tricky);
    CHECK(e["symbol"].get_string().value() == "BTC-USD");
    CHECK(e["status"].get_int64().value() == 404);
    CHECK(e["bytes"].get_uint64().value() == 18'446'744'073'709'551'615ULL);
    CHECK(e["wait"].get_string().value() == "1h");
    CHECK(parse_duration(e["wait"].get_string().value()) == 1h);
    CHECK(e["ratio"].get_double().value() == 1.5);
    CHECK(e["nothing"].is_null()); // JSON has no NaN
    CHECK(e["ok"].get_bool().value() == false);
    CHECK(e["detail"].get_string().value() == tricky);
    // The record's keys, in order: its own four, then the fields as given.
    simdjson::dom::object record;
    REQUIRE(e.get_object().get(record) == simdjson::SUCCESS);
    std::vector<std::string> keys;
    for (auto [k, v] : record) keys.emplace_back(k);
    CHECK(keys == std::vector<std::string>{"ts", "level", "component", "msg", "symbol", "status", "bytes", "wait",
                                           "ratio", "nothing", "ok", "detail"});
}

TEST_CASE("captured fields keep their kind and value", "[log]") {
    log::capture cap;
    log::info("kafka", "assigned",
              {{"partitions", 3}, {"owned", std::size_t{8}}, {"topic", std::string("ticks")}, {"wait", 2500ms}});
    const auto found = cap.with("kafka", "partitions");
    REQUIRE(found.size() == 1);
    const log::captured_record& r = found[0];
    CHECK(r.level == log_level::info);
    CHECK(r.message == "assigned");
    CHECK(r.find("partitions")->kind == log::field_kind::integer);
    CHECK(r.find("partitions")->integer == 3);
    CHECK(r.find("owned")->kind == log::field_kind::unsigned_integer);
    CHECK(r.find("owned")->integer == 8);
    CHECK(r.find("topic")->text == "ticks");
    CHECK(r.find("wait")->kind == log::field_kind::duration);
    CHECK(r.find("wait")->integer == 2'500'000'000);
    CHECK(r.find("wait")->text == "2.5s");
    CHECK(r.find("missing") == nullptr);
    CHECK(cap.with("kafka", "missing").empty());
    CHECK(cap.with("sql", "partitions").empty());
}

TEST_CASE("records from several threads at once each arrive whole and in each thread's order", "[log][concurrency]") {
    log::capture cap({log_level::debug, log_format::json});
    constexpr int k_threads = 4;
    constexpr int k_each = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([t] {
            for (int i = 0; i < k_each; ++i)
                log::info("test", "from a thread", {{"thread", t}, {"seq", i}, {"text", "a value with \"quotes\""}});
        });
    for (auto& t : threads) t.join();
    const auto records = cap.records();
    const auto lines = cap.lines();
    REQUIRE(records.size() == k_threads * k_each);
    REQUIRE(lines.size() == records.size());
    std::map<std::int64_t, std::int64_t> next; // thread -> the seq expected next
    simdjson::dom::parser parser;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        simdjson::dom::element e;
        INFO(lines[i]);
        REQUIRE(parser.parse(lines[i]).get(e) == simdjson::SUCCESS);
        const std::int64_t thread = e["thread"].get_int64().value();
        const std::int64_t seq = e["seq"].get_int64().value();
        CHECK(seq == next[thread]++);
        CHECK(records[i].find("thread")->integer == thread); // the record and its line agree
        CHECK(records[i].find("seq")->integer == seq);
    }
    CHECK(next.size() == k_threads);
}
