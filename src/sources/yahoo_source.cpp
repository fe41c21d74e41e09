#include "src/sources/yahoo_source.hpp"

#include <pthread.h>

#include <optional>
#include <stdexcept>
#include <thread>
#include <utility> // before Boost 1.74's awaitable.hpp, which uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "src/base/log.hpp"
#include "src/net/http_client.hpp"
#include "src/net/url.hpp"
#include "src/sources/fetch_support.hpp"
#include "src/sources/supervisor.hpp"
#include "src/sources/yahoo_chart_task.hpp"
#include "src/sources/yahoo_stream.hpp"

namespace tapewire {

namespace {

net::url parse_source_url(const std::string& key, const std::string& text) {
    try {
        return net::parse_url(text);
    } catch (const std::exception& e) {
        throw std::runtime_error(key + ": " + e.what());
    }
}

class yahoo_source final : public message_source {
public:
    yahoo_source(const config& cfg, metrics_registry& reg)
        : cfg_(cfg.source.yahoo), outbox_(cfg.source.yahoo.max_pending),
          metrics_(reg, cfg.source.kind == source_kind::yahoo_chart ? "chart" : "stream") {
        if (cfg.source.symbols.empty())
            throw std::runtime_error("source.symbols: " + std::string(to_string(cfg.source.kind)) +
                                     " needs at least one symbol");
        if (cfg.source.kind == source_kind::yahoo_chart)
            start_chart(cfg);
        else
            start_stream(cfg);
        thread_ = std::thread([this] {
            pthread_setname_np(pthread_self(), "tw-fetch");
            try {
                io_.run();
            } catch (const std::exception& e) {
                log::error("fetch", "fetch thread stopped", {{"error", e.what()}});
            }
        });
    }
    ~yahoo_source() override { close(); }

    pull_result next(source_message& out) override {
        if (!outbox_.pop(key_, payload_)) return pull_result::idle;
        out.key = key_;
        out.payload = payload_;
        out.partition = 0;
        out.offset = -1;
        out.release_at_mono_ns = 0;
        return pull_result::message;
    }

    void close() override {
        if (!thread_.joinable()) return;
        io_.stop();
        thread_.join();
        if (client_) client_->close();
    }

private:
    void start_chart(const config& cfg) {
        const net::url base = parse_source_url("source.base_url", cfg_.base_url);
        client_ = std::make_unique<net::http_client>(io_.get_executor(), base, chart_http_options(cfg_));
        const std::string prefix = base.target == "/" ? "" : base.target;
        poller_ = std::make_unique<chart_poller>(cfg_, cfg.source.symbols, prefix, *client_, outbox_, metrics_);
        for (std::uint32_t i = 0; i < cfg_.concurrency; ++i) {
            boost::asio::co_spawn(io_,
                                  supervise(
                                      "yahoo-chart worker " + std::to_string(i + 1),
                                      [p = poller_.get()](task_run& run) { return p->worker(run); },
                                      backoff(cfg_.backoff_min.count(), cfg_.backoff_max.count(), 0xc0ffee + i),
                                      metrics_.restarts),
                                  boost::asio::detached);
        }
    }

    // The streamer: symbols in groups of stream_symbols_per_connection, a connection each.
    void start_stream(const config& cfg) {
        (void)parse_source_url("source.stream_url", cfg_.stream_url);
        const auto& all = cfg.source.symbols;
        const std::size_t group = cfg_.stream_symbols_per_connection;
        for (std::size_t from = 0; from < all.size(); from += group) {
            auto conn = std::make_unique<stream_connection>();
            conn->opt.url = cfg_.stream_url;
            conn->opt.symbols.assign(all.begin() + static_cast<std::ptrdiff_t>(from),
                                     all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + group)));
            conn->opt.tls.verify = cfg_.tls_verify;
            conn->opt.tls.ca_file = cfg_.ca_file;
            conn->opt.user_agent = cfg_.user_agent;
            conn->opt.connect_timeout = cfg_.connect_timeout;
            conn->opt.resubscribe_interval = cfg_.resubscribe_interval;
            conn->opt.silence_timeout = cfg_.stream_silence;
            for (const auto& sym : conn->opt.symbols) metrics_.set_state(sym, symbol_health::ok);
            stream_connection* c = conn.get();
            const std::size_t n = streams_.size() + 1;
            streams_.push_back(std::move(conn));
            boost::asio::co_spawn(io_,
                                  supervise(
                                      "yahoo-stream connection " + std::to_string(n),
                                      [this, c](task_run& run) {
                                          return run_stream_connection(c->opt, c->state, outbox_, metrics_, run);
                                      },
                                      backoff(cfg_.backoff_min.count(), cfg_.backoff_max.count(), 0xbeef + n),
                                      metrics_.restarts),
                                  boost::asio::detached);
        }
    }

    struct stream_connection {
        stream_connection_options opt;
        stream_symbols_state state;
    };

    const yahoo_config cfg_; // a copy: the tasks outlive the caller's config
    // Declared before io_: the tasks' frames (destroyed with io_) point into these.
    fetch_outbox outbox_;
    fetch_metrics metrics_;
    std::unique_ptr<chart_poller> poller_;
    std::vector<std::unique_ptr<stream_connection>> streams_;
    boost::asio::io_context io_{1};
    // After io_: holds sockets of io_, so it goes first.
    std::unique_ptr<net::http_client> client_;
    std::thread thread_;
    std::string key_, payload_;
};

} // namespace

std::unique_ptr<message_source> make_yahoo_source(const config& cfg, metrics_registry& metrics) {
    return std::make_unique<yahoo_source>(cfg, metrics);
}

} // namespace tapewire
