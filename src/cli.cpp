#include "src/cli.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include "src/base/clock.hpp"
#include "src/base/connection_string.hpp"
#include "src/base/duration_text.hpp"
#include "src/base/log.hpp"
#include "src/base/tzif.hpp"
#include "src/config/load.hpp"
#include "src/http/builtin_routes.hpp"
#include "src/http/server.hpp"
#include "src/kafka/embedded_broker.hpp"
#include "src/runtime/pipeline.hpp"
#include "src/sql/dialect.hpp"

namespace tapewire {

namespace {

constexpr int k_exit_ok = 0;
constexpr int k_exit_failure = 1;
constexpr int k_exit_usage = 2;

constexpr const char* k_usage =
    "usage:\n"
    "  tapewire run     [--config FILE] [--set key=value ...] [--duration 10s] [--ticks N] [--linger 30s]\n"
    "  tapewire produce [--config FILE] [--set key=value ...] [--duration 10s] [--ticks N]\n"
    "  tapewire process [--config FILE] [--set key=value ...] [--duration 10s] [--ticks N]\n"
    "  tapewire broker  [--config FILE] [--set key=value ...] [--brokers N] [--topic NAME:PARTITIONS ...]\n"
    "  tapewire check-config FILE [--set key=value ...]\n"
    "  tapewire version\n"
    "\n"
    "run           source -> Kafka (kafka.brokers; \"embedded\" by default, \"\" for none) -> parse ->\n"
    "              window -> vwap -> anomaly -> sinks, until the input ends, --duration or --ticks\n"
    "              is reached, or SIGINT/SIGTERM (what was produced is processed, open windows are\n"
    "              flushed). Without --config the built-in defaults apply.\n"
    "produce       source -> Kafka topic kafka.topic only.\n"
    "process       Kafka topic kafka.topic (as a member of group kafka.group) -> graph -> sinks.\n"
    "              On SIGINT/SIGTERM open windows are left uncommitted for the next reader.\n"
    "broker        serves the embedded Kafka-protocol broker on 127.0.0.1 for other processes;\n"
    "              prints its bootstrap address list on one line, runs until SIGINT/SIGTERM.\n"
    "check-config  loads and validates FILE, prints the effective configuration.\n"
    "--linger      after the run ends, keeps serving HTTP (the final /metrics) for this long or until\n"
    "              SIGINT/SIGTERM: a batch run's last figures for a scraper.\n";

struct run_args {
    std::string config_path;
    std::vector<std::string> overrides;
    run_limits limits;
    duration linger{0};              // run, process, produce: --linger
    int brokers = 0;                 // broker: --brokers
    std::vector<std::string> topics; // broker: --topic name:partitions
};

bool parse_whole(const std::string& v, unsigned long long& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(v.c_str(), &end, 10);
    return !v.empty() && *end == '\0' && errno == 0 && v[0] != '-';
}

// Reads the options shared by the commands; `positional` receives what is not an option.
bool parse_options(int argc, char** argv, int first, run_args& out, std::vector<std::string>& positional,
                   std::string& error) {
    for (int i = first; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](std::string& v) {
            if (const auto eq = a.find('='); eq != std::string::npos) {
                v = a.substr(eq + 1);
                return true;
            }
            if (i + 1 >= argc) {
                error = a + " needs a value";
                return false;
            }
            v = argv[++i];
            return true;
        };
        auto is = [&](const char* name) { return a == name || a.rfind(std::string(name) + "=", 0) == 0; };
        std::string v;
        if (is("--config")) {
            if (!value(out.config_path)) return false;
        } else if (is("--set")) {
            if (!value(v)) return false;
            if (v.find('=') == std::string::npos) {
                error = "--set takes key=value, got '" + v + "'";
                return false;
            }
            out.overrides.push_back(v);
        } else if (is("--duration")) {
            if (!value(v)) return false;
            const auto d = parse_duration(v);
            if (!d) {
                error = "--duration: '" + v + "' is not a duration (e.g. 10s, 500ms, 2m)";
                return false;
            }
            out.limits.max_duration = *d;
        } else if (is("--linger")) {
            if (!value(v)) return false;
            const auto d = parse_duration(v);
            if (!d) {
                error = "--linger: '" + v + "' is not a duration (e.g. 10s, 500ms, 2m)";
                return false;
            }
            out.linger = *d;
        } else if (is("--ticks")) {
            if (!value(v)) return false;
            unsigned long long n = 0;
            if (!parse_whole(v, n)) {
                error = "--ticks: '" + v + "' is not a whole number";
                return false;
            }
            out.limits.max_ticks = n;
        } else if (is("--brokers")) {
            if (!value(v)) return false;
            unsigned long long n = 0;
            if (!parse_whole(v, n) || n == 0 || n > 64) {
                error = "--brokers: '" + v + "' is not a broker count from 1 to 64";
                return false;
            }
            out.brokers = static_cast<int>(n);
        } else if (is("--topic")) {
            if (!value(v)) return false;
            out.topics.push_back(v);
        } else if (a.size() > 1 && a[0] == '-') {
            error = "unknown option " + a;
            return false;
        } else {
            positional.push_back(a);
        }
    }
    return true;
}

// SIGINT/SIGTERM are taken by the calling thread with sigtimedwait/sigwaitinfo; threads started
// afterwards inherit the mask, so no other thread is interrupted by them.
sigset_t block_stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    return signals;
}

