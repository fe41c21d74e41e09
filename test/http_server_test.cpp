// The embedded HTTP server (src/http/): status codes, limits, the token, parameters, assets, event
// streams, and a `tapewire run` serving /healthz. The client side is plain sockets, so a test can
// send exactly the bytes it means (half a header, a body too big, a request and then silence).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "src/base/log.hpp"
#include "src/base/metrics.hpp"
#include "src/config/load.hpp"
#include "src/http/builtin_routes.hpp"
#include "src/http/server.hpp"
#include "test/child_process.hpp"

namespace tapewire {
namespace {

using namespace std::chrono_literals;

// ---- a client made of plain sockets ----------------------------------------------------------------

struct reply {
    unsigned status = 0;
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;

    [[nodiscard]] std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class connection {
public:
    explicit connection(std::uint16_t port, int receive_buffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        timeval tv{5, 0}; // a read that gets nothing for this long fails the test instead of hanging it
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    }
    ~connection() { ::close(fd_); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void send(const std::string& bytes) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return; // the server closed: the read that follows says how
            done += static_cast<std::size_t>(n);
        }
    }

    // Reads more bytes into the buffer; false at the end of the stream, an error or the timeout.
    bool fill() {
        char buf[16384];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            eof_ = n == 0;
            return false;
        }
        in_.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    // One response; for `head` the body is left out whatever Content-Length says.
    std::optional<reply> read_reply(bool head = false) {
        std::size_t end;
        while ((end = in_.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) return std::nullopt;
        reply r;
        const std::string head_text = in_.substr(0, end);
        in_.erase(0, end + 4);
        std::size_t at = head_text.find("\r\n");
        const std::string status_line = head_text.substr(0, at);
        r.status = static_cast<unsigned>(std::stoul(status_line.substr(9, 3)));
        while (at != std::string::npos) {
            const std::size_t next = head_text.find("\r\n", at + 2);
            const std::string line = head_text.substr(at + 2, next == std::string::npos ? next : next - at - 2);
            const auto colon = line.find(':');
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
            at = next;
        }
        if (head || r.status == 304) return r;
        if (const std::string cl = r.header("content-length"); !cl.empty()) {
            const std::size_t n = std::stoul(cl);
            while (in_.size() < n)
                if (!fill()) return std::nullopt;
            r.body = in_.substr(0, n);
            in_.erase(0, n);
        } else {
            while (fill()) {
            }
            r.body = std::move(in_);
            in_.clear();
        }
        return r;
    }

    // True when the server closed the connection: no more bytes within `wait`.
    bool closed_by_server(std::chrono::milliseconds wait = 3000ms) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        while (std::chrono::steady_clock::now() < deadline) {
            if (!fill()) return eof_ || errno == ECONNRESET;
        }
        return false;
    }

