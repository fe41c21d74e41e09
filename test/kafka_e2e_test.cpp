// End-to-end through Kafka: the tapewire binary's broker, produce, process and run commands, with
// kcat as an independent Kafka client, checked on the NDJSON the processes write. Every child
// process is owned by a guard that kills and reaps it if a test fails half-way.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.hpp"
#include "output_bar.hpp"

namespace {

using namespace std::chrono_literals;
using namespace tapewire::test;

// Event time of the first synthetic tick: fixed and in the past, so rate = 0 never runs ahead of
// the wall clock (future_ts).
constexpr const char* k_start = "2024-11-27T15:00:00Z";

using bar_key = std::pair<std::string, std::int64_t>; // (symbol, window_start)

struct ndjson_output {
    std::map<bar_key, std::string> bars;                           // full lines
    std::vector<std::string> bar_lines;                            // every bar line, in order (duplicates kept)
    std::multiset<std::string> alerts;                             // full lines
    std::vector<std::pair<std::string, std::string>> dead_letters; // (reason, payload)
};

ndjson_output read_output(const std::string& path) {
    ndjson_output o;
    simdjson::dom::parser parser;
    for (const std::string& line : split_lines(read_file(path))) {
        simdjson::dom::element e;
        INFO(path << ": " << line);
        REQUIRE(parser.parse(line).get(e) == simdjson::SUCCESS);
        const std::string_view type = e["type"].get_string().value();
        if (type == "bar") {
            const bar_key k{std::string(e["symbol"].get_string().value()), e["window_start"].get_int64().value()};
            o.bar_lines.push_back(line);
            o.bars[k] = line;
        } else if (type == "alert") {
            o.alerts.insert(line);
        } else if (type == "dead_letter") {
            o.dead_letters.emplace_back(std::string(e["reason"].get_string().value()),
                                        std::string(e["payload"].get_string().value()));
        }
    }
    return o;
}

using tapewire::test::parse_bar;

// Lines in `a` but not in `b` (as multisets), at most `limit` of them.
std::vector<std::string> missing_from(const std::multiset<std::string>& a, const std::multiset<std::string>& b,
                                      std::size_t limit = 3) {
    std::vector<std::string> out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    if (out.size() > limit) out.resize(limit);
    return out;
}

} // namespace

TEST_CASE("1 000 000 synthetic ticks round-trip through the embedded broker exactly once and give the bars of a "
          "run without Kafka",
          "[kafka][e2e]") {
    // 10 000 ticks/s of event time: 100 s, so the injected anomalies (after a minute of warm-up)
    // give alerts to compare as well as bars.
    const std::vector<std::string> common = {"run",
                                             "--ticks",
                                             "1000000",
                                             "--set",
                                             "source.rate=0",
                                             "--set",
                                             "source.event_rate=10000",
                                             "--set",
                                             std::string("source.start=") + k_start,
                                             "--set",
                                             "source.anomalies.enabled=true",
                                             "--set",
                                             "log.format=json"};
    const command_result a =
        run_command(with_test_http(std::vector<std::string>{TAPEWIRE_BINARY} + common) +
                        std::vector<std::string>{"--set", "sink.path=kafka_roundtrip_embedded.ndjson"},
                    "kafka_roundtrip_embedded", 60s);
    const command_result b = run_command(
        with_test_http(std::vector<std::string>{TAPEWIRE_BINARY} + common) +
            std::vector<std::string>{"--set", "sink.path=kafka_roundtrip_direct.ndjson", "--set", "kafka.brokers="},
        "kafka_roundtrip_direct", 30s);
    INFO("through Kafka: " << a.status.text() << "\n" << a.err);
    INFO("without Kafka: " << b.status.text() << "\n" << b.err);
    REQUIRE(a.status.ok());
    REQUIRE(b.status.ok());
    // Through the embedded broker, and without one.
    CHECK(log_records(a.err, "cli", "bootstrap").size() == 1);
    CHECK(log_records(b.err, "cli", "bootstrap").empty());
    REQUIRE(log_records(b.err, "cli", "pipeline").size() == 1);
    CHECK(summary_count(a.err, "produced") == 1'000'000);
    CHECK(summary_count(a.err, "messages in") == 1'000'000);
    CHECK(summary_count(a.err, "dead letters") == 0);
    CHECK(summary_count(b.err, "messages in") == 1'000'000);
    CHECK(summary_count(b.err, "dead letters") == 0);

    const ndjson_output oa = read_output("kafka_roundtrip_embedded.ndjson");
    const ndjson_output ob = read_output("kafka_roundtrip_direct.ndjson");
    std::uint64_t trades = 0;
    for (const auto& line : oa.bar_lines) trades += parse_bar(line).trades;
    CHECK(trades == 1'000'000); // every tick counted once: none lost, none read twice
    CHECK(oa.dead_letters.empty());
    CHECK(oa.bars.size() == oa.bar_lines.size()); // one bar per (symbol, window): no re-emission

    std::vector<std::string> sa = oa.bar_lines, sb = ob.bar_lines;
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    REQUIRE(sa.size() == sb.size());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < sa.size(); ++i) {
        if (sa[i] == sb[i]) continue;
        if (++differing <= 3) {
            INFO("through Kafka: " << sa[i] << "\nwithout Kafka: " << sb[i]);
            CHECK(sa[i] == sb[i]);
        }
    }
    CHECK(differing == 0);
    CHECK(!oa.alerts.empty());
    CHECK(oa.alerts.size() == ob.alerts.size());
    CHECK(missing_from(oa.alerts, ob.alerts) == std::vector<std::string>{}); // alerts only through Kafka
    CHECK(missing_from(ob.alerts, oa.alerts) == std::vector<std::string>{}); // alerts only without Kafka
}

