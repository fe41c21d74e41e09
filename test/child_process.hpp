// Child processes for the end-to-end tests: spawn the tapewire binary (or kcat, sqlite3, ...), read
// its output, wait with a timeout; a child still running when its guard goes away (a failed
// REQUIRE) is killed and reaped. Plus readers of what the processes print.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tapewire::test {

using namespace std::chrono_literals;

// ---- child processes -------------------------------------------------------------------------------

struct exit_status {
    bool timed_out = false;
    bool exited = false;
    int code = -1;
    int signal = 0;

    [[nodiscard]] bool ok() const { return exited && code == 0; }
    [[nodiscard]] std::string text() const {
        if (timed_out) return "timed out (killed)";
        if (exited) return "exit " + std::to_string(code);
        return "killed by signal " + std::to_string(signal);
    }
};

// Owns one child: a child still running when this goes away (a failed REQUIRE, an exception) is
// killed and reaped.
class child_process {
public:
    child_process() = default;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    ~child_process() {
        kill_now();
        if (stdout_pipe_ >= 0) ::close(stdout_pipe_);
    }

    // Starts argv[0] (searched in PATH). stdin from `in` (or /dev/null), stdout to `out` (or, when
    // empty, a pipe read with read_line), stderr to `err`.
    void spawn(const std::vector<std::string>& argv, const std::string& in, const std::string& out,
               const std::string& err) {
        REQUIRE(pid_ < 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, in.empty() ? "/dev/null" : in.c_str(), O_RDONLY, 0);
        int pipe_fds[2] = {-1, -1};
        if (out.empty()) {
            REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
            posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 1);
        } else {
            posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        }
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        // The child starts with default signal dispositions and nothing blocked, whatever the
        // test runner installed.
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_t pid = -1;
        const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
        if (pipe_fds[0] >= 0) stdout_pipe_ = pipe_fds[0];
        INFO("spawning " << argv[0]);
        REQUIRE(rc == 0);
        pid_ = pid;
    }

    // One line from the child's stdout pipe (without the newline), or nothing by the deadline.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string line;
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{stdout_pipe_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char c = 0;
            const ssize_t n = ::read(stdout_pipe_, &c, 1);
            if (n <= 0) return std::nullopt; // closed: the child died
            if (c == '\n') return line;
            line += c;
        }
    }

    [[nodiscard]] int pid() const noexcept { return pid_; }

    void signal(int sig) const {
        if (pid_ > 0) ::kill(pid_, sig);
    }

    // Waits for the exit; past the timeout the child is killed and the status says so.
    exit_status wait(std::chrono::milliseconds timeout) {
        exit_status s;
        if (pid_ <= 0) return s;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        int st = 0;
        for (;;) {
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) break;
            if (std::chrono::steady_clock::now() >= deadline) {
                kill_now();
                s.timed_out = true;
                return s;
            }
            std::this_thread::sleep_for(10ms);
        }
        pid_ = -1;
        s.exited = WIFEXITED(st);
        if (s.exited) s.code = WEXITSTATUS(st);
        if (WIFSIGNALED(st)) s.signal = WTERMSIG(st);
        return s;
    }

private:
    void kill_now() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
    }

    pid_t pid_ = -1;
    int stdout_pipe_ = -1;
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
}

struct command_result {
    exit_status status;
    std::string out, err;
};

// Runs a command to its end (at most `timeout`), stdout and stderr kept in files named after `tag`.
inline command_result run_command(const std::vector<std::string>& argv, const std::string& tag,
                                  std::chrono::milliseconds timeout = 30s, const std::string& stdin_path = "") {
    child_process c;
    c.spawn(argv, stdin_path, tag + ".stdout", tag + ".stderr");
    command_result r;
    r.status = c.wait(timeout);
    r.out = read_file(tag + ".stdout");
    r.err = read_file(tag + ".stderr");
    return r;
}

// Runs, processes and produces serve HTTP on 127.0.0.1:8080 by default; the tests' children take
// any free port instead, so that tests running at once (and anything else on 8080) never collide.
inline constexpr const char* k_test_http_listen = "http.listen=127.0.0.1:0";

// argv of a tapewire command with k_test_http_listen after the subcommand when it serves HTTP.
inline std::vector<std::string> with_test_http(std::vector<std::string> argv) {
    if (argv.size() >= 2 && (argv[1] == "run" || argv[1] == "process" || argv[1] == "produce"))
        argv.insert(argv.begin() + 2, {"--set", k_test_http_listen});
    return argv;
}

