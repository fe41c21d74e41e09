// HTTP content codings on zlib: inflate a gzip or deflate body under a size cap, and the matching
// compressor (for the local test server).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tapewire::net {

enum class content_coding {
    identity,
    gzip,    // RFC 1952, one or more members
    deflate, // RFC 1950 zlib stream; the raw RFC 1951 form some servers send is accepted too
};

// Maps a Content-Encoding value ("gzip", "x-gzip", "deflate", "identity", "", any case) to a
// coding; false for codings we cannot decode ("br", "zstd", lists of several).
bool parse_content_coding(std::string_view header, content_coding& out);

enum class inflate_status { ok, too_large, corrupt };

// Decodes `in` into `out` (replaced). too_large as soon as the output would pass `max_out` bytes;
// corrupt for a bad or incomplete stream, with zlib's reason in `detail`.
inflate_status inflate_body(std::string_view in, content_coding coding, std::size_t max_out, std::string& out,
                            std::string& detail);

// Compresses `in` as gzip or zlib-wrapped deflate (identity: a copy).
std::string compress_body(std::string_view in, content_coding coding, int level = 6);

} // namespace tapewire::net
