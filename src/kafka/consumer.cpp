#include "src/kafka/consumer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "src/base/clock.hpp"
#include "src/base/log.hpp"

namespace tapewire {

namespace {

constexpr std::size_t k_batch = 1024;
constexpr std::int64_t k_store_every_ns = 100'000'000;
constexpr std::int64_t k_lag_every_ns = 1'000'000'000;

} // namespace

kafka_consumer_source::kafka_consumer_source(const kafka_config& cfg, const std::string& bootstrap,
                                             metrics_registry& metrics, const offset_board& board,
                                             const kafka_properties& run_defaults)
    : cfg_(cfg), metrics_(metrics), board_(board), batch_(k_batch, nullptr),
      consumed_(&metrics.get_counter("kafka_consumed_total", "messages handed from Kafka to the graph")),
      rebalances_(&metrics.get_counter("kafka_rebalances_total", "partition assignments and revocations")),
      pauses_(&metrics.get_counter("kafka_pauses_total", "times the partitions were paused by a full input ring")),
      errors_(&metrics.get_counter("kafka_consumer_errors_total", "error events from the consumer")),
      load_retries_(
          &metrics.get_counter("kafka_offset_load_retries_total",
                               "attempts to load assigned partitions' saved offsets that found the store away")),
      rewound_(&metrics.get_counter("kafka_rewound_messages_total",
                                    "messages librdkafka delivered again below the partition's position, skipped")),
      held_gauge_(&metrics.get_gauge("kafka_partitions_held",
                                     "partitions assigned by the group, held until their saved offsets are loaded")),
      positions_(cfg.partitions) {
    kafka_conf conf = make_kafka_conf(cfg, kafka_role::consumer, bootstrap, "tapewire-process", run_defaults);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &kafka_consumer_source::rebalance_cb);
    rd_kafka_conf_set_opaque(conf.get(), this);
    rk_ = make_kafka_client(std::move(conf), kafka_role::consumer);
    (void)rd_kafka_poll_set_consumer(rk_.get());
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    kafka_partition_list topics(rd_kafka_topic_partition_list_new(1));
    (void)rd_kafka_topic_partition_list_add(topics.get(), cfg.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw kafka_error("cannot subscribe to " + cfg.topic + ": " + rd_kafka_err2str(err));
}

kafka_consumer_source::~kafka_consumer_source() {
    release_batch();
    if (!closed_ && rk_) leave_group();
    queue_.reset();
}

void kafka_consumer_source::rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                         void* opaque) {
    static_cast<kafka_consumer_source*>(opaque)->on_rebalance(err, parts);
}

void kafka_consumer_source::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    rebalances_->add();
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assigned(parts);
    else
        on_revoked(parts);
}

bool kafka_consumer_source::cooperative() const {
    return std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
}

void kafka_consumer_source::on_assigned(rd_kafka_topic_partition_list_t* parts) {
    for (int i = 0; i < parts->cnt; ++i) {
        const std::int32_t p = parts->elems[i].partition;
        if (state_of(p) != nullptr) continue;
        partition_state s{p};
        s.lag = &metrics_.get_gauge("kafka_consumer_lag{topic=\"" + cfg_.topic + "\",partition=\"" + std::to_string(p) +
                                        "\"}",
                                    "high watermark minus the consumer's position");
        assigned_.push_back(s);
    }
    std::sort(assigned_.begin(), assigned_.end(),
              [](const partition_state& a, const partition_state& b) { return a.partition < b.partition; });
    ever_assigned_ = true;
    assigned_count_.store(assigned_.size(), std::memory_order_relaxed);
    if (!loader_) {
        assign(parts);
        return;
    }
    // Held: poll() loads their saved offsets (never this callback, which must not wait on a
    // database) and assigns them then; until that, librdkafka fetches nothing from them.
    for (int i = 0; i < parts->cnt; ++i) held_.push_back(parts->elems[i].partition);
    held_gauge_->set(static_cast<std::int64_t>(held_.size()));
    retry_at_ = 0;
}

