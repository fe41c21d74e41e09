// checkpoint: exact save and restore of the operator state of one input partition, so that a process
// that restarts (or takes the partition over) from a saved state and the offset saved with it emits
// bit for bit the bars and alerts an uninterrupted run would have.
//
// The state of a partition is the window stage's partition state (max_ts, watermarks, next offset)
// and, for every symbol of the partition (symbols are keyed to one partition), its open windows,
// its retained closed windows (late corrections), its vwap history and its anomaly state. Config
// (window options other than the width, vwap options and calendar, anomaly options) is not state and
// is not saved. Processing time is not saved either: the partition's last_seen (idle_timeout)
// restarts from the `now` of the restoring process.
//
// Encoding, version 2. Little-endian, fixed-width fields, doubles as their IEEE-754 bit pattern.
//
//   header (48 bytes)
//     0  u8[4]  magic "TWCP"
//     4  u16    format version (2; 1 is still read, see below; any other is refused before anything
//               else is read)
//     6  u16    header size (48)
//     8  i32    partition
//    12  u32    symbol count
//    16  i64    window width, ns (a restore with another configured width is refused)
//    24  u64    body size, bytes
//    32  u64    checksum of every other byte, header and body (a 64-bit mixing hash: detects
//               truncation and corruption, not tampering)
//    40  u64    reserved (0)
//   body
//     symbols   count x symbol (16 bytes: the name, zero padded), in the saving window stage's id order
//     sections  a table of tagged sections to the end of the body, each: u8[4] tag, u64 size, then
//               the stage's data (save_checkpoint in operators/window.cpp, vwap.cpp, anomaly.cpp),
//               with one record per symbol in the order of the symbol list. Written in the order
//               below; read by tag. Each tag has the version it first appeared in: a blob must carry
//               every section of its version but the optional ones, and no other (an unknown tag is a
//               newer build's: refused).
//       WNDW  i64 max_ts, watermark, emitted_watermark, next_offset; per symbol: u32 n, n open windows
//             (ascending start), u32 m, m retained closed windows (oldest retained first). A window
//             is 101 bytes: i64 start, open_ts, close_ts; f64 open, high, low, close, volume, pv;
//             u64 trades; i64 first_offset, last_offset; u32 revision; u8 empty.
//       CLCK  (since 2) u8 event-time mode (0 partition, 1 symbol); per symbol 16 bytes: i64 max_ts,
//             watermark, the symbol's own clock (both k_no_time in partition mode).
//       BARM  (since 2, optional) per symbol: i64 memory_from, u32 n, n remembered source bars
//             (ascending start) of 48 bytes: i64 start; f64 open, high, low, close, volume (the bar
//             memory of operators/bar_memory.hpp: 12 bytes a symbol and 48 a remembered bar). Missing
//             from a format-2 blob written before bar input was idempotent: each symbol restores an
//             empty memory complete after its clock's max_ts, and the restore reports it.
//       LANE  (since 2, optional: written only with several widths) u8 lanes - 1, i64 width of each
//             lane >= 1; per symbol, per lane >= 1: u32 n, n open windows, u32 m, m retained windows
//             (windows as in WNDW; an open one carries only start, offsets and revision). Missing:
//             the extra lanes start empty. Present when this build has one width: refused.
//       VWAP  per symbol: u32 n, n history entries (ascending start) of 48 bytes: i64 start, session;
//             f64 pv, v, cum_pv, cum_v. With several widths, then the same again for each wider
//             width (the narrowest comes first, as with one width; missing: the wider start empty).
//       ANOM  per symbol, 57 bytes: f64 last_price, prev_close, mean_r, var_r, mean_volume; u32 bars,
//             volume_bars; i64 last_start; u8 vwap_dev_active.
//
// At the default options (1 s windows, 60 s update horizon, vwap history 64) a busy symbol takes about
// 9.5 KB: 62 retained windows (6.3 KB) and 64 vwap entries (3.1 KB).
//
// Format 1 (the release before per-symbol event time) is the same without CLCK. It is migrated: each
// symbol's clock is its partition's, which is exact (every open window stays open, every closed one
// closed), and the restore reports it so that the runtime can say so. A blob saved in the other
// event-time mode is converted the same way (a symbol-mode blob into partition mode: the partition's
// clock is the highest of its symbols', saved in the partition fields).
//
// A partition with no state saves as a header, the partition's default fields and no symbols; restoring
// it leaves the partition empty.
//
// Both calls run on the thread that owns the stages (they read and write the stages' state), between
// events, never concurrently with on_tick/on_timer/flush.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "tapewire/symbol.hpp"
#include "tapewire/types.hpp"

