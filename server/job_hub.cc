#include "server/job_hub.h"

#include <functional>

namespace hvdr {
namespace server {

JobHub::JobHub(const Options& options) : options_(options) {
  if (options_.start_flusher) {
    flusher_ = std::thread([this] {
      while (!stop_.WaitForNotificationWithTimeout(options_.progress_interval / 2)) Flush();
    });
  }
}

JobHub::~JobHub() {
  stop_.Notify();
  if (flusher_.joinable()) flusher_.join();
}

JobHub::Shard& JobHub::ShardFor(const std::string& job) {
  return shards_[std::hash<std::string>()(job) % kShards];
}

void JobHub::Deliver(Entry& e, const dr::v1::Job& job, absl::Time now) {
  for (JobWatcher* w : e.watchers) w->OnJob(job);
  e.last = job;
  e.last_delivery = now;
  e.has_pending = false;
}

void JobHub::Watch(const std::string& job, JobWatcher* watcher) {
  Shard& s = ShardFor(job);
  absl::MutexLock lock(&s.mu);
  s.entries[job].watchers.insert(watcher);
}

void JobHub::Unwatch(const std::string& job, JobWatcher* watcher) {
  Shard& s = ShardFor(job);
  absl::MutexLock lock(&s.mu);
  auto it = s.entries.find(job);
  if (it == s.entries.end()) return;
  it->second.watchers.erase(watcher);
  if (it->second.watchers.empty()) s.entries.erase(it);
}

void JobHub::Publish(const dr::v1::Job& job) {
  Shard& s = ShardFor(job.name());
  absl::MutexLock lock(&s.mu);
  auto it = s.entries.find(job.name());
  if (it == s.entries.end()) return;
  Entry& e = it->second;
  if (job.version() <= e.last.version()) return;
  const absl::Time now = options_.clock->Now();
  const bool progress_only = job.state() == e.last.state() && job.return_code() == e.last.return_code() &&
                             job.error_code() == e.last.error_code() && job.state() < dr::v1::JOB_STATE_COMPLETED;
  if (progress_only && now - e.last_delivery < options_.progress_interval) {
    if (!e.has_pending || job.version() > e.pending.version()) {
      e.pending = job;
      e.has_pending = true;
      e.pending_since = now;
    }
    return;
  }
  Deliver(e, job, now);
}

void JobHub::Flush() {
  const absl::Time now = options_.clock->Now();
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [name, e] : s.entries) {
      if (e.has_pending && now - e.pending_since >= options_.progress_interval) Deliver(e, e.pending, now);
    }
  }
}

void JobHub::CloseAll() {
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [job, e] : s.entries) {
      for (JobWatcher* w : e.watchers) w->OnClose();
    }
  }
}

int JobHub::WatcherCount() {
  int n = 0;
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [job, e] : s.entries) n += static_cast<int>(e.watchers.size());
  }
  return n;
}

}  // namespace server
}  // namespace hvdr
