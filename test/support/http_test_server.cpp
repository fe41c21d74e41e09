#include "test/support/http_test_server.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <list>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "src/net/gzip.hpp"

namespace tapewire::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

std::string http_request::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (beast::iequals(k, name)) return v;
    return {};
}

http_reply http_reply::json(std::string body, unsigned status) {
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", "application/json;charset=utf-8");
    return r;
}

http_reply http_reply::failing(http_fault f) {
    http_reply r;
    r.fault = f;
    return r;
}

namespace {

constexpr auto k_handshake_timeout = std::chrono::seconds(5);
constexpr std::size_t k_max_request_body = 1 << 20;

using awaitable = asio::awaitable<void>;
constexpr auto k_token = asio::use_awaitable;

// One accepted connection; the coroutine serving it owns it through a shared_ptr, the server's
// registry holds it only to close it on stop().
struct session {
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    asio::steady_timer timer; // delays and stalls
    std::size_t index = 0;

    explicit session(asio::io_context& ioc) : timer(ioc) {}
    beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    void close() {
        error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        tcp().socket().close(ignored);
    }
    void reset() {
        error_code ignored;
        tcp().socket().set_option(asio::socket_base::linger(true, 0), ignored);
        tcp().socket().close(ignored);
    }
};

std::string status_line(unsigned status) {
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
}

} // namespace

struct http_test_server::state {
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    std::optional<asio::ssl::context> tls_ctx;
    handler on_request;
    http_test_server_options opt;
    std::shared_ptr<counters> counts;
    std::list<std::shared_ptr<session>> live; // io thread only
    bool stopping = false;                    // io thread only

    // Requests between read and answered, for the concurrency peak.
    struct handling_guard {
        counters& c;
        explicit handling_guard(counters& cs) : c(cs) {
            const std::size_t now = ++c.handling;
            std::size_t peak = c.peak.load();
            while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
            }
        }
        handling_guard(const handling_guard&) = delete;
        handling_guard& operator=(const handling_guard&) = delete;
        ~handling_guard() { --c.handling; }
    };

    void shutdown_all() {
        stopping = true;
        error_code ignored;
        acceptor.close(ignored);
        for (auto& s : live) {
            s->timer.cancel();
            s->close();
        }
    }

    awaitable accept_loop() {
        for (;;) {
            error_code ec;
            tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(k_token, ec));
            if (stopping || !acceptor.is_open()) co_return;
            if (ec) continue;
            auto s = std::make_shared<session>(ioc);
            s->index = counts->connections++;
            if (tls_ctx)
                s->tls.emplace(std::move(sock), *tls_ctx);
            else
                s->plain.emplace(std::move(sock));
            live.push_back(s);
            auto it = std::prev(live.end());
            asio::co_spawn(ioc, run_session(s), [this, it](const std::exception_ptr& e) {
                live.erase(it);
                report(e);
            });
        }
    }

    static void report(const std::exception_ptr& e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            std::fprintf(stderr, "http_test_server: %s\n", x.what());
        } catch (...) {
            std::fprintf(stderr, "http_test_server: unknown exception\n");
        }
    }

    awaitable run_session(std::shared_ptr<session> s) {
        if (s->tls) {
            error_code ec;
            s->tcp().expires_after(k_handshake_timeout);
            co_await s->tls->async_handshake(asio::ssl::stream_base::server, asio::redirect_error(k_token, ec));
            if (ec) {
                s->close();
                co_return;
            }
            const char* sni = SSL_get_servername(s->tls->native_handle(), TLSEXT_NAMETYPE_host_name);
            co_await serve(*s->tls, *s, sni != nullptr ? sni : "");
        } else {
            co_await serve(*s->plain, *s, "");
        }
        s->close();
    }

    template <class Stream> awaitable serve(Stream& stream, session& s, std::string sni) {
        beast::flat_buffer buf;
        for (std::size_t n = 0; !stopping; ++n) {
            if (opt.idle_timeout.count() > 0)
                s.tcp().expires_after(opt.idle_timeout);
            else
                s.tcp().expires_never();
            http::request_parser<http::string_body> parser;
            parser.body_limit(k_max_request_body);
            error_code ec;
            co_await http::async_read(stream, buf, parser, asio::redirect_error(k_token, ec));
            if (ec || stopping) co_return; // the client left, went idle too long, or we stop
            s.tcp().expires_never();

            const auto& msg = parser.get();
            http_request req;
            req.method = std::string(msg.method_string());
            req.target = std::string(msg.target());
            for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
            req.body = msg.body();
            req.connection = s.index;
            req.on_connection = n;
            req.sni = sni;
            req.sequence = counts->requests++;
            {
                std::lock_guard lk(counts->mu);
                counts->log.push_back(req);
            }
            handling_guard busy(*counts);

            http_reply rep;
            try {
                rep = on_request(req);
            } catch (const std::exception& e) {
                rep = http_reply{};
                rep.status = 500;
                rep.body = e.what();
            } catch (...) {
                rep = http_reply{};
                rep.status = 500;
                rep.body = "the handler threw";
            }
            if (rep.delay.count() > 0) {
                s.timer.expires_after(rep.delay);
                co_await s.timer.async_wait(asio::redirect_error(k_token, ec));
                if (stopping) co_return;
            }
            switch (rep.fault) {
            case http_fault::stall:
                s.timer.expires_at(asio::steady_timer::time_point::max());
                co_await s.timer.async_wait(asio::redirect_error(k_token, ec));
                co_return;
            case http_fault::reset: s.reset(); co_return;
            case http_fault::close: s.close(); co_return;
            case http_fault::garbage: {
                static constexpr char k_junk[] = "\x16\x03\x01 this is not HTTP\r\n\xff\xfe\r\n\r\n";
                co_await asio::async_write(stream, asio::buffer(k_junk, sizeof k_junk - 1),
                                           asio::redirect_error(k_token, ec));
                s.close();
                co_return;
            }
            case http_fault::truncate: {
                std::string raw = status_line(rep.status);
                for (const auto& [k, v] : rep.headers) raw += k + ": " + v + "\r\n";
                raw += "Content-Length: " + std::to_string(rep.body.size()) + "\r\n\r\n";
                raw.append(rep.body, 0, rep.body.size() / 2);
                co_await asio::async_write(stream, asio::buffer(raw), asio::redirect_error(k_token, ec));
                s.close();
                co_return;
            }
            case http_fault::none: break;
            }

            const bool keep = msg.keep_alive() && !rep.hang_up;
            std::string body = rep.gzip ? net::compress_body(rep.body, net::content_coding::gzip) : std::move(rep.body);
            if (rep.chunked) {
                http::response<http::empty_body> res{static_cast<http::status>(rep.status), 11};
                for (const auto& [k, v] : rep.headers) res.insert(k, v);
                if (rep.gzip) res.set(http::field::content_encoding, "gzip");
                res.keep_alive(keep);
                res.chunked(true);
                http::response_serializer<http::empty_body> sr{res};
                co_await http::async_write_header(stream, sr, asio::redirect_error(k_token, ec));
                const std::size_t piece = std::max<std::size_t>(1, rep.chunk_size);
                for (std::size_t at = 0; !ec && at < body.size(); at += piece) {
                    const std::size_t len = std::min(piece, body.size() - at);
                    co_await asio::async_write(stream, http::make_chunk(asio::buffer(body.data() + at, len)),
                                               asio::redirect_error(k_token, ec));
                }
                if (!ec) co_await asio::async_write(stream, http::make_chunk_last(), asio::redirect_error(k_token, ec));
            } else {
                http::response<http::string_body> res{static_cast<http::status>(rep.status), 11};
                for (const auto& [k, v] : rep.headers) res.insert(k, v);
                if (rep.gzip) res.set(http::field::content_encoding, "gzip");
                res.keep_alive(keep);
                res.body() = std::move(body);
                res.prepare_payload();
                co_await http::async_write(stream, res, asio::redirect_error(k_token, ec));
            }
            if (ec || !keep) co_return;
        }
    }
};

