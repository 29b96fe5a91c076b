#include "server/job_writer.h"

#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

JobWriter::JobWriter(Store* store, JobHub* hub, int max_batch)
    : store_(store), hub_(hub), max_batch_(max_batch) {
  thread_ = std::thread([this] { Loop(); });
}

JobWriter::~JobWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void JobWriter::Submit(JobUpdate update, Done done) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Item{std::move(update), std::move(done)});
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
    std::vector<JobUpdate> updates;
    updates.reserve(batch.size());
    for (const Item& item : batch) updates.push_back(item.update);
    absl::StatusOr<std::vector<dr::v1::Job>> stored = store_->UpdateJobs(updates);
    std::vector<absl::StatusOr<dr::v1::Job>> results;
    if (stored.ok()) {
      for (auto& job : *stored) results.emplace_back(std::move(job));
    } else {
      for (const JobUpdate& u : updates) results.push_back(store_->UpdateJob(u));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (results[i].ok()) {
        hub_->Publish(*results[i]);
      } else {
        spdlog::warn("{}: update not recorded: {}", batch[i].update.job, results[i].status().ToString());
      }
      if (batch[i].done) batch[i].done(results[i]);
    }
    absl::MutexLock lock(&mu_);
    completed_ += static_cast<int64_t>(batch.size());
  }
}

}  // namespace server
}  // namespace hvdr