void kafka_consumer_source::assign_held(std::int64_t now) {
    const saved_offsets saved = loader_(held_);
    if (!saved.unavailable.empty()) {
        const std::int64_t wait = retry_.next();
        retry_at_ = now + wait;
        load_retries_->add();
        log::warn("sql", "cannot load the saved offsets; retrying",
                  {{"error", saved.unavailable}, {"retry_in", std::chrono::nanoseconds(wait)}, {"held", held_.size()}});
        return;
    }
    retry_.reset();
    kafka_partition_list parts(rd_kafka_topic_partition_list_new(static_cast<int>(held_.size())));
    for (std::int32_t p : held_) rd_kafka_topic_partition_list_add(parts.get(), cfg_.topic.c_str(), p);
    for (const auto& [p, next] : saved.offsets) {
        if (auto* tp = rd_kafka_topic_partition_list_find(parts.get(), cfg_.topic.c_str(), p)) tp->offset = next;
        if (partition_state* s = state_of(p)) s->position = next; // nothing below it is read
    }
    // Ahead of the partitions' first message: they are assigned only now, below.
    controls_.push_back({partition_control::action::restore, std::move(held_)});
    held_.clear();
    held_gauge_->set(0);
    // Outside the rebalance callback. rdkafka.h (2.0) on rd_kafka_incremental_assign: "This method
    // may also be used outside the context of a rebalance callback"; librdkafka's maintainer on
    // rd_kafka_assign: "the application must call assign() after the rebalance callback or event
    // has been triggered within the session timeout, but not necessarily from the callback itself"
    // (confluentinc/librdkafka#1323). Heartbeats go on while the group waits for the call
    // (confluentinc/librdkafka#598): the held-partitions test waits past session.timeout.ms.
    assign(parts.get());
}

void kafka_consumer_source::assign(rd_kafka_topic_partition_list_t* parts) {
    rd_kafka_error_t* e = nullptr;
    if (cooperative()) {
        e = rd_kafka_incremental_assign(rk_.get(), parts);
    } else {
        const rd_kafka_resp_err_t r = rd_kafka_assign(rk_.get(), parts);
        if (r != RD_KAFKA_RESP_ERR_NO_ERROR) e = rd_kafka_error_new(r, "%s", rd_kafka_err2str(r));
    }
    if (e != nullptr) {
        log::error("kafka", "assign failed", {{"error", rd_kafka_error_string(e)}});
        rd_kafka_error_destroy(e);
    }
    if (paused_) (void)rd_kafka_pause_partitions(rk_.get(), parts);
    log::info("kafka", "partitions assigned",
              {{"assigned", parts->cnt}, {"topic", cfg_.topic}, {"owned", assigned_.size()}});
}

// Revoked: hand the partitions back with the offsets the graph is done with stored, so the next
// owner resumes there; messages fetched but not handed over are dropped (it reads them).
void kafka_consumer_source::on_revoked(const rd_kafka_topic_partition_list_t* parts) {
    const bool incremental = cooperative();
    std::vector<std::int32_t> revoked;
    for (int i = 0; i < parts->cnt; ++i) revoked.push_back(parts->elems[i].partition);
    if (auto safe = board_.read_if_newer(board_seen_); safe) store_offsets(*safe);
    // Asynchronous: a synchronous commit inside a rebalance can wait on that very rebalance.
    (void)rd_kafka_commit(rk_.get(), nullptr, 1);
    for (std::size_t i = batch_next_; i < batch_count_; ++i) {
        if (batch_[i] == nullptr) continue;
        if (std::find(revoked.begin(), revoked.end(), batch_[i]->partition) != revoked.end()) {
            rd_kafka_message_destroy(batch_[i]);
            batch_[i] = nullptr;
        }
    }
    // The graph forgets the open windows of these partitions when this reaches it, behind the
    // last of their ticks: the next owner rebuilds them from the committed offsets.
    controls_.push_back({partition_control::action::revoke, revoked});
    std::erase_if(assigned_, [&](const partition_state& s) {
        return std::find(revoked.begin(), revoked.end(), s.partition) != revoked.end();
    });
    // Held partitions never reached librdkafka's assignment: they are dropped, not unassigned.
    kafka_partition_list owned(rd_kafka_topic_partition_list_new(parts->cnt));
    for (std::int32_t p : revoked)
        if (std::find(held_.begin(), held_.end(), p) == held_.end())
            rd_kafka_topic_partition_list_add(owned.get(), cfg_.topic.c_str(), p);
    if (incremental) {
        std::erase_if(held_,
                      [&](std::int32_t p) { return std::find(revoked.begin(), revoked.end(), p) != revoked.end(); });
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), owned.get())) rd_kafka_error_destroy(e);
    } else {
        held_.clear(); // an eager revocation takes everything
        (void)rd_kafka_assign(rk_.get(), nullptr);
    }
    held_gauge_->set(static_cast<std::int64_t>(held_.size()));
    assigned_count_.store(assigned_.size(), std::memory_order_relaxed);
    log::info("kafka", "partitions revoked",
              {{"revoked", parts->cnt}, {"topic", cfg_.topic}, {"owned", assigned_.size()}});
}

