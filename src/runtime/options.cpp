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

vwap_options to_vwap_options(const config& c) {
    vwap_options o;
    o.rolling_windows = c.vwap.rolling_windows;
    // Enough history to fold any correction the window stage can still emit into the session sums.
    const std::int64_t horizon_windows =
        c.window.late_update_horizon.count() / std::max<std::int64_t>(1, c.window.width.count());
    o.history = static_cast<std::uint32_t>(std::clamp<std::int64_t>(horizon_windows + 2, o.rolling_windows, 4096));
    o.calendar = make_session_calendar(c.vwap.session_tz, c.vwap.session_start);
    return o;
}

parse_options to_parse_options(const config& c) {
    parse_options o;
    (void)o.default_symbol.assign(c.source.symbol);
    o.max_future_skew_ns = c.window.max_future_skew.count();
    return o;
}

} // namespace tapewire
