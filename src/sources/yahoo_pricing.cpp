#include "src/sources/yahoo_pricing.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <simdjson.h>

#include "src/base/base64.hpp"

namespace tapewire::yahoo {

// ---- PricingData -----------------------------------------------------------------------------

std::string_view to_string(decode_error e) noexcept {
    switch (e) {
    case decode_error::ok: return "ok";
    case decode_error::not_json: return "not a JSON object";
    case decode_error::no_message: return "no \"message\" string";
    case decode_error::bad_base64: return "bad base64";
    case decode_error::truncated: return "truncated";
    case decode_error::varint_too_long: return "varint longer than 10 bytes";
    case decode_error::bad_wire_type: return "bad wire type";
    case decode_error::bad_field_number: return "bad field number";
    case decode_error::unmatched_end_group: return "unmatched end group";
    case decode_error::too_deep: return "groups nested too deep";
    }
    return "unknown";
}

std::string decode_status::describe() const {
    std::string s(to_string(error));
    if (error >= decode_error::truncated) s += " in the field at byte " + std::to_string(offset);
    return s;
}

namespace {

using bytes_ptr = const unsigned char*;

enum wire : std::uint32_t { k_varint = 0, k_i64 = 1, k_len = 2, k_sgroup = 3, k_egroup = 4, k_i32 = 5 };

// Reads one base-128 varint; protobuf allows 10 bytes and drops bits past 64.
inline bool read_varint(bytes_ptr& p, bytes_ptr end, std::uint64_t& v, decode_error& err) noexcept {
    if (p != end && *p < 0x80) { // one-byte fast path: most tags and small values
        v = *p++;
        return true;
    }
    std::uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p == end) {
            err = decode_error::truncated;
            return false;
        }
        const std::uint64_t b = *p++;
        r |= (b & 0x7f) << shift;
        if (b < 0x80) {
            v = r;
            return true;
        }
    }
    err = decode_error::varint_too_long;
    return false;
}

// A tag is a varint of at most 5 bytes whose bits past 32 are dropped, as libprotobuf reads it.
inline bool read_tag(bytes_ptr& p, bytes_ptr end, std::uint32_t& tag, decode_error& err) noexcept {
    const bytes_ptr start = p;
    std::uint64_t v = 0;
    if (!read_varint(p, end, v, err)) return false;
    if (p - start > 5) return err = decode_error::varint_too_long, false;
    tag = static_cast<std::uint32_t>(v);
    if ((tag >> 3) == 0) return err = decode_error::bad_field_number, false;
    return true;
}

