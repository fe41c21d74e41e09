#include "src/net/http_client.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "src/base/duration_text.hpp"
#include "src/net/gzip.hpp"

namespace tapewire::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

const char* to_string(http_error e) noexcept {
    switch (e) {
    case http_error::none: return "none";
    case http_error::resolve: return "resolve";
    case http_error::connect: return "connect";
    case http_error::tls_handshake: return "tls_handshake";
    case http_error::timeout: return "timeout";
    case http_error::reset: return "reset";
    case http_error::truncated: return "truncated";
    case http_error::too_large: return "too_large";
    case http_error::decode: return "decode";
    case http_error::protocol: return "protocol";
    }
    return "?";
}

namespace {

constexpr std::uint32_t k_header_limit = 64 * 1024; // Yahoo's headers are ~2 KiB; Beast's default is 8

struct connection {
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    clock_type::time_point idle_since{};
    std::uint64_t generation = 0;

    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    void close() {
        error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        tcp().close();
    }
};

// One request/response exchange's outcome before it becomes an http_result.
struct exchange {
    error_code ec;
    bool writing = true;    // the error came while writing the request
    bool got_bytes = false; // any response byte arrived
    bool header_done = false;
    std::size_t wire_bytes = 0;
};

bool valid_target(std::string_view t) {
    if (t.empty() || t.front() != '/') return false;
    return std::none_of(t.begin(), t.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c <= 0x20 || c == 0x7f;
    });
}

// What one call asks for; get() and post() differ only here.
struct request_spec {
    http::verb method = http::verb::get;
    std::string target;
    std::string body;
    std::string content_type;
    std::vector<http_header> headers;
};

bool is_http_category(const error_code& ec) {
    return ec.category() == http::make_error_code(http::error::bad_version).category();
}

// The peer went away: EOF, RST, a TLS stream cut without close_notify.
bool is_disconnect(const error_code& ec) {
    return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::connection_aborted ||
           ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated ||
           ec == asio::error::not_connected;
}

} // namespace

struct http_client::impl {
    asio::any_io_executor ex;
    url origin;
    http_options opt;
    std::shared_ptr<asio::ssl::context> tls_ctx;
    std::deque<std::unique_ptr<connection>> idle; // most recently used at the back
    std::uint64_t opened = 0;
    std::uint64_t generation = 0; // bumped by close(): older connections are not pooled again
    std::uint32_t in_flight = 0;
    std::uint32_t limit = 1;

    struct waiter {
        asio::steady_timer wake;
        bool granted = false;
    };
    std::deque<waiter*> waiters;

    impl(asio::any_io_executor e, const url& o, http_options op)
        : ex(std::move(e)), origin(o), opt(std::move(op)), limit(std::max<std::uint32_t>(1, opt.max_connections)) {
        if (std::any_of(opt.user_agent.begin(), opt.user_agent.end(), [](char ch) {
                const auto c = static_cast<unsigned char>(ch);
                return (c < 0x20 && c != '\t') || c == 0x7f;
            }))
            throw std::invalid_argument("http_client: the user agent holds a control character");
        if (origin.tls()) tls_ctx = make_tls_context(opt.tls);
    }

    // --- request slots: at most `limit` in flight, the rest wait in FIFO order ---

