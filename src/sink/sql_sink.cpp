#include "src/sink/sql_sink.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "src/base/clock.hpp"
#include "src/base/duration_text.hpp"
#include "src/base/log.hpp"
#include "tapewire/json_write.hpp"

namespace tapewire {

// ---- graph side ------------------------------------------------------------------------------------

sql_channel::sql_channel(const sink_config& cfg, sql_ring& ring, std::string source, const std::atomic<bool>* abort,
                         stall_sink stalled)
    : cfg_(cfg), ring_(ring), source_(std::move(source)), put_(put_wait{abort, k_full_ring_wait, stalled}),
      half_interval_ns_(std::max<std::int64_t>(1, cfg.batch_interval.count() / 2)) {}

void sql_channel::put(sql_item&& item) {
    // The writer is behind (or the database away): hold the graph, and so the input, until it
    // takes more. Never a drop; on abort the item goes (the pipeline is failing anyway).
    const bool put = put_([&] {
        if (ring_.try_stage(std::move(item))) return true;
        ring_.publish();
        return false;
    });
    if (put && ring_.staged_count() >= 64) ring_.publish();
}

void sql_channel::moved(const origin& o) {
    if (o.partition < 0 || o.offset < 0) return;
    const auto p = static_cast<std::size_t>(o.partition);
    if (p >= next_.size()) {
        next_.resize(p + 1, -1);
        moved_.resize(p + 1, 0);
    }
    next_[p] = std::max(next_[p], o.offset + 1);
    moved_[p] = 1;
    any_moved_ = true;
}

void sql_channel::on_tick(const tick& t) {
    moved(t.src);
    if (cfg_.archive_ticks) {
        put(sql_item{t});
        ++rows_since_;
    }
}

void sql_channel::on_bar(const bar& b) {
    if (!cfg_.bars) return;
    put(sql_item{b, mono_ns()});
    ++rows_since_;
}

void sql_channel::on_alert(const alert& a) {
    if (!cfg_.alerts) return;
    put(sql_item{a});
    ++rows_since_;
}

void sql_channel::on_dead_letter(const dead_letter_view& d) {
    moved(d.src);
    if (!cfg_.dead_letters) return;
    auto r = std::make_unique<sql::dead_letter_row>();
    r->reason = std::string(to_string(d.reason));
    r->detail = std::string(d.detail);
    r->payload = std::string(d.payload);
    r->key = std::string(d.key);
    r->source = source_;
    r->partition = d.src.partition;
    r->offset = d.src.offset;
    r->received_at = wall_ns();
    put(sql_item{std::move(r)});
    ++rows_since_;
}

bool sql_channel::due(std::int64_t now_mono) noexcept {
    if (rows_since_ == 0 && !any_moved_) return false;
    if (rows_since_ >= cfg_.batch_rows) return true;
    if (first_row_mono_ == 0) first_row_mono_ = now_mono; // the first pass that sees them
    return now_mono - first_row_mono_ >= half_interval_ns_;
}

void sql_channel::moved_partitions(std::vector<std::int32_t>& out) const {
    for (std::size_t p = 0; p < moved_.size(); ++p)
        if (moved_[p] != 0) out.push_back(static_cast<std::int32_t>(p));
}

std::int64_t sql_channel::next_offset(std::int32_t partition) const noexcept {
    const auto p = static_cast<std::size_t>(partition);
    return partition >= 0 && p < next_.size() ? next_[p] : -1;
}

void sql_channel::set_next_offset(std::int32_t partition, std::int64_t next) {
    if (partition < 0) return;
    const auto p = static_cast<std::size_t>(partition);
    if (p >= next_.size()) {
        next_.resize(p + 1, -1);
        moved_.resize(p + 1, 0);
    }
    next_[p] = next;
    moved_[p] = 0;
}

void sql_channel::barrier(std::vector<sql::partition_checkpoint> checkpoints, bool end) {
    auto b = std::make_unique<sql_barrier>();
    b->checkpoints = std::move(checkpoints);
    b->first_row_mono = first_row_mono_;
    b->end = end;
    put(sql_item{std::move(b)});
    ring_.publish();
    rows_since_ = 0;
    first_row_mono_ = 0;
    any_moved_ = false;
    std::fill(moved_.begin(), moved_.end(), 0);
}

// ---- writer thread ---------------------------------------------------------------------------------

sql_writer::sql_writer(const sink_config& cfg, sql_ring& ring, std::unique_ptr<sql::store> store, offset_board* board,
                       metrics_registry& metrics, const std::atomic<bool>& abort, std::string source)
    : cfg_(cfg), ring_(ring), store_(std::move(store)), board_(board), abort_(abort), dbms_(store_->dbms()),
      backoff_(cfg.retry_min.count(), cfg.retry_max.count()),
      rows_(&metrics.get_counter("sql_rows_committed", "rows committed to the database")),
      commits_(&metrics.get_counter("sql_commits", "transactions committed")),
      retries_(&metrics.get_counter("sql_retries", "batches sent again after a transient database error")),
      refused_(&metrics.get_counter("sql_rows_refused", "rows the database refused, dead-lettered")),
      commit_ns_(&metrics.get_histogram("sql_commit_ns", "time to write and commit one batch")),
      row_age_ns_(&metrics.get_histogram("sql_row_age_ns", "from the oldest row of a batch's emission to its commit")),
      bar_latency_ns_(&metrics.get_histogram("sql_bar_latency_ns", "from a bar's emission to its commit")),
      pending_rows_(&metrics.get_gauge("sql_pending_rows", "rows gathered and not yet committed")),
      connected_(&metrics.get_gauge("sql_connected",
                                    "1 while the database answers, 0 from a transient error to the next commit")) {
    connected_->set(1); // the store connected before the writer was made
    batch_.ticks_source = std::move(source);
}

sql_writer::~sql_writer() = default;

std::string sql_writer::describe() const { return "odbc(" + dbms_ + ")"; }

void sql_writer::take(sql_item& item) {
    std::visit(
        [this, &item](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, bar>) {
                batch_.bars.push_back(x);
                bar_emitted_.push_back(item.emitted_mono);
            } else if constexpr (std::is_same_v<T, alert>) {
                batch_.alerts.push_back(x);
            } else if constexpr (std::is_same_v<T, tick>) {
                batch_.ticks.push_back(x);
            } else if constexpr (std::is_same_v<T, std::unique_ptr<sql::dead_letter_row>>) {
                batch_.dead_letters.push_back(std::move(*x));
            } else {
                for (auto& c : x->checkpoints) {
                    auto it =
                        std::find_if(batch_.checkpoints.begin(), batch_.checkpoints.end(),
                                     [&](const sql::partition_checkpoint& k) { return k.partition == c.partition; });
                    if (it != batch_.checkpoints.end())
                        *it = std::move(c);
                    else
                        batch_.checkpoints.push_back(std::move(c));
                }
                if (x->first_row_mono != 0) first_rows_.push_back(x->first_row_mono);
                end_seen_ = end_seen_ || x->end;
            }
        },
        item.v);
}