http_test_server::http_test_server(handler h, http_test_server_options opt)
    : counts_(std::make_shared<counters>()), state_(std::make_unique<state>()) {
    state& st = *state_;
    st.on_request = std::move(h);
    st.opt = std::move(opt);
    st.counts = counts_;
    if (!st.opt.cert_file.empty() || !st.opt.key_file.empty()) {
        st.tls_ctx.emplace(asio::ssl::context::tls_server);
        try {
            st.tls_ctx->use_certificate_chain_file(st.opt.cert_file.string());
            st.tls_ctx->use_private_key_file(st.opt.key_file.string(), asio::ssl::context::pem);
        } catch (const std::exception& e) {
            throw std::runtime_error("http_test_server: cannot load " + st.opt.cert_file.string() + " / " +
                                     st.opt.key_file.string() + ": " + e.what());
        }
    }
    const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
    st.acceptor.open(at.protocol());
    st.acceptor.set_option(tcp::acceptor::reuse_address(true));
    st.acceptor.bind(at);
    st.acceptor.listen(asio::socket_base::max_listen_connections);
    port_ = st.acceptor.local_endpoint().port();
    asio::co_spawn(st.ioc, st.accept_loop(), [](const std::exception_ptr& e) { state::report(e); });
    thread_ = std::thread([&st] { st.ioc.run(); });
}

http_test_server::~http_test_server() { stop(); }

void http_test_server::stop() {
    std::lock_guard lk(stop_mu_);
    if (!thread_.joinable()) return;
    asio::post(state_->ioc, [st = state_.get()] { st->shutdown_all(); });
    thread_.join();
}

std::string http_test_server::origin(bool localhost) const {
    return std::string(state_->tls_ctx ? "https" : "http") + "://" + (localhost ? "localhost" : "127.0.0.1") + ":" +
           std::to_string(port_);
}

std::vector<http_request> http_test_server::requests() const {
    std::lock_guard lk(counts_->mu);
    return counts_->log;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::filesystem::path yahoo_fixtures_dir(const std::filesystem::path& source_dir) {
    std::vector<std::filesystem::path> tried;
    if (const char* env = std::getenv("TAPEWIRE_YAHOO_FIXTURES"); env != nullptr && *env != '\0')
        tried.emplace_back(env);
    tried.push_back(source_dir / "test" / "fixtures" / "yahoo"); // the copies in the repository
    tried.push_back(source_dir / ".." / "shared" / "fixtures" / "yahoo");
    for (const auto& p : tried)
        if (std::filesystem::is_directory(p)) return p.lexically_normal();
    std::string where;
    for (const auto& p : tried) where += (where.empty() ? "" : ", ") + p.string();
    throw std::runtime_error("no Yahoo fixtures folder (looked in " + where + ")");
}

} // namespace tapewire::test
