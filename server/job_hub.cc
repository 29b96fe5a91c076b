#include "server/job_hub.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace hvdr {
namespace server {

JobHub::JobHub(const Options& options) : options_(options) {
  int threads = options_.delivery_threads;
  if (threads <= 0)
    threads = std::max(4, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  threads = std::min(threads, kShards);
  for (int i = 0; i < threads; ++i) lanes_.push_back(std::make_unique<Lane>());
  for (int i = 0; i < threads; ++i) lanes_[i]->thread = std::thread([this, i] { DeliveryLoop(i); });
  if (options_.start_flusher) {
    flusher_ = std::thread([this] {
      while (!stop_.WaitForNotificationWithTimeout(options_.progress_interval / 2)) Flush();
    });
  }
}

JobHub::~JobHub() {
  stop_.Notify();
  if (flusher_.joinable()) flusher_.join();
  for (auto& lane : lanes_) {
    absl::MutexLock lock(&lane->mu);
    lane->stopping = true;
  }
  for (auto& lane : lanes_) lane->thread.join();
}

size_t JobHub::ShardIndex(const std::string& job) {
  return std::hash<std::string>()(job) % kShards;
}

int JobHub::DeliveryThreadForTest(const std::string& job) const {
  return static_cast<int>(ShardIndex(job) % lanes_.size());
}

void JobHub::Deliver(Shard& s, Entry& e, const dr::v1::Job& job, absl::Time now) {
  e.last = job;
  e.last_delivery = now;
  e.has_pending = false;
  s.ready.push_back(job);
  const size_t index = static_cast<size_t>(&s - shards_.data());
  Lane& lane = *lanes_[index % lanes_.size()];
  absl::MutexLock lock(&lane.mu);  // order: shard, then lane
  lane.work = true;
}

void JobHub::DeliveryLoop(int lane_index) {
  Lane& lane = *lanes_[lane_index];
  std::vector<dr::v1::Job> jobs;
  std::vector<std::vector<JobWatcher*>> targets;
  while (true) {
    {
      absl::MutexLock lock(&lane.mu);
      auto ready = [&lane]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lane.mu) {
        return lane.work || lane.stopping;
      };
      lane.mu.Await(absl::Condition(&ready));
      if (lane.stopping) return;
      lane.work = false;
    }
    for (size_t i = static_cast<size_t>(lane_index); i < shards_.size(); i += lanes_.size()) {
      Shard& s = shards_[i];
      jobs.clear();
      targets.clear();
      {
        absl::MutexLock lock(&s.mu);
        if (s.ready.empty()) continue;
        jobs.swap(s.ready);
        for (const dr::v1::Job& job : jobs) {
          auto it = s.entries.find(job.name());
          targets.emplace_back();
          if (it != s.entries.end())
            targets.back().assign(it->second.watchers.begin(), it->second.watchers.end());
        }
        s.delivering = true;  // Unwatch waits: the pointers copied above stay valid
      }
      for (size_t j = 0; j < jobs.size(); ++j) {
        for (JobWatcher* w : targets[j]) w->OnJob(jobs[j]);
      }
      absl::MutexLock lock(&s.mu);
      s.delivering = false;
    }
  }
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
  if (it != s.entries.end()) {
    it->second.watchers.erase(watcher);
    if (it->second.watchers.empty()) s.entries.erase(it);
  }
  auto idle = [&s]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) { return !s.delivering; };
  s.mu.Await(absl::Condition(&idle));
}

void JobHub::Publish(const dr::v1::Job& job) {
  Shard& s = ShardFor(job.name());
  absl::MutexLock lock(&s.mu);
  auto it = s.entries.find(job.name());
  if (it == s.entries.end()) return;
  Entry& e = it->second;
  if (job.version() <= e.last.version()) return;
  const absl::Time now = options_.clock->Now();
  const bool progress_only =
      job.state() == e.last.state() && job.return_code() == e.last.return_code() &&
      job.error_code() == e.last.error_code() && job.state() < dr::v1::JOB_STATE_COMPLETED;
  if (progress_only && now - e.last_delivery < options_.progress_interval) {
    if (!e.has_pending || job.version() > e.pending.version()) {
      e.pending = job;
      e.has_pending = true;
      e.pending_since = now;
    }
    return;
  }
  Deliver(s, e, job, now);
}

void JobHub::Flush() {
  const absl::Time now = options_.clock->Now();
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [name, e] : s.entries) {
      if (e.has_pending && now - e.pending_since >= options_.progress_interval)
        Deliver(s, e, e.pending, now);
    }
  }
}

void JobHub::Drain() {
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    auto idle = [&s]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
      return s.ready.empty() && !s.delivering;
    };
    s.mu.Await(absl::Condition(&idle));
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

int JobHub::WatcherCountForTest() {
  int n = 0;
  for (Shard& s : shards_) {
    absl::MutexLock lock(&s.mu);
    for (auto& [job, e] : s.entries) n += static_cast<int>(e.watchers.size());
  }
  return n;
}

}  // namespace server
}  // namespace hvdr
