#include "bench/common/cpu_time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace tapewire::bench {
namespace {

// The numeric entries of a /proc folder: process ids in /proc, thread ids in /proc/self/task.
std::vector<std::string> numeric_entries(const char* dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir);
    if (d == nullptr) return out;
    while (const dirent* e = ::readdir(d))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.emplace_back(e->d_name);
    ::closedir(d);
    return out;
}

struct proc_stat {
    std::string name;
    long ppid = 0;
    std::uint64_t ticks = 0; // utime + stime, in clock ticks
};

// <dir>/stat of a process or a thread; nullopt when it is gone.
std::optional<proc_stat> read_stat(const std::string& dir) {
    std::FILE* f = std::fopen((dir + "/stat").c_str(), "r");
    if (f == nullptr) return std::nullopt;
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime;
    // the name may hold spaces and parentheses, so it ends at the last ')'.
    const char* open = std::strchr(buf, '(');
    const char* close = std::strrchr(buf, ')');
    if (open == nullptr || close == nullptr || close < open) return std::nullopt;
    proc_stat s;
    s.name.assign(open + 1, close);
    unsigned long long ppid = 0, utime = 0, stime = 0;
    char state = 0;
    if (std::sscanf(close + 2, "%c %llu %*u %*u %*u %*u %*u %*u %*u %*u %*u %llu %llu", &state, &ppid, &utime,
                    &stime) != 4)
        return std::nullopt;
    s.ppid = static_cast<long>(ppid);
    s.ticks = utime + stime;
    return s;
}

double clock_ticks_per_second() { return static_cast<double>(std::max(1L, ::sysconf(_SC_CLK_TCK))); }

} // namespace

std::string load_average() {
    std::FILE* f = std::fopen("/proc/loadavg", "r");
    if (f == nullptr) return "?";
    char buf[64] = {};
    const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
    std::fclose(f);
    if (!ok) return "?";
    const std::string s(buf);
    // "0.80 0.65 0.88 2/345 6789": the three averages
    std::size_t end = 0;
    for (int i = 0; i < 3 && end != std::string::npos; ++i) end = s.find(' ', end + 1);
    return s.substr(0, end);
}

machine_cpu read_machine_cpu() {
    machine_cpu m;
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return m;
    // cpu user nice system idle iowait irq softirq steal
    unsigned long long v[8] = {};
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                              &v[5], &v[6], &v[7]);
    std::fclose(f);
    if (n != 8) return m;
    const double ns_per_tick = 1e9 / clock_ticks_per_second();
    m.busy_ns = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) * ns_per_tick;
    m.steal_ns = static_cast<double>(v[7]) * ns_per_tick;
    return m;
}

std::uint64_t process_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

double thread_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

cpu_snapshot cpu_snapshot::now() {
    cpu_snapshot s;
    for (const std::string& tid : numeric_entries("/proc/self/task")) {
        const std::string dir = "/proc/self/task/" + tid;
        const std::optional<proc_stat> st = read_stat(dir);
        if (!st) continue; // ended meanwhile
        unsigned long long run = 0, wait = 0;
        if (std::FILE* f = std::fopen((dir + "/schedstat").c_str(), "r")) {
            if (std::fscanf(f, "%llu %llu", &run, &wait) != 2) run = wait = 0;
            std::fclose(f);
        }
        s.threads[std::atoi(tid.c_str())] = {st->name, run, wait};
    }
    s.process_ns = process_cpu_ns();
    s.machine = read_machine_cpu();
    return s;
}

cpu_sampler::cpu_sampler(long tree_root, std::string tree_name)
    : tree_root_(tree_root), tree_name_(std::move(tree_name)) {
    sample();
    base_ = last_;
    thread_ = std::thread([this] {
        while (!stop_.load(std::memory_order_acquire)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            sample();
        }
    });
}

std::map<std::string, double> cpu_sampler::finish() {
    if (thread_.joinable()) {
        stop_.store(true, std::memory_order_release);
        thread_.join();
        sample();
    }
    std::map<std::string, double> out;
    const double hz = clock_ticks_per_second();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, v] : last_) {
        std::uint64_t before = 0;
        if (auto it = base_.find(key); it != base_.end()) before = it->second.ticks;
        out[v.name] += static_cast<double>(v.ticks - std::min(v.ticks, before)) / hz;
    }
    return out;
}

void cpu_sampler::sample() {
    std::map<std::string, entry> now;
    for (const std::string& tid : numeric_entries("/proc/self/task"))
        if (const auto st = read_stat("/proc/self/task/" + tid)) now["t" + tid] = {st->name, st->ticks};
    if (tree_root_ > 0) {
        for (const std::string& pid : numeric_entries("/proc")) {
            const auto st = read_stat("/proc/" + pid);
            if (st && (std::atol(pid.c_str()) == tree_root_ || st->ppid == tree_root_))
                now["p" + pid] = {tree_name_, st->ticks};
        }
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [k, v] : now) last_[k] = std::move(v);
}

} // namespace tapewire::bench
