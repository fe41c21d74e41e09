#include "src/runtime/options.hpp"

#include <algorithm>
#include <cstdint>

#include "src/base/tzif.hpp"

namespace tapewire {

window_options to_window_options(const window_config& c) {
    return {c.width.count(), c.allowed_lateness.count(), c.idle_timeout.count(), c.late_update_horizon.count()};
}

anomaly_options to_anomaly_options(const anomaly_config& c) {
    return {c.price_jump, c.return_z, c.volume_spike, c.vwap_dev_bps, c.ewma_alpha, c.warmup_bars};
}

vwap_options to_vwap_options(const vwap_config& v, const window_config& w) {
    vwap_options o;
    o.rolling_windows = v.rolling_windows;
    // Enough history to fold any correction the window stage can still emit into the session sums.
    const std::int64_t horizon_windows = w.late_update_horizon.count() / std::max<std::int64_t>(1, w.width.count());
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
