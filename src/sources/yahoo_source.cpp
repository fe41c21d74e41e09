#include "src/sources/yahoo_source.hpp"

#include <optional>
#include <stdexcept>
#include <utility> // before Boost 1.74's awaitable.hpp, which uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "src/base/duration_text.hpp"
#include "src/base/failpoint.hpp"
#include "src/net/http_client.hpp"
#include "src/net/io_thread.hpp"
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
    yahoo_source(const source_config& cfg, metrics_registry& reg, error_handler on_error, const source_context& context)
        : cfg_(cfg.yahoo), outbox_(cfg.yahoo.max_pending),
          metrics_(reg, cfg.kind == source_kind::yahoo_chart ? "chart" : "stream"),
          io_thread_(io_, fetch_runner_options(), std::move(on_error)) {
        if (cfg.symbols.empty())
            throw std::runtime_error("source.symbols: " + std::string(to_string(cfg.kind)) +
                                     " needs at least one symbol");
        if (cfg.kind == source_kind::yahoo_chart)
            start_chart(cfg.symbols, cfg.backfill ? context : source_context{});
        else
            start_stream(cfg.symbols);
        if (const failpoint* fp = find_failpoint("fetch.io_thread")) arm_failpoint(*fp);
    }
    ~yahoo_source() override { close(); }

    // The fetch thread starts with the source thread's first pass, once the pipeline is running
    // and its error handler can act.
    void poll() override { io_thread_.start(); }

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
        if (closed_) return;
        closed_ = true;
        io_thread_.stop();
        if (client_) client_->close();
    }

private:
    static runner_options fetch_runner_options() {
        runner_options r;
        r.name = "tw-fetch";
        return r;
    }

    // Test facility: a handler on the io thread that fires the failpoint, `argument` after the
    // start (an escape from the io_context, as a bug in a handler would make).
    void arm_failpoint(const failpoint& fp) {
        const std::optional<duration> after = fp.argument.empty() ? duration{0} : parse_duration(fp.argument);
        if (!after)
            throw std::runtime_error("TAPEWIRE_FAILPOINTS: fetch.io_thread: '" + fp.argument + "' is no duration");
        failpoint_timer_.emplace(io_, *after);
        failpoint_timer_->async_wait([&fp](const boost::system::error_code& ec) {
            if (!ec) fp.fire();
        });
    }

    void start_chart(const std::vector<std::string>& symbols, const source_context& context) {
        const net::url base = parse_source_url("source.base_url", cfg_.base_url);
        client_ = std::make_unique<net::http_client>(io_.get_executor(), base, chart_http_options(cfg_));
        const std::string prefix = base.target == "/" ? "" : base.target;
        poller_ = std::make_unique<chart_poller>(cfg_, symbols, prefix, *client_, outbox_, metrics_, context);
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
    void start_stream(const std::vector<std::string>& all) {
        (void)parse_source_url("source.stream_url", cfg_.stream_url);
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
    std::optional<boost::asio::steady_timer> failpoint_timer_;
    // Last: its thread runs everything above, so it stops first.
    net::io_thread io_thread_;
    bool closed_ = false;
    std::string key_, payload_;
};

} // namespace

std::unique_ptr<message_source> make_yahoo_source(const source_config& cfg, metrics_registry& metrics,
                                                  error_handler on_error, const source_context& context) {
    return std::make_unique<yahoo_source>(cfg, metrics, std::move(on_error), context);
}

} // namespace tapewire
