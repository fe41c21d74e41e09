// Market alerts to a webhook (src/sink/webhook.hpp) against the local HTTP server: every alert
// reaches a server that fails on a schedule (500, 429 with Retry-After, a dropped connection, an
// answer slower than the timeout), in order, each with its idempotency key; a 4xx is given up; a
// full queue drops and counts without the pusher waiting; stop drains within drain_timeout. Then
// the binary: `tapewire run` with a webhook delivers exactly the alerts its NDJSON sink wrote.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "src/base/clock.hpp"
#include "src/base/metrics.hpp"
#include "src/config/load.hpp"
#include "src/sink/webhook.hpp"
#include "test/support/http_test_server.hpp"

namespace {

using namespace std::chrono_literals;
using namespace tapewire;
using test::http_fault;
using test::http_reply;
using test::http_request;
using test::http_test_server;

alert make_alert(std::string_view sym, std::int64_t ts, alert_kind kind = alert_kind::price_jump, double value = 0.04,
                 double threshold = 0.02) {
    return alert{symbol::from(sym), ts, kind, value, threshold, std::abs(value) / threshold, 0};
}

alerts_config fast_config(const std::string& url) {
    alerts_config c;
    c.webhook_url = url;
    c.queue = 64;
    c.timeout = 2s;
    c.retry_min = 10ms;
    c.retry_max = 40ms;
    c.drain_timeout = 20s; // the tests below wait for the queue to empty, never this long
    return c;
}

std::uint64_t counter_value(metrics_registry& m, const std::string& name) {
    for (const auto& s : m.snapshot())
        if (s.name == name) return static_cast<std::uint64_t>(s.value);
    return 0;
}

std::string closed_port_url() {
    boost::asio::io_context tmp;
    boost::asio::ip::tcp::acceptor a(tmp, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return "http://127.0.0.1:" + std::to_string(a.local_endpoint().port()) + "/hook";
}

// What the server accepted (answered 2xx), in order, keyed as the header said.
struct accepted_log {
    std::mutex mu;
    std::vector<std::string> keys;
    std::vector<std::string> bodies;
    void add(const http_request& r) {
        std::lock_guard<std::mutex> lock(mu);
        keys.push_back(r.header("Idempotency-Key"));
        bodies.push_back(r.body);
    }
    std::vector<std::string> take_keys() {
        std::lock_guard<std::mutex> lock(mu);
        return keys;
    }
};

} // namespace

TEST_CASE("an alert's webhook key, text and body carry its symbol, time and kind", "[webhook]") {
    const alert a = make_alert("AAPL", 1'796'310'245'000'000'000, alert_kind::price_jump, 0.0404, 0.02);
    CHECK(webhook_key(a) == "AAPL|1796310245000000000|price_jump");
    CHECK(webhook_text(a) == "AAPL price jump +4.12% at 2026-12-03T15:04:05Z (2.0\u00d7 the threshold)");
    CHECK(webhook_text(make_alert("MSFT", 0, alert_kind::return_z, -6.83, 6)) ==
          "MSFT bar return -6.8\u03c3 at 1970-01-01T00:00:00Z (threshold 6\u03c3)");
    CHECK(webhook_text(make_alert("X", 0, alert_kind::volume_spike, 7.25, 5)) ==
          "X volume 7.2\u00d7 its average at 1970-01-01T00:00:00Z (threshold 5\u00d7)");
    CHECK(webhook_text(make_alert("X", 0, alert_kind::vwap_dev, 183.4, 150)) ==
          "X +183 bps from its session VWAP at 1970-01-01T00:00:00Z (threshold 150 bps)");

    // A symbol that would blur the key or break a header is escaped there; Slack's markup in the text.
    const alert odd = make_alert("A|B%<&>\n", 5, alert_kind::vwap_dev, 200, 150);
    CHECK(webhook_key(odd) == "A%7CB%25<&>%0A|5|vwap_dev");
    CHECK(webhook_text(odd).rfind("A|B%&lt;&amp;&gt;\n +200 bps", 0) == 0);

    // The body: the NDJSON sink's fields, then text and key; valid JSON for any symbol.
    simdjson::dom::parser parser;
    for (const alert& x : {a, odd}) {
        const std::string body = webhook_body(x);
        INFO(body);
        simdjson::dom::element e;
        REQUIRE(parser.parse(body).get(e) == simdjson::SUCCESS);
        CHECK(std::string_view(e["type"]) == "alert");
        CHECK(std::string_view(e["symbol"]) == x.sym.view());
        CHECK(std::int64_t(e["ts"]) == x.ts);
        CHECK(std::string_view(e["kind"]) == to_string(x.kind));
        CHECK(double(e["value"]) == x.value);
        CHECK(double(e["threshold"]) == x.threshold);
        CHECK(std::string_view(e["text"]) == webhook_text(x));
        CHECK(std::string_view(e["idempotency_key"]) == webhook_key(x));
    }
    CHECK(webhook_body(a).rfind(R"({"type":"alert","symbol":"AAPL","ts":1796310245000000000,"kind":"price_jump")", 0) ==
          0);
}

TEST_CASE("every alert reaches a server that fails on a schedule, in order, each with its idempotency key",
          "[webhook][concurrency]") {
    // Per request, in turn: 200, 500, 429 (Retry-After: 1 the first time, then 0), two dropped
    // connections (the client's own retry of a kept-alive one meets the second), an answer slower
    // than the timeout, 200, 200, ...
    accepted_log log;
    std::vector<std::int64_t> seen_at; // mono_ns of every request (server thread only until stop)
    http_test_server srv([&](const http_request& r) {
        seen_at.push_back(mono_ns());
        switch (r.sequence % 8) {
        case 1: return http_reply::json(R"({"error":"boom"})", 500);
        case 2:
            return http_reply::json(R"({"error":"slow down"})", 429)
                .with_header("Retry-After", r.sequence == 2 ? "1" : "0");
        case 3:
        case 4: return http_reply::failing(http_fault::reset);
        case 5: return http_reply::json("{}", 503).after(600ms); // past the 300 ms timeout
        default: log.add(r); return http_reply::json(R"({"ok":true})");
        }
    });
    metrics_registry m;
    alerts_config cfg = fast_config(srv.origin() + "/services/T000/B000/XXXX");
    cfg.timeout = 300ms;
    cfg.headers = {"X-Team: markets", "Authorization: Bearer t0ken"};
    std::atomic<bool> thread_failed{false};
    webhook_sink hook(cfg, m, [&](const std::string&, const std::string&) { thread_failed = true; });

    // Half offered before the thread starts, half while it runs.
    std::vector<alert> alerts;
    for (int i = 0; i < 24; ++i)
        alerts.push_back(make_alert(i % 2 == 0 ? "AAPL" : "MSFT", 1'700'000'000'000'000'000 + i * 1'000'000'000LL,
                                    i % 3 == 0 ? alert_kind::vwap_dev : alert_kind::price_jump));
    alerts.push_back(make_alert("AAPL", alerts[0].ts, alert_kind::return_z, 7, 6)); // same symbol and ts, other kind
    for (std::size_t i = 0; i < alerts.size() / 2; ++i) REQUIRE(hook.offer(alerts[i]));
    hook.start();
    for (std::size_t i = alerts.size() / 2; i < alerts.size(); ++i) REQUIRE(hook.offer(alerts[i]));
    hook.stop(); // drains: every alert delivered or given up before it returns
    srv.stop();

    CHECK_FALSE(thread_failed);
    const webhook_counts c = hook.counts();
    CHECK(c.sent == alerts.size());
    CHECK(c.given_up == 0);
    CHECK(c.dropped == 0);
    CHECK(c.undelivered == 0);
    CHECK(c.retries >= 4);
    CHECK(counter_value(m, "webhook_sent_total") == alerts.size());
    CHECK(counter_value(m, "webhook_failed_total{status=\"500\"}") >= 1);
    CHECK(counter_value(m, "webhook_failed_total{status=\"429\"}") >= 1);
    CHECK(counter_value(m, "webhook_failed_total{status=\"timeout\"}") >= 1);
    CHECK(counter_value(m, "webhook_failed_total{status=\"reset\"}") >= 1);

    // Each alert accepted exactly once here (the server acknowledged every 2xx the client saw), in
    // the order offered, and the keys tell the alerts apart.
    const std::vector<std::string> keys = log.take_keys();
    std::vector<std::string> expected;
    for (const alert& a : alerts) expected.push_back(webhook_key(a));
    CHECK(keys == expected);
    CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == alerts.size());

