// The yahoo-chart poller against a local server that replays recorded answers and scripted faults.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "src/base/clock.hpp"
#include "src/net/http_client.hpp"
#include "src/sources/replay.hpp"
#include "src/sources/yahoo_chart_task.hpp"
#include "test/support/chart_gen.hpp"
#include "test/support/http_test_server.hpp"
#include "test/support/test_certs.hpp"

using namespace tapewire;
using namespace std::chrono_literals;
using tapewire::test::http_fault;
using tapewire::test::http_reply;
using tapewire::test::http_request;
using tapewire::test::http_test_server;

namespace {

std::string fixture(const char* name) { return test::read_yahoo_fixture(name); }

// The symbol of a chart request target: "/v8/finance/chart/AAPL?..." -> "AAPL".
std::string symbol_of(const std::string& target) {
    const std::string prefix = "/v8/finance/chart/";
    const auto at = target.find(prefix);
    if (at == std::string::npos) return {};
    const auto from = at + prefix.size();
    return target.substr(from, target.find('?', from) - from);
}

// Answers by symbol and by how often that symbol has asked, recording when each request came.
class script {
public:
    using answer = std::function<http_reply(std::size_t nth)>;
    void on(const std::string& symbol, answer a) { answers_[symbol] = std::move(a); }

    http_reply operator()(const http_request& r) {
        const std::string sym = symbol_of(r.target);
        std::size_t nth = 0;
        {
            std::lock_guard lk(mu_);
            nth = times_[sym].size();
            times_[sym].push_back(mono_ns());
        }
        auto it = answers_.find(sym);
        if (it == answers_.end()) return http_reply::json(R"({"chart":{"result":null,"error":null}})", 500);
        return it->second(nth);
    }
    std::vector<std::int64_t> times(const std::string& sym) {
        std::lock_guard lk(mu_);
        return times_[sym];
    }

private:
    std::map<std::string, answer> answers_;
    std::mutex mu_;
    std::map<std::string, std::vector<std::int64_t>> times_;
};

yahoo_config fast_config() {
    yahoo_config y;
    y.poll_interval = 200ms;
    y.concurrency = 2;
    y.connect_timeout = 1s;
    y.request_timeout = 300ms;
    y.backoff_min = 100ms;
    y.backoff_max = 2s;
    y.not_found_backoff = 1h;
    y.bar_grace = 5s;
    return y;
}

// Members in yahoo_source's order: what the workers' frames point into is declared before the
// io_context, which destroys the frames still suspended; the client, which holds its sockets,
// after it, so the poller, which needs the client, is made in the body.
struct poller_rig {
    yahoo_config cfg;
    metrics_registry reg;
    fetch_outbox out{1'000'000};
    fetch_metrics metrics{reg, "chart"};
    std::unique_ptr<chart_poller> poller;
    boost::asio::io_context io{1};
    net::http_client client;

