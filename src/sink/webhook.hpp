// Market alerts to a webhook ([alerts] webhook_url): each alert the analytics thread hands over is
// POSTed as JSON (the fields the NDJSON sink writes, plus a Slack/Teams-style `text` line and an
// `idempotency_key`, also sent as the Idempotency-Key header) from a thread of its own.
//
// The hand-over is a bounded SPSC ring: offer() is wait-free, and a full ring drops the alert and
// counts it (webhook_dropped_total), so a slow or dead endpoint never slows the pipeline. Delivery
// is in order, one alert at a time: 2xx is delivered; 408, 429, 5xx and network errors are retried
// with back-off (a Retry-After is honoured, up to k_max_retry_after); any other status gives the
// alert up, counted and logged with the status. At stop, what is queued gets drain_timeout to go;
// the rest is counted as undelivered.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "src/base/metrics.hpp"
#include "tapewire/config.hpp"
#include "tapewire/runner.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

// A server asking for more than this between tries is asked again after this: a queue held for
// hours would only turn every later alert into a drop.
inline constexpr std::chrono::minutes k_max_retry_after{10};

// What became of the alerts offered, for the summary (also in the registry as webhook_*_total).
struct webhook_counts {
    std::uint64_t sent = 0;        // a 2xx answer
    std::uint64_t given_up = 0;    // refused for good (a 4xx other than 408 and 429, a 3xx)
    std::uint64_t dropped = 0;     // the queue was full when offered
    std::uint64_t undelivered = 0; // still queued (or in flight) when the drain time ran out
    std::uint64_t retries = 0;     // tries after a failed one
};

class webhook_sink {
public:
    // `cfg.webhook_url` must be set (validated config). Registers its metrics in `metrics`; an
    // exception escaping the delivery thread goes to `on_error`. Throws std::invalid_argument for
    // a URL that does not parse, std::runtime_error when the TLS context cannot be built.
    webhook_sink(const alerts_config& cfg, metrics_registry& metrics, error_handler on_error);
    ~webhook_sink(); // stop()
    webhook_sink(const webhook_sink&) = delete;
    webhook_sink& operator=(const webhook_sink&) = delete;

    // From one thread only (the analytics thread). Wait-free: no lock, no allocation, no syscall
    // beyond the clock. False when the queue is full: the alert is dropped and counted.
    bool offer(const alert& a) noexcept;

    // Starts the delivery thread. Alerts offered before are kept and sent.
    void start();
    // Call once the thread that offers has stopped. Delivers what is queued for up to
    // drain_timeout, then ends the thread; what is left is counted as undelivered. Idempotent.
    void stop();

    [[nodiscard]] webhook_counts counts() const noexcept;
    // "webhook(https://hooks.slack.com/…)": scheme and host only, the path may be a secret.
    [[nodiscard]] std::string describe() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The pieces of one delivery (pure, for the tests).
// "AAPL|1732800000123456789|price_jump"; bytes of the symbol that could not stand in a header or
// would blur the separator ('|', '%', controls, non-ASCII) as %XX.
std::string webhook_key(const alert& a);
// One human line: "AAPL price jump +4.12% at 2026-12-03T15:04:05Z (2.1× the threshold)", with
// Slack's three escapes (&, <, >) applied to the symbol.
std::string webhook_text(const alert& a);
// {"type":"alert",...the NDJSON fields...,"text":"...","idempotency_key":"..."}
std::string webhook_body(const alert& a);

} // namespace tapewire
