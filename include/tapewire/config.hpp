// Configuration as plain structs: parsed once from TOML (src/config/), validated once, and each
// component receives only its own part. Every field documents its default; conf/tapewire.toml
// documents the same keys for users.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/idle.hpp"

namespace tapewire {

using duration = std::chrono::nanoseconds;

// ---- kinds: the closed sets of words a key may take, each word stated once ----

enum class source_kind : std::uint8_t { synthetic, replay, yahoo_chart, yahoo_stream };
enum class sink_kind : std::uint8_t { ndjson, kafka, odbc };
// The payload shape of input messages: ticks, or 1-minute bars from an older producer.
enum class message_format : std::uint8_t { tick, bar };

template <class Kind> struct kind_name {
    Kind kind;
    std::string_view name; // the text users write
};

// `table`: every value of a kind with its name, in the order the names are listed to users.
template <class Kind> struct kind_names;

template <> struct kind_names<source_kind> {
    static constexpr std::array<kind_name<source_kind>, 4> table{{{source_kind::synthetic, "synthetic"},
                                                                  {source_kind::replay, "replay"},
                                                                  {source_kind::yahoo_chart, "yahoo-chart"},
                                                                  {source_kind::yahoo_stream, "yahoo-stream"}}};
};
template <> struct kind_names<sink_kind> {
    static constexpr std::array<kind_name<sink_kind>, 3> table{
        {{sink_kind::ndjson, "ndjson"}, {sink_kind::kafka, "kafka"}, {sink_kind::odbc, "odbc"}}};
};
template <> struct kind_names<message_format> {
    static constexpr std::array<kind_name<message_format>, 2> table{
        {{message_format::tick, "tick"}, {message_format::bar, "bar"}}};
};
// Whose event time closes windows: each input partition's (one clock for all its symbols), each
// symbol's own, or auto (symbol for bar input and replays, partition for live tick feeds).
enum class watermark_mode : std::uint8_t { auto_, partition, symbol };
template <> struct kind_names<watermark_mode> {
    static constexpr std::array<kind_name<watermark_mode>, 3> table{{{watermark_mode::auto_, "auto"},
                                                                     {watermark_mode::partition, "partition"},
                                                                     {watermark_mode::symbol, "symbol"}}};
};
template <> struct kind_names<idle_kind> {
    static constexpr std::array<kind_name<idle_kind>, 3> table{
        {{idle_kind::backoff, "backoff"}, {idle_kind::busy_spin, "spin"}, {idle_kind::sleep, "sleep"}}};
};

// Severity of a log record, least severe first.
enum class log_level : std::uint8_t { debug, info, warn, error };
// How a log record is written to stderr.
enum class log_format : std::uint8_t { text, json };
template <> struct kind_names<log_level> {
    static constexpr std::array<kind_name<log_level>, 4> table{{{log_level::debug, "debug"},
                                                                {log_level::info, "info"},
                                                                {log_level::warn, "warn"},
                                                                {log_level::error, "error"}}};
};
template <> struct kind_names<log_format> {
    static constexpr std::array<kind_name<log_format>, 2> table{
        {{log_format::text, "text"}, {log_format::json, "json"}}};
};

template <class Kind>
concept named_kind = requires {
    kind_names<Kind>::table;
};

template <named_kind Kind> constexpr std::string_view to_string(Kind k) noexcept {
    for (const auto& [kind, name] : kind_names<Kind>::table)
        if (kind == k) return name;
    return "unknown";
}

// The kind a user's text names; nullopt for any other text.
template <named_kind Kind> constexpr std::optional<Kind> kind_from_string(std::string_view text) noexcept {
    for (const auto& [kind, name] : kind_names<Kind>::table)
        if (name == text) return kind;
    return std::nullopt;
}

constexpr bool is_yahoo(source_kind k) noexcept {
    return k == source_kind::yahoo_chart || k == source_kind::yahoo_stream;
}

// The sinks of one run: a set, iterated in the order of sink_kind whatever order they were listed in.
class sink_kinds {
public:
    class iterator {
    public:
        using value_type = sink_kind;
        using difference_type = std::ptrdiff_t;

