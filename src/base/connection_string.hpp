// ODBC connection strings as text ("Driver={X};Database=...;PWD={a;b}"): their attributes, the
// SQLite file they name, and a copy safe to print. Pure text: the SQL store, check-config and the run
// summary read connection strings through these.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tapewire {

// The Database= file of a SQLite connection string ("" when it is not one): the store creates its
// folder before connecting.
std::string sqlite_database_path(std::string_view connection_string);

// The attributes of an ODBC connection string ("Driver={X};PWD = {a;b};UID=u"): key lowercased and
// trimmed, value unbraced; [raw_begin, raw_end) is everything after the '=' up to the ';'.
struct connection_attribute {
    std::string key, value;
    std::size_t raw_begin = 0, raw_end = 0;
};
std::vector<connection_attribute> connection_attributes(std::string_view connection_string);
// The connection string with the values of PWD / Password replaced by "(hidden)", for printing.
std::string hide_connection_password(std::string_view connection_string);

} // namespace tapewire
