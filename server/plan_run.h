// One execution of a recovery plan, driven: the scheduler's decisions
// (plans/scheduler.h) turned into work through StepActions, every step's
// change persisted (Store.UpdateExecution) before the work it starts and
// before anyone sees it. A drserver that dies at any moment resumes the
// execution from the store (PlanRun::Restore) without running a step twice:
//  - an operation step is recorded RUNNING, with its attempt, before its
//    job is asked for; the job's request_id is derived from the execution,
//    the step and the attempt (OperationRequestId), so asking again after a
//    restart answers the job the first ask created (which is why the job's
//    name is recorded with the run's next write, not in a write of its own);
//  - a wait keeps its start time and ends when its time is up;
//  - a prompt waits for its answer across restarts;
//  - a hook is recorded RUNNING before it is started (StepActions::RunHook);
//    its end (exit status, the end of its output) ends the step. One that
//    was running when drserver died is not run again: it is recorded as
//    failed, its outcome unknown (its error mode applies).
//
// Thread-safe: the actions' callbacks may come from any thread.
#ifndef HVDR_SERVER_PLAN_RUN_H_
#define HVDR_SERVER_PLAN_RUN_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "dr/v1/plan_service.pb.h"
#include "dr/v1/resources.pb.h"
#include "plans/scheduler.h"
#include "plans/step_graph.h"
#include "server/hook_runner.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

// What a step asks of the world outside the plan.
class StepActions {
 public:
  struct Operation {
    dr::v1::ExecutionMode mode = dr::v1::EXECUTION_MODE_UNSPECIFIED;
    dr::v1::StepKind kind = dr::v1::STEP_KIND_UNSPECIFIED;
    std::string vm_id;           // the logical VM (GUID)
    std::string host;            // hosts/{host} the copy is on
    std::string request_id;      // OperationRequestId(...)
    std::string recovery_point;  // "" for the latest
    std::vector<dr::v1::FailoverNetworkAdapterSettings> network_settings;
    std::string requester;
    std::string execution;  // plans/{p}/executions/{e} the step is of
  };
  using JobDone = std::function<void(const absl::StatusOr<std::string>& job)>;
  struct Hook {
    std::string execution;  // plans/{plan}/executions/{execution}
    std::string step;       // the step's name
    // The executable, its args, its timeout (the step's) and the HVDR_*
    // environment.
    HookRequest request;
  };
  using HookDone = ::hvdr::server::HookDone;

  virtual ~StepActions() = default;
  // Asks for the operation's job (FailoverService's checks apply). `done`
  // gets the job's name (jobs/{id}), "" when the VM is already as the step
  // would leave it (nothing to do), UNAVAILABLE when it cannot be asked
  // yet (e.g. the test VM a test failover made is not in the inventory
  // yet: the step asks again at the next tick, until its timeout), or the
  // refusal; once.
  virtual void SubmitOperation(const Operation& op, JobDone done) = 0;
  // What a readiness check found.
  struct Readiness {
    bool ready = false;  // the guest's heartbeat reports OK
    std::string detail;  // what was seen, e.g. "heartbeat No Contact (12)"
  };
  using ReadyDone = std::function<void(const absl::StatusOr<Readiness>& readiness)>;
  // Reads, now, the guest heartbeat of the VM the step started (op.kind
  // READINESS; in TEST mode the test VM) from its host's agent. `done`
  // gets what was seen, or why it could not be read (the step asks again
  // at its next poll, until its timeout); once, from any thread. Must not
  // block.
  virtual void CheckReady(const Operation& op, ReadyDone done) = 0;
  // Runs the hook; `done` gets its end or why it did not run (HookDone,
  // server/hook_runner.h), once, from any thread, maybe before RunHook
  // returns. UNIMPLEMENTED (32770) when drserver runs no hooks; CANCELLED
  // when drserver stops (the step is then left RUNNING: the restart
  // records it failed).
  virtual void RunHook(const Hook& hook, HookDone done) = 0;
  // The time of the data a FAILOVER / TEST_FAILOVER `op` brings back, as
  // known now (recorded as the step's data_time when it is asked for), or
  // nullopt to keep what the step holds (e.g. the time of a recovery point
  // recorded when it was chosen). Called under the run's lock: must not
  // block long (a store read).
  virtual std::optional<absl::Time> DataTime(const Operation& op) {
    (void)op;
    return std::nullopt;
  }
};