bool sql_writer::commit_due(bool end) const {
    if (end) return true;
    if (batch_.rows() >= cfg_.batch_rows) return true;
    if (ring_.front() == nullptr) return true; // caught up (was_empty() is stale right after a pop)
    const std::int64_t oldest = first_rows_.empty() ? 0 : *std::min_element(first_rows_.begin(), first_rows_.end());
    return oldest != 0 && mono_ns() - oldest >= cfg_.batch_interval.count();
}

std::size_t sql_writer::do_work() {
    if (finished_) return 0;
    const std::int64_t now = mono_ns();
    if (retry_at_ > now) return 0;
    if (ready_) {
        if (!try_commit()) return 0;
        ready_ = false;
        if (end_seen_) {
            finished_ = true;
            return 1;
        }
    }
    std::size_t n = 0;
    while (n < 4096) {
        sql_item* it = ring_.front();
        if (it == nullptr) break;
        const bool is_barrier = std::holds_alternative<std::unique_ptr<sql_barrier>>(it->v);
        take(*it);
        ring_.pop();
        ++n;
        if (is_barrier && commit_due(end_seen_)) {
            ready_ = true;
            break;
        }
    }
    if (ready_ && try_commit()) {
        ready_ = false;
        if (end_seen_) finished_ = true;
    }
    pending_rows_->set(static_cast<std::int64_t>(batch_.rows()));
    return n;
}

