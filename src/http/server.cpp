#include "src/http/server.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "src/base/log.hpp"
#include "src/net/io_thread.hpp"

namespace tapewire::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto k_use = asio::use_awaitable;
// Accept errors such as EMFILE repeat at once: wait this long before the next accept.
constexpr auto k_accept_retry = std::chrono::milliseconds(50);
// How long stop() lets the server's thread close its connections.
constexpr auto k_stop_grace = std::chrono::seconds(1);

// Equal without an early exit, so the time taken does not tell how much of a guess was right.
bool constant_time_equal(std::string_view given, std::string_view expected) noexcept {
    unsigned diff = given.size() == expected.size() ? 0u : 1u;
    for (std::size_t i = 0; i < expected.size(); ++i)
        diff |= static_cast<unsigned char>(expected[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
    return diff == 0;
}

// The token of "Authorization: Bearer <token>" ("" when the header is absent or another scheme).
std::string_view bearer_token(std::string_view header) {
    constexpr std::string_view k_scheme = "bearer";
    if (header.size() <= k_scheme.size() || !beast::iequals(header.substr(0, k_scheme.size()), k_scheme) ||
        header[k_scheme.size()] != ' ')
        return {};
    header.remove_prefix(k_scheme.size());
    while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
    while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
    return header;
}

// FNV-1a: an asset's ETag, fixed for the life of the binary.
std::string etag_of(std::string_view bytes) {
    std::uint64_t h = 14695981039346656037ULL;
    for (const unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
    char buf[24];
    std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
    return buf;
}

struct asset_entry {
    const embedded_asset* asset;
    std::string etag;
};

} // namespace

struct session;

// Declared in the order they must outlive each other: sessions (owned by the io_context's pending
// operations) use the hub, the router and the counters, so those go last.
struct server::impl {
    server_options opt;
    metrics_registry& metrics;
    router routes;
    sse_hub hub;
    std::map<std::string, asset_entry, std::less<>> assets;
    error_handler on_error;

    gauge& open_gauge;
    counter& refused;
    std::map<unsigned, counter*> by_status; // the server's thread only
    std::size_t open = 0;                   // sessions serving requests (the server's thread only)
    std::size_t refusing = 0;               // sessions answering 503 beyond max_connections
    std::set<session*> sessions;            // to close them on stop()

    struct periodic {
        duration period;
        std::function<void()> fn;
    };
    std::vector<periodic> timers;

    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    net::listen_address bound;
    std::vector<std::unique_ptr<asio::steady_timer>> running_timers;
    std::optional<net::io_thread> thread;
    bool started = false;
    bool stopped = false;

    impl(server_options o, metrics_registry& m, std::span<const embedded_asset> files, error_handler e)
        : opt(std::move(o)), metrics(m), hub(opt.http.max_sse_clients, opt.sse_queue_frames, m), on_error(std::move(e)),
          open_gauge(m.get_gauge("http_connections", "HTTP connections open now")),
          refused(m.get_counter("http_connections_refused_total",
                                "HTTP connections beyond http.max_connections (answered 503 or closed)")) {
        for (const auto& a : files) assets.emplace(std::string(a.path), asset_entry{&a, etag_of(a.bytes)});
    }

    counter& requests(unsigned status) {
        auto it = by_status.find(status);
        if (it == by_status.end())
            it = by_status
                     .emplace(status,
                              &metrics.get_counter("http_requests_total{code=\"" + std::to_string(status) + "\"}",
                                                   "HTTP requests answered, by status"))
                     .first;
        return *it->second;
    }

    void listen();
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> tick(asio::steady_timer& t, duration period, std::function<void()> fn);
    void close_all();

    // Rethrows what escaped a coroutine so that it leaves io_context::run and reaches the runner.
    static void rethrow(const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
    }
};

// One connection: requests in turn (keep-alive), then possibly an event stream.
struct session : std::enable_shared_from_this<session> {
    server::impl& srv;
    tcp::socket socket;
    asio::steady_timer watchdog; // closes the socket once `deadline` passes
    asio::steady_timer signal;   // an event stream's writer sleeps on it until a frame is queued
    clock_type::time_point deadline = clock_type::time_point::max();
    beast::flat_buffer buffer;
    const bool refuse; // beyond max_connections: answer 503 and close
    bool closed = false;

    session(server::impl& s, tcp::socket sock, bool refusing)
        : srv(s), socket(std::move(sock)), watchdog(srv.io), signal(srv.io), refuse(refusing) {
        ++(refuse ? srv.refusing : srv.open);
        srv.open_gauge.set(static_cast<std::int64_t>(srv.open + srv.refusing));
        srv.sessions.insert(this);
    }
    ~session() {
        --(refuse ? srv.refusing : srv.open);
        srv.open_gauge.set(static_cast<std::int64_t>(srv.open + srv.refusing));
        srv.sessions.erase(this);
    }

    void close() {
        if (closed) return;
        closed = true;
        error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
        watchdog.cancel();
        signal.cancel();
    }

    // The connection closes at `in` from now unless arm() or disarm() is called before.
    void arm(duration in) {
        deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(in);
        if (deadline < watchdog.expiry()) watchdog.cancel(); // wake it to wait for the sooner time
    }
    void disarm() { deadline = clock_type::time_point::max(); }

    // Each coroutine takes the session as a parameter: its frame, made before it first runs, keeps
    // the session alive.
    asio::awaitable<void> watch([[maybe_unused]] std::shared_ptr<session> self) {
        while (!closed) {
            if (deadline <= clock_type::now()) {
                close();
                break;
            }
            watchdog.expires_at(deadline);
            error_code ec;
            co_await watchdog.async_wait(asio::redirect_error(k_use, ec));
        }
    }

    asio::awaitable<void> serve(std::shared_ptr<session> self);
    asio::awaitable<void> stream(std::shared_ptr<sse_subscriber> sub, bool head);
    asio::awaitable<void> drain_reads(std::shared_ptr<session> self);

    // The answer to one request; `close_after` is set when the connection must end after it.
    response answer(const bh::request<bh::string_body>& req, bool& close_after);
    template <class Body> asio::awaitable<bool> send(bh::response<Body>& res);
};

response session::answer(const bh::request<bh::string_body>& req, bool& close_after) {
    if (refuse) {
        close_after = true;
        srv.refused.add();
        response r = response::error(503, "too many connections (http.max_connections)");
        r.headers.emplace_back("Retry-After", "1");
        return r;
    }
    if (req.method() != bh::verb::get && req.method() != bh::verb::head) {
        response r = response::error(405, "method " + std::string(req.method_string()) + " not allowed");
        r.headers.emplace_back("Allow", "GET, HEAD");
        return r;
    }
    const std::string_view target = req.target();
    if (target.empty() || target.front() != '/') return response::error(400, "the target must be a path");
    std::optional<request> parsed;
    try {
        parsed.emplace(target);
    } catch (const bad_request& e) {
        return response::error(400, e.what());
    }
    const std::string& path = parsed->path();
    if (!srv.opt.http.token.empty() && path != "/healthz") {
        const auto it = req.find(bh::field::authorization);
        const std::string_view given = it == req.end() ? std::string_view{} : bearer_token(it->value());
        if (!constant_time_equal(given, srv.opt.http.token)) {
            response r =
                response::error(401, given.empty() ? "a token is needed (Authorization: Bearer ...)" : "wrong token");
            r.headers.emplace_back("WWW-Authenticate", "Bearer");
            return r;
        }
    }
    if (srv.routes.has(path)) return srv.routes.handle(*parsed);

    const auto asset = srv.assets.find(path == "/" ? std::string_view("/index.html") : std::string_view(path));
    if (asset == srv.assets.end()) return response::error(404, "no such path: " + path);
    // An asset ignores its query: a cache-busting "?v=2" is harmless.
    response r;
    r.cacheable = true;
    r.content_type = std::string(asset->second.asset->content_type);
    r.headers.emplace_back("ETag", asset->second.etag);
    r.headers.emplace_back("Cache-Control", "no-cache"); // revalidate: a new binary may serve new bytes
    if (const auto inm = req.find(bh::field::if_none_match); inm != req.end() && inm->value() == asset->second.etag) {
        r.status = 304;
        return r;
    }
    r.body = std::string(asset->second.asset->bytes);
    return r;
}

template <class Body> asio::awaitable<bool> session::send(bh::response<Body>& res) {
    arm(srv.opt.http.idle_timeout);
    error_code ec;
    co_await bh::async_write(socket, res, asio::redirect_error(k_use, ec));
    disarm();
    co_return !ec;
}

asio::awaitable<void> session::serve(std::shared_ptr<session> self) {
    asio::co_spawn(srv.io, watch(self), server::impl::rethrow);
    arm(srv.opt.http.header_timeout); // the first request: from accept
    bool first = true;
    while (!closed) {
        error_code ec;
        if (!first && buffer.size() == 0) {
            // Between requests: wait for the next one's first byte, then give it header_timeout.
            arm(srv.opt.http.idle_timeout);
            co_await socket.async_wait(tcp::socket::wait_read, asio::redirect_error(k_use, ec));
            if (ec || closed) break;
            arm(srv.opt.http.header_timeout);
        } else if (!first) {
            arm(srv.opt.http.header_timeout); // a pipelined request already (partly) read
        }
        first = false;
        bh::request_parser<bh::string_body> parser;
        parser.header_limit(srv.opt.http.max_request_bytes);
        parser.body_limit(srv.opt.http.max_request_bytes);
        const std::size_t n = co_await bh::async_read(socket, buffer, parser, asio::redirect_error(k_use, ec));
        disarm();
        if (closed) break;

        response r;
        bool close_after = false;
        unsigned version = 11;
        bool head = false;
        if (ec == bh::error::header_limit || ec == bh::error::body_limit || ec == bh::error::buffer_overflow ||
            (!ec && n > srv.opt.http.max_request_bytes)) {
            r = response::error(413, "request larger than " + std::to_string(srv.opt.http.max_request_bytes) +
                                         " bytes (http.max_request_bytes)");
            close_after = true;
        } else if (ec == bh::error::end_of_stream) {
            break; // the client closed between requests
        } else if (ec) {
            if (ec != asio::error::operation_aborted && ec != asio::error::eof && !closed && parser.got_some()) {
                r = response::error(400, "malformed request: " + ec.message());
                close_after = true;
            } else {
                break;
            }
        } else {
            const auto& req = parser.get();
            version = req.version();
            head = req.method() == bh::verb::head;
            close_after = !req.keep_alive();
            r = answer(req, close_after);
        }
        if (r.stream) {
            auto sub = srv.hub.attach(
                std::move(r.stream_keys),
                [w = weak_from_this()] {
                    if (auto s = w.lock()) s->signal.cancel();
                },
                [w = weak_from_this()] {
                    if (auto s = w.lock()) s->close();
                });
            if (sub) {
                srv.requests(r.status).add();
                co_await stream(std::move(sub), head);
                break;
            }
            r = response::error(503, "too many event streams (http.max_sse_clients)");
            r.headers.emplace_back("Retry-After", "5");
        }
        srv.requests(r.status).add();

        bh::response<bh::string_body> res{static_cast<bh::status>(r.status), version};
        res.set(bh::field::server, "tapewire");
        res.set(bh::field::content_type, r.content_type);
        res.set("X-Content-Type-Options", "nosniff");
        if (!r.cacheable) res.set(bh::field::cache_control, "no-store");
        for (const auto& [name, value] : r.headers) res.set(name, value);
        res.keep_alive(!close_after);
        if (head) {
            bh::response<bh::empty_body> h{res.base()};
            h.content_length(r.status == 304 ? 0 : r.body.size());
            if (!co_await send(h)) break;
        } else {
            if (r.status != 304) res.body() = std::move(r.body);
            res.prepare_payload();
            if (!co_await send(res)) break;
        }
        if (close_after) break;
    }
    close();
}

asio::awaitable<void> session::drain_reads([[maybe_unused]] std::shared_ptr<session> self) {
    char scratch[512];
    for (;;) {
        error_code ec;
        co_await socket.async_read_some(asio::buffer(scratch), asio::redirect_error(k_use, ec));
        if (ec) break;
    }
    close(); // the client went away
}

asio::awaitable<void> session::stream(std::shared_ptr<sse_subscriber> sub, bool head) {
    bh::response<bh::empty_body> res{bh::status::ok, 11};
    res.set(bh::field::server, "tapewire");
    res.set(bh::field::content_type, "text/event-stream");
    res.set(bh::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Accel-Buffering", "no"); // nginx in front: pass each event on at once
    res.keep_alive(false);              // the stream is the rest of the connection
    if (!co_await send(res) || head) {
        srv.hub.detach(sub.get());
        co_return;
    }
    asio::co_spawn(srv.io, drain_reads(shared_from_this()), server::impl::rethrow);
    static const std::string k_hello = "retry: 2000\n\n"; // EventSource: reconnect after 2 s
    arm(srv.opt.http.idle_timeout);
    error_code ec;
    co_await asio::async_write(socket, asio::buffer(k_hello), asio::redirect_error(k_use, ec));
    disarm();
    while (!ec && !closed && !sub->dropped) {
        if (sub->queue.empty()) {
            signal.expires_at(clock_type::time_point::max());
            co_await signal.async_wait(asio::redirect_error(k_use, ec));
            ec = {};
            continue;
        }
        const sse_frame frame = sub->queue.front(); // stays queued while it is written: it counts
        arm(srv.opt.http.idle_timeout);
        co_await asio::async_write(socket, asio::buffer(*frame), asio::redirect_error(k_use, ec));
        disarm();
        if (!sub->queue.empty()) sub->queue.pop_front();
    }
    srv.hub.detach(sub.get());
    close();
}

void server::impl::listen() {
    net::listen_address at;
    try {
        at = net::parse_listen_address(opt.http.listen);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error("http.listen: " + std::string(e.what()));
    }
    error_code ec;
    const auto fail = [&](const char* what) {
        throw std::runtime_error("http.listen: cannot " + std::string(what) + " " + at.text() + ": " + ec.message());
    };
    const tcp::endpoint ep(asio::ip::make_address(at.host, ec), at.port);
    if (ec) fail("parse");
    acceptor.open(ep.protocol(), ec);
    if (ec) fail("open a socket for");
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor.bind(ep, ec);
    if (ec) fail("listen on");
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail("listen on");
    bound = at;
    bound.port = acceptor.local_endpoint().port();
}

asio::awaitable<void> server::impl::accept_loop() {
    asio::steady_timer pause(io);
    while (acceptor.is_open()) {
        error_code ec;
        tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(k_use, ec));
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        if (ec) {
            log::warn("http", "accept failed", {{"error", ec.message()}});
            pause.expires_after(k_accept_retry);
            co_await pause.async_wait(asio::redirect_error(k_use, ec));
            continue;
        }
        const bool refuse = open >= opt.http.max_connections;
        if (refuse && refusing >= opt.http.max_connections) {
            refused.add();
            error_code ignored;
            sock.close(ignored);
            continue;
        }
        auto s = std::make_shared<session>(*this, std::move(sock), refuse);
        asio::co_spawn(io, s->serve(s), rethrow);
    }
}

asio::awaitable<void> server::impl::tick(asio::steady_timer& t, duration period, std::function<void()> fn) {
    for (;;) {
        t.expires_after(period);
        error_code ec;
        co_await t.async_wait(asio::redirect_error(k_use, ec));
        if (ec || !acceptor.is_open()) co_return;
        fn();
    }
}

void server::impl::close_all() {
    error_code ignored;
    acceptor.close(ignored);
    for (auto& t : running_timers) t->cancel();
    const std::vector<session*> all(sessions.begin(), sessions.end());
    for (session* s : all) s->close();
}

server::server(server_options opt, metrics_registry& metrics, std::span<const embedded_asset> assets,
               error_handler on_error)
    : impl_(std::make_unique<impl>(std::move(opt), metrics, assets, std::move(on_error))) {
    impl_->listen();
}

server::~server() { stop(); }

router& server::routes() noexcept { return impl_->routes; }

void server::every(duration period, std::function<void()> fn) {
    if (impl_->started) throw std::logic_error("http::server::every after start()");
    impl_->timers.push_back({period, std::move(fn)});
}

void server::start() {
    auto& m = *impl_;
    if (m.started) return;
    m.started = true;
    m.timers.push_back({m.opt.sse_heartbeat, [&m] { m.hub.heartbeat(); }});
    for (auto& p : m.timers) {
        m.running_timers.push_back(std::make_unique<asio::steady_timer>(m.io));
        asio::co_spawn(m.io, m.tick(*m.running_timers.back(), p.period, std::move(p.fn)), impl::rethrow);
    }
    asio::co_spawn(m.io, m.accept_loop(), impl::rethrow);
    m.thread.emplace(m.io, runner_options{.name = "tw-http"}, m.on_error);
    m.thread->start();
}

void server::stop() {
    auto& m = *impl_;
    if (m.stopped) return;
    m.stopped = true;
    if (m.thread && !m.thread->failed()) {
        // Close on the server's thread, which owns the sockets, and give the closes a moment to run.
        auto done = std::make_shared<std::promise<void>>();
        auto closed = done->get_future();
        asio::post(m.io, [&m, done] {
            m.close_all();
            done->set_value();
        });
        (void)closed.wait_for(k_stop_grace);
    }
    if (m.thread) m.thread->stop();
    m.close_all(); // the thread has stopped (or never ran): safe here
}

const net::listen_address& server::address() const noexcept { return impl_->bound; }

void server::post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

sse_hub& server::hub() noexcept { return impl_->hub; }

} // namespace tapewire::http
