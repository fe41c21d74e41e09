#include "src/runtime/options.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "src/base/tzif.hpp"

namespace tapewire {

watermark_mode resolve_watermark(const window_config& w, const source_config& s, std::string* why) {
    auto because = [why](watermark_mode m, std::string text) {
        if (why != nullptr) *why = std::move(text);
        return m;
    };
    if (w.watermark != watermark_mode::auto_) return because(w.watermark, "window.watermark");
    if (s.format == message_format::bar) return because(watermark_mode::symbol, "auto: source.format = bar");
    if (s.kind == source_kind::yahoo_chart || s.kind == source_kind::replay)
        return because(watermark_mode::symbol, "auto: source.kind = " + std::string(to_string(s.kind)));
    return because(watermark_mode::partition, "auto: source.kind = " + std::string(to_string(s.kind)));
}

window_options to_window_options(const window_config& w, const source_config& s) {
    const std::vector<duration> widths = w.effective_widths();
    std::vector<std::int64_t> widths_ns;
    if (widths.size() > 1) // one width: the one-lane stage, exactly as before
        for (duration d : widths) widths_ns.push_back(d.count());
    return {widths.front().count(),
            w.allowed_lateness.count(),
            w.idle_timeout.count(),
            w.late_update_horizon.count(),
            resolve_watermark(w, s) == watermark_mode::symbol,
            w.bar_memory.count(),
            std::move(widths_ns),
            w.emit_updates.count()};
}

anomaly_options to_anomaly_options(const anomaly_config& c) {
    return {c.price_jump, c.return_z, c.volume_spike, c.vwap_dev_bps, c.ewma_alpha, c.warmup_bars};
}

vwap_options to_vwap_options(const vwap_config& v, const window_config& w) {
    vwap_options o;
    o.rolling_windows = v.rolling_windows;
    // Enough history to fold any correction the window stage can still emit into the session sums.
    const std::int64_t horizon_windows =
        w.late_update_horizon.count() / std::max<std::int64_t>(1, w.effective_widths().front().count());
    o.history = static_cast<std::uint32_t>(std::clamp<std::int64_t>(horizon_windows + 2, o.rolling_windows, 4096));
    o.calendar = make_session_calendar(v.session_tz, v.session_start);
    return o;
}

parse_options to_parse_options(const source_config& s, const window_config& w) {
    parse_options o;
    (void)o.default_symbol.assign(s.symbol);
    o.max_future_skew_ns = w.max_future_skew.count();
    return o;
}

} // namespace tapewire
