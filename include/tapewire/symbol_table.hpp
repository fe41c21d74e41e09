// Symbol → dense id (0, 1, 2, ... in order of first appearance), open addressing with linear
// probing. Ids index per-symbol state vectors, so a stage does one hash probe per event and no
// allocation once every symbol has been seen.
#pragma once

#include <cstdint>
#include <vector>

#include "tapewire/symbol.hpp"

namespace tapewire {

class symbol_table {
public:
    static constexpr std::uint32_t k_none = 0xFFFFFFFFu;

    explicit symbol_table(std::size_t expected = 1024) { rehash(capacity_for(expected)); }

    // The id of `s`, adding it when new. `added` tells which.
    std::uint32_t intern(const symbol& s, bool& added) {
        std::size_t i = s.hash() & mask_;
        for (;;) {
            const std::uint32_t id = slots_[i];
            if (id == k_none) break;
            if (symbols_[id] == s) {
                added = false;
                return id;
            }
            i = (i + 1) & mask_;
        }
        added = true;
        const auto id = static_cast<std::uint32_t>(symbols_.size());
        symbols_.push_back(s);
        slots_[i] = id;
        if (symbols_.size() * 2 > slots_.size()) rehash(slots_.size() * 2);
        return id;
    }

    [[nodiscard]] std::uint32_t find(const symbol& s) const noexcept {
        std::size_t i = s.hash() & mask_;
        for (;;) {
            const std::uint32_t id = slots_[i];
            if (id == k_none || symbols_[id] == s) return id;
            i = (i + 1) & mask_;
        }
    }

    [[nodiscard]] const symbol& at(std::uint32_t id) const noexcept { return symbols_[id]; }
    [[nodiscard]] std::size_t size() const noexcept { return symbols_.size(); }

private:
    static std::size_t capacity_for(std::size_t n) {
        std::size_t c = 16;
        while (c < n * 2) c *= 2;
        return c;
    }

    void rehash(std::size_t cap) {
        slots_.assign(cap, k_none);
        mask_ = cap - 1;
        symbols_.reserve(cap / 2);
        for (std::uint32_t id = 0; id < symbols_.size(); ++id) {
            std::size_t i = symbols_[id].hash() & mask_;
            while (slots_[i] != k_none) i = (i + 1) & mask_;
            slots_[i] = id;
        }
    }

    std::vector<std::uint32_t> slots_;
    std::vector<symbol> symbols_;
    std::size_t mask_ = 0;
};

} // namespace tapewire
