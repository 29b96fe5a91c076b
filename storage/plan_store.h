// The plans aggregate: recovery plans, and their executions with every
// step. An execution claims the (logical) VMs of its plan until it is
// terminal: one active execution per VM.
#ifndef HVDR_STORAGE_PLAN_STORE_H_
#define HVDR_STORAGE_PLAN_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "dr/v1/plan.pb.h"
#include "dr/v1/plan_execution.pb.h"
#include "storage/store_types.h"

namespace hvdr {

// The outcome of a plan or execution write that takes a request id.
template <typename T>
struct Recorded {
  T value;                // as stored (for a replay: as it now is)
  bool replayed = false;  // the request id was seen: nothing was written
};

// The contract of storage/store.h applies (thread-safety, atomicity,
// durability, errors, ownership). Every write taking a RequestKey records
// it in the same transaction; a key seen before for the same request
// writes nothing and answers `replayed` with the record as it now is; for
// another request it is INVALID_ARGUMENT kRequestReused.
class PlanStore {
 public:
  PlanStore() = default;
  PlanStore(const PlanStore&) = delete;
  PlanStore& operator=(const PlanStore&) = delete;
  virtual ~PlanStore() = default;

  // ---- Plans ----

  // Stores `plan` under plan.name() (plans/{plan}) as version 1 with a new
  // etag, created and updated at `now`. ALREADY_EXISTS kPlanExists when the
  // name is taken.
  virtual absl::StatusOr<Recorded<dr::v1::Plan>> CreatePlan(const dr::v1::Plan& plan,
                                                            absl::Time now,
                                                            const RequestKey& key) = 0;
  // Replaces the stored plan.name() with `plan`, bumping its version and
  // etag. NOT_FOUND for an unknown plan; ABORTED kEtagMismatch when `etag`
  // is not the stored one.
  virtual absl::StatusOr<Recorded<dr::v1::Plan>> UpdatePlan(const dr::v1::Plan& plan,
                                                            const std::string& etag, absl::Time now,
                                                            const RequestKey& key) = 0;
  virtual absl::StatusOr<dr::v1::Plan> GetPlan(const std::string& name) = 0;
  // By name.
  virtual absl::StatusOr<Page<dr::v1::Plan>> ListPlans(const PageRequest& page) = 0;
  // Deletes the plan and its executions. NOT_FOUND for an unknown plan
  // (unless `key` was seen: replayed); ABORTED kEtagMismatch when `etag` is
  // given and is not the stored one; FAILED_PRECONDITION kPlanBusy (naming
  // the execution) while one of its executions is not terminal.
  virtual absl::StatusOr<bool> DeletePlan(const std::string& name, const std::string& etag,
                                          const RequestKey& key) = 0;

  // ---- Executions ----

  // Records a new execution (name plans/{plan}/executions/{id}, of a
  // stored plan) with `plan` as it runs and its steps in order, and - unless
  // it is created terminal - claims every VM of `vm_ids` for it. ABORTED
  // kVmInExecution naming a VM and the non-terminal execution holding it;
  // ALREADY_EXISTS when the name is taken; NOT_FOUND for an unknown plan.
  virtual absl::StatusOr<Recorded<dr::v1::PlanExecution>> CreateExecution(
      const dr::v1::PlanExecution& execution, const dr::v1::Plan& plan,
      const std::vector<dr::v1::ExecutionStep>& steps, const std::vector<std::string>& vm_ids,
      const RequestKey& key) = 0;
  virtual absl::StatusOr<dr::v1::PlanExecution> GetExecution(const std::string& name) = 0;
  // The plan as the execution runs it.
  virtual absl::StatusOr<dr::v1::Plan> GetExecutionPlan(const std::string& name) = 0;
  // A plan's executions, newest first. NOT_FOUND for an unknown plan.
  virtual absl::StatusOr<Page<dr::v1::PlanExecution>> ListExecutions(const std::string& plan,
                                                                     const PageRequest& page) = 0;
  // An execution's steps in order. NOT_FOUND for an unknown execution.
  virtual absl::StatusOr<Page<dr::v1::ExecutionStep>> ListExecutionSteps(
      const std::string& execution, const PageRequest& page) = 0;
  // Every step of the execution, in order (for resuming it).
  virtual absl::StatusOr<std::vector<dr::v1::ExecutionStep>> GetExecutionSteps(
      const std::string& execution) = 0;
  // Every execution not terminal, oldest first (to resume after a restart).
  virtual absl::StatusOr<std::vector<dr::v1::PlanExecution>> ListActiveExecutions() = 0;
  // Writes `execution` and the given steps (index in the execution's step
  // list, step) in one transaction, with `key` when given (nullptr: none).
  // A terminal state releases the execution's VM claims. FAILED_PRECONDITION
  // kExecutionEnded when the stored execution is terminal already;
  // NOT_FOUND for an unknown execution; INVALID_ARGUMENT kInvalidRecord for
  // a step index outside the list. The execution's version is bumped.
  virtual absl::StatusOr<Recorded<dr::v1::PlanExecution>> UpdateExecution(
      const dr::v1::PlanExecution& execution,
      const std::vector<std::pair<int, dr::v1::ExecutionStep>>& steps, const RequestKey* key) = 0;
};

// True for the states an execution ends in: SUCCEEDED,
// SUCCEEDED_WITH_WARNINGS, FAILED, CANCELLED.
inline bool IsTerminalExecutionState(dr::v1::ExecutionState state) {
  return state == dr::v1::EXECUTION_STATE_SUCCEEDED ||
         state == dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS ||
         state == dr::v1::EXECUTION_STATE_FAILED || state == dr::v1::EXECUTION_STATE_CANCELLED;
}

}  // namespace hvdr

#endif  // HVDR_STORAGE_PLAN_STORE_H_
