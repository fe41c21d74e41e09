#include "bench/common/report.hpp"

#include <cstdarg>
#include <cstdio>

namespace tapewire::bench {

count_check& count_check::check(std::string_view name, std::uint64_t got, bool right, std::string_view expected) {
    if (!counts_.empty()) counts_ += ", ";
    counts_ += name;
    counts_ += ' ';
    counts_ += std::to_string(got);
    if (!right) {
        ok_ = false;
        counts_ += " (expected ";
        counts_ += expected;
        counts_ += ')';
    }
    return *this;
}

count_check& count_check::equal(std::string_view name, std::uint64_t got, std::uint64_t want) {
    return check(name, got, got == want, std::to_string(want));
}

count_check& count_check::at_least(std::string_view name, std::uint64_t got, std::uint64_t want) {
    return check(name, got, got >= want, "at least " + std::to_string(want));
}

std::string count_check::message() const { return what_ + ": " + counts_; }

void count_check::enforce() const {
    if (!ok_) throw failure(message());
}

void progress(bool json, const char* format, ...) {
    if (json) return;
    va_list ap;
    va_start(ap, format);
    std::vfprintf(stderr, format, ap);
    va_end(ap);
    std::fflush(stderr);
}

std::string fmt(const char* format, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, format);
    std::vsnprintf(buf, sizeof buf, format, ap);
    va_end(ap);
    return buf;
}

std::string json_number(double v, int decimals) { return fmt("%.*f", decimals, v); }

} // namespace tapewire::bench
