#include "operators/parse.hpp"

#include <cmath>
#include <cstring>
#include <new>

#include <simdjson.h>

#include "tapewire/time_text.hpp"

namespace tapewire {

namespace od = simdjson::ondemand;

class json_decoder {
public:
    od::parser parser;
};

namespace {

constexpr std::int64_t k_ns_per_s = 1'000'000'000;

// Fields seen in one message; NaN / k_no_time mean absent.
struct fields {
    std::string_view sym;
    bool has_sym = false;
    timestamp_ns ts = k_no_time;
    bool ts_bad = false;
    double price = NAN, size = NAN, bid = NAN, ask = NAN;
    double open = NAN, high = NAN, low = NAN, close = NAN, volume = NAN;
    bool has_price = false, has_size = false, has_open = false, has_high = false, has_low = false, has_close = false,
         has_volume = false;
    bool price_bad = false, size_bad = false, quote_bad = false;
    bool malformed = false; // a value that is not JSON at all (NaN, Infinity, 01, tru, ...)
};

bool valid_price(double p) noexcept { return std::isfinite(p) && p > 0 && p < k_max_price; }
bool valid_size(double s) noexcept { return std::isfinite(s) && s >= 0 && s < k_max_size; }

bool json_ws(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool json_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Whether a value's raw token (trailing whitespace allowed) is JSON at all: a string, an object or
// array start, a literal, or a number by RFC 8259's grammar. On-demand parsing validates a value only
// when it is read, and it reports NaN and 1e999 alike as a number error: this tells a JSON value of
// the wrong type or range (a field error) from bytes that are not JSON (not_json).
bool well_formed_token(std::string_view tok) noexcept {
    while (!tok.empty() && json_ws(tok.back())) tok.remove_suffix(1);
    if (tok.empty()) return false;
    switch (tok.front()) {
    case '"':
    case '{':
    case '[': return true;
    case 't': return tok == "true";
    case 'f': return tok == "false";
    case 'n': return tok == "null";
    default: break;
    }
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    const std::size_t n = tok.size();
    std::size_t i = 0;
    if (tok[i] == '-') ++i;
    if (i >= n || !json_digit(tok[i])) return false;
    if (tok[i] == '0') {
        ++i;
    } else {
        while (i < n && json_digit(tok[i])) ++i;
    }
    if (i < n && tok[i] == '.') {
        const std::size_t from = ++i;
        while (i < n && json_digit(tok[i])) ++i;
        if (i == from) return false;
    }
    if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
        ++i;
        if (i < n && (tok[i] == '+' || tok[i] == '-')) ++i;
        const std::size_t from = i;
        while (i < n && json_digit(tok[i])) ++i;
        if (i == from) return false;
    }
    return i == n;
}

// Bytes before the first '"' or '\\' among the first 10 at p (10 when neither occurs): the length
// of a plain key, found a word at a time. Every key we know is 2-9 bytes.
inline std::size_t key_length(const char* p) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    auto stop_bytes = [](std::uint64_t w) {
        const std::uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        return ((q - ones) & ~q & highs) | ((b - ones) & ~b & highs); // high bit set where a byte matched
    };
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if (const std::uint64_t hit = stop_bytes(w); hit != 0) return static_cast<std::size_t>(__builtin_ctzll(hit)) / 8;
    if (p[8] == '"' || p[8] == '\\') return 8;
    if (p[9] == '"' || p[9] == '\\') return 9;
    return 10;
}

// Eight ASCII digits at p as a number, or false when any byte is not a digit. Multiplies pairs,
// then quads, then the two halves together: three multiplications instead of eight steps.
inline bool eight_digits(const char* p, std::uint64_t& out) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    const std::uint64_t low = v - 0x3030303030303030ULL;           // '0' is 0x30
    const std::uint64_t high = v + 0x4646464646464646ULL;          // a byte > '9' carries into bit 7
    if (((low | high) & 0x8080808080808080ULL) != 0) return false; // below '0' borrows into bit 7
    std::uint64_t x = low;
    x = (x * 10) + (x >> 8); // pairs, in the low byte of each 16 bits
    x = (((x & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
         (((x >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >>
        32;
    out = x;
    return true;
}

// A 19-digit nanosecond timestamp (every ts from 2001-09-09 to 2286-11-20), the only form
// producers send in practice; anything else goes to simdjson's general integer reader.
inline bool read_ns_timestamp(std::string_view tok, std::int64_t& out) noexcept {
    if (tok.size() < 19 || (tok.size() > 19 && json_digit(tok[19])) || tok[0] < '1' || tok[0] > '8') return false;
    std::uint64_t a, b;
    if (!eight_digits(tok.data(), a) || !eight_digits(tok.data() + 8, b)) return false;
    if (!json_digit(tok[16]) || !json_digit(tok[17]) || !json_digit(tok[18])) return false;
    const std::uint64_t c = static_cast<std::uint64_t>(tok[16] - '0') * 100 +
                            static_cast<std::uint64_t>(tok[17] - '0') * 10 + static_cast<std::uint64_t>(tok[18] - '0');
    out = static_cast<std::int64_t>((a * 100'000'000ULL + b) * 1000 + c);
    return true;
}

// Reads a number; false when the value is not a representable number (a string, 1e999, ...), and
// then flags `malformed` when it is not even JSON (NaN, Infinity, ...).
inline __attribute__((always_inline)) bool read_number(od::value v, double& out, bool& malformed) noexcept {
    if (v.get_double().get(out) == simdjson::SUCCESS) return true;
    if (!well_formed_token(v.raw_json_token())) malformed = true;
    return false;
}

} // namespace

parse_stage::parse_stage(const parse_options& opt) : opt_(opt), decoder_(std::make_unique<json_decoder>()) {
    if (decoder_->parser.allocate(64 * 1024) != simdjson::SUCCESS)
        throw std::bad_alloc(); // room for any sane message up front: no growth per tick
}
parse_stage::~parse_stage() = default;
parse_stage::parse_stage(parse_stage&&) noexcept = default;
parse_stage& parse_stage::operator=(parse_stage&&) noexcept = default;

parse_outcome parse_stage::decode(const raw_message& m, tick& out) {
    using R = dead_letter_reason;
    auto fail = [](R r, std::string_view detail = {}) { return parse_outcome{false, r, detail}; };

    od::document doc;
    if (decoder_->parser.iterate(m.payload.data(), m.payload.size(), m.payload.size() + k_message_padding).get(doc))
        return fail(R::not_json);
    od::object obj;
    if (doc.get_object().get(obj)) return fail(R::not_json, "not an object");

    fields f;
    for (auto field_result : obj) {
        od::field field;
        if (std::move(field_result).get(field)) return fail(R::not_json);
        // Keys are read raw from the input: every key we know is 2-9 plain bytes, so a key with a
        // backslash among its first 10 bytes is the only one that needs unescaping. The padding
        // after the payload makes the 10-byte look-ahead safe.
        std::string_view k;
        {
            const char* raw = field.key().raw();
            const std::size_t len = key_length(raw);
            if (len < 10 && raw[len] == '\\') {
                if (field.unescaped_key().get(k)) return fail(R::not_json);
            } else {
                k = std::string_view(raw, len); // len 10 = some longer key we ignore
            }
        }
        od::value v = field.value();
        // Dispatch on length first: keys are short and mostly distinct in size.
        switch (k.size()) {
        case 2:
            if (k == "ts") {
                std::int64_t ts = 0;
                if (read_ns_timestamp(v.raw_json_token(), ts)) {
                    f.ts = ts; // the usual 19-digit form, read 8 digits at a time
                } else if (v.get_int64().get(ts)) {
                    if (!well_formed_token(v.raw_json_token())) f.malformed = true;
                    f.ts_bad = true; // a float, a string, out of range: not an ns timestamp
                } else {
                    f.ts = ts;
                }
            }
            break;
        case 3:
            if (k == "bid" || k == "ask") {
                double q = NAN;
                bool is_null = false;
                if (v.is_null().get(is_null) == simdjson::SUCCESS && is_null) break;
                if (!read_number(v, q, f.malformed) || !valid_price(q)) {
                    f.quote_bad = true;
                    break;
                }
                (k == "bid" ? f.bid : f.ask) = q;
            } else if (k == "low") {
                f.has_low = true;
                f.price_bad |= !read_number(v, f.low, f.malformed);
            }
            break;
        case 4:
            if (k == "size") {
                f.has_size = true;
                f.size_bad |= !read_number(v, f.size, f.malformed);
            } else if (k == "open") {
                f.has_open = true;
                f.price_bad |= !read_number(v, f.open, f.malformed);
            } else if (k == "high") {
                f.has_high = true;
                f.price_bad |= !read_number(v, f.high, f.malformed);
            }
            break;
        case 5:
            if (k == "price") {
                f.has_price = true;
                f.price_bad |= !read_number(v, f.price, f.malformed);
            } else if (k == "close") {
                f.has_close = true;
                f.price_bad |= !read_number(v, f.close, f.malformed);
            }
            break;
        case 6:
            if (k == "symbol") {
                if (v.get_string().get(f.sym)) {
                    if (!well_formed_token(v.raw_json_token())) return fail(R::not_json, "not a JSON value");
                    return fail(R::bad_symbol, "symbol is not a string");
                }
                f.has_sym = true;
            } else if (k == "volume") {
                f.has_volume = true;
                f.size_bad |= !read_number(v, f.volume, f.malformed);
            }
            break;
        case 9:
            if (k == "timestamp") {
                std::string_view text;
                if (v.get_string().get(text)) {
                    if (!well_formed_token(v.raw_json_token())) f.malformed = true;
                    f.ts_bad = true;
                } else if (!parse_timestamp_text(text, f.ts)) {
                    f.ts_bad = true;
                }
            }
            break;
        default: break; // unknown fields are ignored: producers may add fields
        }
    }
    // On-demand parsing stops at the root object's closing brace. A payload must end in a closing brace
    // (whitespace aside), which rejects truncated messages and trailing text; and, since a payload
    // ending in '}' can still hold more ("{..}{..}", "{..}}"), the iterator must be at the end.
    {
        std::size_t e = m.payload.size();
        while (e > 0 && json_ws(m.payload[e - 1])) --e;
        if (e == 0 || m.payload[e - 1] != '}') return fail(R::not_json, "trailing content");
        const char* rest = nullptr;
        if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return fail(R::not_json, "trailing content");
    }
    if (f.malformed) return fail(R::not_json, "not a JSON value");

    // Symbol: the field, else the message key, else the configured default.
    std::string_view sym = f.has_sym ? f.sym : (!m.key.empty() ? m.key : opt_.default_symbol.view());
    if (!f.has_sym && m.key.empty() && opt_.default_symbol.empty()) return fail(R::missing_field, "symbol");
    if (!out.sym.assign(sym)) return fail(R::bad_symbol, sym.empty() ? "empty" : "longer than 15 bytes");

    if (f.ts_bad) return fail(R::bad_ts, "not an integer ns timestamp");
    if (f.ts == k_no_time) return fail(R::missing_field, "ts");
    if (f.ts <= 0) return fail(R::bad_ts, "not after the epoch");
    if (opt_.max_future_skew_ns > 0 && now_ > 0 && f.ts > now_ + opt_.max_future_skew_ns)
        return fail(R::future_ts, "ahead of the wall clock by more than max_future_skew");

    out.ts = f.ts;
    out.src = m.src;
    out.bid = f.bid;
    out.ask = f.ask;
    if (f.has_price) {
        if (f.price_bad || !valid_price(f.price)) return fail(R::bad_price);
        if (!f.has_size) return fail(R::missing_field, "size");
        if (f.size_bad || !valid_size(f.size)) return fail(R::bad_size);
        out.open = out.high = out.low = out.close = f.price;
        out.volume = f.size;
        out.pv = f.price * f.size;
        out.trades = 1;
        out.is_bar = false;
    } else if (f.has_open || f.has_close || f.has_high || f.has_low) {
        if (!f.has_open) return fail(R::missing_field, "open");
        if (!f.has_high) return fail(R::missing_field, "high");
        if (!f.has_low) return fail(R::missing_field, "low");
        if (!f.has_close) return fail(R::missing_field, "close");
        if (f.price_bad || !valid_price(f.open) || !valid_price(f.high) || !valid_price(f.low) || !valid_price(f.close))
            return fail(R::bad_price);
        if (f.low > f.high || f.open > f.high || f.close > f.high || f.open < f.low || f.close < f.low)
            return fail(R::bad_price, "low/high do not bound open/close");
        if (!f.has_volume) return fail(R::missing_field, "volume");
        if (f.size_bad || !valid_size(f.volume)) return fail(R::bad_size);
        out.open = f.open;
        out.high = f.high;
        out.low = f.low;
        out.close = f.close;
        out.volume = f.volume;
        out.pv = bar_pv(f.high, f.low, f.close, f.volume);
        out.trades = 1;
        out.is_bar = true;
    } else {
        return fail(R::missing_field, "price");
    }
    if (f.quote_bad) return fail(R::bad_quote);
    return {true, R::not_json, {}};
}

} // namespace tapewire
