// parse stage: canonical ticks and bars, the older producer's bar messages, and every dead-letter
// reason. Every payload sits in a buffer with k_message_padding spare bytes behind it (padded_message).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "collect.hpp"
#include "operators/parse.hpp"
#include "tapewire/time_text.hpp"

using namespace tapewire;
using tapewire::test::collector;
using tapewire::test::padded_message;

namespace {

struct decoded {
    parse_outcome r;
    tick t;
};

decoded decode(parse_stage& p, std::string_view payload, std::string_view key = {}, origin src = {}) {
    const padded_message m(payload, key, src);
    decoded d;
    d.r = p.decode(m.raw(), d.t);
    return d;
}

decoded decode(std::string_view payload, std::string_view key = {}) {
    parse_stage p(parse_options{});
    return decode(p, payload, key);
}

// 2024-11-28 13:20:00 UTC: 54 years * 365 + 13 leap days (1972..2020) = 19723 days to 2024-01-01,
// + 333 days (Jan..Oct = 305, + 27 of November) = 20055 days; 20055 * 86400 = 1 732 752 000 s,
// + 13:20 = 48 000 s -> 1 732 800 000 s.
constexpr timestamp_ns k_t0 = 1'732'800'000'000'000'000;

// 2025-05-29 19:38:00 UTC (= 15:38:00-04:00): 55 * 365 + 14 leap days = 20089 days to 2025-01-01,
// + 148 (Jan 31 + Feb 28 + Mar 31 + Apr 30 + 28 of May) = 20237 days; 20237 * 86400 = 1 748 476 800 s,
// + 19:38 = 70 680 s -> 1 748 547 480 s.
constexpr timestamp_ns k_may29_1938 = 1'748'547'480'000'000'000;

} // namespace

TEST_CASE("a canonical tick parses into a trade with open = high = low = close = price", "[parse]") {
    parse_stage p(parse_options{});
    const origin src{3, 42, 7};
    const decoded d = decode(p, R"({"symbol":"AAPL","ts":1732800000123456789,"price":189.53,"size":100})", "AAPL", src);
    REQUIRE(d.r.ok);
    CHECK(d.t.sym.view() == "AAPL");
    CHECK(d.t.ts == 1'732'800'000'123'456'789);
    CHECK(d.t.open == 189.53);
    CHECK(d.t.high == 189.53);
    CHECK(d.t.low == 189.53);
    CHECK(d.t.close == 189.53);
    CHECK(d.t.price() == 189.53);
    CHECK(d.t.volume == 100.0);
    CHECK(d.t.pv == 189.53 * 100.0); // price x size
    CHECK(d.t.trades == 1);
    CHECK_FALSE(d.t.is_bar);
    CHECK(std::isnan(d.t.bid));
    CHECK(std::isnan(d.t.ask));
    CHECK(d.t.src.partition == 3);
    CHECK(d.t.src.offset == 42);
    CHECK(d.t.src.ingest_ns == 7);
}

TEST_CASE("a canonical tick carries its bid and ask when present", "[parse]") {
    const decoded d =
        decode(R"({"symbol":"AAPL","ts":1732800000123456789,"price":189.53,"size":100,"bid":189.52,"ask":189.54})");
    REQUIRE(d.r.ok);
    CHECK(d.t.bid == 189.52);
    CHECK(d.t.ask == 189.54);
}

TEST_CASE("a canonical bar parses into one bar update with its own OHLCV and a typical-price numerator", "[parse]") {
    const decoded d =
        decode(R"({"symbol":"MSFT","ts":1732800000000000000,"open":10,"high":12,"low":9,"close":12,"volume":100})");
    REQUIRE(d.r.ok);
    CHECK(d.t.sym.view() == "MSFT");
    CHECK(d.t.ts == k_t0);
    CHECK(d.t.is_bar);
    CHECK(d.t.open == 10.0);
    CHECK(d.t.high == 12.0);
    CHECK(d.t.low == 9.0);
    CHECK(d.t.close == 12.0);
    CHECK(d.t.volume == 100.0);
    // typical price (12 + 9 + 12) / 3 = 11, x volume 100 = 1100
    CHECK(d.t.pv == 1100.0);
}

