// Loads the TOML configuration (plus `--set key=value` overrides) into the structs of
// tapewire/config.hpp and validates all of it up front, so a bad value stops the program before it
// starts instead of surfacing in some stage later.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/config.hpp"

namespace tapewire {

// what() is "FILE:LINE: KEY: MESSAGE"; the line is left out when unknown and the key when there is
// none (a file that cannot be read, a TOML syntax error). Overrides report the file "--set" as
// "--set KEY: MESSAGE".
struct config_error : std::runtime_error {
    config_error(std::string file, int line, std::string key, std::string message);

    std::string file;
    int line = 0;    // 1-based, 0 = unknown
    std::string key; // dotted, e.g. "window.width"
    std::string message;
};

// Each override is "dotted.key=value"; the value is read as a TOML value ("2", "true",
// "[\"A\",\"B\"]", "\"x\"") and, when it is not one (or a text field gets a non-text value), as the
// raw text ("2s", "-", "data/x.ndjson").
[[nodiscard]] config load_config_file(const std::string& path, const std::vector<std::string>& overrides = {});
[[nodiscard]] config load_config_text(std::string_view toml_text, const std::string& file_name,
                                      const std::vector<std::string>& overrides = {});

// The built-in defaults of config.hpp (file = "").
[[nodiscard]] config default_config();

// The effective configuration as TOML, every key included; loading it back gives the same config.
[[nodiscard]] std::string describe_config(const config& c);

} // namespace tapewire
