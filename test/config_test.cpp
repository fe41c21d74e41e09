// The configuration loader: every error must point at the file, line and key the user has to fix.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "src/base/connection_string.hpp"
#include "src/base/duration_text.hpp"
#include "src/config/load.hpp"
#include "src/runtime/options.hpp"

using namespace tapewire;
using namespace std::chrono_literals;

namespace Catch {
template <> struct StringMaker<sink_kinds> {
    static std::string convert(const sink_kinds& kinds) {
        std::string out = "{";
        for (const sink_kind k : kinds) out += (out.size() == 1 ? "" : ", ") + std::string(to_string(k));
        return out + "}";
    }
};
} // namespace Catch

namespace {

config_error error_of(const std::function<void()>& load) {
    try {
        load();
    } catch (const config_error& e) {
        return e;
    }
    FAIL("expected a config_error");
    throw std::logic_error("unreachable");
}

config_error text_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
    return error_of([&] { (void)load_config_text(text, "test.toml", overrides); });
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string k_conf_dir = std::string(TAPEWIRE_SOURCE_DIR) + "/conf";

} // namespace

TEST_CASE("an unknown key names the file, line and key", "[config]") {
    const auto e = text_error("[window]\nwidth = \"1s\"\nwidht = \"2s\"\n");
    CHECK(e.file == "test.toml");
    CHECK(e.line == 3);
    CHECK(e.key == "window.widht");
    CHECK(e.message == "unknown key (did you mean 'width'?)");
    CHECK(std::string(e.what()) == "test.toml:3: window.widht: unknown key (did you mean 'width'?)");
}

TEST_CASE("of several mistakes the first one in the file is reported", "[config]") {
    // Alphabetically [anomaly] and 'alpha' come first; in the file, [window] 'zeta' does.
    const auto e = text_error("[window]\nzeta = 1\nalpha = 2\n[anomaly]\nprice_jump = \"high\"\n");
    CHECK(e.line == 2);
    CHECK(e.key == "window.zeta");
}

TEST_CASE("a key outside every section is unknown", "[config]") {
    const auto e = text_error("# comment\nwidth = \"1s\"\n");
    CHECK(e.line == 2);
    CHECK(e.key == "width");
    CHECK_THAT(e.message, Catch::StartsWith("unknown key"));
}

TEST_CASE("an unknown section names the file, line and key", "[config]") {
    const auto e = text_error("[window]\nwidth = \"1s\"\n\n[windows]\nwidth = \"1s\"\n");
    CHECK(e.file == "test.toml");
    CHECK(e.line == 4);
    CHECK(e.key == "windows");
    CHECK_THAT(e.message, Catch::StartsWith("unknown section"));

    const auto nested = text_error("[source]\nkind = \"synthetic\"\n[source.anomaly]\nenabled = true\n");
    CHECK(nested.line == 3);
    CHECK(nested.key == "source.anomaly");
    CHECK(nested.message == "unknown section (did you mean 'anomalies'?)");
}

TEST_CASE("a value of the wrong type names the file, line and key", "[config]") {
    const auto e = text_error("[pipeline]\nbatch = 64\nthreads = \"two\"\n");
    CHECK(e.file == "test.toml");
    CHECK(e.line == 3);
    CHECK(e.key == "pipeline.threads");
    CHECK(e.message == "expected an integer, got a string");

    const auto element = text_error("[source]\nsymbols = [\n  \"A\",\n  7,\n]\n");
    CHECK(element.line == 4);
    CHECK(element.key == "source.symbols");

    const auto section = text_error("window = 5\n");
    CHECK(section.line == 1);
    CHECK(section.key == "window");
}

TEST_CASE("a bad duration names the file, line and key", "[config]") {
    const auto e = text_error("[window]\n\nallowed_lateness = \"1x\"\n");
    CHECK(e.file == "test.toml");
    CHECK(e.line == 3);
    CHECK(e.key == "window.allowed_lateness");
    CHECK_THAT(e.message, Catch::StartsWith("invalid duration \"1x\""));

    const auto bare = text_error("[window]\nwidth = 5\n");
    CHECK(bare.line == 2);
    CHECK(bare.key == "window.width");
}

TEST_CASE("a missing file names the file", "[config]") {
    const std::string path = "/nonexistent/tapewire.toml";
    const auto e = error_of([&] { (void)load_config_file(path); });
    CHECK(e.file == path);
    CHECK(e.line == 0);
    CHECK(e.key.empty());
    CHECK_THAT(e.message, Catch::StartsWith("cannot open"));
    CHECK_THAT(std::string(e.what()), Catch::StartsWith(path + ": cannot open"));

    const auto dir = error_of([] { (void)load_config_file("/tmp"); });
    CHECK(dir.file == "/tmp");
}

TEST_CASE("a TOML syntax error names the file and line", "[config]") {
    const auto e = text_error("[window]\nwidth = \"1s\"\nallowed_lateness = \n");
    CHECK(e.file == "test.toml");
    CHECK(e.line == 3);
    CHECK(e.key.empty());
    CHECK_FALSE(e.message.empty());
}