inline std::uint32_t load_le32(bytes_ptr p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t load_le64(bytes_ptr p) noexcept {
    return static_cast<std::uint64_t>(load_le32(p)) | static_cast<std::uint64_t>(load_le32(p + 4)) << 32;
}
inline std::int64_t zigzag(std::uint64_t v) noexcept { return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// Skips one field's value of wire type `wt` (the tag already read). Groups are skipped to their
// matching END_GROUP, nesting included.
bool skip_value(bytes_ptr& p, bytes_ptr end, std::uint32_t field, std::uint32_t wt, decode_error& err) noexcept {
    std::uint64_t v = 0;
    switch (wt) {
    case k_varint: return read_varint(p, end, v, err);
    case k_i64:
        if (end - p < 8) return err = decode_error::truncated, false;
        p += 8;
        return true;
    case k_i32:
        if (end - p < 4) return err = decode_error::truncated, false;
        p += 4;
        return true;
    case k_len:
        if (!read_varint(p, end, v, err)) return false;
        if (v > static_cast<std::uint64_t>(end - p)) return err = decode_error::truncated, false;
        p += v;
        return true;
    case k_sgroup: {
        std::array<std::uint32_t, k_max_group_depth> open{};
        std::size_t depth = 0;
        open[depth++] = field;
        while (depth > 0) {
            std::uint32_t tag = 0;
            if (!read_tag(p, end, tag, err)) return false;
            const std::uint32_t f = tag >> 3;
            const std::uint32_t w = tag & 7;
            if (w == k_egroup) {
                if (open[depth - 1] != f) return err = decode_error::unmatched_end_group, false;
                --depth;
            } else if (w == k_sgroup) {
                if (depth == open.size()) return err = decode_error::too_deep, false;
                open[depth++] = f;
            } else if (!skip_value(p, end, f, w, err)) {
                return false;
            }
        }
        return true;
    }
    case k_egroup: err = decode_error::unmatched_end_group; return false;
    default: err = decode_error::bad_wire_type; return false;
    }
}

} // namespace

decode_status decode_pricing(std::string_view bytes, pricing_data& out) noexcept {
    out = pricing_data{};
    const auto* const begin = reinterpret_cast<bytes_ptr>(bytes.data());
    const auto* const end = begin + bytes.size();
    bytes_ptr p = begin;
    decode_error err = decode_error::ok;
    bytes_ptr field_start = p;
    // Errors point at the tag of the field that failed.
    auto fail = [&] { return decode_status{err, static_cast<std::uint32_t>(field_start - begin)}; };

    while (p != end) {
        field_start = p;
        std::uint32_t tag = 0;
        if (!read_tag(p, end, tag, err)) return fail();
        const std::uint32_t field = tag >> 3;
        const std::uint32_t wt = tag & 7;
        if (field > k_pricing_fields) { // unknown; also keeps the uint8_t enum casts below exact
            if (!skip_value(p, end, field, wt, err)) return fail();
            continue;
        }
        bool known = true;

        switch (wt) {
        case k_varint: {
            std::uint64_t v = 0;
            if (!read_varint(p, end, v, err)) return fail();
            switch (static_cast<pricing_field>(field)) {
            case pricing_field::time: out.time = zigzag(v); break;
            case pricing_field::quote_type:
                out.quote_type = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
                break;
            case pricing_field::market_hours:
                out.market_hours = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
                break;
            case pricing_field::day_volume: out.day_volume = zigzag(v); break;
            case pricing_field::expire_date: out.expire_date = zigzag(v); break;
            case pricing_field::open_interest: out.open_interest = zigzag(v); break;
            case pricing_field::options_type: out.options_type = zigzag(v); break;
            case pricing_field::mini_option: out.mini_option = zigzag(v); break;
            case pricing_field::last_size: out.last_size = zigzag(v); break;
            case pricing_field::bid_size: out.bid_size = zigzag(v); break;
            case pricing_field::ask_size: out.ask_size = zigzag(v); break;
            case pricing_field::price_hint: out.price_hint = zigzag(v); break;
            case pricing_field::vol_24hr: out.vol_24hr = zigzag(v); break;
            case pricing_field::vol_all_currencies: out.vol_all_currencies = zigzag(v); break;
            default: known = false;
            }
            break;
        }
        case k_i32: {
            if (end - p < 4) {
                err = decode_error::truncated;
                return fail();
            }
            const float f = std::bit_cast<float>(load_le32(p));
            p += 4;
            switch (static_cast<pricing_field>(field)) {
            case pricing_field::price: out.price = f; break;
            case pricing_field::change_percent: out.change_percent = f; break;
            case pricing_field::day_high: out.day_high = f; break;
            case pricing_field::day_low: out.day_low = f; break;
            case pricing_field::change: out.change = f; break;
            case pricing_field::open_price: out.open_price = f; break;
            case pricing_field::previous_close: out.previous_close = f; break;
            case pricing_field::strike_price: out.strike_price = f; break;
            case pricing_field::bid: out.bid = f; break;
            case pricing_field::ask: out.ask = f; break;
            default: known = false;
            }
            break;
        }
        case k_i64: {
            if (end - p < 8) {
                err = decode_error::truncated;
                return fail();
            }
            const double d = std::bit_cast<double>(load_le64(p));
            p += 8;
            switch (static_cast<pricing_field>(field)) {
            case pricing_field::circulating_supply: out.circulating_supply = d; break;
            case pricing_field::market_cap: out.market_cap = d; break;
            default: known = false;
            }
            break;
        }
        case k_len: {
            std::uint64_t n = 0;
            if (!read_varint(p, end, n, err)) return fail();
            if (n > static_cast<std::uint64_t>(end - p)) {
                err = decode_error::truncated;
                return fail();
            }
            const std::string_view s(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
            p += n;
            switch (static_cast<pricing_field>(field)) {
            case pricing_field::id: out.id = s; break;
            case pricing_field::currency: out.currency = s; break;
            case pricing_field::exchange: out.exchange = s; break;
            case pricing_field::short_name: out.short_name = s; break;
            case pricing_field::underlying_symbol: out.underlying_symbol = s; break;
            case pricing_field::from_currency: out.from_currency = s; break;
            case pricing_field::last_market: out.last_market = s; break;
            default: known = false;
            }
            break;
        }
        default:
            known = false;
            if (!skip_value(p, end, field, wt, err)) return fail();
        }
        if (known) out.present |= std::uint64_t{1} << field;
    }
    return {};
}

// ---- frames ----------------------------------------------------------------------------------

struct frame_decoder::impl {
    simdjson::dom::parser parser;
    std::string padded; // the frame copied with simdjson's padding after it
    std::string bytes;  // decoded protobuf
};

frame_decoder::frame_decoder() : impl_(std::make_unique<impl>()) {
    if (impl_->parser.allocate(16 * 1024) != simdjson::SUCCESS) throw std::bad_alloc();
}
frame_decoder::~frame_decoder() = default;
frame_decoder::frame_decoder(frame_decoder&&) noexcept = default;
frame_decoder& frame_decoder::operator=(frame_decoder&&) noexcept = default;

frame_decoder::result frame_decoder::decode(std::string_view frame, pricing_data& out) {
    result r;
    std::size_t first = 0;
    while (first < frame.size() &&
           (frame[first] == ' ' || frame[first] == '\t' || frame[first] == '\r' || frame[first] == '\n'))
        ++first;
    std::string_view b64;
    if (first < frame.size() && frame[first] == '{') {
        r.frame = kind::v2_json;
        auto& buf = impl_->padded;
        if (buf.size() < frame.size() + simdjson::SIMDJSON_PADDING)
            buf.resize(frame.size() + simdjson::SIMDJSON_PADDING);
        std::memcpy(buf.data(), frame.data(), frame.size());
        simdjson::dom::object obj;
        if (impl_->parser.parse(buf.data(), frame.size(), false).get_object().get(obj) != simdjson::SUCCESS) {
            out = pricing_data{};
            r.status.error = decode_error::not_json;
            return r;
        }
        std::string_view type;
        if (auto t = obj["type"]; t.error() == simdjson::SUCCESS) {
            if (t.get_string().get(type) != simdjson::SUCCESS || type != "pricing") {
                out = pricing_data{};
                r.not_pricing = true;
                return r;
            }
        }
        if (obj["message"].get_string().get(b64) != simdjson::SUCCESS) {
            out = pricing_data{};
            r.status.error = decode_error::no_message;
            return r;
        }
    } else {
        r.frame = kind::v1_base64;
        b64 = frame;
    }
    if (!base64_decode(b64, impl_->bytes)) {
        out = pricing_data{};
        r.status.error = decode_error::bad_base64;
        return r;
    }
    r.status = decode_pricing(impl_->bytes, out);
    return r;
}

// ---- ticks -----------------------------------------------------------------------------------

std::string_view to_string(build_outcome o) noexcept {
    switch (o) {
    case build_outcome::tick: return "tick";
    case build_outcome::no_id: return "no_id";
    case build_outcome::no_price: return "no_price";
    case build_outcome::no_time: return "no_time";
    case build_outcome::heartbeat: return "heartbeat";
    case build_outcome::symbol_too_long: return "symbol_too_long";
    case build_outcome::not_pricing: return "not_pricing";
    }
    return "unknown";
}

build_outcome tick_builder::build(const pricing_data& d, tick& out) {
    if (d.quote_type == k_quote_type_heartbeat) return build_outcome::heartbeat;
    if (d.id.empty()) return build_outcome::no_id;
    if (!(d.price > 0) || !std::isfinite(d.price)) return build_outcome::no_price;
    constexpr std::int64_t k_ns_per_ms = 1'000'000;
    if (d.time <= 0 || d.time > std::numeric_limits<std::int64_t>::max() / k_ns_per_ms) return build_outcome::no_time;
    symbol sym;
    if (!sym.assign(d.id)) return build_outcome::symbol_too_long;

    std::int64_t size = 0;
    const bool volume_echo = d.quote_type == k_quote_type_cryptocurrency && d.last_size == d.day_volume;
    if (d.last_size > 0 && !volume_echo) size = d.last_size;
    if (d.has(pricing_field::day_volume)) {
        auto [it, first] = base_.try_emplace(sym, d.day_volume);
        if (!first) {
            if (size == 0 && d.day_volume > it->second) size = d.day_volume - it->second;
            it->second = d.day_volume; // a decrease is a reset: the new value is the base
        }
    }

    out = tick::trade(sym, d.time * k_ns_per_ms, static_cast<double>(d.price), static_cast<double>(size));
    if (d.bid > 0 && std::isfinite(d.bid)) out.bid = static_cast<double>(d.bid);
    if (d.ask > 0 && std::isfinite(d.ask)) out.ask = static_cast<double>(d.ask);
    return build_outcome::tick;
}

std::int64_t tick_builder::day_volume_base(std::string_view s) const {
    const auto it = base_.find(symbol::from(s));
    return it == base_.end() ? -1 : it->second;
}

frame_outcome frame_to_tick::process(std::string_view frame, json_buffer& json_out) {
    frame_outcome o;
    const auto r = decoder_.decode(frame, data_);
    if (r.not_pricing) {
        o.kind = frame_outcome::what::skipped;
        o.skip = build_outcome::not_pricing;
        return o;
    }
    if (!r.status.ok()) {
        o.kind = frame_outcome::what::error;
        o.status = r.status;
        return o;
    }
    o.skip = builder_.build(data_, o.t);
    if (o.skip != build_outcome::tick) {
        o.kind = frame_outcome::what::skipped;
        return o;
    }
    o.kind = frame_outcome::what::tick;
    json_out.clear();
    write_tick_json(json_out, o.t);
    o.json = json_out.view();
    return o;
}

} // namespace tapewire::yahoo
