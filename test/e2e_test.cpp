// End-to-end: the tapewire binary itself, run on files the test writes, its NDJSON output checked
// against computations made here, independently of the operators.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output_bar.hpp"

namespace {

struct run_result {
    int exit_code = -1;
    std::string stderr_text;
};

// Runs the binary with `args`, capturing stderr into a file beside the outputs.
run_result run_tapewire(const std::string& args, const std::string& tag) {
    const std::string err_file = tag + ".stderr";
    // Any free port for the HTTP server, as test/child_process.hpp's with_test_http() does.
    const bool serves = args.rfind("run", 0) == 0 || args.rfind("process", 0) == 0 || args.rfind("produce", 0) == 0;
    const std::string cmd =
        std::string(TAPEWIRE_BINARY) + " " + args + (serves ? " --set http.listen=127.0.0.1:0" : "") + " 2>" + err_file;
    const int status = std::system(cmd.c_str());
    run_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::stringstream ss;
    ss << in.rdbuf();
    r.stderr_text = ss.str();
    return r;
}

std::vector<std::string> read_lines(const std::string& path) {
    std::vector<std::string> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

using tapewire::test::out_bar;

struct out_alert {
    std::string symbol;
    std::int64_t ts = 0;
    std::string kind;
};

struct output {
    std::vector<out_bar> bars;
    std::vector<out_alert> alerts;
    std::map<std::string, int> dead_letters; // by reason
};

output read_output(const std::string& path) {
    output out;
    simdjson::dom::parser parser;
    for (const std::string& line : read_lines(path)) {
        simdjson::dom::element e = parser.parse(line);
        const std::string_view type = e["type"].get_string();
        if (type == "bar") {
            out.bars.push_back(tapewire::test::bar_from(e));
        } else if (type == "alert") {
            out.alerts.push_back({std::string(std::string_view(e["symbol"].get_string())), e["ts"].get_int64(),
                                  std::string(std::string_view(e["kind"].get_string()))});
        } else if (type == "dead_letter") {
            ++out.dead_letters[std::string(std::string_view(e["reason"].get_string()))];
        }
    }
    return out;
}

// A small deterministic generator, independent of the synthetic source under test.
struct lcg {
    std::uint64_t s;
    std::uint64_t next() { return s = s * 6364136223846793005ULL + 1442695040888963407ULL; }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

struct test_tick {
    std::string symbol;
    std::int64_t ts;
    double price, size;
};

} // namespace

TEST_CASE("a replayed tick file gives bars equal to an independent computation", "[e2e][replay]") {
    const std::int64_t W = 1'000'000'000;              // window width
    const std::int64_t t0 = 1'717'000'000'000'000'000; // 2024-05-29, a fixed past instant
    const std::vector<std::string> symbols{"AAPL", "MSFT", "GOOG", "BRK.B", "TSLA", "NVDA", "X"};
    lcg rng{7};
    std::vector<test_tick> ticks;
    std::map<std::string, double> price;
    for (const auto& s : symbols) price[s] = 50 + 400 * rng.unit();
    std::int64_t ts = t0;
    for (int i = 0; i < 60'000; ++i) {
        ts += static_cast<std::int64_t>(rng.unit() * 2'000'000); // ~1 ms apart: ~60 s of data
        const std::string& s = symbols[rng.next() % symbols.size()];
        price[s] *= std::exp((rng.unit() - 0.5) * 0.002);
        const double size = static_cast<double>(1 + rng.next() % 500);
        // Every 50th tick repeats the previous timestamp (a tie); every 97th is shifted 50 ms into
        // the past (out of order, but within the 200 ms lateness).
        std::int64_t t = ts;
        if (i % 50 == 0 && !ticks.empty()) t = ticks.back().ts;
        if (i % 97 == 0) t -= 50'000'000;
        ticks.push_back({s, t, std::round(price[s] * 100) / 100, size});
    }
    {
        std::ofstream f("replay_e2e_ticks.ndjson");
        f.precision(17);
        for (const auto& t : ticks)
            f << "{\"symbol\":\"" << t.symbol << "\",\"ts\":" << t.ts << ",\"price\":" << t.price
              << ",\"size\":" << t.size << "}\n";
        f << "this line is not json\n";
    }

    // The expectation, computed from the list in arrival order.
    std::map<std::pair<std::string, std::int64_t>, tapewire::test::expected_bar> expected;
    for (const auto& t : ticks) expected[{t.symbol, (t.ts / W) * W}].add_trade(t.ts, t.price, t.size);

    for (const char* threads : {"1", "2"}) {
        INFO("pipeline.threads = " << threads);
        const std::string out = std::string("replay_e2e_out_") + threads + ".ndjson";
        const run_result r = run_tapewire(
            std::string("run --set source.kind=replay --set source.path=replay_e2e_ticks.ndjson --set sink.path=") +
                out + " --set pipeline.threads=" + threads +
                " --set window.width=1s --set window.allowed_lateness=200ms",
            out);
        INFO(r.stderr_text);
        REQUIRE(r.exit_code == 0);
        const output o = read_output(out);
        CHECK(o.dead_letters.at("not_json") == 1);
        CHECK(o.dead_letters.count("late") == 0);
        REQUIRE(o.bars.size() == expected.size());
        for (const out_bar& b : o.bars) {
            const auto it = expected.find({b.symbol, b.start});
            REQUIRE(it != expected.end());
            tapewire::test::check_bar(b, it->second, b.start + W);
        }
    }
}

TEST_CASE("a replay of one file per symbol, each a day of ticks, gives bars equal to an independent computation "
          "with zero late dead letters",
          "[e2e][replay][event-time]") {
    // The usual shape of downloaded history: AAA's whole day, then BBB's, ... With one clock per
    // partition every file after the first would be late; window.watermark = auto gives each symbol
    // its own for a replay.
    const std::int64_t W = 60'000'000'000;             // 1-minute bars
    const std::int64_t t0 = 1'717'000'000'000'000'000; // 2024-05-29, a fixed past instant
    const std::int64_t day = (6 * 3600 + 1800) * 1'000'000'000LL;
    const std::vector<std::string> symbols{"AAA", "BBB", "CCC", "DDD"};
    lcg rng{11};
    std::map<std::pair<std::string, std::int64_t>, tapewire::test::expected_bar> expected;
    std::string paths;
    std::size_t n_ticks = 0;
    for (const std::string& sym : symbols) {
        const std::string path = "per_symbol_" + sym + ".ndjson";
        paths += (paths.empty() ? "" : ",") + ("\"" + path + "\"");
        std::ofstream f(path);
        f.precision(17);
        double price = 20 + 300 * rng.unit();
        std::int64_t ts = t0, prev = t0;
        for (int i = 0; ts < t0 + day; ++i) {
            ts += 1'000'000 * static_cast<std::int64_t>(200 + rng.next() % 3'600); // 0.2-3.8 s apart
            std::int64_t t = ts;
            if (i % 40 == 0) t = prev;         // a tie with the tick before
            if (i % 53 == 0) t -= 150'000'000; // out of order, within the 200 ms lateness
            price *= std::exp((rng.unit() - 0.5) * 0.002);
            const double p = std::round(price * 100) / 100;
            const double size = static_cast<double>(1 + rng.next() % 900);
            f << "{\"symbol\":\"" << sym << "\",\"ts\":" << t << ",\"price\":" << p << ",\"size\":" << size << "}\n";
            prev = t;
            ++n_ticks;
            expected[{sym, (t / W) * W}].add_trade(t, p, size);
        }
    }
    REQUIRE(n_ticks > 40'000);

    for (const char* brokers : {"", "embedded"}) {
        INFO("kafka.brokers = \"" << brokers << "\"");
        const std::string out = std::string("per_symbol_out_") + (*brokers != 0 ? "kafka" : "direct") + ".ndjson";
        const run_result r = run_tapewire("run --set source.kind=replay --set 'source.path=[" + paths +
                                              "]' --set sink.path=" + out + " --set kafka.brokers=" + brokers +
                                              " --set window.width=1m --set window.allowed_lateness=200ms",
                                          out);
        INFO(r.stderr_text);
        REQUIRE(r.exit_code == 0);
        CHECK(r.stderr_text.find("event time per symbol") != std::string::npos);
        const output o = read_output(out);
        CHECK(o.dead_letters.count("late") == 0);
        CHECK(o.dead_letters.empty());
        REQUIRE(o.bars.size() == expected.size());
        for (const out_bar& b : o.bars) {
            const auto it = expected.find({b.symbol, b.start});
            REQUIRE(it != expected.end());
            CHECK(b.revision == 0);
            tapewire::test::check_bar(b, it->second, b.start + W);
        }
    }
}

TEST_CASE("the detector finds injected price jumps and volume bursts with few false alerts", "[e2e][anomaly]") {
    // 20 symbols, 1 000 trades/s each in event time, 6 minutes: the first minute is warm-up (no
    // injections), then a jump and a burst every ~20 s per symbol. Default detector thresholds.
    const std::int64_t W = 1'000'000'000;
    const run_result r =
        run_tapewire("run --ticks 7200000 --set source.kind=synthetic --set source.symbol_count=20 --set source.rate=0"
                     " --set source.event_rate=20000 --set source.seed=11 --set source.start=2026-01-05T14:30:00Z"
                     " --set source.anomalies.enabled=true --set source.anomalies.labels=anomaly_labels.ndjson"
                     " --set sink.path=anomaly_out.ndjson --set sink.bars=false",
                     "anomaly_out");
    INFO(r.stderr_text);
    REQUIRE(r.exit_code == 0);

    struct label {
        std::string symbol;
        std::int64_t ts;
        std::string kind;
        bool found = false;
    };
    std::vector<label> labels;
    simdjson::dom::parser parser;
    for (const std::string& line : read_lines("anomaly_labels.ndjson")) {
        simdjson::dom::element e = parser.parse(line);
        labels.push_back({std::string(std::string_view(e["symbol"].get_string())), e["ts"].get_int64(),
                          std::string(std::string_view(e["kind"].get_string()))});
    }
    const output o = read_output("anomaly_out.ndjson");
    REQUIRE(labels.size() > 200);

    // An alert explains a label when it is about the same symbol, near it in time, and of a kind
    // that event causes: a jump moves the price (price_jump, return_z, vwap_dev); a burst, volume.
    auto explains = [&](const out_alert& a, const label& l) {
        if (a.symbol != l.symbol) return false;
        if (l.kind == "price_jump")
            return (a.kind == "price_jump" || a.kind == "return_z" || a.kind == "vwap_dev") && a.ts >= l.ts - W &&
                   a.ts <= l.ts + 2 * W;
        return a.kind == "volume_spike" && a.ts >= l.ts - W && a.ts <= l.ts + 2 * W;
    };
    std::size_t false_alerts = 0;
    for (const out_alert& a : o.alerts) {
        bool matched = false;
        for (label& l : labels) {
            if (explains(a, l)) {
                l.found = true;
                matched = true;
            }
        }
        if (!matched) ++false_alerts;
    }
    const auto found =
        static_cast<std::size_t>(std::count_if(labels.begin(), labels.end(), [](const label& l) { return l.found; }));
    const double recall = static_cast<double>(found) / static_cast<double>(labels.size());
    const double false_rate =
        o.alerts.empty() ? 0.0 : static_cast<double>(false_alerts) / static_cast<double>(o.alerts.size());
    std::printf("anomaly detection: %zu labelled events, %zu found (recall %.2f %%); %zu alerts, %zu false (%.2f %%)\n",
                labels.size(), found, recall * 100, o.alerts.size(), false_alerts, false_rate * 100);
    CHECK(recall >= 0.95);
    CHECK(false_rate <= 0.05);
}

TEST_CASE("SIGINT stops a run cleanly with its open windows flushed", "[e2e][cli]") {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const std::string bin = TAPEWIRE_BINARY;
        std::freopen("sigint.stderr", "w", stderr);
        execl(bin.c_str(), bin.c_str(), "run", "--set", "http.listen=127.0.0.1:0", "--set",
              "sink.path=sigint_out.ndjson", "--set", "source.rate=50000", "--set", "source.symbol_count=10",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const output o = read_output("sigint_out.ndjson");
    // ~2 s of 10 symbols with 1 s windows: the flush emits the last, still open window of each.
    CHECK(o.bars.size() >= 10);
    std::map<std::string, std::int64_t> last;
    for (const auto& b : o.bars) last[b.symbol] = std::max(last[b.symbol], b.start);
    CHECK(last.size() == 10);
}

TEST_CASE("a bad config stops the run before it starts, naming file, line and key", "[e2e][cli][config]") {
    {
        std::ofstream f("bad_e2e.toml");
        f << "[window]\nwidth = \"1s\"\nwidht = \"2s\"\n";
    }
    const run_result r = run_tapewire("run --config bad_e2e.toml", "bad_e2e");
    CHECK(r.exit_code == 2);
    CHECK(r.stderr_text.find("bad_e2e.toml:3") != std::string::npos);
    CHECK(r.stderr_text.find("window.widht") != std::string::npos);

    const run_result v = run_tapewire("version", "version_e2e");
    CHECK(v.exit_code == 0);
}

TEST_CASE("a three-width replay's 1 s, 1 m and 5 m bars equal an independent computation", "[e2e][replay][widths]") {
    const std::int64_t s = 1'000'000'000;
    const std::vector<std::int64_t> widths{s, 60 * s, 300 * s};
    const std::int64_t t0 = 1'717'000'200'000'000'000; // a whole 5 minutes
    const std::vector<std::string> symbols{"AAA", "BBB", "CCC", "DDD", "EEE"};
    lcg rng{23};
    std::map<std::string, double> price;
    for (const auto& sym : symbols) price[sym] = 20 + 300 * rng.unit();
    std::map<std::tuple<std::string, std::int64_t, std::int64_t>, tapewire::test::expected_bar> expected;
    {
        std::ofstream f("widths_e2e_ticks.ndjson");
        f.precision(17);
        std::int64_t ts = t0, prev = t0;
        for (int i = 0; ts < t0 + 25 * 60 * s; ++i) {
            ts += static_cast<std::int64_t>(rng.unit() * 40'000'000); // ~20 ms apart: 25 min of ticks
            const std::string& sym = symbols[rng.next() % symbols.size()];
            std::int64_t t = ts;
            if (i % 45 == 0) t = prev;         // a tie
            if (i % 89 == 0) t -= 100'000'000; // out of order, within the 200 ms lateness
            price[sym] *= std::exp((rng.unit() - 0.5) * 0.002);
            const double p = std::round(price[sym] * 100) / 100;
            const double size = static_cast<double>(1 + rng.next() % 400);
            f << "{\"symbol\":\"" << sym << "\",\"ts\":" << t << ",\"price\":" << p << ",\"size\":" << size << "}\n";
            prev = t;
            for (std::int64_t w : widths) expected[{sym, w, (t / w) * w}].add_trade(t, p, size);
        }
    }
    std::remove("widths_e2e.db");
    const run_result r = run_tapewire("run --set source.kind=replay --set source.path=widths_e2e_ticks.ndjson "
                                      "--set sink.path=widths_e2e_out.ndjson --set window.widths=1s,1m,5m "
                                      "--set window.allowed_lateness=200ms --set 'sink.kind=[\"ndjson\",\"odbc\"]' "
                                      "--set 'sink.connection=Driver=SQLite3;Database=widths_e2e.db'",
                                      "widths_e2e_out");
    INFO(r.stderr_text);
    REQUIRE(r.exit_code == 0);
    const output o = read_output("widths_e2e_out.ndjson");
    CHECK(o.dead_letters.empty());
    std::map<std::int64_t, std::size_t> per_width;
    for (const out_bar& b : o.bars) {
        INFO(b.symbol << " width " << b.width / s << " s at " << (b.start - t0) / s << " s");
        CHECK(b.revision == 0);
        ++per_width[b.width];
        const auto it = expected.find({b.symbol, b.width, b.start});
        REQUIRE(it != expected.end());
        tapewire::test::check_bar(b, it->second, b.start + b.width);
    }
    CHECK(o.bars.size() == expected.size());
    // Every symbol has 25 minutes (5 five-minute windows), and the tick that ended the loop may open one more.
    CHECK(per_width[60 * s] >= 25 * symbols.size());
    CHECK(per_width[60 * s] <= 26 * symbols.size());
    CHECK(per_width[300 * s] >= 5 * symbols.size());
    CHECK(per_width[300 * s] <= 6 * symbols.size());

    // The bars table holds the same rows per width (read with the sqlite3 client, not tapewire's code).
    REQUIRE(std::system("sqlite3 -batch widths_e2e.db 'SELECT width_ns, COUNT(*), SUM(volume) FROM bars GROUP BY "
                        "width_ns ORDER BY width_ns' > widths_e2e_db.txt") == 0);
    const std::vector<std::string> rows = read_lines("widths_e2e_db.txt");
    REQUIRE(rows.size() == 3);
    double total_volume = 0;
    for (const auto& [key, b] : expected)
        if (std::get<1>(key) == s) total_volume += b.volume;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        INFO(rows[i]);
        const std::int64_t w = widths[i];
        std::ostringstream want;
        want.precision(17);
        want << w << "|" << per_width[w] << "|";
        CHECK(rows[i].rfind(want.str(), 0) == 0);
        CHECK(std::stod(rows[i].substr(rows[i].rfind('|') + 1)) == total_volume); // every width sums to the same
    }
}

TEST_CASE("a paced replay with emit_updates=250ms writes updates for changing symbols only and the same final bars "
          "as without",
          "[e2e][replay][live]") {
    const std::int64_t ms = 1'000'000;
    const std::int64_t t0 = 1'717'000'200'000'000'000; // a whole minute: every tick in one 1-minute window
    // AAA trades every 20 ms for 3 s; BBB for the first second only.
    std::int64_t last_bbb = 0;
    {
        std::ofstream f("live_e2e_ticks.ndjson");
        for (int i = 0; i < 150; ++i) {
            const std::int64_t ts = t0 + i * 20 * ms;
            f << "{\"symbol\":\"AAA\",\"ts\":" << ts << ",\"price\":" << 100 + i % 7 << ",\"size\":" << 1 + i % 3
              << "}\n";
            if (ts < t0 + 1000 * ms) {
                f << "{\"symbol\":\"BBB\",\"ts\":" << ts << ",\"price\":" << 50 + i % 5 << ",\"size\":2}\n";
                last_bbb = ts;
            }
        }
    }
    REQUIRE(last_bbb == t0 + 980 * ms);
    // Without Kafka: the embedded broker's group join would hold the paced ticks back for seconds.
    const std::string common = "run --set source.kind=replay --set source.path=live_e2e_ticks.ndjson "
                               "--set window.width=1m --set kafka.brokers='' ";
    std::remove("live_e2e.db");
    const run_result live =
        run_tapewire(common + "--set source.speed=1 --set window.emit_updates=250ms --set sink.updates=true "
                              "--set sink.path=live_e2e_on.ndjson --set 'sink.kind=[\"ndjson\",\"odbc\"]' "
                              "--set 'sink.connection=Driver=SQLite3;Database=live_e2e.db'",
                     "live_e2e_on");
    INFO(live.stderr_text);
    REQUIRE(live.exit_code == 0);
    const run_result plain = run_tapewire(common + "--set sink.path=live_e2e_off.ndjson", "live_e2e_off");
    INFO(plain.stderr_text);
    REQUIRE(plain.exit_code == 0);

    std::vector<std::string> final_on, final_off;
    std::vector<std::pair<std::string, double>> updates; // symbol, volume so far, in the order written
    simdjson::dom::parser parser;
    for (const std::string& line : read_lines("live_e2e_on.ndjson")) {
        simdjson::dom::element e = parser.parse(line);
        const std::string_view type = e["type"].get_string();
        if (type == "bar") final_on.push_back(line);
        if (type != "bar_update") continue;
        CHECK_FALSE(e["final"].get_bool().value());
        const tapewire::test::out_bar b = tapewire::test::bar_from(e);
        CHECK(b.start == t0);
        updates.emplace_back(b.symbol, b.volume);
    }
    for (const std::string& line : read_lines("live_e2e_off.ndjson"))
        if (line.find("\"type\":\"bar\"") != std::string::npos) final_off.push_back(line);
    // The final bars, byte for byte as without updates (the SQL table holds them and no update).
    REQUIRE(final_off.size() == 2);
    CHECK(final_on == final_off);
    REQUIRE(std::system("sqlite3 -batch live_e2e.db 'SELECT COUNT(*) FROM bars' > live_e2e_db.txt") == 0);
    CHECK(read_lines("live_e2e_db.txt") == std::vector<std::string>{"2"});

    // AAA changed all along: about one update per 250 ms of its 3 s (12), never one per tick (150).
    // BBB: one per 250 ms of its first second, the last one its final volume, then none.
    std::size_t aaa = 0, bbb = 0, aaa_after_bbb = 0;
    double bbb_volume = 0, aaa_volume = 0;
    for (const auto& [sym, volume] : updates) {
        if (sym == "AAA") {
            CHECK(volume > aaa_volume); // an update only after a change
            aaa_volume = volume;
            ++aaa;
            ++aaa_after_bbb;
        } else {
            CHECK(volume > bbb_volume);
            bbb_volume = volume;
            ++bbb;
            aaa_after_bbb = 0;
        }
    }
    INFO(aaa << " AAA updates, " << bbb << " BBB updates, " << aaa_after_bbb << " AAA updates after BBB's last");
    CHECK(aaa >= 6);
    CHECK(aaa <= 30);
    CHECK(bbb >= 2);
    CHECK(bbb <= 8);
    CHECK(bbb_volume == 100.0); // 50 ticks of 2: its last update is its whole window
    CHECK(aaa_after_bbb >= 4);  // 2 s of AAA alone
    CHECK(live.stderr_text.find("bar updates") != std::string::npos);
}
