#include "server/job_hub.h"

#include <functional>

namespace hvdr {
namespace server {

JobHub::Shard& JobHub::ShardFor(const std::string& job) {
  return shards_[std::hash<std::string>()(job) % kShards];
}

void JobHub::Watch(const std::string& job, JobWatcher* watcher) {
  Shard& s = ShardFor(job);
  absl::MutexLock lock(&s.mu);
  s.watchers[job].insert(watcher);
}

void JobHub::Unwatch(const std::string& job, JobWatcher* watcher) {
  Shard& s = ShardFor(job);
  absl::MutexLock lock(&s.mu);
  auto it = s.watchers.find(job);
  if (it == s.watchers.end()) return;
  it->second.erase(watcher);
  if (it->second.empty()) s.watchers.erase(it);
}

void JobHub::Publish(const dr::v1::Job& job) {
  Shard& s = ShardFor(job.name());
  absl::MutexLock lock(&s.mu);
  auto it = s.watchers.find(job.name());
  if (it == s.watchers.end()) return;
  for (JobWatcher* w : it->second) w->OnJob(job);
}

void JobHub::CloseAll() {
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [job, watchers] : s.watchers) {
      for (JobWatcher* w : watchers) w->OnClose();
    }
  }
}

int JobHub::WatcherCount() {
  int n = 0;
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [job, watchers] : s.watchers) n += static_cast<int>(watchers.size());
  }
  return n;
}

}  // namespace server
}  // namespace hvdr
