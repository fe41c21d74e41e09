// A deterministic stand-in for Yahoo's 1-minute chart data, for tests: every day is a trading day
// of 390 minutes from the session start of a calendar (New York, 09:30 by default); each
// (symbol, minute) has one fixed bar; some minutes are null rows. It answers the poller's two
// requests, range=1d (the latest session up to the served "now") and period1/period2.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/tzif.hpp"
#include "src/sources/yahoo_chart.hpp"
#include "tapewire/session_calendar.hpp"

namespace tapewire::test {

class chart_gen {
public:
    static constexpr std::int64_t k_session_minutes = 390;

    explicit chart_gen(std::int64_t now_s, const std::string& tz = "America/New_York",
                       const std::string& start = "09:30")
        : cal_(make_session_calendar(tz, start)), now_s_(now_s) {}

    // A calendar whose session began `hours_ago` before `now_s` (UTC): tests that must not depend
    // on the time of day they run at.
    static chart_gen into_session(std::int64_t now_s, int hours_ago) {
        const std::int64_t start = ((now_s - hours_ago * 3600) % 86400 + 86400) % 86400 / 60;
        char hhmm[8];
        std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", static_cast<int>(start / 60), static_cast<int>(start % 60));
        return chart_gen(now_s, "UTC", hhmm);
    }

    [[nodiscard]] std::int64_t now_s() const noexcept { return now_s_; }
    void set_now(std::int64_t now_s) noexcept { now_s_ = now_s; }
    [[nodiscard]] const session_calendar& calendar() const noexcept { return cal_; }

    // The first second of session `day`, and the session `t_s` falls in.
    [[nodiscard]] std::int64_t session_start_s(std::int64_t day) const { return cal_.start_of(day) / 1'000'000'000; }
    [[nodiscard]] std::int64_t session_of_s(std::int64_t t_s) const { return cal_.session_of(t_s * 1'000'000'000); }

    // Every 97th minute of a symbol's clock is a null row.
    [[nodiscard]] static bool is_null(std::string_view sym, std::int64_t minute_s) {
        return (minute_s / 60 + static_cast<std::int64_t>(sym.size()) * 13) % 97 == 0;
    }

    // The bar of (sym, minute): prices a few cents apart, volume from the minute, all exact in float.
    [[nodiscard]] static chart_bar bar(std::string_view sym, std::int64_t minute_s) {
        std::uint64_t h = 1469598103934665603ULL;
        for (char c : sym) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        const std::int64_t m = minute_s / 60;
        const double base = 100 + static_cast<double>(h % 400) + static_cast<double>(m % 50) * 0.25;
        const double vol = static_cast<double>(1000 + (m * 37 + static_cast<std::int64_t>(h % 1000)) % 5000);
        return chart_bar{minute_s, base, base + 0.5, base - 0.25, base + 0.25, vol};
    }

    // Minutes of every session that start within [from_s, to_s) and are complete at the served now.
    [[nodiscard]] std::vector<std::int64_t> minutes(std::int64_t from_s, std::int64_t to_s) const {
        std::vector<std::int64_t> out;
        if (from_s >= to_s) return out;
        for (std::int64_t day = session_of_s(from_s); session_start_s(day) < std::min(to_s, now_s_); ++day) {
            const std::int64_t s0 = session_start_s(day);
            for (std::int64_t i = 0; i < k_session_minutes; ++i) {
                const std::int64_t m = s0 + i * 60;
                if (m >= from_s && m < to_s && m + 60 <= now_s_) out.push_back(m);
            }
        }
        return out;
    }

    // Bars that are not null rows, over the same span.
    [[nodiscard]] std::vector<std::int64_t> bar_minutes(std::string_view sym, std::int64_t from_s,
                                                        std::int64_t to_s) const {
        std::vector<std::int64_t> out;
        for (std::int64_t m : minutes(from_s, to_s))
            if (!is_null(sym, m)) out.push_back(m);
        return out;
    }

    // A chart answer for these minutes (null rows as Yahoo writes them).
    [[nodiscard]] static std::string answer(std::string_view sym, const std::vector<std::int64_t>& mins) {
        if (mins.empty())
            return R"({"chart":{"result":[{"meta":{"symbol":")" + std::string(sym) +
                   R"(","dataGranularity":"1m"},"indicators":{"quote":[{}]}}],"error":null}})";
        std::string ts, o, h, l, c, v;
        const auto num = [](double x) {
            char b[64];
            const auto r = std::to_chars(b, b + sizeof b, x);
            return std::string(b, r.ptr);
        };
        for (std::size_t i = 0; i < mins.size(); ++i) {
            const char* sep = i == 0 ? "" : ",";
            ts += sep + std::to_string(mins[i]);
            if (is_null(sym, mins[i])) {
                for (std::string* a : {&o, &h, &l, &c, &v}) *a += std::string(sep) + "null";
                continue;
            }
            const chart_bar b = bar(sym, mins[i]);
            o += sep + num(b.open);
            h += sep + num(b.high);
            l += sep + num(b.low);
            c += sep + num(b.close);
            v += sep + num(b.volume);
        }
        return R"({"chart":{"result":[{"meta":{"symbol":")" + std::string(sym) +
               R"(","dataGranularity":"1m"},"timestamp":[)" + ts + R"(],"indicators":{"quote":[{"open":[)" + o +
               "],\"high\":[" + h + "],\"low\":[" + l + "],\"close\":[" + c + "],\"volume\":[" + v +
               "]}]}}],\"error\":null}}";
    }

    // The answer to a chart request target: period1/period2 when given, else range=1d (the latest
    // session that has begun by the served now).
    [[nodiscard]] std::string answer_for(const std::string& target) const {
        const std::string sym = symbol_of(target);
        std::int64_t p1 = 0, p2 = 0;
        if (query_int(target, "period1", p1) && query_int(target, "period2", p2)) return answer(sym, minutes(p1, p2));
        const std::int64_t s0 = session_start_s(session_of_s(now_s_));
        return answer(sym, minutes(s0, s0 + k_session_minutes * 60));
    }

    // "/v8/finance/chart/AAPL?..." -> "AAPL".
    [[nodiscard]] static std::string symbol_of(const std::string& target) {
        const std::string prefix = "/v8/finance/chart/";
        const auto at = target.find(prefix);
        if (at == std::string::npos) return {};
        const auto from = at + prefix.size();
        return target.substr(from, target.find('?', from) - from);
    }

    // The integer value of query parameter `name`; false when absent.
    [[nodiscard]] static bool query_int(const std::string& target, std::string_view name, std::int64_t& out) {
        const std::string key = std::string(name) + "=";
        for (std::size_t at = target.find('?'); at != std::string::npos; at = target.find('&', at + 1)) {
            if (target.compare(at + 1, key.size(), key) != 0) continue;
            const char* b = target.data() + at + 1 + key.size();
            return std::from_chars(b, target.data() + target.size(), out).ec == std::errc();
        }
        return false;
    }

private:
    session_calendar cal_;
    std::int64_t now_s_;
};

} // namespace tapewire::test