TEST_CASE("every invalid value is rejected at load with its key and line", "[config]") {
    struct bad_case {
        std::string text;
        std::string key;
        int line;
    };
    const std::vector<bad_case> cases{
        {"[source]\nrate = -1\n", "source.rate", 2},
        {"[source]\nkind = \"kafka\"\n", "source.kind", 2},
        {"[source]\nformat = \"json\"\n", "source.format", 2},
        {"[source]\nsymbols = [\"AAPL\", \"A_VERY_LONG_SYMBOL\"]\n", "source.symbols", 2},
        {"[source]\nsymbols = [\"\"]\n", "source.symbols", 2},
        {"[source]\nsymbols = [\"A\", \"A\"]\n", "source.symbols", 2},
        {"[source]\nsymbol_count = 0\n", "source.symbol_count", 2},
        {"[source]\nseed = -1\n", "source.seed", 2},
        {"[source]\nstart = \"yesterday\"\n", "source.start", 2},
        {"[source]\nstart = \"2024-02-30T00:00:00Z\"\n", "source.start", 2},
        {"[source]\nsize_alpha = 0\n", "source.size_alpha", 2},
        {"[source]\nsymbol = \"SIXTEEN_BYTES_XX\"\n", "source.symbol", 2},
        {"[source]\nkind = \"replay\"\n", "source.path", 2},
        {"[source]\nkind = \"replay\"\npath = \"a.ndjson\"\n[source.anomalies]\nenabled = true\n",
         "source.anomalies.enabled", 5},
        {"[source.anomalies]\njump_every = \"0\"\n", "source.anomalies.jump_every", 2},
        {"[window]\nwidth = \"0s\"\n", "window.width", 2},
        {"[window]\nwidth = \"-1s\"\n", "window.width", 2},
        {"[window]\nbar_memory = \"-1s\"\n", "window.bar_memory", 2},
        {"[window]\nlate_update_horizon = \"1d\"\nbar_memory = \"1d\"\n", "window.bar_memory", 3},
        {"[vwap]\nsession_start = \"9:30\"\n", "vwap.session_start", 2},
        {"[vwap]\nsession_start = \"24:00\"\n", "vwap.session_start", 2},
        {"[vwap]\nsession_tz = \"Mars/Olympus_Mons\"\n", "vwap.session_tz", 2},
        {"[vwap]\nrolling_windows = 0\n", "vwap.rolling_windows", 2},
        {"[anomaly]\newma_alpha = 1.5\n", "anomaly.ewma_alpha", 2},
        {"[anomaly]\nreturn_z = 0\n", "anomaly.return_z", 2},
        {"[pipeline]\nthreads = 3\n", "pipeline.threads", 2},
        {"[pipeline]\nthreads = 0\n", "pipeline.threads", 2},
        {"[pipeline]\nring_size = 0\n", "pipeline.ring_size", 2},
        {"[pipeline]\nring_size = 5000000000\n", "pipeline.ring_size", 2},
        {"[pipeline]\nbatch = 0\n", "pipeline.batch", 2},
        {"[pipeline]\nidle = \"busy\"\n", "pipeline.idle", 2},
        {"[pipeline]\ncpus = [0, -1]\n", "pipeline.cpus", 2},
        {"[pipeline]\ncpus = [0, 1.5]\n", "pipeline.cpus", 2},
        {"[sink]\nkind = \"csv\"\n", "sink.kind", 2},
        {"[sink]\nkind = []\n", "sink.kind", 2},
        {"[sink]\npath = \"\"\n", "sink.path", 2},
        {"[sink]\nbars = \"yes\"\n", "sink.bars", 2},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        const auto e = text_error(c.text);
        CHECK(e.file == "test.toml");
        CHECK(e.key == c.key);
        CHECK(e.line == c.line);
        CHECK_FALSE(e.message.empty());
    }
}

TEST_CASE("string and list values accept the forms the docs promise", "[config]") {
    const config c = load_config_text(R"(
[source]
kind = "replay"
path = "one.ndjson"
format = "bar"
symbol = "SPY"
start = "2024-07-01T09:30:00.5-04:00"

[window]
max_future_skew = 0

[pipeline]
idle = "spin"
cpus = [0, 1]

[sink]
kind = ["ndjson"]
)",
                                      "test.toml");
    CHECK(c.file == "test.toml");
    CHECK(c.source.kind == source_kind::replay);
    CHECK(c.source.path == std::vector<std::string>{"one.ndjson"});
    CHECK(c.source.format == message_format::bar);
    CHECK(c.source.symbol == "SPY");
    CHECK(c.window.max_future_skew == duration::zero());
    CHECK(c.pipeline.idle == idle_kind::busy_spin);
    CHECK(c.pipeline.cpus == std::vector<int>{0, 1});
    CHECK(c.sink.kind == sink_kinds{sink_kind::ndjson});
    CHECK(c.source.rate == 100'000); // untouched keys keep their defaults
}