namespace tapewire {

class window_stage;
class vwap_stage;
class anomaly_stage;

inline constexpr std::uint16_t k_checkpoint_version = 2;
inline constexpr std::uint16_t k_checkpoint_oldest_version = 1; // the oldest format still read

// What a restore found, for the runtime to log (operators do not log).
struct restore_report {
    std::uint16_t from_version = k_checkpoint_version; // the format the blob was written in
    bool saved_per_symbol = false;                     // its event-time mode (format 1: partition)
    bool per_symbol = false;                           // the mode it was restored into
    std::uint32_t symbols = 0;
    bool bar_memory_missing = false; // no BARM section: bar memories restored empty (see BARM above)

    // Written by an older release, and migrated.
    [[nodiscard]] bool migrated() const noexcept { return from_version != k_checkpoint_version; }
    // Saved in the other event-time mode, and converted (each symbol's clock = its partition's, or the
    // partition's = its fastest symbol's).
    [[nodiscard]] bool converted() const noexcept { return symbols > 0 && saved_per_symbol != per_symbol; }
};

// The state of one input partition: the window stage's partition state and the open and retained
// windows of its symbols, and those symbols' vwap and anomaly state.
std::string save_partition_state(const window_stage& w, const vwap_stage& v, const anomaly_stage& a,
                                 std::int32_t partition);
// The same into `out` (replaced; its capacity is reused).
void save_partition_state(const window_stage& w, const vwap_stage& v, const anomaly_stage& a, std::int32_t partition,
                          std::string& out);

// Replaces whatever the stages hold for that partition and its symbols (symbols the window stage had
// in the partition but the saved state has not are reset to never seen) with the saved state, and
// clears the partition's changed flag (the state is what was saved). Other partitions are untouched.
// `now` is the processing-time clock (wall ns) of the restoring process: the partition's last_seen
// restarts from it, so a restart does not count as silence. Throws std::runtime_error with a clear
// message on a malformed, corrupted or unknown-version blob, one saved for another partition or with
// another window width; then the stages are unchanged. A blob of format 1 is migrated (see above).
//
// Output order: bars that one watermark step closes come out in the order of the symbols' ids in the
// window stage. Restoring interns the partition's new symbols in their saved order, so in a process
// that had not seen them (a restart, a rebalance) the order is the uninterrupted run's too.
restore_report restore_partition_state(window_stage& w, vwap_stage& v, anomaly_stage& a, std::int32_t partition,
                                       std::string_view bytes, timestamp_ns now);

// Forgets everything the stages hold for the partition and its symbols, as restoring the state of a
// partition never seen would: for a partition assigned with no saved state, so that what an earlier
// ownership left here (retained windows, vwap and anomaly state) cannot leak into its output.
void clear_partition_state(window_stage& w, vwap_stage& v, anomaly_stage& a, std::int32_t partition, timestamp_ns now);

namespace detail {
// The value of a blob's checksum field (bytes 32-39): of every other byte. For tests that forge blobs.
std::uint64_t checkpoint_checksum(std::string_view blob) noexcept;

// Unsigned x with its bytes in little-endian order (a no-op on little-endian hosts).
template <class U> U to_little_endian(U x) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        return x;
    } else {
        U y = 0;
        for (std::size_t i = 0; i < sizeof(U); ++i) y = static_cast<U>((y << 8) | ((x >> (8 * i)) & 0xFF));
        return y;
    }
}

// Fields of a fixed-width record: bool as one byte (0 or 1), doubles as their 64 bits, integers as
// themselves, all little-endian.
template <class T> constexpr std::size_t encoded_size() noexcept {
    static_assert(std::is_same_v<T, bool> || std::is_same_v<T, double> || std::is_integral_v<T>);
    return std::is_same_v<T, bool> ? 1 : std::is_same_v<T, double> ? 8 : sizeof(T);
}
template <class T> void store(char*& p, T x) noexcept {
    if constexpr (std::is_same_v<T, bool>) {
        *p++ = x ? 1 : 0;
    } else if constexpr (std::is_same_v<T, double>) {
        store(p, std::bit_cast<std::uint64_t>(x));
    } else {
        const auto u = to_little_endian(static_cast<std::make_unsigned_t<T>>(x));
        std::memcpy(p, &u, sizeof u);
        p += sizeof u;
    }
}
// Loads what store wrote; false for a bool byte other than 0 or 1.
template <class T> bool load(const char*& p, T& x) noexcept {
    if constexpr (std::is_same_v<T, bool>) {
        const auto b = static_cast<unsigned char>(*p++);
        x = b == 1;
        return b <= 1;
    } else if constexpr (std::is_same_v<T, double>) {
        std::uint64_t u;
        load(p, u);
        x = std::bit_cast<double>(u);
        return true;
    } else {
        std::make_unsigned_t<T> u;
        std::memcpy(&u, p, sizeof u);
        p += sizeof u;
        x = static_cast<T>(to_little_endian(u));
        return true;
    }
}
} // namespace detail