TEST_CASE("kcat lists and reads what tapewire produced, and tapewire process consumes what kcat produced",
          "[kafka][e2e]") {
    const std::string tag = "kafka_kcat";
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"ticks:4"});

    const command_result p = run_command(
        tapewire_cmd({"produce", "--ticks", "1000", "--set", "kafka.brokers=" + bs, "--set", "source.rate=0", "--set",
                      std::string("source.start=") + k_start, "--set", "source.symbol_count=20"}),
        tag + ".produce");
    INFO("produce: " << p.status.text() << "\n" << p.err);
    REQUIRE(p.status.ok());
    CHECK(summary_count(p.err, "produced") == 1000);

    // kcat sees the topic and its partitions.
    const command_result meta = run_command({"kcat", "-b", bs, "-L"}, tag + ".kcat_list");
    INFO("kcat -L: " << meta.status.text() << "\n" << meta.out << meta.err);
    REQUIRE(meta.status.ok());
    CHECK(meta.out.find("topic \"ticks\" with 4 partitions:") != std::string::npos);

    // ... and reads a message: key = the symbol, value = canonical tick JSON.
    const command_result one =
        run_command({"kcat", "-b", bs, "-C", "-t", "ticks", "-o", "beginning", "-c", "1", "-e", "-q", "-f", "%k\t%s\n"},
                    tag + ".kcat_consume");
    INFO("kcat -C: " << one.status.text() << "\n" << one.out << one.err);
    REQUIRE(one.status.ok());
    const std::vector<std::string> lines = split_lines(one.out);
    REQUIRE(lines.size() == 1);
    const std::size_t tab = lines[0].find('\t');
    REQUIRE(tab != std::string::npos);
    const std::string key = lines[0].substr(0, tab);
    const std::string value = lines[0].substr(tab + 1);
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    REQUIRE(parser.parse(value).get(e) == simdjson::SUCCESS);
    simdjson::dom::object obj;
    REQUIRE(e.get_object().get(obj) == simdjson::SUCCESS);
    const std::set<std::string> canonical{"symbol", "ts", "price", "size", "bid", "ask"};
    for (auto field : obj) CHECK(canonical.count(std::string(field.key)) == 1);
    std::string_view symbol;
    REQUIRE(e["symbol"].get_string().get(symbol) == simdjson::SUCCESS);
    CHECK(symbol == key);
    std::int64_t ts = 0;
    double price = 0, size = 0;
    REQUIRE(e["ts"].get_int64().get(ts) == simdjson::SUCCESS);
    REQUIRE(e["price"].get_double().get(price) == simdjson::SUCCESS);
    REQUIRE(e["size"].get_double().get(size) == simdjson::SUCCESS);
    CHECK(price > 0);
    CHECK(size >= 0);
    // The first tick's event time is the configured start.
    CHECK(ts >= 1'732'719'600'000'000'000); // 2024-11-27T15:00:00Z
    CHECK(ts < 1'732'719'601'000'000'000);

    // kcat produces a tick of a new symbol, in the same second as the produced ticks (not late).
    const double kcat_price = 12.5, kcat_size = 300;
    write_file(tag + ".kcat_in",
               "KCATX:{\"symbol\":\"KCATX\",\"ts\":" + std::to_string(ts) + ",\"price\":12.5,\"size\":300}\n");
    const command_result put =
        run_command({"kcat", "-b", bs, "-P", "-t", "ticks", "-K:"}, tag + ".kcat_produce", 30s, tag + ".kcat_in");
    INFO("kcat -P: " << put.status.text() << "\n" << put.err);
    REQUIRE(put.status.ok());

    const command_result proc =
        run_command(tapewire_cmd({"process", "--set", "kafka.brokers=" + bs, "--set", "kafka.stop_at_end=true", "--set",
                                  "sink.path=" + tag + ".ndjson"}),
                    tag + ".process");
    INFO("process: " << proc.status.text() << "\n" << proc.err);
    REQUIRE(proc.status.ok());
    CHECK(summary_count(proc.err, "messages in") == 1001);
    CHECK(summary_count(proc.err, "dead letters") == 0);
    const ndjson_output o = read_output(tag + ".ndjson");
    const std::int64_t window = (ts / 1'000'000'000) * 1'000'000'000;
    const auto it = o.bars.find({"KCATX", window});
    REQUIRE(it != o.bars.end());
    const tapewire::test::out_bar b = parse_bar(it->second);
    CHECK(b.end == window + 1'000'000'000);
    CHECK(b.open == kcat_price);
    CHECK(b.high == kcat_price);
    CHECK(b.low == kcat_price);
    CHECK(b.close == kcat_price);
    CHECK(b.volume == kcat_size);
    CHECK(b.trades == 1);
    CHECK(b.vwap == kcat_price);
    std::uint64_t trades = 0;
    for (const auto& line : o.bar_lines) trades += parse_bar(line).trades;
    CHECK(trades == 1001);

    stop_broker(broker, tag);
}

TEST_CASE("two process instances in one group split the partitions and their bars together equal one instance's",
          "[kafka][e2e]") {
    const std::string tag = "kafka_group";
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"ticks:8"});
    const command_result p =
        run_command(tapewire_cmd({"produce", "--ticks", "200000", "--set", "kafka.brokers=" + bs, "--set",
                                  "source.rate=0", "--set", std::string("source.start=") + k_start, "--set",
                                  "source.symbol_count=64", "--set", "source.seed=5"}),
                    tag + ".produce");
    INFO("produce: " << p.status.text() << "\n" << p.err);
    REQUIRE(p.status.ok());
    REQUIRE(summary_count(p.err, "produced") == 200'000);

    auto process_args = [&](const std::string& name, const std::string& group) {
        // A short session: when the group does take a second generation (below), the broker
        // settles it in seconds instead of the default 45 s.
        return tapewire_cmd({"process", "--set", "kafka.brokers=" + bs, "--set", "kafka.group=" + group, "--set",
                             "kafka.stop_at_end=true", "--set", "kafka.consumer.session.timeout.ms=6000", "--set",
                             "kafka.consumer.heartbeat.interval.ms=1000", "--set", "log.format=json", "--set",
                             "sink.path=" + tag + "." + name + ".ndjson"});
    };
    // The pair must split the partitions when each is first assigned: if one is first assigned
    // partitions the other has read from, the NDJSON files legitimately hold some bars twice (at
    // least once). Two things cause that here that are not tapewire's doing, so such a run is
    // repeated under a fresh group, up to 4 times, and only a run whose first assignments share
    // the 8 partitions is judged:
    // - librdkafka 2.0.2's embedded broker completes SyncGroup as soon as the leader's request
    //   (carrying every member's assignment) arrives; a follower whose own SyncGroup comes after
    //   it is refused (REBALANCE_IN_PROGRESS) and must join again, and if the leader has finished
    //   and left by then, the follower is first assigned all 8. A race between two processes,
    //   lost about 1 run in 6 at the same start instant, more often on a loaded machine.
    // - a start so slow (sanitizers, a loaded machine) that the second instance misses the
    //   broker's initial rebalance delay (3 s), and the first is first assigned all 8.
    // They start 0.5 s apart, well inside that delay. What happens when the first of them ends
    // (it gives its partitions back, the other may be assigned them, at their final offsets) is
    // part of what is judged: no message may be read twice.
    struct pair_run {
        std::string first, second; // names of the outputs
        exit_status s1, s2;
        std::string err1, err2;
        [[nodiscard]] bool split_once() const {
            const std::vector<int> a1 = assignments(err1), a2 = assignments(err2);
            return s1.ok() && s2.ok() && !a1.empty() && !a2.empty() && a1.front() > 0 && a2.front() > 0 &&
                   a1.front() + a2.front() == 8;
        }
    };
    pair_run run;
    for (int attempt = 1; attempt <= 4; ++attempt) {
        const std::string n = std::to_string(attempt);
        run = pair_run{"first" + n, "second" + n, {}, {}, {}, {}};
        child_process first, second;
        first.spawn(process_args(run.first, "pair" + n), "", tag + "." + run.first + ".stdout",
                    tag + "." + run.first + ".stderr");
        std::this_thread::sleep_for(500ms);
        second.spawn(process_args(run.second, "pair" + n), "", tag + "." + run.second + ".stdout",
                     tag + "." + run.second + ".stderr");
        run.s1 = first.wait(60s);
        run.s2 = second.wait(60s);
        run.err1 = read_file(tag + "." + run.first + ".stderr");
        run.err2 = read_file(tag + "." + run.second + ".stderr");
        if (run.split_once()) break;
        WARN("attempt " << attempt
                        << ": the partitions were not split once between the two; again under a fresh group\nfirst: "
                        << run.s1.text() << "\n"
                        << run.err1 << "\nsecond: " << run.s2.text() << "\n"
                        << run.err2);
    }
    const exit_status &s1 = run.s1, &s2 = run.s2;
    const std::string &err1 = run.err1, &err2 = run.err2;
    INFO("first: " << s1.text() << "\n" << err1);
    INFO("second: " << s2.text() << "\n" << err2);
    REQUIRE(run.split_once());
    CHECK(s1.ok());
    CHECK(s2.ok());
    const std::vector<int> a1 = assignments(err1), a2 = assignments(err2);
    REQUIRE(!a1.empty());
    REQUIRE(!a2.empty());
    CHECK(a1.front() > 0);
    CHECK(a2.front() > 0);
    CHECK(a1.front() + a2.front() == 8);
    // Each message read by exactly one of them.
    const std::int64_t m1 = summary_count(err1, "messages in"), m2 = summary_count(err2, "messages in");
    REQUIRE(m1 >= 0);
    REQUIRE(m2 >= 0);
    CHECK(m1 + m2 == 200'000);

    const command_result single = run_command(process_args("single", "single"), tag + ".single");
    INFO("single: " << single.status.text() << "\n" << single.err);
    REQUIRE(single.status.ok());
    CHECK(assignments(single.err) == std::vector<int>{8});
    CHECK(summary_count(single.err, "messages in") == 200'000);

    const ndjson_output o1 = read_output(tag + "." + run.first + ".ndjson");
    const ndjson_output o2 = read_output(tag + "." + run.second + ".ndjson");
    const ndjson_output os = read_output(tag + ".single.ndjson");
    CHECK(!o1.bars.empty());
    CHECK(!o2.bars.empty());
    std::map<bar_key, std::string> both = o1.bars;
    std::size_t in_both = 0;
    for (const auto& [k, line] : o2.bars) {
        if (!both.emplace(k, line).second && ++in_both <= 3) {
            INFO("first: " << o1.bars.at(k) << "\nsecond: " << line);
            CHECK(false); // a window read by both instances
        }
    }
    CHECK(in_both == 0);
    CHECK(both.size() == os.bars.size());
    std::size_t differing = 0;
    for (const auto& [k, line] : os.bars) {
        const auto it = both.find(k);
        const std::string got = it == both.end() ? std::string("(missing)") : it->second;
        if (got != line && ++differing <= 3) {
            INFO("single: " << line << "\npair:   " << got);
            CHECK(got == line);
        }
    }
    CHECK(differing == 0);
    std::uint64_t trades = 0;
    for (const auto& [k, line] : both) trades += parse_bar(line).trades;
    CHECK(trades == 200'000);
    // Alerts too: each symbol is read by one instance, in its partition's order.
    std::multiset<std::string> alerts = o1.alerts;
    alerts.insert(o2.alerts.begin(), o2.alerts.end());
    CHECK(alerts.size() == os.alerts.size());
    CHECK(missing_from(alerts, os.alerts) == std::vector<std::string>{}); // alerts only from the pair
    CHECK(missing_from(os.alerts, alerts) == std::vector<std::string>{}); // alerts only from the single one

    stop_broker(broker, tag);
}

TEST_CASE("the older producer's bar messages on topic stock-data become bars", "[kafka][e2e]") {
    const std::string tag = "kafka_legacy";
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"stock-data:2"});

    // Minute bars of 2025-05-29, New York time (UTC-4); `minute` is the minute past 15:00 local.
    struct legacy {
        std::string key; // "" = no key: the symbol comes from source.symbol (MSFT)
        int partition;
        int minute;
        double open, high, low, close, volume;
    };
    // Per partition in this order. Out of order within a window (15:37 after 15:38, 15:38 after
    // 15:39) is within the watermark; the keyless one is read from the other symbol's partition.
    const std::vector<legacy> msgs = {
        {"AAPL", 0, 36, 200.0, 201.0, 199.5, 200.5, 1000},  {"AAPL", 0, 38, 200.5, 202.0, 200.0, 201.75, 1500},
        {"AAPL", 0, 37, 200.4, 200.9, 199.0, 200.6, 500},   {"AAPL", 0, 41, 201.8, 203.0, 201.5, 202.5, 2000},
        {"AAPL", 0, 44, 202.5, 202.75, 201.0, 201.25, 800}, {"", 0, 43, 411.9, 412.5, 411.0, 411.2, 400},
        {"MSFT", 1, 39, 410.0, 411.0, 409.5, 410.5, 700},   {"MSFT", 1, 38, 409.0, 410.2, 408.8, 410.0, 300},
        {"MSFT", 1, 42, 410.5, 412.0, 410.1, 411.9, 900},
    };
    std::tm day{};
    day.tm_year = 2025 - 1900;
    day.tm_mon = 4;
    day.tm_mday = 29;
    day.tm_hour = 19; // 15:00 at UTC-4
    const std::int64_t base_ns = static_cast<std::int64_t>(timegm(&day)) * 1'000'000'000;
    const std::int64_t W = 5 * 60 * 1'000'000'000LL;

    std::map<bar_key, tapewire::test::expected_bar> expected;
    std::map<std::pair<int, bool>, std::string> inputs; // (partition, keyed) → kcat input
    for (const legacy& m : msgs) {
        char json[256];
        std::snprintf(json, sizeof json,
                      "{\"timestamp\":\"2025-05-29 15:%02d:00-04:00\",\"open\":%.17g,\"high\":%.17g,\"low\":%.17g,"
                      "\"close\":%.17g,\"volume\":%.17g}",
                      m.minute, m.open, m.high, m.low, m.close, m.volume);
        inputs[{m.partition, !m.key.empty()}] += (m.key.empty() ? "" : m.key + ":") + json + "\n";
        const std::int64_t ts = base_ns + m.minute * 60'000'000'000LL;
        expected[{m.key.empty() ? "MSFT" : m.key, (ts / W) * W}].add(ts, m.open, m.high, m.low, m.close, m.volume,
                                                                     (m.high + m.low + m.close) / 3 * m.volume);
    }
    REQUIRE(expected.size() == 4); // AAPL and MSFT, two 5-minute windows each
    // Keyed ones first in partition 0, then the keyless one.
    for (const bool keyed : {true, false}) {
        for (const auto& [where, text] : inputs) {
            if (where.second != keyed) continue;
            const std::string in = tag + ".in." + std::to_string(where.first) + (keyed ? ".keyed" : ".keyless");
            write_file(in, text);
            std::vector<std::string> argv{"kcat", "-b",         bs,   "-P",
                                          "-t",   "stock-data", "-p", std::to_string(where.first)};
            if (keyed) argv.push_back("-K:");
            const command_result put = run_command(argv, in, 30s, in);
            INFO("kcat -P " << in << ": " << put.status.text() << "\n" << put.err);
            REQUIRE(put.status.ok());
        }
    }

    const command_result proc =
        run_command(tapewire_cmd({"process", "--set", "kafka.brokers=" + bs, "--set", "kafka.topic=stock-data", "--set",
                                  "source.format=bar", "--set", "source.symbol=MSFT", "--set", "window.width=5m",
                                  // One clock per partition, as when this test was written: with bar
                                  // input auto picks symbol, and MSFT's keyless 15:43 on partition 0
                                  // would then make its 15:38/39 on partition 1 late or not depending
                                  // on which partition the consumer reads first.
                                  "--set", "window.watermark=partition", "--set", "kafka.stop_at_end=true", "--set",
                                  "sink.path=" + tag + ".ndjson"}),
                    tag + ".process");
    INFO("process: " << proc.status.text() << "\n" << proc.err);
    REQUIRE(proc.status.ok());
    CHECK(summary_count(proc.err, "messages in") == static_cast<std::int64_t>(msgs.size()));
    CHECK(summary_count(proc.err, "dead letters") == 0);
    const ndjson_output o = read_output(tag + ".ndjson");
    CHECK(o.dead_letters.empty());
    CHECK(o.bar_lines.size() == expected.size());
    for (const auto& [k, a] : expected) {
        INFO(k.first << " window " << k.second);
        const auto it = o.bars.find(k);
        REQUIRE(it != o.bars.end());
        INFO(it->second);
        const tapewire::test::out_bar b = parse_bar(it->second);
        tapewire::test::check_bar(b, a, k.second + W);
        CHECK(b.revision == 0);
    }

    stop_broker(broker, tag);
}

TEST_CASE("a message that is not a tick goes to ticks.dlq with its reason in a header", "[kafka][e2e]") {
    const std::string tag = "kafka_dlq";
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"ticks:1", "ticks.dlq:1"});
    const std::string bad_price = R"({"symbol":"X","ts":1,"price":-1,"size":1})";
    write_file(tag + ".in", "not json\n" + bad_price + "\n");
    const command_result put =
        run_command({"kcat", "-b", bs, "-P", "-t", "ticks", "-p", "0"}, tag + ".kcat_produce", 30s, tag + ".in");
    INFO("kcat -P: " << put.status.text() << "\n" << put.err);
    REQUIRE(put.status.ok());

    const command_result proc =
        run_command(tapewire_cmd({"process", "--set", "kafka.brokers=" + bs, "--set", "kafka.stop_at_end=true", "--set",
                                  "sink.path=" + tag + ".ndjson"}),
                    tag + ".process");
    INFO("process: " << proc.status.text() << "\n" << proc.err);
    REQUIRE(proc.status.ok());
    CHECK(summary_count(proc.err, "dead letters") == 2);
    const ndjson_output o = read_output(tag + ".ndjson");
    CHECK(o.dead_letters ==
          std::vector<std::pair<std::string, std::string>>{{"not_json", "not json"}, {"bad_price", bad_price}});

    const command_result dlq =
        run_command({"kcat", "-b", bs, "-C", "-t", "ticks.dlq", "-o", "beginning", "-e", "-q", "-f", "%h|%s\n"},
                    tag + ".kcat_consume");
    INFO("kcat -C ticks.dlq: " << dlq.status.text() << "\n" << dlq.out << dlq.err);
    REQUIRE(dlq.status.ok());
    const std::vector<std::string> lines = split_lines(dlq.out);
    REQUIRE(lines.size() == 2);
    struct expect {
        std::string reason, offset, payload;
    };
    const std::vector<expect> want{{"not_json", "0", "not json"}, {"bad_price", "1", bad_price}};
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO(lines[i]);
        const std::size_t bar = lines[i].find('|');
        REQUIRE(bar != std::string::npos);
        CHECK(lines[i].substr(bar + 1) == want[i].payload);
        // kcat prints the headers as name=value,name=value (NULL for a null value).
        std::map<std::string, std::string> headers;
        std::istringstream hs(lines[i].substr(0, bar));
        for (std::string h; std::getline(hs, h, ',');) {
            const std::size_t eq = h.find('=');
            REQUIRE(eq != std::string::npos);
            headers[h.substr(0, eq)] = h.substr(eq + 1);
        }
        CHECK(headers["reason"] == want[i].reason);
        CHECK(headers.count("detail") == 1);
        CHECK(headers["source.partition"] == "0");
        CHECK(headers["source.offset"] == want[i].offset);
    }

    stop_broker(broker, tag);
}

