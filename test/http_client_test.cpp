// The HTTP(S) client against the local test server: keep-alive reuse and its race, the request
// limit, deadlines, every failure class, gzip and chunked bodies, TLS verification with throwaway
// certificates. Plus the URL and gzip helpers it stands on. The server runs on its own thread: a
// few cases are also tagged [concurrency] so that the TSan run (`make test-tsan`) covers it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "src/net/gzip.hpp"
#include "src/net/http_client.hpp"
#include "src/net/url.hpp"
#include "test/support/http_test_server.hpp"
#include "test/support/test_certs.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace tapewire;
using net::http_error;
using net::http_result;
using test::http_fault;
using test::http_reply;
using test::http_request;
using test::http_test_server;
using clock_type = std::chrono::steady_clock;

// One set of certificates per test process, in the work folder.
const test::test_certs& certs() {
    static const test::test_certs c =
        test::make_test_certs(std::filesystem::current_path() / ("net_certs_" + std::to_string(::getpid())));
    return c;
}

test::http_test_server_options tls_server(const std::filesystem::path& cert, const std::filesystem::path& key) {
    test::http_test_server_options o;
    o.cert_file = cert;
    o.key_file = key;
    return o;
}

net::http_options fast_options() {
    net::http_options o;
    o.user_agent = "Mozilla/5.0 (X11; Linux x86_64) tapewire-test";
    o.connect_timeout = 2s;
    o.request_timeout = 2s;
    return o;
}

// Runs `a` on `ioc` to its end and returns its value.
template <class T> T run(asio::io_context& ioc, asio::awaitable<T> a) {
    std::optional<T> out;
    std::exception_ptr error;
    asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e, T v) {
        error = e;
        if (!e) out = std::move(v);
    });
    ioc.restart();
    ioc.run();
    if (error) std::rethrow_exception(error);
    REQUIRE(out.has_value());
    return std::move(*out);
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    t.expires_after(d);
    co_await t.async_wait(asio::use_awaitable);
}

// GETs each target in turn, pausing `gap` between them.
asio::awaitable<std::vector<http_result>> get_each(net::http_client& c, std::vector<std::string> targets,
                                                   std::chrono::milliseconds gap = 0ms) {
    std::vector<http_result> out;
    for (std::size_t i = 0; i < targets.size(); ++i) {
        if (i > 0 && gap.count() > 0) co_await pause(gap);
        out.push_back(co_await c.get(targets[i]));
    }
    co_return out;
}

http_result get_once(const std::string& origin, const std::string& target, net::http_options opt = fast_options()) {
    asio::io_context ioc;
    net::http_client c(ioc.get_executor(), net::parse_url(origin), std::move(opt));
    return run(ioc, c.get(target));
}

http_reply ok_reply(const http_request& r) { return http_reply::json(R"({"target":")" + r.target + R"("})"); }

} // namespace

TEST_CASE("URLs split into scheme, host, port and target", "[net]") {
    const net::url a = net::parse_url("https://Query2.Finance.Yahoo.com/v8/finance/chart/AAPL?interval=1m#frag");
    CHECK(a.scheme == "https");
    CHECK(a.host == "query2.finance.yahoo.com");
    CHECK(a.port == "443");
    CHECK(a.target == "/v8/finance/chart/AAPL?interval=1m");
    CHECK(a.tls());
    CHECK(a.host_header() == "query2.finance.yahoo.com");

    const net::url b = net::parse_url("http://127.0.0.1:8080");
    CHECK(b.port == "8080");
    CHECK(b.target == "/");
    CHECK_FALSE(b.tls());
    CHECK(b.host_header() == "127.0.0.1:8080");

    const net::url c = net::parse_url("wss://[::1]:9443?x=1");
    CHECK(c.host == "::1");
    CHECK(c.target == "/?x=1");
    CHECK(c.host_header() == "[::1]:9443");

    CHECK_THROWS_AS(net::parse_url("ftp://example.com/"), std::invalid_argument);
    CHECK_THROWS_AS(net::parse_url("https://user@example.com/"), std::invalid_argument);
    CHECK_THROWS_AS(net::parse_url("https://:443/"), std::invalid_argument);
    CHECK_THROWS_AS(net::parse_url("https://example.com:99999/"), std::invalid_argument);
    CHECK_THROWS_AS(net::parse_url("example.com/"), std::invalid_argument);

    CHECK(net::percent_encode("^GSPC") == "%5EGSPC");
    CHECK(net::percent_encode("BRK/B") == "BRK%2FB");
    CHECK(net::percent_encode("EURUSD=X") == "EURUSD%3DX");
    CHECK(net::percent_encode("GS2C.DE-x_~") == "GS2C.DE-x_~");
}