kafka_consumer_source::partition_state* kafka_consumer_source::state_of(std::int32_t partition) {
    for (auto& s : assigned_)
        if (s.partition == partition) return &s;
    return nullptr;
}

void kafka_consumer_source::release_batch() {
    for (std::size_t i = 0; i < batch_count_; ++i)
        if (batch_[i] != nullptr) rd_kafka_message_destroy(batch_[i]);
    batch_count_ = batch_next_ = 0;
}

bool kafka_consumer_source::fill_batch() {
    release_batch();
    const ssize_t n = rd_kafka_consume_batch_queue(queue_.get(), 0, batch_.data(), batch_.size());
    if (n < 0) throw kafka_error(std::string("consume failed: ") + rd_kafka_err2str(rd_kafka_last_error()));
    batch_count_ = static_cast<std::size_t>(n);
    return n > 0;
}

pull_result kafka_consumer_source::next(source_message& out) {
    // The message handed out last is done with once the next one is asked for.
    if (batch_next_ > 0 && batch_next_ <= batch_count_ && batch_[batch_next_ - 1] != nullptr) {
        rd_kafka_message_destroy(batch_[batch_next_ - 1]);
        batch_[batch_next_ - 1] = nullptr;
    }
    for (;;) {
        if (!controls_.empty()) {
            control_sent_ = std::move(controls_.front());
            controls_.pop_front();
            out = source_message{};
            out.control = &control_sent_;
            return pull_result::control;
        }
        if (batch_next_ >= batch_count_) {
            // A rebalance inside this call queues its instruction ahead of the new batch.
            if (fill_batch() || !controls_.empty()) continue;
            return reached_end() ? pull_result::end : pull_result::idle;
        }
        rd_kafka_message_t* m = batch_[batch_next_++];
        if (m == nullptr) continue; // dropped on revocation
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (partition_state* s = state_of(m->partition)) s->at_end = true;
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            errors_->add();
            log::warn("kafka", "consumer error", {{"error", rd_kafka_message_errstr(m)}});
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char reason[512];
                rd_kafka_fatal_error(rk_.get(), reason, sizeof reason);
                throw kafka_error(std::string("Kafka consumer fatal error: ") + reason);
            }
            continue;
        }
        if (partition_state* s = state_of(m->partition)) {
            if (m->offset < s->position) [[unlikely]] {
                // Handed over already (or before the offset the partition was assigned at): a
                // position never moves back but by our own assign. librdkafka 2.0 can rewind a
                // partition after pause/resume (confluentinc/librdkafka#4637, #4686, fixed in
                // 2.4): passed on, such messages would be counted twice into restored state.
                rewound_->add();
                if (!s->rewind_told) {
                    s->rewind_told = true;
                    log::warn("kafka", "messages delivered again below the position; skipping them",
                              {{"partition", m->partition}, {"offset", m->offset}, {"position", s->position}});
                }
                rd_kafka_message_destroy(m);
                batch_[batch_next_ - 1] = nullptr;
                continue;
            }
            s->position = m->offset + 1;
            s->at_end = false;
        }
        if (static_cast<std::size_t>(m->partition) < positions_.size())
            positions_[static_cast<std::size_t>(m->partition)].store(m->offset + 1, std::memory_order_relaxed);
        out.key =
            m->key != nullptr ? std::string_view(static_cast<const char*>(m->key), m->key_len) : std::string_view{};
        out.payload = std::string_view(static_cast<const char*>(m->payload), m->len);
        out.partition = m->partition;
        out.offset = m->offset;
        out.release_at_mono_ns = 0;
        out.control = nullptr;
        consumed_->add();
        return pull_result::message;
    }
}

