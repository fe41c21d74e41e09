#include "bench/common/args.hpp"

#include <algorithm>
#include <cmath>

#include "src/base/duration_text.hpp"

namespace tapewire::bench {

std::optional<double> read_decimal(std::string_view s) {
    if (s.empty() || s.front() == '-' || s.front() == '+') return std::nullopt;
    double v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::optional<std::pair<std::string, std::string>> read_key_value(std::string_view s) {
    const std::size_t eq = s.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    return std::pair<std::string, std::string>(s.substr(0, eq), s.substr(eq + 1));
}

option_value flag(bool& out, bool value) {
    return {[&out, value](std::string_view) {
                out = value;
                return true;
            },
            {}};
}

namespace {

option_value decimal_above(double& out, bool zero_ok) {
    return {[&out, zero_ok](std::string_view s) {
                const auto v = read_decimal(s);
                if (!v || (!zero_ok && *v == 0)) return false;
                out = *v;
                return true;
            },
            zero_ok ? "a decimal >= 0" : "a decimal > 0"};
}

} // namespace

option_value non_negative(double& out) { return decimal_above(out, true); }
option_value positive(double& out) { return decimal_above(out, false); }

option_value duration_value(duration& out, bool positive) {
    return {[&out, positive](std::string_view s) {
                const auto d = parse_duration(s);
                if (!d || (positive && d->count() <= 0)) return false;
                out = *d;
                return true;
            },
            positive ? "a duration > 0 such as 500ms or 2s" : "a duration such as 500ms, 2s or 0"};
}

option_value text(std::string& out) {
    return {[&out](std::string_view s) {
                out = s;
                return true;
            },
            "a text"};
}

option_value one_or_both(bool& first, bool& second, std::string first_name, std::string second_name) {
    std::string wants = first_name + ", " + second_name + " or both";
    return {[&first, &second, first_name = std::move(first_name),
             second_name = std::move(second_name)](std::string_view s) {
                if (s != first_name && s != second_name && s != "both") return false;
                first = s != second_name;
                second = s != first_name;
                return true;
            },
            std::move(wants)};
}

option_value key_value(std::vector<std::pair<std::string, std::string>>& out) {
    return {[&out](std::string_view s) {
                auto kv = read_key_value(s);
                if (!kv) return false;
                out.push_back(std::move(*kv));
                return true;
            },
            "KEY=VALUE"};
}

option_table::option_table(std::string command, std::string about)
    : command_(std::move(command)), about_(std::move(about)) {}

option_table& option_table::add(std::string_view spec, std::string help, option_value value) {
    const std::size_t space = spec.find(' ');
    option o;
    o.name = spec.substr(0, space);
    if (space != std::string_view::npos) o.metavar = spec.substr(space + 1);
    o.help = std::move(help);
    o.value = std::move(value);
    options_.push_back(std::move(o));
    return *this;
}

const option_table::option* option_table::find(std::string_view name) const {
    for (const option& o : options_)
        if (o.name == name) return &o;
    return nullptr;
}

std::optional<int> option_table::parse(int argc, char** argv, std::FILE* out, std::FILE* err) const {
    for (int i = 0; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            usage(out);
            return 0;
        }
        const option* o = find(arg);
        if (o == nullptr) {
            std::fprintf(err, "%s: unknown option %s\n", command_.c_str(), argv[i]);
            usage(err);
            return 2;
        }
        if (o->value.wants.empty()) { // a flag
            (void)o->value.read("");
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(err, "%s: %s needs a value: %s\n", command_.c_str(), argv[i], o->value.wants.c_str());
            return 2;
        }
        ++i;
        if (!o->value.read(argv[i])) {
            std::fprintf(err, "%s: bad value for %s: '%s' (wants %s)\n", command_.c_str(), argv[i - 1], argv[i],
                         o->value.wants.c_str());
            return 2;
        }
    }
    return std::nullopt;
}

std::string option_table::synopsis() const {
    constexpr std::size_t k_width = 110;
    const std::size_t indent = std::string("usage: ").size() + command_.size() + 1;
    std::string out = command_;
    std::size_t line = indent - 1;
    for (const option& o : options_) {
        const std::string item = "[" + o.name + (o.metavar.empty() ? "" : " " + o.metavar) + "]";
        if (line + 1 + item.size() > k_width) {
            out += "\n" + std::string(indent, ' ') + item;
            line = indent + item.size();
        } else {
            out += " " + item;
            line += 1 + item.size();
        }
    }
    return out;
}

std::string option_table::option_lines() const {
    std::size_t column = 0;
    for (const option& o : options_)
        column = std::max(column, o.name.size() + (o.metavar.empty() ? 0 : 1 + o.metavar.size()));
    column += 4; // two spaces before, at least two after
    std::string out;
    for (const option& o : options_) {
        std::string head = "  " + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
        head.resize(column, ' ');
        out += head;
        for (const char c : o.help) out += c == '\n' ? "\n" + std::string(column, ' ') : std::string(1, c);
        out += '\n';
    }
    return out;
}

void option_table::usage(std::FILE* to) const {
    std::fprintf(to, "usage: %s\n%s%s", synopsis().c_str(), about_.c_str(), option_lines().c_str());
}

} // namespace tapewire::bench
