// A local HTTP/1.1 server for tests and the fetch benchmark: plain or TLS on 127.0.0.1, keep-alive,
// one thread of its own, every answer scripted by a handler, faults included (stall, truncate,
// reset, close, garbage). It counts connections, requests and the peak number handled at once.
//
//   http_test_server srv([](const http_request& r) {
//       if (r.sequence == 0) return http_reply::failing(http_fault::reset);
//       return http_reply::json(read_file(yahoo_fixture_path("chart_v8_AAPL_1d_6mo.json")), 200).gzipped();
//   });
//   net::http_client c(ex, net::parse_url(srv.origin()), {});
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tapewire::test {

// One request as the server read it.
struct http_request {
    std::string method;                                       // "GET"
    std::string target;                                       // "/v8/finance/chart/AAPL?interval=1m"
    std::vector<std::pair<std::string, std::string>> headers; // as received, in order
    std::string body;
    std::size_t connection = 0;    // the connection it came on, 0-based in accept order
    std::size_t on_connection = 0; // 0 for the first request on its connection
    std::size_t sequence = 0;      // 0-based over every request the server has read
    std::string sni;               // the TLS server name the client sent ("" over plain HTTP or none)

    // The first value of a header, name in any case; "" when absent.
    [[nodiscard]] std::string header(std::string_view name) const;
};

enum class http_fault {
    none,
    stall,    // read the request, never answer (until the server stops)
    truncate, // announce Content-Length of the whole body, send half of it, close
    reset,    // close with SO_LINGER 0: the client gets an RST, no answer
    close,    // close without an answer (FIN)
    garbage,  // send bytes that are not HTTP, then close
};

// What to do with one request.
struct http_reply {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers; // extra, e.g. {"Retry-After", "30"}
    std::string body;
    bool gzip = false;    // gzip the body and say Content-Encoding: gzip
    bool chunked = false; // Transfer-Encoding: chunked, in pieces of chunk_size
    std::size_t chunk_size = 1024;
    std::chrono::milliseconds delay{0}; // wait this long before answering (or before the fault)
    http_fault fault = http_fault::none;
    // Close right after this response without saying so, as a server dropping a kept-alive connection.
    bool hang_up = false;

    // 200 (or `status`) with Content-Type: application/json.
    static http_reply json(std::string body, unsigned status = 200);
    static http_reply failing(http_fault f);
    http_reply& gzipped() {
        gzip = true;
        return *this;
    }
    http_reply& in_chunks(std::size_t size = 1024) {
        chunked = true;
        chunk_size = size;
        return *this;
    }
    http_reply& after(std::chrono::milliseconds d) {
        delay = d;
        return *this;
    }
    http_reply& with_header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
};

struct http_test_server_options {
    std::filesystem::path cert_file; // PEM chain; with key_file: serve HTTPS
    std::filesystem::path key_file;
    // > 0: close a connection that sends no request for this long, as servers drop idle keep-alive
    // connections; 0: wait for the client.
    std::chrono::milliseconds idle_timeout{0};
};

class http_test_server {
public:
    // Runs on the server's thread; it must not call stop(). An exception becomes a 500 with its text.
    using handler = std::function<http_reply(const http_request&)>;

    // Listens on 127.0.0.1, a free port, before it returns. Throws when the certificate or key
    // cannot be loaded.
    explicit http_test_server(handler h, http_test_server_options opt = {});
    ~http_test_server(); // stop()
    http_test_server(const http_test_server&) = delete;
    http_test_server& operator=(const http_test_server&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"; host "localhost" when asked.
    [[nodiscard]] std::string origin(bool localhost = false) const;

    [[nodiscard]] std::size_t connections_accepted() const noexcept { return counts_->connections.load(); }
    [[nodiscard]] std::size_t requests_seen() const noexcept { return counts_->requests.load(); }
    // Most requests between "read" and "answered" at one time.
    [[nodiscard]] std::size_t peak_concurrency() const noexcept { return counts_->peak.load(); }
    // Every request read so far, in order (a copy, safe from any thread).
    [[nodiscard]] std::vector<http_request> requests() const;

    // Closes the listener and every connection (stalled ones too) and joins the thread. Safe to
    // call twice.
    void stop();

private:
    struct counters {
        std::atomic<std::size_t> connections{0}, requests{0}, handling{0}, peak{0};
        mutable std::mutex mu;
        std::vector<http_request> log;
    };
    struct state; // Asio/Beast side, in the .cpp
    std::shared_ptr<counters> counts_;
    std::unique_ptr<state> state_;
    std::uint16_t port_ = 0;
    std::mutex stop_mu_;
    std::thread thread_;
};

// A whole file as bytes; throws std::runtime_error naming the path when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// The folder of recorded Yahoo responses: $TAPEWIRE_YAHOO_FIXTURES when set, else
// <source_dir>/test/fixtures/yahoo, else <source_dir>/../shared/fixtures/yahoo. Throws naming the
// places it looked when none exists.
std::filesystem::path yahoo_fixtures_dir(const std::filesystem::path& source_dir);

#ifdef TAPEWIRE_SOURCE_DIR
// A recorded Yahoo response by file name, for targets that define TAPEWIRE_SOURCE_DIR (the tests).
inline std::filesystem::path yahoo_fixture_path(std::string_view name) {
    return yahoo_fixtures_dir(TAPEWIRE_SOURCE_DIR) / name;
}
// Its bytes.
inline std::string read_yahoo_fixture(std::string_view name) { return read_file(yahoo_fixture_path(name)); }
#endif

} // namespace tapewire::test