bool kafka_consumer_source::reached_end() const {
    if (targets_) {
        if (!target_ends_) {
            auto t = targets_();
            if (!t) return false;
            const_cast<kafka_consumer_source*>(this)->target_ends_ = std::move(t);
        }
        for (const auto& [p, end] : *target_ends_) {
            const auto it = std::find_if(assigned_.begin(), assigned_.end(),
                                         [p = p](const partition_state& s) { return s.partition == p; });
            if (it == assigned_.end() || it->position < end) return false;
        }
        return true;
    }
    if (!cfg_.stop_at_end || !ever_assigned_ || assigned_.empty()) return false;
    return std::all_of(assigned_.begin(), assigned_.end(), [](const partition_state& s) { return s.at_end; });
}

void kafka_consumer_source::poll() {
    const std::int64_t now = mono_ns();
    if (!held_.empty() && now >= retry_at_) assign_held(now);
    if (now - last_store_ns_ >= k_store_every_ns) {
        last_store_ns_ = now;
        if (auto safe = board_.read_if_newer(board_seen_); safe) store_offsets(*safe);
    }
    if (now - last_lag_ns_ >= k_lag_every_ns) {
        last_lag_ns_ = now;
        update_lag();
    }
}

void kafka_consumer_source::store_offsets(const partition_offsets& offsets) {
    // Never backwards: a snapshot published before a later one may arrive after it (on a
    // revocation during close), and storing it would make the next reader repeat work.
    kafka_partition_list l(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& [p, off] : offsets) {
        partition_state* s = state_of(p);
        if (off < 0 || s == nullptr || off <= s->stored) continue;
        s->stored = off;
        rd_kafka_topic_partition_list_add(l.get(), cfg_.topic.c_str(), p)->offset = off;
    }
    if (l->cnt > 0) (void)rd_kafka_offsets_store(rk_.get(), l.get());
}

