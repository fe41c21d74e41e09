// tapewire-bench fetch: the yahoo-chart poller against a local HTTP server replaying the recorded
// AAPL one-minute day, for many symbols, with keep-alive and without, in one run.
//
//   tapewire-bench fetch [--symbols N] [--seconds S] [--concurrency C] [--runs R] [--scheme http|https|both]
//
// https: the server presents a certificate of a throwaway CA (test/support/test_certs) that the
// client trusts through ca_file, with verification on, as against Yahoo (TLS 1.3, P-256 keys).
// The server (test/support/http_test_server, its own thread on the other core) answers every chart
// request with the recorded 391-row day, gzip-compressed once up front, its timestamps moved on by
// two days per request of that symbol (the trailing live bar is stamped the next day), so that each answer holds 389
// new completed bars (390 the first time) and the poller's "send each bar once" rule does not empty the measurement.
// The poller runs as in tapewire (chart_poller, `concurrency` supervised workers, one http_client) on this thread,
// poll_interval 1 ms so it is limited by the work, not the schedule; its outbox is drained every 20 ms.
//
//   requests/s   chart requests answered 200 and parsed / seconds
//   ticks/s      bar messages the poller handed over / seconds (HTTP, gunzip, simdjson, bar
//                selection and the canonical JSON of each bar)
//   connections  TCP connections the server accepted in the phase
// Each run measures keep-alive on and off, alternating which goes first; the summary gives the
// median of the runs and the ratio of the medians.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "bench/common/args.hpp"
#include "bench/common/percentiles.hpp"
#include "src/base/clock.hpp"
#include "src/net/gzip.hpp"
#include "src/net/http_client.hpp"
#include "src/sources/yahoo_chart_task.hpp"
#include "test/support/http_test_server.hpp"
#include "test/support/test_certs.hpp"