TEST_CASE("each kind reads from the text users write, in the file and in --set", "[config]") {
    // replay needs a path and the yahoo kinds need symbols; the other kinds ignore both.
    const std::string needs = "path = \"a.ndjson\"\nsymbols = [\"AAPL\"]\n";
    const std::vector<std::pair<std::string, source_kind>> sources{{"synthetic", source_kind::synthetic},
                                                                   {"replay", source_kind::replay},
                                                                   {"yahoo-chart", source_kind::yahoo_chart},
                                                                   {"yahoo-stream", source_kind::yahoo_stream}};
    for (const auto& [text, kind] : sources) {
        INFO(text);
        CHECK(load_config_text("[source]\nkind = \"" + text + "\"\n" + needs, "test.toml").source.kind == kind);
        CHECK(load_config_text("[source]\n" + needs, "test.toml", {"source.kind=" + text}).source.kind == kind);
    }
    const std::vector<std::pair<std::string, message_format>> formats{{"tick", message_format::tick},
                                                                      {"bar", message_format::bar}};
    for (const auto& [text, format] : formats) {
        INFO(text);
        CHECK(load_config_text("[source]\nformat = \"" + text + "\"\n", "test.toml").source.format == format);
        CHECK(load_config_text("", "test.toml", {"source.format=" + text}).source.format == format);
    }
    const std::vector<std::pair<std::string, sink_kind>> sinks{
        {"ndjson", sink_kind::ndjson}, {"kafka", sink_kind::kafka}, {"odbc", sink_kind::odbc}};
    for (const auto& [text, kind] : sinks) {
        INFO(text);
        CHECK(load_config_text("[sink]\nkind = \"" + text + "\"\n", "test.toml").sink.kind == sink_kinds{kind});
        CHECK(load_config_text("[sink]\nkind = [\"" + text + "\"]\n", "test.toml").sink.kind == sink_kinds{kind});
        CHECK(load_config_text("", "test.toml", {"sink.kind=" + text}).sink.kind == sink_kinds{kind});
    }
}

TEST_CASE("a bad kind names the file, line and key and lists the words allowed", "[config]") {
    const auto source = text_error("[source]\n\nkind = \"kafka\"\n");
    CHECK(std::string(source.what()) ==
          "test.toml:3: source.kind: must be synthetic, replay, yahoo-chart or yahoo-stream, got \"kafka\"");

    const auto format = text_error("[source]\nformat = \"json\"\n");
    CHECK(std::string(format.what()) == "test.toml:2: source.format: must be tick or bar, got \"json\"");

    const auto idle = text_error("[pipeline]\nidle = \"busy\"\n");
    CHECK(std::string(idle.what()) == "test.toml:2: pipeline.idle: must be backoff, spin or sleep, got \"busy\"");

    const auto sink = text_error("[sink]\nkind = \"csv\"\n");
    CHECK(std::string(sink.what()) ==
          "test.toml:2: sink.kind: unknown sink kind \"csv\" (known: ndjson, kafka or odbc)");

    const auto overridden = text_error("", {"source.kind=yahoo"});
    CHECK(std::string(overridden.what()) ==
          "--set source.kind: must be synthetic, replay, yahoo-chart or yahoo-stream, got \"yahoo\"");

    const auto not_text = text_error("[sink]\nkind = 3\n");
    CHECK(not_text.key == "sink.kind");
    CHECK(not_text.message == "expected a string or an array of strings, got an integer");
}

TEST_CASE("several sinks form a set that lists each kind once", "[config]") {
    const config c = load_config_text("[sink]\nkind = [\"odbc\", \"ndjson\", \"kafka\"]\n", "test.toml");
    CHECK(c.sink.kind.size() == 3);
    CHECK(c.sink.kind == sink_kinds{sink_kind::ndjson, sink_kind::kafka, sink_kind::odbc});
    // Iteration, and so describe_config, follows sink_kind's order, not the order written.
    CHECK(std::vector<sink_kind>(c.sink.kind.begin(), c.sink.kind.end()) ==
          std::vector<sink_kind>{sink_kind::ndjson, sink_kind::kafka, sink_kind::odbc});
    CHECK(describe_config(c).find("\nkind = [\"ndjson\", \"kafka\", \"odbc\"]\n") != std::string::npos);

    const config two = load_config_text("", "test.toml", {R"(sink.kind=["odbc","ndjson"])"});
    CHECK(two.sink.kind.contains(sink_kind::odbc));
    CHECK(two.sink.kind.contains(sink_kind::ndjson));
    CHECK_FALSE(two.sink.kind.contains(sink_kind::kafka));

    // A kind listed twice is a mistake, reported at the line of the second mention.
    const auto twice = text_error("[sink]\nkind = [\n  \"ndjson\",\n  \"odbc\",\n  \"ndjson\",\n]\n");
    CHECK(twice.key == "sink.kind");
    CHECK(twice.line == 5);
    CHECK(twice.message == "sink kind \"ndjson\" is listed twice");

    const auto unknown = text_error("[sink]\nkind = [\n  \"ndjson\",\n  \"csv\",\n]\n");
    CHECK(unknown.line == 4);
    CHECK(unknown.message == "unknown sink kind \"csv\" (known: ndjson, kafka or odbc)");

    const auto none = text_error("[sink]\nkind = []\n");
    CHECK(none.line == 2);
    CHECK(none.message == "needs at least one sink kind");
}