void sql_writer::back_off(const sql::sql_error& e) {
    retries_->add();
    connected_->set(0);
    const std::int64_t now = mono_ns();
    const std::int64_t wait = backoff_.next();
    retry_at_ = now + wait;
    if (outage_since_ == 0) outage_since_ = now;
    log::warn("sql", "database unavailable; holding the batch and retrying",
              {{"sqlstate", e.state}, {"error", e.what()}, {"rows", batch_.rows()}, {"retry_in", duration{wait}}});
    reconnect_ = true;
}

bool sql_writer::try_commit() {
    try {
        if (reconnect_) {
            store_->reconnect();
            reconnect_ = false;
        }
        const std::int64_t t0 = mono_ns();
        batch_.written_at = wall_ns();
        try {
            store_->write(batch_);
        } catch (const sql::sql_error& e) {
            if (e.cls != sql::error_class::data) throw;
            isolate_refused(e);
            batch_.written_at = wall_ns();
            store_->write(batch_);
        }
        const std::int64_t t1 = mono_ns();
        commit_ns_->record(t1 - t0);
        for (std::int64_t first : first_rows_) row_age_ns_->record(t1 - first);
        for (std::int64_t e : bar_emitted_) bar_latency_ns_->record(t1 - e);
    } catch (const sql::sql_error& e) {
        if (e.cls == sql::error_class::transient) {
            back_off(e);
            return false;
        }
        throw std::runtime_error(sql::describe(e));
    }
    if (outage_since_ != 0) {
        log::info("sql", "database back; batch committed",
                  {{"outage", duration{mono_ns() - outage_since_}}, {"rows", batch_.rows()}});
        outage_since_ = 0;
    }
    backoff_.reset();
    connected_->set(1);
    rows_->add(batch_.rows());
    commits_->add();
    if (!batch_.checkpoints.empty()) {
        for (const auto& c : batch_.checkpoints) {
            auto it = std::find_if(committed_.begin(), committed_.end(),
                                   [&](const auto& k) { return k.first == c.partition; });
            if (it != committed_.end())
                it->second = c.next_offset;
            else
                committed_.emplace_back(c.partition, c.next_offset);
        }
        if (board_ != nullptr) board_->publish(committed_);
    }
    batch_.bars.clear();
    bar_emitted_.clear();
    batch_.alerts.clear();
    batch_.dead_letters.clear();
    batch_.ticks.clear();
    batch_.checkpoints.clear();
    first_rows_.clear();
    return true;
}