TEST_CASE("the older producer's month of 2-minute bars sent five times, plus one revised bar, gives the bars of one "
          "pass with the revision, with no dead letters",
          "[kafka][e2e][bars]") {
    const std::string tag = "kafka_legacy_month";
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"stock-data:1"});

    // The older producer's bars: 22 weekdays of May 2025, 09:30 to 16:00 New York time (UTC-4), one
    // every 2 minutes, keyless (the symbol is source.symbol). It re-sends the whole month each time.
    struct legacy {
        int day, minute; // minute past 09:30 local
        double open, high, low, close, volume;
    };
    std::vector<legacy> month;
    for (int day = 1, weekday = 4 /* May 1 2025: Thursday */; day <= 31; ++day, weekday = (weekday + 1) % 7) {
        if (weekday == 0 || weekday == 6) continue;
        for (int minute = 0; minute < 390; minute += 2) {
            const int i = static_cast<int>(month.size());
            const double close = 180 + 0.25 * (i % 40) - 0.125 * (i % 7);
            month.push_back({day, minute, close - 0.125, close + 0.375, close - 0.5, close, 1000.0 + i % 29});
        }
    }
    REQUIRE(month.size() == 22 * 195);
    auto line = [](const legacy& b) {
        char json[256];
        const int at = 9 * 60 + 30 + b.minute;
        std::snprintf(json, sizeof json,
                      "{\"timestamp\":\"2025-05-%02d %02d:%02d:00-04:00\",\"open\":%.17g,\"high\":%.17g,"
                      "\"low\":%.17g,\"close\":%.17g,\"volume\":%.17g}\n",
                      b.day, at / 60, at % 60, b.open, b.high, b.low, b.close, b.volume);
        return std::string(json);
    };
    // The live minute the producer first sent was still filling: 20 minutes before the month's end,
    // its volume grew by 28 after five passes had gone out.
    const std::size_t revised = month.size() - 10;
    legacy last_version = month[revised];
    last_version.volume += 28;
    std::string input;
    for (int pass = 0; pass < 5; ++pass)
        for (const legacy& b : month) input += line(b);
    input += line(last_version);
    write_file(tag + ".in", input);
    const command_result put =
        run_command({"kcat", "-b", bs, "-P", "-t", "stock-data", "-p", "0"}, tag + ".in", 60s, tag + ".in");
    INFO("kcat -P: " << put.status.text() << "\n" << put.err);
    REQUIRE(put.status.ok());

    // One pass with the revision, folded here into 10-minute windows.
    month[revised] = last_version;
    const std::int64_t W = 10 * 60 * 1'000'000'000LL;
    std::map<bar_key, expected_bar> expected;
    for (const legacy& b : month) {
        std::tm day{};
        day.tm_year = 2025 - 1900;
        day.tm_mon = 4;
        day.tm_mday = b.day;
        day.tm_hour = 13; // 09:30 at UTC-4
        day.tm_min = 30 + b.minute;
        const std::int64_t ts = static_cast<std::int64_t>(timegm(&day)) * 1'000'000'000;
        expected[{"MSFT", ts - ts % W}].add(ts, b.open, b.high, b.low, b.close, b.volume,
                                            (b.high + b.low + b.close) / 3 * b.volume);
    }
    REQUIRE(expected.size() == 22 * 39);

    const command_result proc =
        run_command(tapewire_cmd({"process", "--set", "kafka.brokers=" + bs, "--set", "kafka.topic=stock-data", "--set",
                                  "source.format=bar", "--set", "source.symbol=MSFT", "--set", "window.width=10m",
                                  "--set", "window.late_update_horizon=1h", "--set", "kafka.stop_at_end=true", "--set",
                                  "sink.path=" + tag + ".ndjson"}),
                    tag + ".process");
    INFO("process: " << proc.status.text() << "\n" << proc.err);
    REQUIRE(proc.status.ok());
    CHECK(summary_count(proc.err, "messages in") == static_cast<std::int64_t>(5 * month.size() + 1));
    CHECK(summary_count(proc.err, "dead letters") == 0);
    // Every repeat counted, the memory printed: 48 bytes a bar, plus vector slack.
    CHECK(summary_count(proc.err, "bar input") == static_cast<std::int64_t>(month.size()));
    CHECK(proc.err.find("4,290 new, 17,160 duplicates, 1 revised, 0 beyond memory; memory 4,290 bars (") !=
          std::string::npos);

    const ndjson_output o = read_output(tag + ".ndjson");
    CHECK(o.dead_letters.empty());
    // Each window once, and the revised one a second time with revision 1.
    CHECK(o.bar_lines.size() == expected.size() + 1);
    CHECK(o.bars.size() == expected.size());
    std::size_t revisions = 0;
    for (const auto& [k, a] : expected) {
        INFO(k.first << " window " << k.second);
        const auto it = o.bars.find(k);
        REQUIRE(it != o.bars.end());
        INFO(it->second);
        const out_bar b = parse_bar(it->second);
        check_bar(b, a, k.second + W);
        revisions += b.revision;
    }
    CHECK(revisions == 1);

    // Again, from the start in another group, with a memory of 10 days: each of passes 2 to 5 opens
    // with bars older than that, which change nothing, are not dead letters, and make one log line a pass.
    const command_result short_memory = run_command(tapewire_cmd({"process",
                                                                  "--set",
                                                                  "kafka.brokers=" + bs,
                                                                  "--set",
                                                                  "kafka.topic=stock-data",
                                                                  "--set",
                                                                  "kafka.group=short-memory",
                                                                  "--set",
                                                                  "source.format=bar",
                                                                  "--set",
                                                                  "source.symbol=MSFT",
                                                                  "--set",
                                                                  "window.width=10m",
                                                                  "--set",
                                                                  "window.late_update_horizon=1h",
                                                                  "--set",
                                                                  "window.bar_memory=10d",
                                                                  "--set",
                                                                  "kafka.stop_at_end=true",
                                                                  "--set",
                                                                  "sink.path=" + tag + ".short.ndjson"}),
                                                    tag + ".short");
    INFO("process, bar_memory = 10d: " << short_memory.status.text() << "\n" << short_memory.err);
    REQUIRE(short_memory.status.ok());
    CHECK(summary_count(short_memory.err, "dead letters") == 0);
    std::size_t reported = 0;
    for (const std::string& l : split_lines(short_memory.err))
        reported += l.find("re-sent bars older than the bar memory") != std::string::npos &&
                    l.find("symbol=MSFT") != std::string::npos;
    CHECK(reported == 4);
    CHECK(short_memory.err.find("4,290 new, ") != std::string::npos);
    CHECK(short_memory.err.find(" 1 revised, ") != std::string::npos);
    CHECK(short_memory.err.find(" 0 beyond memory") == std::string::npos);
    const ndjson_output s = read_output(tag + ".short.ndjson");
    CHECK(s.dead_letters.empty());
    CHECK(s.bars == o.bars);

    stop_broker(broker, tag);
}

