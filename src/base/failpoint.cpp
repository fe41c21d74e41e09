#include "src/base/failpoint.hpp"

#include <cstdlib>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"

namespace tapewire {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

bool is_name(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
    return true;
}

failpoint parse_one(std::string_view entry) {
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos)
        throw std::invalid_argument("TAPEWIRE_FAILPOINTS: '" + std::string(entry) + "' is not name=action");
    failpoint fp;
    const std::string_view name = trim(entry.substr(0, eq));
    if (!is_name(name))
        throw std::invalid_argument("TAPEWIRE_FAILPOINTS: '" + std::string(name) +
                                    "' is not a failpoint name (a-z, 0-9, '.', '_', '-')");
    fp.name = std::string(name);
    std::string_view action = trim(entry.substr(eq + 1));
    if (const std::size_t open = action.find('('); open != std::string_view::npos) {
        if (action.back() != ')') throw std::invalid_argument("TAPEWIRE_FAILPOINTS: " + fp.name + ": '(' without ')'");
        fp.argument = std::string(action.substr(open + 1, action.size() - open - 2));
        action = action.substr(0, open);
    }
    if (action == "throw")
        fp.action = failpoint_action::throw_error;
    else if (action == "abort")
        fp.action = failpoint_action::abort;
    else
        throw std::invalid_argument("TAPEWIRE_FAILPOINTS: " + fp.name + ": unknown action '" + std::string(action) +
                                    "' (throw, abort)");
    return fp;
}

const std::vector<failpoint>& from_environment() {
    static const std::vector<failpoint> points = [] {
        const char* spec = std::getenv("TAPEWIRE_FAILPOINTS");
        return spec != nullptr ? parse_failpoints(spec) : std::vector<failpoint>{};
    }();
    return points;
}

} // namespace

void failpoint::fire() const {
    log::warn(
        "failpoint", "fired",
        {{"point", name}, {"action", action == failpoint_action::abort ? "abort" : "throw"}, {"mono_ns", mono_ns()}});
    if (action == failpoint_action::abort) std::abort();
    throw failpoint_error("failpoint " + name);
}

std::vector<failpoint> parse_failpoints(std::string_view spec) {
    std::vector<failpoint> out;
    while (!spec.empty()) {
        const std::size_t semi = spec.find(';');
        const std::string_view entry = trim(spec.substr(0, semi));
        spec = semi == std::string_view::npos ? std::string_view{} : spec.substr(semi + 1);
        if (entry.empty()) continue;
        failpoint fp = parse_one(entry);
        for (const failpoint& seen : out)
            if (seen.name == fp.name) throw std::invalid_argument("TAPEWIRE_FAILPOINTS: " + fp.name + " set twice");
        out.push_back(std::move(fp));
    }
    return out;
}

const failpoint* find_failpoint(std::string_view name) {
    for (const failpoint& fp : from_environment())
        if (fp.name == name) return &fp;
    return nullptr;
}

} // namespace tapewire
