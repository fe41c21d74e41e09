#include "src/sources/source_factory.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "src/base/clock.hpp"
#include "src/sources/replay.hpp"
#include "src/sources/synthetic.hpp"
#include "src/sources/yahoo_source.hpp"
#include "tapewire/json_write.hpp"
#include "tapewire/time_text.hpp"

namespace tapewire {

namespace {

timestamp_ns resolve_start(const std::string& start) {
    if (start.empty() || start == "now") return wall_ns();
    timestamp_ns ts = 0;
    if (!parse_timestamp_text(start, ts))
        throw std::runtime_error("source.start: '" + start + "' is neither \"now\" nor an RFC 3339 time");
    return ts;
}

// Canonical tick JSON for every generated trade, paced at `rate` ticks/s of wall-clock time.
class synthetic_source final : public message_source {
public:
    explicit synthetic_source(const source_config& cfg)
        : market_(cfg, resolve_start(cfg.start)), rate_(cfg.rate), buf_(buf_storage_, sizeof buf_storage_) {
        const std::string& labels = cfg.anomalies.labels;
        if (cfg.anomalies.enabled && !labels.empty()) {
            const std::filesystem::path p(labels);
            std::error_code ec;
            if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
            labels_ = std::fopen(labels.c_str(), "w");
            if (labels_ == nullptr)
                throw std::runtime_error("source.anomalies.labels: cannot open '" + labels +
                                         "': " + std::strerror(errno));
        }
    }
    ~synthetic_source() override { close(); }

    pull_result next(source_message& out) override {
        market_.next(tick_);
        buf_.clear();
        write_tick_json(buf_, tick_);
        out.key = tick_.sym.view();
        out.payload = buf_.view();
        out.partition = 0;
        if (rate_ > 0) {
            if (start_mono_ == 0) start_mono_ = mono_ns();
            out.release_at_mono_ns = start_mono_ + static_cast<std::int64_t>(static_cast<double>(count_) * 1e9 / rate_);
        }
        ++count_;
        if ((count_ & 1023) == 0) write_labels();
        return pull_result::message;
    }

    void close() override {
        if (labels_ == nullptr) return;
        write_labels();
        std::fclose(labels_);
        labels_ = nullptr;
    }

private:
    void write_labels() {
        if (labels_ == nullptr) return;
        events_.clear();
        market_.take_injected(events_);
        char line[256];
        for (const injected_event& e : events_) {
            json_buffer j(line, sizeof line);
            write_label_json(j, e);
            std::fwrite(j.view().data(), 1, j.size(), labels_);
            std::fputc('\n', labels_);
        }
    }

    synthetic_market market_;
    double rate_;
    tick tick_;
    char buf_storage_[256];
    json_buffer buf_;
    std::int64_t start_mono_ = 0;
    std::uint64_t count_ = 0;
    std::FILE* labels_ = nullptr;
    std::vector<injected_event> events_;
};

// NDJSON lines as they are in the files, invalid ones included: the parse stage judges them.
class replay_source final : public message_source {
public:
    explicit replay_source(const source_config& cfg) : reader_(cfg.path), pacer_(cfg.speed) {}

    pull_result next(source_message& out) override {
        std::string_view line;
        if (!reader_.next(line)) return pull_result::end;
        out.payload = line;
        std::string_view sym;
        out.key = peek_symbol(line, sym) ? sym : std::string_view{};
        out.partition = 0;
        out.release_at_mono_ns = 0;
        timestamp_ns ts = 0;
        if (pacer_.speed() > 0 && peek_ts(line, ts)) out.release_at_mono_ns = pacer_.release_at_ns(ts, mono_ns());
        return pull_result::message;
    }

private:
    replay_reader reader_;
    replay_pacer pacer_;
};

} // namespace

std::unique_ptr<message_source> make_message_source(const source_config& cfg, metrics_registry& metrics,
                                                    error_handler on_error, const source_context& context) {
    switch (cfg.kind) {
    case source_kind::synthetic: return std::make_unique<synthetic_source>(cfg);
    case source_kind::replay: return std::make_unique<replay_source>(cfg);
    case source_kind::yahoo_chart:
    case source_kind::yahoo_stream: return make_yahoo_source(cfg, metrics, std::move(on_error), context);
    }
    throw std::runtime_error("source.kind " + std::to_string(static_cast<int>(cfg.kind)) + " is not a source kind");
}

} // namespace tapewire
