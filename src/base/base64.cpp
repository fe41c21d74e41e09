#include "src/base/base64.hpp"

#include <array>
#include <cstdint>

namespace tapewire {

namespace {

constexpr std::string_view k_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t k_bad = 0xff;

constexpr std::array<std::uint8_t, 256> make_sextets() {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t) v = k_bad;
    for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(k_alphabet[i])] = i;
    return t;
}
constexpr auto k_sextet = make_sextets();

} // namespace

void base64_encode(std::string_view bytes, std::string& out) {
    out.resize((bytes.size() + 2) / 3 * 4);
    const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
    char* d = out.data();
    const std::size_t full = bytes.size() / 3 * 3;
    for (std::size_t i = 0; i < full; i += 3, d += 4) {
        const std::uint32_t v = std::uint32_t{s[i]} << 16 | std::uint32_t{s[i + 1]} << 8 | s[i + 2];
        d[0] = k_alphabet[v >> 18];
        d[1] = k_alphabet[v >> 12 & 63];
        d[2] = k_alphabet[v >> 6 & 63];
        d[3] = k_alphabet[v & 63];
    }
    if (const std::size_t rest = bytes.size() - full; rest != 0) {
        const std::uint32_t v = std::uint32_t{s[full]} << 16 | (rest == 2 ? std::uint32_t{s[full + 1]} << 8 : 0);
        d[0] = k_alphabet[v >> 18];
        d[1] = k_alphabet[v >> 12 & 63];
        d[2] = rest == 2 ? k_alphabet[v >> 6 & 63] : '=';
        d[3] = '=';
    }
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    base64_encode(bytes, out);
    return out;
}

bool base64_decode(std::string_view in, std::string& out) {
    std::size_t n = in.size();
    std::size_t pad = 0;
    if (n > 0 && in[n - 1] == '=') {
        pad = 1;
        if (n > 1 && in[n - 2] == '=') pad = 2;
    }
    if (pad != 0 && n % 4 != 0) return false;
    n -= pad;
    const std::size_t tail = n % 4;
    if (tail == 1) return false;
    out.resize(n / 4 * 3 + (tail == 0 ? 0 : tail - 1));

    const auto* s = reinterpret_cast<const unsigned char*>(in.data());
    auto* d = reinterpret_cast<unsigned char*>(out.data());
    const std::size_t full = n - tail;
    std::uint32_t bad = 0;
    for (std::size_t i = 0; i < full; i += 4) {
        const std::uint32_t a = k_sextet[s[i]], b = k_sextet[s[i + 1]], c = k_sextet[s[i + 2]], e = k_sextet[s[i + 3]];
        bad |= a | b | c | e; // any k_bad sets bit 7, which no valid sextet has
        const std::uint32_t v = (a << 18) | (b << 12) | (c << 6) | e;
        d[0] = static_cast<unsigned char>(v >> 16);
        d[1] = static_cast<unsigned char>(v >> 8);
        d[2] = static_cast<unsigned char>(v);
        d += 3;
    }
    if (tail != 0) {
        const std::uint32_t a = k_sextet[s[full]], b = k_sextet[s[full + 1]];
        const std::uint32_t c = tail == 3 ? k_sextet[s[full + 2]] : 0;
        bad |= a | b | c;
        const std::uint32_t v = (a << 18) | (b << 12) | (c << 6);
        d[0] = static_cast<unsigned char>(v >> 16);
        if (tail == 3) d[1] = static_cast<unsigned char>(v >> 8);
    }
    return (bad & 0x80) == 0;
}

} // namespace tapewire