    asio::awaitable<void> acquire() {
        if (in_flight < limit && waiters.empty()) {
            ++in_flight;
            co_return;
        }
        waiter w{asio::steady_timer(ex, clock_type::time_point::max())};
        waiters.push_back(&w);
        struct unlink {
            impl& self;
            waiter& w;
            ~unlink() {
                if (!w.granted) std::erase(self.waiters, &w);
            }
        } guard{*this, w};
        while (!w.granted) {
            error_code ec;
            co_await w.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }

    // Hands the slot straight to the oldest waiter, so a newcomer cannot overtake it.
    void release() {
        if (!waiters.empty()) {
            waiter* w = waiters.front();
            waiters.pop_front();
            w->granted = true;
            w->wake.cancel();
        } else {
            --in_flight;
        }
    }

    struct slot {
        impl* self;
        explicit slot(impl* s) : self(s) {}
        slot(const slot&) = delete;
        slot& operator=(const slot&) = delete;
        ~slot() { self->release(); }
    };

    // --- the pool ---

    std::unique_ptr<connection> take_idle() {
        const auto now = clock_type::now();
        while (!idle.empty()) {
            std::unique_ptr<connection> c = std::move(idle.back());
            idle.pop_back();
            if (now - c->idle_since < opt.idle_timeout) return c;
            c->close(); // the server has probably dropped it already
        }
        return nullptr;
    }

    void give_back(std::unique_ptr<connection> c) {
        if (c->generation != generation || !opt.keep_alive) {
            c->close();
            return;
        }
        c->idle_since = clock_type::now();
        idle.push_back(std::move(c));
        while (idle.size() > limit) {
            idle.front()->close();
            idle.pop_front();
        }
    }

    void close_idle() {
        for (auto& c : idle) c->close();
        idle.clear();
        ++generation;
    }

    // --- one fresh connection: resolve, connect, TLS handshake under connect_timeout ---

    asio::awaitable<std::unique_ptr<connection>> open(http_result& r) {
        const auto deadline = clock_type::now() + opt.connect_timeout;
        const std::string where = origin.host + ":" + origin.port;

        // The resolver has no deadline of its own: a timer cancels it.
        auto resolver = std::make_shared<tcp::resolver>(ex);
        auto timed_out = std::make_shared<bool>(false);
        asio::steady_timer guard(ex, deadline);
        guard.async_wait([resolver, timed_out](const error_code& ec) {
            if (ec) return;
            *timed_out = true;
            resolver->cancel();
        });
        error_code ec;
        const auto endpoints =
            co_await resolver->async_resolve(origin.host, origin.port, asio::redirect_error(asio::use_awaitable, ec));
        guard.cancel();
        if (ec) {
            const bool late = *timed_out;
            r.error = late ? http_error::timeout : http_error::resolve;
            r.detail = "resolve " + origin.host + ": " +
                       (late ? "timeout after " + format_duration(opt.connect_timeout) : ec.message());
            co_return nullptr;
        }

        auto c = std::make_unique<connection>();
        c->generation = generation;
        if (tls_ctx)
            c->tls.emplace(ex, *tls_ctx);
        else
            c->plain.emplace(ex);
        beast::tcp_stream& stream = c->tcp();
        stream.expires_at(deadline);
        co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            r.error = ec == beast::error::timeout ? http_error::timeout : http_error::connect;
            r.detail =
                "connect " + where + ": " +
                (ec == beast::error::timeout ? "timeout after " + format_duration(opt.connect_timeout) : ec.message());
            co_return nullptr;
        }
        stream.socket().set_option(tcp::no_delay(true), ec);
        ++opened;

        if (c->tls) {
            if (!set_tls_peer_name(c->tls->native_handle(), origin.host, opt.tls.verify)) {
                r.error = http_error::tls_handshake;
                r.detail = "TLS " + where + ": OpenSSL refuses the host name \"" + origin.host + "\"";
                co_return nullptr;
            }
            co_await c->tls->async_handshake(asio::ssl::stream_base::client,
                                             asio::redirect_error(asio::use_awaitable, ec));
            if (ec) {
                if (ec == beast::error::timeout) {
                    r.error = http_error::timeout;
                    r.detail =
                        "TLS handshake with " + where + ": timeout after " + format_duration(opt.connect_timeout);
                } else {
                    r.error = http_error::tls_handshake;
                    std::string why = opt.tls.verify ? tls_verify_failure(c->tls->native_handle()) : std::string();
                    r.detail = "TLS handshake with " + where + ": " + (why.empty() ? ec.message() : why);
                }
                co_return nullptr;
            }
        }
        stream.expires_never();
        co_return c;
    }

    // --- one request/response on an open connection, under request_timeout ---