        constexpr iterator() noexcept = default;
        constexpr explicit iterator(std::uint8_t rest) noexcept : rest_(rest) {}
        constexpr sink_kind operator*() const noexcept { return static_cast<sink_kind>(std::countr_zero(rest_)); }
        constexpr iterator& operator++() noexcept {
            rest_ = static_cast<std::uint8_t>(rest_ & (rest_ - 1)); // drop the lowest kind
            return *this;
        }
        constexpr iterator operator++(int) noexcept {
            const iterator before = *this;
            ++*this;
            return before;
        }
        friend constexpr bool operator==(iterator, iterator) noexcept = default;

    private:
        std::uint8_t rest_ = 0;
    };

    constexpr sink_kinds() noexcept = default;
    constexpr sink_kinds(std::initializer_list<sink_kind> kinds) noexcept {
        for (sink_kind k : kinds) insert(k);
    }

    // False when `k` was already in the set.
    constexpr bool insert(sink_kind k) noexcept {
        const bool added = !contains(k);
        bits_ = static_cast<std::uint8_t>(bits_ | bit(k));
        return added;
    }
    [[nodiscard]] constexpr bool contains(sink_kind k) const noexcept { return (bits_ & bit(k)) != 0; }
    [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return static_cast<std::size_t>(std::popcount(bits_)); }
    [[nodiscard]] constexpr iterator begin() const noexcept { return iterator(bits_); }
    [[nodiscard]] constexpr iterator end() const noexcept { return iterator(0); }

    friend constexpr bool operator==(const sink_kinds&, const sink_kinds&) noexcept = default;

private:
    static constexpr std::uint8_t bit(sink_kind k) noexcept {
        return static_cast<std::uint8_t>(1u << static_cast<unsigned>(k));
    }