TEST_CASE("gzip and deflate bodies inflate back, under a size cap", "[net]") {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "{\"close\":" + std::to_string(i * 1.25) + "},";
    std::string out, why;
    for (const auto coding : {net::content_coding::gzip, net::content_coding::deflate}) {
        const std::string packed = net::compress_body(text, coding);
        CHECK(packed.size() < text.size());
        CHECK(net::inflate_body(packed, coding, text.size(), out, why) == net::inflate_status::ok);
        CHECK(out == text);
        CHECK(net::inflate_body(packed, coding, text.size() - 1, out, why) == net::inflate_status::too_large);
        CHECK(net::inflate_body(packed.substr(0, packed.size() / 2), coding, text.size(), out, why) ==
              net::inflate_status::corrupt);
    }
    // Two gzip members back to back are one body.
    const std::string two =
        net::compress_body("abc", net::content_coding::gzip) + net::compress_body("def", net::content_coding::gzip);
    CHECK(net::inflate_body(two, net::content_coding::gzip, 100, out, why) == net::inflate_status::ok);
    CHECK(out == "abcdef");
    CHECK(net::inflate_body("not gzip at all", net::content_coding::gzip, 100, out, why) ==
          net::inflate_status::corrupt);
    CHECK_FALSE(why.empty());

    net::content_coding c{};
    CHECK(net::parse_content_coding(" GZIP ", c));
    CHECK(c == net::content_coding::gzip);
    CHECK(net::parse_content_coding("", c));
    CHECK(c == net::content_coding::identity);
    CHECK_FALSE(net::parse_content_coding("br", c));
}

TEST_CASE("keep-alive reuses one connection for sequential requests", "[net]") {
    http_test_server srv(ok_reply);
    asio::io_context ioc;
    net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
    const auto rs = run(ioc, get_each(c, {"/a", "/b?x=1", "/c", "/d", "/e"}));

    REQUIRE(rs.size() == 5);
    for (std::size_t i = 0; i < rs.size(); ++i) {
        INFO(rs[i].detail);
        REQUIRE(rs[i].ok());
        CHECK(rs[i].response.status == 200);
        CHECK(rs[i].response.reused == (i > 0));
        CHECK(rs[i].response.wire_bytes > rs[i].response.body.size());
    }
    CHECK(rs[1].response.body == R"({"target":"/b?x=1"})");
    CHECK(rs[0].response.content_type == "application/json;charset=utf-8");
    CHECK(srv.connections_accepted() == 1);
    CHECK(c.connections_opened() == 1);
    CHECK(c.in_flight() == 0);

    const auto seen = srv.requests();
    REQUIRE(seen.size() == 5);
    CHECK(seen[4].on_connection == 4);
    CHECK(seen[0].method == "GET");
    CHECK(seen[0].header("user-agent") == "Mozilla/5.0 (X11; Linux x86_64) tapewire-test");
    CHECK(seen[0].header("Accept") == "application/json,*/*");
    CHECK(seen[0].header("Accept-Encoding") == "gzip, deflate");
    CHECK(seen[0].header("Host") == "127.0.0.1:" + std::to_string(srv.port()));
    CHECK(seen[0].header("Connection").empty());

    // close() drops the idle connection: the next request opens another.
    c.close();
    const auto after = run(ioc, get_each(c, {"/f", "/g"}));
    REQUIRE(after[0].ok());
    CHECK_FALSE(after[0].response.reused);
    CHECK(after[1].response.reused);
    CHECK(c.connections_opened() == 2);
}