TEST_CASE("the older producer's bar takes its symbol from the message key, else from the configured default",
          "[parse]") {
    const std::string payload =
        R"({"timestamp":"2025-05-29 15:38:00-04:00","open":101.5,"high":102.25,"low":101.0,"close":102.0,"volume":2500})";
    // typical = (102.25 + 101 + 102) / 3 = 305.25 / 3 = 101.75; x 2500 = 254 375
    SECTION("from the key") {
        const decoded d = decode(payload, "AAPL");
        REQUIRE(d.r.ok);
        CHECK(d.t.sym.view() == "AAPL");
        CHECK(d.t.ts == k_may29_1938);
        CHECK(d.t.is_bar);
        CHECK(d.t.open == 101.5);
        CHECK(d.t.high == 102.25);
        CHECK(d.t.low == 101.0);
        CHECK(d.t.close == 102.0);
        CHECK(d.t.volume == 2500.0);
        CHECK(d.t.pv == 254'375.0);
    }
    SECTION("from parse_options.default_symbol when there is no key") {
        parse_options o;
        o.default_symbol = symbol::from("SPY");
        parse_stage p(o);
        const decoded d = decode(p, payload);
        REQUIRE(d.r.ok);
        CHECK(d.t.sym.view() == "SPY");
        CHECK(d.t.ts == k_may29_1938);
    }
    SECTION("the key wins over the default") {
        parse_options o;
        o.default_symbol = symbol::from("SPY");
        parse_stage p(o);
        const decoded d = decode(p, payload, "QQQ");
        REQUIRE(d.r.ok);
        CHECK(d.t.sym.view() == "QQQ");
    }
    SECTION("a symbol field wins over the key") {
        const decoded d = decode(
            R"({"symbol":"IBM","timestamp":"2025-05-29 15:38:00-04:00","open":1,"high":1,"low":1,"close":1,"volume":1})",
            "AAPL");
        REQUIRE(d.r.ok);
        CHECK(d.t.sym.view() == "IBM");
    }
    SECTION("neither key nor default: missing symbol") {
        const decoded d = decode(payload);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::missing_field);
        CHECK(d.r.detail == "symbol");
    }
}

TEST_CASE("input that is not JSON is dead-lettered as not_json", "[parse]") {
    const std::vector<std::string> bad = {
        "garbage",
        "",
        "   ",
        R"({"symbol":"A")",                              // truncated
        R"({"symbol":"A",)",                             // truncated after a comma
        R"({"symbol":"A","ts":1,"price":1,"size":1} x)", // trailing content
        R"({"symbol":"A","ts":1,"price":1,"size":1}{"symbol":"A","ts":2,"price":1,"size":1})", // two objects
        R"({"symbol":"A","ts":1,"price":1,"size":1}})",                                        // a stray brace
        R"([{"symbol":"A","ts":1,"price":1,"size":1}])",                                       // not an object
        R"("AAPL")",
        R"({"symbol":"A","ts":1,"price":01,"size":1})", // leading zero: not a JSON number
        R"({"symbol":"A","ts":1,"price":1.,"size":1})",
        R"({"symbol":"A","ts":1,"price":tru,"size":1})",
    };
    for (const std::string& s : bad) {
        INFO("payload: " << s);
        const decoded d = decode(s, "A");
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::not_json);
    }
    // Trailing whitespace after the object is fine.
    CHECK(decode("{\"symbol\":\"A\",\"ts\":1,\"price\":1,\"size\":1} \r\n\t").r.ok);
}

TEST_CASE("NaN and Infinity literals are not JSON", "[parse]") {
    const std::vector<std::string> bad = {
        R"({"symbol":"A","ts":1,"price":NaN,"size":1})",
        R"({"symbol":"A","ts":1,"price":Infinity,"size":1})",
        R"({"symbol":"A","ts":1,"price":-Infinity,"size":1})",
        R"({"symbol":"A","ts":1,"price":1,"size":NaN})",
        R"({"symbol":"A","ts":NaN,"price":1,"size":1})",
        R"({"symbol":"A","ts":1,"price":1,"size":1,"bid":NaN})",
        R"({"symbol":"A","ts":1,"open":1,"high":Infinity,"low":1,"close":1,"volume":1})",
    };
    for (const std::string& s : bad) {
        INFO("payload: " << s);
        const decoded d = decode(s);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::not_json);
    }
}

