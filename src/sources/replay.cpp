#include "src/sources/replay.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

namespace tapewire {

namespace {

[[noreturn]] void fail(const std::string& path, const char* what, int err) {
    std::string msg = "replay: " + std::string(what) + " " + path;
    if (err != 0) msg += ": " + std::string(std::strerror(err));
    throw std::runtime_error(msg);
}

int open_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, "cannot open", errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        fail(path, "cannot stat", err);
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        fail(path, "cannot read a directory:", 0);
    }
    // Advisory only: lets the kernel read ahead further for a front-to-back scan.
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return fd;
}

constexpr bool is_json_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Position just past `"key":` (and any blanks after it), or npos. Hand-rolled with a key of fixed
// length: string_view::find makes a memchr and a memcmp call per quote, which on a short line costs
// more than the whole scan.
template <std::size_t N> std::size_t value_of(std::string_view line, const char (&quoted_key)[N]) noexcept {
    constexpr std::size_t k = N - 1; // without the terminating NUL
    const char* const p = line.data();
    const std::size_t n = line.size();
    for (std::size_t pos = 0; pos + k <= n; ++pos) {
        if (p[pos] != '"' || std::memcmp(p + pos, quoted_key, k) != 0) continue;
        std::size_t before = pos;
        while (before > 0 && is_json_space(p[before - 1])) --before;
        if (before == 0 || (p[before - 1] != '{' && p[before - 1] != ',')) continue;
        std::size_t after = pos + k;
        while (after < n && is_json_space(p[after])) ++after;
        if (after == n || p[after] != ':') continue;
        ++after;
        while (after < n && is_json_space(p[after])) ++after;
        return after;
    }
    return std::string_view::npos;
}

} // namespace

replay_reader::replay_reader(std::vector<std::string> paths) : paths_(std::move(paths)) {
    try {
        for (std::size_t i = 0; i < paths_.size(); ++i) {
            const int fd = open_file(paths_[i]);
            if (i == 0) {
                fd_ = fd; // the first file stays open: it is read next
            } else {
                ::close(fd);
            }
        }
    } catch (...) {
        close_current();
        throw;
    }
    at_file_start_ = true;
    buf_ = std::make_unique_for_overwrite<char[]>(k_replay_chunk);
    cap_ = k_replay_chunk;
}

replay_reader::~replay_reader() { close_current(); }

replay_reader::replay_reader(replay_reader&& o) noexcept
    : paths_(std::move(o.paths_)), current_(o.current_), fd_(std::exchange(o.fd_, -1)), eof_(o.eof_),
      at_file_start_(o.at_file_start_), buf_(std::move(o.buf_)), cap_(std::exchange(o.cap_, 0)),
      begin_(std::exchange(o.begin_, 0)), scanned_(std::exchange(o.scanned_, 0)), end_(std::exchange(o.end_, 0)),
      lines_(o.lines_) {}

replay_reader& replay_reader::operator=(replay_reader&& o) noexcept {
    if (this != &o) {
        close_current();
        paths_ = std::move(o.paths_);
        current_ = o.current_;
        fd_ = std::exchange(o.fd_, -1);
        eof_ = o.eof_;
        at_file_start_ = o.at_file_start_;
        buf_ = std::move(o.buf_);
        cap_ = std::exchange(o.cap_, 0);
        begin_ = std::exchange(o.begin_, 0);
        scanned_ = std::exchange(o.scanned_, 0);
        end_ = std::exchange(o.end_, 0);
        lines_ = o.lines_;
    }
    return *this;
}

const std::string& replay_reader::current_file() const noexcept {
    static const std::string none;
    return paths_.empty() ? none : paths_[current_];
}

void replay_reader::open_current() {
    fd_ = open_file(paths_[current_]);
    eof_ = false;
    at_file_start_ = true;
    begin_ = scanned_ = end_ = 0;
}