TEST_CASE("header lines parse into a name and a value, and nothing that would break a request passes", "[net]") {
    const auto h = net::parse_header_line("Authorization:  Bearer a:b \t");
    REQUIRE(h.has_value());
    CHECK(h->name == "Authorization");
    CHECK(h->value == "Bearer a:b");
    CHECK(net::parse_header_line("X-Empty:")->value.empty());
    for (const char* bad : {"no colon", ": v", "Bad Name: v", "X(1): v", "X: a\r\nInjected: 1", "X: a\nb"})
        CHECK_FALSE(net::parse_header_line(bad).has_value());
    CHECK(net::is_header_name("Idempotency-Key"));
    CHECK_FALSE(net::is_header_name("Idempotency Key"));
    CHECK_FALSE(net::is_header_value(std::string_view("a\0b", 3)));
}

// GET /a, POST /hook, GET /b on one client.
static asio::awaitable<std::vector<http_result>> get_post_get(net::http_client& c) {
    std::vector<http_result> out;
    out.push_back(co_await c.get("/a"));
    std::vector<net::http_header> headers;
    headers.push_back({"Idempotency-Key", "AAPL|1|price_jump"});
    headers.push_back({"X-Empty", ""});
    out.push_back(co_await c.post("/hook", R"({"text":"AAPL"})", "application/json", std::move(headers)));
    out.push_back(co_await c.get("/b"));
    co_return out;
}

TEST_CASE("POST sends its body, content type and headers on the same kept-alive connection as GET", "[net]") {
    http_test_server srv(
        [](const http_request& r) { return http_reply::json(r.body, r.method == "POST" ? 201 : 200); });
    asio::io_context ioc;
    net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
    const auto rs = run(ioc, get_post_get(c));
    REQUIRE(rs.size() == 3);
    for (const auto& r : rs) REQUIRE(r.ok());
    CHECK(rs[1].response.status == 201);
    CHECK(rs[1].response.body == R"({"text":"AAPL"})");
    CHECK(rs[1].response.reused);
    CHECK(rs[2].response.reused);
    CHECK(srv.connections_accepted() == 1);

    const auto seen = srv.requests();
    REQUIRE(seen.size() == 3);
    CHECK(seen[1].method == "POST");
    CHECK(seen[1].target == "/hook");
    CHECK(seen[1].body == R"({"text":"AAPL"})");
    CHECK(seen[1].header("Content-Type") == "application/json");
    CHECK(seen[1].header("Content-Length") == "15");
    CHECK(seen[1].header("Idempotency-Key") == "AAPL|1|price_jump");
    CHECK(seen[1].header("User-Agent") == seen[0].header("User-Agent"));
    CHECK(seen[0].method == "GET");
    CHECK(seen[0].header("Content-Length").empty());
    CHECK(seen[0].header("Idempotency-Key").empty());
    CHECK(seen[2].method == "GET");
    CHECK(seen[2].body.empty());
}

TEST_CASE("a POST header that would break the request is refused before anything is sent", "[net]") {
    http_test_server srv(ok_reply);
    asio::io_context ioc;
    net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
    const std::vector<std::vector<net::http_header>> bad = {
        {{"X-Key", "a\r\nX-Injected: 1"}}, {{"Bad Name", "v"}}, {{"", "v"}}, {{"X:Y", "v"}}};
    for (const auto& h : bad) {
        const http_result r = run(ioc, c.post("/hook", "{}", "application/json", h));
        CHECK(r.error == http_error::protocol);
    }
    CHECK(run(ioc, c.post("/hook", "{}", "application/json\r\nX-Injected: 1")).error == http_error::protocol);
    CHECK(srv.connections_accepted() == 0);
}