// How often a readiness step reads its VM's heartbeat.
inline constexpr absl::Duration kReadinessPoll = absl::Milliseconds(500);

// The request_id of attempt `attempt` of step `step_id` of `execution`:
// "plan-" and 40 hex digits of their SHA-256 (fits CheckRequestId).
std::string OperationRequestId(const std::string& execution, const std::string& step_id,
                               int attempt);

class PlanRun {
 public:
  // A new execution's steps, PENDING, in graph order (gates left out), named
  // under `execution_name`.
  static std::vector<dr::v1::ExecutionStep> NewSteps(const plans::StepGraph& graph,
                                                     const dr::v1::Plan& plan,
                                                     const std::string& execution_name);

  // The run of a stored, non-terminal execution: `plan` as it runs and its
  // stored steps (in order). Running steps are re-attached or, for hooks,
  // recorded as failed. Nothing starts until Advance().
  // `watch` (may be null) is called, outside any lock, with each job a
  // step gets: the caller then feeds the job's changes to OnJob.
  // `graph` (optional): the execution's step graph when the caller has it
  // already (a new execution: the graph its steps were made from, with the
  // placement the steps record); otherwise it is built from `plan` and the
  // hosts the steps record.
  static absl::StatusOr<std::unique_ptr<PlanRun>> Restore(
      Store* store, StepActions* actions, Clock* clock, dr::v1::Plan plan,
      dr::v1::PlanExecution execution, std::vector<dr::v1::ExecutionStep> steps,
      std::function<void(const std::string& job)> watch,
      std::optional<plans::StepGraph> graph = std::nullopt);