config load(const run_args& a) {
    if (a.config_path.empty()) return load_config_text("", "(defaults)", a.overrides);
    return load_config_file(a.config_path, a.overrides);
}

// Loads the configuration and applies its [log], or says what is wrong with it (file:line: key: ...)
// and returns false. That error is plain text: without a config there is no log format to use.
bool load_reporting(const run_args& a, config& out) {
    try {
        out = load(a);
        log::configure(out.log);
        return true;
    } catch (const config_error& e) {
        std::fprintf(stderr, "tapewire: config error: %s\n", e.what());
        return false;
    }
}

std::string thousands(std::uint64_t n) {
    std::string s = std::to_string(n);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
    return s;
}

std::string rate_text(double per_s) {
    char b[32];
    if (per_s >= 1e6)
        std::snprintf(b, sizeof b, "%.2fM/s", per_s / 1e6);
    else if (per_s >= 1e3)
        std::snprintf(b, sizeof b, "%.1fk/s", per_s / 1e3);
    else
        std::snprintf(b, sizeof b, "%.0f/s", per_s);
    return b;
}

void print_status(const pipeline_stats& st, double seconds, double recent_rate) {
    std::fprintf(stderr, "\r\033[K%6.1fs  ticks %s (%s)  bars %s  alerts %s  dead %s", seconds,
                 thousands(st.ticks.load(std::memory_order_relaxed)).c_str(), rate_text(recent_rate).c_str(),
                 thousands(st.bars.load(std::memory_order_relaxed)).c_str(),
                 thousands(st.alerts.load(std::memory_order_relaxed)).c_str(),
                 thousands(st.dead_letters.load(std::memory_order_relaxed)).c_str());
    std::fflush(stderr);
}

// "13 requests: 11 x 200, 2 x 429; 1 timeout; 0 decode errors; 0 reconnects" from the yahoo_* metrics.
std::string fetch_summary(metrics_registry& reg) {
    std::uint64_t requests = 0, decode = 0, reconnects = 0, restarts = 0;
    std::map<std::string, std::uint64_t> statuses, errors;
    const auto label = [](const std::string& name, const std::string& key) {
        const std::string k = key + "=\"";
        const auto at = name.find(k);
        return at == std::string::npos ? std::string()
                                       : name.substr(at + k.size(), name.find('"', at + k.size()) - at - k.size());
    };
    for (const auto& m : reg.snapshot()) {
        if (m.name.rfind("yahoo_", 0) != 0 || m.kind != "counter") continue;
        const auto v = static_cast<std::uint64_t>(m.value);
        if (m.name.rfind("yahoo_requests{", 0) == 0)
            requests += v;
        else if (m.name.rfind("yahoo_responses{", 0) == 0)
            statuses[label(m.name, "status")] += v;
        else if (m.name.rfind("yahoo_errors{", 0) == 0)
            errors[label(m.name, "error")] += v;
        else if (m.name.rfind("yahoo_decode_errors{", 0) == 0)
            decode += v;
        else if (m.name.rfind("yahoo_reconnects{", 0) == 0)
            reconnects += v;
        else if (m.name.rfind("yahoo_restarts{", 0) == 0)
            restarts += v;
    }
    std::string out = thousands(requests) + " requests";
    std::string parts;
    for (const auto& [status, n] : statuses) parts += (parts.empty() ? "" : ", ") + thousands(n) + " x " + status;
    for (const auto& [error, n] : errors) parts += (parts.empty() ? "" : ", ") + thousands(n) + " " + error;
    if (!parts.empty()) out += " (" + parts + ")";
    out += ", " + thousands(decode) + " undecodable, " + thousands(reconnects) + " reconnects, " + thousands(restarts) +
           " restarts";
    return out;
}

