// /metrics: the registry as the Prometheus text exposition (src/http/prometheus). Checked by
// Debian's `promtool check metrics` (a real parser and linter, run as a child) and by a small strict
// reader of sample lines here; the end-to-end case scrapes a `tapewire run` and compares with its summary.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "src/base/metrics.hpp"
#include "src/http/prometheus.hpp"
#include "test/child_process.hpp"

namespace tapewire {
namespace {

using namespace std::chrono_literals;
using test::read_file;
using test::split_lines;

// Every sample line of an exposition, "family{labels}" as written -> value; fails the test on a
// line that is not a comment or `series value`.
std::map<std::string, double> samples_of(const std::string& text) {
    std::map<std::string, double> out;
    for (const std::string& line : split_lines(text)) {
        if (line.empty() || line[0] == '#') continue;
        const std::size_t space = line.rfind(' ');
        INFO(line);
        REQUIRE(space != std::string::npos);
        const std::string value = line.substr(space + 1);
        const double v = value == "+Inf" ? INFINITY : std::stod(value);
        REQUIRE(out.emplace(line.substr(0, space), v).second); // a series appears once
    }
    return out;
}

// The lines starting with `prefix`.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
    std::vector<std::string> out;
    for (const std::string& line : split_lines(text))
        if (line.rfind(prefix, 0) == 0) out.push_back(line);
    return out;
}

// `promtool check metrics` on `text`: "" when it accepts it, else what it said.
std::string promtool_verdict(const std::string& text, const std::string& tag) {
    test::write_file(tag + ".prom", text);
    const test::command_result r = test::run_command({"promtool", "check", "metrics"}, tag, 30s, tag + ".prom");
    if (r.status.ok()) return "";
    return r.status.text() + ": " + r.out + r.err;
}

const http::build_info k_build{"9.9.9", "gcc test"};

// GET `path` from 127.0.0.1:`port` with Connection: close; the whole answer, headers included.
std::string http_get(std::uint16_t port, const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[16384];
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

TEST_CASE("a registry name splits into its family and unescaped labels", "[metrics]") {
    const auto plain = http::parse_series_name("kafka_consumed_total");
    REQUIRE(plain.has_value());
    CHECK(plain->family == "kafka_consumed_total");
    CHECK(plain->labels.empty());

    const auto s = http::parse_series_name(R"(lag{topic="ticks",partition="3",odd="a\"b\\c\nd"})");
    REQUIRE(s.has_value());
    CHECK(s->family == "lag");
    REQUIRE(s->labels.size() == 3);
    CHECK(s->labels[0] == std::pair<std::string, std::string>{"topic", "ticks"});
    CHECK(s->labels[1] == std::pair<std::string, std::string>{"partition", "3"});
    CHECK(s->labels[2] == std::pair<std::string, std::string>{"odd", "a\"b\\c\nd"});

    CHECK_FALSE(http::parse_series_name("9lives").has_value());
    CHECK_FALSE(http::parse_series_name("a-b").has_value());
    CHECK_FALSE(http::parse_series_name(R"(x{k="v")").has_value());
    CHECK_FALSE(http::parse_series_name(R"(x{k="v)").has_value());
    CHECK_FALSE(http::parse_series_name(R"(x{1k="v"})").has_value());
    CHECK_FALSE(http::parse_series_name(R"(x{k=v})").has_value());
    CHECK_FALSE(http::parse_series_name(R"(x{k="v"}y)").has_value());
}

TEST_CASE("labels are exposed as labels, escaped as the format says", "[metrics]") {
    metrics_registry reg;
    reg.get_counter(R"(yahoo_responses{source="chart",status="200"})", "answers by status").add(7);
    reg.get_counter(R"(yahoo_responses{source="chart",status="429"})", "answers by status").add(2);
    reg.get_gauge("symbol_state{symbol=\"A\\\"B\\\\C\"}", "odd symbol, help with \\ and\nnewline").set(-3);
    const std::string text = http::expose(reg, k_build);
    INFO(text);
    const auto v = samples_of(text);
    CHECK(v.at(R"(yahoo_responses_total{source="chart",status="200"})") == 7);
    CHECK(v.at(R"(yahoo_responses_total{source="chart",status="429"})") == 2);
    CHECK(v.at(R"(symbol_state{symbol="A\"B\\C"})") == -3);
    CHECK(lines_with(text, "# HELP symbol_state ") ==
          std::vector<std::string>{R"(# HELP symbol_state odd symbol, help with \\ and\nnewline)"});
    CHECK(v.at(R"(tapewire_build_info{compiler="gcc test",version="9.9.9"})") == 1);
    CHECK(promtool_verdict(text, "prom_labels") == "");
}

TEST_CASE("families appear once, counters end in _total and nanoseconds become seconds", "[metrics]") {
    metrics_registry reg;
    reg.get_counter("sql_rows_committed", "rows committed").add(5);
    reg.get_counter(R"(dead_letters_total{reason="not_json"})", "dead letters by reason").add(1);
    reg.get_counter(R"(dead_letters_total{reason="bad_price"})", "dead letters by reason").add(2);
    reg.get_counter(R"(put_stalled_ns_total{site="input"})", "time stalled").add(1'500'000'000);
    reg.get_gauge("watermark_delay_ns", "watermark behind the clock").set(250'000'000);
    reg.get_counter("bad name", "not a series").add(1);
    const std::string text = http::expose(reg, k_build);
    INFO(text);
    const auto v = samples_of(text);
    CHECK(v.at("sql_rows_committed_total") == 5);
    CHECK(v.at(R"(dead_letters_total{reason="not_json"})") == 1);
    CHECK(v.at(R"(dead_letters_total{reason="bad_price"})") == 2);
    CHECK(v.at(R"(put_stalled_seconds_total{site="input"})") == Approx(1.5));
    CHECK(v.at("watermark_delay_seconds") == Approx(0.25));
    CHECK(lines_with(text, "# TYPE dead_letters_total ") ==
          std::vector<std::string>{"# TYPE dead_letters_total counter"});
    CHECK(lines_with(text, "# HELP dead_letters_total ").size() == 1);
    CHECK(lines_with(text, "# TYPE sql_rows_committed_total counter").size() == 1);
    CHECK(lines_with(text, "# TYPE watermark_delay_seconds gauge").size() == 1);
    CHECK(text.find("bad name") == std::string::npos);
    CHECK(promtool_verdict(text, "prom_families") == "");
}

TEST_CASE("a series named twice after renaming, or a family with two types, is exposed once", "[metrics]") {
    metrics_registry reg;
    reg.get_counter("widgets", "widgets made").add(1);
    reg.get_counter("widgets_total", "widgets made").add(2);
    reg.get_gauge("widgets_total", "not a counter").set(9);
    const std::string text = http::expose(reg, k_build);
    INFO(text);
    CHECK(lines_with(text, "widgets_total ").size() == 1);
    CHECK(lines_with(text, "# TYPE widgets_total").size() == 1);
    CHECK(promtool_verdict(text, "prom_twice") == "");
}

TEST_CASE("histogram buckets are cumulative and equal to what was recorded", "[metrics]") {
    metrics_registry reg;
    histogram& h = reg.get_histogram(R"(sql_commit_ns{table="bars"})", "time to commit one batch");
    std::vector<std::int64_t> recorded;
    for (std::int64_t v = 1; v < (std::int64_t{1} << 38); v = v * 3 + 7) recorded.push_back(v);
    recorded.push_back(1023); // on a bound: counted in it
    recorded.push_back(1024); // just above
    recorded.push_back(0);
    for (const auto v : recorded) h.record(v);
    std::uint64_t sum = 0;
    for (const auto v : recorded) sum += static_cast<std::uint64_t>(v);

    const std::string text = http::expose(reg, k_build);
    INFO(text);
    const auto v = samples_of(text);
    const std::vector<std::int64_t> bounds = http::histogram_bounds("sql_commit_ns");
    REQUIRE(bounds.front() == 1023);
    REQUIRE(bounds.back() == (std::int64_t{1} << 36) - 1);
    std::size_t seen = 0;
    for (const auto& [series, value] : v) {
        if (series.rfind("sql_commit_seconds_bucket{", 0) != 0) continue;
        ++seen;
        CHECK(series.find(R"(table="bars")") != std::string::npos);
    }
    CHECK(seen == bounds.size() + 1);
    // The bucket lines in order: (le as written, cumulative count).
    std::vector<std::pair<std::string, double>> buckets;
    for (const std::string& line : lines_with(text, "sql_commit_seconds_bucket{")) {
        const std::size_t at = line.find(",le=\"") + 5;
        buckets.emplace_back(line.substr(at, line.find('"', at) - at), std::stod(line.substr(line.rfind(' ') + 1)));
    }
    REQUIRE(buckets.size() == bounds.size() + 1);
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        INFO("le " << bounds[i] << " ns, written " << buckets[i].first);
        CHECK(std::stod(buckets[i].first) == Approx(static_cast<double>(bounds[i]) / 1e9).epsilon(1e-12));
        std::uint64_t expected = 0;
        for (const auto r : recorded) expected += r <= bounds[i] ? 1 : 0;
        CHECK(buckets[i].second == static_cast<double>(expected));
        if (i > 0) CHECK(buckets[i].second >= buckets[i - 1].second);
    }
    CHECK(buckets.back().first == "+Inf");
    CHECK(v.at(R"(sql_commit_seconds_bucket{table="bars",le="+Inf"})") == static_cast<double>(recorded.size()));
    CHECK(v.at(R"(sql_commit_seconds_count{table="bars"})") == static_cast<double>(recorded.size()));
    CHECK(v.at(R"(sql_commit_seconds_sum{table="bars"})") == Approx(static_cast<double>(sum) * 1e-9));
    CHECK(promtool_verdict(text, "prom_histogram") == "");
}

TEST_CASE("promtool accepts the exposition of a registry with every kind of metric", "[metrics]") {
    metrics_registry reg;
    reg.get_counter("kafka_consumed_total", "messages handed from Kafka to the graph").add(12);
    reg.get_counter(R"(kafka_produced_total{producer="ticks"})", "messages handed to librdkafka").add(3);
    reg.get_gauge(R"(kafka_consumer_lag{topic="ticks",partition="0"})", "messages behind").set(4);
    reg.get_gauge(R"(kafka_consumer_lag{topic="ticks",partition="1"})", "messages behind").set(0);
    reg.get_histogram(R"(kafka_delivery_latency_ns{producer="ticks"})", "produce to acknowledgement").record(5'000);
    reg.get_histogram("queue_depth", "a histogram in its own unit").record(17);
    reg.get_histogram("empty_ns", "never recorded");
    const std::string text = http::expose(reg, http::this_build());
    INFO(text);
    CHECK(promtool_verdict(text, "prom_full") == "");
    const auto v = samples_of(text);
    CHECK(v.at(R"(queue_depth_bucket{le="15"})") == 0);
    CHECK(v.at(R"(queue_depth_bucket{le="63"})") == 1);
    CHECK(v.at(R"(empty_seconds_bucket{le="+Inf"})") == 0);
}

TEST_CASE("a tapewire run's /metrics passes promtool and agrees with its summary", "[metrics][e2e]") {
    using namespace tapewire::test;
    const std::string tag = "prom_run_e2e";
    std::remove((tag + ".db").c_str());
    child_process child;
    // Embedded Kafka, SQLite, anomalies injected past the detector's minute of warm-up (150 s of event time); --linger
    // keeps the final figures served after the end.
    child.spawn(tapewire_cmd({"run",
                              "--ticks",
                              "60000",
                              "--linger",
                              "120s",
                              "--set",
                              "kafka.brokers=embedded",
                              "--set",
                              "source.rate=0",
                              "--set",
                              "source.event_rate=400",
                              "--set",
                              "source.start=2024-11-27T15:00:00Z",
                              "--set",
                              "source.symbol_count=8",
                              "--set",
                              "source.seed=7",
                              "--set",
                              "source.anomalies.enabled=true",
                              "--set",
                              "source.anomalies.jump_every=10s",
                              "--set",
                              "source.anomalies.burst_every=10s",
                              "--set",
                              "sink.kind=odbc",
                              "--set",
                              "sink.connection=Driver=SQLite3;Database=" + tag + ".db",
                              "--set",
                              "log.format=json"}),
                "", tag + ".stdout", tag + ".stderr");
    REQUIRE(wait_for_record(tag + ".stderr", "http", "address", 30s));
    const std::string address = log_records(read_file(tag + ".stderr"), "http", "address").front().text("address");
    const auto port = static_cast<std::uint16_t>(std::stoi(address.substr(address.find(':') + 1)));
    REQUIRE(wait_for_record(tag + ".stderr", "cli", "linger", 180s)); // the run ended, the summary is printed
    const std::string err = read_file(tag + ".stderr");
    INFO(err);

    const std::string answer = http_get(port, "/metrics");
    const std::size_t body_at = answer.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(answer.find("text/plain; version=0.0.4; charset=utf-8") < body_at);
    const std::string text = answer.substr(body_at + 4);
    INFO(text);
    CHECK(promtool_verdict(text, tag) == "");
    const auto v = samples_of(text);

    const std::int64_t ticks = summary_count(err, "ticks parsed");
    const std::int64_t bars = summary_count(err, "bars");
    const std::int64_t alerts = summary_count(err, "alerts");
    const std::int64_t rows = summary_count(err, "database");
    REQUIRE(ticks == 60000);
    CHECK(bars > 500);
    CHECK(alerts > 0);
    CHECK(rows > 0);
    CHECK(v.at("ticks_in_total") == static_cast<double>(summary_count(err, "messages in")));
    CHECK(v.at("ticks_out_total") == static_cast<double>(ticks));
    CHECK(v.at("bars_total") == static_cast<double>(bars));
    CHECK(v.at("alerts_total") == static_cast<double>(alerts));
    CHECK(v.at("sql_rows_committed_total") == static_cast<double>(rows));
    const std::string db_line = lines_with(err, "  database ").at(0);
    const std::size_t in = db_line.find(" rows in ") + 9;
    std::string commits;
    for (std::size_t i = in; i < db_line.size() && db_line[i] != ' '; ++i)
        if (db_line[i] != ',') commits += db_line[i];
    CHECK(v.at("sql_commits_total") == std::stod(commits));
    double dead = 0;
    for (const auto& [series, value] : v)
        if (series.rfind("dead_letters_total{reason=", 0) == 0) dead += value;
    CHECK(dead == static_cast<double>(summary_count(err, "dead letters")));
    CHECK(v.at("sql_connected") == 1);
    CHECK(v.at(R"(sql_commit_seconds_bucket{le="+Inf"})") == v.at("sql_commits_total"));
    CHECK(v.count(R"(tapewire_build_info{compiler=")" + http::this_build().compiler +
                  R"(",version=")" TAPEWIRE_VERSION R"("})") == 1);

    child.signal(SIGINT);
    const exit_status st = child.wait(30s);
    CHECK(st.ok());
}

} // namespace
} // namespace tapewire