// `tapewire <args...>`
inline std::vector<std::string> tapewire_cmd(std::initializer_list<std::string> args) {
    std::vector<std::string> v{TAPEWIRE_BINARY};
    v.insert(v.end(), args);
    return with_test_http(std::move(v));
}

inline std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// `tapewire broker` with these topics, as a child; returns its bootstrap list.
inline std::string start_broker(child_process& broker, const std::string& tag, const std::vector<std::string>& topics) {
    std::vector<std::string> argv = tapewire_cmd({"broker"});
    for (const auto& t : topics) argv = argv + std::vector<std::string>{"--topic", t};
    broker.spawn(argv, "", "", tag + ".broker.stderr");
    const std::optional<std::string> line = broker.read_line(10s);
    INFO(read_file(tag + ".broker.stderr"));
    REQUIRE(line.has_value());
    REQUIRE(line->rfind("127.0.0.1:", 0) == 0);
    return *line;
}

inline void stop_broker(child_process& broker, const std::string& tag) {
    broker.signal(SIGINT);
    const exit_status s = broker.wait(10s);
    INFO(read_file(tag + ".broker.stderr"));
    INFO("broker: " << s.text());
    CHECK(s.ok());
}

// ---- what the processes print --------------------------------------------------------------------

// The number after `label` in the end-of-run summary ("  produced      1,000,000"), -1 when absent.
inline std::int64_t summary_count(const std::string& err, const std::string& label) {
    for (const std::string& line : split_lines(err)) {
        if (line.rfind("  " + label + " ", 0) != 0) continue;
        std::size_t i = 2 + label.size();
        while (i < line.size() && line[i] == ' ') ++i;
        std::int64_t n = 0;
        bool any = false;
        for (; i < line.size() && ((line[i] >= '0' && line[i] <= '9') || line[i] == ','); ++i) {
            if (line[i] == ',') continue;
            n = n * 10 + (line[i] - '0');
            any = true;
        }
        if (any) return n;
    }
    return -1;
}

// One record of the JSON log (a child run with --set log.format=json): its fields as text, strings
// unquoted, numbers and booleans as written.
struct log_record {
    std::map<std::string, std::string> fields;

    [[nodiscard]] bool has(const std::string& key) const { return fields.count(key) != 0; }
    [[nodiscard]] std::string text(const std::string& key) const {
        const auto it = fields.find(key);
        return it == fields.end() ? std::string() : it->second;
    }
    [[nodiscard]] std::int64_t number(const std::string& key) const { return std::stoll(text(key)); }
};

// Every log record in a child's stderr, in order; the lines that are not records (the status line,
// the summary, usage) are passed over.
inline std::vector<log_record> log_records(const std::string& err) {
    std::vector<log_record> out;
    simdjson::dom::parser parser;
    for (const std::string& line : split_lines(err)) {
        simdjson::dom::object o;
        if (line[0] != '{' || parser.parse(line).get(o) != simdjson::SUCCESS) continue;
        log_record r;
        for (auto [key, value] : o) {
            std::string_view text;
            r.fields[std::string(key)] =
                value.get(text) == simdjson::SUCCESS ? std::string(text) : simdjson::minify(value);
        }
        if (r.has("component")) out.push_back(std::move(r));
    }
    return out;
}

// The records of `component` that carry a field named `key`.
inline std::vector<log_record> log_records(const std::string& err, const std::string& component,
                                           const std::string& key) {
    std::vector<log_record> out;
    for (log_record& r : log_records(err))
        if (r.text("component") == component && r.has(key)) out.push_back(std::move(r));
    return out;
}

// Waits until `path` (a child's stderr, its log in JSON) holds a record of `component` with the field
// `key`; false at the deadline.
inline bool wait_for_record(const std::string& path, const std::string& component, const std::string& key,
                            std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!log_records(read_file(path), component, key).empty()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// The partition counts of every assignment the consumer logged ("assigned"), in order.
inline std::vector<int> assignments(const std::string& err) {
    std::vector<int> out;
    for (const log_record& r : log_records(err, "kafka", "assigned"))
        out.push_back(static_cast<int>(r.number("assigned")));
    return out;
}

} // namespace tapewire::test
