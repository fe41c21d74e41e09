// Failpoints: read from TAPEWIRE_FAILPOINTS's text, off unless set, and a fired one throws naming itself.
#include <catch2/catch.hpp>

#include <cstdint>

#include "src/base/clock.hpp"
#include "src/base/failpoint.hpp"
#include "src/base/log.hpp"

using namespace tapewire;

TEST_CASE("failpoints read from their text, and refuse what does not read", "[failpoint]") {
    const auto points = parse_failpoints(" fetch.io_thread=throw(500ms) ; sql.commit=abort;");
    REQUIRE(points.size() == 2);
    CHECK(points[0].name == "fetch.io_thread");
    CHECK(points[0].action == failpoint_action::throw_error);
    CHECK(points[0].argument == "500ms");
    CHECK(points[1].name == "sql.commit");
    CHECK(points[1].action == failpoint_action::abort);
    CHECK(points[1].argument.empty());
    CHECK(parse_failpoints("").empty());

    CHECK_THROWS_WITH(parse_failpoints("fetch.io_thread"), Catch::Contains("not name=action"));
    CHECK_THROWS_WITH(parse_failpoints("fetch.io_thread=explode"), Catch::Contains("unknown action 'explode'"));
    CHECK_THROWS_WITH(parse_failpoints("Fetch=throw"), Catch::Contains("not a failpoint name"));
    CHECK_THROWS_WITH(parse_failpoints("a=throw(1s"), Catch::Contains("'(' without ')'"));
    CHECK_THROWS_WITH(parse_failpoints("a=throw;a=abort"), Catch::Contains("a set twice"));
}

TEST_CASE("a failpoint set to throw logs the time and throws failpoint_error naming itself; unset ones are absent",
          "[failpoint]") {
    const auto points = parse_failpoints("x.y=throw");
    log::capture logged;
    const std::int64_t before = mono_ns();
    CHECK_THROWS_AS(points[0].fire(), failpoint_error);
    CHECK_THROWS_WITH(points[0].fire(), "failpoint x.y");
    const auto fired = logged.with("failpoint", "mono_ns");
    REQUIRE(fired.size() == 2);
    CHECK(fired[0].find("point")->text == "x.y");
    CHECK(fired[0].find("action")->text == "throw");
    CHECK(fired[0].find("mono_ns")->integer >= before);
    CHECK(fired[0].find("mono_ns")->integer <= mono_ns());
    // The test binary runs without TAPEWIRE_FAILPOINTS: no point is armed.
    CHECK(find_failpoint("fetch.io_thread") == nullptr);
}