TEST_CASE("every kind's name reads back to the same kind", "[config]") {
    // The names are what users write and what check-config, describe() and the summary print.
    CHECK(to_string(source_kind::synthetic) == "synthetic");
    CHECK(to_string(source_kind::replay) == "replay");
    CHECK(to_string(source_kind::yahoo_chart) == "yahoo-chart");
    CHECK(to_string(source_kind::yahoo_stream) == "yahoo-stream");
    CHECK(to_string(sink_kind::ndjson) == "ndjson");
    CHECK(to_string(sink_kind::kafka) == "kafka");
    CHECK(to_string(sink_kind::odbc) == "odbc");
    CHECK(to_string(message_format::tick) == "tick");
    CHECK(to_string(message_format::bar) == "bar");
    CHECK(to_string(idle_kind::busy_spin) == "spin");

    const auto round_trip = [](auto kind) {
        using kind_t = decltype(kind);
        INFO(to_string(kind));
        CHECK(kind_from_string<kind_t>(to_string(kind)) == kind);
    };
    for (const auto k :
         {source_kind::synthetic, source_kind::replay, source_kind::yahoo_chart, source_kind::yahoo_stream})
        round_trip(k);
    for (const auto k : {sink_kind::ndjson, sink_kind::kafka, sink_kind::odbc}) round_trip(k);
    for (const auto k : {message_format::tick, message_format::bar}) round_trip(k);
    for (const auto k : {idle_kind::backoff, idle_kind::busy_spin, idle_kind::sleep}) round_trip(k);

    CHECK_FALSE(kind_from_string<source_kind>("yahoo_chart").has_value()); // the enumerator is not the name
    CHECK_FALSE(kind_from_string<sink_kind>("NDJSON").has_value());
    CHECK_FALSE(kind_from_string<message_format>("").has_value());
}

TEST_CASE("a set of sinks is equal whatever order its kinds were added in", "[config]") {
    sink_kinds a;
    CHECK(a.empty());
    CHECK(a.begin() == a.end());
    CHECK(a.insert(sink_kind::odbc));
    CHECK(a.insert(sink_kind::ndjson));
    CHECK_FALSE(a.insert(sink_kind::odbc)); // already there
    CHECK(a.size() == 2);
    CHECK(a == sink_kinds{sink_kind::ndjson, sink_kind::odbc});
    CHECK_FALSE(a == sink_kinds{sink_kind::ndjson});
    CHECK_FALSE(a == sink_kinds{sink_kind::ndjson, sink_kind::kafka});
}

TEST_CASE("${VAR} in strings and string arrays is replaced from the environment", "[config]") {
    ::setenv("TAPEWIRE_TEST_OUT", "/tmp/tw", 1);
    ::setenv("TAPEWIRE_TEST_SYMBOL", "MSFT", 1);
    const config c = load_config_text(R"(
[source]
symbols = ["AAPL", "${TAPEWIRE_TEST_SYMBOL}"]
[sink]
path = "${TAPEWIRE_TEST_OUT}/bars-${TAPEWIRE_TEST_SYMBOL}.ndjson"
)",
                                      "test.toml");
    CHECK(c.source.symbols == std::vector<std::string>{"AAPL", "MSFT"});
    CHECK(c.sink.path == "/tmp/tw/bars-MSFT.ndjson");

    const config o = load_config_text("", "test.toml", {"sink.path=${TAPEWIRE_TEST_OUT}/x.ndjson"});
    CHECK(o.sink.path == "/tmp/tw/x.ndjson");
    ::unsetenv("TAPEWIRE_TEST_OUT");
    ::unsetenv("TAPEWIRE_TEST_SYMBOL");
}

TEST_CASE("an unset environment variable names the key and the variable", "[config]") {
    ::unsetenv("TAPEWIRE_TEST_UNSET");
    const auto e = text_error("[sink]\n\npath = \"${TAPEWIRE_TEST_UNSET}/out.ndjson\"\n");
    CHECK(e.file == "test.toml");
    CHECK(e.line == 3);
    CHECK(e.key == "sink.path");
    CHECK_THAT(e.message, Catch::Contains("TAPEWIRE_TEST_UNSET"));

    const auto in_array = text_error("[source]\nsymbols = [\"A\", \"${TAPEWIRE_TEST_UNSET}\"]\n");
    CHECK(in_array.key == "source.symbols");
    CHECK_THAT(in_array.message, Catch::Contains("TAPEWIRE_TEST_UNSET"));

    const auto unterminated = text_error("[sink]\npath = \"${HOME\"\n");
    CHECK(unterminated.key == "sink.path");
}

