// yahoo-stream: the hand-written PricingData decoder against libprotobuf and the recorded frames,
// the tick builder's size rules, and the websocket task against a local streamer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <simdjson.h>

#include "operators/parse.hpp"
#include "pricing.pb.h"
#include "src/base/base64.hpp"
#include "src/base/duration_text.hpp"
#include "src/base/metrics.hpp"
#include "src/sources/fetch_support.hpp"
#include "src/sources/supervisor.hpp"
#include "src/sources/yahoo_pricing.hpp"
#include "src/sources/yahoo_stream.hpp"
#include "test/support/http_test_server.hpp"
#include "test/support/test_certs.hpp"
#include "test/support/ws_test_server.hpp"

namespace {

using namespace tapewire;
using namespace tapewire::yahoo;
using pb_pricing = tapewire::yahoo::PricingData;

std::vector<std::string> fixture_lines(const std::string& name) {
    std::istringstream in(test::read_yahoo_fixture(name));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

std::string v2_frame(const pb_pricing& p) {
    return R"({"type":"pricing","message":")" + base64_encode(p.SerializeAsString()) + "\"}";
}

// The protobuf bytes inside a v2 frame.
std::string frame_bytes(const std::string& frame) {
    const auto at = frame.find(R"("message":")");
    REQUIRE(at != std::string::npos);
    const auto start = at + 11;
    std::string bytes;
    REQUIRE(base64_decode(std::string_view(frame).substr(start, frame.find('"', start) - start), bytes));
    return bytes;
}

std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) out += {digits[c >> 4], digits[c & 15]};
    return out;
}

