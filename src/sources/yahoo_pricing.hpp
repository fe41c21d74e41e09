// The Yahoo streamer's messages: the PricingData protobuf (decoded by hand, no libprotobuf), the v2
// JSON text frame and the legacy bare-base64 frame (decoded by src/base/base64), and the per-symbol
// state that turns PricingData into ticks. Pure code: no I/O, no Boost. proto/pricing.proto is the
// same schema for the tests' oracle and the benchmark; the field numbers come from docs in
// ../shared/fixtures/yahoo/PROTOCOL.md (yfinance pricing.proto, yliveticker yaticker.proto).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tapewire/json_write.hpp"
#include "tapewire/types.hpp"

namespace tapewire::yahoo {

// ---- PricingData -----------------------------------------------------------------------------

// Field numbers of PricingData (proto3). Wire types: strings LEN, floats I32, doubles I64,
// sint64 zigzag VARINT, int32 plain VARINT.
enum class pricing_field : std::uint8_t {
    id = 1,
    price = 2,
    time = 3,
    currency = 4,
    exchange = 5,
    quote_type = 6,
    market_hours = 7,
    change_percent = 8,
    day_volume = 9,
    day_high = 10,
    day_low = 11,
    change = 12,
    short_name = 13,
    expire_date = 14,
    open_price = 15,
    previous_close = 16,
    strike_price = 17,
    underlying_symbol = 18,
    open_interest = 19,
    options_type = 20,
    mini_option = 21,
    last_size = 22,
    bid = 23,
    bid_size = 24,
    ask = 25,
    ask_size = 26,
    price_hint = 27,
    vol_24hr = 28,
    vol_all_currencies = 29,
    from_currency = 30,
    last_market = 31,
    circulating_supply = 32,
    market_cap = 33,
};
inline constexpr int k_pricing_fields = 33;

inline constexpr std::int32_t k_quote_type_heartbeat = 7;
inline constexpr std::int32_t k_quote_type_cryptocurrency = 41;

// One decoded message. Absent fields hold 0 / "" (proto3); `present` says which were on the wire
// (bit n = field n), so a real 0 can be told from a missing one. The string fields view the bytes
// that were decoded: valid while that buffer is alive and unchanged.
struct pricing_data {
    std::string_view id;
    float price = 0;
    std::int64_t time = 0; // ms since the Unix epoch
    std::string_view currency;
    std::string_view exchange;
    std::int32_t quote_type = 0;
    std::int32_t market_hours = 0;
    float change_percent = 0;
    std::int64_t day_volume = 0;
    float day_high = 0;
    float day_low = 0;
    float change = 0;
    std::string_view short_name;
    std::int64_t expire_date = 0;
    float open_price = 0;
    float previous_close = 0;
    float strike_price = 0;
    std::string_view underlying_symbol;
    std::int64_t open_interest = 0;
    std::int64_t options_type = 0;
    std::int64_t mini_option = 0;
    std::int64_t last_size = 0;
    float bid = 0;
    std::int64_t bid_size = 0;
    float ask = 0;
    std::int64_t ask_size = 0;
    std::int64_t price_hint = 0;
    std::int64_t vol_24hr = 0;
    std::int64_t vol_all_currencies = 0;
    std::string_view from_currency;
    std::string_view last_market;
    double circulating_supply = 0;
    double market_cap = 0;

    std::uint64_t present = 0;

    [[nodiscard]] bool has(pricing_field f) const noexcept { return (present >> static_cast<unsigned>(f)) & 1u; }
};

enum class decode_error : std::uint8_t {
    ok = 0,
    not_json,            // v2 frame: not a JSON object
    no_message,          // v2 frame: no string "message"
    bad_base64,          // the payload is not base64
    truncated,           // a varint, fixed field or length runs past the end
    varint_too_long,     // more than 10 bytes
    bad_wire_type,       // wire type 6 or 7
    bad_field_number,    // field number 0
    unmatched_end_group, // END_GROUP without its START_GROUP (or with another number)
    too_deep,            // unknown groups nested deeper than k_max_group_depth
};

[[nodiscard]] std::string_view to_string(decode_error e) noexcept;

// What went wrong and where: the offset of the failing field's tag in the protobuf bytes (0 for
// frame-level errors).
struct decode_status {
    decode_error error = decode_error::ok;
    std::uint32_t offset = 0;

