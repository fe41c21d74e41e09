// parse: raw JSON messages → ticks, or dead letters with a reason.
//
// Accepts, by the fields present:
//   canonical tick  {"symbol":"AAPL","ts":<ns>,"price":..,"size":..[,"bid":..,"ask":..]}
//   canonical bar   {"symbol":"AAPL","ts":<bar start ns>,"open":..,"high":..,"low":..,"close":..,"volume":..}
//   older producer  {"timestamp":"2025-05-29 15:38:00-04:00","open":..,..,"volume":..}  (symbol from the
//                   message key, else the configured default)
// A bar message becomes one tick with is_bar set and its own OHLCV; the window merges it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "tapewire/message_ring.hpp"
#include "tapewire/stage.hpp"

namespace tapewire {

struct parse_options {
    symbol default_symbol;                           // for keyless bar messages without a "symbol" field
    std::int64_t max_future_skew_ns = 5'000'000'000; // 0 = accept any future ts
};

// Limits beyond which a number is treated as corrupt rather than a market value.
inline constexpr double k_max_price = 1e15;
inline constexpr double k_max_size = 1e15;

struct parse_outcome {
    bool ok = false;
    dead_letter_reason reason = dead_letter_reason::not_json;
    std::string_view detail; // static text: which field, or what was wrong
};

class json_decoder; // hides simdjson from includers

class parse_stage : public pass_through {
public:
    explicit parse_stage(const parse_options& opt);
    ~parse_stage();
    parse_stage(parse_stage&&) noexcept;
    parse_stage& operator=(parse_stage&&) noexcept;

    // Decodes one message into `out`. `payload` must be followed by k_message_padding readable bytes.
    parse_outcome decode(const raw_message& m, tick& out);

    template <class E> void on_message(const raw_message& m, E& out) {
        tick t;
        const parse_outcome r = decode(m, t);
        if (r.ok) [[likely]] {
            ++parsed_;
            out.on_tick(t);
            return;
        }
        ++dead_[static_cast<std::size_t>(r.reason)];
        out.on_dead_letter(dead_letter_view{r.reason, m.payload, m.key, r.detail, m.src});
    }

    // Processing time (wall clock, ns since epoch) for the future-skew check.
    template <class E> void on_timer(timestamp_ns now, E&) { now_ = now; }

    [[nodiscard]] std::uint64_t parsed() const noexcept { return parsed_; }
    [[nodiscard]] std::uint64_t dead(dead_letter_reason r) const noexcept { return dead_[static_cast<std::size_t>(r)]; }
    [[nodiscard]] timestamp_ns now() const noexcept { return now_; }

private:
    parse_options opt_;
    std::unique_ptr<json_decoder> decoder_;
    timestamp_ns now_ = 0; // 0 until the first timer: the skew check waits for a clock
    std::uint64_t parsed_ = 0;
    std::array<std::uint64_t, k_dead_letter_reasons> dead_{};
};

} // namespace tapewire