TEST_CASE("with sink.updates the bars topic carries bar_update messages keyed by symbol beside the final bars, as "
          "the NDJSON output does",
          "[kafka][e2e][live]") {
    const std::string tag = "kafka_live";
    child_process broker;
    const std::string bs = start_broker(broker, tag, {"ticks:1", "bars:1", "alerts:1"});
    // Live synthetic ticks of 3 symbols for 4 s into 1-minute windows: open all along, updated.
    const command_result run =
        run_command(tapewire_cmd({"run", "--duration", "4s", "--set", "kafka.brokers=" + bs, "--set", "source.rate=300",
                                  "--set", "source.symbol_count=3", "--set", "window.width=1m", "--set",
                                  "window.emit_updates=250ms", "--set", "sink.updates=true", "--set",
                                  R"(sink.kind=["ndjson","kafka"])", "--set", "sink.path=" + tag + ".ndjson"}),
                    tag + ".run");
    INFO("run: " << run.status.text() << "\n" << run.err);
    REQUIRE(run.status.ok());

    const command_result bars = run_command(
        {"kcat", "-b", bs, "-C", "-t", "bars", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"}, tag + ".kcat");
    INFO("kcat -C: " << bars.status.text() << "\n" << bars.err);
    REQUIRE(bars.status.ok());
    std::multiset<std::string> from_kafka, from_ndjson;
    std::size_t updates = 0;
    simdjson::dom::parser parser;
    for (const std::string& line : split_lines(bars.out)) {
        const std::size_t tab = line.find('\t');
        REQUIRE(tab != std::string::npos);
        const std::string value = line.substr(tab + 1);
        simdjson::dom::element e;
        REQUIRE(parser.parse(value).get(e) == simdjson::SUCCESS);
        CHECK(e["symbol"].get_string().value() == line.substr(0, tab)); // key = symbol
        if (e["type"].get_string().value() == "bar_update") {
            CHECK_FALSE(e["final"].get_bool().value());
            ++updates;
        }
        from_kafka.insert(value);
    }
    for (const std::string& line : split_lines(read_file(tag + ".ndjson")))
        if (line.rfind("{\"type\":\"bar", 0) == 0) from_ndjson.insert(line);
    CHECK(updates >= 3); // 4 s of three changing symbols at 250 ms, after the group's join
    CHECK(from_kafka == from_ndjson);
    stop_broker(broker, tag);
}