    template <class Stream> static asio::awaitable<void> round_trip(Stream& s, beast::flat_buffer& buf,
                                                                    const http::request<http::string_body>& req,
                                                                    http::response_parser<http::string_body>& parser,
                                                                    std::size_t limit, exchange& x) {
        co_await http::async_write(s, req, asio::redirect_error(asio::use_awaitable, x.ec));
        if (x.ec) co_return;
        x.writing = false;
        x.wire_bytes =
            co_await http::async_read_header(s, buf, parser, asio::redirect_error(asio::use_awaitable, x.ec));
        x.header_done = parser.is_header_done();
        x.got_bytes = x.wire_bytes > 0 || parser.got_some() || buf.size() > 0;
        if (x.ec) co_return;
        // Beast 1.74's response parser does not hold a Content-Length against body_limit (chunked
        // and read-to-EOF bodies it does), so the announced length is checked here.
        if (const auto len = parser.content_length(); len && *len > limit) {
            x.ec = http::error::body_limit;
            co_return;
        }
        if (!parser.is_done())
            x.wire_bytes += co_await http::async_read(s, buf, parser, asio::redirect_error(asio::use_awaitable, x.ec));
    }

    http::request<http::string_body> make_request(request_spec& spec) const {
        http::request<http::string_body> req(spec.method, spec.target, 11);
        req.set(http::field::host, origin.host_header());
        if (!opt.user_agent.empty()) req.set(http::field::user_agent, opt.user_agent);
        req.set(http::field::accept, "application/json,*/*");
        req.set(http::field::accept_encoding, "gzip, deflate");
        if (!opt.keep_alive) req.set(http::field::connection, "close");
        for (const http_header& h : spec.headers) req.insert(h.name, h.value);
        if (spec.method != http::verb::get) {
            if (!spec.content_type.empty()) req.set(http::field::content_type, spec.content_type);
            req.body() = std::move(spec.body);
            req.prepare_payload(); // Content-Length
        }
        return req;
    }

    static void classify(const exchange& x, const std::string& what, nanoseconds request_timeout,
                         std::size_t limit_bytes, http_result& r) {
        const error_code& ec = x.ec;
        const char* step = x.writing       ? "writing the request"
                           : x.header_done ? "reading the body"
                                           : "reading the response";
        if (ec == beast::error::timeout) {
            r.error = http_error::timeout;
            r.detail = what + ": timeout after " + format_duration(request_timeout) + " " + step;
        } else if (ec == http::error::body_limit) {
            r.error = http_error::too_large;
            r.detail = what + ": the body is over max_body_bytes (" + std::to_string(limit_bytes) + ")";
        } else if (is_disconnect(ec)) {
            // A cut inside the body is a truncated answer; before the header, the server gave none.
            r.error = x.header_done ? http_error::truncated : http_error::reset;
            r.detail = what + ": connection closed " + step + " (" + ec.message() + ")";
        } else if (is_http_category(ec)) {
            r.error = http_error::protocol;
            r.detail = what + ": not a valid HTTP/1.1 response (" + ec.message() + ")";
        } else {
            r.error = http_error::reset;
            r.detail = what + ": " + step + ": " + ec.message();
        }
    }

    // `self` is taken when the request is created, so the client may go away before it runs.
    static asio::awaitable<http_result> request(std::shared_ptr<impl> self, request_spec spec) {
        co_return co_await self->run(std::move(spec));
    }

