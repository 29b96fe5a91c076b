#include "server/execution_hub.h"

#include <algorithm>
#include <utility>

namespace hvdr {
namespace server {

void ExecutionHub::Watch(const std::string& execution, ExecutionWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_[execution].insert(watcher);
}

void ExecutionHub::Unwatch(const std::string& execution, ExecutionWatcher* watcher) {
  // Delivery runs under mu_: once it is ours, no OnChange is under way.
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(execution);
  if (it == watchers_.end()) return;
  it->second.erase(watcher);
  if (it->second.empty()) watchers_.erase(it);
}

void ExecutionHub::Publish(const dr::v1::PlanExecution& execution,
                           const std::vector<dr::v1::ExecutionStep>& steps) {
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(execution.name());
  if (it == watchers_.end()) return;
  for (ExecutionWatcher* w : it->second) w->OnChange(execution, steps);
}

void ExecutionHub::CloseAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [execution, watchers] : watchers_) {
    for (ExecutionWatcher* w : watchers) w->OnClose();
  }
}

int ExecutionHub::WatcherCountForTest() {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [execution, watchers] : watchers_) n += static_cast<int>(watchers.size());
  return n;
}

void ExecutionChanges::Sent(const dr::v1::WatchPlanExecutionResponse& first) {
  if (first.execution().version() >= execution_sent_) {
    execution_sent_ = first.execution().version();
    if (first.execution().version() >= execution_.version()) {
      execution_ = first.execution();
      execution_pending_ = false;
    }
  }
  for (const dr::v1::ExecutionStep& s : first.steps()) {
    int64_t& sent = sent_[s.name()];
    if (s.version() > sent) sent = s.version();
  }
  // Drop what the first message already covers; keep the order of the rest.
  std::vector<dr::v1::ExecutionStep> kept;
  pending_index_.clear();
  for (dr::v1::ExecutionStep& s : pending_) {
    auto it = sent_.find(s.name());
    if (it != sent_.end() && s.version() <= it->second) continue;
    pending_index_[s.name()] = kept.size();
    kept.push_back(std::move(s));
  }
  pending_ = std::move(kept);
}

void ExecutionChanges::Add(const dr::v1::PlanExecution& execution,
                           const std::vector<dr::v1::ExecutionStep>& steps) {
  if (execution.version() > execution_.version() && execution.version() > execution_sent_) {
    execution_ = execution;
    execution_pending_ = true;
  }
  for (const dr::v1::ExecutionStep& s : steps) {
    auto sent = sent_.find(s.name());
    if (sent != sent_.end() && s.version() <= sent->second) continue;
    auto [it, fresh] = pending_index_.emplace(s.name(), pending_.size());
    if (fresh) {
      pending_.push_back(s);
    } else if (s.version() > pending_[it->second].version()) {
      pending_[it->second] = s;
    }
  }
}

dr::v1::WatchPlanExecutionResponse ExecutionChanges::Take() {
  dr::v1::WatchPlanExecutionResponse out;
  *out.mutable_execution() = execution_;
  execution_sent_ = std::max(execution_sent_, execution_.version());
  execution_pending_ = false;
  for (dr::v1::ExecutionStep& s : pending_) {
    sent_[s.name()] = s.version();
    *out.add_steps() = std::move(s);
  }
  pending_.clear();
  pending_index_.clear();
  return out;
}

}  // namespace server
}  // namespace hvdr