TEST_CASE("keep_alive=false opens a connection per request and says Connection: close", "[net]") {
    http_test_server srv(ok_reply);
    asio::io_context ioc;
    auto opt = fast_options();
    opt.keep_alive = false;
    net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), opt);
    const auto rs = run(ioc, get_each(c, {"/a", "/b", "/c"}));
    for (const auto& r : rs) {
        REQUIRE(r.ok());
        CHECK_FALSE(r.response.reused);
    }
    CHECK(srv.connections_accepted() == 3);
    CHECK(c.connections_opened() == 3);
    for (const auto& r : srv.requests()) CHECK(r.header("connection") == "close");
}

TEST_CASE("a gzipped, chunked Yahoo chart body is decoded to the recorded file", "[net]") {
    const std::string fixture = test::read_file(test::yahoo_fixture_path("chart_v8_AAPL_1m_2024-10-02_nullgap.json"));
    REQUIRE(fixture.size() > 10000);
    http_test_server srv([&](const http_request&) { return http_reply::json(fixture).gzipped().in_chunks(512); });
    const http_result r = get_once(srv.origin(), "/v8/finance/chart/AAPL?interval=1m&range=1d");
    INFO(r.detail);
    REQUIRE(r.ok());
    CHECK(r.response.body == fixture);
    // The wire carried the compressed body, in many chunks.
    const std::size_t packed = net::compress_body(fixture, net::content_coding::gzip).size();
    CHECK(r.response.wire_bytes > packed);
    CHECK(r.response.wire_bytes < packed + 2000);
    CHECK(r.response.content_type == "application/json;charset=utf-8");
}

TEST_CASE("Retry-After and Content-Type pass through and an HTTP status is no transport error", "[net]") {
    http_test_server srv([](const http_request&) {
        return http_reply::json(R"({"finance":{"error":"Too Many Requests"}})", 429).with_header("Retry-After", "17");
    });
    const http_result r = get_once(srv.origin(), "/v8/finance/chart/AAPL");
    REQUIRE(r.ok());
    CHECK(r.response.status == 429);
    CHECK(r.response.retry_after == "17");
    CHECK(r.response.content_type == "application/json;charset=utf-8");
    CHECK(r.response.body == R"({"finance":{"error":"Too Many Requests"}})");
}

TEST_CASE("max_connections bounds the requests the server handles at once", "[net][concurrency]") {
    http_test_server srv([](const http_request& r) { return ok_reply(r).after(100ms); });
    asio::io_context ioc;
    auto opt = fast_options();
    opt.max_connections = 3;
    net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), opt);
    std::vector<std::optional<http_result>> results(10);
    std::uint32_t peak_in_flight = 0;
    for (std::size_t i = 0; i < results.size(); ++i)
        asio::co_spawn(ioc, c.get("/q/" + std::to_string(i)), [&, i](std::exception_ptr e, http_result r) {
            REQUIRE_FALSE(e);
            results[i] = std::move(r);
        });
    // Sample the client's own count while the requests run.
    asio::steady_timer probe(ioc);
    std::function<void(boost::system::error_code)> sample = [&](boost::system::error_code) {
        peak_in_flight = std::max(peak_in_flight, c.in_flight());
        if (std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); })) return;
        probe.expires_after(5ms);
        probe.async_wait(sample);
    };
    sample({});
    const auto t0 = clock_type::now();
    ioc.run();
    const auto took = clock_type::now() - t0;

    for (const auto& r : results) {
        REQUIRE(r.has_value());
        INFO(r->detail);
        CHECK(r->ok());
    }
    CHECK(srv.peak_concurrency() == 3);
    CHECK(peak_in_flight == 3);
    CHECK(srv.requests_seen() == 10);
    CHECK(c.connections_opened() <= 3);
    CHECK(c.in_flight() == 0);
    CHECK(took >= 350ms); // four rounds of 100 ms
}

