// What every bench does around its figures: progress lines while it runs, the check that refuses
// a run whose counts are off, and the small formatters of its text and JSON output.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace tapewire::bench {

// A bench that cannot produce a valid result (a phase read the wrong number of messages, a server
// did not start): the subcommand prints it and exits 1 instead of reporting figures.
struct failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The counts of one run, checked before anything is reported: a run whose counts are off is an
// error, not a result.
//   count_check("bare consumer").equal("messages", r.messages, expected).equal("errors", errors, 0).enforce();
// throws failure("bare consumer: messages 999 (expected 1000), errors 0").
class count_check {
public:
    explicit count_check(std::string what) : what_(std::move(what)) {}

    count_check& equal(std::string_view name, std::uint64_t got, std::uint64_t want);
    count_check& at_least(std::string_view name, std::uint64_t got, std::uint64_t want);

    [[nodiscard]] bool ok() const noexcept { return ok_; }
    // "what: name got (expected want), name got, ...": every count checked, the wrong ones marked.
    [[nodiscard]] std::string message() const;
    // Throws failure(message()) unless every count was right.
    void enforce() const;

private:
    count_check& check(std::string_view name, std::uint64_t got, bool right, std::string_view expected);

    std::string what_, counts_;
    bool ok_ = true;
};

// A progress line on stderr, flushed at once; nothing under --json (`json` true), where stdout
// carries one JSON object and a script reads the run's outcome from it alone.
void progress(bool json, const char* format, ...) __attribute__((format(printf, 2, 3)));

// printf into a std::string (up to 511 characters).
[[nodiscard]] std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));

// A JSON number with a fixed number of decimals: json_number(1234.5) = "1235", (0.12345, 4) = "0.1235".
[[nodiscard]] std::string json_number(double v, int decimals = 0);

} // namespace tapewire::bench