    poller_rig(const yahoo_config& c, const std::string& origin, const std::vector<std::string>& symbols,
               const source_context& context = {})
        : cfg(c), client(io.get_executor(), net::parse_url(origin), chart_http_options(c)) {
        poller = std::make_unique<chart_poller>(cfg, symbols, "", client, out, metrics, context);
        for (std::uint32_t i = 0; i < cfg.concurrency; ++i)
            boost::asio::co_spawn(io,
                                  supervise(
                                      "chart worker", [p = poller.get()](task_run& r) { return p->worker(r); },
                                      backoff(100'000'000, 1'000'000'000), metrics.restarts),
                                  boost::asio::detached);
    }
    // Runs the fetch loop until `done` holds or `limit` passes; true when it held.
    template <class Pred> bool run_until(Pred done, std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            io.run_for(20ms);
            if (done()) return true;
        }
        return false;
    }
    // Drains the outbox: (symbol, ts) of every bar message, in order.
    std::vector<std::pair<std::string, timestamp_ns>> bars() {
        std::vector<std::pair<std::string, timestamp_ns>> v;
        std::string key, payload;
        while (out.pop(key, payload)) {
            timestamp_ns ts = 0;
            REQUIRE(peek_ts(payload, ts));
            REQUIRE(payload.find("\"open\":") != std::string::npos);
            v.emplace_back(key, ts);
        }
        return v;
    }
};

} // namespace

TEST_CASE("The chart poller survives rate limits, server errors, stalls, truncation, bad JSON and resets",
          "[chart][net]") {
    const std::string body = fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    script s;
    s.on("AAPL", [&](std::size_t nth) {
        switch (nth) {
        case 0: return http_reply::json("Edge: Too Many Requests", 429).with_header("Retry-After", "1");
        case 1: return http_reply::json("Edge: Too Many Requests", 429);
        case 2: return http_reply::json("{}", 500);
        case 3: return http_reply::failing(http_fault::stall);
        case 4: {
            http_reply cut = http_reply::json(body);
            cut.fault = http_fault::truncate;
            return cut;
        }
        case 5: return http_reply::json(body.substr(0, 5000));
        case 6: return http_reply::failing(http_fault::reset);
        default: return http_reply::json(body).gzipped().in_chunks(4096);
        }
    });
    http_test_server srv([&](const http_request& r) { return s(r); });

    // One connection per request, so that the reset reaches the poller: on a kept-alive connection
    // the client sends the request again on a fresh one, as it should (the keep-alive race).
    yahoo_config cfg = fast_config();
    cfg.keep_alive = false;
    poller_rig rig(cfg, srv.origin(), {"AAPL"});
    // Done once AAPL's bars are in and a few more polls went by without sending any again.
    REQUIRE(rig.run_until([&] { return rig.metrics.ticks.value() >= 390 && s.times("AAPL").size() >= 11; }, 20s));
    const auto bars = rig.bars();

    // 390 bars (391 rows less the null one, the trailing live bar long complete), each exactly once.
    REQUIRE(bars.size() == 390);
    std::set<timestamp_ns> seen;
    for (const auto& [sym, ts] : bars) {
        CHECK(sym == "AAPL");
        CHECK(seen.insert(ts).second);
    }
    CHECK(seen.count(1727882100LL * 1'000'000'000) == 0); // the null row
    CHECK(std::is_sorted(bars.begin(), bars.end()));

    // Back-off as configured: Retry-After honoured, then exponential from backoff_min with ±20 % jitter.
    const auto t = s.times("AAPL");
    const auto gap_ms = [&](std::size_t i) { return (t[i + 1] - t[i]) / 1'000'000; };
    CHECK(gap_ms(0) >= 1000);      // 429 with Retry-After: 1
    CHECK(gap_ms(1) >= 160);       // 429 without: 200 ms step (0.8x at least)
    CHECK(gap_ms(2) >= 320);       // 500: 400 ms step
    CHECK(gap_ms(3) >= 300 + 640); // a stall: the 300 ms timeout, then an 800 ms step
    CHECK(rig.metrics.errors("timeout").value() == 1);
    CHECK(rig.metrics.errors("truncated").value() == 1);
    CHECK(rig.metrics.errors("reset").value() == 1);
    CHECK(rig.metrics.decode_errors.value() == 1); // the cut-off JSON
    CHECK(rig.metrics.responses(429).value() == 2);
    CHECK(rig.metrics.responses(500).value() == 1);
    CHECK(rig.metrics.state("AAPL") == symbol_health::ok);
    CHECK(rig.metrics.restarts.value() == 0); // nothing escaped to the supervisor
}

TEST_CASE("A delisted symbol backs off for long while the others go on", "[chart][net]") {
    const std::string body = fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    script s;
    s.on("AAPL", [&](std::size_t) { return http_reply::json(body).gzipped(); });
    s.on("MSFT",
         [&](std::size_t) { return http_reply::json(fixture("chart_v8_AAPL_1m_2025-02-01_weekend_no_bars.json")); });
    s.on("GONE", [&](std::size_t) { return http_reply::json(fixture("chart_v8_error_not_found_404.json"), 404); });
    http_test_server srv([&](const http_request& r) { return s(r); });
    poller_rig rig(fast_config(), srv.origin(), {"AAPL", "MSFT", "GONE"});
    REQUIRE(rig.run_until([&] { return s.times("AAPL").size() >= 5 && s.times("MSFT").size() >= 5; }, 10s));
    CHECK(rig.bars().size() == 390);
    // Asked once, then left for not_found_backoff (an hour); the closed market answers "no bars".
    CHECK(s.times("GONE").size() == 1);
    CHECK(rig.metrics.state("GONE") == symbol_health::failing);
    CHECK(rig.metrics.responses(404).value() == 1);
    CHECK(rig.metrics.state("MSFT") == symbol_health::ok);
    CHECK(rig.metrics.state("AAPL") == symbol_health::ok);
    // Kept alive: two workers, so at most two connections for all those requests.
    CHECK(srv.connections_accepted() <= 2);
}

TEST_CASE("The chart poller holds the live bar until a later bar exists, across polls", "[chart][net]") {
    // Minutes relative to now, so the live bar really is the current minute.
    const std::int64_t m = wall_ns() / 1'000'000'000 / 60 * 60;
    const auto answer = [](std::vector<std::int64_t> stamps) {
        std::string ts, px;
        for (std::size_t i = 0; i < stamps.size(); ++i) {
            ts += (i ? "," : "") + std::to_string(stamps[i]);
            px += (i ? "," : "") + std::to_string(100 + i);
        }
        return R"({"chart":{"result":[{"meta":{"dataGranularity":"1m"},"timestamp":[)" + ts +
               R"(],"indicators":{"quote":[{"open":[)" + px + "],\"high\":[" + px + "],\"low\":[" + px +
               "],\"close\":[" + px + "],\"volume\":[" + px + "]}]}}],\"error\":null}}";
    };
    script s;
    s.on("IBM", [&](std::size_t nth) {
        return nth == 0 ? http_reply::json(answer({m - 180, m - 120, m - 60}))
                        : http_reply::json(answer({m - 180, m - 120, m - 60, m}));
    });
    http_test_server srv([&](const http_request& r) { return s(r); });
    yahoo_config cfg = fast_config();
    cfg.bar_grace = 120s; // the current minute cannot complete during the test
    poller_rig rig(cfg, srv.origin(), {"IBM"});
    REQUIRE(rig.run_until([&] { return rig.metrics.ticks.value() >= 2; }, 10s));
    auto first = rig.bars();
    REQUIRE(first.size() == 2); // m - 60 was the live bar of the first answer: held
    CHECK(first[1].second == (m - 120) * 1'000'000'000);
    REQUIRE(rig.run_until([&] { return s.times("IBM").size() >= 5; }, 10s));
    auto later = rig.bars();
    REQUIRE(later.size() == 1); // m - 60 once a later bar listed it complete; m held still
    CHECK(later[0].second == (m - 60) * 1'000'000'000);
}

TEST_CASE("The first round of history is handed over in time order across symbols", "[chart][net]") {
    const std::string body = fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    script s;
    s.on("AAPL", [&](std::size_t) { return http_reply::json(body); });
    s.on("AAPL.X", [&](std::size_t) { return http_reply::json(body).after(100ms); }); // answers last
    http_test_server srv([&](const http_request& r) { return s(r); });
    poller_rig rig(fast_config(), srv.origin(), {"AAPL", "AAPL.X"});
    REQUIRE(rig.run_until([&] { return rig.out.size() >= 780; }, 10s));
    const auto bars = rig.bars();
    REQUIRE(bars.size() == 780);
    // Two symbols' days interleaved minute by minute: one partition's watermark would not pass
    // either's history before it arrived.
    for (std::size_t i = 1; i < bars.size(); ++i) CHECK(bars[i - 1].second <= bars[i].second);
    CHECK(bars[0].second == bars[1].second);
}

TEST_CASE("a 429 in the first round does not hand the round over without that symbol", "[chart][net]") {
    const std::string body = fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    script s;
    s.on("AAPL", [&](std::size_t) { return http_reply::json(body); });
    // Rate-limited, then a server error, then a reset: none of them is AAPL.X's history.
    s.on("AAPL.X", [&](std::size_t nth) {
        switch (nth) {
        case 0: return http_reply::json("Edge: Too Many Requests", 429);
        case 1: return http_reply::json("{}", 503);
        case 2: return http_reply::failing(http_fault::reset);
        default: return http_reply::json(body).gzipped();
        }
    });
    http_test_server srv([&](const http_request& r) { return s(r); });
    yahoo_config cfg = fast_config();
    cfg.keep_alive = false; // the reset reaches the poller instead of a silent retry on a new connection
    poller_rig rig(cfg, srv.origin(), {"AAPL", "AAPL.X"});
    REQUIRE(rig.run_until([&] { return rig.out.size() >= 780; }, 20s));
    REQUIRE(s.times("AAPL.X").size() >= 4);
    const auto bars = rig.bars();
    REQUIRE(bars.size() == 780);
    // AAPL.X's day waited for, and merged minute by minute with AAPL's: nothing of it arrives
    // after the other symbol's history has moved a shared watermark past it.
    for (std::size_t i = 1; i < bars.size(); ++i) CHECK(bars[i - 1].second <= bars[i].second);
    CHECK(bars[0].second == bars[1].second);
    CHECK(bars[0].first != bars[1].first);
}

TEST_CASE("the chart poller asks each symbol for its backfill chunks before its regular poll and retries a chunk "
          "after a 429",
          "[chart][net]") {
    const std::int64_t now_s = wall_ns() / 1'000'000'000;
    const test::chart_gen gen = test::chart_gen::into_session(now_s, 3);
    // AAPL's last stored bar was nine sessions ago: two chunks (7 days, then the rest up to now).
    const std::int64_t from_s = gen.session_start_s(gen.session_of_s(now_s) - 9);
    source_context ctx;
    ctx.backfill_from["AAPL"] = from_s * 1'000'000'000 + 1; // a start inside a second asks from the next
    std::atomic<int> aapl_ranged{0};
    http_test_server srv([&](const http_request& r) {
        std::int64_t p1 = 0;
        if (test::chart_gen::symbol_of(r.target) == "AAPL" && test::chart_gen::query_int(r.target, "period1", p1) &&
            aapl_ranged++ == 0)
            return http_reply::json("Edge: Too Many Requests", 429);
        return http_reply::json(gen.answer_for(r.target)).gzipped();
    });
    yahoo_config cfg = fast_config();
    cfg.bar_grace = 0s; // the served minutes are complete at once
    poller_rig rig(cfg, srv.origin(), {"AAPL", "MSFT"}, ctx);
    const auto aapl = gen.bar_minutes("AAPL", from_s + 1, now_s);
    const std::int64_t today = gen.session_start_s(gen.session_of_s(now_s));
    const auto msft = gen.bar_minutes("MSFT", today, today + 390 * 60);
    REQUIRE(rig.run_until([&] { return rig.out.size() >= aapl.size() + msft.size(); }, 20s));
    rig.run_until([] { return false; }, 300ms); // a few more polls: nothing more may come
    const auto bars = rig.bars();
    REQUIRE(bars.size() == aapl.size() + msft.size());
    REQUIRE(msft.size() > 100); // three hours into today's session

    // AAPL's requests: the first chunk (refused with a 429, then asked again), the second, then range=1d.
    std::vector<std::string> targets;
    for (const http_request& r : srv.requests())
        if (test::chart_gen::symbol_of(r.target) == "AAPL") targets.push_back(r.target);
    REQUIRE(targets.size() >= 4);
    const std::string p1 = "period1=" + std::to_string(from_s + 1) + "&";
    const std::string p2 = "period2=" + std::to_string(from_s + 1 + k_chart_1m_chunk_s) + "&";
    CHECK(targets[0].find(p1) != std::string::npos);
    CHECK(targets[0].find(p2) != std::string::npos);
    CHECK(targets[1] == targets[0]);
    CHECK(targets[2].find("period1=" + std::to_string(from_s + 1 + k_chart_1m_chunk_s) + "&") != std::string::npos);
    for (std::size_t i = 3; i < targets.size(); ++i) CHECK(targets[i].find("range=1d") != std::string::npos);
    CHECK(rig.metrics.backfill().requests.value() == 3);
    CHECK(rig.metrics.backfill().bars.value() == aapl.size());
    CHECK(rig.metrics.backfill().refused.value() == 0);

    // Every served bar once, the nine sessions and today's merged in time order with MSFT's day.
    std::set<std::pair<std::string, timestamp_ns>> seen(bars.begin(), bars.end());
    CHECK(seen.size() == bars.size());
    for (std::int64_t m : aapl) CHECK(seen.count({"AAPL", m * 1'000'000'000}) == 1);
    for (std::int64_t m : msft) CHECK(seen.count({"MSFT", m * 1'000'000'000}) == 1);
    for (std::size_t i = 1; i < bars.size(); ++i) CHECK(bars[i - 1].second <= bars[i].second);
}

TEST_CASE("a backfill chunk Yahoo refuses is counted and skipped, and the symbol goes on", "[chart][net]") {
    const std::int64_t now_s = wall_ns() / 1'000'000'000;
    const test::chart_gen gen = test::chart_gen::into_session(now_s, 3);
    const std::int64_t from_s = gen.session_start_s(gen.session_of_s(now_s) - 9);
    source_context ctx;
    ctx.backfill_from["AAPL"] = from_s * 1'000'000'000;
    const std::string refusal =
        R"({"chart":{"result":null,"error":{"code":"Unprocessable Entity","description":"1m data not available for )"
        R"(startTime=1 and endTime=2. Only 8 days worth of 1m granularity data are allowed to be fetched per request."}}})";
    http_test_server srv([&](const http_request& r) {
        std::int64_t p1 = 0;
        if (test::chart_gen::query_int(r.target, "period1", p1) && p1 == from_s) return http_reply::json(refusal, 422);
        return http_reply::json(gen.answer_for(r.target));
    });
    yahoo_config cfg = fast_config();
    cfg.bar_grace = 0s;
    poller_rig rig(cfg, srv.origin(), {"AAPL"}, ctx);
    const auto rest = gen.bar_minutes("AAPL", from_s + k_chart_1m_chunk_s, now_s);
    REQUIRE(rig.run_until([&] { return rig.out.size() >= rest.size(); }, 20s));
    rig.run_until([] { return false; }, 300ms);
    CHECK(rig.bars().size() == rest.size());
    CHECK(rig.metrics.backfill().refused.value() == 1);
    CHECK(rig.metrics.backfill().requests.value() == 2);
    CHECK(rig.metrics.state("AAPL") == symbol_health::ok);
}

TEST_CASE("The chart poller fetches over HTTPS from a server it trusts through ca_file", "[chart][net]") {
    const test::test_certs certs = test::make_test_certs(std::filesystem::current_path() / "chart_https_certs");
    test::http_test_server_options tls;
    tls.cert_file = certs.server_cert;
    tls.key_file = certs.server_key;
    const std::string body = fixture("chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    http_test_server srv([&](const http_request&) { return http_reply::json(body).gzipped().in_chunks(4096); }, tls);
    yahoo_config cfg = fast_config();
    cfg.ca_file = certs.ca_cert.string();
    poller_rig rig(cfg, srv.origin(), {"AAPL"});
    REQUIRE(rig.run_until([&] { return rig.metrics.ticks.value() >= 390 && srv.requests_seen() >= 3; }, 10s));
    CHECK(rig.bars().size() == 390);
    CHECK(srv.connections_accepted() == 1);    // kept alive across polls
    CHECK(srv.requests().front().sni.empty()); // an IP literal: no SNI, but the certificate's IP SAN is checked
}

TEST_CASE("The chart poller refuses a server whose certificate it does not trust, and keeps trying", "[chart][net]") {
    const test::test_certs certs = test::make_test_certs(std::filesystem::current_path() / "chart_untrusted_certs");
    test::http_test_server_options tls;
    tls.cert_file = certs.self_signed_cert;
    tls.key_file = certs.self_signed_key;
    http_test_server srv([&](const http_request&) { return http_reply::json("{}"); }, tls);
    yahoo_config cfg = fast_config();
    cfg.ca_file = certs.ca_cert.string();
    poller_rig rig(cfg, srv.origin(), {"AAPL"});
    REQUIRE(rig.run_until([&] { return rig.metrics.errors("tls_handshake").value() >= 2; }, 10s));
    CHECK(srv.requests_seen() == 0); // no request ever went over the unverified connection
    CHECK(rig.metrics.ticks.value() == 0);
    CHECK(rig.metrics.state("AAPL") != symbol_health::ok);
}