    std::uint8_t bits_ = 0;
};

// Injected anomalies of the synthetic market, with their ground truth written to `labels`.
struct anomaly_injection_config {
    bool enabled = false;                            // inject nothing unless set
    duration jump_every = std::chrono::seconds(20);  // mean event time between price jumps, per symbol
    double jump_size = 0.04;                         // |log return| of an injected jump (sign random)
    duration burst_every = std::chrono::seconds(20); // mean event time between volume bursts, per symbol
    double burst_factor = 12.0;                      // trade sizes multiplied by this during a burst
    duration burst_length = std::chrono::seconds(1); // how long a burst lasts in event time
    std::string labels;                              // NDJSON file of injected events ("" = none)
};

// Yahoo Finance sources: kind "yahoo-chart" (polls /v8/finance/chart for 1-minute bars) and kind
// "yahoo-stream" (the streamer websocket's ticks). conf/yahoo.toml is a ready example.
struct yahoo_config {
    std::string base_url = "https://query2.finance.yahoo.com";              // yahoo-chart: scheme://host[:port]
    std::string stream_url = "wss://streamer.finance.yahoo.com/?version=2"; // yahoo-stream
    duration poll_interval = std::chrono::seconds(15);                      // yahoo-chart: each symbol this often
    std::uint32_t concurrency = 4;                                          // yahoo-chart: requests in flight
    bool keep_alive = true;                                                 // reuse connections between requests
    duration connect_timeout = std::chrono::seconds(5);                     // resolve + connect + TLS handshake
    duration request_timeout = std::chrono::seconds(10);                    // send a request, read the whole answer
    duration bar_grace = std::chrono::seconds(5);       // the live bar is sent once its minute plus this has passed
    duration backoff_min = std::chrono::seconds(1);     // first wait after a 429, 5xx, timeout or failed connection
    duration backoff_max = std::chrono::minutes(5);     // longest wait (Retry-After may ask for more)
    duration not_found_backoff = std::chrono::hours(1); // a symbol Yahoo answers 404 for is asked again after this
    duration resubscribe_interval = std::chrono::seconds(15); // yahoo-stream: subscription re-sent this often
    duration stream_silence = std::chrono::seconds(60);       // yahoo-stream: reconnect after this long without a frame
    std::uint32_t stream_symbols_per_connection = 100;        // yahoo-stream: symbols share connections of this size
    bool tls_verify = true;                                   // verify certificates (chain and host name)
    std::string ca_file;                                      // PEM of trusted CAs; "" = the system store
    std::string user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                             "Chrome/131.0.0.0 Safari/537.36";
    std::uint32_t max_pending = 1'000'000; // messages fetched but not yet taken by the graph; fetching waits above
};

struct source_config {
    source_kind kind = source_kind::synthetic; // synthetic | replay | yahoo-chart | yahoo-stream
    std::vector<std::string> symbols;          // explicit symbols; empty = generate symbol_count names
    std::uint32_t symbol_count = 100;          // synthetic: how many symbols when `symbols` is empty
    double rate = 100'000;                     // synthetic: ticks/s in wall-clock time, 0 = as fast as possible
    double event_rate = 0;                     // synthetic: ticks/s in event time; 0 = rate (100 000 when rate = 0)
    std::uint64_t seed = 1;                    // synthetic: same seed, same ticks
    std::string start = "now";                 // synthetic: event time of the first tick, "now" or RFC 3339
    double volatility = 0.25;                  // synthetic: annualised volatility of the GBM
    double spread_bps = 2.0;                   // synthetic: bid/ask spread in basis points
    double size_alpha = 2.5;                   // synthetic: Pareto tail index of trade sizes (heavier when smaller)
    std::vector<std::string> path;             // replay: NDJSON files, read in order
    double speed = 0;                          // replay: 0 = as fast as possible, 1 = recorded pace, 2 = twice as fast
    message_format format = message_format::tick; // payload shape the parse stage expects: tick | bar (older producer)
    std::string symbol;                           // symbol for keyless bar messages of the older producer
    anomaly_injection_config anomalies;
    yahoo_config yahoo;   // the yahoo-* kinds; their keys sit in [source] too (source.base_url, ...)
    bool backfill = true; // yahoo-chart: first ask each symbol for the gap since the SQL sink's last bar
};

struct window_config {
    duration width = std::chrono::seconds(1); // tumbling window width
    // Several widths from one pass, e.g. ["1s", "1m", "5m"]: ascending, each a multiple of the one before,
    // at most 8; each width its own bars (the wider ones the roll-up of the narrower). Empty: [width].
    // window.width, when set to other than its default, must be one of them.
    std::vector<duration> widths;
    duration allowed_lateness = std::chrono::milliseconds(200); // watermark = max ts - this
    duration idle_timeout =
        std::chrono::seconds(5); // processing time after which a silent partition closes its windows
    duration late_update_horizon =
        std::chrono::minutes(1); // a late tick this far behind the watermark still corrects its bar
    duration max_future_skew = std::chrono::seconds(5); // ts further ahead of wall clock is rejected (0 = no check)
    // auto | partition | symbol: whose event time closes windows (auto: symbol for source.format = bar,
    // yahoo-chart and replay; partition otherwise)
    watermark_mode watermark = watermark_mode::auto_;
    // How far back (bar start, behind each symbol's newest bar) received source bars are remembered, so
    // that a bar message received again adds nothing and a changed one replaces it (0 = bars merge
    // additively, like trades). 48 B per remembered bar; the default holds a month of 1-minute bars.
    duration bar_memory = std::chrono::hours(24 * 31);
    // Live bars: every this much processing time, the open bar of each symbol that changed goes out as
    // a bar update (not final; sinks write them with sink.updates). 0 = off, else at least 10ms.
    duration emit_updates{0};

    // The widths in use, narrowest first: widths, or [width] when widths is empty.
    [[nodiscard]] std::vector<duration> effective_widths() const {
        return widths.empty() ? std::vector{width} : widths;
    }
};

struct vwap_config {
    std::uint32_t rolling_windows = 20;          // K windows in the rolling VWAP
    std::string session_tz = "America/New_York"; // time zone whose days delimit sessions
    std::string session_start = "00:00";         // local time of day the session VWAP resets at
};

struct anomaly_config {
    double price_jump = 0.02;       // |ln(p / p_prev)| of consecutive ticks that fires at once
    double return_z = 6.0;          // |z| of a bar's log return against its EWMA mean/variance
    double volume_spike = 5.0;      // bar volume / EWMA volume
    double vwap_dev_bps = 150.0;    // |close - session VWAP| in basis points (fires on crossing)
    double ewma_alpha = 0.05;       // weight of the newest bar in the EWMAs
    std::uint32_t warmup_bars = 30; // bars per symbol before bar-level alerts may fire
};

struct pipeline_config {
    std::uint32_t threads = 1;                  // 1: all stages fused; 2: parse | window→vwap→anomaly
    std::uint32_t ring_size = 4'096;            // records per ring between threads (~700 KB: stays in L2)
    std::uint32_t input_ring_bytes = 16u << 20; // bytes of raw messages between the source and parse
    std::uint32_t batch = 256;                  // messages per pass before publishing downstream
    idle_kind idle = idle_kind::backoff;        // backoff | spin | sleep
    std::vector<int> cpus;                      // pin threads (source, pipeline..., sink) to these CPUs
};

struct sink_config {
    sink_kinds kind{sink_kind::ndjson};        // ndjson, kafka (bars and alerts to kafka.*_topic), odbc
    std::string path = "data/tapewire.ndjson"; // "-" = standard output
    bool bars = true;                          // write bars
    bool alerts = true;                        // write alerts
    bool dead_letters = true;                  // write dead letters
    bool updates = false; // write bar updates (needs window.emit_updates) to NDJSON and Kafka; SQL never

