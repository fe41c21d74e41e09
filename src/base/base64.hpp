// Base64 (RFC 4648, standard alphabet) for the whole engine: the SQL store's operator-state column
// and the Yahoo streamer's frames. Both functions write into a caller's string whose capacity is
// reused, so a hot loop that keeps its buffer allocates nothing once the buffer has grown.
#pragma once

#include <string>
#include <string_view>

namespace tapewire {

// `out` becomes the padded encoding of `bytes` ("f" → "Zg==").
void base64_encode(std::string_view bytes, std::string& out);
[[nodiscard]] std::string base64_encode(std::string_view bytes);

// Padding is optional ("QQ" and "QQ==" both give "A"), but when present it ends the input and makes
// its length a multiple of 4. Whitespace, the URL-safe alphabet (- _) and a lone trailing character
// (length % 4 == 1) are rejected: both callers read one unbroken string, so anything else is damage.
// Non-zero bits in the last character's unused tail are ignored, as Python's b64decode (yfinance)
// does. `out` is resized to the decoded length. Returns false, with `out` unspecified, on bad input.
[[nodiscard]] bool base64_decode(std::string_view in, std::string& out);

} // namespace tapewire
