#include "src/base/tzif.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace tapewire {

namespace {

using namespace std::chrono;

constexpr std::int64_t k_ns_per_s = 1'000'000'000;
// Transition times (seconds) whose nanoseconds fit in timestamp_ns; tzdata marks "the beginning
// of time" with -2^59 s, far outside.
constexpr std::int64_t k_min_s = std::numeric_limits<std::int64_t>::min() / k_ns_per_s + 1;
constexpr std::int64_t k_max_s = std::numeric_limits<std::int64_t>::max() / k_ns_per_s;

// POSIX rule times may run past midnight into the following days (RFC 8536 allows ±167 hours).
constexpr std::int32_t k_max_rule_hours = 167;
constexpr std::int32_t k_max_offset_hours = 24;
constexpr std::int32_t k_default_rule_time_s = 2 * 3600; // POSIX: 02:00 local when omitted

[[noreturn]] void corrupt(const std::string& name, const std::string& why) {
    throw std::runtime_error("time zone '" + name + "': invalid TZif data (" + why + ")");
}

class byte_reader {
public:
    byte_reader(std::string_view data, const std::string& name) : data_(data), name_(name) {}

    [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - pos_; }

    std::string_view take(std::size_t n) {
        if (n > remaining()) corrupt(name_, "truncated");
        std::string_view out = data_.substr(pos_, n);
        pos_ += n;
        return out;
    }

    std::uint64_t unsigned_be(std::size_t bytes) {
        std::uint64_t v = 0;
        for (char c : take(bytes)) v = (v << 8) | static_cast<unsigned char>(c);
        return v;
    }
    std::uint32_t u32() { return static_cast<std::uint32_t>(unsigned_be(4)); }
    std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
    std::int64_t i64() { return static_cast<std::int64_t>(unsigned_be(8)); }
    std::uint8_t u8() { return static_cast<std::uint8_t>(unsigned_be(1)); }

private:
    std::string_view data_;
    const std::string& name_;
    std::size_t pos_ = 0;
};

struct tzif_header {
    char version = 0;
    std::uint32_t isut_count = 0, isstd_count = 0, leap_count = 0, time_count = 0, type_count = 0, char_count = 0;

    // Bytes of the data block that follows, for times of `time_size` bytes.
    [[nodiscard]] std::uint64_t block_size(std::uint64_t time_size) const noexcept {
        return time_count * time_size + time_count + type_count * 6ull + char_count + leap_count * (time_size + 4) +
               isstd_count + isut_count;
    }
};

struct tzif_block {
    std::vector<std::int64_t> times;   // seconds since the epoch, ascending
    std::vector<std::uint8_t> type_of; // local time type in force from times[i]
    std::vector<std::int32_t> utoff;   // per local time type
};

tzif_header read_header(byte_reader& in, const std::string& name) {
    if (in.remaining() < 44 || in.take(4) != "TZif") corrupt(name, "no TZif header");
    tzif_header h;
    h.version = in.take(1)[0];
    in.take(15);
    h.isut_count = in.u32();
    h.isstd_count = in.u32();
    h.leap_count = in.u32();
    h.time_count = in.u32();
    h.type_count = in.u32();
    h.char_count = in.u32();
    if (h.type_count == 0) corrupt(name, "no local time types");
    if ((h.isut_count != 0 && h.isut_count != h.type_count) || (h.isstd_count != 0 && h.isstd_count != h.type_count))
        corrupt(name, "indicator counts do not match the type count");
    return h;
}

tzif_block read_block(byte_reader& in, const tzif_header& h, std::size_t time_size, const std::string& name) {
    // Checked before allocating so that a corrupt count cannot ask for gigabytes.
    if (h.block_size(time_size) > in.remaining()) corrupt(name, "truncated");
    tzif_block b;
    b.times.reserve(h.time_count);
    for (std::uint32_t i = 0; i < h.time_count; ++i) {
        const std::int64_t t = time_size == 8 ? in.i64() : in.i32();
        if (!b.times.empty() && t <= b.times.back()) corrupt(name, "transition times not ascending");
        b.times.push_back(t);
    }
    b.type_of.reserve(h.time_count);
    for (std::uint32_t i = 0; i < h.time_count; ++i) {
        const std::uint8_t type = in.u8();
        if (type >= h.type_count) corrupt(name, "transition to a missing local time type");
        b.type_of.push_back(type);
    }
    b.utoff.reserve(h.type_count);
    for (std::uint32_t i = 0; i < h.type_count; ++i) {
        const std::int32_t utoff = in.i32();
        in.take(2); // is-DST flag and abbreviation index: sessions only need the offset
        if (utoff == std::numeric_limits<std::int32_t>::min()) corrupt(name, "invalid UTC offset");
        b.utoff.push_back(utoff);
    }
    // Abbreviations, leap seconds and the standard/UT indicators do not change offsets. Leap
    // second records only appear in the "right/" zones, whose times then count leap seconds; those
    // are off by under half a minute, which no session boundary cares about.
    in.take(h.char_count + h.leap_count * (time_size + 4) + h.isstd_count + h.isut_count);
    return b;
}

// ---- POSIX TZ strings (the footer of TZif v2+), e.g. "EST5EDT,M3.2.0,M11.1.0" ----

struct rule_date {
    char form = 'M'; // 'M': month.week.weekday, 'J': day 1..365 without Feb 29, 'n': day 0..365
    int month = 0, week = 0, weekday = 0, day = 0;
    std::int32_t time_s = k_default_rule_time_s; // local time of the change, in the offset it ends
};

struct posix_tz {
    std::int32_t std_utoff = 0;
    bool has_dst = false;
    std::int32_t dst_utoff = 0;
    rule_date dst_start, dst_end;
};

class posix_tz_parser {
public:
    posix_tz_parser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