    // kind "odbc": an ODBC connection string ("Driver=...;..." or "DSN=...;..."); ${ENV} expands.
    std::string connection = "Driver=SQLite3;Database=data/tapewire.db";
    std::uint32_t batch_rows = 5000;                          // commit once this many rows are pending
    duration batch_interval = std::chrono::milliseconds(500); // or once the oldest pending row is this old
    bool archive_ticks = false;                               // also write every tick to ticks_table
    duration retry_min = std::chrono::milliseconds(100);      // back-off after a transient database error
    duration retry_max = std::chrono::seconds(10);            // back-off cap
    std::uint32_t ring_size = 65536;                          // rows between the graph and the writer thread
    std::string bars_table = "bars";
    std::string alerts_table = "alerts";
    std::string dead_letters_table = "dead_letters";
    std::string ticks_table = "ticks";
    std::string offsets_table = "tapewire_offsets";
    std::string state_table = "tapewire_state";
};

// One librdkafka property from [kafka.producer] or [kafka.consumer], with where it was set so a
// value librdkafka refuses can be reported at its line.
struct kafka_property {
    std::string name;  // "linger.ms"
    std::string value; // "5" (numbers and booleans are passed as their text)
    std::string file;  // where it was set
    int line = 0;
};

struct kafka_config {
    std::string brokers = "embedded";    // "embedded" = in-process broker, "" = no Kafka, else host:port,...
    std::string topic = "ticks";         // input topic (the producer writes it, the consumer reads it)
    std::string group = "tapewire";      // consumer group of `process` / `run`
    std::uint32_t partitions = 64;       // embedded broker: partitions of each topic it creates
    std::uint32_t embedded_brokers = 1;  // embedded broker: brokers in the cluster
    std::string bars_topic = "bars";     // sink kind "kafka": bars go here
    std::string alerts_topic = "alerts"; // sink kind "kafka": alerts go here
    std::string dlq_topic = "ticks.dlq"; // dead letters of Kafka input ("" = none), reason in a header
    bool stop_at_end = false;            // process: stop once every assigned partition is read to its end
    duration pause_after = std::chrono::milliseconds(100); // input ring full this long → pause the partitions
    std::vector<kafka_property> producer;                  // librdkafka producer properties, passed through
    std::vector<kafka_property> consumer;                  // librdkafka consumer properties, passed through
};

struct log_config {
    log_level level = log_level::info;    // debug | info | warn | error: records below it are dropped
    log_format format = log_format::text; // text: one human line; json: one JSON object per line
};

// The embedded HTTP server (src/http/): health, metrics, the live API and the dashboard.
struct http_config {
    std::string listen = "127.0.0.1:8080";  // host:port to serve on; "" = no server; port 0 = any free port
    std::string token;                      // when set, every path but /healthz needs "Authorization: Bearer <token>"
    std::uint32_t max_connections = 64;     // open connections at once; beyond it a new one gets 503 and is closed
    std::uint32_t max_request_bytes = 8192; // request line + headers + body; larger = 413
    duration header_timeout = std::chrono::seconds(5); // a request's headers must arrive within this
    duration idle_timeout = std::chrono::seconds(60);  // a kept-alive connection quiet this long is closed
    std::uint32_t max_sse_clients = 100;               // event streams open at once; beyond it 503
};

struct config {
    std::string file; // where it was loaded from ("" = built-in defaults)
    source_config source;
    window_config window;
    vwap_config vwap;
    anomaly_config anomaly;
    pipeline_config pipeline;
    sink_config sink;
    kafka_config kafka;
    log_config log;
    http_config http;
};

} // namespace tapewire