bool same_float(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every field equal (floats bit for bit), and a field is present by hand exactly when libprotobuf
// holds a non-default value (what a proto3 writer puts on the wire).
void require_same(const pricing_data& h, const pb_pricing& p) {
    CHECK(h.id == p.id());
    CHECK(same_float(h.price, p.price()));
    CHECK(h.time == p.time());
    CHECK(h.currency == p.currency());
    CHECK(h.exchange == p.exchange());
    CHECK(h.quote_type == p.quote_type());
    CHECK(h.market_hours == p.market_hours());
    CHECK(same_float(h.change_percent, p.change_percent()));
    CHECK(h.day_volume == p.day_volume());
    CHECK(same_float(h.day_high, p.day_high()));
    CHECK(same_float(h.day_low, p.day_low()));
    CHECK(same_float(h.change, p.change()));
    CHECK(h.short_name == p.short_name());
    CHECK(h.expire_date == p.expire_date());
    CHECK(same_float(h.open_price, p.open_price()));
    CHECK(same_float(h.previous_close, p.previous_close()));
    CHECK(same_float(h.strike_price, p.strike_price()));
    CHECK(h.underlying_symbol == p.underlying_symbol());
    CHECK(h.open_interest == p.open_interest());
    CHECK(h.options_type == p.options_type());
    CHECK(h.mini_option == p.mini_option());
    CHECK(h.last_size == p.last_size());
    CHECK(same_float(h.bid, p.bid()));
    CHECK(h.bid_size == p.bid_size());
    CHECK(same_float(h.ask, p.ask()));
    CHECK(h.ask_size == p.ask_size());
    CHECK(h.price_hint == p.price_hint());
    CHECK(h.vol_24hr == p.vol_24hr());
    CHECK(h.vol_all_currencies == p.vol_all_currencies());
    CHECK(h.from_currency == p.from_currency());
    CHECK(h.last_market == p.last_market());
    CHECK(same_double(h.circulating_supply, p.circulating_supply()));
    CHECK(same_double(h.market_cap, p.market_cap()));
}

// Which fields a proto3 message holds (non-default), as a presence mask.
std::uint64_t pb_present(const pb_pricing& p) {
    const auto* d = pb_pricing::descriptor();
    const auto* r = pb_pricing::GetReflection();
    std::uint64_t mask = 0;
    for (int i = 0; i < d->field_count(); ++i)
        if (r->HasField(p, d->field(i))) mask |= std::uint64_t{1} << d->field(i)->number();
    return mask;
}

// A random message: each field set with probability 1/2, to values that stress the encodings.
pb_pricing random_message(std::mt19937_64& rng) {
    pb_pricing p;
    auto coin = [&] { return (rng() & 1) != 0; };
    auto i64 = [&]() -> std::int64_t {
        switch (rng() % 5) {
        case 0: return static_cast<std::int64_t>(rng());
        case 1: return -static_cast<std::int64_t>(rng() % 1000);
        case 2: return std::numeric_limits<std::int64_t>::min();
        case 3: return std::numeric_limits<std::int64_t>::max();
        default: return static_cast<std::int64_t>(rng() % 100000);
        }
    };
    auto f32 = [&]() -> float {
        switch (rng() % 4) {
        case 0: return std::bit_cast<float>(static_cast<std::uint32_t>(rng())); // any bits, NaNs included
        case 1: return -std::numeric_limits<float>::infinity();
        default: return static_cast<float>(static_cast<double>(rng() % 10000000) / 100.0);
        }
    };
    auto f64 = [&]() -> double { return coin() ? std::bit_cast<double>(rng()) : static_cast<double>(rng() % 1000000); };
    auto str = [&]() {
        std::string s(rng() % 3 == 0 ? 130 + rng() % 200 : rng() % 12, 'x'); // > 127: a two-byte length
        for (auto& c : s) c = static_cast<char>('A' + rng() % 26);
        return s;
    };
    auto i32 = [&]() -> std::int32_t {
        return coin() ? -static_cast<std::int32_t>(rng() % 50) : static_cast<std::int32_t>(rng() % 2000);
    };
    if (coin()) p.set_id(str());
    if (coin()) p.set_price(f32());
    if (coin()) p.set_time(i64());
    if (coin()) p.set_currency(str());
    if (coin()) p.set_exchange(str());
    if (coin()) p.set_quote_type(i32());
    if (coin()) p.set_market_hours(i32());
    if (coin()) p.set_change_percent(f32());
    if (coin()) p.set_day_volume(i64());
    if (coin()) p.set_day_high(f32());
    if (coin()) p.set_day_low(f32());
    if (coin()) p.set_change(f32());
    if (coin()) p.set_short_name(str());
    if (coin()) p.set_expire_date(i64());
    if (coin()) p.set_open_price(f32());
    if (coin()) p.set_previous_close(f32());
    if (coin()) p.set_strike_price(f32());
    if (coin()) p.set_underlying_symbol(str());
    if (coin()) p.set_open_interest(i64());
    if (coin()) p.set_options_type(i64());
    if (coin()) p.set_mini_option(i64());
    if (coin()) p.set_last_size(i64());
    if (coin()) p.set_bid(f32());
    if (coin()) p.set_bid_size(i64());
    if (coin()) p.set_ask(f32());
    if (coin()) p.set_ask_size(i64());
    if (coin()) p.set_price_hint(i64());
    if (coin()) p.set_vol_24hr(i64());
    if (coin()) p.set_vol_all_currencies(i64());
    if (coin()) p.set_from_currency(str());
    if (coin()) p.set_last_market(str());
    if (coin()) p.set_circulating_supply(f64());
    if (coin()) p.set_market_cap(f64());
    return p;
}

void put_varint(std::string& s, std::uint64_t v) {
    while (v >= 0x80) {
        s += static_cast<char>((v & 0x7f) | 0x80);
        v >>= 7;
    }
    s += static_cast<char>(v);
}
void put_tag(std::string& s, std::uint32_t field, std::uint32_t wire) {
    put_varint(s, std::uint64_t{field} << 3 | wire);
}

// Unknown fields of every wire type (a group with a nested group included), and known field
// numbers with the wrong wire type, which libprotobuf keeps as unknown and the hand decoder skips.
std::string random_unknowns(std::mt19937_64& rng) {
    std::string s;
    const int n = static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
        const auto field = static_cast<std::uint32_t>(rng() % 3 == 0 ? 1 + rng() % 33 : 34 + rng() % 100000);
        switch (rng() % 5) {
        case 0:
            if (field == 6 || field == 7 || field == 3 ||
                (field >= 9 && field <= 29 && field != 10 && field != 11 && field != 12 && field != 13 && field != 15 &&
                 field != 16 && field != 17 && field != 18 && field != 23 && field != 25))
                break; // would be a known varint field
            put_tag(s, field, 0);
            put_varint(s, rng());
            break;
        case 1:
            if (field == 32 || field == 33) break;
            put_tag(s, field, 1);
            s.append(8, static_cast<char>(rng()));
            break;
        case 2: {
            if (field == 1 || field == 4 || field == 5 || field == 13 || field == 18 || field == 30 || field == 31)
                break;
            put_tag(s, field, 2);
            const std::size_t len = rng() % 200;
            put_varint(s, len);
            s.append(len, 'u');
            break;
        }
        case 3: {
            put_tag(s, field, 3);
            put_tag(s, 5, 0); // inside a group: nothing is a PricingData field
            put_varint(s, 42);
            put_tag(s, 9, 3);
            put_tag(s, 2, 5);
            s.append(4, '\x01');
            put_tag(s, 9, 4);
            put_tag(s, field, 4);
            break;
        }
        default:
            if (field == 2 || field == 8 || field == 10 || field == 11 || field == 12 || field == 15 || field == 16 ||
                field == 17 || field == 23 || field == 25)
                break;
            put_tag(s, field, 5);
            s.append(4, static_cast<char>(rng()));
        }
    }
    return s;
}

// Runs the io_context until `done()` or the deadline.
template <class F>
bool run_until(boost::asio::io_context& io, F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        if (io.stopped()) io.restart(); // ran out of work (a task ended): keep going
        io.run_for(std::chrono::milliseconds(5));
    }
    return true;
}

std::vector<std::pair<std::string, std::string>> drain(fetch_outbox& out) {
    std::vector<std::pair<std::string, std::string>> v;
    std::string k, p;
    while (out.pop(k, p)) v.emplace_back(k, p);
    return v;
}

// What the given frames become, in order, through one tick builder.
std::vector<std::string> expected_ticks(const std::vector<std::string>& frames) {
    frame_to_tick f;
    std::vector<std::string> out;
    char space[512];
    json_buffer json(space, sizeof space);
    for (const auto& fr : frames) {
        const auto o = f.process(fr, json);
        if (o.kind == frame_outcome::what::tick) out.emplace_back(o.json);
    }
    return out;
}

std::vector<std::string> payloads(const std::vector<std::pair<std::string, std::string>>& v) {
    std::vector<std::string> out;
    for (const auto& [k, p] : v) out.push_back(p);
    return out;
}