TEST_CASE("a message without a required field is dead-lettered as missing_field naming the field", "[parse]") {
    struct row {
        std::string payload, key, field;
    };
    const std::vector<row> rows = {
        {R"({"ts":1,"price":1,"size":1})", "", "symbol"},
        {R"({"symbol":"A","price":1,"size":1})", "", "ts"},
        {R"({"symbol":"A","ts":1,"size":1})", "", "price"},
        {R"({"symbol":"A","ts":1})", "", "price"},
        {R"({"symbol":"A","ts":1,"price":1})", "", "size"},
        {R"({"symbol":"A","ts":1,"high":2,"low":1,"close":1.5,"volume":1})", "", "open"},
        {R"({"symbol":"A","ts":1,"open":1.5,"low":1,"close":1.5,"volume":1})", "", "high"},
        {R"({"symbol":"A","ts":1,"open":1.5,"high":2,"close":1.5,"volume":1})", "", "low"},
        {R"({"symbol":"A","ts":1,"open":1.5,"high":2,"low":1,"volume":1})", "", "close"},
        {R"({"symbol":"A","ts":1,"open":1.5,"high":2,"low":1,"close":1.5})", "", "volume"},
        {R"({"open":1.5,"high":2,"low":1,"close":1.5,"volume":1})", "AAPL", "ts"}, // older bar without timestamp
    };
    for (const row& r : rows) {
        INFO("payload: " << r.payload);
        const decoded d = decode(r.payload, r.key);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::missing_field);
        CHECK(d.r.detail == r.field);
    }
}

TEST_CASE("a ts that is not a positive integer of nanoseconds is dead-lettered as bad_ts", "[parse]") {
    const std::vector<std::string> bad = {
        R"({"symbol":"A","ts":1.5,"price":1,"size":1})",                   // float
        R"({"symbol":"A","ts":1e18,"price":1,"size":1})",                  // float notation
        R"({"symbol":"A","ts":"1732800000000000000","price":1,"size":1})", // string
        R"({"symbol":"A","ts":0,"price":1,"size":1})",                     // not after the epoch
        R"({"symbol":"A","ts":-5,"price":1,"size":1})",
        R"({"symbol":"A","ts":9223372036854775808,"price":1,"size":1})", // beyond int64
        R"({"symbol":"A","ts":true,"price":1,"size":1})",
        R"({"timestamp":"yesterday","open":1,"high":1,"low":1,"close":1,"volume":1})",
        R"({"timestamp":1748547480,"open":1,"high":1,"low":1,"close":1,"volume":1})",
    };
    for (const std::string& s : bad) {
        INFO("payload: " << s);
        const decoded d = decode(s, "A");
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::bad_ts);
    }
    CHECK(decode(R"({"symbol":"A","ts":1,"price":1,"size":1})").r.ok); // 1 ns after the epoch is fine
}

TEST_CASE("a price that is not a finite positive number below the limit is dead-lettered as bad_price", "[parse]") {
    const std::vector<std::string> bad = {
        R"({"symbol":"A","ts":1,"price":0,"size":1})",
        R"({"symbol":"A","ts":1,"price":-1.5,"size":1})",
        R"({"symbol":"A","ts":1,"price":1e16,"size":1})",     // above k_max_price = 1e15
        R"({"symbol":"A","ts":1,"price":"189.53","size":1})", // a string
        R"({"symbol":"A","ts":1,"price":1e999,"size":1})",    // valid JSON, not representable
        R"({"symbol":"A","ts":1,"price":null,"size":1})",
        R"({"symbol":"A","ts":1,"open":10,"high":9,"low":11,"close":10,"volume":1})", // low > high
        R"({"symbol":"A","ts":1,"open":13,"high":12,"low":9,"close":10,"volume":1})", // open above high
        R"({"symbol":"A","ts":1,"open":10,"high":12,"low":9,"close":8,"volume":1})",  // close below low
        R"({"symbol":"A","ts":1,"open":0,"high":12,"low":9,"close":10,"volume":1})",
        R"({"symbol":"A","ts":1,"open":10,"high":12,"low":"9","close":10,"volume":1})",
    };
    for (const std::string& s : bad) {
        INFO("payload: " << s);
        const decoded d = decode(s);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::bad_price);
    }
    // Just below the limit is still a price.
    CHECK(decode(R"({"symbol":"A","ts":1,"price":9.99e14,"size":1})").r.ok);
}

