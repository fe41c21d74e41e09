#include "operators/checkpoint.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <vector>

#include "operators/anomaly.hpp"
#include "operators/vwap.hpp"
#include "operators/window.hpp"

namespace tapewire {

namespace {

constexpr char k_magic[4] = {'T', 'W', 'C', 'P'};
constexpr std::size_t k_header_bytes = 48;
constexpr std::size_t k_checksum_at = 32;
constexpr std::size_t k_symbol_bytes = 16;

constexpr std::uint64_t k_p1 = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t k_p2 = 0xC2B2AE3D27D4EB4FULL;

std::uint64_t load_le64(const unsigned char* p) noexcept {
    std::uint64_t x;
    std::memcpy(&x, p, sizeof x);
    return detail::to_little_endian(x);
}

std::uint64_t finish(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

// A 64-bit integrity check over `data`: sixteen independent lanes of 8-byte words (independent, so
// the multiplies overlap; about 5 bytes a cycle). Each step, (l ^ w) * odd then an xor-shift, is a
// bijection of the lane for a fixed word and of the word for a fixed lane, so any change confined to
// one word always changes the result; other changes escape with probability about 2^-64. Not a
// defence against deliberate tampering.
std::uint64_t checksum(std::string_view data, std::uint64_t seed) noexcept {
    constexpr std::size_t k_lanes = 16, k_block = 8 * k_lanes;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();
    std::uint64_t lane[k_lanes];
    for (std::size_t j = 0; j < k_lanes; ++j) lane[j] = seed ^ (k_p2 * (j + 1));
    auto step = [](std::uint64_t l, std::uint64_t w) noexcept {
        l = (l ^ w) * k_p1;
        return l ^ (l >> 29);
    };
    std::size_t i = 0;
    for (; i + k_block <= n; i += k_block)
        for (std::size_t j = 0; j < k_lanes; ++j) lane[j] = step(lane[j], load_le64(p + i + 8 * j));
    unsigned char tail[k_block] = {};
    std::copy(p + i, p + n, tail);
    for (std::size_t j = 0; j < k_lanes; ++j) lane[j] = step(lane[j], load_le64(tail + 8 * j));
    std::uint64_t h = finish(n ^ k_p2);
    for (std::size_t j = 0; j < k_lanes; ++j) h ^= finish(lane[j] + j * k_p2);
    return finish(h);
}

// The checksum covers every byte but its own.
std::uint64_t blob_checksum(std::string_view blob) noexcept {
    return checksum(blob.substr(k_checksum_at + 8), checksum(blob.substr(0, k_checksum_at), 0));
}

// "1s", "250ms", "1500us", "7ns".
std::string duration_text(std::int64_t ns) {
    if (ns != 0 && ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
    if (ns != 0 && ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    if (ns != 0 && ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
    return std::to_string(ns) + "ns";
}

void begin_section(checkpoint_writer& out, const char (&tag)[5], std::size_t& size_at) {
    out.bytes(std::string_view(tag, 4));
    size_at = out.size();
    out.u64(0);
}

void end_section(checkpoint_writer& out, std::size_t size_at) { out.patch_u64(size_at, out.size() - size_at - 8); }

// The body's sections by tag, with the format version each first appeared in. Adding one: a row
// here (since = the version that brings it), its save in save_partition_state, its read in restore.
// An optional section may be missing from a blob of its version (one written before it was added).
struct section_kind {
    char tag[5];
    std::uint16_t since;
    bool optional = false;
};
enum section_index : std::size_t { k_wndw, k_clck, k_barm, k_lane, k_vwap, k_anom, k_section_count };
constexpr section_kind k_sections[k_section_count] = {{"WNDW", 1},       {"CLCK", 2}, {"BARM", 2, true},
                                                      {"LANE", 2, true}, {"VWAP", 1}, {"ANOM", 1}};

// Reads the section table to the end of the body: a reader over each section's bytes, by index.
// Refuses an unknown tag, a tag twice, a section missing from `version` or newer than it.
std::array<std::optional<checkpoint_reader>, k_section_count> read_sections(checkpoint_reader& in,
                                                                            std::uint16_t version) {
    std::array<std::optional<checkpoint_reader>, k_section_count> out;
    while (in.left() > 0) {
        const std::string_view tag = in.bytes(4, "section tag");
        const auto* kind = std::find_if(std::begin(k_sections), std::end(k_sections),
                                        [tag](const section_kind& k) { return tag == std::string_view(k.tag, 4); });
        if (kind == std::end(k_sections)) in.fail("unknown section \"" + std::string(tag) + "\" (a newer build's?)");
        const auto i = static_cast<std::size_t>(kind - std::begin(k_sections));
        if (out[i]) in.fail(std::string("section ") + kind->tag + " twice");
        if (kind->since > version)
            in.fail(std::string("section ") + kind->tag + " in a format-" + std::to_string(version) + " checkpoint");
        const std::uint64_t size = in.u64();
        if (size > in.left()) in.fail(std::string("truncated: section ") + kind->tag + " runs past the end");
        const std::size_t start = in.position();
        out[i].emplace(in.bytes(static_cast<std::size_t>(size), kind->tag), start);
    }
    for (std::size_t i = 0; i < k_section_count; ++i)
        if (!out[i] && k_sections[i].since <= version && !k_sections[i].optional)
            in.fail(std::string("no section ") + k_sections[i].tag);
    return out;
}

} // namespace

std::uint64_t detail::checkpoint_checksum(std::string_view blob) noexcept { return blob_checksum(blob); }

void checkpoint_writer::sym(const symbol& s) {
    char* p = room(k_symbol_bytes);
    std::memset(p, 0, k_symbol_bytes);
    const std::string_view v = s.view();
    std::copy(v.begin(), v.end(), p);
}

void checkpoint_writer::patch_u64(std::size_t at, std::uint64_t x) noexcept {
    x = detail::to_little_endian(x);
    std::memcpy(out_->data() + at, &x, sizeof x);
}

void checkpoint_writer::grow(std::size_t n) { out_->resize(std::max({out_->size() * 2, pos_ + n, std::size_t{4096}})); }

bool checkpoint_reader::boolean() {
    const std::uint8_t x = u8();
    if (x > 1) fail("a flag that is neither 0 nor 1");
    return x == 1;
}

symbol checkpoint_reader::sym() {
    const std::string_view b = bytes(k_symbol_bytes, "symbol");
    std::size_t len = 0;
    while (len < symbol::k_max_size && b[len] != '\0') ++len;
    for (std::size_t i = len; i < k_symbol_bytes; ++i)
        if (b[i] != '\0') fail("a symbol that is not zero padded");
    if (len == 0) fail("an empty symbol");
    return symbol::from(b.substr(0, len));
}

std::string_view checkpoint_reader::bytes(std::size_t n, const char* what) {
    if (left() < n) fail(std::string("truncated: ") + what + " past the end");
    const std::string_view v = b_.substr(pos_, n);
    pos_ += n;
    return v;
}

std::uint32_t checkpoint_reader::count(std::size_t record_bytes, const char* what) {
    const std::uint32_t n = u32();
    if (record_bytes > 0 && n > left() / record_bytes)
        fail(std::string("truncated: ") + std::to_string(n) + " " + what + " do not fit in the bytes left");
    return n;
}

void checkpoint_reader::expect_end(const char* what) const {
    if (left() != 0) fail(std::to_string(left()) + " unread bytes at the end of the " + what);
}

void checkpoint_reader::fail(const std::string& what) const {
    throw std::runtime_error("checkpoint: " + what + " (at byte " + std::to_string(position()) + ")");
}

void save_partition_state(const window_stage& w, const vwap_stage& v, const anomaly_stage& a, std::int32_t partition,
                          std::string& out) {
    if (partition < 0) throw std::invalid_argument("checkpoint: negative partition " + std::to_string(partition));
    // The window stage keeps a list of each partition's symbols: no scan of all symbols.
    std::vector<symbol> syms;
    w.partition_symbols(partition, syms);

    out.clear();
    checkpoint_writer o(out); // grows `out` ahead, zero filled; finish() trims it
    o.bytes(std::string_view(k_magic, 4));
    o.u16(k_checkpoint_version);
    o.u16(static_cast<std::uint16_t>(k_header_bytes));
    o.i32(partition);
    o.u32(static_cast<std::uint32_t>(syms.size()));
    o.i64(w.width_ns());
    const std::size_t body_size_at = o.size();
    o.u64(0); // body size
    o.u64(0); // checksum
    o.u64(0); // reserved

    for (const symbol& s : syms) o.sym(s);
    std::size_t at = 0;
    begin_section(o, "WNDW", at);
    w.save_checkpoint(partition, syms, o);
    end_section(o, at);
    begin_section(o, "CLCK", at);
    w.save_clocks(syms, o);
    end_section(o, at);
    begin_section(o, "BARM", at);
    w.save_bar_memory(syms, o);
    end_section(o, at);
    if (w.widths_ns().size() > 1) { // one width: the blob of a build without lanes, byte for byte
        begin_section(o, "LANE", at);
        w.save_lanes(syms, o);
        end_section(o, at);
    }
    begin_section(o, "VWAP", at);
    v.save_checkpoint(syms, o);
    end_section(o, at);
    begin_section(o, "ANOM", at);
    a.save_checkpoint(syms, o);
    end_section(o, at);

    o.finish();
    o.patch_u64(body_size_at, out.size() - k_header_bytes);
    o.patch_u64(k_checksum_at, blob_checksum(out));
}

std::string save_partition_state(const window_stage& w, const vwap_stage& v, const anomaly_stage& a,
                                 std::int32_t partition) {
    std::string out;
    save_partition_state(w, v, a, partition, out);
    return out;
}

void clear_partition_state(window_stage& w, vwap_stage& v, anomaly_stage& a, std::int32_t partition, timestamp_ns now) {
    // The state of a partition never seen: a stage pair that has seen nothing, with this width.
    window_options o;
    o.width_ns = w.width_ns();
    o.per_symbol = w.per_symbol();
    o.widths_ns = w.widths_ns();
    const window_stage none_w(o);
    const vwap_stage none_v{vwap_options{}};
    const anomaly_stage none_a{anomaly_options{}};
    restore_partition_state(w, v, a, partition, save_partition_state(none_w, none_v, none_a, partition), now);
}

restore_report restore_partition_state(window_stage& w, vwap_stage& v, anomaly_stage& a, std::int32_t partition,
                                       std::string_view bytes, timestamp_ns now) {
    const std::string context = "restoring partition " + std::to_string(partition) + ": ";
    if (partition < 0) throw std::invalid_argument(context + "negative partition");
    std::vector<symbol> syms;
    std::array<std::optional<checkpoint_reader>, k_section_count> sections;
    restore_report report;
    report.per_symbol = w.per_symbol();
    try {
        checkpoint_reader in(bytes);
        if (bytes.size() < 4 || bytes.substr(0, 4) != std::string_view(k_magic, 4))
            in.fail("not a tapewire operator checkpoint (no \"TWCP\" magic, " + std::to_string(bytes.size()) +
                    " bytes)");
        (void)in.bytes(4, "magic");
        const std::uint16_t version = in.u16();
        if (version < k_checkpoint_oldest_version || version > k_checkpoint_version)
            in.fail("format version " + std::to_string(version) + ", this build reads versions " +
                    std::to_string(k_checkpoint_oldest_version) + " to " + std::to_string(k_checkpoint_version));
        report.from_version = version;
        const std::uint16_t header_size = in.u16();
        if (header_size != k_header_bytes) in.fail("header size " + std::to_string(header_size) + ", expected 48");
        if (bytes.size() < k_header_bytes) in.fail("truncated header");
        const std::int32_t saved_partition = in.i32();
        const std::uint32_t n_symbols = in.u32();
        const std::int64_t width = in.i64();
        const std::uint64_t body_size = in.u64();
        const std::uint64_t sum = in.u64();
        (void)in.u64(); // reserved
        if (body_size != bytes.size() - k_header_bytes)
            in.fail(bytes.size() - k_header_bytes < body_size
                        ? "truncated: body of " + std::to_string(bytes.size() - k_header_bytes) + " bytes, saved " +
                              std::to_string(body_size)
                        : std::to_string(bytes.size() - k_header_bytes - body_size) + " bytes after the end");
        if (sum != blob_checksum(bytes)) in.fail("checksum mismatch: the bytes are corrupted");
        if (saved_partition != partition) in.fail("saved for partition " + std::to_string(saved_partition));
        if (width != w.width_ns())
            in.fail("saved with window width " + duration_text(width) + ", configured " + duration_text(w.width_ns()));

        if (n_symbols > in.left() / k_symbol_bytes) in.fail("truncated: symbol list past the end");
        syms.reserve(n_symbols);
        for (std::uint32_t i = 0; i < n_symbols; ++i) syms.push_back(in.sym());
        {
            std::vector<symbol> sorted = syms;
            std::sort(sorted.begin(), sorted.end());
            if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) in.fail("a symbol listed twice");
        }
        sections = read_sections(in, version);
        report.symbols = n_symbols;

        // Check every section before touching anything.
        auto check = sections;
        report.saved_per_symbol = w.restore_checkpoint(partition, syms, *check[k_wndw],
                                                       check[k_clck] ? &*check[k_clck] : nullptr, false, now);
        w.restore_bar_memory(syms, check[k_barm] ? &*check[k_barm] : nullptr, false);
        report.bar_memory_missing = !check[k_barm] && n_symbols > 0 && w.bar_memory_ns() > 0;
        w.restore_lanes(syms, check[k_lane] ? &*check[k_lane] : nullptr, false);
        v.restore_checkpoint(syms, *check[k_vwap], false);
        a.restore_checkpoint(syms, *check[k_anom], false);
        check[k_vwap]->expect_end("vwap section");
        check[k_anom]->expect_end("anomaly section");
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(context + e.what());
    }

    // Apply: the same reads on bytes that passed, so nothing throws here but std::bad_alloc.
    std::vector<symbol> old;
    w.partition_symbols(partition, old);
    v.forget(old);
    a.forget(old);
    w.restore_checkpoint(partition, syms, *sections[k_wndw], sections[k_clck] ? &*sections[k_clck] : nullptr, true,
                         now);
    w.restore_bar_memory(syms, sections[k_barm] ? &*sections[k_barm] : nullptr, true);
    w.restore_lanes(syms, sections[k_lane] ? &*sections[k_lane] : nullptr, true);
    v.restore_checkpoint(syms, *sections[k_vwap], true);
    a.restore_checkpoint(syms, *sections[k_anom], true);
    return report;
}

} // namespace tapewire