TEST_CASE("overrides apply on top of the file before validation", "[config]") {
    const std::string text = "[pipeline]\nthreads = 3\n[sink]\npath = \"file.ndjson\"\n";
    const config c = load_config_text(text, "test.toml",
                                      {"window.width=2s", "pipeline.threads=2", R"(source.symbols=["A","B"])",
                                       "sink.path=-", "source.start=2024-07-01T13:30:00Z", "source.symbol=123",
                                       "window.max_future_skew=0", "source.rate = 2.5e4", "sink.kind=ndjson",
                                       "pipeline.idle=sleep", "source.anomalies={enabled=true, jump_size=0.1}",
                                       "sink.bars=false", R"(vwap.session_start="09:30")"});
    CHECK(c.window.width == 2s);
    CHECK(c.pipeline.threads == 2); // the file's invalid 3 never reaches validation
    CHECK(c.source.symbols == std::vector<std::string>{"A", "B"});
    CHECK(c.sink.path == "-");
    CHECK(c.source.start == "2024-07-01T13:30:00Z");
    CHECK(c.source.symbol == "123");
    CHECK(c.window.max_future_skew == duration::zero());
    CHECK(c.source.rate == 25'000);
    CHECK(c.sink.kind == sink_kinds{sink_kind::ndjson});
    CHECK(c.pipeline.idle == idle_kind::sleep);
    CHECK(c.source.anomalies.enabled);
    CHECK(c.source.anomalies.jump_size == 0.1);
    CHECK_FALSE(c.sink.bars);
    CHECK(c.vwap.session_start == "09:30");
}

TEST_CASE("a bad override is a config_error from --set", "[config]") {
    const std::string ok_file = "[pipeline]\nthreads = 1\n";

    const auto unknown = text_error(ok_file, {"window.widht=2s"});
    CHECK(unknown.file == "--set");
    CHECK(unknown.line == 0);
    CHECK(unknown.key == "window.widht");
    CHECK(std::string(unknown.what()) == "--set window.widht: unknown key (did you mean 'width'?)");

    const auto unknown_section = text_error(ok_file, {"windw.width=2s"});
    CHECK(unknown_section.file == "--set");
    CHECK(unknown_section.key == "windw.width");

    const auto invalid = text_error(ok_file, {"pipeline.threads=3"});
    CHECK(invalid.file == "--set");
    CHECK(invalid.line == 0);
    CHECK(invalid.key == "pipeline.threads");

    const auto wrong_type = text_error(ok_file, {"pipeline.threads=two"});
    CHECK(wrong_type.file == "--set");
    CHECK(wrong_type.key == "pipeline.threads");
    CHECK(wrong_type.message == "expected an integer, got a string");

    const auto bad_duration = text_error(ok_file, {"window.width=1"});
    CHECK(bad_duration.file == "--set");
    CHECK(bad_duration.key == "window.width");

    const auto no_equals = text_error(ok_file, {"window.width"});
    CHECK(no_equals.file == "--set");
    CHECK(no_equals.key == "window.width");

    const auto section = text_error(ok_file, {"window=1s"});
    CHECK(section.file == "--set");
    CHECK(section.key == "window");
}

TEST_CASE("a value that fails validation points at where it was last set", "[config]") {
    const auto from_file = text_error("[source]\nkind = \"replay\"\n", {"source.rate=5"});
    CHECK(from_file.file == "test.toml");
    CHECK(from_file.line == 2);
    CHECK(from_file.key == "source.path");

    const auto from_override = text_error("[source]\nkind = \"replay\"\npath = \"a.ndjson\"\n", {"source.path=[]"});
    CHECK(from_override.file == "--set");
    CHECK(from_override.key == "source.path");
}

TEST_CASE("conf/tapewire.toml loads and equals the built-in defaults", "[config]") {
    const std::string path = k_conf_dir + "/tapewire.toml";
    config loaded = load_config_file(path);
    CHECK(loaded.file == path);

    // The documented differences from config.hpp: the shipped file writes to SQLite.
    CHECK(loaded.sink.kind == sink_kinds{sink_kind::odbc});
    CHECK(loaded.sink.path == "data/tapewire.ndjson");
    CHECK(loaded.source.rate == 100'000);
    CHECK(loaded.source.symbol_count == 100);

    config expected = default_config();
    expected.sink.kind = {sink_kind::odbc};
    expected.sink.path = "data/tapewire.ndjson";
    expected.source.rate = 100'000;
    expected.source.symbol_count = 100;
    expected.file = loaded.file;
    CHECK(describe_config(loaded) == describe_config(expected));
}

TEST_CASE("conf/tapewire.toml documents every key", "[config]") {
    const std::string conf = read_file(k_conf_dir + "/tapewire.toml");
    const std::string described = describe_config(default_config());
    std::string section;
    std::size_t pos = 0;
    while (pos < described.size()) {
        const std::size_t end = described.find('\n', pos);
        const std::string line = described.substr(pos, end - pos);
        pos = end == std::string::npos ? described.size() : end + 1;
        if (line.empty() || line[0] == '#') continue;
        if (line[0] == '[') {
            section = line;
            continue;
        }
        const std::string name = line.substr(0, line.find(' '));
        INFO(section << " " << name);
        const std::size_t begin = conf.find("\n" + section + "\n");
        REQUIRE(begin != std::string::npos);
        const std::string body = conf.substr(begin + 1, conf.find("\n[", begin + 1) - begin);
        const bool present = body.find("\n" + name + " = ") != std::string::npos;
        const bool commented = body.find("\n# " + name + " = ") != std::string::npos;
        CHECK((present || commented));
    }
}

TEST_CASE("conf/examples/replay.toml loads as a replay config", "[config]") {
    const config c = load_config_file(k_conf_dir + "/examples/replay.toml");
    CHECK(c.source.kind == source_kind::replay);
    CHECK(c.source.path == std::vector<std::string>{"data/ticks.ndjson"});
}

TEST_CASE("describe_config prints TOML that loads back to the same config", "[config]") {
    const config c = load_config_text("", "x.toml",
                                      {R"(source.symbols=["A","B\"C"])", "source.volatility=0.1", "window.width=1500ms",
                                       "window.allowed_lateness=90s", "pipeline.cpus=[1,0]", "pipeline.idle=spin",
                                       "source.seed=18446744", "anomaly.ewma_alpha=0.3333333333333333"});
    const std::string text = describe_config(c);
    CHECK_THAT(text, Catch::Contains("width = \"1.5s\""));
    CHECK_THAT(text, Catch::Contains("allowed_lateness = \"90s\""));
    CHECK_THAT(text, Catch::Contains("[source.anomalies]"));
    const config again = load_config_text(text, "x.toml");
    CHECK(describe_config(again) == text);
}