    std::string& pending() { return in_; }

private:
    int fd_ = -1;
    std::string in_;
    bool eof_ = false;
};

std::string get(const std::string& target, const std::string& extra_headers = "", const char* method = "GET") {
    return std::string(method) + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

std::optional<reply> ask(std::uint16_t port, const std::string& request, bool head = false) {
    connection c(port);
    c.send(request);
    return c.read_reply(head);
}

// ---- a server for the tests ------------------------------------------------------------------------

const http::embedded_asset k_assets[] = {
    {"/index.html", "text/html; charset=utf-8", "<h1>tapewire</h1>"},
    {"/app.js", "text/javascript; charset=utf-8", "console.log(1);"},
};

struct test_server {
    metrics_registry metrics;
    std::atomic<int> failures{0};
    std::unique_ptr<http::server> srv;

    explicit test_server(http::server_options opt = {}) {
        srv = std::make_unique<http::server>(opt, metrics, k_assets,
                                             [this](const std::string&, const std::string&) { ++failures; });
        http::add_builtin_routes(srv->routes(), metrics);
        srv->routes().add("/api/echo", [](const http::request& q) {
            const auto limit = q.param_int("limit", 1, 100, 10);
            const auto sym = q.param_symbol("symbol", "ALL");
            const auto sort = q.param_choice("sort", {"change", "volume"}, "change");
            return http::response::json("{\"limit\":" + std::to_string(limit) + ",\"symbol\":" + http::json_quote(sym) +
                                        ",\"sort\":\"" + sort + "\"}");
        });
        srv->routes().add("/events", [](const http::request& q) {
            return http::response::event_stream(q.param_list("symbols", 100));
        });
        srv->start();
    }
    ~test_server() {
        srv->stop();
        CHECK(failures.load() == 0);
    }

    [[nodiscard]] std::uint16_t port() const { return srv->address().port; }

    // Runs `fn` on the server's thread and waits for it.
    void on_thread(std::function<void()> fn) {
        std::atomic<bool> done{false};
        srv->post([&] {
            fn();
            done.store(true);
        });
        while (!done.load()) std::this_thread::sleep_for(1ms);
    }

    [[nodiscard]] std::int64_t gauge_value(const std::string& name) { return metrics.get_gauge(name).value(); }
    [[nodiscard]] std::uint64_t counter_value(const std::string& name) { return metrics.get_counter(name).value(); }
};

template <class Pred> bool eventually(Pred p, std::chrono::milliseconds wait = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
        if (p()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return p();
}

// ---- an event-stream reader ------------------------------------------------------------------------

struct sse_event {
    std::string event, data;
};

// Opens `target` as an event stream; the caller reads events with next().
class sse_reader {
public:
    sse_reader(std::uint16_t port, const std::string& target, int receive_buffer = 0) : c_(port, receive_buffer) {
        c_.send(get(target));
        const auto r = c_.read_reply(true);
        REQUIRE(r.has_value());
        status_ = r->status;
        content_type_ = r->header("content-type");
    }

    [[nodiscard]] unsigned status() const { return status_; }
    [[nodiscard]] const std::string& content_type() const { return content_type_; }

    // The next event (comments and the retry: line are passed over); nothing at the end or timeout.
    std::optional<sse_event> next() {
        for (;;) {
            std::size_t end;
            while ((end = c_.pending().find("\n\n")) == std::string::npos)
                if (!c_.fill()) return std::nullopt;
            const std::string block = c_.pending().substr(0, end + 1);
            c_.pending().erase(0, end + 2);
            sse_event e;
            std::size_t at = 0;
            while (at < block.size()) {
                const std::size_t nl = block.find('\n', at);
                const std::string line = block.substr(at, nl - at);
                at = nl + 1;
                if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
                if (line.rfind("data: ", 0) == 0) e.data += (e.data.empty() ? "" : "\n") + line.substr(6);
            }
            if (!e.event.empty()) return e;
        }
    }

    connection& conn() { return c_; }

private:
    connection c_;
    unsigned status_ = 0;
    std::string content_type_;
};

} // namespace

// ---- the cases -------------------------------------------------------------------------------------

TEST_CASE("/healthz answers 200 with a JSON status and no caching", "[http]") {
    test_server s;
    const auto r = ask(s.port(), get("/healthz"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "{\"status\":\"ok\"}");
    CHECK(r->header("content-type") == "application/json");
    CHECK(r->header("cache-control") == "no-store");
}

TEST_CASE("an unknown path is a 404 with a JSON error", "[http]") {
    test_server s;
    for (const char* path : {"/nope", "/api/echo/", "/../CMakeLists.txt", "/%2e%2e/etc/passwd", "/index.html/x"}) {
        INFO(path);
        const auto r = ask(s.port(), get(path));
        REQUIRE(r.has_value());
        CHECK(r->status == 404);
        CHECK(r->body.rfind("{\"error\":\"no such path: ", 0) == 0);
    }
}

TEST_CASE("methods other than GET and HEAD get 405 with Allow", "[http]") {
    test_server s;
    for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
        INFO(method);
        const auto r = ask(s.port(), get("/healthz", "Content-Length: 0\r\n", method));
        REQUIRE(r.has_value());
        CHECK(r->status == 405);
        CHECK(r->header("allow") == "GET, HEAD");
        CHECK(r->body.find("not allowed") != std::string::npos);
    }
}

TEST_CASE("HEAD answers GET's headers without a body", "[http]") {
    test_server s;
    connection c(s.port());
    c.send(get("/healthz", "", "HEAD") + get("/healthz")); // pipelined: the GET must come right after
    const auto head = c.read_reply(true);
    REQUIRE(head.has_value());
    CHECK(head->status == 200);
    CHECK(head->header("content-length") == "15");
    CHECK(head->header("content-type") == "application/json");
    const auto body = c.read_reply();
    REQUIRE(body.has_value());
    CHECK(body->body == "{\"status\":\"ok\"}"); // no stray body bytes from the HEAD before it
}

TEST_CASE("keep-alive serves several requests on one connection", "[http]") {
    test_server s;
    connection c(s.port());
    for (int i = 0; i < 5; ++i) {
        c.send(get("/api/echo?limit=" + std::to_string(i + 1)));
        const auto r = c.read_reply();
        REQUIRE(r.has_value());
        CHECK(r->body == "{\"limit\":" + std::to_string(i + 1) + ",\"symbol\":\"ALL\",\"sort\":\"change\"}");
    }
    CHECK(s.counter_value("http_requests_total{code=\"200\"}") == 5);
}

TEST_CASE("with a token every path but /healthz needs it", "[http]") {
    http::server_options o;
    o.http.token = "s3cret-token";
    test_server s(o);
    const auto without = ask(s.port(), get("/metrics"));
    REQUIRE(without.has_value());
    CHECK(without->status == 401);
    CHECK(without->header("www-authenticate") == "Bearer");
    for (const char* wrong :
         {"Bearer s3cret-tokem", "Bearer s3cret", "Bearer s3cret-token-and-more", "Basic czNjcmV0", "Bearer "}) {
        INFO(wrong);
        const auto r = ask(s.port(), get("/metrics", "Authorization: " + std::string(wrong) + "\r\n"));
        REQUIRE(r.has_value());
        CHECK(r->status == 401);
    }
    const auto unknown = ask(s.port(), get("/secret-place"));
    REQUIRE(unknown.has_value());
    CHECK(unknown->status == 401); // a path's existence is not told without the token
    const auto right = ask(s.port(), get("/metrics", "Authorization: Bearer s3cret-token\r\n"));
    REQUIRE(right.has_value());
    CHECK(right->status == 200);
    const auto lower = ask(s.port(), get("/", "Authorization: bearer s3cret-token\r\n"));
    REQUIRE(lower.has_value());
    CHECK(lower->status == 200);
    const auto health = ask(s.port(), get("/healthz"));
    REQUIRE(health.has_value());
    CHECK(health->status == 200);
}

TEST_CASE("a request larger than max_request_bytes gets 413 and the connection closes", "[http]") {
    http::server_options o;
    o.http.max_request_bytes = 2048;
    test_server s(o);
    SECTION("headers") {
        connection c(s.port());
        c.send(get("/healthz", "X-Padding: " + std::string(4096, 'x') + "\r\n"));
        const auto r = c.read_reply();
        REQUIRE(r.has_value());
        CHECK(r->status == 413);
        CHECK(r->body.find("http.max_request_bytes") != std::string::npos);
        CHECK(c.closed_by_server());
    }
    SECTION("a body") {
        const auto r = ask(s.port(), get("/healthz", "Content-Length: 100000\r\n") + std::string(100000, 'b'));
        REQUIRE(r.has_value());
        CHECK(r->status == 413);
    }
    SECTION("just under the limit is served") {
        const auto r = ask(s.port(), get("/healthz", "X-Padding: " + std::string(1800, 'x') + "\r\n"));
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
}

TEST_CASE("a client that sends its headers too slowly is disconnected unanswered", "[http]") {
    http::server_options o;
    o.http.header_timeout = 300ms;
    test_server s(o);
    SECTION("half a request, then silence") {
        connection c(s.port());
        c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
        const auto t0 = std::chrono::steady_clock::now();
        CHECK(c.closed_by_server());
        CHECK(std::chrono::steady_clock::now() - t0 < 2s);
        CHECK(c.pending().empty()); // no answer at all
    }
    SECTION("a byte now and then does not keep it open (slowloris)") {
        connection c(s.port());
        const std::string req = get("/healthz", "X-Slow: " + std::string(40, 'z') + "\r\n");
        const auto t0 = std::chrono::steady_clock::now();
        bool cut = false;
        for (std::size_t i = 0; i < req.size() && !cut; ++i) {
            c.send(req.substr(i, 1));
            std::this_thread::sleep_for(50ms);
            cut = std::chrono::steady_clock::now() - t0 > 1s;
        }
        CHECK(c.closed_by_server());
        CHECK(c.pending().empty());
    }
    SECTION("idle between requests is idle_timeout's, not header_timeout's") {
        connection c(s.port());
        c.send(get("/healthz"));
        REQUIRE(c.read_reply().has_value());
        std::this_thread::sleep_for(600ms); // past header_timeout, within idle_timeout (60 s)
        c.send(get("/healthz"));
        const auto r = c.read_reply();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
}

TEST_CASE("an idle kept-alive connection is closed after idle_timeout", "[http]") {
    http::server_options o;
    o.http.idle_timeout = 300ms;
    test_server s(o);
    connection c(s.port());
    c.send(get("/healthz"));
    REQUIRE(c.read_reply().has_value());
    CHECK(c.closed_by_server());
}

TEST_CASE("connections beyond max_connections get 503 and are closed", "[http]") {
    http::server_options o;
    o.http.max_connections = 2;
    test_server s(o);
    auto a = std::make_unique<connection>(s.port());
    connection b(s.port());
    for (connection* c : {a.get(), &b}) {
        c->send(get("/healthz"));
        const auto r = c->read_reply();
        REQUIRE(r.has_value());
        CHECK(r->status == 200);
    }
    {
        connection third(s.port());
        third.send(get("/healthz"));
        const auto r = third.read_reply();
        REQUIRE(r.has_value());
        CHECK(r->status == 503);
        CHECK(r->header("connection") == "close");
        CHECK(r->body.find("http.max_connections") != std::string::npos);
        CHECK(third.closed_by_server());
    }
    CHECK(s.counter_value("http_connections_refused_total") == 1);
    a.reset(); // a slot frees once the server has seen the close
    REQUIRE(eventually([&] { return s.gauge_value("http_connections") == 1; }));
    const auto r = ask(s.port(), get("/healthz"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
}

TEST_CASE("a bad, unknown or repeated parameter is a 400 naming it", "[http]") {
    test_server s;
    const auto expect_400 = [&](const std::string& target, const std::string& says) {
        INFO(target);
        const auto r = ask(s.port(), get(target));
        REQUIRE(r.has_value());
        CHECK(r->status == 400);
        CHECK(r->header("content-type") == "application/json");
        CHECK(r->body.rfind("{\"error\":\"" + says, 0) == 0);
    };
    expect_400("/api/echo?limit=abc", "limit: must be an integer from 1 to 100, got \\\"abc\\\"");
    expect_400("/api/echo?limit=0", "limit: must be an integer from 1 to 100");
    expect_400("/api/echo?limit=101", "limit: must be an integer from 1 to 100");
    expect_400("/api/echo?limit=", "limit: must be an integer");
    expect_400("/api/echo?limit=5&limit=6", "limit: given twice");
    expect_400("/api/echo?limt=5", "limt: unknown parameter");
    expect_400("/api/echo?symbol=WAY-TOO-LONG-A-SYMBOL", "symbol: a symbol is at most 15 bytes");
    expect_400("/api/echo?symbol=A%2CB", "symbol: a symbol holds printable characters");
    expect_400("/api/echo?sort=name", "sort: must be one of change, volume, got \\\"name\\\"");
    expect_400("/api/echo?limit=%zz", "query: malformed percent escape");
    expect_400("/events?symbols=A,A", "symbols: \\\"A\\\" is listed twice");
    const auto ok = ask(s.port(), get("/api/echo?limit=7&symbol=%5EGSPC&sort=volume"));
    REQUIRE(ok.has_value());
    CHECK(ok->status == 200);
    CHECK(ok->body == "{\"limit\":7,\"symbol\":\"^GSPC\",\"sort\":\"volume\"}");
}

TEST_CASE("assets are served from the compiled-in table only", "[http]") {
    test_server s;
    const auto index = ask(s.port(), get("/"));
    REQUIRE(index.has_value());
    CHECK(index->status == 200);
    CHECK(index->body == "<h1>tapewire</h1>");
    CHECK(index->header("content-type") == "text/html; charset=utf-8");
    const std::string etag = index->header("etag");
    CHECK_FALSE(etag.empty());
    const auto again = ask(s.port(), get("/index.html?v=2", "If-None-Match: " + etag + "\r\n"));
    REQUIRE(again.has_value());
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    const auto js = ask(s.port(), get("/app.js"));
    REQUIRE(js.has_value());
    CHECK(js->header("content-type") == "text/javascript; charset=utf-8");
    CHECK(js->body == "console.log(1);");
}

TEST_CASE("the binary's own assets include a page that links the API", "[http]") {
    const auto assets = http::web_assets();
    const auto index =
        std::find_if(assets.begin(), assets.end(), [](const auto& a) { return a.path == "/index.html"; });
    REQUIRE(index != assets.end());
    CHECK(index->content_type == "text/html; charset=utf-8");
    CHECK(index->bytes.find("href=\"/metrics\"") != std::string_view::npos);
    CHECK(index->bytes.find("href=\"/api/status\"") != std::string_view::npos);
}

TEST_CASE("/metrics lists the registry as Prometheus text", "[http]") {
    test_server s;
    s.metrics.get_counter("widgets_total{kind=\"blue\"}").add(3);
    s.metrics.get_histogram("wait_ns{site=\"x\"}").record(1000);
    const auto r = ask(s.port(), get("/metrics"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->header("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
    CHECK(r->body.find("# TYPE widgets_total counter\n") != std::string::npos);
    CHECK(r->body.find("widgets_total{kind=\"blue\"} 3\n") != std::string::npos);
    CHECK(r->body.find("wait_seconds_count{site=\"x\"} 1\n") != std::string::npos);
    CHECK(r->body.find("wait_seconds_sum{site=\"x\"} 1e-06\n") != std::string::npos);
}

TEST_CASE("an event stream delivers published events in order, filtered by key", "[http][sse]") {
    test_server s;
    sse_reader all(s.port(), "/events");
    sse_reader only_b(s.port(), "/events?symbols=B");
    CHECK(all.status() == 200);
    CHECK(all.content_type() == "text/event-stream");
    REQUIRE(eventually([&] { return s.gauge_value("http_sse_clients") == 2; }));
    s.on_thread([&] {
        for (int i = 0; i < 200; ++i)
            s.srv->hub().publish(i % 2 == 0 ? "bar" : "alert", "{\"n\":" + std::to_string(i) + "}",
                                 i % 2 == 0 ? "A" : "B");
        s.srv->hub().publish("status", "line one\nline two"); // no key: everyone
    });
    for (int i = 0; i < 200; ++i) {
        const auto e = all.next();
        REQUIRE(e.has_value());
        CHECK(e->event == (i % 2 == 0 ? "bar" : "alert"));
        CHECK(e->data == "{\"n\":" + std::to_string(i) + "}");
    }
    for (int i = 1; i < 200; i += 2) {
        const auto e = only_b.next();
        REQUIRE(e.has_value());
        CHECK(e->data == "{\"n\":" + std::to_string(i) + "}");
    }
    for (sse_reader* r : {&all, &only_b}) {
        const auto e = r->next();
        REQUIRE(e.has_value());
        CHECK(e->event == "status");
        CHECK(e->data == "line one\nline two");
    }
}

TEST_CASE("a client that stops reading its stream is dropped and counted; the others keep receiving", "[http][sse]") {
    http::server_options o;
    o.sse_queue_frames = 32;
    test_server s(o);
    sse_reader fast(s.port(), "/events");
    sse_reader slow(s.port(), "/events", 4096); // never reads again
    REQUIRE(eventually([&] { return s.gauge_value("http_sse_clients") == 2; }));

    const std::string payload(16 * 1024, 'p');
    int published = 0;
    // Batches the fast reader takes in full before the next: only the slow one falls behind. The
    // kernel's socket buffers hold some MB for the slow one before its queue starts to fill.
    for (int batch = 0; batch < 2000 && s.counter_value("http_sse_dropped_total") == 0; ++batch) {
        s.on_thread([&] {
            for (int i = 0; i < 16; ++i, ++published)
                s.srv->hub().publish("bar", std::to_string(published) + " " + payload);
        });
        for (int i = published - 16; i < published; ++i) {
            const auto e = fast.next();
            REQUIRE(e.has_value());
            REQUIRE(e->data.rfind(std::to_string(i) + " ", 0) == 0);
        }
    }
    CHECK(s.counter_value("http_sse_dropped_total") == 1);
    REQUIRE(eventually([&] { return s.gauge_value("http_sse_clients") == 1; }));
    s.on_thread([&] { s.srv->hub().publish("alert", "after the drop"); });
    const auto e = fast.next();
    REQUIRE(e.has_value());
    CHECK(e->data == "after the drop");
    // The slow one finds its stream cut short once it reads what the kernel kept for it.
    bool ended = false;
    for (int i = 0; i < 100000 && !ended; ++i) ended = !slow.next().has_value();
    CHECK(ended);
}

TEST_CASE("an idle event stream gets a heartbeat comment", "[http][sse]") {
    http::server_options o;
    o.sse_heartbeat = 50ms;
    test_server s(o);
    sse_reader r(s.port(), "/events");
    const auto t0 = std::chrono::steady_clock::now();
    while (r.conn().pending().find(": heartbeat\n\n") == std::string::npos && r.conn().fill()) {
    }
    CHECK(r.conn().pending().find("retry: 2000\n\n") == 0);
    CHECK(r.conn().pending().find(": heartbeat\n\n") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("event streams beyond max_sse_clients get 503", "[http][sse]") {
    http::server_options o;
    o.http.max_sse_clients = 1;
    test_server s(o);
    sse_reader first(s.port(), "/events");
    CHECK(first.status() == 200);
    const auto second = ask(s.port(), get("/events"));
    REQUIRE(second.has_value());
    CHECK(second->status == 503);
    CHECK(second->body.find("http.max_sse_clients") != std::string::npos);
}

TEST_CASE("a port already taken is an error naming http.listen", "[http]") {
    test_server s;
    http::server_options o;
    o.http.listen = "127.0.0.1:" + std::to_string(s.port());
    metrics_registry m;
    try {
        http::server second(o, m, k_assets, {});
        FAIL("a second server bound the same port");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).rfind("http.listen: cannot listen on 127.0.0.1:" + std::to_string(s.port()), 0) ==
              0);
    }
    o.http.listen = "nowhere:80";
    CHECK_THROWS_WITH(http::server(o, m, k_assets, {}), Catch::Contains("http.listen: bad listen address"));
}

TEST_CASE("[http] keys are validated with file, line and key, and the token is never shown", "[http][config]") {
    const config c = load_config_text("[http]\nlisten = \"[::1]:9090\"\ntoken = \"abc\"\nmax_connections = 8\n"
                                      "header_timeout = \"2s\"\n",
                                      "h.toml");
    CHECK(c.http.listen == "[::1]:9090");
    CHECK(c.http.max_connections == 8);
    CHECK(c.http.header_timeout == std::chrono::seconds(2));
    CHECK(default_config().http.listen == "127.0.0.1:8080");
    const std::string shown = describe_config(c);
    CHECK(shown.find("abc") == std::string::npos);
    CHECK(shown.find("token = \"(hidden)\"") != std::string::npos);

    const auto error_of = [](const std::string& text) {
        try {
            (void)load_config_text(text, "h.toml");
        } catch (const config_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(error_of("[http]\nlisten = \"127.0.0.1:70000\"\n").rfind("h.toml:2: http.listen: bad listen address", 0) ==
          0);
    CHECK(error_of("\n[http]\nlisten = \"example.com:80\"\n").find("h.toml:3: http.listen: ") == 0);
    CHECK(error_of("[http]\nlisten = \"8080\"\n").find("expected host:port") != std::string::npos);
    CHECK(error_of("[http]\nmax_connections = 0\n") == "h.toml:2: http.max_connections: must be greater than 0");
    CHECK(error_of("[http]\nidle_timeout = 5\n").rfind("h.toml:2: http.idle_timeout: expected a duration", 0) == 0);
    CHECK(load_config_text("[http]\nlisten = \"\"\n", "h.toml").http.listen.empty());
    CHECK(net::parse_listen_address("localhost:0").text() == "127.0.0.1:0");
    CHECK(net::parse_listen_address("[::1]:8080").text() == "[::1]:8080");
}

TEST_CASE("tapewire run serves /healthz and /metrics while it runs", "[http][e2e]") {
    using namespace tapewire::test;
    const std::string tag = "http_run_e2e";
    child_process child;
    child.spawn(tapewire_cmd({"run", "--set", "kafka.brokers=", "--set", "sink.path=" + tag + ".ndjson", "--set",
                              "source.rate=2000", "--set", "log.format=json"}),
                "", tag + ".stdout", tag + ".stderr");
    REQUIRE(wait_for_record(tag + ".stderr", "http", "address", 20s));
    const auto records = log_records(read_file(tag + ".stderr"), "http", "address");
    const std::string address = records.front().text("address");
    INFO(address);
    REQUIRE(address.rfind("127.0.0.1:", 0) == 0);
    CHECK(records.front().text("dashboard") == "http://" + address + "/");
    const auto port = static_cast<std::uint16_t>(std::stoi(address.substr(address.find(':') + 1)));
    CHECK(port != 0);

    const auto health = ask(port, get("/healthz"));
    REQUIRE(health.has_value());
    CHECK(health->status == 200);
    CHECK(health->body == "{\"status\":\"ok\"}");
    const auto metrics = ask(port, get("/metrics"));
    REQUIRE(metrics.has_value());
    CHECK(metrics->status == 200);
    const auto index = ask(port, get("/"));
    REQUIRE(index.has_value());
    CHECK(index->body.find("tapewire is running") != std::string::npos);

    child.signal(SIGINT);
    const exit_status st = child.wait(30s);
    INFO(read_file(tag + ".stderr"));
    CHECK(st.ok());
}

TEST_CASE("tapewire run stops at start when http.listen is taken", "[http][e2e]") {
    using namespace tapewire::test;
    test_server s;
    const std::string tag = "http_taken_e2e";
    const command_result r =
        run_command({TAPEWIRE_BINARY, "run", "--ticks", "1000", "--set", "kafka.brokers=", "--set",
                     "sink.path=" + tag + ".ndjson", "--set", "http.listen=127.0.0.1:" + std::to_string(s.port())},
                    tag);
    INFO(r.err);
    CHECK(r.status.exited);
    CHECK(r.status.code == 1);
    CHECK(r.err.find("http.listen: cannot listen on 127.0.0.1:" + std::to_string(s.port())) != std::string::npos);
}

} // namespace tapewire
