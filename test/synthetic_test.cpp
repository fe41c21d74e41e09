#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "src/sources/synthetic.hpp"

using namespace tapewire;
using namespace std::chrono_literals;

namespace {

constexpr timestamp_ns k_start = 1'732'800'000'000'000'000; // 2024-11-28T13:20:00Z

source_config small_market(std::uint64_t seed = 7) {
    source_config cfg;
    cfg.seed = seed;
    cfg.symbol_count = 10;
    cfg.event_rate = 10'000;
    return cfg;
}

bool same_tick(const tick& a, const tick& b) {
    return a.sym == b.sym && a.ts == b.ts && a.close == b.close && a.volume == b.volume && a.bid == b.bid &&
           a.ask == b.ask;
}

double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

} // namespace

TEST_CASE("The synthetic market repeats its ticks for the same seed and changes them for another", "[synthetic]") {
    synthetic_market a(small_market(42), k_start);
    synthetic_market b(small_market(42), k_start);
    synthetic_market c(small_market(43), k_start);
    std::size_t differ = 0;
    tick ta, tb, tc;
    for (int i = 0; i < 10'000; ++i) {
        a.next(ta);
        b.next(tb);
        c.next(tc);
        REQUIRE(same_tick(ta, tb));
        if (!same_tick(ta, tc)) ++differ;
    }
    CHECK(differ > 9'000);
    CHECK(a.generated() == 10'000);
}

TEST_CASE("Synthetic ticks start at the given time, never go back, and carry sane prices and sizes", "[synthetic]") {
    source_config cfg = small_market();
    cfg.symbol_count = 100;
    cfg.event_rate = 100'000;
    synthetic_market m(cfg, k_start);
    tick t;
    m.next(t);
    CHECK(t.ts == k_start);
    timestamp_ns prev = t.ts;
    for (int i = 0; i < 200'000; ++i) {
        m.next(t);
        REQUIRE(t.ts >= prev);
        prev = t.ts;
        REQUIRE(std::isfinite(t.close));
        REQUIRE(t.close > 0);
        REQUIRE(t.volume >= 1);
        REQUIRE(t.volume == std::floor(t.volume));
        REQUIRE(t.bid <= t.close);
        REQUIRE(t.close <= t.ask);
        REQUIRE((t.close == t.bid || t.close == t.ask));
        REQUIRE(t.pv == t.close * t.volume);
        REQUIRE_FALSE(t.is_bar);
    }
}

TEST_CASE("The synthetic tick rate in event time matches the configured rate within 5 %", "[synthetic]") {
    for (double rate : {1'000.0, 100'000.0, 2'000'000.0}) {
        source_config cfg = small_market();
        cfg.event_rate = rate;
        synthetic_market m(cfg, k_start);
        tick t;
        const int n = 200'000;
        for (int i = 0; i < n; ++i) m.next(t);
        const double seconds = static_cast<double>(t.ts - k_start) * 1e-9;
        const double measured = (n - 1) / seconds;
        INFO("rate " << rate << " measured " << measured);
        CHECK(std::abs(measured / rate - 1) < 0.05);
    }
}

TEST_CASE("The event rate falls back to the wall-clock rate, then to 100 000 per second", "[synthetic]") {
    source_config cfg = small_market();
    cfg.event_rate = 0;
    cfg.rate = 20'000;
    CHECK(synthetic_market(cfg, k_start).event_rate() == 20'000);
    cfg.rate = 0;
    CHECK(synthetic_market(cfg, k_start).event_rate() == 100'000);
}

TEST_CASE("Without injection consecutive trades of a symbol almost never move 1 % or more", "[synthetic]") {
    // Dense (each symbol trades every ms) and sparse (every half second) markets.
    for (double rate : {100'000.0, 200.0}) {
        source_config cfg;
        cfg.seed = 3;
        cfg.symbol_count = 100;
        cfg.event_rate = rate;
        synthetic_market m(cfg, k_start);
        std::vector<double> last(100, 0);
        std::size_t moves = 0, big = 0;
        double largest = 0;
        tick t;
        for (int i = 0; i < 200'000; ++i) {
            m.next(t);
            const std::size_t s = static_cast<std::size_t>(std::stoi(std::string(t.sym.view().substr(3))));
            if (last[s] > 0) {
                const double r = std::abs(std::log(t.close / last[s]));
                ++moves;
                if (r >= 0.01) ++big;
                largest = std::max(largest, r);
            }
            last[s] = t.close;
        }
        INFO("rate " << rate << " largest move " << largest);
        CHECK(static_cast<double>(big) <= 1e-4 * static_cast<double>(moves));
        CHECK(largest < 0.02); // the detector's default price_jump threshold
    }
}

TEST_CASE("Symbols are generated zero padded or taken from the list as given", "[synthetic]") {
    source_config cfg = small_market();
    cfg.symbol_count = 3;
    {
        synthetic_market m(cfg, k_start);
        REQUIRE(m.symbols().size() == 3);
        CHECK(m.symbols()[0].view() == "SYM0000");
        CHECK(m.symbols()[2].view() == "SYM0002");
    }
    cfg.symbol_count = 12'000;
    {
        synthetic_market m(cfg, k_start);
        CHECK(m.symbols()[0].view() == "SYM00000");
        CHECK(m.symbols()[11'999].view() == "SYM11999");
    }
    cfg.symbols = {"AAPL", "MSFT"};
    {
        synthetic_market m(cfg, k_start);
        REQUIRE(m.symbols().size() == 2);
        tick t;
        for (int i = 0; i < 100; ++i) {
            m.next(t);
            REQUIRE((t.sym.view() == "AAPL" || t.sym.view() == "MSFT"));
        }
    }
    cfg.symbols = {"AAPL", "AAPL"};
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
    cfg.symbols = {"A_SYMBOL_TOO_LONG"};
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
    cfg.symbols.clear();
    cfg.symbol_count = 0;
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
}

TEST_CASE("Out-of-range synthetic parameters are refused", "[synthetic]") {
    source_config cfg = small_market();
    cfg.volatility = -0.1;
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
    cfg = small_market();
    cfg.spread_bps = 10'000;
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
    cfg = small_market();
    cfg.size_alpha = 0;
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
    cfg = small_market();
    cfg.event_rate = std::nan("");
    CHECK_THROWS_AS(synthetic_market(cfg, k_start), std::invalid_argument);
}

TEST_CASE("A smaller size tail index gives heavier-tailed trade sizes", "[synthetic]") {
    const auto sizes = [](double alpha) {
        source_config cfg = small_market();
        cfg.size_alpha = alpha;
        synthetic_market m(cfg, k_start);
        std::vector<double> out(200'000);
        tick t;
        for (double& s : out) {
            m.next(t);
            s = t.volume;
        }
        return out;
    };
    const std::vector<double> heavy = sizes(1.5);
    const std::vector<double> light = sizes(3.0);
    CHECK(percentile(heavy, 0.999) > 3 * percentile(light, 0.999));
    CHECK(*std::min_element(heavy.begin(), heavy.end()) >= 1);

    // Floored Pareto: P(size >= 10) = 10^-alpha.
    const std::vector<double> mid = sizes(2.5);
    const double tail = static_cast<double>(std::count_if(mid.begin(), mid.end(), [](double s) { return s >= 10; })) /
                        static_cast<double>(mid.size());
    CHECK(tail == Approx(std::pow(10.0, -2.5)).epsilon(0.15));
}

TEST_CASE("Injected anomalies are labelled where they happen, after the warm-up and apart", "[synthetic]") {
    source_config cfg = small_market(11);
    cfg.anomalies.enabled = true;
    cfg.anomalies.jump_every = 5s;
    cfg.anomalies.burst_every = 5s;
    const double jump_size = cfg.anomalies.jump_size;
    const double factor = cfg.anomalies.burst_factor;
    const timestamp_ns burst_ns = std::chrono::nanoseconds(cfg.anomalies.burst_length).count();
    synthetic_market m(cfg, k_start);

    std::map<std::string, double> last_price;
    std::map<std::string, timestamp_ns> quiet_until; // end of the last event per symbol
    std::map<std::string, timestamp_ns> burst_until;
    double burst_volume = 0, normal_volume = 0;
    std::size_t burst_trades = 0, normal_trades = 0, jumps = 0, bursts = 0;
    std::vector<injected_event> events;
    tick t;
    while (t.ts < k_start + 300'000'000'000) { // five minutes of event time
        m.next(t);
        const std::string sym(t.sym.view());
        events.clear();
        m.take_injected(events);
        for (const injected_event& e : events) {
            // Injection happens on the trade being generated, so the label is this very tick.
            REQUIRE(e.sym == t.sym);
            REQUIRE(e.ts == t.ts);
            REQUIRE(e.ts >= k_start + 60'000'000'000);
            if (quiet_until.count(sym) != 0) REQUIRE(e.ts - quiet_until[sym] >= 3 * burst_ns);
            if (e.kind == "price_jump") {
                ++jumps;
                CHECK(e.magnitude == jump_size);
                REQUIRE(last_price.count(sym) == 1);
                const double r = std::abs(std::log(t.close / last_price[sym]));
                CHECK(r == Approx(jump_size).margin(0.001));
                quiet_until[sym] = e.ts;
            } else {
                REQUIRE(e.kind == "volume_spike");
                ++bursts;
                CHECK(e.magnitude == factor);
                burst_until[sym] = e.ts + burst_ns;
                quiet_until[sym] = e.ts + burst_ns;
            }
        }
        if (t.ts < burst_until[sym]) {
            burst_volume += t.volume;
            ++burst_trades;
        } else {
            normal_volume += t.volume;
            ++normal_trades;
        }
        last_price[sym] = t.close;
    }
    // 10 symbols, 240 s past the warm-up, one event per ~2.5 s + guard: dozens of each kind.
    CHECK(jumps > 50);
    CHECK(bursts > 50);
    const double ratio =
        (burst_volume / static_cast<double>(burst_trades)) / (normal_volume / static_cast<double>(normal_trades));
    CHECK(ratio == Approx(factor).epsilon(0.2));

    m.take_injected(events);
    events.clear();
    m.take_injected(events);
    CHECK(events.empty());
}

TEST_CASE("No anomalies are injected unless enabled", "[synthetic]") {
    synthetic_market m(small_market(), k_start);
    tick t;
    while (t.ts < k_start + 200'000'000'000) m.next(t);
    std::vector<injected_event> events;
    m.take_injected(events);
    CHECK(events.empty());
}

TEST_CASE("A label is written as one JSON object in the documented shape", "[synthetic]") {
    char storage[256];
    json_buffer out(storage, sizeof storage);
    write_label_json(out, injected_event{symbol::from("SYM0001"), 1'732'800'000'123'456'789, "price_jump", 0.04});
    CHECK(out.view() == R"({"symbol":"SYM0001","ts":1732800000123456789,"kind":"price_jump","magnitude":0.04})");
    out.clear();
    write_label_json(out, injected_event{symbol::from("AAPL"), 5, "volume_spike", 12});
    CHECK(out.view() == R"({"symbol":"AAPL","ts":5,"kind":"volume_spike","magnitude":12})");
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
// glibc counts bytes in use, not calls, so this catches growth (a per-tick push, a leak), not an
// allocation freed within the same call; replacing operator new would, but for the whole binary.
TEST_CASE("Generating ticks does not grow the heap once warmed up", "[synthetic]") {
    source_config cfg = small_market();
    cfg.anomalies.enabled = true;
    cfg.anomalies.jump_every = 2s;
    synthetic_market m(cfg, k_start);
    std::vector<injected_event> events;
    events.reserve(100'000);
    tick t;
    for (int i = 0; i < 10'000; ++i) m.next(t);
    const std::size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 2'000'000; ++i) {
        m.next(t);
        if (i % 10'000 == 0) m.take_injected(events);
    }
    const std::size_t after = mallinfo2().uordblks;
    CHECK(after == before);
    CHECK_FALSE(events.empty());
}
#endif