// A stream task under the supervisor, on the test thread's io_context.
struct stream_rig {
    metrics_registry reg;
    fetch_metrics m{reg, "stream"};
    fetch_outbox out{1'000'000};
    stream_connection_options opt;
    stream_symbols_state state;
    boost::asio::io_context io;

    void start(std::chrono::milliseconds backoff_min = std::chrono::milliseconds(50)) {
        boost::asio::co_spawn(io,
                              supervise(
                                  "yahoo-stream",
                                  [this](task_run& run) { return run_stream_connection(opt, state, out, m, run); },
                                  backoff(std::chrono::nanoseconds(backoff_min).count(),
                                          std::chrono::nanoseconds(backoff_min).count() * 4),
                                  m.restarts),
                              boost::asio::detached);
    }
};

const std::string k_subscribe = R"({"subscribe":["BTC-USD","AAPL"]})";

} // namespace

// ---- PricingData -----------------------------------------------------------------------------

TEST_CASE("the yfinance test message decodes to the values yfinance expects", "[stream]") {
    const std::string b64 = test::read_yahoo_fixture("ws_v2_message_BTC-USD_yfinance_test.b64.txt");
    std::string bytes;
    REQUIRE(base64_decode(b64, bytes));
    pricing_data d;
    const auto st = decode_pricing(bytes, d);
    REQUIRE(st.ok());

    simdjson::dom::parser parser;
    const simdjson::padded_string expected_text(
        test::read_yahoo_fixture("ws_v2_message_BTC-USD_yfinance_test.expected.json"));
    simdjson::dom::object expected = parser.parse(expected_text).get_object();

    std::uint64_t listed = 0;
    for (auto [key, value] : expected) {
        INFO(key);
        const auto* fd = pb_pricing::descriptor()->FindFieldByName(std::string(key));
        REQUIRE(fd != nullptr);
        listed |= std::uint64_t{1} << fd->number();
        const auto f = static_cast<pricing_field>(fd->number());
        switch (fd->type()) {
        case google::protobuf::FieldDescriptor::TYPE_STRING: {
            const std::string_view s = value.get_string();
            const std::string_view got = f == pricing_field::id         ? d.id
                                         : f == pricing_field::currency ? d.currency
                                         : f == pricing_field::exchange ? d.exchange
                                                                        : d.from_currency;
            CHECK(got == s);
            break;
        }
        case google::protobuf::FieldDescriptor::TYPE_FLOAT: {
            // yfinance prints float32 rounded to the shortest text that reads back as the same float.
            const float want = static_cast<float>(double(value.get_double()));
            const float got = f == pricing_field::price            ? d.price
                              : f == pricing_field::change_percent ? d.change_percent
                              : f == pricing_field::day_high       ? d.day_high
                              : f == pricing_field::day_low        ? d.day_low
                              : f == pricing_field::change         ? d.change
                                                                   : d.open_price;
            CHECK(got == want);
            break;
        }
        case google::protobuf::FieldDescriptor::TYPE_DOUBLE: {
            const double got = f == pricing_field::circulating_supply ? d.circulating_supply : d.market_cap;
            CHECK(got == double(value.get_double()));
            break;
        }
        case google::protobuf::FieldDescriptor::TYPE_SINT64: {
            const std::string_view s = value.get_string(); // int64 as a JSON string (proto3 JSON mapping)
            const std::int64_t got = f == pricing_field::time         ? d.time
                                     : f == pricing_field::day_volume ? d.day_volume
                                     : f == pricing_field::last_size  ? d.last_size
                                     : f == pricing_field::price_hint ? d.price_hint
                                     : f == pricing_field::vol_24hr   ? d.vol_24hr
                                                                      : d.vol_all_currencies;
            CHECK(std::to_string(got) == s);
            break;
        }
        case google::protobuf::FieldDescriptor::TYPE_INT32: {
            const std::int64_t got = f == pricing_field::quote_type ? d.quote_type : d.market_hours;
            CHECK(got == std::int64_t(value.get_int64()));
            break;
        }
        default: FAIL("unexpected field type");
        }
    }
    CHECK(listed == d.present); // yfinance lists exactly the fields on the wire
    CHECK(d.price == 94745.078125f);
    CHECK(d.time == 1736509140000);
    CHECK(d.has(pricing_field::last_size));
    CHECK_FALSE(d.has(pricing_field::bid));
}

TEST_CASE("every recorded v2 frame decodes by hand exactly as libprotobuf decodes it", "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    REQUIRE(frames.size() == 35);
    frame_decoder dec;
    for (const auto& frame : frames) {
        INFO(frame);
        pricing_data h;
        const auto r = dec.decode(frame, h);
        REQUIRE(r.status.ok());
        CHECK(r.frame == frame_decoder::kind::v2_json);
        pb_pricing p;
        REQUIRE(p.ParseFromString(frame_bytes(frame)));
        require_same(h, p);
        CHECK(h.present == pb_present(p));
        CHECK(h.id == "BTC-USD");
        CHECK(h.quote_type == k_quote_type_cryptocurrency);
    }
}

