// Writing the canonical JSON forms (ticks for the input topic; bars, alerts and dead letters for
// the NDJSON sink) into a caller-owned buffer. Numbers use std::to_chars: shortest form that
// reads back to the same double, no locale, no allocation.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "tapewire/types.hpp"

namespace tapewire {

// Appends into a fixed buffer; once full it stops writing and reports overflow().
class json_buffer {
public:
    json_buffer(char* data, std::size_t cap) noexcept : data_(data), cap_(cap) {}

    json_buffer& raw(std::string_view s) noexcept {
        if (s.empty()) return *this; // data() may be null: never hand it to memcpy
        if (len_ + s.size() > cap_) {
            overflow_ = true;
            return *this;
        }
        std::memcpy(data_ + len_, s.data(), s.size());
        len_ += s.size();
        return *this;
    }
    json_buffer& ch(char c) noexcept { return raw(std::string_view(&c, 1)); }

    json_buffer& integer(std::int64_t v) noexcept {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        return raw(std::string_view(tmp, static_cast<std::size_t>(r.ptr - tmp)));
    }
    json_buffer& unsigned_integer(std::uint64_t v) noexcept {
        char tmp[24];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        return raw(std::string_view(tmp, static_cast<std::size_t>(r.ptr - tmp)));
    }
    // NaN and infinities have no JSON form: they are written as null.
    json_buffer& number(double v) noexcept {
        if (!std::isfinite(v)) return raw("null");
        char tmp[32];
        auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
        return raw(std::string_view(tmp, static_cast<std::size_t>(r.ptr - tmp)));
    }
    // A JSON string with the escapes RFC 8259 requires; bytes >= 0x80 pass through unchanged.
    json_buffer& string(std::string_view s) noexcept {
        ch('"');
        for (unsigned char c : s) {
            switch (c) {
            case '"': raw("\\\""); break;
            case '\\': raw("\\\\"); break;
            case '\n': raw("\\n"); break;
            case '\r': raw("\\r"); break;
            case '\t': raw("\\t"); break;
            default:
                if (c < 0x20) {
                    static constexpr char hex[] = "0123456789abcdef";
                    char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                    raw(std::string_view(u, 6));
                } else {
                    ch(static_cast<char>(c));
                }
            }
        }
        return ch('"');
    }
    json_buffer& key(std::string_view k) noexcept { return ch('"').raw(k).raw("\":"); }

    [[nodiscard]] std::string_view view() const noexcept { return {data_, len_}; }
    [[nodiscard]] std::size_t size() const noexcept { return len_; }
    [[nodiscard]] bool overflow() const noexcept { return overflow_; }
    void clear() noexcept {
        len_ = 0;
        overflow_ = false;
    }

private:
    char* data_;
    std::size_t cap_;
    std::size_t len_ = 0;
    bool overflow_ = false;
};

// {"symbol":"AAPL","ts":1732800000123456789,"price":189.53,"size":100[,"bid":..,"ask":..]}
inline void write_tick_json(json_buffer& out, const tick& t) noexcept {
    out.raw("{\"symbol\":").string(t.sym.view());
    out.raw(",\"ts\":").integer(t.ts);
    if (t.is_bar) {
        out.raw(",\"open\":").number(t.open).raw(",\"high\":").number(t.high);
        out.raw(",\"low\":").number(t.low).raw(",\"close\":").number(t.close);
        out.raw(",\"volume\":").number(t.volume);
    } else {
        out.raw(",\"price\":").number(t.close).raw(",\"size\":").number(t.volume);
        if (!std::isnan(t.bid)) out.raw(",\"bid\":").number(t.bid);
        if (!std::isnan(t.ask)) out.raw(",\"ask\":").number(t.ask);
    }
    out.ch('}');
}

// A bar's fields after its type: the same in a final bar and in an update.
inline void write_bar_fields(json_buffer& out, const bar& b) noexcept {
    out.raw(",\"symbol\":").string(b.sym.view());
    out.raw(",\"window_start\":").integer(b.window_start).raw(",\"window_end\":").integer(b.window_end);
    out.raw(",\"width_ns\":").integer(bar_width(b));
    out.raw(",\"open\":").number(b.open).raw(",\"high\":").number(b.high);
    out.raw(",\"low\":").number(b.low).raw(",\"close\":").number(b.close);
    out.raw(",\"volume\":").number(b.volume).raw(",\"trades\":").unsigned_integer(b.trades);
    out.raw(",\"vwap\":").number(b.vwap).raw(",\"session_vwap\":").number(b.session_vwap);
    out.raw(",\"rolling_vwap\":").number(b.rolling_vwap).raw(",\"vwap_dev_bps\":").number(b.vwap_dev_bps);
    out.raw(",\"revision\":").unsigned_integer(b.revision);
}

inline void write_bar_json(json_buffer& out, const bar& b) noexcept {
    out.raw("{\"type\":\"bar\"");
    write_bar_fields(out, b);
    out.ch('}');
}

// An open bar so far (window.emit_updates): a later update or the final bar supersedes it.
inline void write_bar_update_json(json_buffer& out, const bar& b) noexcept {
    out.raw("{\"type\":\"bar_update\"");
    write_bar_fields(out, b);
    out.raw(",\"final\":false}");
}

inline void write_alert_json(json_buffer& out, const alert& a) noexcept {
    out.raw("{\"type\":\"alert\",\"symbol\":").string(a.sym.view());
    out.raw(",\"ts\":").integer(a.ts).raw(",\"kind\":").string(to_string(a.kind));
    out.raw(",\"value\":").number(a.value).raw(",\"threshold\":").number(a.threshold);
    out.raw(",\"score\":").number(a.score).ch('}');
}

inline void write_dead_letter_json(json_buffer& out, const dead_letter_view& d) noexcept {
    out.raw("{\"type\":\"dead_letter\",\"reason\":").string(to_string(d.reason));
    if (!d.detail.empty()) out.raw(",\"detail\":").string(d.detail);
    if (!d.key.empty()) out.raw(",\"key\":").string(d.key);
    out.raw(",\"partition\":").integer(d.src.partition).raw(",\"offset\":").integer(d.src.offset);
    out.raw(",\"payload\":").string(d.payload).ch('}');
}

} // namespace tapewire
