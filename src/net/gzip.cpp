#include "src/net/gzip.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>

#include <boost/beast/core/string.hpp>
#include <zlib.h>

namespace tapewire::net {

namespace {

constexpr std::size_t k_chunk = 16 * 1024;
// zlib counts in uInt: feed it at most this much input at once.
constexpr std::size_t k_max_feed = std::numeric_limits<uInt>::max();

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// RFC 1950 header: CM = 8, and the first two bytes are a multiple of 31.
bool looks_like_zlib(std::string_view in) {
    if (in.size() < 2) return false;
    const auto b0 = static_cast<unsigned char>(in[0]);
    const auto b1 = static_cast<unsigned char>(in[1]);
    return (b0 & 0x0f) == 8 && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0;
}

struct inflater {
    z_stream zs{};
    bool live = false;
    explicit inflater(int window_bits) { live = inflateInit2(&zs, window_bits) == Z_OK; }
    ~inflater() {
        if (live) inflateEnd(&zs);
    }
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;
};

} // namespace

bool parse_content_coding(std::string_view header, content_coding& out) {
    const std::string_view v = trim(header);
    if (v.empty() || boost::beast::iequals(v, "identity")) {
        out = content_coding::identity;
    } else if (boost::beast::iequals(v, "gzip") || boost::beast::iequals(v, "x-gzip")) {
        out = content_coding::gzip;
    } else if (boost::beast::iequals(v, "deflate")) {
        out = content_coding::deflate;
    } else {
        return false;
    }
    return true;
}

inflate_status inflate_body(std::string_view in, content_coding coding, std::size_t max_out, std::string& out,
                            std::string& detail) {
    out.clear();
    if (coding == content_coding::identity) {
        if (in.size() > max_out) return inflate_status::too_large;
        out.assign(in);
        return inflate_status::ok;
    }
    // 15 + 16: gzip wrapper only; -15: raw deflate, for servers that send "deflate" without zlib's wrapper.
    const int bits = coding == content_coding::gzip ? 15 + 16 : (looks_like_zlib(in) ? 15 : -15);
    inflater z(bits);
    if (!z.live) {
        detail = "zlib: cannot initialise the inflater";
        return inflate_status::corrupt;
    }
    std::array<unsigned char, k_chunk> buf{};
    std::size_t pos = 0;
    for (;;) {
        if (z.zs.avail_in == 0 && pos < in.size()) {
            const std::size_t n = std::min(in.size() - pos, k_max_feed);
            z.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + pos));
            z.zs.avail_in = static_cast<uInt>(n);
            pos += n;
        }
        z.zs.next_out = buf.data();
        z.zs.avail_out = static_cast<uInt>(buf.size());
        const int rc = inflate(&z.zs, Z_NO_FLUSH);
        const std::size_t produced = buf.size() - z.zs.avail_out;
        if (produced > max_out - out.size()) return inflate_status::too_large;
        out.append(reinterpret_cast<const char*>(buf.data()), produced);

        if (rc == Z_STREAM_END) {
            const std::size_t left = z.zs.avail_in + (in.size() - pos);
            if (left == 0) return inflate_status::ok;
            // gzip allows several members back to back; anything else after the end is junk.
            const std::string_view rest = in.substr(in.size() - left);
            if (coding == content_coding::gzip && rest.size() >= 2 && static_cast<unsigned char>(rest[0]) == 0x1f &&
                static_cast<unsigned char>(rest[1]) == 0x8b) {
                inflateReset(&z.zs);
                continue;
            }
            detail = "zlib: " + std::to_string(left) + " bytes after the end of the stream";
            return inflate_status::corrupt;
        }
        if (rc == Z_BUF_ERROR && z.zs.avail_in == 0 && pos == in.size()) {
            detail = "zlib: the stream ends early";
            return inflate_status::corrupt;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            detail = std::string("zlib: ") + (z.zs.msg != nullptr ? z.zs.msg : "inflate failed");
            return inflate_status::corrupt;
        }
    }
}

std::string compress_body(std::string_view in, content_coding coding, int level) {
    if (coding == content_coding::identity) return std::string(in);
    z_stream zs{};
    const int bits = coding == content_coding::gzip ? 15 + 16 : 15;
    if (deflateInit2(&zs, level, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("zlib: cannot initialise the compressor");
    std::string out;
    std::array<unsigned char, k_chunk> buf{};
    std::size_t pos = 0;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (zs.avail_in == 0 && pos < in.size()) {
            const std::size_t n = std::min(in.size() - pos, k_max_feed);
            zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + pos));
            zs.avail_in = static_cast<uInt>(n);
            pos += n;
        }
        zs.next_out = buf.data();
        zs.avail_out = static_cast<uInt>(buf.size());
        rc = deflate(&zs, pos == in.size() ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_ERROR) {
            deflateEnd(&zs);
            throw std::runtime_error("zlib: deflate failed");
        }
        out.append(reinterpret_cast<const char*>(buf.data()), buf.size() - zs.avail_out);
    }
    deflateEnd(&zs);
    return out;
}

} // namespace tapewire::net