TEST_CASE("a negative or non-numeric size is dead-lettered as bad_size, and size 0 is accepted", "[parse]") {
    const std::vector<std::string> bad = {
        R"({"symbol":"A","ts":1,"price":1,"size":-1})",
        R"({"symbol":"A","ts":1,"price":1,"size":"100"})",
        R"({"symbol":"A","ts":1,"price":1,"size":1e16})",
        R"({"symbol":"A","ts":1,"open":1,"high":1,"low":1,"close":1,"volume":-5})",
        R"({"symbol":"A","ts":1,"open":1,"high":1,"low":1,"close":1,"volume":"5"})",
    };
    for (const std::string& s : bad) {
        INFO("payload: " << s);
        const decoded d = decode(s);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::bad_size);
    }
    const decoded zero = decode(R"({"symbol":"A","ts":1,"price":2.5,"size":0})");
    REQUIRE(zero.r.ok);
    CHECK(zero.t.volume == 0.0);
    CHECK(zero.t.pv == 0.0);
}

TEST_CASE("a bid or ask that is not a valid price is dead-lettered as bad_quote", "[parse]") {
    const std::vector<std::string> bad = {
        R"({"symbol":"A","ts":1,"price":1,"size":1,"bid":-1})",
        R"({"symbol":"A","ts":1,"price":1,"size":1,"bid":0})",
        R"({"symbol":"A","ts":1,"price":1,"size":1,"ask":"1.01"})",
    };
    for (const std::string& s : bad) {
        INFO("payload: " << s);
        const decoded d = decode(s);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::bad_quote);
    }
}

TEST_CASE("a null bid or ask means absent", "[parse]") {
    const decoded d = decode(R"({"symbol":"A","ts":1,"price":1.25,"size":3,"bid":null,"ask":null})");
    REQUIRE(d.r.ok);
    CHECK(std::isnan(d.t.bid));
    CHECK(std::isnan(d.t.ask));
    const decoded one = decode(R"({"symbol":"A","ts":1,"price":1.25,"size":3,"bid":null,"ask":1.26})");
    REQUIRE(one.r.ok);
    CHECK(std::isnan(one.t.bid));
    CHECK(one.t.ask == 1.26);
}

TEST_CASE("an empty symbol or one longer than 15 bytes is dead-lettered as bad_symbol", "[parse]") {
    const std::vector<std::pair<std::string, std::string>> bad = {
        {R"({"symbol":"","ts":1,"price":1,"size":1})", ""},
        {R"({"symbol":"ABCDEFGHIJKLMNOP","ts":1,"price":1,"size":1})", ""}, // 16 bytes
        {R"({"symbol":42,"ts":1,"price":1,"size":1})", ""},
        {R"({"ts":1,"open":1,"high":1,"low":1,"close":1,"volume":1})", "ABCDEFGHIJKLMNOP"}, // from a 16-byte key
    };
    for (const auto& [payload, key] : bad) {
        INFO("payload: " << payload << " key: " << key);
        const decoded d = decode(payload, key);
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::bad_symbol);
    }
    const decoded max = decode(R"({"symbol":"ABCDEFGHIJKLMNO","ts":1,"price":1,"size":1})"); // 15 bytes
    REQUIRE(max.r.ok);
    CHECK(max.t.sym.view() == "ABCDEFGHIJKLMNO");
}