    // Every request carried the key in its header and its body, the configured headers, JSON.
    simdjson::dom::parser parser;
    for (const http_request& r : srv.requests()) {
        CHECK(r.method == "POST");
        CHECK(r.target == "/services/T000/B000/XXXX");
        CHECK(r.header("Content-Type") == "application/json");
        CHECK(r.header("X-Team") == "markets");
        CHECK(r.header("Authorization") == "Bearer t0ken");
        simdjson::dom::element e;
        REQUIRE(parser.parse(r.body).get(e) == simdjson::SUCCESS);
        CHECK(std::string_view(e["idempotency_key"]) == r.header("Idempotency-Key"));
        CHECK(std::string_view(e["text"]).size() > 20);
    }
    // Retry-After: 1 held the next try back at least that long (a floor, not a speed).
    REQUIRE(seen_at.size() > 3);
    CHECK(seen_at[3] - seen_at[2] >= 1'000'000'000);
}

TEST_CASE("a 4xx gives the alert up, counted with its status, and the next one still goes", "[webhook]") {
    const alert bad = make_alert("BAD", 1);
    http_test_server srv([&](const http_request& r) {
        return r.header("Idempotency-Key") == webhook_key(bad) ? http_reply::json(R"({"error":"no_text"})", 400)
                                                               : http_reply::json("ok");
    });
    metrics_registry m;
    webhook_sink hook(fast_config(srv.origin() + "/hook"), m, {});
    hook.start();
    REQUIRE(hook.offer(make_alert("A", 1)));
    REQUIRE(hook.offer(bad));
    REQUIRE(hook.offer(make_alert("B", 1)));
    hook.stop();
    const webhook_counts c = hook.counts();
    CHECK(c.sent == 2);
    CHECK(c.given_up == 1);
    CHECK(c.retries == 0);
    CHECK(counter_value(m, "webhook_failed_total{status=\"400\"}") == 1);
    CHECK(counter_value(m, "webhook_given_up_total") == 1);
    CHECK(srv.requests_seen() == 3); // no retry of the refused one
}

TEST_CASE("a full queue drops and counts, and offering never waits, even for a dead endpoint", "[webhook]") {
    metrics_registry m;
    alerts_config cfg = fast_config(closed_port_url());
    cfg.queue = 8;
    cfg.drain_timeout = 0s;
    webhook_sink hook(cfg, m, {});

    // Not started: nothing takes from the queue, so exactly its room is accepted. A waiting offer
    // would hang here, as nothing will ever make room.
    std::size_t accepted = 0;
    for (int i = 0; i < 100; ++i) accepted += hook.offer(make_alert("DEAD", i)) ? 1 : 0;
    CHECK(accepted == 8);
    CHECK(hook.counts().dropped == 92);

    // Running against a closed port, retrying: offers still return at once, each accepted or counted.
    hook.start();
    for (int i = 0; i < 1000 && counter_value(m, "webhook_failed_total{status=\"connect\"}") == 0; ++i)
        std::this_thread::sleep_for(10ms);
    REQUIRE(counter_value(m, "webhook_failed_total{status=\"connect\"}") >= 1);
    for (int i = 100; i < 10'100; ++i) accepted += hook.offer(make_alert("DEAD", i)) ? 1 : 0;
    CHECK(counter_value(m, "webhook_dropped_total") == 10'100 - accepted);

    hook.stop(); // drain_timeout 0: whatever is queued or in flight is undelivered
    const webhook_counts c = hook.counts();
    CHECK(c.sent == 0);
    CHECK(c.undelivered == accepted);
    CHECK(c.sent + c.given_up + c.dropped + c.undelivered == 10'100);
}

TEST_CASE("stop gives a server that never answers drain_timeout, then counts the rest undelivered", "[webhook]") {
    http_test_server srv([](const http_request&) { return http_reply::failing(http_fault::stall); });
    metrics_registry m;
    alerts_config cfg = fast_config(srv.origin() + "/hook");
    cfg.timeout = 60s;
    cfg.drain_timeout = 300ms;
    webhook_sink hook(cfg, m, {});
    hook.start();
    for (int i = 0; i < 5; ++i) REQUIRE(hook.offer(make_alert("SLOW", i)));
    const std::int64_t t0 = mono_ns();
    hook.stop();
    // Bounded by drain_timeout, not by the 60 s request timeout (a generous ceiling, not a speed).
    CHECK(mono_ns() - t0 < 10'000'000'000);
    CHECK(hook.counts().undelivered == 5);
    CHECK(hook.counts().sent == 0);
    srv.stop();
}

TEST_CASE("[alerts] is read, checked and shown without its secrets", "[webhook][config]") {
    const config c = load_config_text(R"([alerts]
webhook_url = "https://hooks.slack.com/services/T0/B0/s3cret"
headers = ["Authorization: Bearer s3cret"]
queue = 10
retry_min = "1s"
retry_max = "1m"
drain_timeout = "2s"
)",
                                      "a.toml");
    CHECK(c.alerts.webhook_url == "https://hooks.slack.com/services/T0/B0/s3cret");
    CHECK(c.alerts.queue == 10);
    CHECK(c.alerts.retry_max == std::chrono::minutes(1));
    const std::string shown = describe_config(c);
    CHECK(shown.find("s3cret") == std::string::npos);
    CHECK(shown.find("webhook_url = \"https://hooks.slack.com/…\"") != std::string::npos);
    CHECK(shown.find("headers = [\"Authorization: (hidden)\"]") != std::string::npos);
    CHECK(default_config().alerts.webhook_url.empty());

    const auto error_of = [](const std::string& text) {
        try {
            (void)load_config_text(text, "a.toml");
        } catch (const config_error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    for (const char* bad : {"ftp://x/s3cret", "wss://x/s3cret", "s3cret", "https:///s3cret"}) {
        const std::string e = error_of(std::string("[alerts]\nwebhook_url = \"") + bad + "\"\n");
        CHECK(e.find("a.toml:2: alerts.webhook_url: must be an http or https URL") == 0);
        CHECK(e.find("s3cret") == std::string::npos);
    }
    CHECK(error_of("[alerts]\nheaders = [\"no colon\"]\n").find("alerts.headers: each header must be") !=
          std::string::npos);
    CHECK(error_of("[alerts]\nretry_min = \"2s\"\nretry_max = \"1s\"\n") ==
          "a.toml:3: alerts.retry_max: must not be less than alerts.retry_min");
    CHECK(error_of("[alerts]\nqueue = 0\n") == "a.toml:2: alerts.queue: must be greater than 0");
}

namespace {

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

} // namespace

TEST_CASE("tapewire run posts exactly the alerts its NDJSON sink wrote, each at least once", "[webhook][e2e]") {
    // Every fifth request fails (500), so the run's retries are part of what is checked.
    std::mutex mu;
    std::set<std::string> received;
    http_test_server srv([&](const http_request& r) {
        if (r.sequence % 5 == 4) return http_reply::json(R"({"error":"try later"})", 500);
        std::lock_guard<std::mutex> lock(mu);
        received.insert(r.header("Idempotency-Key"));
        return http_reply::json("ok");
    });
    const std::string cmd =
        std::string(TAPEWIRE_BINARY) +
        " run --ticks 1500000 --set kafka.brokers='' --set source.kind=synthetic --set source.symbol_count=5"
        " --set source.rate=0 --set source.event_rate=10000 --set source.seed=7"
        " --set source.start=2026-01-05T14:30:00Z --set source.anomalies.enabled=true"
        " --set sink.path=webhook_e2e.ndjson --set sink.bars=false --set alerts.retry_min=10ms"
        " --set alerts.retry_max=50ms --set alerts.drain_timeout=60s --set alerts.webhook_url=" +
        srv.origin() + "/hook 2>webhook_e2e.stderr";
    const int status = std::system(cmd.c_str());
    std::stringstream err;
    err << std::ifstream("webhook_e2e.stderr").rdbuf();
    INFO(err.str());
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    srv.stop();

    std::set<std::string> written;
    std::size_t alerts = 0;
    simdjson::dom::parser parser;
    for (const std::string& line : lines_of("webhook_e2e.ndjson")) {
        simdjson::dom::element e = parser.parse(line);
        if (std::string_view(e["type"]) != "alert") continue;
        ++alerts;
        alert a;
        REQUIRE(a.sym.assign(std::string_view(e["symbol"])));
        a.ts = std::int64_t(e["ts"]);
        const std::string_view kind = e["kind"];
        for (const alert_kind k :
             {alert_kind::price_jump, alert_kind::return_z, alert_kind::volume_spike, alert_kind::vwap_dev})
            if (to_string(k) == kind) a.kind = k;
        REQUIRE(to_string(a.kind) == kind);
        written.insert(webhook_key(a));
    }
    REQUIRE(alerts >= 10);
    CHECK(written.size() == alerts); // symbol, ts and kind tell every alert apart
    CHECK(received == written);
    CHECK(err.str().find("  webhook       " + std::to_string(alerts) + " sent, ") != std::string::npos);
    CHECK(err.str().find(" 0 dropped (queue full), 0 undelivered") != std::string::npos);
    CHECK(err.str().find("alerts=webhook(http://127.0.0.1:" + std::to_string(srv.port()) + "/…)") != std::string::npos);
}