TEST_CASE("randomized messages serialized by libprotobuf decode identically by hand", "[stream]") {
    std::mt19937_64 rng(20250118);
    pricing_data h;
    for (int i = 0; i < 3000; ++i) {
        const pb_pricing p = random_message(rng);
        std::string bytes = p.SerializeAsString();
        INFO("bytes " << hex(bytes));
        REQUIRE(decode_pricing(bytes, h).ok());
        require_same(h, p);
        REQUIRE(h.present == pb_present(p));

        // The same with unknown fields spliced in before and after: both skip or keep them aside.
        bytes = random_unknowns(rng) + bytes + random_unknowns(rng);
        INFO("with unknowns " << hex(bytes));
        pb_pricing q;
        REQUIRE(q.ParseFromString(bytes));
        REQUIRE(decode_pricing(bytes, h).ok());
        require_same(h, q);
    }
}

TEST_CASE("every prefix of a recorded frame decodes as libprotobuf does or fails as truncated", "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    for (const std::size_t which : {std::size_t{0}, std::size_t{17}, std::size_t{34}}) {
        const std::string bytes = frame_bytes(frames[which]);
        std::size_t whole_fields = 0;
        for (std::size_t n = 0; n <= bytes.size(); ++n) {
            INFO("prefix " << n);
            const std::string prefix = bytes.substr(0, n);
            pricing_data h;
            const auto st = decode_pricing(prefix, h);
            pb_pricing p;
            const bool pb_ok = p.ParseFromString(prefix);
            REQUIRE(st.ok() == pb_ok);
            if (pb_ok) {
                require_same(h, p);
                ++whole_fields;
            } else {
                CHECK(st.error == decode_error::truncated);
                CHECK(st.offset < n);
            }
        }
        CHECK(whole_fields == 21); // empty + one per field: each BTC-USD frame carries 20
    }
}

TEST_CASE("corrupted bytes fail with a reason, and whatever libprotobuf accepts decodes the same by hand", "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    // libprotobuf logs every string it refuses as invalid UTF-8: quiet for this test.
    auto* const previous_log = google::protobuf::SetLogHandler(nullptr);
    std::mt19937_64 rng(7);
    std::size_t failures = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string bytes = frame_bytes(frames[rng() % frames.size()]);
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) bytes[rng() % bytes.size()] = static_cast<char>(rng());
        pricing_data h;
        const auto st = decode_pricing(bytes, h);
        pb_pricing p;
        INFO("bytes " << hex(bytes));
        if (p.ParseFromString(bytes)) {
            REQUIRE(st.ok());
            require_same(h, p);
        }
        if (!st.ok()) {
            ++failures;
            REQUIRE(st.offset < bytes.size());
            REQUIRE_FALSE(st.describe().empty());
        }
    }
    CHECK(failures > 1000); // the corruptions did reach the error paths
    google::protobuf::SetLogHandler(previous_log);
}