    posix_tz parse() {
        posix_tz tz;
        zone_name();
        tz.std_utoff = -signed_hms(k_max_offset_hours);
        if (done()) return tz;
        tz.has_dst = true;
        zone_name();
        tz.dst_utoff = (done() || peek() == ',') ? tz.std_utoff + 3600 : -signed_hms(k_max_offset_hours);
        // Without rules POSIX leaves the dates to the implementation; tzdata never writes that.
        expect(',');
        tz.dst_start = date();
        expect(',');
        tz.dst_end = date();
        if (!done()) fail();
        return tz;
    }

private:
    [[nodiscard]] bool done() const noexcept { return i_ >= s_.size(); }
    [[nodiscard]] char peek() const noexcept { return done() ? '\0' : s_[i_]; }
    static bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
    static bool alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

    [[noreturn]] void fail() const {
        throw std::runtime_error("time zone '" + name_ + "': unsupported TZ rule '" + std::string(s_) + "'");
    }
    void expect(char c) {
        if (peek() != c) fail();
        ++i_;
    }

    void zone_name() {
        const std::size_t start = i_;
        if (peek() == '<') {
            while (!done() && peek() != '>') ++i_;
            expect('>');
            if (i_ - start < 5) fail(); // "<" + at least 3 characters + ">"
            return;
        }
        while (alpha(peek())) ++i_;
        if (i_ - start < 3) fail();
    }

    int number(int max) {
        if (!digit(peek())) fail();
        int v = 0;
        while (digit(peek())) {
            v = v * 10 + (s_[i_++] - '0');
            if (v > max) fail();
        }
        return v;
    }

    // [+-]hh[:mm[:ss]] in seconds, hours at most `max_hours`.
    std::int32_t signed_hms(int max_hours) {
        int sign = 1;
        if (peek() == '+' || peek() == '-') sign = s_[i_++] == '-' ? -1 : 1;
        std::int32_t v = number(max_hours) * 3600;
        if (peek() == ':') {
            ++i_;
            v += number(59) * 60;
            if (peek() == ':') {
                ++i_;
                v += number(59);
            }
        }
        return sign * v;
    }

    rule_date date() {
        rule_date d;
        if (peek() == 'M') {
            ++i_;
            d.form = 'M';
            d.month = number(12);
            expect('.');
            d.week = number(5);
            expect('.');
            d.weekday = number(6);
            if (d.month < 1 || d.week < 1) fail();
        } else if (peek() == 'J') {
            ++i_;
            d.form = 'J';
            d.day = number(365);
            if (d.day < 1) fail();
        } else {
            d.form = 'n';
            d.day = number(365);
        }
        if (peek() == '/') {
            ++i_;
            d.time_s = signed_hms(k_max_rule_hours);
        }
        return d;
    }

    std::string_view s_;
    const std::string& name_;
    std::size_t i_ = 0;
};

sys_days day_of(const rule_date& r, int y) {
    const year yr{y};
    switch (r.form) {
    case 'M': {
        const weekday wd{static_cast<unsigned>(r.weekday)};
        const month mo{static_cast<unsigned>(r.month)};
        if (r.week == 5) return sys_days{yr / mo / wd[last]}; // "5" means the last one in the month
        return sys_days{yr / mo / wd[static_cast<unsigned>(r.week)]};
    }
    case 'J': { // Feb 29 is never counted, so day 60 is always March 1
        const bool skip_leap_day = yr.is_leap() && r.day >= 60;
        return sys_days{yr / January / 1} + days{r.day - 1 + (skip_leap_day ? 1 : 0)};
    }
    default: return sys_days{yr / January / 1} + days{r.day};
    }
}

// UTC second of a rule's change in year `y`, given the offset in force just before it.
std::int64_t change_at(const rule_date& r, int y, std::int32_t utoff_before) {
    return day_of(r, y).time_since_epoch().count() * 86'400 + r.time_s - utoff_before;
}

class change_list {
public:
    explicit change_list(std::int32_t initial_utoff) { out_.push_back({k_no_time, initial_utoff}); }

    // Changes must arrive in ascending order of `at_s`.
    void add(std::int64_t at_s, std::int32_t utoff) {
        if (at_s > k_max_s) return;
        if (at_s < k_min_s) { // before 1678: only the offset it leaves behind matters
            out_.front().offset_s = utoff;
            return;
        }
        const timestamp_ns at = at_s * k_ns_per_s;
        if (out_.back().at == at) { // two rules meeting at one instant: the later one wins
            out_.back().offset_s = utoff;
            if (out_.size() >= 2 && out_[out_.size() - 2].offset_s == utoff) out_.pop_back();
            return;
        }
        if (out_.back().offset_s == utoff) return; // only the abbreviation or DST flag changed
        out_.push_back({at, utoff});
    }

