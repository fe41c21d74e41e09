// The rule for a name pasted into SQL text (table names from the config; values are always bound):
// a letter or '_', then letters, digits or '_', at most 63 bytes (PostgreSQL's limit, the smallest
// of the three databases). The config checks it when it loads, the SQL dialect before it quotes.
#pragma once

#include <string_view>

namespace tapewire {

// The rule in words, for error messages.
inline constexpr std::string_view k_identifier_rule = "a letter or '_', then letters, digits or '_', at most 63 bytes";

constexpr bool is_sql_identifier(std::string_view name) noexcept {
    constexpr auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    if (name.empty() || name.size() > 63 || !letter(name[0])) return false;
    for (char c : name)
        if (!letter(c) && !(c >= '0' && c <= '9')) return false;
    return true;
}

} // namespace tapewire
