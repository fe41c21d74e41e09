#include "test/support/ws_test_server.hpp"

#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace tapewire::test {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::redirect_error;
using asio::use_awaitable;
using beast::error_code;

} // namespace

struct ws_test_server::impl {
    explicit impl(ws_server_options o) : opt(std::move(o)), acceptor(io) {}

    // What the test thread reads; written on the server thread.
    struct shared {
        mutable std::mutex mu;
        std::vector<message> messages;
        std::size_t connections = 0;
        std::size_t frames_sent = 0;
        std::string user_agent, host, target;
    };

    // One accepted connection, plain or TLS. Only the writer writes; the reader (the connection's
    // main coroutine) reads and records.
    struct conn_base {
        explicit conn_base(const asio::any_io_executor& ex) : kick(ex), delay(ex) {}
        virtual ~conn_base() = default;
        virtual void close() noexcept = 0;
        std::size_t index = 0;
        std::deque<std::string> outq;
        asio::steady_timer kick;  // wakes the writer when outq grows or the connection ends
        asio::steady_timer delay; // between frames
        bool subscribed = false;
        bool closed = false;
    };

    template <class Ws> struct conn : conn_base {
        template <class... A> explicit conn(const asio::any_io_executor& ex, A&&... a)
            : conn_base(ex), ws(std::forward<A>(a)...) {}
        void close() noexcept override {
            closed = true;
            error_code ec;
            beast::get_lowest_layer(ws).socket().close(ec);
            kick.cancel();
            delay.cancel();
        }
        Ws ws;
    };

    ws_server_options opt;
    asio::io_context io;
    std::unique_ptr<asio::ssl::context> tls;
    tcp::acceptor acceptor;
    std::thread thread;
    unsigned short port = 0;
    shared sh;
    std::vector<std::weak_ptr<conn_base>> live; // every accepted connection; server thread only
    bool stopped = false;                       // test thread only

    void wake_writer(conn_base& c) { c.kick.cancel(); }

    template <class Ws> asio::awaitable<void> writer(std::shared_ptr<conn<Ws>> c) {
        std::size_t sent = 0;
        const bool drops = opt.drop_after > 0 && (opt.drop_every_connection || c->index == 1);
        for (;;) {
            while (c->outq.empty() && !c->closed) {
                c->kick.expires_at(asio::steady_timer::time_point::max());
                error_code ec;
                co_await c->kick.async_wait(redirect_error(use_awaitable, ec));
            }
            if (c->closed) co_return;
            if (drops && sent == opt.drop_after) {
                if (opt.drop_with_close_frame) {
                    error_code ec;
                    co_await c->ws.async_close(websocket::close_code::going_away, redirect_error(use_awaitable, ec));
                }
                c->close();
                co_return;
            }
            if (sent > 0 && opt.delay.count() > 0) {
                c->delay.expires_after(opt.delay);
                error_code ec;
                co_await c->delay.async_wait(redirect_error(use_awaitable, ec));
                if (c->closed) co_return;
            }
            std::string frame = std::move(c->outq.front());
            c->outq.pop_front();
            c->ws.text(true);
            error_code ec;
            co_await c->ws.async_write(asio::buffer(frame), redirect_error(use_awaitable, ec));
            if (ec) {
                c->close();
                co_return;
            }
            ++sent;
            std::lock_guard lk(sh.mu);
            ++sh.frames_sent;
        }
    }

