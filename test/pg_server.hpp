// A throwaway PostgreSQL 15 server for one test: initdb into a fresh folder under the test's work
// folder, pg_ctl start on a free 127.0.0.1 port with trust authentication and fsync on, one
// database, an ODBC connection string. stop()/start() take it away and bring it back on the same
// port and data (an outage); the destructor stops it and removes the folder. Never touches the
// system's cluster.
//
// Run as root (CI on a fresh Debian 12), the server runs as the `postgres` user (initdb refuses
// root): the folder is chowned to it and every command goes through `runuser -u postgres --`.
// As any other user it runs as that user.
#pragma once

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace tapewire::test {

class pg_server {
public:
    static constexpr const char* k_bin = "/usr/lib/postgresql/15/bin";
    static constexpr const char* k_database = "tapewire_test";
    static constexpr const char* k_user = "tapewire";
    // pg_ctl's wait for a start or stop, in seconds: a loaded 2-core machine (a sanitizer build
    // beside the tests) has taken 50 s to start the server.
    static constexpr const char* k_wait_s = "180";

    // `tag` names the folder (pg-<tag>-XXXXXX), so a failed test's server log is easy to find.
    explicit pg_server(std::string tag = "pg") : tag_(std::move(tag)) {
        for (char& c : tag_)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
        if (!std::filesystem::exists(std::string(k_bin) + "/initdb"))
            throw std::runtime_error(std::string("pg_server: no PostgreSQL 15 at ") + k_bin +
                                     " (scripts/install-deps.sh installs postgresql-15)");
        as_postgres_ = ::geteuid() == 0;
        if (as_postgres_) {
            const passwd* pw = ::getpwnam("postgres");
            if (pw == nullptr) throw std::runtime_error("pg_server: running as root but there is no `postgres` user");
            uid_ = pw->pw_uid;
            gid_ = pw->pw_gid;
        }
        dir_ = make_dir();
        data_ = dir_ + "/data";
        log_ = dir_ + "/server.log";
        run({std::string(k_bin) + "/initdb", "-D", data_, "-U", k_user, "-A", "trust", "-E", "UTF8", "--locale=C",
             "--no-sync"},
            "initdb");
        // A port taken between picking and binding: pick another.
        for (int attempt = 1;; ++attempt) {
            port_ = free_port();
            try {
                start();
                break;
            } catch (const std::exception&) {
                if (attempt >= 3) throw;
            }
        }
        run({std::string(k_bin) + "/createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", k_user,
             k_database},
            "createdb");
    }

    ~pg_server() {
        if (running_) {
            try {
                run({std::string(k_bin) + "/pg_ctl", "-D", data_, "-m", "immediate", "-w", "-t", k_wait_s, "stop"},
                    "pg_ctl stop");
            } catch (...) {
            }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    pg_server(const pg_server&) = delete;
    pg_server& operator=(const pg_server&) = delete;

    // Starts the server (again) on the same port and data.
    void start() {
        run({std::string(k_bin) + "/pg_ctl", "-D", data_, "-l", log_, "-w", "-t", k_wait_s, "-o",
             "-p " + std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=127.0.0.1 -c fsync=on", "start"},
            "pg_ctl start");
        running_ = true;
    }

    // Stops the server: `fast` disconnects the clients and shuts down cleanly.
    void stop() {
        run({std::string(k_bin) + "/pg_ctl", "-D", data_, "-m", "fast", "-w", "-t", k_wait_s, "stop"}, "pg_ctl stop");
        running_ = false;
    }

    [[nodiscard]] int port() const noexcept { return port_; }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

    // ODBC connection string of the test database (psqlODBC's Unicode driver, trust auth).
    [[nodiscard]] std::string odbc_connection() const {
        return "Driver=PostgreSQL Unicode;Server=127.0.0.1;Port=" + std::to_string(port_) + ";Database=" + k_database +
               ";Uid=" + k_user + ";Pwd=;";
    }

    // Runs SQL through psql (autocommit), e.g. to add a constraint or count rows: the rows, one a
    // line, columns separated by '|'. Throws when psql fails.
    std::string query(const std::string& sql) {
        return run({std::string(k_bin) + "/psql", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", k_user, "-d",
                    k_database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql},
                   "psql");
    }

private:
    // A new folder under the current (work) folder, owned by postgres when we are root. Falls back
    // to /tmp when postgres cannot reach the work folder or its path is too long for a socket.
    std::string make_dir() {
        std::vector<std::string> bases{std::filesystem::current_path().string(),
                                       std::filesystem::temp_directory_path().string()};
        for (const auto& base : bases) {
            std::string templ = base + "/pg-" + tag_ + "-XXXXXX";
            if (templ.size() + 24 > 100) continue; // <dir>/.s.PGSQL.<port> must fit a socket address
            std::vector<char> buf(templ.begin(), templ.end());
            buf.push_back('\0');
            if (::mkdtemp(buf.data()) == nullptr) continue;
            std::string dir(buf.data());
            if (!as_postgres_) return dir;
            if (::chown(dir.c_str(), uid_, gid_) == 0 && reachable_by_postgres(dir)) return dir;
            std::filesystem::remove_all(dir);
        }
        throw std::runtime_error("pg_server: no folder the server can use");
    }

    bool reachable_by_postgres(const std::string& dir) {
        try {
            run({"/usr/bin/test", "-w", dir}, "test -w");
            return true;
        } catch (const std::exception&) {
            return false;
        }
    }

    static int free_port() {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) throw std::runtime_error("pg_server: socket()");
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ::close(fd);
            throw std::runtime_error("pg_server: cannot find a free port");
        }
        ::close(fd);
        return ntohs(a.sin_port);
    }

    // Runs a command (as postgres when we are root) in dir_, waits, and returns its output; throws
    // with the output when it fails.
    std::string run(std::vector<std::string> args, const std::string& what) {
        if (as_postgres_) args.insert(args.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
        const std::string out_file = (dir_.empty() ? std::filesystem::temp_directory_path().string() +
                                                         "/.tapewire-pg-" + std::to_string(::getpid())
                                                   : dir_ + "/.cmd") +
                                     "-output";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (!dir_.empty()) posix_spawn_file_actions_addchdir_np(&fa, dir_.c_str());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t pid = 0;
        int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) throw std::runtime_error("pg_server: cannot run " + args[0] + ": " + std::strerror(rc));
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        std::ifstream in(out_file);
        std::stringstream ss;
        ss << in.rdbuf();
        std::error_code ec;
        std::filesystem::remove(out_file, ec);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::string log;
            if (std::ifstream l(log_); l) {
                std::stringstream ls;
                ls << l.rdbuf();
                log = ls.str();
            }
            throw std::runtime_error("pg_server: " + what + " failed: " + ss.str() + (log.empty() ? "" : "\n" + log));
        }
        return ss.str();
    }

    std::string tag_;
    bool as_postgres_ = false;
    uid_t uid_ = 0;
    gid_t gid_ = 0;
    std::string dir_;
    std::string data_;
    std::string log_;
    int port_ = 0;
    bool running_ = false;
};

} // namespace tapewire::test