TEST_CASE("durations parse in every unit", "[config]") {
    CHECK(parse_duration("250ms") == 250ms);
    CHECK(parse_duration("1s") == 1s);
    CHECK(parse_duration("1m") == 1min);
    CHECK(parse_duration("2h") == 2h);
    CHECK(parse_duration("1d") == 24h);
    CHECK(parse_duration("100us") == 100us);
    CHECK(parse_duration("500ns") == 500ns);
    CHECK(parse_duration("1.5s") == 1500ms);
    CHECK(parse_duration("0.25s") == 250ms);
    CHECK(parse_duration("1.5ms") == 1500us);
    CHECK(parse_duration("0") == 0ns);
    CHECK(parse_duration("0s") == 0ns);
    CHECK(parse_duration("0.5m") == 30s);
}

TEST_CASE("malformed durations are rejected", "[config]") {
    for (const char* bad : {"", "5", "-1s", "1x", "1.5.5s", "s", ".5s", "1.s", "1 s", " 1s", "1s ", "+1s", "1e3ms",
                            "1.5ns", "1S", "1sec", "99999999999999999999s", "300000d"}) {
        INFO(bad);
        CHECK_FALSE(parse_duration(bad).has_value());
    }
}

TEST_CASE("durations format in their shortest exact form and read back", "[config]") {
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(1s) == "1s");
    CHECK(format_duration(1min) == "1m");
    CHECK(format_duration(2h) == "2h");
    CHECK(format_duration(48h) == "2d");
    CHECK(format_duration(1500ms) == "1.5s");
    CHECK(format_duration(90s) == "90s");
    CHECK(format_duration(100ms) == "100ms");
    CHECK(format_duration(1001ms) == "1001ms");
    CHECK(format_duration(0ns) == "0");
    CHECK(format_duration(7ns) == "7ns");

    for (std::int64_t ns : {1LL, 999LL, 1'000LL, 1'234'567LL, 1'500'000'000LL, 59'999'999'999LL, 90'000'000'000LL,
                            86'400'000'000'000LL, 129'600'000'000'000LL, 9'223'372'036'854'775'807LL}) {
        INFO(ns);
        const duration d{ns};
        CHECK(parse_duration(format_duration(d)) == d);
    }
}

TEST_CASE("librdkafka properties pass through [kafka.producer] and [kafka.consumer], quoted or dotted",
          "[config][kafka]") {
    ::setenv("TAPEWIRE_TEST_KAFKA_PASSWORD", "s3cret", 1);
    const config c = load_config_text("[kafka]\n"
                                      "brokers = \"k1:9092,k2:9092\"\n"
                                      "[kafka.producer]\n"
                                      "\"linger.ms\" = 20\n"
                                      "compression.type = \"lz4\"\n"
                                      "\"sasl.password\" = \"${TAPEWIRE_TEST_KAFKA_PASSWORD}\"\n"
                                      "[kafka.consumer]\n"
                                      "enable.partition.eof = false\n",
                                      "test.toml", {"kafka.producer.linger.ms=0"});
    CHECK(c.kafka.brokers == "k1:9092,k2:9092");
    REQUIRE(c.kafka.producer.size() == 3);
    CHECK(c.kafka.producer[0].name == "linger.ms");
    CHECK(c.kafka.producer[0].value == "0"); // the override wins
    CHECK(c.kafka.producer[1].name == "compression.type");
    CHECK(c.kafka.producer[1].value == "lz4");
    CHECK(c.kafka.producer[1].line == 5);
    CHECK(c.kafka.producer[2].value == "s3cret");
    REQUIRE(c.kafka.consumer.size() == 1);
    CHECK(c.kafka.consumer[0].name == "enable.partition.eof");
    CHECK(c.kafka.consumer[0].value == "false");
    // check-config shows the properties but not the secret.
    const std::string shown = describe_config(c);
    CHECK(shown.find("\"compression.type\" = \"lz4\"") != std::string::npos);
    CHECK(shown.find("s3cret") == std::string::npos);
}