// "12 sent, 3 retries, 0 given up, 2 dropped (queue full), 0 undelivered" from the webhook_* counters.
std::string webhook_summary(metrics_registry& reg) {
    std::map<std::string, std::uint64_t> n;
    for (const auto& m : reg.snapshot())
        if (m.name.rfind("webhook_", 0) == 0 && m.kind == "counter") n[m.name] = static_cast<std::uint64_t>(m.value);
    return thousands(n["webhook_sent_total"]) + " sent, " + thousands(n["webhook_retries_total"]) + " retries, " +
           thousands(n["webhook_given_up_total"]) + " given up, " + thousands(n["webhook_dropped_total"]) +
           " dropped (queue full), " + thousands(n["webhook_undelivered_total"]) + " undelivered";
}

void print_summary(pipeline& p, const config& cfg, pipeline_mode mode, double seconds, const std::string& error) {
    const pipeline_stats& st = p.stats();
    const std::uint64_t ticks = st.ticks.load();
    std::fprintf(stderr, "tapewire: %s in %.2f s\n", error.empty() ? "finished" : "stopped by an error", seconds);
    if (mode != pipeline_mode::process && st.produced.load() + st.messages.load() > 0 &&
        (mode == pipeline_mode::produce || st.produced.load() > 0))
        std::fprintf(stderr, "  produced      %s\n", thousands(st.produced.load()).c_str());
    if (is_yahoo(cfg.source.kind) && mode != pipeline_mode::process)
        std::fprintf(stderr, "  fetched       %s\n", fetch_summary(p.metrics()).c_str());
    if (mode == pipeline_mode::produce) {
        std::fprintf(stderr, "  output        %s\n", p.describe().c_str());
        if (!error.empty()) std::fprintf(stderr, "  error         %s\n", error.c_str());
        return;
    }
    std::fprintf(stderr, "  messages in   %s\n", thousands(st.messages.load()).c_str());
    std::fprintf(stderr, "  ticks parsed  %s (%s)\n", thousands(ticks).c_str(),
                 rate_text(seconds > 0 ? static_cast<double>(ticks) / seconds : 0).c_str());
    std::string reasons;
    for (std::size_t r = 0; r < k_dead_letter_reasons; ++r) {
        const std::uint64_t n = st.dead_by_reason[r].load();
        if (n == 0) continue;
        reasons += (reasons.empty() ? "" : ", ") + std::string(to_string(static_cast<dead_letter_reason>(r))) + " " +
                   thousands(n);
    }
    std::fprintf(stderr, "  dead letters  %s%s%s%s\n", thousands(st.dead_letters.load()).c_str(),
                 reasons.empty() ? "" : " (", reasons.c_str(), reasons.empty() ? "" : ")");
    std::fprintf(stderr, "  bars          %s (%s late corrections)\n", thousands(st.bars.load()).c_str(),
                 thousands(st.corrections.load()).c_str());
    if (const std::uint64_t n =
            st.new_bars.load() + st.duplicate_bars.load() + st.bar_revisions.load() + st.bars_beyond_memory.load();
        n > 0)
        std::fprintf(stderr,
                     "  bar input     %s new, %s duplicates, %s revised, %s beyond memory; memory %s bars (%s KiB)\n",
                     thousands(st.new_bars.load()).c_str(), thousands(st.duplicate_bars.load()).c_str(),
                     thousands(st.bar_revisions.load()).c_str(), thousands(st.bars_beyond_memory.load()).c_str(),
                     thousands(st.bar_memory_bars.load()).c_str(),
                     thousands((st.bar_memory_bytes.load() + 1023) / 1024).c_str());
    if (cfg.window.emit_updates > duration::zero())
        std::fprintf(stderr, "  bar updates   %s open bars every %s (%s)\n", thousands(st.bar_updates.load()).c_str(),
                     format_duration(cfg.window.emit_updates).c_str(),
                     cfg.sink.updates ? "written: sink.updates" : "not written: sink.updates = false");
    std::fprintf(stderr, "  alerts        %s\n", thousands(st.alerts.load()).c_str());
    if (!cfg.alerts.webhook_url.empty())
        std::fprintf(stderr, "  webhook       %s\n", webhook_summary(p.metrics()).c_str());
    const bool odbc = cfg.sink.kind.contains(sink_kind::odbc);
    if (odbc)
        std::fprintf(stderr, "  database      %s rows in %s transactions\n", thousands(st.sql_rows.load()).c_str(),
                     thousands(st.sql_commits.load()).c_str());
    std::fprintf(stderr, "  output        %s\n", p.describe().c_str());
    if (!error.empty()) std::fprintf(stderr, "  error         %s\n", error.c_str());
    if (const std::string db = sqlite_database_path(cfg.sink.connection); odbc && error.empty() && !db.empty())
        std::fprintf(stderr,
                     "  try           sqlite3 -header -column %s \"SELECT symbol, COUNT(*) AS bars, "
                     "ROUND(SUM(vwap * volume) / SUM(volume), 4) AS vwap, SUM(trades) AS trades FROM %s "
                     "WHERE width_ns = %lld GROUP BY symbol ORDER BY trades DESC LIMIT 5\"\n",
                     db.c_str(), cfg.sink.bars_table.c_str(),
                     static_cast<long long>(cfg.window.effective_widths().front().count()));
}

