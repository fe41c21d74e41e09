#include "src/sources/yahoo_stream.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "src/base/duration_text.hpp"
#include "src/net/url.hpp"

namespace tapewire {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using beast::error_code;

using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

// One connection: shared by the reader (run_session) and its watchdog, which outlives the reader
// by at most one wake-up, so it holds the session by shared_ptr.
template <class Ws> struct session {
    static constexpr bool k_tls = std::is_same_v<Ws, tls_ws>;

    session(const asio::any_io_executor& ex, std::shared_ptr<asio::ssl::context> ctx) requires k_tls
        : tls_ctx(std::move(ctx)),
          ws(ex, *tls_ctx),
          resolver(ex),
          wake(ex) {}
    explicit session(const asio::any_io_executor& ex) requires(!k_tls) : ws(ex), resolver(ex), wake(ex) {}

    // Cancels whatever the reader waits for; it then fails and reports why.
    void abort() noexcept {
        try {
            resolver.cancel();
            beast::get_lowest_layer(ws).close();
        } catch (...) { // closing a socket reports its own failure by exception in some paths: irrelevant here
        }
    }

    std::shared_ptr<asio::ssl::context> tls_ctx; // before ws: the TLS stream refers to it
    Ws ws;
    tcp::resolver resolver;
    asio::steady_timer wake; // the watchdog's
    std::string subscribe;
    steady::time_point connect_deadline;
    steady::time_point last_frame;
    steady::time_point next_subscribe = steady::time_point::max();
    std::chrono::nanoseconds silence{0}, resubscribe{0};
    bool open = false;      // websocket handshake done
    bool done = false;      // the reader left: the watchdog ends
    bool timed_out = false; // the watchdog aborted the connect phase
    bool silent = false;    // the watchdog aborted an open connection for silence
    error_code write_error; // a resubscribe failed
};

// The connect deadline, then the silence deadline and the resubscribe schedule.
template <class Ws> asio::awaitable<void> watchdog(std::shared_ptr<session<Ws>> s, counter& requests) {
    for (;;) {
        if (s->done) co_return;
        const auto now = steady::now();
        steady::time_point wake_at;
        if (!s->open) {
            if (now >= s->connect_deadline) {
                s->timed_out = true;
                s->abort();
                co_return;
            }
            wake_at = s->connect_deadline;
        } else {
            const auto silence_at = s->silence.count() > 0 ? s->last_frame + s->silence : steady::time_point::max();
            if (now >= silence_at) {
                s->silent = true;
                s->abort();
                co_return;
            }
            if (now >= s->next_subscribe) {
                s->next_subscribe = steady::time_point::max();
                error_code ec;
                co_await s->ws.async_write(asio::buffer(s->subscribe), asio::redirect_error(asio::use_awaitable, ec));
                if (s->done) co_return;
                if (ec) {
                    s->write_error = ec;
                    s->abort();
                    co_return;
                }
                requests.add();
                if (s->resubscribe.count() > 0) s->next_subscribe = steady::now() + s->resubscribe;
                continue;
            }
            wake_at = std::min(silence_at, s->next_subscribe);
        }
        s->wake.expires_at(wake_at);
        error_code ec;
        co_await s->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

void set_health(stream_symbols_state& state, fetch_metrics& m, symbol sym, const std::string& name, symbol_health h) {
    auto [it, added] = state.health.try_emplace(sym, h);
    if (!added && it->second == h) return;
    it->second = h;
    m.set_state(name, h);
}

template <class Ws> asio::awaitable<void> run_session(const net::url& u, const std::string& where,
                                                      const stream_connection_options& opt, stream_symbols_state& state,
                                                      fetch_outbox& out, fetch_metrics& m, task_run& run) {
    const auto ex = co_await asio::this_coro::executor;
    std::shared_ptr<session<Ws>> s;
    if constexpr (session<Ws>::k_tls) {
        s = std::make_shared<session<Ws>>(ex, net::make_tls_context(opt.tls));
    } else {
        s = std::make_shared<session<Ws>>(ex);
    }
    s->subscribe = make_subscribe_message(opt.symbols);
    s->silence = opt.silence_timeout;
    s->resubscribe = opt.resubscribe_interval;
    s->connect_deadline = steady::now() + opt.connect_timeout;

    // However the reader leaves, the watchdog must stop and the socket close.
    struct closer {
        std::shared_ptr<session<Ws>> s;
        ~closer() {
            s->done = true;
            s->wake.cancel();
            s->abort();
        }
    } guard{s};
    asio::co_spawn(ex, watchdog(s, m.requests), asio::detached);

    auto fail = [&](std::string_view step, const error_code& ec) {
        std::string msg = where + ": ";
        if (s->timed_out) {
            msg += std::string(step) + " timed out after " + format_duration(opt.connect_timeout);
        } else if (s->silent) {
            msg += "no frame for " + format_duration(opt.silence_timeout);
        } else if (s->write_error) {
            msg += "resubscribe failed: " + s->write_error.message();
        } else if (ec == websocket::error::closed) {
            const auto& r = s->ws.reason();
            msg += "closed by the server (" + std::to_string(r.code);
            if (!r.reason.empty()) msg += " " + std::string(r.reason.data(), r.reason.size());
            msg += ")";
        } else {
            msg += std::string(step) + ": " + ec.message();
        }
        return std::runtime_error(msg);
    };

    error_code ec;
    const auto endpoints =
        co_await s->resolver.async_resolve(u.host, u.port, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw fail("resolve", ec);
    co_await beast::get_lowest_layer(s->ws).async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw fail("connect", ec);
    beast::get_lowest_layer(s->ws).socket().set_option(tcp::no_delay(true), ec);

    if constexpr (session<Ws>::k_tls) {
        if (!net::set_tls_peer_name(s->ws.next_layer().native_handle(), u.host, opt.tls.verify))
            throw std::runtime_error(where + ": TLS: bad host name " + u.host);
        co_await s->ws.next_layer().async_handshake(asio::ssl::stream_base::client,
                                                    asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            const std::string why = net::tls_verify_failure(s->ws.next_layer().native_handle());
            if (!why.empty() && !s->timed_out) throw std::runtime_error(where + ": TLS handshake: " + why);
            throw fail("TLS handshake", ec);
        }
    }

    s->ws.read_message_max(opt.max_frame_bytes);
    s->ws.set_option(websocket::stream_base::decorator([ua = opt.user_agent](websocket::request_type& req) {
        if (!ua.empty()) req.set(beast::http::field::user_agent, ua);
    }));
    co_await s->ws.async_handshake(u.host_header(), u.target, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw fail("websocket handshake", ec);
    if (s->timed_out) throw fail("connect", ec);
    ++state.connections;
    s->open = true;
    s->last_frame = steady::now();

    co_await s->ws.async_write(asio::buffer(s->subscribe), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw fail("subscribe", ec);
    m.requests.add();
    if (opt.resubscribe_interval.count() > 0) s->next_subscribe = steady::now() + opt.resubscribe_interval;
    s->wake.cancel(); // the watchdog re-plans: silence and resubscribe instead of the connect deadline

    beast::flat_buffer buf;
    char json_space[512];
    json_buffer json(json_space, sizeof json_space);
    std::string name;
    for (;;) {
        buf.clear();
        const std::size_t n = co_await s->ws.async_read(buf, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) throw fail("read", ec);
        s->last_frame = steady::now();
        m.bytes.add(n);
        const std::string_view frame(static_cast<const char*>(buf.data().data()), buf.size());
        const yahoo::frame_outcome o = state.frames.process(frame, json);
        switch (o.kind) {
        case yahoo::frame_outcome::what::tick:
            name.assign(o.t.sym.view());
            out.push(name, std::string(o.json));
            m.ticks.add();
            set_health(state, m, o.t.sym, name, symbol_health::ok);
            run.progress();
            break;
        case yahoo::frame_outcome::what::skipped:
            m.skipped.add();
            run.progress();
            break;
        case yahoo::frame_outcome::what::error: m.decode_errors.add(); break;
        }
    }
}

} // namespace

std::string make_subscribe_message(const std::vector<std::string>& symbols) {
    std::size_t cap = 32;
    for (const auto& s : symbols) cap += s.size() * 6 + 3; // worst case: every byte \u00XX
    std::string text(cap, '\0');
    json_buffer b(text.data(), text.size());
    b.raw("{\"subscribe\":[");
    for (std::size_t i = 0; i < symbols.size(); ++i) {
        if (i != 0) b.ch(',');
        b.string(symbols[i]);
    }
    b.raw("]}");
    text.resize(b.size());
    return text;
}

boost::asio::awaitable<void> run_stream_connection(const stream_connection_options& opt, stream_symbols_state& state,
                                                   fetch_outbox& out, fetch_metrics& m, task_run& run) {
    if (run.attempt() > 1) m.reconnects.add();
    net::url u;
    try {
        u = net::parse_url(opt.url);
    } catch (const std::exception& e) {
        throw std::runtime_error("stream url \"" + opt.url + "\": " + e.what());
    }
    if (u.scheme != "ws" && u.scheme != "wss")
        throw std::runtime_error("stream url \"" + opt.url + "\": scheme must be ws or wss");
    const std::string where = u.scheme + " " + u.host + ":" + u.port;
    try {
        if (u.tls()) {
            co_await run_session<tls_ws>(u, where, opt, state, out, m, run);
        } else {
            co_await run_session<plain_ws>(u, where, opt, state, out, m, run);
        }
    } catch (const std::exception&) {
        for (const auto& name : opt.symbols) {
            const symbol sym = symbol::from(name);
            if (sym.empty())
                m.set_state(name, symbol_health::backing_off);
            else
                set_health(state, m, sym, name, symbol_health::backing_off);
        }
        throw;
    }
    throw std::runtime_error(where + ": connection ended");
}

} // namespace tapewire