TEST_CASE("a property librdkafka refuses names the file, line and key", "[config][kafka]") {
    const auto unknown = text_error("[kafka.producer]\n\"linger.ms\" = 5\n\"lingr.ms\" = 5\n");
    CHECK(unknown.file == "test.toml");
    CHECK(unknown.line == 3);
    CHECK(unknown.key == "kafka.producer.lingr.ms");
    CHECK_THAT(unknown.message, Catch::Contains("lingr.ms"));

    const auto range = text_error("[kafka.consumer]\n\"fetch.wait.max.ms\" = -3\n");
    CHECK(range.line == 2);
    CHECK(range.key == "kafka.consumer.fetch.wait.max.ms");

    const auto override_error = text_error("", {"kafka.consumer.no.such.thing=1"});
    CHECK(override_error.file == "--set");
    CHECK(override_error.key == "kafka.consumer.no.such.thing");
}

TEST_CASE("topic names follow Kafka's rules and the kafka sink needs a broker", "[config][kafka]") {
    const auto bad = text_error("[kafka]\ntopic = \"ticks/raw\"\n");
    CHECK(bad.line == 2);
    CHECK(bad.key == "kafka.topic");
    const auto no_broker = text_error("[sink]\nkind = [\"ndjson\", \"kafka\"]\n[kafka]\nbrokers = \"\"\n");
    CHECK(no_broker.key == "sink.kind");
    CHECK(no_broker.line == 2);
}

TEST_CASE("conf/examples/kafka-cluster.toml loads with its secrets from the environment", "[config][kafka]") {
    ::unsetenv("KAFKA_PASSWORD");
    ::setenv("KAFKA_USER", "tapewire", 1);
    const auto missing = error_of([] { (void)load_config_file(k_conf_dir + "/examples/kafka-cluster.toml"); });
    CHECK(missing.key == "kafka.producer.sasl.password");
    CHECK_THAT(missing.message, Catch::Contains("KAFKA_PASSWORD"));
    ::setenv("KAFKA_PASSWORD", "not-in-any-file", 1);
    const config c = load_config_file(k_conf_dir + "/examples/kafka-cluster.toml");
    CHECK(c.kafka.group == "tapewire-analytics");
    REQUIRE(c.kafka.consumer.size() == 4);
    CHECK(c.kafka.consumer[3].value == "not-in-any-file");
    ::unsetenv("KAFKA_PASSWORD");
    ::unsetenv("KAFKA_USER");
}

TEST_CASE("the effective configuration never shows the database password of sink.connection", "[config][sql]") {
    ::setenv("TAPEWIRE_TEST_DB_PASSWORD", "s3cret-value", 1);
    const config c = load_config_text(
        "[sink]\nkind = \"odbc\"\n"
        "connection = \"Driver=PostgreSQL Unicode;Server=db;Uid=tw;Pwd=${TAPEWIRE_TEST_DB_PASSWORD};Port=5432\"\n",
        "mem.toml");
    ::unsetenv("TAPEWIRE_TEST_DB_PASSWORD");
    CHECK(c.sink.connection.find("s3cret-value") != std::string::npos); // the driver gets it
    const std::string shown = describe_config(c);
    CHECK(shown.find("s3cret-value") == std::string::npos);
    CHECK(shown.find("Uid=tw;Pwd=(hidden);Port=5432") != std::string::npos);
    CHECK(hide_connection_password("Driver=X;PASSWORD = {a;b};UID=u") == "Driver=X;PASSWORD =(hidden);UID=u");
    CHECK(hide_connection_password("DSN=market") == "DSN=market");
}

TEST_CASE("[log] reads its level and format and shows them in the effective configuration", "[config][log]") {
    const config d = default_config();
    CHECK(d.log.level == log_level::info);
    CHECK(d.log.format == log_format::text);
    const config c = load_config_text("[log]\nlevel = \"debug\"\nformat = \"json\"\n", "test.toml");
    CHECK(c.log.level == log_level::debug);
    CHECK(c.log.format == log_format::json);
    const std::string shown = describe_config(c);
    CHECK_THAT(shown, Catch::Contains("[log]\nlevel = \"debug\"\nformat = \"json\"\n"));
    CHECK(describe_config(load_config_text(shown, "test.toml")) == shown);
    // Bare words on the command line, as for every other text value.
    const config o = load_config_text("", "test.toml", {"log.level=warn", "log.format=json"});
    CHECK(o.log.level == log_level::warn);
    CHECK(o.log.format == log_format::json);
}

TEST_CASE("a bad log level or format names the file, line, key and the values it may take", "[config][log]") {
    const auto level = text_error("[log]\n\nlevel = \"verbose\"\n");
    CHECK(level.line == 3);
    CHECK(level.key == "log.level");
    CHECK(level.message == "must be debug, info, warn or error, got \"verbose\"");
    const auto format = text_error("[log]\nformat = \"xml\"\n");
    CHECK(format.line == 2);
    CHECK(format.key == "log.format");
    CHECK(format.message == "must be text or json, got \"xml\"");
    const auto type = text_error("[log]\nlevel = 3\n");
    CHECK(type.key == "log.level");
    CHECK(type.line == 2);
    const auto over = text_error("", {"log.format=yaml"});
    CHECK(over.file == "--set");
    CHECK(over.key == "log.format");
}

