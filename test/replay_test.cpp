#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/sources/replay.hpp"
#include "tapewire/json_write.hpp"

using namespace tapewire;
namespace fs = std::filesystem;

namespace {

// A scratch folder of its own per test, removed afterwards.
class scratch_dir {
public:
    scratch_dir() {
        static int counter = 0;
        path_ = fs::temp_directory_path() /
                ("tapewire_replay_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~scratch_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;

    std::string write(const std::string& name, const std::string& content) const {
        const fs::path p = path_ / name;
        std::ofstream out(p, std::ios::binary);
        out << content;
        return p.string();
    }
    std::string path(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

std::vector<std::string> read_all(replay_reader& r) {
    std::vector<std::string> out;
    std::string_view line;
    while (r.next(line)) out.emplace_back(line);
    return out;
}

} // namespace

TEST_CASE("The replay reader returns the lines of several files in order", "[replay]") {
    scratch_dir dir;
    const std::string a = dir.write("a.ndjson", "one\ntwo\n");
    const std::string empty = dir.write("empty.ndjson", "");
    const std::string b = dir.write("b.ndjson", "three\nfour"); // no final line break

    replay_reader r({a, empty, b});
    CHECK(r.current_file() == a);
    std::string_view line;
    REQUIRE(r.next(line));
    CHECK(line == "one");
    CHECK(r.current_file() == a);
    REQUIRE(r.next(line));
    CHECK(line == "two");
    REQUIRE(r.next(line));
    CHECK(line == "three");
    CHECK(r.current_file() == b);
    REQUIRE(r.next(line));
    CHECK(line == "four");
    CHECK_FALSE(r.next(line));
    CHECK_FALSE(r.next(line));
    CHECK(r.lines() == 4);

    replay_reader none({});
    CHECK_FALSE(none.next(line));
    CHECK(none.current_file().empty());
}

TEST_CASE("The replay reader drops CRLF endings, empty lines and a byte order mark", "[replay]") {
    scratch_dir dir;
    const std::string crlf = dir.write("crlf.ndjson", "\r\n\n{\"a\":1}\r\n\r\n\n\nnot json at all\r\n  \n\r\nlast\r");
    const std::string bom = dir.write("bom.ndjson", "\xEF\xBB\xBF{\"b\":2}\n");
    replay_reader r({crlf, bom});
    // Blank-but-not-empty lines go on: the parse stage dead-letters them.
    CHECK(read_all(r) == std::vector<std::string>{"{\"a\":1}", "not json at all", "  ", "last", "{\"b\":2}"});
    CHECK(r.lines() == 5);
}

TEST_CASE("Lines that cross a read chunk boundary arrive whole", "[replay]") {
    scratch_dir dir;
    // The first file's long line ends 10 bytes before the boundary, so the next one straddles it;
    // the second's first line break is the last byte of the first chunk.
    const std::string first(k_replay_chunk - 10, 'x');
    const std::string straddling = "{\"symbol\":\"AAPL\",\"ts\":1,\"price\":1.5,\"size\":100}";
    const std::string a = dir.write("a.ndjson", first + "\n" + straddling + "\nshort\n");
    const std::string exact(k_replay_chunk - 1, 'y');
    const std::string b = dir.write("b.ndjson", exact + "\n" + "after\n");
    replay_reader r({a, b});
    const std::vector<std::string> lines = read_all(r);
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == first);
    CHECK(lines[1] == straddling);
    CHECK(lines[2] == "short");
    CHECK(lines[3] == exact);
    CHECK(lines[4] == "after");
}

TEST_CASE("A 3 MB line is returned whole between its neighbours", "[replay]") {
    scratch_dir dir;
    std::string huge = "{\"symbol\":\"BIG\",\"pad\":\"";
    huge.append(3'000'000, 'z');
    huge += "\"}";
    const std::string p = dir.write("huge.ndjson", "before\r\n" + huge + "\r\nafter\n" + huge);
    replay_reader r({p});
    const std::vector<std::string> lines = read_all(r);
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == "before");
    CHECK(lines[1] == huge);
    CHECK(lines[2] == "after");
    CHECK(lines[3] == huge);
}

TEST_CASE("A replay file that cannot be opened is named before anything is read", "[replay]") {
    scratch_dir dir;
    const std::string good = dir.write("good.ndjson", "x\n");
    const std::string missing = dir.path("missing.ndjson");
    CHECK_THROWS_WITH(replay_reader({good, missing}), Catch::Contains(missing));
    CHECK_THROWS_WITH(replay_reader({missing, good}), Catch::Contains(missing));
    const std::string folder = dir.path("");
    CHECK_THROWS_AS(replay_reader({good, folder}), std::runtime_error);
}

TEST_CASE("peek_ts and peek_symbol find the fields of canonical tick lines", "[replay]") {
    char storage[256];
    json_buffer out(storage, sizeof storage);
    tick t = tick::trade(symbol::from("AAPL"), 1'732'800'000'123'456'789, 189.53, 100);
    t.bid = 189.52;
    t.ask = 189.54;
    write_tick_json(out, t);

    timestamp_ns ts = 0;
    std::string_view sym;
    REQUIRE(peek_ts(out.view(), ts));
    CHECK(ts == 1'732'800'000'123'456'789);
    REQUIRE(peek_symbol(out.view(), sym));
    CHECK(sym == "AAPL");

    // Blanks around the colon, keys in another order, and values that look like keys.
    REQUIRE(peek_ts(R"({ "symbol" : "ts" , "ts" : -42 })", ts));
    CHECK(ts == -42);
    REQUIRE(peek_symbol(R"({"note":"symbol","ts":1,"symbol":"BRK.B"})", sym));
    CHECK(sym == "BRK.B");
    REQUIRE(peek_symbol(R"({ "symbol" : "ts" , "ts" : -42 })", sym));
    CHECK(sym == "ts");
}

TEST_CASE("peek_ts and peek_symbol report garbage as not found", "[replay]") {
    timestamp_ns ts = 7;
    std::string_view sym;
    for (std::string_view bad :
         {"", "not json", "{", "\"ts\":1", R"({"ts":)", R"({"ts":1.5})", R"({"ts":1e18})", R"({"ts":"123"})",
          R"({"ts":99999999999999999999})", R"({"x":"ts"})", R"({"x":"a\"ts\":5"})", R"({"ts" 5})"}) {
        INFO(bad);
        CHECK_FALSE(peek_ts(bad, ts));
    }
    CHECK(ts == 7);
    for (std::string_view bad :
         {"", "garbage", R"({"symbol":)", R"({"symbol":"")", R"({"symbol":5})", R"({"symbol":"unterminated)",
          R"({"symbol":"A\"B"})", R"({"x":"symbol"})", R"({"symbol":""})"}) {
        INFO(bad);
        CHECK_FALSE(peek_symbol(bad, sym));
    }
}

