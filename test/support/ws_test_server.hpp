// A local websocket server (ws:// or wss://, 127.0.0.1, a free port) that plays Yahoo's streamer for the
// tests and benchmarks: each connection waits for the client's first text message (the subscribe),
// then replays a list of text frames, and records every text message the clients send. Faults are
// scripted: drop a connection after N frames (the first connection or every one), garbage frames,
// frames pushed to every open connection on demand. Runs on its own thread; stop() or the destructor
// ends it. Its accessors are thread safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace tapewire::test {

struct ws_server_options {
    std::vector<std::string> frames;         // replayed, in order, after the first message of a connection
    std::vector<std::string> garbage_before; // sent before `frames` (bad JSON, bad base64, ...)
    std::chrono::milliseconds delay{0};      // wait before each frame after the first
    std::size_t drop_after = 0;              // close a connection after sending this many frames (0 = never)
    bool drop_every_connection = false;      // false: only the first connection drops
    bool drop_with_close_frame = false;      // true: a websocket close (1001 going away); false: TCP close
    std::string target = "/?version=2";      // the path url() names (the server accepts any)
    std::filesystem::path tls_cert, tls_key; // both set: wss:// with this certificate (test_certs.hpp)
};

class ws_test_server {
public:
    explicit ws_test_server(ws_server_options opt);
    ~ws_test_server();
    ws_test_server(const ws_test_server&) = delete;
    ws_test_server& operator=(const ws_test_server&) = delete;

    // "ws://127.0.0.1:<port>/?version=2" (wss:// with TLS)
    [[nodiscard]] std::string url() const;
    [[nodiscard]] unsigned short port() const;

    // Sends `text` to every connection that has subscribed, after what it already has queued.
    void push_to_all(std::string text);

    struct message {
        std::size_t connection = 0; // 1 = the first connection accepted
        std::string text;
    };
    // Every text message received, in arrival order.
    [[nodiscard]] std::vector<message> messages() const;
    [[nodiscard]] std::size_t connections() const; // websocket handshakes accepted
    [[nodiscard]] std::size_t frames_sent() const; // frames written, all connections
    [[nodiscard]] std::string last_user_agent() const;
    [[nodiscard]] std::string last_host() const;
    [[nodiscard]] std::string last_target() const;

    // Closes the listener and every connection and joins the thread. Idempotent.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace tapewire::test