// The embedded HTTP server of run, process and produce ([http]; none when http.listen = ""). What
// escapes its thread stops the pipeline and becomes the run's error.
class http_frontend {
public:
    // Binds http.listen; throws std::runtime_error naming it when the address is taken.
    http_frontend(const config& cfg, pipeline& p)
        : server_(http::server_options{.http = cfg.http}, p.metrics(), http::web_assets(),
                  [this](const std::string& who, const std::string& what) {
                      std::lock_guard<std::mutex> lock(mu_);
                      if (error_.empty()) error_ = who + ": " + what;
                      failed_.store(true, std::memory_order_release);
                  }) {
        http::add_builtin_routes(server_.routes(), p.metrics());
    }

    void start() {
        server_.start();
        const std::string address = server_.address().text();
        log::info("http", "listening", {{"address", address}, {"dashboard", "http://" + address + "/"}});
    }
    [[nodiscard]] bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    [[nodiscard]] std::string error() const {
        std::lock_guard<std::mutex> lock(mu_);
        return error_;
    }

private:
    mutable std::mutex mu_;
    std::string error_;
    std::atomic<bool> failed_{false};
    http::server server_; // last: stopped (its thread joined) before the members its handler uses go
};

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

const char* mode_name(pipeline_mode m) {
    switch (m) {
    case pipeline_mode::run: return "run";
    case pipeline_mode::produce: return "produce";
    case pipeline_mode::process: return "process";
    }
    return "?";
}