TEST_CASE("The replay pacer keeps the recorded spacing, scaled by the speed", "[replay]") {
    constexpr timestamp_ns t0 = 1'732'800'000'000'000'000;
    constexpr std::int64_t now0 = 5'000'000'000;

    replay_pacer real_time(1);
    CHECK(real_time.release_at_ns(t0, now0) == now0);
    // The anchor is the first call: a later clock reading does not move the schedule.
    CHECK(real_time.release_at_ns(t0 + 1'000'000'000, now0 + 123) == now0 + 1'000'000'000);
    CHECK(real_time.release_at_ns(t0 + 1'500'000'001, now0 + 999) == now0 + 1'500'000'001);
    CHECK(real_time.release_at_ns(t0 - 10, now0 + 999) <= now0 + 999); // older than the first: now

    replay_pacer twice(2);
    CHECK(twice.release_at_ns(t0, now0) == now0);
    CHECK(twice.release_at_ns(t0 + 1'000'000'000, now0) == now0 + 500'000'000);
    CHECK(twice.release_at_ns(t0 + 3, now0) == now0 + 2); // 1.5 ns rounds to 2

    replay_pacer unpaced(0);
    CHECK(unpaced.release_at_ns(t0, now0) == now0);
    CHECK(unpaced.release_at_ns(t0 + 1'000'000'000, now0 + 7) == now0 + 7);

    CHECK_THROWS_AS(replay_pacer(-1), std::invalid_argument);
    CHECK_THROWS_AS(replay_pacer(std::nan("")), std::invalid_argument);
}
