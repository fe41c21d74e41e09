// CPU time and load, read from /proc and the process clocks: of the machine, of this process and
// each of its threads, and of another process with its children (a database server beside the
// bench). Linux only, like the benches.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace tapewire::bench {

// "0.80 0.65 0.88": the 1, 5 and 15 minute load averages of /proc/loadavg; "?" when unreadable.
[[nodiscard]] std::string load_average();

// All CPUs of the machine since boot (/proc/stat), in ns: time busy (neither idle nor iowait), and
// time the hypervisor ran something else ("steal": a vCPU taken away shows up as a latency outlier).
// Zeros when unreadable.
struct machine_cpu {
    double busy_ns = 0, steal_ns = 0;
};
[[nodiscard]] machine_cpu read_machine_cpu();

// CPU time of the whole process, threads that have ended included (CLOCK_PROCESS_CPUTIME_ID).
[[nodiscard]] std::uint64_t process_cpu_ns();

// CPU time of the calling thread, user + system (getrusage RUSAGE_THREAD), in seconds.
[[nodiscard]] double thread_cpu_seconds();

// One thread of this process from /proc/self/task/<tid>: its name (librdkafka's rdk:main, the
// runtime's tw-pipeline, ...) and its schedstat, ns on a CPU and ns runnable but waiting for one.
struct thread_sched {
    std::string name;
    std::uint64_t run_ns = 0, wait_ns = 0;
};

// What a bench reads at both ends of a timed span: every thread of this process by tid, the
// process's CPU time and the machine's.
struct cpu_snapshot {
    std::map<int, thread_sched> threads;
    std::uint64_t process_ns = 0;
    machine_cpu machine;

    [[nodiscard]] static cpu_snapshot now();
};

// Samples, every 100 ms on its own thread, the CPU time (utime + stime of /proc/.../stat) of this
// process's threads by name and, with `tree_root` > 0, of that process and its direct children under
// one name (a PostgreSQL postmaster and its backends). It keeps the last value seen of each, so
// threads and processes that have exited by the end still count up to their last sample.
class cpu_sampler {
public:
    explicit cpu_sampler(long tree_root = 0, std::string tree_name = {});
    ~cpu_sampler() { (void)finish(); }
    cpu_sampler(const cpu_sampler&) = delete;
    cpu_sampler& operator=(const cpu_sampler&) = delete;

    // Stops sampling (after one last sample) and returns CPU seconds since construction per name:
    // this process's threads by their names, the whole tree as `tree_name`.
    std::map<std::string, double> finish();

private:
    struct entry {
        std::string name;
        std::uint64_t ticks = 0;
    };
    void sample();

    long tree_root_;
    std::string tree_name_;
    std::mutex mu_;
    std::map<std::string, entry> base_, last_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace tapewire::bench