int cmd_pipeline(int argc, char** argv, pipeline_mode mode) {
    run_args args;
    std::vector<std::string> positional;
    std::string error;
    if (!parse_options(argc, argv, 2, args, positional, error) || !positional.empty() || args.brokers != 0 ||
        !args.topics.empty()) {
        if (error.empty())
            error =
                !positional.empty() ? "unexpected argument " + positional[0] : "--brokers and --topic are for broker";
        std::fprintf(stderr, "tapewire %s: %s\n%s", mode_name(mode), error.c_str(), k_usage);
        return k_exit_usage;
    }
    config cfg;
    if (!load_reporting(args, cfg)) return k_exit_usage;

    const sigset_t signals = block_stop_signals();
    // A signal while the start waits for the database ends the wait (and the run).
    args.limits.stop_requested = [&signals] {
        timespec now{0, 0};
        const int sig = sigtimedwait(&signals, nullptr, &now);
        return sig == SIGINT || sig == SIGTERM;
    };

    std::unique_ptr<pipeline> p;
    std::unique_ptr<http_frontend> web; // after p: goes first, its routes read the pipeline
    try {
        p = std::make_unique<pipeline>(cfg, args.limits, mode);
        if (!cfg.http.listen.empty()) web = std::make_unique<http_frontend>(cfg, *p);
    } catch (const std::exception& e) {
        log::error("cli", "cannot start", {{"error", e.what()}});
        return k_exit_failure;
    }
    const bool tty = isatty(STDERR_FILENO) != 0;
    log::info("cli", "starting",
              {{"version", TAPEWIRE_VERSION},
               {"mode", mode_name(mode)},
               {"pipeline", p->describe()},
               {"config", cfg.file.empty() ? "(defaults)" : cfg.file}});
    if (const std::string b = p->embedded_bootstraps(); !b.empty())
        log::info("cli", "embedded Kafka broker",
                  {{"bootstrap", b}, {"attach", "kcat -b " + b + " -C -t " + cfg.kafka.topic}});
    if (web) web->start();
    const std::int64_t t0 = mono_ns();
    p->start();

    std::int64_t last_status = t0;
    std::uint64_t last_ticks = 0;
    int stops = 0;
    while (!p->finished()) {
        timespec wait{0, 100'000'000};
        const int sig = sigtimedwait(&signals, nullptr, &wait);
        const std::int64_t now = mono_ns();
        if (sig == SIGINT || sig == SIGTERM) {
            if (++stops == 1) {
                if (tty) std::fprintf(stderr, "\n");
                log::info("cli",
                          mode == pipeline_mode::process
                              ? "stopping: finishing what was read, committing offsets (again to abort)"
                              : "stopping: finishing what was sent, flushing open windows (again to abort)",
                          {{"signal", signal_name(sig)}});
                p->stop();
            } else {
                log::warn("cli", "second signal: aborting without a flush", {{"signal", signal_name(sig)}});
                std::_Exit(130);
            }
        }
        if (args.limits.max_duration.count() > 0 && now - t0 >= args.limits.max_duration.count()) p->stop();
        if (web && web->failed()) p->stop();
        if (tty && now - last_status >= 250'000'000) {
            const std::uint64_t ticks = p->stats().ticks.load(std::memory_order_relaxed);
            const double rate = static_cast<double>(ticks - last_ticks) * 1e9 / static_cast<double>(now - last_status);
            print_status(p->stats(), static_cast<double>(now - t0) / 1e9, rate);
            last_status = now;
            last_ticks = ticks;
        }
    }
    std::string err = p->wait();
    if (web && web->failed() && err.empty()) err = web->error();
    if (tty) std::fprintf(stderr, "\n");
    print_summary(*p, cfg, mode, static_cast<double>(mono_ns() - t0) / 1e9, err);
    if (web && !web->failed() && args.linger.count() > 0 && stops == 0) {
        log::info("cli", "run ended; still serving HTTP (SIGINT/SIGTERM to quit)", {{"linger", args.linger}});
        const std::int64_t until = mono_ns() + args.linger.count();
        for (std::int64_t now = mono_ns(); now < until && !web->failed(); now = mono_ns()) {
            timespec wait{0, std::min<std::int64_t>(until - now, 100'000'000)};
            const int sig = sigtimedwait(&signals, nullptr, &wait);
            if (sig == SIGINT || sig == SIGTERM) break;
        }
    }
    web.reset();
    return err.empty() ? k_exit_ok : k_exit_failure;
}