// Finds the rows the database refuses by bisection over probe transactions (always rolled back),
// takes them out of the batch and dead-letters them with the database's message.
void sql_writer::isolate_refused(const sql::sql_error& first) {
    using sql::table_id;
    struct row_ref {
        table_id table; // bars, alerts, dead_letters or ticks
        std::size_t index;
    };
    std::vector<row_ref> all;
    for (std::size_t i = 0; i < batch_.bars.size(); ++i) all.push_back({table_id::bars, i});
    for (std::size_t i = 0; i < batch_.alerts.size(); ++i) all.push_back({table_id::alerts, i});
    for (std::size_t i = 0; i < batch_.dead_letters.size(); ++i) all.push_back({table_id::dead_letters, i});
    for (std::size_t i = 0; i < batch_.ticks.size(); ++i) all.push_back({table_id::ticks, i});

    auto subset = [this](const std::vector<row_ref>& refs) {
        sql::batch b;
        b.ticks_source = batch_.ticks_source;
        b.written_at = batch_.written_at;
        for (const auto& r : refs) {
            switch (r.table) {
            case table_id::bars: b.bars.push_back(batch_.bars[r.index]); break;
            case table_id::alerts: b.alerts.push_back(batch_.alerts[r.index]); break;
            case table_id::dead_letters: b.dead_letters.push_back(batch_.dead_letters[r.index]); break;
            case table_id::ticks: b.ticks.push_back(batch_.ticks[r.index]); break;
            case table_id::offsets:
            case table_id::state: break; // checkpoints are never refused rows
            }
        }
        return b;
    };
    std::vector<std::pair<row_ref, std::string>> refused;
    // Depth-first over halves; a refused single row is isolated.
    std::vector<std::vector<row_ref>> todo{all};
    while (!todo.empty()) {
        std::vector<row_ref> refs = std::move(todo.back());
        todo.pop_back();
        try {
            store_->probe(subset(refs));
        } catch (const sql::sql_error& e) {
            if (e.cls != sql::error_class::data) throw;
            if (refs.size() == 1) {
                refused.emplace_back(refs[0], e.what());
                continue;
            }
            const auto mid = refs.begin() + static_cast<std::ptrdiff_t>(refs.size() / 2);
            todo.emplace_back(mid, refs.end());
            todo.emplace_back(refs.begin(), mid);
        }
    }
    if (refused.empty()) // refused together but not apart: nothing to isolate
        throw sql::sql_error(sql::error_class::fatal, first.state, first.what());

    std::array<std::vector<char>, sql::k_table_count> drop; // by table_id
    const auto dropped = [&drop](table_id t) -> std::vector<char>& { return drop[static_cast<std::size_t>(t)]; };
    dropped(table_id::bars).resize(batch_.bars.size());
    dropped(table_id::alerts).resize(batch_.alerts.size());
    dropped(table_id::ticks).resize(batch_.ticks.size());
    std::vector<sql::dead_letter_row> letters;
    for (const auto& [r, message] : refused) {
        if (r.table == table_id::dead_letters) // a dead letter the database refuses cannot be kept anywhere
            throw sql::sql_error(sql::error_class::fatal, first.state,
                                 "the database refuses a dead letter row: " + message);
        dropped(r.table)[r.index] = 1;
        char buf[640];
        json_buffer j(buf, sizeof buf);
        sql::dead_letter_row d;
        d.reason = "database";
        d.detail = message;
        d.received_at = wall_ns();
        switch (r.table) {
        case table_id::bars: {
            const bar& b = batch_.bars[r.index];
            write_bar_json(j, b);
            d.key = std::string(b.sym.view());
            // The width tells apart the bars of several widths that start together.
            d.source = "db:" + cfg_.bars_table + ":" + std::string(b.sym.view()) + ":" +
                       format_duration(duration{bar_width(b)});
            d.partition = b.partition;
            d.offset = b.window_start; // one refused row per window
            break;
        }
        case table_id::alerts: {
            const alert& a = batch_.alerts[r.index];
            write_alert_json(j, a);
            d.key = std::string(a.sym.view());
            d.source =
                "db:" + cfg_.alerts_table + ":" + std::string(a.sym.view()) + ":" + std::string(to_string(a.kind));
            d.partition = a.partition;
            d.offset = a.ts;
            break;
        }
        default: { // ticks
            const tick& t = batch_.ticks[r.index];
            write_tick_json(j, t);
            d.key = std::string(t.sym.view());
            d.source = "db:" + cfg_.ticks_table + ":" + std::string(t.sym.view());
            d.partition = t.src.partition;
            d.offset = t.src.offset;
            break;
        }
        }
        d.payload = std::string(j.view());
        log::warn("sql", "the database refused a row; it goes to the dead letters",
                  {{"source", d.source}, {"key", d.key}, {"error", message}});
        letters.push_back(std::move(d));
        refused_->add();
    }
    auto keep = [](auto& rows, const std::vector<char>& d) {
        std::size_t out = 0;
        for (std::size_t i = 0; i < rows.size(); ++i)
            if (d[i] == 0) rows[out++] = std::move(rows[i]);
        rows.resize(out);
    };
    keep(batch_.bars, dropped(table_id::bars));
    keep(bar_emitted_, dropped(table_id::bars));
    keep(batch_.alerts, dropped(table_id::alerts));
    keep(batch_.ticks, dropped(table_id::ticks));
    for (auto& d : letters) batch_.dead_letters.push_back(std::move(d));
}

void sql_writer::on_close() {
    // Stopped before the end (a failure elsewhere): what is not committed is re-read from Kafka by
    // the next run, since its offsets were not committed either.
    pending_rows_->set(static_cast<std::int64_t>(batch_.rows()));
}

} // namespace tapewire