TEST_CASE("a stalled response fails with timeout after about request_timeout", "[net]") {
    http_test_server srv([](const http_request&) { return http_reply::failing(http_fault::stall); });
    auto opt = fast_options();
    opt.request_timeout = 300ms;
    const auto t0 = clock_type::now();
    const http_result r = get_once(srv.origin(), "/v8/finance/chart/AAPL", opt);
    const auto took = clock_type::now() - t0;
    CHECK(r.error == http_error::timeout);
    CHECK(r.detail == "GET /v8/finance/chart/AAPL: timeout after 300ms reading the response");
    CHECK(took >= 290ms);
    CHECK(took < 1500ms);
    CHECK(srv.requests_seen() == 1);
}

TEST_CASE("a TLS handshake that never completes fails with timeout after about connect_timeout", "[net]") {
    // A listener nobody accepts on: the kernel completes TCP, nobody answers the ClientHello.
    asio::io_context ioc;
    asio::ip::tcp::acceptor mute(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    auto opt = fast_options();
    opt.connect_timeout = 300ms;
    opt.tls.ca_file = certs().ca_cert.string();
    net::http_client c(ioc.get_executor(),
                       net::parse_url("https://127.0.0.1:" + std::to_string(mute.local_endpoint().port())), opt);
    const auto t0 = clock_type::now();
    const http_result r = run(ioc, c.get("/"));
    const auto took = clock_type::now() - t0;
    CHECK(r.error == http_error::timeout);
    CHECK(r.detail.find("TLS handshake") != std::string::npos);
    CHECK(took >= 290ms);
    CHECK(took < 1500ms);
}

TEST_CASE("a body cut short of its Content-Length is truncated", "[net]") {
    http_test_server srv([](const http_request&) {
        http_reply r = http_reply::json(std::string(5000, 'x'));
        r.fault = http_fault::truncate;
        return r;
    });
    const http_result r = get_once(srv.origin(), "/t");
    CHECK(r.error == http_error::truncated);
    CHECK(r.detail.find("GET /t") == 0);
}

TEST_CASE("a connection reset or closed before any answer is reset", "[net]") {
    // The server reads the whole request first, so the client's write has succeeded and its read
    // sees the RST (or the FIN): never connect, never a timeout.
    const http_fault fault = GENERATE(http_fault::reset, http_fault::close);
    http_test_server srv([fault](const http_request&) { return http_reply::failing(fault); });
    const http_result r = get_once(srv.origin(), "/r");
    INFO(r.detail);
    CHECK(r.error == http_error::reset);
    CHECK(srv.requests_seen() == 1); // a fresh connection is never retried
}

TEST_CASE("bytes that are not HTTP are a protocol error", "[net]") {
    http_test_server srv([](const http_request&) { return http_reply::failing(http_fault::garbage); });
    const http_result r = get_once(srv.origin(), "/g");
    INFO(r.detail);
    CHECK(r.error == http_error::protocol);
}

TEST_CASE("a body over max_body_bytes is too_large, on the wire or once inflated", "[net]") {
    auto opt = fast_options();
    opt.max_body_bytes = 10000;
    SECTION("on the wire") {
        http_test_server srv([](const http_request&) { return http_reply::json(std::string(20000, 'x')); });
        const http_result r = get_once(srv.origin(), "/big", opt);
        CHECK(r.error == http_error::too_large);
    }
    SECTION("on the wire, chunked") {
        http_test_server srv([](const http_request&) { return http_reply::json(std::string(20000, 'x')).in_chunks(); });
        const http_result r = get_once(srv.origin(), "/big", opt);
        CHECK(r.error == http_error::too_large);
    }
    SECTION("after gunzip: a few hundred bytes that inflate to 200 KB") {
        http_test_server srv([](const http_request&) { return http_reply::json(std::string(200000, 'x')).gzipped(); });
        const http_result r = get_once(srv.origin(), "/bomb", opt);
        CHECK(r.error == http_error::too_large);
        CHECK(r.response.wire_bytes < 2000);
        CHECK(r.detail.find("decoded") != std::string::npos);
    }
    SECTION("exactly at the cap is fine") {
        http_test_server srv([](const http_request&) { return http_reply::json(std::string(10000, 'x')).gzipped(); });
        const http_result r = get_once(srv.origin(), "/edge", opt);
        CHECK(r.ok());
        CHECK(r.response.body.size() == 10000);
    }
}

TEST_CASE("a body that claims gzip but does not inflate is a decode error", "[net]") {
    http_test_server srv([](const http_request&) {
        return http_reply::json("{\"plain\":true}").with_header("Content-Encoding", "gzip");
    });
    const http_result r = get_once(srv.origin(), "/d");
    CHECK(r.error == http_error::decode);
    CHECK(r.response.status == 200);
}

TEST_CASE("a target that would break the request line is refused before anything is sent", "[net]") {
    http_test_server srv(ok_reply);
    for (const char* bad : {"/a b", "/x\r\nX-Injected: 1", "relative", ""}) {
        const http_result r = get_once(srv.origin(), bad);
        CHECK(r.error == http_error::protocol);
    }
    CHECK(srv.connections_accepted() == 0);
    auto opt = fast_options();
    opt.user_agent = "Mozilla\r\nX-Injected: 1";
    asio::io_context ioc;
    CHECK_THROWS_AS(net::http_client(ioc.get_executor(), net::parse_url(srv.origin()), opt), std::invalid_argument);
}

TEST_CASE("a closed port fails with connect", "[net]") {
    std::uint16_t port = 0;
    {
        asio::io_context tmp;
        asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
        port = a.local_endpoint().port();
    }
    const http_result r = get_once("http://127.0.0.1:" + std::to_string(port), "/");
    CHECK(r.error == http_error::connect);
    CHECK(r.detail.find("connect 127.0.0.1:" + std::to_string(port)) == 0);
}

TEST_CASE("a kept-alive connection the server dropped is retried once on a fresh one", "[net][concurrency]") {
    SECTION("the server closes connections idle for 50 ms") {
        test::http_test_server_options so;
        so.idle_timeout = 50ms;
        http_test_server srv(ok_reply, so);
        asio::io_context ioc;
        net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
        const auto rs = run(ioc, get_each(c, {"/1", "/2"}, 200ms));
        REQUIRE(rs[0].ok());
        INFO(rs[1].detail);
        REQUIRE(rs[1].ok());
        CHECK_FALSE(rs[1].response.reused);
        CHECK(c.connections_opened() == 2);
        CHECK(srv.requests_seen() == 2); // the dead connection never delivered the first try
    }
    SECTION("the server hangs up right after an answer without saying so") {
        http_test_server srv([](const http_request& r) {
            http_reply rep = ok_reply(r);
            rep.hang_up = r.sequence == 0;
            return rep;
        });
        asio::io_context ioc;
        net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
        const auto rs = run(ioc, get_each(c, {"/1", "/2", "/3"}, 20ms));
        for (const auto& r : rs) REQUIRE(r.ok());
        CHECK_FALSE(rs[1].response.reused);
        CHECK(rs[2].response.reused);
        CHECK(c.connections_opened() == 2);
    }
    SECTION("but only once: a server that drops every reused request gets two tries, then reset") {
        http_test_server srv([](const http_request& r) {
            return r.sequence == 0 ? ok_reply(r) : http_reply::failing(http_fault::close);
        });
        asio::io_context ioc;
        net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
        const auto rs = run(ioc, get_each(c, {"/1", "/2"}));
        REQUIRE(rs[0].ok());
        CHECK(rs[1].error == http_error::reset);
        CHECK(srv.requests_seen() == 3); // /1, /2 on the kept-alive connection, /2 again on a fresh one
        CHECK(c.connections_opened() == 2);
    }
}

TEST_CASE("an idle connection older than idle_timeout is not reused", "[net]") {
    http_test_server srv(ok_reply);
    asio::io_context ioc;
    auto opt = fast_options();
    opt.idle_timeout = 50ms;
    net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), opt);
    const auto rs = run(ioc, get_each(c, {"/1", "/2", "/3"}, 150ms));
    for (const auto& r : rs) {
        REQUIRE(r.ok());
        CHECK_FALSE(r.response.reused);
    }
    CHECK(c.connections_opened() == 3);
    CHECK(srv.connections_accepted() == 3);
}

