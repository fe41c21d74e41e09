#include "bench/common/perf_control.hpp"

#include <cstdlib>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace tapewire::bench {

perf_control::perf_control(std::string default_phase) : phase_(std::move(default_phase)) {
    if (const char* path = std::getenv("TAPEWIRE_PERF_CTL")) fd_ = ::open(path, O_WRONLY);
    if (const char* p = std::getenv("TAPEWIRE_PERF_PHASE")) phase_ = p;
}

perf_control::~perf_control() {
    if (fd_ >= 0) ::close(fd_);
}

void perf_control::enable(std::string_view phase) { say(phase, "enable\n"); }
void perf_control::disable(std::string_view phase) { say(phase, "disable\n"); }

void perf_control::say(std::string_view phase, std::string_view command) {
    if (fd_ < 0 || (!phase.empty() && phase != phase_)) return;
    if (::write(fd_, command.data(), command.size()) < 0) fd_ = -1;
}

} // namespace tapewire::bench