int cmd_broker(int argc, char** argv) {
    run_args args;
    std::vector<std::string> positional;
    std::string error;
    if (!parse_options(argc, argv, 2, args, positional, error) || !positional.empty() || args.limits.max_ticks != 0) {
        if (error.empty())
            error = !positional.empty() ? "unexpected argument " + positional[0] : "--ticks is not for broker";
        std::fprintf(stderr, "tapewire broker: %s\n%s", error.c_str(), k_usage);
        return k_exit_usage;
    }
    config cfg;
    if (!load_reporting(args, cfg)) return k_exit_usage;
    // Topics: --topic NAME[:PARTITIONS] as given, else the ones the config uses.
    std::vector<std::pair<std::string, int>> topics;
    for (const auto& t : args.topics) {
        const std::size_t colon = t.rfind(':');
        unsigned long long n = cfg.kafka.partitions;
        const std::string name = colon == std::string::npos ? t : t.substr(0, colon);
        if ((colon != std::string::npos && (!parse_whole(t.substr(colon + 1), n) || n == 0 || n > 100000)) ||
            name.empty()) {
            std::fprintf(stderr, "tapewire broker: --topic takes NAME or NAME:PARTITIONS, got '%s'\n", t.c_str());
            return k_exit_usage;
        }
        topics.emplace_back(name, static_cast<int>(n));
    }
    if (topics.empty()) {
        const int n = static_cast<int>(cfg.kafka.partitions);
        for (const auto& name : {cfg.kafka.topic, cfg.kafka.dlq_topic, cfg.kafka.bars_topic, cfg.kafka.alerts_topic})
            if (!name.empty()) topics.emplace_back(name, n);
    }
    const sigset_t signals = block_stop_signals();

    const int brokers = args.brokers != 0 ? args.brokers : static_cast<int>(cfg.kafka.embedded_brokers);
    embedded_broker broker(brokers);
    std::string listing;
    for (const auto& [name, n] : topics) {
        broker.create_topic(name, n, std::min(brokers, 3));
        listing += (listing.empty() ? "" : ", ") + name + ":" + std::to_string(n);
    }
    std::printf("%s\n", broker.bootstraps().c_str());
    std::fflush(stdout);
    log::info("broker", "serving in memory, ~5 MiB kept per partition; SIGINT/SIGTERM to stop",
              {{"brokers", brokers}, {"bootstrap", broker.bootstraps()}, {"topics", listing}});
    int sig = 0;
    while (sig != SIGINT && sig != SIGTERM) sig = sigwaitinfo(&signals, nullptr);
    log::info("broker", "stopping", {{"signal", signal_name(sig)}});
    return k_exit_ok;
}

int cmd_check_config(int argc, char** argv) {
    run_args args;
    std::vector<std::string> positional;
    std::string error;
    if (!parse_options(argc, argv, 2, args, positional, error) || positional.size() != 1) {
        std::fprintf(stderr, "tapewire check-config: %s\n%s", error.empty() ? "expects one FILE" : error.c_str(),
                     k_usage);
        return k_exit_usage;
    }
    args.config_path = positional[0];
    try {
        const config cfg = load(args);
        log::configure(cfg.log);
        (void)make_session_calendar(cfg.vwap.session_tz, cfg.vwap.session_start);
        std::fputs(describe_config(cfg).c_str(), stdout);
        log::info("cli", "config ok", {{"file", args.config_path}});
        return k_exit_ok;
    } catch (const config_error& e) {
        std::fprintf(stderr, "tapewire: config error: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapewire: config error: %s: vwap.session_tz: %s\n", args.config_path.c_str(), e.what());
    }
    return k_exit_usage;
}

} // namespace

int run_cli(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(k_usage, stderr);
        return k_exit_usage;
    }
    const std::string cmd = argv[1];
    try {
        if (cmd == "run") return cmd_pipeline(argc, argv, pipeline_mode::run);
        if (cmd == "produce") return cmd_pipeline(argc, argv, pipeline_mode::produce);
        if (cmd == "process") return cmd_pipeline(argc, argv, pipeline_mode::process);
        if (cmd == "broker") return cmd_broker(argc, argv);
        if (cmd == "check-config") return cmd_check_config(argc, argv);
        if (cmd == "version" || cmd == "--version") {
            std::printf("tapewire %s\n", TAPEWIRE_VERSION);
            return k_exit_ok;
        }
        if (cmd == "help" || cmd == "--help" || cmd == "-h") {
            std::fputs(k_usage, stdout);
            return k_exit_ok;
        }
    } catch (const std::exception& e) {
        log::error("cli", "stopped by an error", {{"error", e.what()}});
        return k_exit_failure;
    }
    std::fprintf(stderr, "tapewire: unknown command '%s'\n%s", cmd.c_str(), k_usage);
    return k_exit_usage;
}

} // namespace tapewire
