// A ticker symbol stored inline: at most 15 bytes, zero padded, compared and hashed as two words.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>

namespace tapewire {

class symbol {
public:
    static constexpr std::size_t k_max_size = 15;

    constexpr symbol() noexcept = default;

    // Returns false (and leaves the symbol empty) when `s` is empty or longer than k_max_size.
    [[nodiscard]] bool assign(std::string_view s) noexcept {
        words_[0] = words_[1] = 0;
        if (s.empty() || s.size() > k_max_size) return false;
        std::memcpy(bytes(), s.data(), s.size());
        return true;
    }

    // For tests and literals; an invalid string gives the empty symbol.
    static symbol from(std::string_view s) noexcept {
        symbol out;
        (void)out.assign(s);
        return out;
    }

    [[nodiscard]] std::string_view view() const noexcept {
        const char* p = bytes();
        return {p, ::strnlen(p, k_max_size)};
    }
    [[nodiscard]] bool empty() const noexcept { return words_[0] == 0; }
    [[nodiscard]] std::uint64_t hash() const noexcept {
        // Murmur-style finaliser over both words: cheap and well mixed for short tickers.
        std::uint64_t h = words_[0] * 0x9E3779B97F4A7C15ULL ^ (words_[1] + 0x632BE59BD9B4E019ULL);
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDULL;
        h ^= h >> 33;
        return h;
    }

    friend bool operator==(const symbol& a, const symbol& b) noexcept {
        return a.words_[0] == b.words_[0] && a.words_[1] == b.words_[1];
    }
    friend bool operator<(const symbol& a, const symbol& b) noexcept { return a.view() < b.view(); }

private:
    char* bytes() noexcept { return reinterpret_cast<char*>(words_); }
    const char* bytes() const noexcept { return reinterpret_cast<const char*>(words_); }

    std::uint64_t words_[2]{0, 0};
};

static_assert(sizeof(symbol) == 16);

} // namespace tapewire

template <> struct std::hash<tapewire::symbol> {
    std::size_t operator()(const tapewire::symbol& s) const noexcept { return s.hash(); }
};