TEST_CASE("a ts further ahead of the wall clock than max_future_skew is dead-lettered as future_ts", "[parse]") {
    collector c;
    SECTION("checked once a timer has set the wall clock") {
        parse_options o;
        o.max_future_skew_ns = 5'000'000'000;
        parse_stage p(o);
        // Before any timer there is no clock: a far-future ts passes.
        CHECK(decode(p, R"({"symbol":"A","ts":9000000000000000000,"price":1,"size":1})").r.ok);
        p.on_timer(k_t0, c);
        CHECK(p.now() == k_t0);
        // now + 5 s = 1732800005000000000 is allowed; 1 ns more is not.
        CHECK(decode(p, R"({"symbol":"A","ts":1732800005000000000,"price":1,"size":1})").r.ok);
        const decoded d = decode(p, R"({"symbol":"A","ts":1732800005000000001,"price":1,"size":1})");
        CHECK_FALSE(d.r.ok);
        CHECK(d.r.reason == dead_letter_reason::future_ts);
        // The past is always fine.
        CHECK(decode(p, R"({"symbol":"A","ts":1000,"price":1,"size":1})").r.ok);
    }
    SECTION("max_future_skew_ns = 0 disables the check") {
        parse_options o;
        o.max_future_skew_ns = 0;
        parse_stage p(o);
        p.on_timer(k_t0, c);
        CHECK(decode(p, R"({"symbol":"A","ts":9000000000000000000,"price":1,"size":1})").r.ok);
    }
}

TEST_CASE("unknown fields are ignored", "[parse]") {
    const decoded d = decode(
        R"({"exchange":"XNAS","symbol":"AAPL","conditions":["@","T"],"ts":1732800000123456789,"meta":{"a":{"b":[1,2,{"c":null}]}},)"
        R"("price":189.53,"id":12345678901234567890,"size":100,"flag":true,"note":"x"})");
    REQUIRE(d.r.ok);
    CHECK(d.t.sym.view() == "AAPL");
    CHECK(d.t.ts == 1'732'800'000'123'456'789);
    CHECK(d.t.close == 189.53);
    CHECK(d.t.volume == 100.0);
}

TEST_CASE("on_message routes ticks and dead letters and counts each reason", "[parse]") {
    parse_stage p(parse_options{});
    collector c;
    const std::vector<padded_message> msgs = {
        padded_message(R"({"symbol":"A","ts":1,"price":1,"size":1})", "A", origin{0, 10, 0}),
        padded_message("garbage", "A", origin{0, 11, 0}),
        padded_message(R"({"symbol":"A","ts":2,"price":0,"size":1})", "A", origin{1, 12, 0}),
        padded_message(R"({"symbol":"A"})", "A", origin{0, 13, 0}),
        padded_message(R"({"symbol":"A","ts":3,"price":-2,"size":1})", "A", origin{0, 14, 0}),
        padded_message(R"({"symbol":"B","ts":4,"price":2,"size":3})", "B", origin{2, 15, 0}),
        padded_message(R"({"symbol":"B","ts":5,"price":2,"size":-3})", "B", origin{2, 16, 0}),
        padded_message("{", "", origin{0, 17, 0}),
    };
    for (const auto& m : msgs) p.on_message(m.raw(), c);

    CHECK(p.parsed() == 2);
    CHECK(p.dead(dead_letter_reason::not_json) == 2);
    CHECK(p.dead(dead_letter_reason::bad_price) == 2);
    CHECK(p.dead(dead_letter_reason::missing_field) == 1); // {"symbol":"A"}: no ts
    CHECK(p.dead(dead_letter_reason::bad_size) == 1);
    for (auto r : {dead_letter_reason::bad_quote, dead_letter_reason::bad_symbol, dead_letter_reason::bad_ts,
                   dead_letter_reason::future_ts, dead_letter_reason::late})
        CHECK(p.dead(r) == 0);

    REQUIRE(c.ticks.size() == 2);
    CHECK(c.ticks[0].sym.view() == "A");
    CHECK(c.ticks[0].src.offset == 10);
    CHECK(c.ticks[1].sym.view() == "B");
    CHECK(c.ticks[1].src.partition == 2);
    CHECK(c.ticks[1].src.offset == 15);

    REQUIRE(c.dead_letters.size() == 6);
    CHECK(c.dead_letters[0].reason == dead_letter_reason::not_json);
    CHECK(c.dead_letters[0].payload == "garbage");
    CHECK(c.dead_letters[0].key == "A");
    CHECK(c.dead_letters[0].src.offset == 11);
    CHECK(c.dead_letters[1].reason == dead_letter_reason::bad_price);
    CHECK(c.dead_letters[1].payload == R"({"symbol":"A","ts":2,"price":0,"size":1})");
    CHECK(c.dead_letters[1].src.partition == 1);
    CHECK(c.dead_letters[2].reason == dead_letter_reason::missing_field);
    CHECK(c.dead_letters[2].detail == "ts");
    CHECK(c.dead_letters[3].reason == dead_letter_reason::bad_price);
    CHECK(c.dead_letters[4].reason == dead_letter_reason::bad_size);
    CHECK(c.dead_letters[4].key == "B");
    CHECK(c.dead_letters[5].reason == dead_letter_reason::not_json);
    CHECK(c.dead_letters[5].payload == "{");
    CHECK(c.dead_letters[5].key.empty());
}