    template <class Ws> asio::awaitable<void> serve(std::shared_ptr<conn<Ws>> c) {
        error_code ec;
        if constexpr (std::is_same_v<Ws, websocket::stream<beast::ssl_stream<beast::tcp_stream>>>) {
            co_await c->ws.next_layer().async_handshake(asio::ssl::stream_base::server,
                                                        redirect_error(use_awaitable, ec));
            if (ec) co_return c->close();
        }
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        co_await http::async_read(c->ws.next_layer(), buf, req, redirect_error(use_awaitable, ec));
        if (ec || !websocket::is_upgrade(req)) co_return c->close();
        co_await c->ws.async_accept(req, redirect_error(use_awaitable, ec));
        if (ec) co_return c->close();
        {
            std::lock_guard lk(sh.mu);
            c->index = ++sh.connections;
            sh.user_agent = std::string(req[http::field::user_agent]);
            sh.host = std::string(req[http::field::host]);
            sh.target = std::string(req.target());
        }
        asio::co_spawn(io, writer(c), asio::detached);
        for (;;) {
            buf.clear();
            co_await c->ws.async_read(buf, redirect_error(use_awaitable, ec));
            if (ec) break;
            {
                std::lock_guard lk(sh.mu);
                sh.messages.push_back({c->index, beast::buffers_to_string(buf.data())});
            }
            if (!c->subscribed) {
                c->subscribed = true;
                for (const auto& g : opt.garbage_before) c->outq.push_back(g);
                for (const auto& f : opt.frames) c->outq.push_back(f);
                wake_writer(*c);
            }
        }
        c->close();
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            error_code ec;
            tcp::socket sock = co_await acceptor.async_accept(redirect_error(use_awaitable, ec));
            if (ec) {
                if (!acceptor.is_open()) co_return;
                continue;
            }
            sock.set_option(tcp::no_delay(true), ec);
            if (tls) {
                using ws_t = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
                auto c = std::make_shared<conn<ws_t>>(io.get_executor(), beast::tcp_stream(std::move(sock)), *tls);
                live.push_back(c);
                asio::co_spawn(io, serve(c), asio::detached);
            } else {
                using ws_t = websocket::stream<beast::tcp_stream>;
                auto c = std::make_shared<conn<ws_t>>(io.get_executor(), beast::tcp_stream(std::move(sock)));
                live.push_back(c);
                asio::co_spawn(io, serve(c), asio::detached);
            }
        }
    }
};

ws_test_server::ws_test_server(ws_server_options opt) : impl_(std::make_unique<impl>(std::move(opt))) {
    auto& d = *impl_;
    if (!d.opt.tls_cert.empty()) {
        d.tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        d.tls->use_certificate_chain_file(d.opt.tls_cert.string());
        d.tls->use_private_key_file(d.opt.tls_key.string(), asio::ssl::context::pem);
    }
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    d.acceptor.open(ep.protocol());
    d.acceptor.set_option(tcp::acceptor::reuse_address(true));
    d.acceptor.bind(ep);
    d.acceptor.listen();
    d.port = d.acceptor.local_endpoint().port();
    asio::co_spawn(d.io, d.accept_loop(), asio::detached);
    d.thread = std::thread([&d] { d.io.run(); });
}

ws_test_server::~ws_test_server() { stop(); }

void ws_test_server::stop() {
    auto& d = *impl_;
    if (d.stopped) return;
    d.stopped = true;
    asio::post(d.io, [&d] {
        error_code ec;
        d.acceptor.close(ec);
        for (auto& w : d.live)
            if (auto c = w.lock()) c->close();
        d.live.clear();
    });
    // Closed sockets end every coroutine; the context then runs out of work.
    d.thread.join();
}

std::string ws_test_server::url() const {
    return std::string(impl_->tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(impl_->port) + impl_->opt.target;
}
unsigned short ws_test_server::port() const { return impl_->port; }

void ws_test_server::push_to_all(std::string text) {
    auto& d = *impl_;
    asio::post(d.io, [&d, text = std::move(text)] {
        for (auto& w : d.live)
            if (auto c = w.lock(); c && c->subscribed && !c->closed) {
                c->outq.push_back(text);
                d.wake_writer(*c);
            }
    });
}

std::vector<ws_test_server::message> ws_test_server::messages() const {
    std::lock_guard lk(impl_->sh.mu);
    return impl_->sh.messages;
}
std::size_t ws_test_server::connections() const {
    std::lock_guard lk(impl_->sh.mu);
    return impl_->sh.connections;
}
std::size_t ws_test_server::frames_sent() const {
    std::lock_guard lk(impl_->sh.mu);
    return impl_->sh.frames_sent;
}
std::string ws_test_server::last_user_agent() const {
    std::lock_guard lk(impl_->sh.mu);
    return impl_->sh.user_agent;
}
std::string ws_test_server::last_host() const {
    std::lock_guard lk(impl_->sh.mu);
    return impl_->sh.host;
}
std::string ws_test_server::last_target() const {
    std::lock_guard lk(impl_->sh.mu);
    return impl_->sh.target;
}

} // namespace tapewire::test