TEST_CASE("durations round to significant digits for log lines", "[config][log]") {
    CHECK(round_significant(duration{1'234'567'891}, 3) == 1230ms);
    CHECK(format_duration(round_significant(duration{1'234'567'891}, 3)) == "1.23s");
    CHECK(format_duration(round_significant(duration{247'123'456}, 3)) == "247ms");
    CHECK(format_duration(round_significant(duration{249'999'999}, 3)) == "250ms");
    CHECK(format_duration(round_significant(duration{-1'999'999'999}, 2)) == "-2s");
    CHECK(round_significant(250ms, 3) == 250ms); // already short: unchanged
    CHECK(round_significant(7ns, 3) == 7ns);
    CHECK(round_significant(duration::zero(), 3) == duration::zero());
    CHECK(round_significant(duration::max(), 3) <= duration::max()); // no overflow past the largest
}

TEST_CASE("window.watermark auto resolves to symbol for bar input, yahoo-chart and replay, and to partition for live "
          "tick feeds",
          "[config][event-time]") {
    struct row {
        std::vector<std::string> set;
        watermark_mode expect;
        std::string why;
    };
    const std::vector<row> rows{
        {{}, watermark_mode::partition, "auto: source.kind = synthetic"},
        {{"source.kind=replay", "source.path=a.ndjson"}, watermark_mode::symbol, "auto: source.kind = replay"},
        {{"source.kind=yahoo-chart", "source.symbols=[\"AAPL\"]"},
         watermark_mode::symbol,
         "auto: source.kind = yahoo-chart"},
        {{"source.kind=yahoo-stream", "source.symbols=[\"AAPL\"]"},
         watermark_mode::partition,
         "auto: source.kind = yahoo-stream"},
        {{"source.format=bar"}, watermark_mode::symbol, "auto: source.format = bar"},
        {{"source.format=bar", "source.kind=yahoo-stream", "source.symbols=[\"AAPL\"]"},
         watermark_mode::symbol,
         "auto: source.format = bar"},
        // Spelled out, the key wins over the source.
        {{"window.watermark=partition", "source.kind=replay", "source.path=a.ndjson"},
         watermark_mode::partition,
         "window.watermark"},
        {{"window.watermark=symbol"}, watermark_mode::symbol, "window.watermark"},
        {{"window.watermark=auto", "source.format=bar"}, watermark_mode::symbol, "auto: source.format = bar"},
    };
    for (const row& r : rows) {
        std::string what;
        for (const std::string& s : r.set) what += s + " ";
        INFO(what);
        const config c = load_config_text("", "test.toml", r.set);
        std::string why;
        CHECK(resolve_watermark(c.window, c.source, &why) == r.expect);
        CHECK(why == r.why);
        CHECK(to_window_options(c.window, c.source).per_symbol == (r.expect == watermark_mode::symbol));
    }
    CHECK(load_config_text("", "test.toml").window.watermark == watermark_mode::auto_);
    CHECK(load_config_text("[window]\nwatermark = \"symbol\"\n", "test.toml").window.watermark ==
          watermark_mode::symbol);
    const auto bad = text_error("[window]\nwatermark = \"event\"\n");
    CHECK(std::string(bad.what()) == "test.toml:2: window.watermark: must be auto, partition or symbol, got \"event\"");
}

TEST_CASE("window.bar_memory defaults to a month, may be 0, and must cover late_update_horizon + width",
          "[config][bars]") {
    const config d = load_config_text("", "test.toml");
    CHECK(d.window.bar_memory == std::chrono::hours(24 * 31));
    CHECK(to_window_options(d.window, d.source).bar_memory_ns == 31 * 86'400'000'000'000);
    CHECK(window_options{}.bar_memory_ns == to_window_options(d.window, d.source).bar_memory_ns);

    // 0 turns the memory off (bars merge like trades), whatever the horizon.
    const config off = load_config_text("[window]\nbar_memory = \"0\"\nlate_update_horizon = \"60d\"\n", "test.toml");
    CHECK(to_window_options(off.window, off.source).bar_memory_ns == 0);

    const config exact = load_config_text(
        "", "test.toml", {"window.width=10m", "window.late_update_horizon=1d", "window.bar_memory=1450m"});
    CHECK(to_window_options(exact.window, exact.source).bar_memory_ns == 1450 * 60'000'000'000);

    const auto short_memory =
        text_error("[window]\nwidth = \"10m\"\nlate_update_horizon = \"1d\"\nbar_memory = \"1449m\"\n");
    CHECK(std::string(short_memory.what()) ==
          "test.toml:4: window.bar_memory: must be 0 or at least window.late_update_horizon + window.width (1450m)");
    // Blames the horizon when it is the key that was set.
    const auto long_horizon = text_error("[window]\nlate_update_horizon = \"40d\"\n");
    CHECK(long_horizon.key == "window.bar_memory");
    CHECK(long_horizon.line == 2);
}