    [[nodiscard]] bool ok() const noexcept { return error == decode_error::ok; }
    // "truncated in the field at byte 17"
    [[nodiscard]] std::string describe() const;
};

inline constexpr int k_max_group_depth = 64;

// Decodes PricingData wire bytes into `out` (reset first). Follows libprotobuf's rules: the last
// occurrence of a field wins; a known field number with an unexpected wire type is skipped like an
// unknown field; unknown fields (groups included) are skipped by wire type. Never reads out of
// bounds, whatever the input. Strings are not checked for UTF-8 (libprotobuf would refuse invalid
// UTF-8 in a proto3 string; the tick builder only uses `id`, which must fit a symbol anyway).
[[nodiscard]] decode_status decode_pricing(std::string_view bytes, pricing_data& out) noexcept;

// ---- frames ----------------------------------------------------------------------------------

// Decodes text frames of the streamer into PricingData, reusing its buffers (one per connection or
// thread; not thread safe). v2 frames are JSON objects {"type":"pricing","message":"<base64>"}
// (keys in any order, other keys ignored); a frame whose first non-blank byte is not '{' is a legacy
// bare-base64 frame. `out`'s strings view this decoder's buffer: valid until the next decode().
class frame_decoder {
public:
    frame_decoder();
    ~frame_decoder();
    frame_decoder(frame_decoder&&) noexcept;
    frame_decoder& operator=(frame_decoder&&) noexcept;

    enum class kind : std::uint8_t { v2_json, v1_base64 };

    struct result {
        decode_status status;
        kind frame = kind::v2_json;
        bool not_pricing = false; // a v2 frame whose "type" is present and is not "pricing"
    };
    [[nodiscard]] result decode(std::string_view frame, pricing_data& out);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// ---- ticks -----------------------------------------------------------------------------------

enum class build_outcome : std::uint8_t {
    tick,            // `out` holds a trade
    no_id,           // no symbol
    no_price,        // no price (or not a positive finite number)
    no_time,         // no time
    heartbeat,       // quote_type 7
    symbol_too_long, // id longer than symbol::k_max_size
    not_pricing,     // a v2 frame of another "type" (set by frame_to_tick, never by tick_builder)
};

[[nodiscard]] std::string_view to_string(build_outcome o) noexcept;

// Turns PricingData into ticks, one symbol's volume history at a time. The size of a tick:
//  - last_size when it is present and > 0, except when it equals day_volume on a crypto quote
//    (quote_type 41): Yahoo fills last_size with the rolling 24 h volume there (every BTC-USD frame
//    recorded has last_size == day_volume == vol_24hr), which is not a trade size;
//  - else the increase of day_volume since this symbol's previous frame that had one;
//  - 0 for the first frame of a symbol (nothing to take the difference from), and 0 when day_volume
//    went down: the day volume was reset (new session, or a rolling 24 h window dropped volume), so
//    the new value becomes the base and only increases after it count. Never negative.
// A frame without day_volume leaves the base as it was. ts = time (ms) * 1e6; bid and ask are set
// when present and > 0. The builder's state outlives connections (a reconnect keeps the bases).
class tick_builder {
public:
    [[nodiscard]] build_outcome build(const pricing_data& d, tick& out);

    // Previous day_volume of a symbol, -1 when none has been seen.
    [[nodiscard]] std::int64_t day_volume_base(std::string_view sym) const;
    [[nodiscard]] std::size_t symbols() const noexcept { return base_.size(); }

private:
    std::unordered_map<symbol, std::int64_t> base_;
};

// Frame in, canonical tick JSON out: frame_decoder + tick_builder + write_tick_json, with the outcome.
struct frame_outcome {
    enum class what : std::uint8_t { tick, skipped, error } kind = what::error;
    decode_status status;                     // set when kind == error
    build_outcome skip = build_outcome::tick; // why, when kind == skipped
    tick t;                                   // set when kind == tick
    std::string_view json;                    // the tick as JSON, in the caller's buffer
};

class frame_to_tick {
public:
    // `json_out` receives the JSON text; it must be able to hold a tick (256 bytes is plenty).
    [[nodiscard]] frame_outcome process(std::string_view frame, json_buffer& json_out);

    [[nodiscard]] tick_builder& builder() noexcept { return builder_; }
    [[nodiscard]] const pricing_data& last() const noexcept { return data_; }

private:
    frame_decoder decoder_;
    tick_builder builder_;
    pricing_data data_;
};

} // namespace tapewire::yahoo
