// Failpoints: named places where a test makes the engine fail on purpose (an io thread that throws,
// a crash between two writes), to prove the failure is handled. Off unless the environment says:
//
//   TAPEWIRE_FAILPOINTS="fetch.io_thread=throw(500ms)"
//
// `name=action` or `name=action(argument)`, several separated by ';'. Actions: `throw` (failpoint_error)
// and `abort` (std::abort). The argument is the site's to read (fetch.io_thread: how long after
// the start). A site looks its point up once, when it is built, and keeps the pointer: null (the
// usual case) costs nothing after that. docs/design.md lists the points.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tapewire {

enum class failpoint_action { throw_error, abort };

struct failpoint {
    std::string name;
    failpoint_action action = failpoint_action::throw_error;
    std::string argument;

    // Does what the point says: throws failpoint_error or aborts. Logs it first (component
    // "failpoint", fields point, action, mono_ns: CLOCK_MONOTONIC), so a test can time what follows.
    [[noreturn]] void fire() const;
};

class failpoint_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// TAPEWIRE_FAILPOINTS's text as points. Throws std::invalid_argument naming what does not read.
[[nodiscard]] std::vector<failpoint> parse_failpoints(std::string_view spec);

// The point `name` as TAPEWIRE_FAILPOINTS sets it (read once, at the first call), or null.
// Throws std::invalid_argument when the variable does not read.
[[nodiscard]] const failpoint* find_failpoint(std::string_view name);

} // namespace tapewire
