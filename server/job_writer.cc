#include "server/job_writer.h"

#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

JobWriter::JobWriter(Store* store, JobHub* hub, int max_batch)
    : store_(store), hub_(hub), max_batch_(max_batch) {
  thread_ = std::thread([this] { Loop(); });
  completer_ = std::thread([this] { CompleteLoop(); });
}

JobWriter::~JobWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  completer_.join();
}

void JobWriter::Submit(JobUpdate update, Done done) {
  Item item;
  item.op.kind = WriteOp::Kind::kUpdateJob;
  item.op.update = std::move(update);
  item.done = std::move(done);
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(item));
  ++submitted_;
}

void JobWriter::SubmitCreate(dr::v1::Job job, RequestKey key, std::string operation,
                             CreateDone done) {
  Item item;
  item.op.kind = WriteOp::Kind::kCreateJob;
  item.op.job = std::move(job);
  item.op.key = std::move(key);
  item.op.operation = std::move(operation);
  item.create_done = std::move(done);
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(item));
  ++submitted_;
}

void JobWriter::Flush() {
  absl::MutexLock lock(&mu_);
  const int64_t target = submitted_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return completed_ >= target; };
  mu_.Await(absl::Condition(&done));
}

void JobWriter::Loop() {
  while (true) {
    std::vector<Item> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && static_cast<int>(batch.size()) < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<WriteOp> ops;
    ops.reserve(batch.size());
    for (Item& item : batch) ops.push_back(std::move(item.op));
    std::vector<WriteResult> results = store_->Write(ops);
    for (size_t i = 0; i < batch.size(); ++i) batch[i].op = std::move(ops[i]);
    absl::MutexLock lock(&mu_);
    committed_.push_back(Committed{std::move(batch), std::move(results)});
  }
}

void JobWriter::CompleteLoop() {
  while (true) {
    Committed done;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !committed_.empty() || (stopping_ && queue_.empty() && completed_ == submitted_);
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
      } else if (!r.status.ok() && op.kind == WriteOp::Kind::kUpdateJob) {
        spdlog::warn("{}: update not recorded: {}", op.update.job, r.status.ToString());
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
