// The benches' shared helpers (bench/common): nearest-rank percentiles at their edges, the option
// readers refusing garbage, the run check, the CPU samplers and the synthetic market.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <unistd.h>

#include "bench/common/args.hpp"
#include "bench/common/cpu_time.hpp"
#include "bench/common/percentiles.hpp"
#include "bench/common/report.hpp"
#include "bench/common/tick_feed.hpp"

using namespace tapewire;
using namespace tapewire::bench;

namespace {

std::vector<std::int64_t> one_to(std::int64_t n) {
    std::vector<std::int64_t> v;
    for (std::int64_t i = 1; i <= n; ++i) v.push_back(i);
    return v;
}

// What a FILE* received, for the usage and the error messages.
class captured {
public:
    captured() : f_(std::tmpfile()) {}
    ~captured() { std::fclose(f_); }
    captured(const captured&) = delete;
    captured& operator=(const captured&) = delete;
    std::FILE* file() const noexcept { return f_; }
    std::string text() const {
        std::fflush(f_);
        std::rewind(f_);
        std::string out;
        for (int c; (c = std::fgetc(f_)) != EOF;) out += static_cast<char>(c);
        return out;
    }

private:
    std::FILE* f_;
};

// Parses `args` with `t`, errors and usage into `err`.
std::optional<int> parse(const option_table& t, std::vector<std::string> args, captured& err) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return t.parse(static_cast<int>(argv.size()), argv.data(), err.file(), err.file());
}

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A thread named `name` that burns `cpu_s` seconds of CPU (however long the machine makes it wait
// for them), then stays alive, idle, until released: samples taken meanwhile see all of it.
class burner {
public:
    burner(const char* name, double cpu_s) {
        thread_ = std::thread([this, name, cpu_s] {
            pthread_setname_np(pthread_self(), name);
            volatile std::uint64_t x = 0;
            const double until = thread_cpu_s() + cpu_s;
            while (thread_cpu_s() < until)
                for (int i = 0; i < 10'000; ++i) x = x + 1;
            burnt_.store(true);
            while (!released_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
        while (!burnt_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~burner() {
        released_.store(true);
        thread_.join();
    }
    burner(const burner&) = delete;
    burner& operator=(const burner&) = delete;

private:
    std::atomic<bool> burnt_{false}, released_{false};
    std::thread thread_;
};

} // namespace

// ---- percentiles --------------------------------------------------------------------------------

TEST_CASE("nearest rank of no samples is 0 and of one sample is that sample at every p", "[bench]") {
    CHECK(nearest_rank({}, 0.5) == 0);
    const std::vector<std::int64_t> one{42};
    for (const double p : {0.0, 0.001, 0.5, 0.99, 0.999, 1.0}) CHECK(nearest_rank(one, p) == 42);
}

TEST_CASE("nearest rank at p0 is the smallest sample and at p100 the largest", "[bench]") {
    const auto v = one_to(1000);
    CHECK(nearest_rank(v, 0.0) == 1);
    CHECK(nearest_rank(v, 1.0) == 1000);
}

TEST_CASE("nearest rank is the smallest value with at least p of the samples at or below it", "[bench]") {
    const auto hundred = one_to(100);
    CHECK(nearest_rank(hundred, 0.50) == 50);
    CHECK(nearest_rank(hundred, 0.99) == 99);
    CHECK(nearest_rank(hundred, 0.991) == 100); // 99.1 samples: rounds up, never interpolates
    CHECK(nearest_rank(hundred, 0.999) == 100);
    const auto thousand = one_to(1000);
    CHECK(nearest_rank(thousand, 0.999) == 999);
    // Exact ranks stay exact for every count the benches see.
    for (std::int64_t n : {7, 200, 1000, 12'345, 200'000}) {
        const auto v = one_to(n);
        CHECK(nearest_rank(v, 0.5) == (n + 1) / 2);
    }
}

TEST_CASE("nearest rank over ties returns the tied value until the rank passes them", "[bench]") {
    const std::vector<std::int64_t> v{5, 5, 5, 7};
    CHECK(nearest_rank(v, 0.25) == 5);
    CHECK(nearest_rank(v, 0.75) == 5);
    CHECK(nearest_rank(v, 0.76) == 7);
}

TEST_CASE("summarise sorts the samples and takes p50, p99, p99.9 and the largest", "[bench]") {
    std::vector<std::int64_t> v = one_to(1000);
    std::reverse(v.begin(), v.end());
    const percentiles p = summarise(v);
    CHECK(p.count == 1000);
    CHECK(p.p50 == 500);
    CHECK(p.p99 == 990);
    CHECK(p.p999 == 999);
    CHECK(p.max == 1000);
    CHECK(to_json(p) == R"({"count":1000,"p50":500,"p99":990,"p999":999,"max":1000})");

    const percentiles none = summarise({});
    CHECK(none.count == 0);
    CHECK(none.max == 0);
}

TEST_CASE("the median is the middle value, the upper of two for an even count", "[bench]") {
    CHECK(median({}) == 0);
    CHECK(median({3.0}) == 3.0);
    CHECK(median({9.0, 1.0, 5.0}) == 5.0);
    CHECK(median({4.0, 1.0, 3.0, 2.0}) == 3.0);
}

// ---- option readers -----------------------------------------------------------------------------

TEST_CASE("whole numbers are read only when the whole text is digits that fit the type", "[bench]") {
    CHECK(read_integer<std::uint32_t>("42") == 42u);
    CHECK(read_integer<std::uint64_t>("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
    CHECK(read_integer<int>("-5") == -5);
    for (const char* bad : {"", " 4", "4 ", "+4", "4x", "0x10", "1e3", "4.0", "-1", "4294967296"})
        CHECK_FALSE(read_integer<std::uint32_t>(bad).has_value());
}

TEST_CASE("decimals are read only when finite, non-negative and nothing is left over", "[bench]") {
    CHECK(read_decimal("50000") == 50000.0);
    CHECK(read_decimal("0.5") == 0.5);
    CHECK(read_decimal("1e6") == 1e6);
    CHECK(read_decimal("0") == 0.0);
    for (const char* bad : {"", "-1", "-0", "+1", " 1", "1 ", "1.5x", "inf", "nan", "1e999", "five"})
        CHECK_FALSE(read_decimal(bad).has_value());
}

TEST_CASE("key=value options need a key and keep every '=' after the first in the value", "[bench]") {
    CHECK(read_key_value("fetch.wait.max.ms=5") == std::pair<std::string, std::string>("fetch.wait.max.ms", "5"));
    CHECK(read_key_value("a=") == std::pair<std::string, std::string>("a", ""));
    CHECK(read_key_value("a=b=c") == std::pair<std::string, std::string>("a", "b=c"));
    CHECK_FALSE(read_key_value("=b").has_value());
    CHECK_FALSE(read_key_value("ab").has_value());
}

TEST_CASE("an option table reads flags, numbers, durations and choices in any order", "[bench]") {
    std::uint64_t ticks = 10;
    std::uint32_t threads = 1;
    double rate = 0;
    bool json = false, latency = true;
    duration interval = std::chrono::milliseconds(500);
    std::string scheme = "both";
    std::vector<std::pair<std::string, std::string>> props;
    option_table t("tapewire-bench test");
    t.add("--ticks N", "ticks", whole(ticks, std::uint64_t{1}))
        .add("--threads T", "threads", whole(threads, 1u, 2u))
        .add("--rate R", "rate", positive(rate))
        .add("--interval D", "interval", duration_value(interval, true))
        .add("--scheme S", "scheme", one_of(scheme, {{"http", "http"}, {"https", "https"}, {"both", "both"}}))
        .add("--consumer K=V", "property", key_value(props))
        .add("--json", "json", flag(json))
        .add("--no-latency", "no latency", flag(latency, false));

    captured err;
    CHECK_FALSE(parse(t,
                      {"--json", "--ticks", "500", "--interval", "100ms", "--scheme", "http", "--no-latency", "--rate",
                       "2.5", "--consumer", "a=1", "--threads", "2", "--consumer", "b=2"},
                      err)
                    .has_value());
    CHECK(json);
    CHECK_FALSE(latency);
    CHECK(ticks == 500);
    CHECK(threads == 2);
    CHECK(rate == 2.5);
    CHECK(interval == std::chrono::milliseconds(100));
    CHECK(scheme == "http");
    CHECK(props.size() == 2);
    CHECK(err.text().empty());
}

TEST_CASE("a kind option takes the config file's words for it and nothing else", "[bench]") {
    idle_kind idle = idle_kind::backoff;
    const option_value v = kind_value(idle);
    CHECK(v.wants == "backoff, spin or sleep");
    CHECK(v.read("spin"));
    CHECK(idle == idle_kind::busy_spin);
    for (const char* bad : {"busy_spin", "Spin", ""}) CHECK_FALSE(v.read(bad));
    CHECK(idle == idle_kind::busy_spin);
}

TEST_CASE("one-or-both options set one flag, the other or both, and refuse anything else", "[bench]") {
    bool text = false, binary = false;
    const option_value v = one_or_both(text, binary, "text", "binary");
    CHECK(v.wants == "text, binary or both");
    CHECK(v.read("text"));
    CHECK((text && !binary));
    CHECK(v.read("binary"));
    CHECK((!text && binary));
    CHECK(v.read("both"));
    CHECK((text && binary));
    for (const char* bad : {"", "TEXT", "neither", "text,binary"}) CHECK_FALSE(v.read(bad));
    CHECK((text && binary)); // left as they were
}

TEST_CASE("an option table refuses garbage with exit code 2 and leaves the value as it was", "[bench]") {
    std::uint64_t ticks = 10;
    std::uint32_t threads = 1;
    double rate = 7;
    duration interval = std::chrono::milliseconds(500);
    option_table t("tapewire-bench test");
    t.add("--ticks N", "ticks", whole(ticks, std::uint64_t{1}))
        .add("--threads T", "threads", whole(threads, 1u, 2u))
        .add("--rate R", "rate", positive(rate))
        .add("--interval D", "interval", duration_value(interval, true));

    const std::vector<std::vector<std::string>> bad{{"--ticks", "0"},      {"--ticks", "ten"},
                                                    {"--ticks", "-1"},     {"--ticks", ""},
                                                    {"--threads", "3"},    {"--rate", "0"},
                                                    {"--rate", "-2"},      {"--rate", "fast"},
                                                    {"--interval", "0"},   {"--interval", "5"},
                                                    {"--interval", "-1s"}, {"--ticks"},
                                                    {"--unknown"},         {"ticks"}};
    for (const auto& args : bad) {
        captured err;
        INFO(args.front() << (args.size() > 1 ? " '" + args[1] + "'" : std::string()));
        CHECK(parse(t, args, err) == 2);
        CHECK(err.text().find(args.front()) != std::string::npos); // the message names the option
    }
    CHECK(ticks == 10);
    CHECK(threads == 1);
    CHECK(rate == 7);
    CHECK(interval == std::chrono::milliseconds(500));
}

TEST_CASE("an option table's error says what a good value looks like", "[bench]") {
    std::uint32_t threads = 1;
    option_table t("tapewire-bench test");
    t.add("--threads T", "threads", whole(threads, 1u, 2u));
    captured err;
    CHECK(parse(t, {"--threads", "3"}, err) == 2);
    CHECK(err.text().find(whole(threads, 1u, 2u).wants) != std::string::npos);
    CHECK(whole(threads, 1u, 2u).wants == "a whole number from 1 to 2");
}

TEST_CASE("an option table answers --help with exit code 0 and one usage line per option", "[bench]") {
    std::uint64_t ticks = 10;
    bool json = false;
    option_table t("tapewire-bench test", "What it does.\n");
    t.add("--ticks N", "measured ticks\nsecond line", whole(ticks)).add("--json", "one JSON object", flag(json));
    captured out;
    CHECK(parse(t, {"--json", "--help"}, out) == 0);
    const std::string u = out.text();
    CHECK(u.rfind("usage: tapewire-bench test [--ticks N] [--json]\nWhat it does.\n", 0) == 0);
    // Help in one column, continuation lines under the first.
    const std::size_t col = u.find("measured ticks") - u.rfind('\n', u.find("measured ticks")) - 1;
    CHECK(u.find("\n" + std::string(col, ' ') + "second line\n") != std::string::npos);
    CHECK(u.find("  --json") != std::string::npos);
}

TEST_CASE("a long synopsis wraps under the first option", "[bench]") {
    bool sink = false;
    option_table t("tapewire-bench test");
    for (int i = 0; i < 30; ++i) t.add("--option-" + std::to_string(i), "", flag(sink));
    const std::string head = "usage: tapewire-bench test ";
    const std::string s = "usage: " + t.synopsis();
    std::vector<std::string> lines;
    for (std::size_t start = 0, nl = 0; start < s.size(); start = nl + 1) {
        nl = std::min(s.find('\n', start), s.size());
        lines.push_back(s.substr(start, nl - start));
    }
    REQUIRE(lines.size() >= 2);
    CHECK(lines[0].rfind(head + "[--option-0]", 0) == 0);
    for (const std::string& l : lines) CHECK(l.size() <= 110);
    for (std::size_t i = 1; i < lines.size(); ++i) CHECK(lines[i].rfind(std::string(head.size(), ' ') + "[", 0) == 0);
}

// ---- the run check ------------------------------------------------------------------------------

TEST_CASE("a run whose counts are right passes the check", "[bench]") {
    const count_check c = count_check("run").equal("ticks", 5, 5).at_least("rows", 7, 5);
    CHECK(c.ok());
    CHECK_NOTHROW(c.enforce());
}

TEST_CASE("a run whose counts are off is refused with every count and what was expected", "[bench]") {
    const count_check c = count_check("run").equal("ticks", 4, 5).equal("dead letters", 0, 0).at_least("rows", 3, 5);
    CHECK_FALSE(c.ok());
    CHECK(c.message() == "run: ticks 4 (expected 5), dead letters 0, rows 3 (expected at least 5)");
    CHECK_THROWS_AS(c.enforce(), failure);
}

TEST_CASE("json numbers carry the decimals asked for", "[bench]") {
    CHECK(json_number(1234.5) == "1234");
    CHECK(json_number(1235.5) == "1236");
    CHECK(json_number(0.12345, 4) == "0.1235");
    CHECK(fmt("%s %d", "a", 3) == "a 3");
}

// ---- CPU time -----------------------------------------------------------------------------------

TEST_CASE("the load average is three numbers", "[bench]") {
    const std::string l = load_average();
    double a = -1, b = -1, c = -1;
    CHECK(std::sscanf(l.c_str(), "%lf %lf %lf", &a, &b, &c) == 3);
    CHECK(a >= 0);
}

TEST_CASE("a snapshot sees a thread's CPU time by its name and the process's total", "[bench]") {
    const cpu_snapshot before = cpu_snapshot::now();
    burner b("tw-test-burn", 0.05);
    const cpu_snapshot after = cpu_snapshot::now();
    CHECK(after.process_ns >= before.process_ns + 50'000'000);
    CHECK(after.machine.busy_ns >= before.machine.busy_ns);
    CHECK(after.threads.count(static_cast<int>(::gettid())) == 1);
    const auto it = std::find_if(after.threads.begin(), after.threads.end(),
                                 [](const auto& t) { return t.second.name == "tw-test-burn"; });
    REQUIRE(it != after.threads.end());
    CHECK(it->second.run_ns >= 40'000'000); // schedstat counts ns; allow for the clocks' granularity
}

TEST_CASE("the CPU sampler charges a named thread's CPU time to its name", "[bench]") {
    cpu_sampler sampler;
    std::map<std::string, double> cpu;
    {
        burner b("tw-test-burn", 0.2);
        cpu = sampler.finish();
    }
    REQUIRE(cpu.count("tw-test-burn") == 1);
    CHECK(cpu.at("tw-test-burn") >= 0.15); // utime + stime, in clock ticks of 10 ms
    CHECK(cpu.at("tw-test-burn") <= 0.5);
}

TEST_CASE("a sampled process tree is reported under its name", "[bench]") {
    // The root's /proc/<pid>/stat counts all its threads.
    cpu_sampler sampler(static_cast<long>(::getpid()), "this process");
    std::map<std::string, double> cpu;
    {
        burner b("tw-test-burn", 0.1);
        cpu = sampler.finish();
    }
    REQUIRE(cpu.count("this process") == 1);
    CHECK(cpu.at("this process") >= 0.05);
}

// ---- the synthetic market -----------------------------------------------------------------------

TEST_CASE("one seed gives one market: the same symbols, prices and sizes", "[bench]") {
    random_market a(50, 7), b(50, 7);
    REQUIRE(a.size() == 50);
    CHECK(a.name(3) == "SYM0003");
    for (int i = 0; i < 10'000; ++i) {
        const auto x = a.next(), y = b.next();
        REQUIRE(x.symbol == y.symbol);
        REQUIRE(x.price == y.price);
        REQUIRE(x.size == y.size);
        CHECK(x.symbol < 50);
        CHECK(x.price >= 1.0);
        CHECK(x.size >= 100);
        CHECK(x.size <= 1000);
    }
}

TEST_CASE("the feed's event time strictly increases and the same options give the same bytes", "[bench]") {
    feed_options o;
    o.ticks = 5000;
    o.symbols = 20;
    o.fast_ticks = 1000;
    o.fast_step_ns = 50'000;
    const tick_feed f = make_feed(o), g = make_feed(o);
    REQUIRE(f.size() == 5000);
    for (std::size_t i = 0; i < f.size(); ++i) REQUIRE(f.message(i) == g.message(i));
    CHECK(f.message(0).rfind("{\"symbol\":\"SYM00", 0) == 0);
    CHECK(f.last_ts() > 0);
}