  // Starts what may start and persists it. Call after every event.
  void Advance() ABSL_LOCKS_EXCLUDED(mu_);
  // The job `job` changed (from JobHub or a read).
  void OnJob(const dr::v1::Job& job) ABSL_LOCKS_EXCLUDED(mu_);
  // The same for several changes at once (in order), with one write for
  // all the steps they end and those that start next.
  void OnJobs(const std::vector<dr::v1::Job>& jobs) ABSL_LOCKS_EXCLUDED(mu_);
  // Time passed: waits that are up end, steps past their timeout fail.
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);

  // Answers a waiting prompt (`step` its name). FAILED_PRECONDITION (32775)
  // when it does not wait for an answer.
  absl::StatusOr<dr::v1::ExecutionStep> Answer(const dr::v1::AnswerPromptRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<dr::v1::PlanExecution> Resume(const dr::v1::ResumePlanExecutionRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<dr::v1::PlanExecution> Cancel(const dr::v1::CancelPlanExecutionRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Called after each change is stored, with the execution as stored and
  // the steps that changed (in plan order), under the run's lock and so in
  // the order of the writes: it must not block nor call into the run.
  // Set it before Advance().
  using PersistListener = std::function<void(const dr::v1::PlanExecution& execution,
                                             const std::vector<dr::v1::ExecutionStep>& steps)>;
  void SetPersistListener(PersistListener listener) ABSL_LOCKS_EXCLUDED(mu_);

  dr::v1::PlanExecution execution() ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<dr::v1::ExecutionStep> steps() ABSL_LOCKS_EXCLUDED(mu_);
  bool terminal() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  PlanRun(Store* store, StepActions* actions, Clock* clock, dr::v1::Plan plan,
          dr::v1::PlanExecution execution);

  // Graph index <-> position in the stored step list (gates have none).
  int Position(int graph_index) const { return position_[graph_index]; }
  void StartLocked(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnSubmitted(int index, int attempt, const absl::StatusOr<std::string>& job)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A heartbeat read of attempt `attempt` of readiness step `index` came back.
  void OnReadiness(int index, int attempt, const absl::StatusOr<StepActions::Readiness>& r)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The hook request of hook step `index` as it starts now.
  StepActions::Hook HookOfLocked(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnHookDone(int index, int attempt, const absl::StatusOr<HookResult>& result)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Applies one job change; true when it ended its step.
  bool ApplyJobLocked(const dr::v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A heartbeat read of readiness step `i` came back and the step goes on:
  // its next read is due kReadinessPoll after the last one started.
  void NoteReadAnswered(int i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocked(int index, bool succeeded, const std::string& error, dr::v1::ReturnCode code)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the steps that changed and the execution (its state and counts
  // derived from the scheduler) in one transaction, with `key` when given.
  absl::Status PersistLocked(const RequestKey* key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Duration TimeoutOf(int index) const;
  // What step `index` asks of StepActions (its request_id and network
  // settings left to the caller): the execution's mode, the step's kind,
  // VM, host (a readiness step's: its VM's replica host), recovery point.
  StepActions::Operation OperationOfLocked(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The plan's entry for a VM step's VM (null for a group's step).
  const dr::v1::PlanVm* VmOf(int index) const;
  // True when `request_id` was recorded for `method` (a retry of a resume).
  bool Replayed(const std::string& request_id, const std::string& method);

  Store* const store_;
  StepActions* const actions_;
  Clock* const clock_;
  const dr::v1::Plan plan_;
  plans::StepGraph graph_;
  std::vector<int> position_;  // graph index -> stored position (-1: gate)
  std::map<std::string, plans::VmPlacement> placement_;  // as the steps recorded it

  absl::Mutex mu_;
  std::unique_ptr<plans::Scheduler> scheduler_ ABSL_GUARDED_BY(mu_);
  dr::v1::PlanExecution execution_ ABSL_GUARDED_BY(mu_);
  std::vector<dr::v1::ExecutionStep> steps_ ABSL_GUARDED_BY(mu_);  // by graph index
  std::map<std::string, int> job_step_ ABSL_GUARDED_BY(mu_);       // job -> graph index
  std::set<int> dirty_ ABSL_GUARDED_BY(mu_);      // steps changed outside the scheduler
  std::set<int> to_submit_ ABSL_GUARDED_BY(mu_);  // operations to ask for once persisted
  std::set<int> retry_ ABSL_GUARDED_BY(mu_);      // answered "not yet": asked at the next Tick
  // Readiness steps: the attempt whose heartbeat read is in flight; when
  // each was last asked; what the last read saw (shown if it times out).
  std::map<int, int> checking_ ABSL_GUARDED_BY(mu_);
  std::map<int, absl::Time> checked_at_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> last_seen_ ABSL_GUARDED_BY(mu_);
  std::set<int> to_run_ ABSL_GUARDED_BY(mu_);  // hooks to start once persisted
  // The steps stored RUNNING or WAITING_FOR_ANSWER: all Tick looks at (a
  // 10,000-VM plan has 30,000 steps, a few hundred of them running).
  std::set<int> active_ ABSL_GUARDED_BY(mu_);
  // When Tick must look at an active step next (its wait's end, its
  // timeout, its next heartbeat read; InfinitePast: at once, as for a step
  // that just became active or whose heartbeat read was answered). Tick
  // takes only the entries due, so a round costs what is due, not a scan
  // of every step under way. A step may have stale entries (a read
  // answered early, a step ended): looking at a step twice does nothing.
  std::set<std::pair<absl::Time, int>> agenda_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string& job)> watch_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  PersistListener on_persisted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_PLAN_RUN_H_
