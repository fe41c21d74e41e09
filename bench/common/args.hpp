// The command-line options of a bench subcommand, declared once in a table: each option's name,
// its line of help and what reads and checks its value. The same table parses argv, prints the
// usage and says what a bad value should have been.
//
//   option_table t("tapewire-bench graph");
//   t.add("--ticks N", "measured ticks (default 5000000)", whole(a.ticks, 1));
//   t.add("--json", "one JSON object instead of text", flag(a.json));
//   if (const auto exit_code = t.parse(argc, argv)) return *exit_code;
#pragma once

#include <charconv>
#include <concepts>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tapewire/config.hpp"

namespace tapewire::bench {

// ---- readers of one value: the whole text, nothing left over, or nullopt --------------------------

// A whole number of type T in decimal digits: no spaces, no '+', a '-' only for signed types.
template <std::integral T> [[nodiscard]] std::optional<T> read_integer(std::string_view s) {
    T v{};
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

// A finite decimal >= 0: "50000", "0.5", "1e6"; no sign, no spaces, no "inf" or "nan".
[[nodiscard]] std::optional<double> read_decimal(std::string_view s);

// "K=V" with a non-empty K (V may be empty or hold more '=').
[[nodiscard]] std::optional<std::pair<std::string, std::string>> read_key_value(std::string_view s);

// ---- what an option does with its value -----------------------------------------------------------

struct option_value {
    // Checks the value and stores it; false when it is bad (the target is then left as it was).
    std::function<bool(std::string_view)> read;
    // What a good value looks like, for the error message ("a whole number >= 1"); empty for a flag,
    // which takes no value and gets "" passed to `read`.
    std::string wants;
};

// A flag, no value: sets `out` to `value` (--json; --no-latency with false).
[[nodiscard]] option_value flag(bool& out, bool value = true);

// A whole number in [min, max].
template <std::integral T>
[[nodiscard]] option_value whole(T& out, T min = std::numeric_limits<T>::min(), T max = std::numeric_limits<T>::max()) {
    std::string wants = "a whole number";
    if (max != std::numeric_limits<T>::max())
        wants += " from " + std::to_string(min) + " to " + std::to_string(max);
    else if (min != std::numeric_limits<T>::min())
        wants += " >= " + std::to_string(min);
    return {[&out, min, max](std::string_view s) {
                const auto v = read_integer<T>(s);
                if (!v || *v < min || *v > max) return false;
                out = *v;
                return true;
            },
            std::move(wants)};
}

// A finite decimal >= 0.
[[nodiscard]] option_value non_negative(double& out);
// A finite decimal > 0.
[[nodiscard]] option_value positive(double& out);

// A duration as the config writes it ("500ms", "2s", "0"); when `positive`, not 0.
[[nodiscard]] option_value duration_value(duration& out, bool positive);

// Any text, stored as given.
[[nodiscard]] option_value text(std::string& out);

// One of a few names, each standing for a value of T.
template <class T> [[nodiscard]] option_value one_of(T& out, std::vector<std::pair<std::string, T>> choices) {
    std::string wants;
    for (std::size_t i = 0; i < choices.size(); ++i)
        wants += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i].first;
    return {[&out, choices = std::move(choices)](std::string_view s) {
                for (const auto& [name, v] : choices)
                    if (s == name) {
                        out = v;
                        return true;
                    }
                return false;
            },
            std::move(wants)};
}

// One of the words config.hpp names a kind with (kind_names): the same words as the config file.
template <named_kind Kind> [[nodiscard]] option_value kind_value(Kind& out) {
    std::vector<std::pair<std::string, Kind>> choices;
    for (const auto& [kind, name] : kind_names<Kind>::table) choices.emplace_back(name, kind);
    return one_of(out, std::move(choices));
}

// Which of two things to run: `first_name` sets only `first`, `second_name` only `second`, "both"
// both (--threads 1|2|both, --copy-format text|binary|both).
[[nodiscard]] option_value one_or_both(bool& first, bool& second, std::string first_name, std::string second_name);

// K=V, appended to `out` (the option may be given many times).
[[nodiscard]] option_value key_value(std::vector<std::pair<std::string, std::string>>& out);

// ---- the table ------------------------------------------------------------------------------------

class option_table {
public:
    // `command` starts the usage and every error ("tapewire-bench graph"); `about` follows the
    // synopsis in the usage (what the subcommand does), each line ending in '\n'.
    explicit option_table(std::string command, std::string about = {});

    // `spec` is the option and, unless it is a flag, the name of its value: "--ticks N", "--json".
    // `help` may span lines ('\n'); the usage indents them under the first.
    option_table& add(std::string_view spec, std::string help, option_value value);

    // Reads argv (the subcommand's arguments only). nullopt: carry on. Otherwise the exit code:
    // 0 after -h or --help (the usage on `out`), 2 after an unknown option, a missing value or a
    // bad one (the reason on `err`, and for an unknown option the usage).
    [[nodiscard]] std::optional<int> parse(int argc, char** argv, std::FILE* out = stdout,
                                           std::FILE* err = stderr) const;

    // "usage: <synopsis>", `about`, then one line per option.
    void usage(std::FILE* to) const;

    // "tapewire-bench graph [--ticks N] [--json] ...", wrapped at 110 columns under the first option.
    [[nodiscard]] std::string synopsis() const;

    // One line per option, "  --ticks N   measured ticks ...", the help in one column.
    [[nodiscard]] std::string option_lines() const;

private:
    struct option {
        std::string name, metavar, help;
        option_value value;
    };
    [[nodiscard]] const option* find(std::string_view name) const;

    std::string command_, about_;
    std::vector<option> options_;
};

} // namespace tapewire::bench
