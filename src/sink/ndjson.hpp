// NDJSON sink: one JSON object a line for each bar, alert and dead letter (and, with sink.updates,
// each bar update), to a file or stdout.
// Writes through a large stdio buffer; flushes at end of input and every flush_interval of
// processing time, so `tail -f` sees output while nothing syscalls per event.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tapewire/config.hpp"
#include "tapewire/stage.hpp"

namespace tapewire {

class ndjson_sink {
public:
    // Opens (truncates) `cfg.path`, creating its folder; "-" is standard output. Throws
    // std::runtime_error naming the path when it cannot be opened.
    explicit ndjson_sink(const sink_config& cfg, std::int64_t flush_interval_ns = 200'000'000);
    ~ndjson_sink();
    ndjson_sink(const ndjson_sink&) = delete;
    ndjson_sink& operator=(const ndjson_sink&) = delete;

    void on_tick(const tick&) {}
    void on_bar(const bar& b);
    void on_bar_update(const bar& b); // written only with sink.updates
    void on_alert(const alert& a);
    void on_dead_letter(const dead_letter_view& d);
    void on_watermark(const watermark&) {}
    void on_timer(timestamp_ns now);
    void on_flush();

    [[nodiscard]] std::uint64_t bars() const noexcept { return bars_; }
    [[nodiscard]] std::uint64_t bar_updates() const noexcept { return bar_updates_; }
    [[nodiscard]] std::uint64_t alerts() const noexcept { return alerts_; }
    [[nodiscard]] std::uint64_t dead_letters() const noexcept { return dead_letters_; }
    [[nodiscard]] std::uint64_t dead_letters(dead_letter_reason r) const noexcept {
        return by_reason_[static_cast<std::size_t>(r)];
    }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    void write_line(std::string_view s);

    sink_config cfg_;
    std::string path_;
    std::FILE* out_ = nullptr;
    bool owns_ = false;
    std::string line_; // reused for oversize dead letters; capacity kept
    std::int64_t flush_interval_ns_;
    timestamp_ns last_flush_ = 0;
    bool dirty_ = false;
    std::uint64_t bars_ = 0, bar_updates_ = 0, alerts_ = 0, dead_letters_ = 0;
    std::array<std::uint64_t, k_dead_letter_reasons> by_reason_{};
};

static_assert(emitter<ndjson_sink>);

} // namespace tapewire