// The primitives the stages encode their state with (little-endian, fixed width). Appends to `out`,
// which it grows ahead in large steps; finish() (or the destructor) trims it to what was written.
class checkpoint_writer {
public:
    explicit checkpoint_writer(std::string& out) noexcept : out_(&out), pos_(out.size()) {}
    checkpoint_writer(const checkpoint_writer&) = delete;
    checkpoint_writer& operator=(const checkpoint_writer&) = delete;
    ~checkpoint_writer() { finish(); }

    void u8(std::uint8_t x) { *room(1) = static_cast<char>(x); }
    void boolean(bool x) { u8(x ? 1 : 0); }
    void u16(std::uint16_t x) { put(x); }
    void u32(std::uint32_t x) { put(x); }
    void i32(std::int32_t x) { put(static_cast<std::uint32_t>(x)); }
    void u64(std::uint64_t x) { put(x); }
    void i64(std::int64_t x) { put(static_cast<std::uint64_t>(x)); }
    void f64(double x) { put(std::bit_cast<std::uint64_t>(x)); }
    void sym(const symbol& s);
    // Several fields at once (one bounds check): bool, double, or integers of any width.
    template <class... T> void record(const T&... xs) {
        char* p = room((detail::encoded_size<T>() + ...));
        (detail::store(p, xs), ...);
    }
    void bytes(std::string_view b) {
        if (!b.empty()) std::memcpy(room(b.size()), b.data(), b.size());
    }

    [[nodiscard]] std::size_t size() const noexcept { return pos_; }
    // Overwrites 8 bytes at `at` (a size written before its contents).
    void patch_u64(std::size_t at, std::uint64_t x) noexcept;
    // Trims the string to the bytes written.
    void finish() {
        if (out_->size() != pos_) out_->resize(pos_);
    }

private:
    char* room(std::size_t n) {
        if (out_->size() - pos_ < n) grow(n);
        char* p = out_->data() + pos_;
        pos_ += n;
        return p;
    }
    void grow(std::size_t n);
    template <class U> void put(U x) {
        x = detail::to_little_endian(x);
        std::memcpy(room(sizeof(U)), &x, sizeof(U));
    }

    std::string* out_;
    std::size_t pos_;
};

// Reads what a checkpoint_writer wrote. Every read checks the bytes left; a short or invalid read
// throws std::runtime_error ("checkpoint: <what> (at byte N)").
class checkpoint_reader {
public:
    explicit checkpoint_reader(std::string_view b, std::size_t base = 0) noexcept : b_(b), base_(base) {}

    std::uint8_t u8() { return static_cast<std::uint8_t>(get<std::uint8_t>("u8")); }
    bool boolean();
    std::uint16_t u16() { return get<std::uint16_t>("u16"); }
    std::uint32_t u32() { return get<std::uint32_t>("u32"); }
    std::int32_t i32() { return static_cast<std::int32_t>(get<std::uint32_t>("i32")); }
    std::uint64_t u64() { return get<std::uint64_t>("u64"); }
    std::int64_t i64() { return static_cast<std::int64_t>(get<std::uint64_t>("i64")); }
    double f64() { return std::bit_cast<double>(get<std::uint64_t>("f64")); }
    symbol sym();
    // Several fields at once, as checkpoint_writer::record wrote them.
    template <class... T> void record(const char* what, T&... xs) {
        constexpr std::size_t n = (detail::encoded_size<T>() + ...);
        if (left() < n) fail(std::string("truncated: ") + what + " past the end");
        const char* p = b_.data() + pos_;
        const bool ok = (detail::load(p, xs) & ...);
        pos_ += n;
        if (!ok) fail(std::string("a flag that is neither 0 nor 1 in ") + what);
    }
    std::string_view bytes(std::size_t n, const char* what);
    // A count of records of at least `record_bytes` each that must fit in what is left.
    std::uint32_t count(std::size_t record_bytes, const char* what);

    [[nodiscard]] std::size_t left() const noexcept { return b_.size() - pos_; }
    [[nodiscard]] std::size_t position() const noexcept { return base_ + pos_; }
    void expect_end(const char* what) const;
    [[noreturn]] void fail(const std::string& what) const;

private:
    template <class U> U get(const char* what) {
        if (left() < sizeof(U)) fail(std::string("truncated: ") + what + " past the end");
        U x;
        std::memcpy(&x, b_.data() + pos_, sizeof(U));
        pos_ += sizeof(U);
        return detail::to_little_endian(x); // its own inverse
    }

    std::string_view b_;
    std::size_t pos_ = 0;
    std::size_t base_ = 0; // offset of b_ in the whole blob, for messages
};

} // namespace tapewire