void kafka_consumer_source::update_lag() {
    for (auto& s : assigned_) {
        std::int64_t low = 0, high = 0;
        if (rd_kafka_get_watermark_offsets(rk_.get(), cfg_.topic.c_str(), s.partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        const std::int64_t pos = s.position >= 0 ? s.position : low;
        s.lag->set(std::max<std::int64_t>(0, high - pos));
    }
}

void kafka_consumer_source::on_stall(bool stalled) {
    if (stalled == paused_) return;
    paused_ = stalled;
    rd_kafka_topic_partition_list_t* parts = nullptr;
    if (rd_kafka_assignment(rk_.get(), &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || parts == nullptr) return;
    kafka_partition_list owned(parts);
    if (stalled) {
        pauses_->add();
        (void)rd_kafka_pause_partitions(rk_.get(), parts);
    } else {
        (void)rd_kafka_resume_partitions(rk_.get(), parts);
    }
}

void kafka_consumer_source::finish(const partition_offsets& final_offsets) {
    if (closed_) return;
    release_batch();
    store_offsets(final_offsets);
    // Committed explicitly, for the partitions owned now: stored offsets do not survive a
    // rebalance, and the group may be rebalancing at this very moment (another member joining or
    // leaving), when the coordinator refuses commits until it settles. Serve it and try again.
    kafka_partition_list mine(rd_kafka_topic_partition_list_new(static_cast<int>(final_offsets.size())));
    for (const auto& [p, off] : final_offsets)
        if (off >= 0 && state_of(p) != nullptr)
            rd_kafka_topic_partition_list_add(mine.get(), cfg_.topic.c_str(), p)->offset = off;
    struct commit_result {
        bool done = false;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    };
    auto on_commit = [](rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*, void* opaque) {
        auto* r = static_cast<commit_result*>(opaque);
        r->done = true;
        r->err = err;
    };
    kafka_queue results(rd_kafka_queue_new(rk_.get()));
    // A real cluster settles in moments. The embedded broker can take its session timeout (45 s)
    // after another member left; the commit is given up after 5 s, and the next reader of the
    // group re-reads from the offsets auto-committed during the run (at least once).
    const std::int64_t started = mono_ns();
    const std::int64_t deadline = started + 5'000'000'000;
    bool told = false;
    while (mine->cnt > 0) {
        // Asynchronous, and the consumer polled meanwhile: a synchronous commit would wait forever
        // on a rebalance that only polling can serve.
        commit_result r;
        rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk_.get(), mine.get(), results.get(), on_commit, &r);
        while (err == RD_KAFKA_RESP_ERR_NO_ERROR && !r.done && mono_ns() < deadline) {
            serve_group(started, 50, told);
            (void)rd_kafka_queue_poll_callback(results.get(), 0);
        }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = r.done ? r.err : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (mono_ns() >= deadline) {
            log::warn("kafka", "final offset commit failed", {{"error", rd_kafka_err2str(err)}});
            break;
        }
        // Refused while the group settles (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, no
        // coordinator yet): serve the consumer a moment and send it again.
        serve_group(started, 100, told);
    }
    leave_group();
}

// One wait of the final commit: serves the group's rebalance for up to `timeout_ms`, and says once,
// after 2 s since `since`, why the exit waits.
void kafka_consumer_source::serve_group(std::int64_t since, int timeout_ms, bool& told) {
    if (!told && mono_ns() - since > 2'000'000'000) {
        told = true;
        log::info("kafka", "waiting for the group to settle to commit the final offsets");
    }
    if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), timeout_ms)) rd_kafka_message_destroy(m);
}

namespace {
// Set once a client is left to the process's exit; its internal allocations are then not ours
// to free.
std::atomic<bool> client_abandoned{false};
} // namespace

void kafka_consumer_source::leave_group() {
    // rd_kafka_consumer_close waits for the group to take the assignment back, which on the
    // embedded broker can be its whole session timeout when another member left at the same time.
    // Give the partitions back first, with a deadline; close only once that is done, else leave
    // without the goodbye (the group then notices through the session timeout).
    (void)rd_kafka_unsubscribe(rk_.get());
    const std::int64_t deadline = mono_ns() + 3'000'000'000;
    for (;;) {
        rd_kafka_topic_partition_list_t* parts = nullptr;
        const bool empty =
            rd_kafka_assignment(rk_.get(), &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts != nullptr && parts->cnt == 0;
        if (parts != nullptr) rd_kafka_topic_partition_list_destroy(parts);
        if (empty || mono_ns() >= deadline) {
            if (!empty) {
                // Even rd_kafka_destroy_flags(..., NO_CONSUMER_CLOSE) waits for the group then: its
                // main thread waits out the pending JoinGroup. The offsets are committed or given up
                // already: leave the client to the process's exit, kept reachable.
                log::warn("kafka", "the group did not take the partitions back in time; leaving");
                release_batch();
                static std::mutex abandoned_mu;
                static std::vector<rd_kafka_t*> abandoned;
                std::lock_guard<std::mutex> lock(abandoned_mu);
                abandoned.push_back(rk_.release());
                client_abandoned.store(true, std::memory_order_relaxed);
                (void)queue_.release();
                closed_ = true;
                return;
            }
            break;
        }
        if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 50)) rd_kafka_message_destroy(m);
    }
    (void)rd_kafka_consumer_close(rk_.get());
    closed_ = true;
}

} // namespace tapewire

// LeakSanitizer's documented opt-out hook (sanitizer/lsan_interface.h): leak checking stays on,
// except in a process that had to leave a Kafka client behind. Unused without the sanitizer.
extern "C" int __lsan_is_turned_off() { return tapewire::client_abandoned.load(std::memory_order_relaxed) ? 1 : 0; }
