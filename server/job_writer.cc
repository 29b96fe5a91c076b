#include "server/job_writer.h"

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

JobWriter::JobWriter(Store* store, JobHub* hub, const Options& options)
    : store_(store), hub_(hub), options_(options), backoff_(options.initial_backoff) {
  thread_ = std::thread([this] { Loop(); });
  completer_ = std::thread([this] { CompleteLoop(); });
}

JobWriter::~JobWriter() { Shutdown(); }

void JobWriter::Shutdown() {
  absl::MutexLock shutdown(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (completer_.joinable()) completer_.join();
}

int64_t JobWriter::RetryingForTest() {
  absl::MutexLock lock(&mu_);
  return retrying_;
}

namespace {

// A status only newer ones supersede: no outcome, nothing for the events
// table, no key or condition.
bool IsProgress(const JobUpdate& u) {
  return u.state < dr::v1::JOB_STATE_COMPLETED && u.message.empty() &&
         u.request.request_id.empty() && !u.only_if_return_code.has_value() &&
         u.end_time == absl::InfinitePast();
}

}  // namespace

void JobWriter::Submit(JobUpdate update, Done done) {
  absl::MutexLock lock(&mu_);
  ReleaseHeldLocked(update.job);
  if (update.state >= dr::v1::JOB_STATE_COMPLETED) progress_taken_.erase(update.job);
  QueueLocked(std::move(update), std::move(done));
}

void JobWriter::SubmitProgress(JobUpdate update) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (options_.progress_interval > absl::ZeroDuration() && !coalescable_.contains(update.job)) {
    auto taken = progress_taken_.find(update.job);
    if (taken != progress_taken_.end() && now - taken->second < options_.progress_interval) {
      const absl::Time due = taken->second + options_.progress_interval;
      auto held = held_.find(update.job);
      if (held == held_.end()) {
        // The loop's wait ends at the first due time: tell it of an earlier one.
        if (held_by_due_.empty() || due < held_by_due_.begin()->first) earlier_due_ = true;
        const std::string job = update.job;
        held_.emplace(job, Held{std::move(update), held_by_due_.emplace(due, job)});
      } else {
        held->second.update = std::move(update);  // newer progress, same due time
        ++coalesced_;
      }
      return;
    }
  }
  ReleaseHeldLocked(update.job);
  progress_taken_[update.job] = now;  // queued now, or merged into what is
  if (progress_taken_.size() >= sweep_at_) {
    for (auto it = progress_taken_.begin(); it != progress_taken_.end();) {
      auto here = it++;
      if (now - here->second >= options_.progress_interval) progress_taken_.erase(here);
    }
    sweep_at_ = std::max<size_t>(1024, 2 * progress_taken_.size());
  }
  QueueLocked(std::move(update), nullptr);
}

void JobWriter::ReleaseHeldLocked(const std::string& job) {
  auto held = held_.find(job);
  if (held == held_.end()) return;
  JobUpdate update = std::move(held->second.update);
  held_by_due_.erase(held->second.due);
  held_.erase(held);
  progress_taken_[job] = absl::Now();
  QueueLocked(std::move(update), nullptr);
}

void JobWriter::ReleaseDueLocked(absl::Time now) {
  while (!held_by_due_.empty() && held_by_due_.begin()->first <= now) {
    const std::string job = held_by_due_.begin()->second;
    ReleaseHeldLocked(job);
  }
}

void JobWriter::QueueLocked(JobUpdate update, Done done) {
  const bool progress = done == nullptr && IsProgress(update);
  // A job's end (or any status without a key or condition) supersedes its
  // queued progress as a newer progress does.
  const bool supersedes =
      progress || (update.request.request_id.empty() && !update.only_if_return_code.has_value());
  if (supersedes) {
    auto it = coalescable_.find(update.job);
    if (it != coalescable_.end()) {
      Item& queued_item = *it->second;
      JobUpdate& queued = queued_item.op.update;
      if (queued.keep_state_if_behind == update.keep_state_if_behind) {
        // What the older status carried and the newer does not, kept.
        if (update.start_time == absl::InfinitePast()) update.start_time = queued.start_time;
        if (!update.has_vm_state && queued.has_vm_state) {
          update.has_vm_state = true;
          update.vm_state = std::move(queued.vm_state);
        }
        queued = std::move(update);
        queued_item.done = std::move(done);  // a progress's was null
        ++coalesced_;
        if (!progress) coalescable_.erase(it);  // nothing merges past it now
        return;
      }
    }
  }
  Item item;
  item.op.kind = WriteOp::Kind::kUpdateJob;
  item.op.update = std::move(update);
  item.done = std::move(done);
  const std::string job = item.op.update.job;
  queue_.push_back(std::move(item));
  ++submitted_;
  if (progress) {
    coalescable_[job] = &queue_.back();
  } else {
    coalescable_.erase(job);
  }
}

void JobWriter::SubmitCreate(dr::v1::Job job, RequestKey key, std::string operation,
                             CreateDone done, std::optional<dr::v1::AuditEvent> audit) {
  Item item;
  item.op.kind = WriteOp::Kind::kCreateJob;
  item.op.job = std::move(job);
  item.op.key = std::move(key);
  item.op.operation = std::move(operation);
  item.op.audit = std::move(audit);
  item.create_done = std::move(done);
  {
    absl::MutexLock lock(&mu_);
    if (options_.max_queued_creations <= 0 || queued_creations_ < options_.max_queued_creations) {
      queue_.push_back(std::move(item));
      ++queued_creations_;
      ++submitted_;
      return;
    }
  }
  WriteResult refused{Exhausted("request", "QUEUE_FULL",
                                absl::StrCat("drserver has ", options_.max_queued_creations,
                                             " new jobs waiting to be stored; retry later"),
                                options_.queue_full_retry_after),
                      {},
                      false};
  std::function<void()> then = item.create_done(refused);
  if (then) then();
}