TEST_CASE("parse_timestamp_text reads offsets, Z, fractions and offset-free UTC, and rejects garbage", "[parse]") {
    struct row {
        std::string text;
        timestamp_ns expect;
    };
    // 2025-05-29 19:38:00 UTC = 1 748 547 480 s (see k_may29_1938).
    // 2024-02-29 12:00:00+05:30 = 06:30 UTC: 19723 days to 2024-01-01 + 59 = 19782 days = 1 709 164 800 s,
    // + 23 400 s = 1 709 188 200 s.
    const std::vector<row> good = {
        {"2025-05-29 15:38:00-04:00", k_may29_1938},
        {"2025-05-29T19:38:00Z", k_may29_1938},
        {"2025-05-29T19:38:00z", k_may29_1938},
        {"2025-05-29 19:38:00", k_may29_1938}, // no offset: UTC
        {"2025-05-29 19:38:00+00:00", k_may29_1938},
        {"2025-05-30 01:08:00+0530", k_may29_1938},               // ±HHMM, and across midnight
        {"2025-05-29T19:38:00.250Z", k_may29_1938 + 250'000'000}, // fraction: .25 s
        {"2025-05-29T19:38:00.5", k_may29_1938 + 500'000'000},
        {"2025-05-29 15:38:00.123456789-04:00", k_may29_1938 + 123'456'789},
        {"2025-05-29 19:38:00.1234567891Z", k_may29_1938 + 123'456'789}, // beyond ns: truncated
        {"1970-01-01 00:00:00Z", 0},
        {"1970-01-01T00:00:01Z", 1'000'000'000},
        {"2024-02-29 12:00:00+05:30", 1'709'188'200'000'000'000},
    };
    for (const row& r : good) {
        INFO("text: " << r.text);
        timestamp_ns out = 0;
        REQUIRE(parse_timestamp_text(r.text, out));
        CHECK(out == r.expect);
    }
    const std::vector<std::string> bad = {
        "",
        "garbage",
        "2025-05-29",
        "2025-05-29 19:38",
        "2025/05/29 19:38:00",
        "2025-05-29 19:38:00 ",
        "2025-05-29 19:38:00.Z",
        "2025-05-29 19:38:00+4",
        "2025-05-29 19:38:00+04:0",
        "2025-05-29 19:38:00Q",
        "2025-13-01 00:00:00",
        "2025-05-32 00:00:00",
        "2025-05-29 24:00:00",
        "2025-05-29 19:60:00",
        "2025-05-29x19:38:00",
        "2025-02-29 00:00:00", // 2025 is not a leap year
        "2025-04-31 00:00:00",
        "2025-05-29 19:38:60", // leap seconds are not in Unix time
    };
    for (const std::string& s : bad) {
        INFO("text: " << s);
        timestamp_ns out = 0;
        CHECK_FALSE(parse_timestamp_text(s, out));
    }
    // 2024 is a leap year: 2024-02-29 is 19782 days after the epoch (19723 to 2024-01-01 + 31 + 28).
    timestamp_ns leap = 0;
    CHECK(parse_timestamp_text("2024-02-29 00:00:00Z", leap));
    CHECK(leap == 19782LL * 86400 * 1'000'000'000);
}
