// Replay of recorded NDJSON files: lines in file order, optionally paced to their recorded times.
//
// Lines are handed on byte for byte (invalid JSON included: rejecting it is the parse stage's job,
// with a dead letter to show for it). Only empty lines, the line terminator ("\n" or "\r\n") and a
// UTF-8 byte order mark at the start of a file are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tapewire/types.hpp"

namespace tapewire {

// Bytes asked of the OS per read; a longer line grows the buffer (doubling) up to k_replay_max_line.
inline constexpr std::size_t k_replay_chunk = std::size_t{1} << 20;
// A "line" longer than this is a file without line breaks, not a message: reading stops with an error.
inline constexpr std::size_t k_replay_max_line = std::size_t{256} << 20;

class replay_reader {
public:
    // Opens every file once up front so a typo fails at start-up, not hours into a replay; throws
    // std::runtime_error naming the first file that cannot be opened (or is a directory).
    explicit replay_reader(std::vector<std::string> paths);
    ~replay_reader();
    replay_reader(replay_reader&&) noexcept;
    replay_reader& operator=(replay_reader&&) noexcept;
    replay_reader(const replay_reader&) = delete;
    replay_reader& operator=(const replay_reader&) = delete;

    // The next non-empty line without its terminator, valid until the next call. False once the
    // last file is exhausted. Throws std::runtime_error (naming the file) on a read error, a file
    // that vanished since the constructor, or a line longer than k_replay_max_line.
    bool next(std::string_view& line);

    // Lines returned so far, over all files.
    [[nodiscard]] std::uint64_t lines() const noexcept { return lines_; }
    // The file the last line came from (the first file before any line; "" without files).
    [[nodiscard]] const std::string& current_file() const noexcept;

private:
    void open_current();
    bool fill(); // reads more of the current file; false at its end
    void close_current() noexcept;

    std::vector<std::string> paths_;
    std::size_t current_ = 0;    // index into paths_ of the file being read
    int fd_ = -1;                // open while lines remain; -1 once the last file is done
    bool eof_ = false;           // the current file has no more bytes
    bool at_file_start_ = false; // next line is the file's first (may carry a BOM)

    std::unique_ptr<char[]> buf_;
    std::size_t cap_ = 0;
    std::size_t begin_ = 0;   // first byte not yet handed out
    std::size_t scanned_ = 0; // [begin_, scanned_) holds no '\n': long lines are not rescanned
    std::size_t end_ = 0;     // end of the bytes read
    std::uint64_t lines_ = 0;
};

// Cheap scans of a canonical tick line, for pacing and the message key, without parsing the JSON.
// They take the first occurrence of the key in a key position ('{' or ',' before it, ':' after it,
// so a symbol named "ts" is not mistaken for the key; nested objects are not told apart) and return
// false when it is absent or its value is not of the expected shape; the line should still be
// sent on, since the parse stage decides what is valid.
// "ts": an integer in int64 range (a fraction or exponent is "not found").
bool peek_ts(std::string_view line, timestamp_ns& ts) noexcept;
// "symbol": the raw bytes between the quotes; a value with escapes or an empty one is "not found".
bool peek_symbol(std::string_view line, std::string_view& sym) noexcept;

// When to release a line so the replay keeps the recorded spacing, sped up by `speed`: the first
// line goes out at once and anchors event time to the monotonic clock; a line with ts then goes at
// anchor + (ts - first ts) / speed. A result at or before now means "send it now" (that includes
// ts older than the first). speed 0 disables pacing: every line is due at once.
class replay_pacer {
public:
    explicit replay_pacer(double speed); // throws std::invalid_argument when speed < 0 or NaN

    std::int64_t release_at_ns(timestamp_ns ts, std::int64_t now_mono_ns) noexcept;

    [[nodiscard]] double speed() const noexcept { return speed_; }

private:
    double speed_;
    bool anchored_ = false;
    timestamp_ns first_ts_ = 0;
    std::int64_t start_mono_ns_ = 0;
};

} // namespace tapewire
