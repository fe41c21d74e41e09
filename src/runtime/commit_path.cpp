#include "src/runtime/commit_path.hpp"

#include <algorithm>

#include "operators/checkpoint.hpp"
#include "src/base/clock.hpp"
#include "src/base/log.hpp"

namespace tapewire {

std::runtime_error database_error(const sql::sql_error& e) { return std::runtime_error(sql::describe(e)); }

// ---- offset_publisher ------------------------------------------------------------------------------

void offset_publisher::on_timer(std::int64_t now_mono, const window_stage& window, output_sink& sink) {
    if (board_ == nullptr || now_mono - last_ < 100'000'000) return;
    last_ = now_mono;
    window.safe_offsets(scratch_);
    if (scratch_.empty()) return;
    const std::uint64_t mark = sink.sync_files();
    pending_.push_back({scratch_, mark});
    release();
}

void offset_publisher::release() {
    const std::uint64_t delivered = outputs_ != nullptr ? outputs_->delivered() : 0;
    const partition_offsets* latest = nullptr;
    std::size_t n = 0;
    for (const auto& p : pending_) {
        if (p.mark > delivered) break;
        latest = &p.safe;
        ++n;
    }
    if (latest != nullptr) board_->publish(*latest);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    if (pending_.size() > 64) pending_.erase(pending_.begin()); // outputs stuck: keep the newest
}

// ---- restore_board ---------------------------------------------------------------------------------

void restore_board::put(std::int32_t partition, std::int64_t next_offset, std::string state) {
    std::lock_guard<std::mutex> lock(mu_);
    saved_[partition] = {next_offset, std::move(state)};
}

std::optional<std::pair<std::int64_t, std::string>> restore_board::take(std::int32_t partition) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = saved_.find(partition);
    if (it == saved_.end()) return std::nullopt;
    auto v = std::move(it->second);
    saved_.erase(it);
    return v;
}

// ---- checkpoint_loader -----------------------------------------------------------------------------

saved_offsets checkpoint_loader::load(const std::vector<std::int32_t>& partitions) {
    try {
        if (!store_) store_ = std::make_unique<sql::store>(options_);
        saved_offsets out;
        for (auto& cp : store_->load(partitions)) {
            out.offsets.emplace_back(cp.partition, cp.next_offset);
            board_.put(cp.partition, cp.next_offset, std::move(cp.state));
        }
        return out;
    } catch (const sql::sql_error& e) {
        if (e.cls != sql::error_class::transient) throw database_error(e);
        store_.reset(); // reconnect at the next attempt
        return {{}, e.what()};
    }
}

// ---- sql_checkpointer ------------------------------------------------------------------------------

namespace {

// Says when a saved state was not read as it was written: an older release's format, or the other
// event-time mode. Nothing is lost either way; the line tells the operator why the clocks moved.
void log_restore(std::int32_t p, const restore_report& r) {
    const char* mode = r.per_symbol ? "symbol" : "partition";
    if (r.migrated())
        log::info("checkpoint",
                  "partition restored from an older release's format, migrated: each symbol's event time starts at "
                  "its partition's",
                  {{"partition", p}, {"format", r.from_version}, {"symbols", r.symbols}, {"watermark", mode}});
    else if (r.converted())
        log::info("checkpoint",
                  r.per_symbol ? "partition saved with one event time per partition, converted: each symbol's "
                                 "event time starts at its partition's"
                               : "partition saved with event time per symbol, converted: the partition's event "
                                 "time is its fastest symbol's",
                  {{"partition", p}, {"symbols", r.symbols}, {"watermark", mode}});
    if (r.bar_memory_missing)
        log::info("checkpoint",
                  "partition saved without bar memory (an older release): a re-sent bar up to each symbol's last "
                  "event time counts as beyond memory and is not merged again",
                  {{"partition", p}, {"symbols", r.symbols}});
}

} // namespace

timestamp_ns sql_checkpointer::processing_now() const noexcept {
    return wall_ns() - (ch_ != nullptr ? ch_->blocked_ns() : 0);
}

void sql_checkpointer::on_control(const partition_control& c, analytics& an) {
    if (c.what == partition_control::action::revoke) {
        if (ch_ != nullptr) send(an, false);
        for (std::int32_t p : c.partitions) {
            std::erase(owned_, p);
            if (ch_ != nullptr) ch_->set_next_offset(p, -1);
        }
        an.window.discard_partitions(c.partitions);
        return;
    }
    for (std::int32_t p : c.partitions) {
        std::optional<std::pair<std::int64_t, std::string>> saved;
        if (board_ != nullptr) saved = board_->take(p);
        // Nothing saved: start empty, whatever an earlier ownership of the partition left.
        if (saved)
            log_restore(p, restore_partition_state(an.window, an.vwap, an.anomaly, p, saved->second, processing_now()));
        else
            clear_partition_state(an.window, an.vwap, an.anomaly, p, processing_now());
        if (ch_ != nullptr) ch_->set_next_offset(p, saved ? saved->first : -1);
        if (std::find(owned_.begin(), owned_.end(), p) == owned_.end()) owned_.push_back(p);
    }
}

void sql_checkpointer::send(analytics& an, bool end) {
    std::vector<sql::partition_checkpoint> cps;
    if (board_ != nullptr) { // resumable: each barrier carries the changed partitions' state
        scratch_.clear();
        an.window.changed_partitions(scratch_);
        ch_->moved_partitions(scratch_);
        std::sort(scratch_.begin(), scratch_.end());
        scratch_.erase(std::unique(scratch_.begin(), scratch_.end()), scratch_.end());
        for (std::int32_t p : scratch_) {
            if (std::find(owned_.begin(), owned_.end(), p) == owned_.end()) continue;
            const std::int64_t next = ch_->next_offset(p);
            if (next < 0) continue;
            cps.push_back({p, next, save_partition_state(an.window, an.vwap, an.anomaly, p)});
        }
    }
    ch_->barrier(std::move(cps), end);
}

} // namespace tapewire