    asio::awaitable<http_result> run(request_spec spec) {
        co_await acquire();
        slot held{this};

        http_result r;
        const std::string what = std::string(http::to_string(spec.method)) + " " + spec.target;
        if (!valid_target(spec.target)) { // a space or CR/LF would break the request line or add headers
            r.error = http_error::protocol;
            r.detail = what + ": not an origin-form target (a path from \"/\", no spaces or control characters)";
            co_return r;
        }
        for (const http_header& h : spec.headers) {
            if (!is_header_name(h.name) || !is_header_value(h.value)) {
                r.error = http_error::protocol;
                r.detail = what + ": header \"" + h.name + "\" has a name that is not a token or a CR, LF or NUL";
                co_return r;
            }
        }
        if (!is_header_value(spec.content_type)) {
            r.error = http_error::protocol;
            r.detail = what + ": the content type holds a CR, LF or NUL";
            co_return r;
        }
        const auto req = make_request(spec);
        std::unique_ptr<connection> c = take_idle();
        bool reused = c != nullptr;
        for (;;) {
            if (!c) {
                c = co_await open(r);
                if (!c) co_return r;
            }
            http::response_parser<http::string_body> parser;
            parser.header_limit(k_header_limit);
            parser.body_limit(opt.max_body_bytes);
            exchange x;
            c->tcp().expires_after(opt.request_timeout);
            if (c->tls)
                co_await round_trip(*c->tls, c->buffer, req, parser, opt.max_body_bytes, x);
            else
                co_await round_trip(*c->plain, c->buffer, req, parser, opt.max_body_bytes, x);

            if (x.ec) {
                c->close();
                c.reset();
                // The keep-alive race: the server dropped the idle connection as we picked it up.
                // Nothing of an answer came, so the request is sent again, once, on a fresh one.
                if (reused && !x.got_bytes && x.ec != beast::error::timeout && is_disconnect(x.ec)) {
                    reused = false;
                    continue;
                }
                classify(x, what, opt.request_timeout, opt.max_body_bytes, r);
                co_return r;
            }
            c->tcp().expires_never();

            auto& res = parser.get();
            const bool reusable = res.keep_alive() && !parser.need_eof();
            r.response.status = res.result_int();
            r.response.reused = reused;
            r.response.wire_bytes = x.wire_bytes;
            r.response.retry_after = std::string(res[http::field::retry_after]);
            r.response.content_type = std::string(res[http::field::content_type]);
            const std::string coding_header(res[http::field::content_encoding]);
            std::string wire_body = std::move(res.body());
            if (reusable)
                give_back(std::move(c));
            else
                c->close();

            content_coding coding{};
            if (!parse_content_coding(coding_header, coding)) {
                r.error = http_error::decode;
                r.detail = what + ": unsupported Content-Encoding \"" + coding_header + "\"";
                co_return r;
            }
            if (coding == content_coding::identity) { // within max_body_bytes already: the parser's limit
                r.response.body = std::move(wire_body);
                co_return r;
            }
            std::string why;
            switch (inflate_body(wire_body, coding, opt.max_body_bytes, r.response.body, why)) {
            case inflate_status::ok: break;
            case inflate_status::too_large:
                r.error = http_error::too_large;
                r.detail =
                    what + ": the decoded body is over max_body_bytes (" + std::to_string(opt.max_body_bytes) + ")";
                r.response.body.clear();
                break;
            case inflate_status::corrupt:
                r.error = http_error::decode;
                r.detail = what + ": " + coding_header + " body does not decode: " + why;
                r.response.body.clear();
                break;
            }
            co_return r;
        }
    }
};

http_client::http_client(asio::any_io_executor ex, const url& origin, http_options opt)
    : impl_(std::make_shared<impl>(std::move(ex), origin, std::move(opt))) {}

http_client::~http_client() {
    if (impl_) impl_->close_idle();
}

asio::awaitable<http_result> http_client::get(std::string target) {
    request_spec spec;
    spec.target = std::move(target);
    return impl::request(impl_, std::move(spec));
}

asio::awaitable<http_result> http_client::post(std::string target, std::string body, std::string content_type,
                                               std::vector<http_header> headers) {
    request_spec spec;
    spec.method = http::verb::post;
    spec.target = std::move(target);
    spec.body = std::move(body);
    spec.content_type = std::move(content_type);
    spec.headers = std::move(headers);
    return impl::request(impl_, std::move(spec));
}

void http_client::close() { impl_->close_idle(); }

std::uint64_t http_client::connections_opened() const noexcept { return impl_->opened; }

std::uint32_t http_client::in_flight() const noexcept { return impl_->in_flight; }

} // namespace tapewire::net
