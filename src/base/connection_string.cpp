#include "src/base/connection_string.hpp"

#include <cctype>

namespace tapewire {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

} // namespace

std::vector<connection_attribute> connection_attributes(std::string_view cs) {
    std::vector<connection_attribute> out;
    std::size_t i = 0;
    while (i < cs.size()) {
        const std::size_t eq = cs.find('=', i);
        if (eq == std::string_view::npos) break;
        connection_attribute a;
        a.key = lower(cs.substr(i, eq - i));
        a.key.erase(0, a.key.find_first_not_of(' '));
        a.key.erase(a.key.find_last_not_of(' ') + 1);
        a.raw_begin = eq + 1;
        std::size_t j = eq + 1;
        while (j < cs.size() && cs[j] == ' ') ++j;
        if (j < cs.size() && cs[j] == '{') { // a braced value may hold ';'
            const std::size_t close = cs.find('}', j + 1);
            const std::size_t end = close == std::string_view::npos ? cs.size() : close;
            a.value = std::string(cs.substr(j + 1, end - j - 1));
            j = cs.find(';', end);
        } else {
            j = cs.find(';', j);
            a.value = std::string(cs.substr(a.raw_begin, j == std::string_view::npos ? j : j - a.raw_begin));
            a.value.erase(0, a.value.find_first_not_of(' '));
        }
        a.raw_end = j == std::string_view::npos ? cs.size() : j;
        out.push_back(std::move(a));
        if (j == std::string_view::npos) break;
        i = j + 1;
    }
    return out;
}

std::string sqlite_database_path(std::string_view connection_string) {
    std::string driver, database;
    for (const auto& a : connection_attributes(connection_string)) {
        if (a.key == "driver") driver = lower(a.value);
        if (a.key == "database") database = a.value;
    }
    return driver.find("sqlite") != std::string::npos ? database : std::string{};
}

std::string hide_connection_password(std::string_view connection_string) {
    std::string out(connection_string);
    const auto attrs = connection_attributes(connection_string);
    for (auto it = attrs.rbegin(); it != attrs.rend(); ++it) // from the back: spans stay valid
        if (it->key == "pwd" || it->key == "password")
            out.replace(it->raw_begin, it->raw_end - it->raw_begin, "(hidden)");
    return out;
}

} // namespace tapewire