TEST_CASE("malformed protobuf reports what is wrong and where", "[stream]") {
    pricing_data d;
    auto check = [&](std::string bytes, decode_error want, std::uint32_t at) {
        const auto st = decode_pricing(bytes, d);
        CHECK(st.error == want);
        CHECK(st.offset == at);
    };
    check(std::string("\x0a\x07"
                      "BTC-USD"
                      "\x15\x00\x00",
                      12),
          decode_error::truncated, 9); // float cut short
    check(std::string("\x0a\x09"
                      "BTC",
                      5),
          decode_error::truncated, 0); // length past the end
    check(std::string("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), decode_error::varint_too_long, 0);
    check(std::string("\x0a\x01X\x0e", 4), decode_error::bad_wire_type, 3); // field 1, wire type 6
    check(std::string("\x00\x01", 2), decode_error::bad_field_number, 0);
    check(std::string("\x0c", 1), decode_error::unmatched_end_group, 0);             // END_GROUP 1 at top level
    check(std::string("\xa3\x06\xa4\x06", 4), decode_error::ok, 0);                  // group 100 ... end 100
    check(std::string("\xa3\x06\xb4\x06", 4), decode_error::unmatched_end_group, 0); // group 100 ended by 102
    std::string deep;
    for (int i = 0; i <= k_max_group_depth; ++i) deep += "\xa3\x06";
    check(deep, decode_error::too_deep, 0);
    CHECK(decode_status{decode_error::truncated, 9}.describe() == "truncated in the field at byte 9");
}

TEST_CASE("a known field with another wire type is skipped like an unknown field", "[stream]") {
    std::string bytes("\x0a\x04MSFT", 6);
    put_tag(bytes, 2, 0); // price as a varint: not a float
    put_varint(bytes, 12345);
    put_tag(bytes, 3, 5); // time as fixed32: not a zigzag varint
    bytes.append(4, '\x01');
    pricing_data d;
    REQUIRE(decode_pricing(bytes, d).ok());
    CHECK(d.id == "MSFT");
    CHECK_FALSE(d.has(pricing_field::price));
    CHECK_FALSE(d.has(pricing_field::time));
    CHECK(d.price == 0);
    pb_pricing p;
    REQUIRE(p.ParseFromString(bytes));
    require_same(d, p);
}

TEST_CASE("the last occurrence of a repeated field wins, as in libprotobuf", "[stream]") {
    pb_pricing a, b;
    a.set_id("AAA");
    a.set_price(1.5f);
    b.set_id("BBBB");
    b.set_day_volume(-7);
    const std::string bytes = a.SerializeAsString() + b.SerializeAsString();
    pricing_data d;
    REQUIRE(decode_pricing(bytes, d).ok());
    CHECK(d.id == "BBBB");
    CHECK(d.price == 1.5f);
    CHECK(d.day_volume == -7);
}

TEST_CASE("the legacy v1 MSFT frame decodes to the values yliveticker's test expects", "[stream]") {
    const std::string frame = test::read_yahoo_fixture("ws_v1_message_MSFT_yliveticker_test.b64.txt");
    frame_decoder dec;
    pricing_data d;
    const auto r = dec.decode(frame, d);
    REQUIRE(r.status.ok());
    CHECK(r.frame == frame_decoder::kind::v1_base64);
    CHECK(d.id == "MSFT");
    CHECK(d.exchange == "NMS");
    CHECK(d.quote_type == 8);
    CHECK(static_cast<double>(d.price) == 177.4199981689453);
    CHECK(d.time == 1589554809000);
    CHECK(d.market_hours == 1);
    CHECK(static_cast<double>(d.change_percent) == -1.7227057218551636);
    CHECK(d.day_volume == 10460764);
    CHECK(static_cast<double>(d.change) == -3.1100006103515625);
    CHECK(d.price_hint == 2);
    CHECK(d.currency.empty());
    CHECK_FALSE(d.has(pricing_field::currency));
    CHECK_FALSE(d.has(pricing_field::last_size));

    frame_to_tick f;
    char space[256];
    json_buffer json(space, sizeof space);
    const auto o = f.process(frame, json);
    REQUIRE(o.kind == frame_outcome::what::tick);
    CHECK(o.json == R"({"symbol":"MSFT","ts":1589554809000000000,"price":177.4199981689453,"size":0})");
}

// ---- ticks -----------------------------------------------------------------------------------

namespace {
pricing_data quote(std::string_view id, float price, std::int64_t time_ms) {
    pricing_data d;
    d.id = id;
    d.price = price;
    d.time = time_ms;
    d.quote_type = 8;
    d.present = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 6;
    return d;
}
pricing_data with_volume(pricing_data d, std::int64_t day_volume) {
    d.day_volume = day_volume;
    d.present |= 1u << 9;
    return d;
}
} // namespace

TEST_CASE("a tick takes last_size when set, else the increase of day_volume", "[stream]") {
    tick_builder b;
    tick t;
    // First frame without last_size: no difference to take yet.
    REQUIRE(b.build(with_volume(quote("AAPL", 189.5f, 1'700'000'000'000), 1000), t) == build_outcome::tick);
    CHECK(t.volume == 0);
    CHECK(t.ts == 1'700'000'000'000'000'000);
    CHECK(t.price() == 189.5);
    CHECK(std::isnan(t.bid));
    CHECK(std::isnan(t.ask));
    // Increase: the difference.
    REQUIRE(b.build(with_volume(quote("AAPL", 189.6f, 1'700'000'000'500), 1300), t) == build_outcome::tick);
    CHECK(t.volume == 300);
    CHECK(t.pv == 300 * static_cast<double>(189.6f));
    // Unchanged: 0.
    REQUIRE(b.build(with_volume(quote("AAPL", 189.6f, 1'700'000'000'600), 1300), t) == build_outcome::tick);
    CHECK(t.volume == 0);
    // last_size wins over the difference, and the base still moves.
    auto d = with_volume(quote("AAPL", 189.7f, 1'700'000'000'700), 1450);
    d.last_size = 100;
    d.present |= 1u << 22;
    REQUIRE(b.build(d, t) == build_outcome::tick);
    CHECK(t.volume == 100);
    CHECK(b.day_volume_base("AAPL") == 1450);
    REQUIRE(b.build(with_volume(quote("AAPL", 189.7f, 1'700'000'000'800), 1500), t) == build_outcome::tick);
    CHECK(t.volume == 50);
    // A frame without day_volume keeps the base.
    REQUIRE(b.build(quote("AAPL", 189.7f, 1'700'000'000'900), t) == build_outcome::tick);
    CHECK(t.volume == 0);
    CHECK(b.day_volume_base("AAPL") == 1500);
    // Symbols are independent.
    REQUIRE(b.build(with_volume(quote("MSFT", 400.f, 1'700'000'000'900), 5), t) == build_outcome::tick);
    CHECK(t.volume == 0);
    CHECK(b.symbols() == 2);
}

TEST_CASE("a day_volume reset starts again from the new value and never gives a negative size", "[stream]") {
    tick_builder b;
    tick t;
    REQUIRE(b.build(with_volume(quote("AAPL", 10.f, 1000), 50'000), t) == build_outcome::tick);
    REQUIRE(b.build(with_volume(quote("AAPL", 10.f, 2000), 50'100), t) == build_outcome::tick);
    CHECK(t.volume == 100);
    // New session: day volume back to 200. Size 0, base 200.
    REQUIRE(b.build(with_volume(quote("AAPL", 10.f, 3000), 200), t) == build_outcome::tick);
    CHECK(t.volume == 0);
    CHECK(b.day_volume_base("AAPL") == 200);
    REQUIRE(b.build(with_volume(quote("AAPL", 10.f, 4000), 260), t) == build_outcome::tick);
    CHECK(t.volume == 60);
    // A reset to zero as well.
    REQUIRE(b.build(with_volume(quote("AAPL", 10.f, 5000), 0), t) == build_outcome::tick);
    CHECK(t.volume == 0);
    REQUIRE(b.build(with_volume(quote("AAPL", 10.f, 6000), 7), t) == build_outcome::tick);
    CHECK(t.volume == 7);
}

TEST_CASE("crypto frames whose last_size echoes day_volume take the day_volume difference", "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    frame_decoder dec;
    tick_builder b;
    pricing_data d;
    std::int64_t prev = -1;
    for (const auto& f : frames) {
        REQUIRE(dec.decode(f, d).status.ok());
        REQUIRE(d.last_size == d.day_volume); // what Yahoo sends for BTC-USD
        tick t;
        REQUIRE(b.build(d, t) == build_outcome::tick);
        const double want = prev < 0 || d.day_volume < prev ? 0.0 : static_cast<double>(d.day_volume - prev);
        CHECK(t.volume == want);
        CHECK(t.volume >= 0);
        CHECK(t.volume < 1e11);
        CHECK(t.close == static_cast<double>(d.price));
        prev = d.day_volume;
    }
    // An equity whose last_size equals its day volume (the day's first trade) keeps last_size.
    auto q = with_volume(quote("IBM", 200.f, 1000), 300);
    q.last_size = 300;
    tick t;
    REQUIRE(b.build(q, t) == build_outcome::tick);
    CHECK(t.volume == 300);
}

TEST_CASE("bid and ask are set when present and positive", "[stream]") {
    tick_builder b;
    tick t;
    auto d = quote("AAPL", 100.f, 1000);
    d.bid = 99.5f;
    d.ask = 100.25f;
    REQUIRE(b.build(d, t) == build_outcome::tick);
    CHECK(t.bid == 99.5);
    CHECK(t.ask == 100.25);
    d.bid = 0;
    d.ask = -1;
    REQUIRE(b.build(d, t) == build_outcome::tick);
    CHECK(std::isnan(t.bid));
    CHECK(std::isnan(t.ask));
}

TEST_CASE("frames without a symbol, price or time, and heartbeats, are skipped", "[stream]") {
    tick_builder b;
    tick t;
    auto hb = quote("BTC-USD", 1.f, 1000);
    hb.quote_type = k_quote_type_heartbeat;
    CHECK(b.build(hb, t) == build_outcome::heartbeat);
    CHECK(b.build(quote("", 1.f, 1000), t) == build_outcome::no_id);
    CHECK(b.build(quote("AAPL", 0.f, 1000), t) == build_outcome::no_price);
    CHECK(b.build(quote("AAPL", -2.f, 1000), t) == build_outcome::no_price);
    CHECK(b.build(quote("AAPL", std::numeric_limits<float>::quiet_NaN(), 1000), t) == build_outcome::no_price);
    CHECK(b.build(quote("AAPL", std::numeric_limits<float>::infinity(), 1000), t) == build_outcome::no_price);
    CHECK(b.build(quote("AAPL", 1.f, 0), t) == build_outcome::no_time);
    CHECK(b.build(quote("AAPL", 1.f, std::numeric_limits<std::int64_t>::max()), t) == build_outcome::no_time);
    CHECK(b.build(quote("AAPL250117C00150000", 1.f, 1000), t) == build_outcome::symbol_too_long);
    CHECK(b.symbols() == 0);
}

TEST_CASE("the ticks written are canonical tick JSON the parse stage reads back", "[stream]") {
    frame_to_tick f;
    parse_stage parse(parse_options{.max_future_skew_ns = 0});
    char space[256];
    json_buffer json(space, sizeof space);
    pricing_data prev;
    for (const auto& frame : fixture_lines("ws_v2_frames_BTC-USD.txt")) {
        const auto o = f.process(frame, json);
        REQUIRE(o.kind == frame_outcome::what::tick);
        std::string padded(o.json);
        padded.append(k_message_padding, '\0');
        tick back;
        const auto r = parse.decode(raw_message{std::string_view(padded.data(), o.json.size()), "BTC-USD", {}}, back);
        REQUIRE(r.ok);
        CHECK(back.sym == o.t.sym);
        CHECK(back.ts == o.t.ts);
        CHECK(back.close == o.t.close);
        CHECK(back.volume == o.t.volume);
        CHECK(std::isnan(back.bid));
    }
    frame_to_tick fresh;
    const auto o = fresh.process(fixture_lines("ws_v2_frames_BTC-USD.txt")[0], json);
    CHECK(o.json == R"({"symbol":"BTC-USD","ts":1756139880000000000,"price":112737.765625,"size":0})");
}

TEST_CASE("garbage frames are errors or skips with a reason, never ticks", "[stream]") {
    frame_to_tick f;
    char space[256];
    json_buffer json(space, sizeof space);
    using W = frame_outcome::what;
    auto kind = [&](std::string_view frame) { return f.process(frame, json); };
    CHECK(kind("{not json").status.error == decode_error::not_json);
    CHECK(kind(R"({"type":"pricing","message":"!!!!"})").status.error == decode_error::bad_base64);
    CHECK(kind(R"({"type":"pricing","message":"CgdCVEMtVVNE/w=="})").status.error == decode_error::truncated);
    CHECK(kind(R"({"type":"pricing"})").status.error == decode_error::no_message);
    CHECK(kind(R"({"type":"pricing","message":42})").status.error == decode_error::no_message);
    CHECK(kind(R"([1,2])").status.error == decode_error::bad_base64); // not '{': read as a legacy frame
    CHECK(kind("\x01\x02garbage").status.error == decode_error::bad_base64);
    const auto other = kind(R"({"type":"news","message":"x"})");
    CHECK(other.kind == W::skipped);
    CHECK(other.skip == build_outcome::not_pricing);
    const auto empty = kind("");
    CHECK(empty.kind == W::skipped);
    CHECK(empty.skip == build_outcome::no_id);

    pb_pricing hb;
    hb.set_id("BTC-USD");
    hb.set_quote_type(k_quote_type_heartbeat);
    hb.set_time(1736509140000);
    const auto h = kind(v2_frame(hb));
    CHECK(h.kind == W::skipped);
    CHECK(h.skip == build_outcome::heartbeat);

    // Keys in another order, escaped slashes, whitespace: still the same frame.
    pb_pricing p;
    p.set_id("A/B");
    p.set_price(2.5f);
    p.set_time(1000);
    std::string msg = base64_encode(p.SerializeAsString());
    std::string escaped;
    for (char c : msg) escaped += c == '/' ? std::string("\\/") : std::string(1, c);
    const auto ok = kind(" { \"message\" : \"" + escaped + "\", \"type\":\"pricing\" } ");
    REQUIRE(ok.kind == W::tick);
    CHECK(ok.t.sym.view() == "A/B");
}

// ---- the websocket task ----------------------------------------------------------------------

TEST_CASE("ticks from the streamer arrive in the outbox as the frames decode", "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    test::ws_test_server srv({.frames = frames});
    stream_rig rig;
    rig.opt.url = srv.url();
    rig.opt.symbols = {"BTC-USD", "AAPL"};
    rig.opt.user_agent = "tapewire-test/1";
    rig.start();
    REQUIRE(run_until(rig.io, [&] { return rig.out.size() >= frames.size(); }));
    const auto got = drain(rig.out);
    CHECK(payloads(got) == expected_ticks(frames));
    for (const auto& [key, payload] : got) CHECK(key == "BTC-USD");
    std::size_t bytes = 0;
    for (const auto& f : frames) bytes += f.size();
    CHECK(rig.m.ticks.value() == frames.size());
    CHECK(rig.m.bytes.value() == bytes);
    CHECK(rig.m.decode_errors.value() == 0);
    CHECK(rig.m.restarts.value() == 0);
    CHECK(rig.m.reconnects.value() == 0);
    CHECK(rig.m.requests.value() == 1);
    CHECK(rig.m.state("BTC-USD") == symbol_health::ok);
    const auto msgs = srv.messages();
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0].text == k_subscribe);
    CHECK(srv.last_user_agent() == "tapewire-test/1");
    CHECK(srv.last_host() == "127.0.0.1:" + std::to_string(srv.port()));
    CHECK(srv.last_target() == "/?version=2");
    CHECK(rig.state.connections == 1);
}

TEST_CASE("the subscription is sent again every resubscribe_interval", "[stream]") {
    test::ws_test_server srv({.frames = fixture_lines("ws_v2_frames_BTC-USD.txt")});
    stream_rig rig;
    rig.opt.url = srv.url();
    rig.opt.symbols = {"BTC-USD", "AAPL"};
    rig.opt.resubscribe_interval = std::chrono::milliseconds(200);
    rig.opt.silence_timeout = std::chrono::seconds(0); // the replay ends; the connection must stay
    rig.start();
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(run_until(rig.io, [&] { return srv.messages().size() >= 4; }));
    const auto took = std::chrono::steady_clock::now() - t0;
    // The server may read the 4th message before the client's write completes and counts it.
    REQUIRE(run_until(rig.io, [&] { return rig.m.requests.value() >= 4; }));
    CHECK(took >= std::chrono::milliseconds(550)); // 3 intervals after the first subscribe
    CHECK(took < std::chrono::seconds(3));
    for (const auto& m : srv.messages()) {
        CHECK(m.connection == 1);
        CHECK(m.text == k_subscribe);
    }
    CHECK(rig.m.requests.value() >= 4);
    CHECK(rig.m.restarts.value() == 0);
    CHECK(srv.connections() == 1);
}

TEST_CASE("after the server drops the connection the task reconnects, subscribes again and ticks continue",
          "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    const bool close_frame = GENERATE(false, true);
    INFO("websocket close frame: " << close_frame);
    test::ws_test_server srv({.frames = frames, .drop_after = 10, .drop_with_close_frame = close_frame});
    stream_rig rig;
    rig.opt.url = srv.url();
    rig.opt.symbols = {"BTC-USD", "AAPL"};
    rig.start();
    REQUIRE(run_until(rig.io, [&] { return rig.out.size() >= 10 + frames.size(); }));
    // The builder's state survived the reconnect: the replay continues from the first connection's bases.
    std::vector<std::string> sent(frames.begin(), frames.begin() + 10);
    sent.insert(sent.end(), frames.begin(), frames.end());
    CHECK(payloads(drain(rig.out)) == expected_ticks(sent));
    CHECK(rig.m.reconnects.value() >= 1);
    CHECK(rig.m.restarts.value() >= 1);
    CHECK(srv.connections() == 2);
    CHECK(rig.state.connections == 2);
    const auto msgs = srv.messages();
    REQUIRE(msgs.size() >= 2);
    CHECK(msgs[0].connection == 1);
    CHECK(msgs[0].text == k_subscribe);
    const auto second = std::find_if(msgs.begin(), msgs.end(), [](const auto& m) { return m.connection == 2; });
    REQUIRE(second != msgs.end());
    CHECK(second->text == k_subscribe);
    CHECK(rig.m.state("BTC-USD") == symbol_health::ok);
}

TEST_CASE("garbage frames from the streamer are counted and do not end the connection", "[stream]") {
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    pb_pricing hb;
    hb.set_id("BTC-USD");
    hb.set_quote_type(k_quote_type_heartbeat);
    test::ws_test_server srv({.frames = frames,
                              .garbage_before = {"{not json", R"({"type":"pricing","message":"%%%"})",
                                                 R"({"type":"pricing","message":"CgdCVEMtVVNE/w=="})", v2_frame(hb)}});
    stream_rig rig;
    rig.opt.url = srv.url();
    rig.opt.symbols = {"BTC-USD"};
    rig.start();
    REQUIRE(run_until(rig.io, [&] { return rig.out.size() >= frames.size(); }));
    CHECK(payloads(drain(rig.out)) == expected_ticks(frames));
    CHECK(rig.m.decode_errors.value() == 3);
    CHECK(rig.m.skipped.value() == 1);
    CHECK(rig.m.restarts.value() == 0);
    CHECK(srv.connections() == 1);

    // Frames pushed later still arrive on the same connection.
    srv.push_to_all("not base64!");
    srv.push_to_all(frames[3]);
    REQUIRE(run_until(rig.io, [&] { return rig.out.size() >= 1; }));
    CHECK(rig.m.decode_errors.value() == 4);
    CHECK(rig.m.ticks.value() == frames.size() + 1);
}

namespace {
// Runs one connection task to its end and returns what it threw.
std::string run_once(stream_rig& rig, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::string error;
    bool done = false;
    task_run run;
    boost::asio::co_spawn(rig.io, run_stream_connection(rig.opt, rig.state, rig.out, rig.m, run),
                          [&](std::exception_ptr e) {
                              done = true;
                              try {
                                  if (e) std::rethrow_exception(e);
                              } catch (const std::exception& x) {
                                  error = x.what();
                              }
                          });
    REQUIRE(run_until(
        rig.io, [&] { return done; }, limit));
    return error;
}
} // namespace

TEST_CASE("a silent connection fails after stream_silence and says so", "[stream]") {
    test::ws_test_server srv({}); // never sends a frame
    stream_rig rig;
    rig.opt.url = srv.url();
    rig.opt.symbols = {"BTC-USD", "AAPL"};
    rig.opt.silence_timeout = std::chrono::milliseconds(300);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string error = run_once(rig);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(error == "ws 127.0.0.1:" + std::to_string(srv.port()) + ": no frame for " +
                       format_duration(std::chrono::milliseconds(300)));
    CHECK(took >= std::chrono::milliseconds(300));
    CHECK(took < std::chrono::seconds(3));
    CHECK(rig.m.state("BTC-USD") == symbol_health::backing_off);
    CHECK(rig.m.state("AAPL") == symbol_health::backing_off);
    CHECK(srv.messages().size() == 1);
}

TEST_CASE("a refused connection and a bad url fail with a clear message", "[stream]") {
    stream_rig rig;
    rig.opt.symbols = {"BTC-USD"};
    std::string port;
    {
        test::ws_test_server srv({});
        port = std::to_string(srv.port());
    } // closed: the port now refuses
    rig.opt.url = "ws://127.0.0.1:" + port + "/";
    const std::string refused = run_once(rig);
    CHECK(refused.starts_with("ws 127.0.0.1:" + port + ": connect: "));
    rig.opt.url = "https://127.0.0.1/";
    CHECK(run_once(rig) == "stream url \"https://127.0.0.1/\": scheme must be ws or wss");
}

TEST_CASE("a wss stream verifies the server against the configured CA", "[stream]") {
    const auto certs = test::make_test_certs(std::filesystem::path("yahoo_stream_certs"));
    const auto frames = fixture_lines("ws_v2_frames_BTC-USD.txt");
    {
        test::ws_test_server srv({.frames = frames, .tls_cert = certs.server_cert, .tls_key = certs.server_key});
        REQUIRE(srv.url().starts_with("wss://"));
        stream_rig rig;
        rig.opt.url = srv.url();
        rig.opt.symbols = {"BTC-USD"};
        rig.opt.tls.ca_file = certs.ca_cert.string();
        rig.start();
        REQUIRE(run_until(rig.io, [&] { return rig.out.size() >= frames.size(); }));
        CHECK(payloads(drain(rig.out)) == expected_ticks(frames));
        CHECK(rig.m.restarts.value() == 0);
    }
    {
        test::ws_test_server srv(
            {.frames = frames, .tls_cert = certs.self_signed_cert, .tls_key = certs.self_signed_key});
        stream_rig rig;
        rig.opt.url = srv.url();
        rig.opt.symbols = {"BTC-USD"};
        rig.opt.tls.ca_file = certs.ca_cert.string();
        const std::string error = run_once(rig);
        CHECK(error.starts_with("wss 127.0.0.1:" + std::to_string(srv.port()) +
                                ": TLS handshake: certificate verify failed"));
        CHECK(rig.out.size() == 0);
    }
}
