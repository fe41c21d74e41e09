#include "src/sink/ndjson.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "tapewire/json_write.hpp"

namespace tapewire {

ndjson_sink::ndjson_sink(const sink_config& cfg, std::int64_t flush_interval_ns)
    : cfg_(cfg), path_(cfg.path), flush_interval_ns_(flush_interval_ns) {
    if (path_ == "-") {
        out_ = stdout;
    } else {
        const std::filesystem::path p(path_);
        std::error_code ec;
        if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
        out_ = std::fopen(path_.c_str(), "w");
        if (out_ == nullptr)
            throw std::runtime_error("ndjson sink: cannot open '" + path_ + "': " + std::strerror(errno));
        owns_ = true;
    }
    std::setvbuf(out_, nullptr, _IOFBF, 1 << 20);
}

ndjson_sink::~ndjson_sink() {
    if (out_ == nullptr) return;
    std::fflush(out_);
    if (owns_) std::fclose(out_);
}

void ndjson_sink::write_line(std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), out_);
    std::fputc('\n', out_);
    dirty_ = true;
}

void ndjson_sink::on_bar(const bar& b) {
    ++bars_;
    if (!cfg_.bars) return;
    char buf[640];
    json_buffer j(buf, sizeof buf);
    write_bar_json(j, b);
    write_line(j.view());
}

void ndjson_sink::on_bar_update(const bar& b) {
    ++bar_updates_;
    if (!cfg_.updates) return;
    char buf[640];
    json_buffer j(buf, sizeof buf);
    write_bar_update_json(j, b);
    write_line(j.view());
}

void ndjson_sink::on_alert(const alert& a) {
    ++alerts_;
    if (!cfg_.alerts) return;
    char buf[320];
    json_buffer j(buf, sizeof buf);
    write_alert_json(j, a);
    write_line(j.view());
}

void ndjson_sink::on_dead_letter(const dead_letter_view& d) {
    ++dead_letters_;
    ++by_reason_[static_cast<std::size_t>(d.reason)];
    if (!cfg_.dead_letters) return;
    // Payloads can be any size: escaping can at most sextuple each byte.
    const std::size_t need = 256 + 6 * (d.payload.size() + d.key.size() + d.detail.size());
    if (line_.size() < need) line_.resize(need);
    json_buffer j(line_.data(), line_.size());
    write_dead_letter_json(j, d);
    write_line(j.view());
}

void ndjson_sink::on_timer(timestamp_ns now) {
    if (dirty_ && now - last_flush_ >= flush_interval_ns_) {
        std::fflush(out_);
        dirty_ = false;
        last_flush_ = now;
    }
}

void ndjson_sink::on_flush() {
    std::fflush(out_);
    dirty_ = false;
}

} // namespace tapewire
