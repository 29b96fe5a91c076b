// Decides which steps of an execution run next: plain logic over a
// StepGraph and each step's state, with no I/O, clock or threads (the
// executor, server/plan_executor.h, does the work and tells it the
// outcomes). The same states always give the same decisions, so an
// execution restored from the store after a crash goes on exactly as it
// would have.
//
// Rules:
//  - A step starts when every predecessor has ended as its edge asks
//    (plans/step_graph.h): in step order, operations only while their
//    host runs fewer than `max_per_host` and the execution fewer than
//    `max_total` operations.
//  - A failed step whose failure is a warning (ERROR_MODE_CONTINUE) counts
//    as done. Another failed step skips what waits for its success
//    (SKIP_CAUSE_UPSTREAM_FAILED: the rest of its VM, and the VMs that
//    depend on it) - unless the step is critical: the execution is then
//    HALTED, nothing new starts (what runs finishes), and what waits for
//    the step waits for Resume.
//  - Cancel skips every step not started (SKIP_CAUSE_CANCELLED).
#ifndef HVDR_PLANS_SCHEDULER_H_
#define HVDR_PLANS_SCHEDULER_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dr/v1/plan_execution.pb.h"
#include "dr/v1/plan_service.pb.h"
#include "plans/step_graph.h"

namespace hvdr {
namespace plans {

// A step's state as the scheduler needs it (and as the store keeps it).
struct StepStatus {
  dr::v1::StepState state = dr::v1::STEP_STATE_PENDING;
  dr::v1::SkipCause skip_cause = dr::v1::SKIP_CAUSE_UNSPECIFIED;
  int attempt = 0;  // 0 until it first starts
};

class Scheduler {
 public:
  struct Limits {
    int max_per_host = 8;
    int max_total = 256;
  };

  // `graph` must outlive the scheduler. Every step starts PENDING.
  Scheduler(const StepGraph* graph, Limits limits);

  // Restores the states of an execution read back from the store (after a
  // restart), then derives what follows from them. `statuses` has one
  // entry per step. RUNNING and WAITING_FOR_ANSWER steps are running: the
  // executor re-attaches to them.
  void Restore(const std::vector<StepStatus>& statuses, bool cancelled);

  // The steps to start now, each marked RUNNING with its attempt bumped.
  // Empty while HALTED or cancelled.
  std::vector<int> TakeStartable();

  // A running step ended. REQUIRES: the step is RUNNING.
  void Finish(int step, bool succeeded);

  // A prompt waits for its answer (RUNNING <-> WAITING_FOR_ANSWER).
  void SetWaiting(int step, bool waiting);

  // Resumes a HALTED execution: retries or skips the halted step, its VM's
  // failed and remaining steps, or its group's. FAILED_PRECONDITION
  // (32775) when it is not halted; INVALID_ARGUMENT for an action other
  // than retry or skip, or a scope that is none of Scope's values.
  absl::Status Resume(dr::v1::ResumePlanExecutionRequest::Action action,
                      dr::v1::ResumePlanExecutionRequest::Scope scope);

  // Nothing new starts; every pending step is skipped.
  void Cancel();

  // Derived from the steps: RUNNING, WAITING (only prompts wait), HALTED,
  // CANCELLING (cancelled, steps still running), or, once every step
  // ended, SUCCEEDED, SUCCEEDED_WITH_WARNINGS or CANCELLED.
  dr::v1::ExecutionState State() const;
  bool Terminal() const;
  // The first critical failed step (lowest index), or -1.
  int HaltedStep() const;

  const StepStatus& status(int step) const { return status_[step]; }
  // Steps whose status changed since the last call, in index order: the
  // executor persists them.
  std::vector<int> TakeChanged();

  // Steps (gates not counted) now in `state`.
  int StepsIn(dr::v1::StepState state) const;

  // Operations now running on `host`, and in all.
  int RunningOn(const std::string& host) const;
  int RunningOperations() const { return running_ops_; }

 private:
  bool Ok(int step) const;        // ended and counts as done
  bool Blocking(int step) const;  // ended as a critical failure: waits for Resume
  bool Ended(int step) const;
  void Set(int step, dr::v1::StepState state, dr::v1::SkipCause cause);
  // Recomputes waiting counts, skips and the ready sets from the states.
  void Derive();
  // A step's state became final (or a pending step was skipped): tells its
  // successors, skipping those that can no longer run.
  void Propagate(int step);
  void MakeReady(int step);

  const StepGraph* const graph_;
  const Limits limits_;
  std::vector<StepStatus> status_;
  std::vector<int> waiting_for_;                    // predecessors not yet ended as needed
  std::set<int> ready_other_;                       // ready non-operation steps
  std::map<std::string, std::set<int>> ready_ops_;  // host -> ready operations
  std::map<std::string, int> running_on_;
  int running_ops_ = 0;
  bool cancelled_ = false;
  std::set<int> critical_failed_;
  std::map<dr::v1::StepState, int> count_;       // steps by state, gates included
  std::map<dr::v1::StepState, int> real_count_;  // the same without gates
  std::set<int> changed_;
};

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_SCHEDULER_H_