TEST_CASE("HTTPS with the test CA works, with SNI for a host name and IP SAN matching for an address",
          "[net][concurrency]") {
    http_test_server srv(ok_reply, tls_server(certs().server_cert, certs().server_key));
    auto opt = fast_options();
    opt.tls.ca_file = certs().ca_cert.string();
    SECTION("by name: localhost") {
        asio::io_context ioc;
        net::http_client c(ioc.get_executor(), net::parse_url(srv.origin(true)), opt);
        const auto rs = run(ioc, get_each(c, {"/a", "/b"}));
        INFO(rs[0].detail);
        REQUIRE(rs[0].ok());
        REQUIRE(rs[1].ok());
        CHECK(rs[1].response.reused);
        CHECK(rs[0].response.body == R"({"target":"/a"})");
        CHECK(c.connections_opened() == 1);
        const auto seen = srv.requests();
        REQUIRE(seen.size() == 2);
        CHECK(seen[0].sni == "localhost");
        CHECK(seen[0].header("host") == "localhost:" + std::to_string(srv.port()));
    }
    SECTION("by address: 127.0.0.1") {
        const http_result r = get_once(srv.origin(), "/ip", opt);
        INFO(r.detail);
        REQUIRE(r.ok());
        const auto seen = srv.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].sni.empty()); // RFC 6066: no IP literals in SNI
    }
    SECTION("gzip over TLS") {
        http_test_server gz(
            [](const http_request&) { return http_reply::json(std::string(50000, 'y')).gzipped().in_chunks(); },
            tls_server(certs().server_cert, certs().server_key));
        const http_result r = get_once(gz.origin(true), "/gz", opt);
        REQUIRE(r.ok());
        CHECK(r.response.body == std::string(50000, 'y'));
    }
}