void replay_reader::close_current() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool replay_reader::fill() {
    if (eof_) return false;
    if (begin_ > 0) {
        // Keep the unfinished line at the front so it can grow contiguously.
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        scanned_ -= begin_;
        begin_ = 0;
    }
    if (end_ == cap_) {
        if (cap_ >= k_replay_max_line) fail(paths_[current_], "line longer than 256 MiB in", 0);
        const std::size_t bigger = cap_ * 2 < k_replay_max_line ? cap_ * 2 : k_replay_max_line;
        auto grown = std::make_unique_for_overwrite<char[]>(bigger);
        std::memcpy(grown.get(), buf_.get(), end_);
        buf_ = std::move(grown);
        cap_ = bigger;
    }
    ssize_t n;
    do {
        n = ::read(fd_, buf_.get() + end_, cap_ - end_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) fail(paths_[current_], "cannot read", errno);
    if (n == 0) {
        eof_ = true;
        return false;
    }
    end_ += static_cast<std::size_t>(n);
    return true;
}

bool replay_reader::next(std::string_view& line) {
    static constexpr std::string_view k_bom = "\xEF\xBB\xBF";
    while (fd_ >= 0) {
        char* const buf = buf_.get();
        std::size_t line_end;
        std::size_t next_begin;
        if (const void* nl = std::memchr(buf + scanned_, '\n', end_ - scanned_)) {
            line_end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf);
            next_begin = line_end + 1;
        } else {
            scanned_ = end_;
            if (fill()) continue;
            if (begin_ == end_) {
                close_current();
                if (current_ + 1 < paths_.size()) {
                    ++current_;
                    open_current();
                }
                continue;
            }
            line_end = next_begin = end_; // a last line without a line break
        }
        std::size_t first = begin_;
        begin_ = scanned_ = next_begin;
        if (line_end > first && buf[line_end - 1] == '\r') --line_end;
        if (at_file_start_) {
            at_file_start_ = false;
            if (std::string_view(buf + first, line_end - first).starts_with(k_bom)) first += k_bom.size();
        }
        if (line_end == first) continue;
        line = std::string_view(buf + first, line_end - first);
        ++lines_;
        return true;
    }
    return false;
}

bool peek_ts(std::string_view line, timestamp_ns& ts) noexcept {
    const std::size_t at = value_of(line, "\"ts\"");
    if (at == std::string_view::npos) return false;
    const char* const end = line.data() + line.size();
    timestamp_ns v = 0;
    const auto r = std::from_chars(line.data() + at, end, v);
    if (r.ec != std::errc{}) return false;
    if (r.ptr != end && (*r.ptr == '.' || *r.ptr == 'e' || *r.ptr == 'E')) return false;
    ts = v;
    return true;
}
bool peek_symbol(std::string_view line, std::string_view& sym) noexcept {
    const std::size_t at = value_of(line, "\"symbol\"");
    if (at >= line.size() || line[at] != '"') return false;
    // A plain loop: find_first_of with a two-byte set costs a memchr per byte.
    std::size_t close = at + 1;
    while (close < line.size() && line[close] != '"' && line[close] != '\\') ++close;
    if (close == line.size() || line[close] != '"' || close == at + 1) return false;
    sym = line.substr(at + 1, close - at - 1);
    return true;
}

replay_pacer::replay_pacer(double speed) : speed_(speed) {
    if (!(speed >= 0)) throw std::invalid_argument("replay: speed must be >= 0");
}

std::int64_t replay_pacer::release_at_ns(timestamp_ns ts, std::int64_t now_mono_ns) noexcept {
    constexpr std::int64_t k_max = std::numeric_limits<std::int64_t>::max();
    if (speed_ == 0) return now_mono_ns;
    if (!anchored_) {
        anchored_ = true;
        first_ts_ = ts;
        start_mono_ns_ = now_mono_ns;
        return now_mono_ns;
    }
    std::int64_t elapsed;
    if (__builtin_sub_overflow(ts, first_ts_, &elapsed)) return ts < first_ts_ ? start_mono_ns_ : k_max;
    if (elapsed <= 0) return start_mono_ns_; // at or before the first line: due already
    std::int64_t offset = elapsed;
    if (speed_ != 1) {
        const double scaled = std::round(static_cast<double>(elapsed) / speed_);
        if (!(scaled < 9.2e18)) return k_max; // a speed near 0 puts the line beyond any clock
        offset = static_cast<std::int64_t>(scaled);
    }
    return start_mono_ns_ > k_max - offset ? k_max : start_mono_ns_ + offset;
}

} // namespace tapewire
