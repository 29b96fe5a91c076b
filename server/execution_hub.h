// Fan-out of plan execution changes to WatchPlanExecution streams.
//
// A PlanRun publishes each change after it is stored (persist, then
// publish): the execution as stored and the steps that changed, so a
// watcher only ever sees what the store holds. The hub hands each change
// to the watchers of that execution at once, on the publisher's thread;
// a watcher only merges it into its own ExecutionChanges (bounded by the
// execution's step count whatever the backlog) and starts a write if none
// is in flight, so a slow reader never delays the publisher, the plan or
// the other watchers.
//
// Thread-safe.
#ifndef HVDR_SERVER_EXECUTION_HUB_H_
#define HVDR_SERVER_EXECUTION_HUB_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dr/v1/plan_execution.pb.h"
#include "dr/v1/plan_service.pb.h"

namespace hvdr {
namespace server {

class ExecutionWatcher {
 public:
  virtual ~ExecutionWatcher() = default;
  // A stored change of the execution: `execution` as it now is, `steps`
  // those that changed. Called on the publisher's thread, with the
  // publisher's and the hub's locks held: must not block and must not call
  // into the hub or the plan run. Versions may repeat or be older than
  // what the watcher already has: it keeps only newer ones.
  virtual void OnChange(const dr::v1::PlanExecution& execution,
                        const std::vector<dr::v1::ExecutionStep>& steps) = 0;
  // The server is shutting down: end the stream.
  virtual void OnClose() = 0;
};

class ExecutionHub {
 public:
  ExecutionHub() = default;
  ExecutionHub(const ExecutionHub&) = delete;
  ExecutionHub& operator=(const ExecutionHub&) = delete;

  // After Watch returns, every Publish of `execution` (its name) reaches
  // `watcher` until Unwatch. Callers read the execution *after* Watch and
  // deliver it themselves, so that nothing stored in between is missed;
  // changes they already have (by version) are then dropped.
  void Watch(const std::string& execution, ExecutionWatcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);
  // After Unwatch returns, `watcher` is not called again and may be
  // destroyed. Unknown pairs are ignored.
  // REQUIRES: not called from OnChange/OnClose.
  void Unwatch(const std::string& execution, ExecutionWatcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);
  // Hands a stored change to the execution's watchers and returns; nothing
  // is copied when nobody watches it.
  // REQUIRES: called after the change is stored, in the order of the
  // store's writes for that execution.
  void Publish(const dr::v1::PlanExecution& execution,
               const std::vector<dr::v1::ExecutionStep>& steps) ABSL_LOCKS_EXCLUDED(mu_);
  // Calls OnClose on every watcher (shutdown).
  void CloseAll() ABSL_LOCKS_EXCLUDED(mu_);
  // Test hook: watchers registered, over all executions.
  int WatcherCountForTest() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::set<ExecutionWatcher*>> watchers_ ABSL_GUARDED_BY(mu_);
};

// What one watch stream has yet to send, coalesced: the newest execution
// and, per step (by name), the newest version of each step that changed
// since the last message. A change at or below a version already sent (or
// already pending) is dropped. However far the reader falls behind, this
// holds at most one execution and one copy of each step.
//
// Not thread-safe: the stream guards it with its own lock.
class ExecutionChanges {
 public:
  // Records `first` (the stored execution and all its steps, as the stream
  // sent them) as sent; what is pending and not newer is dropped.
  void Sent(const dr::v1::WatchPlanExecutionResponse& first);
  // Merges a change (see ExecutionWatcher::OnChange).
  void Add(const dr::v1::PlanExecution& execution, const std::vector<dr::v1::ExecutionStep>& steps);
  // True when nothing newer than what was sent is pending.
  bool empty() const { return !execution_pending_ && pending_.empty(); }
  // The next message: the newest execution known and the pending steps in
  // the order they first changed; they are then recorded as sent.
  // REQUIRES: !empty().
  dr::v1::WatchPlanExecutionResponse Take();
  // Steps pending (tests: the bound).
  size_t pending_steps() const { return pending_.size(); }

 private:
  dr::v1::PlanExecution execution_;  // the newest known (sent or pending)
  bool execution_pending_ = false;
  int64_t execution_sent_ = 0;  // version
  // Pending steps in the order they first changed; index by name.
  std::vector<dr::v1::ExecutionStep> pending_;
  absl::flat_hash_map<std::string, size_t> pending_index_;
  absl::flat_hash_map<std::string, int64_t> sent_;  // step name -> version sent
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_EXECUTION_HUB_H_
