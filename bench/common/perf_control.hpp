// Lets perf sample only what a bench measures, not the input generation or the percentile sort.
// With TAPEWIRE_PERF_CTL=FIFO, perf started with --control=fifo:FIFO and -D -1 waits for "enable":
//   mkfifo /tmp/ctl && TAPEWIRE_PERF_CTL=/tmp/ctl perf record --control=fifo:/tmp/ctl -D -1 -- tapewire-bench graph
#pragma once

#include <string>
#include <string_view>

namespace tapewire::bench {

class perf_control {
public:
    // A bench with several measured phases names them; TAPEWIRE_PERF_PHASE picks the one perf sees
    // (`default_phase` when unset). The unnamed phase of a bench with only one is always sampled.
    explicit perf_control(std::string default_phase = {});
    ~perf_control();
    perf_control(const perf_control&) = delete;
    perf_control& operator=(const perf_control&) = delete;

    void enable(std::string_view phase = {});
    void disable(std::string_view phase = {});

private:
    void say(std::string_view phase, std::string_view command);

    int fd_ = -1;
    std::string phase_;
};

} // namespace tapewire::bench