namespace tapewire::bench {

namespace {

using namespace std::chrono_literals;

struct fetch_args {
    std::size_t symbols = 500;
    double seconds = 5;
    std::uint32_t concurrency = 8;
    int runs = 3;
    std::string scheme = "both";
};

// The recorded day with every timestamp moved by `shift_s`.
std::string shifted(const std::string& body, std::int64_t shift_s) {
    const std::string key = "\"timestamp\":[";
    const std::size_t from = body.find(key) + key.size();
    const std::size_t to = body.find(']', from);
    std::string out = body.substr(0, from);
    std::size_t i = from;
    while (i < to) {
        std::size_t comma = body.find(',', i);
        if (comma == std::string::npos || comma > to) comma = to;
        out += std::to_string(std::stoll(body.substr(i, comma - i)) + shift_s);
        if (comma < to) out += ',';
        i = comma + 1;
    }
    out += body.substr(to);
    return out;
}

struct phase_result {
    double requests_per_s = 0, ticks_per_s = 0;
    std::size_t connections = 0;
    double mean_wire_kib = 0;
};

phase_result run_phase(const std::vector<std::string>& bodies, const fetch_args& o, bool keep_alive,
                       const test::test_certs* tls) {
    std::mutex mu;
    std::map<std::string, std::size_t> asked; // per symbol
    test::http_test_server srv(
        [&](const test::http_request& r) {
            const std::size_t at = r.target.find("/chart/") + 7;
            const std::string sym = r.target.substr(at, r.target.find('?') - at);
            std::size_t n = 0;
            {
                std::lock_guard lk(mu);
                n = asked[sym]++;
            }
            test::http_reply rep = test::http_reply::json(bodies[n % bodies.size()]);
            rep.with_header("Content-Encoding", "gzip");
            return rep;
        },
        tls ? test::http_test_server_options{tls->server_cert, tls->server_key} : test::http_test_server_options{});

    boost::asio::io_context io{1};
    yahoo_config cfg;
    cfg.poll_interval = 1ms;
    cfg.concurrency = o.concurrency;
    cfg.keep_alive = keep_alive;
    if (tls) cfg.ca_file = tls->ca_cert.string();
    metrics_registry reg;
    fetch_outbox out(std::size_t{1} << 40);
    fetch_metrics m(reg, "chart");
    net::http_client client(io.get_executor(), net::parse_url(srv.origin()), chart_http_options(cfg));
    std::vector<std::string> symbols;
    for (std::size_t i = 0; i < o.symbols; ++i) symbols.push_back("S" + std::to_string(i));
    chart_poller poller(cfg, symbols, "", client, out, m);
    for (std::uint32_t i = 0; i < cfg.concurrency; ++i)
        boost::asio::co_spawn(io,
                              supervise(
                                  "bench worker", [&poller](task_run& r) { return poller.worker(r); },
                                  backoff(100'000'000, 1'000'000'000), m.restarts),
                              boost::asio::detached);

    std::string key, payload;
    const auto drain = [&] {
        std::uint64_t n = 0;
        while (out.pop(key, payload)) ++n;
        return n;
    };
    // Warm-up: the first round (every symbol once) is held back and handed over at once; measure after it.
    while (m.responses(200).value() < o.symbols) {
        io.run_for(20ms);
        drain();
    }
    const std::uint64_t req0 = m.responses(200).value(), bytes0 = m.bytes.value();
    const std::size_t conn0 = srv.connections_accepted();
    std::uint64_t ticks = 0;
    const std::int64_t t0 = mono_ns(), end = t0 + static_cast<std::int64_t>(o.seconds * 1e9);
    while (mono_ns() < end) {
        io.run_for(20ms);
        ticks += drain();
    }
    const double secs = static_cast<double>(mono_ns() - t0) / 1e9;
    phase_result r;
    const std::uint64_t reqs = m.responses(200).value() - req0;
    r.requests_per_s = static_cast<double>(reqs) / secs;
    r.ticks_per_s = static_cast<double>(ticks) / secs;
    r.connections = srv.connections_accepted() - conn0;
    r.mean_wire_kib = reqs ? static_cast<double>(m.bytes.value() - bytes0) / static_cast<double>(reqs) / 1024 : 0;
    if (m.restarts.value() != 0 || reqs == 0)
        std::fprintf(stderr, "fetch: %llu worker restart(s), %llu requests\n",
                     static_cast<unsigned long long>(m.restarts.value()), static_cast<unsigned long long>(reqs));
    client.close();
    return r;
}

option_table fetch_options(fetch_args& o) {
    option_table t("tapewire-bench fetch",
                   "The yahoo-chart poller against a local server replaying the recorded AAPL day, keep-alive on and\n"
                   "off in turn, over plain HTTP and HTTPS.\n");
    t.add("--symbols N", "symbols polled (default 500)", whole(o.symbols, std::size_t{1}));
    t.add("--seconds S", "seconds measured per phase (default 5)", positive(o.seconds));
    t.add("--concurrency C", "requests in flight: the poller's workers (default 8)", whole(o.concurrency, 1u));
    t.add("--runs R", "runs, each keep-alive on and off; medians are reported (default 3)", whole(o.runs, 1));
    t.add("--scheme S", "http, https or both (default both)",
          one_of(o.scheme, {{"http", "http"}, {"https", "https"}, {"both", "both"}}));
    return t;
}

} // namespace

int fetch_main(int argc, char** argv) {
    fetch_args o;
    if (const auto exit_code = fetch_options(o).parse(argc, argv)) return *exit_code;
    const std::string day =
        test::read_file(test::yahoo_fixtures_dir(TAPEWIRE_SOURCE_DIR) / "chart_v8_AAPL_1m_2024-10-02_nullgap.json");
    std::vector<std::string> bodies;
    const std::size_t variants = 512;
    for (std::size_t k = 0; k < variants; ++k)
        bodies.push_back(
            net::compress_body(shifted(day, static_cast<std::int64_t>(k) * 2 * 86400), net::content_coding::gzip));

    std::printf("fetch: %zu symbols, %u in flight, %.1f s per phase, %d run(s); answer %zu B JSON, %zu B gzip\n",
                o.symbols, o.concurrency, o.seconds, o.runs, day.size(), bodies[0].size());
    const std::filesystem::path cert_dir = std::filesystem::temp_directory_path() / "tapewire-fetch-bench-certs";
    const test::test_certs certs = test::make_test_certs(cert_dir);
    for (const bool https : {false, true}) {
        if ((https && o.scheme == "http") || (!https && o.scheme == "https")) continue;
        std::vector<double> ka_req, ka_ticks, nk_req, nk_ticks;
        for (int run = 0; run < o.runs; ++run) {
            for (int j = 0; j < 2; ++j) {
                const bool keep = (run + j) % 2 == 0;
                const phase_result r = run_phase(bodies, o, keep, https ? &certs : nullptr);
                std::printf("  %-5s run %d  keep-alive %-3s  %8.0f requests/s  %10.0f ticks/s  %6zu connections  %.1f "
                            "KiB/answer\n",
                            https ? "https" : "http", run + 1, keep ? "on" : "off", r.requests_per_s, r.ticks_per_s,
                            r.connections, r.mean_wire_kib);
                (keep ? ka_req : nk_req).push_back(r.requests_per_s);
                (keep ? ka_ticks : nk_ticks).push_back(r.ticks_per_s);
            }
        }
        const double a = median(ka_req), b = median(nk_req);
        std::printf("%-5s median  keep-alive on   %8.0f requests/s  %10.0f ticks/s\n", https ? "https" : "http", a,
                    median(ka_ticks));
        std::printf("%-5s median  keep-alive off  %8.0f requests/s  %10.0f ticks/s\n", https ? "https" : "http", b,
                    median(nk_ticks));
        std::printf("%-5s ratio   on / off        %8.2f\n", https ? "https" : "http", b > 0 ? a / b : 0.0);
    }
    std::filesystem::remove_all(cert_dir);
    return 0;
}

} // namespace tapewire::bench
