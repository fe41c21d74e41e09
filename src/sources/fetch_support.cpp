#include "src/sources/fetch_support.hpp"

namespace tapewire {

namespace {
std::string series(std::string_view name, const std::string& source, std::string_view extra = {}) {
    std::string s(name);
    s += "{source=\"" + source + "\"";
    if (!extra.empty()) s += "," + std::string(extra);
    return s + "}";
}
} // namespace

fetch_metrics::fetch_metrics(metrics_registry& reg, std::string source)
    : requests(reg.get_counter(series("yahoo_requests", source), "requests sent (HTTP GETs, websocket subscriptions)")),
      bytes(reg.get_counter(series("yahoo_bytes", source), "bytes received before decoding")),
      ticks(reg.get_counter(series("yahoo_ticks", source), "bars or ticks handed to the graph")),
      decode_errors(reg.get_counter(series("yahoo_decode_errors", source), "bodies or frames that did not decode")),
      reconnects(reg.get_counter(series("yahoo_reconnects", source), "connections made again after a failure")),
      restarts(reg.get_counter(series("yahoo_restarts", source), "tasks restarted by the supervisor")),
      skipped(reg.get_counter(series("yahoo_skipped", source), "rows or frames without a usable price")), reg_(reg),
      source_(std::move(source)) {}

counter& fetch_metrics::responses(unsigned status) {
    auto it = responses_.find(status);
    if (it != responses_.end()) return *it->second;
    counter& c = reg_.get_counter(series("yahoo_responses", source_, "status=\"" + std::to_string(status) + "\""),
                                  "HTTP responses by status");
    responses_.emplace(status, &c);
    return c;
}

counter& fetch_metrics::errors(std::string_view kind) {
    auto it = errors_.find(kind);
    if (it != errors_.end()) return *it->second;
    counter& c = reg_.get_counter(series("yahoo_errors", source_, "error=\"" + std::string(kind) + "\""),
                                  "requests that got no usable answer, by cause");
    errors_.emplace(std::string(kind), &c);
    return c;
}

fetch_metrics::backfill_counters& fetch_metrics::backfill() {
    if (!backfill_)
        backfill_.emplace(backfill_counters{
            reg_.get_counter(series("yahoo_backfill_requests", source_), "gap backfill: ranged requests sent"),
            reg_.get_counter(series("yahoo_backfill_bars", source_), "gap backfill: bars handed to the graph"),
            reg_.get_counter(series("yahoo_backfill_refused", source_),
                             "gap backfill: chunks refused by Yahoo or unreadable, dropped"),
            reg_.get_counter(series("yahoo_backfill_lost_seconds", source_),
                             "gap backfill: seconds of gaps older than Yahoo keeps 1m bars")});
    return *backfill_;
}

void fetch_metrics::set_state(const std::string& symbol, symbol_health h) {
    auto it = states_.find(symbol);
    if (it == states_.end()) {
        gauge& g = reg_.get_gauge(series("yahoo_symbol_state", source_, "symbol=\"" + symbol + "\""),
                                  "per symbol: 0 ok, 1 backing off, 2 failing");
        it = states_.emplace(symbol, &g).first;
    }
    it->second->set(static_cast<std::int64_t>(h));
}

symbol_health fetch_metrics::state(const std::string& symbol) const {
    auto it = states_.find(symbol);
    return it == states_.end() ? symbol_health::ok : static_cast<symbol_health>(it->second->value());
}

} // namespace tapewire