TEST_CASE("certificate verification fails closed with tls_handshake", "[net]") {
    auto opt = fast_options();
    opt.tls.ca_file = certs().ca_cert.string();
    SECTION("a certificate from the CA for another host name") {
        http_test_server srv(ok_reply, tls_server(certs().wrong_host_cert, certs().wrong_host_key));
        const std::string origin = GENERATE(true, false) ? srv.origin(true) : srv.origin();
        const http_result r = get_once(origin, "/", opt);
        INFO(r.detail);
        CHECK(r.error == http_error::tls_handshake);
        CHECK(r.detail.find("mismatch") != std::string::npos);
        CHECK(srv.requests_seen() == 0);
    }
    SECTION("an untrusted self-signed certificate") {
        http_test_server srv(ok_reply, tls_server(certs().self_signed_cert, certs().self_signed_key));
        const http_result r = get_once(srv.origin(), "/", opt);
        INFO(r.detail);
        CHECK(r.error == http_error::tls_handshake);
        CHECK(r.detail.find("self-signed") != std::string::npos);
        CHECK(srv.requests_seen() == 0);
    }
    SECTION("the system store does not trust the test CA") {
        http_test_server srv(ok_reply, tls_server(certs().server_cert, certs().server_key));
        auto system = fast_options();
        const http_result r = get_once(srv.origin(true), "/", system);
        INFO(r.detail);
        CHECK(r.error == http_error::tls_handshake);
    }
    SECTION("verify=false accepts the self-signed certificate") {
        http_test_server srv(ok_reply, tls_server(certs().self_signed_cert, certs().self_signed_key));
        auto lax = fast_options();
        lax.tls.verify = false;
        const http_result r = get_once(srv.origin(), "/", lax);
        INFO(r.detail);
        CHECK(r.ok());
    }
}