    std::vector<utc_offset_change> take() && { return std::move(out_); }

private:
    std::vector<utc_offset_change> out_;
};

void extend_by_rule(change_list& out, const posix_tz& tz, std::optional<std::int64_t> last_s) {
    if (!tz.has_dst) return; // a fixed offset: the last recorded transition already set it
    const int first_year =
        last_s ? static_cast<int>(year_month_day{floor<days>(sys_seconds{seconds{*last_s}})}.year()) : 1970;
    for (int y = first_year; y <= k_tz_last_year; ++y) {
        std::pair<std::int64_t, std::int32_t> changes[2] = {
            {change_at(tz.dst_start, y, tz.std_utoff), tz.dst_utoff},
            {change_at(tz.dst_end, y, tz.dst_utoff), tz.std_utoff},
        };
        // Southern hemisphere zones end DST early in the year and start it late.
        if (changes[1].first < changes[0].first) std::swap(changes[0], changes[1]);
        for (const auto& [at, utoff] : changes)
            if (!last_s || at > *last_s) out.add(at, utoff);
    }
}

bool valid_zone_name(const std::string& name) {
    if (name.empty() || name.front() == '/') return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
                        c == '_' || c == '-' || c == '+' || c == '.';
        if (!ok) return false;
    }
    // No component may climb out of the zoneinfo directory.
    std::size_t start = 0;
    while (start <= name.size()) {
        const std::size_t end = std::min(name.find('/', start), name.size());
        const std::string_view part = std::string_view(name).substr(start, end - start);
        if (part.empty() || part == "." || part == "..") return false;
        start = end + 1;
    }
    return true;
}

[[noreturn]] void unknown_zone(const std::string& name) {
    throw std::runtime_error("unknown time zone '" + name + "'");
}

} // namespace

std::vector<utc_offset_change> parse_tzif(std::string_view data, const std::string& name) {
    byte_reader in(data, name);
    tzif_header header = read_header(in, name);
    const bool has_64_bit_data = header.version >= '2';
    if (has_64_bit_data) {
        // The 32-bit block ends in 2038; the second, 64-bit one has the whole history.
        in.take(header.block_size(4));
        header = read_header(in, name);
    }
    const tzif_block block = read_block(in, header, has_64_bit_data ? 8 : 4, name);

    change_list out(block.utoff[0]); // RFC 8536: type 0 is in force before the first transition
    for (std::size_t i = 0; i < block.times.size(); ++i) out.add(block.times[i], block.utoff[block.type_of[i]]);

    if (has_64_bit_data && in.remaining() > 0) {
        const std::string_view rest = in.take(in.remaining());
        const std::size_t close = rest.find('\n', 1);
        if (rest.front() != '\n' || close == std::string_view::npos) corrupt(name, "malformed footer");
        const std::string_view footer = rest.substr(1, close - 1);
        if (!footer.empty()) {
            const posix_tz tz = posix_tz_parser(footer, name).parse();
            std::optional<std::int64_t> last_s;
            if (!block.times.empty()) last_s = block.times.back();
            extend_by_rule(out, tz, last_s);
        }
    }
    return std::move(out).take();
}

std::vector<utc_offset_change> load_time_zone(const std::string& name, const std::string& zoneinfo_dir) {
    if (name == "UTC") return {{k_no_time, 0}}; // containers often ship without tzdata
    if (!valid_zone_name(name)) unknown_zone(name);

    const std::filesystem::path path = std::filesystem::path(zoneinfo_dir) / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) unknown_zone(name); // also "America" itself
    std::ifstream file(path, std::ios::binary);
    if (!file) unknown_zone(name);
    const std::string data{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    if (file.bad()) throw std::runtime_error("time zone '" + name + "': cannot read " + path.string());
    return parse_tzif(data, name);
}

std::optional<std::int64_t> parse_time_of_day(std::string_view hhmm) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (hhmm.size() != 5 || hhmm[2] != ':' || !digit(hhmm[0]) || !digit(hhmm[1]) || !digit(hhmm[3]) || !digit(hhmm[4]))
        return std::nullopt;
    const int hours = (hhmm[0] - '0') * 10 + (hhmm[1] - '0');
    const int minutes = (hhmm[3] - '0') * 10 + (hhmm[4] - '0');
    if (hours > 23 || minutes > 59) return std::nullopt;
    return hours * 3600 + minutes * 60;
}

session_calendar make_session_calendar(const std::string& tz_name, const std::string& session_start_hhmm) {
    const auto start_s = parse_time_of_day(session_start_hhmm);
    if (!start_s) throw std::runtime_error("session start '" + session_start_hhmm + "' is not HH:MM");
    return session_calendar(load_time_zone(tz_name), *start_s);
}

} // namespace tapewire