void JobWriter::SetRefusedListener(RefusedListener listener) {
  refused_listener_ = std::move(listener);
}

void JobWriter::Flush() {
  absl::MutexLock lock(&mu_);
  ReleaseDueLocked(absl::InfiniteFuture());
  const int64_t target = submitted_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completed_ >= target; };
  mu_.Await(absl::Condition(&done));
}

void JobWriter::Loop() {
  absl::Status last_failure;
  while (true) {
    std::vector<Item> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_ || earlier_due_;
      };
      // Held progress: wake when the first is due, too.
      while (true) {
        earlier_due_ = false;
        const absl::Time first_due =
            held_by_due_.empty() ? absl::InfiniteFuture() : held_by_due_.begin()->first;
        mu_.AwaitWithDeadline(absl::Condition(&ready), first_due);
        ReleaseDueLocked(stopping_ ? absl::InfiniteFuture() : absl::Now());
        if (!queue_.empty() || stopping_) break;
      }
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
        if (queue_.front().op.kind == WriteOp::Kind::kCreateJob) --queued_creations_;
        if (queue_.front().op.kind == WriteOp::Kind::kUpdateJob) {
          auto it = coalescable_.find(queue_.front().op.update.job);
          if (it != coalescable_.end() && it->second == &queue_.front()) coalescable_.erase(it);
        }
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<WriteOp> ops;
    ops.reserve(batch.size());
    for (Item& item : batch) ops.push_back(std::move(item.op));
    std::vector<WriteResult> results = store_->Write(ops);
    for (size_t i = 0; i < batch.size(); ++i) batch[i].op = std::move(ops[i]);
    // Updates the store could not write go back to the head of the queue,
    // in order, ahead of anything submitted since.
    std::vector<Item> retry;
    Committed done;
    // Reserved: Item's move may throw (protobuf), so a growing vector would
    // copy every Item, Job protos and all.
    done.items.reserve(batch.size());
    done.results.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].op.kind == WriteOp::Kind::kUpdateJob && IsStorageFailure(results[i].status)) {
        retry.push_back(std::move(batch[i]));
        last_failure = results[i].status;
      } else {
        done.items.push_back(std::move(batch[i]));
        done.results.push_back(std::move(results[i]));
      }
    }
    absl::MutexLock lock(&mu_);
    if (!done.items.empty()) committed_.push_back(std::move(done));
    if (retry.empty()) {
      if (retrying_ > 0) spdlog::info("store writes again: {} job updates recorded", retrying_);
      retrying_ = 0;
      backoff_ = options_.initial_backoff;
      continue;
    }
    if (stopping_) {
      // Shutting down: the agents' journals keep these outcomes; the next
      // start re-attaches the jobs and reads them again.
      spdlog::error(
          "{} job updates not recorded at shutdown ({}); they will be read from the "
          "agents again at the next start",
          retry.size(), last_failure.ToString());
      Committed dropped;
      for (Item& item : retry) {
        dropped.items.push_back(std::move(item));
        dropped.results.push_back(WriteResult{last_failure, {}, false});
      }
      committed_.push_back(std::move(dropped));
      continue;
    }
    if (retrying_ == 0) {
      spdlog::error(
          "store cannot write ({}); {} job updates kept and retried until they are "
          "durable",
          last_failure.ToString(), retry.size());
    }
    retrying_ = static_cast<int64_t>(retry.size());
    for (auto it = retry.rbegin(); it != retry.rend(); ++it) queue_.push_front(std::move(*it));
    const absl::Duration wait = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), wait);
  }
}

void JobWriter::CompleteLoop() {
  while (true) {
    Committed done;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !committed_.empty() ||
               (stopping_ && queue_.empty() && held_.empty() && completed_ == submitted_);
      };
      mu_.Await(absl::Condition(&ready));
      if (committed_.empty()) return;
      done = std::move(committed_.front());
      committed_.pop_front();
    }
    // Answers first: each caller waits only for the answers before its own.
    std::vector<std::function<void()>> then(done.items.size());
    for (size_t i = 0; i < done.items.size(); ++i) {
      if (done.items[i].create_done) then[i] = done.items[i].create_done(done.results[i]);
    }
    for (size_t i = 0; i < done.items.size(); ++i) {
      const WriteResult& r = done.results[i];
      const WriteOp& op = done.items[i].op;
      if (r.status.ok() && !r.replayed) {
        hub_->Publish(r.job);
      } else if (!r.status.ok() && op.kind == WriteOp::Kind::kUpdateJob &&
                 !IsStorageFailure(r.status)) {
        spdlog::warn("{}: update refused by the store: {}", op.update.job, r.status.ToString());
        if (!done.items[i].done && refused_listener_) refused_listener_(op.update.job, r.status);
      }
      if (done.items[i].done) {
        done.items[i].done(r.status.ok() ? absl::StatusOr<dr::v1::Job>(r.job)
                                         : absl::StatusOr<dr::v1::Job>(r.status));
      }
      if (then[i]) then[i]();
    }
    absl::MutexLock lock(&mu_);
    completed_ += static_cast<int64_t>(done.items.size());
  }
}

}  // namespace server
}  // namespace hvdr