TEST_CASE("over TLS, faults classify as over plain HTTP and the keep-alive race is retried", "[net]") {
    auto opt = fast_options();
    opt.tls.ca_file = certs().ca_cert.string();
    SECTION("faults") {
        const auto [fault, expected] = GENERATE(
            std::pair{http_fault::truncate, http_error::truncated}, std::pair{http_fault::close, http_error::reset},
            std::pair{http_fault::reset, http_error::reset}, std::pair{http_fault::garbage, http_error::protocol});
        http_test_server srv(
            [fault = fault](const http_request&) {
                http_reply r = http_reply::json(std::string(5000, 'z'));
                r.fault = fault;
                return r;
            },
            tls_server(certs().server_cert, certs().server_key));
        const http_result r = get_once(srv.origin(true), "/f", opt);
        INFO("expected " << net::to_string(expected) << ", got " << r.detail);
        CHECK(r.error == expected);
    }
    SECTION("a kept-alive TLS connection the server dropped") {
        http_test_server srv(
            [](const http_request& r) {
                http_reply rep = ok_reply(r);
                rep.hang_up = r.sequence == 0;
                return rep;
            },
            tls_server(certs().server_cert, certs().server_key));
        asio::io_context ioc;
        net::http_client c(ioc.get_executor(), net::parse_url(srv.origin(true)), opt);
        const auto rs = run(ioc, get_each(c, {"/1", "/2"}, 20ms));
        REQUIRE(rs[0].ok());
        INFO(rs[1].detail);
        REQUIRE(rs[1].ok());
        CHECK_FALSE(rs[1].response.reused);
        CHECK(c.connections_opened() == 2);
    }
}

TEST_CASE("a missing CA file makes the client's construction throw with the path", "[net]") {
    asio::io_context ioc;
    auto opt = fast_options();
    opt.tls.ca_file = "/nonexistent/tapewire-ca.pem";
    try {
        net::http_client c(ioc.get_executor(), net::parse_url("https://localhost:1/"), opt);
        FAIL("no exception");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("/nonexistent/tapewire-ca.pem") != std::string::npos);
    }
    // A file without a certificate in it is refused too.
    opt.tls.ca_file = certs().server_key.string();
    CHECK_THROWS_WITH(net::http_client(ioc.get_executor(), net::parse_url("https://localhost:1/"), opt),
                      Catch::Contains(certs().server_key.string()));
    // Plain HTTP needs no CA.
    opt.tls.ca_file = "/nonexistent/tapewire-ca.pem";
    CHECK_NOTHROW(net::http_client(ioc.get_executor(), net::parse_url("http://localhost:1/"), opt));
}

TEST_CASE("a client destroyed with a request in flight lets the request finish", "[net]") {
    http_test_server srv([](const http_request& r) { return ok_reply(r).after(50ms); });
    asio::io_context ioc;
    std::optional<http_result> out;
    {
        net::http_client c(ioc.get_executor(), net::parse_url(srv.origin()), fast_options());
        asio::co_spawn(ioc, c.get("/late"), [&](std::exception_ptr e, http_result r) {
            REQUIRE_FALSE(e);
            out = std::move(r);
        });
        ioc.run_for(10ms); // connected and waiting for the answer
    }
    ioc.restart();
    ioc.run();
    REQUIRE(out.has_value());
    CHECK(out->ok());
    CHECK(out->response.body == R"({"target":"/late"})");
}
