// Runs plan executions inside drserver: starts them (validated first, then
// recorded with every step), keeps one PlanRun per execution not ended,
// feeds each the changes of its jobs (JobHub) and the passing of time (one
// thread), and, after a restart, resumes every execution the store holds
// as not ended. Operations go through FailoverLogic like any request: the
// same checks, the same job records, a request_id per step and attempt.
//
// Thread-safe. PlanService's handlers call Start/Answer/Resume/Cancel from
// the work executor (they write to the store).
#ifndef HVDR_SERVER_PLAN_EXECUTOR_H_
#define HVDR_SERVER_PLAN_EXECUTOR_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/executor.h"
#include "server/agent_client.h"
#include "server/execution_hub.h"
#include "server/failover.h"
#include "server/hook_runner.h"
#include "server/job_hub.h"
#include "server/plan_run.h"
#include "server/plans.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class PlanExecutor final : public StepActions {
 public:
  struct Options {
    // How often waits, timeouts and readiness are looked at, at the
    // latest (a job's end runs a round at once).
    absl::Duration tick = absl::Milliseconds(250);
    // How long a heartbeat read of an agent may take.
    absl::Duration agent_timeout = absl::Seconds(5);
    // A readiness read asks the agent to answer once the guest's heartbeat
    // is OK, or after this (heartbeat_ok_wait): the step ends as soon as the
    // guest is up (about the agent's --ready_check_interval_ms late), not at
    // the next of kReadinessPoll's reads. The read's deadline is this plus
    // agent_timeout. Short enough that a step's timeout still finds what the
    // last answer saw (its error says it). Zero: answered at once (polled
    // every kReadinessPoll).
    absl::Duration readiness_wait = absl::Seconds(1);
    // Threads that ask for the steps' jobs (FailoverLogic's checks read
    // the store): a group's start asks for hundreds at once, and the loop
    // goes on meanwhile (with job ends, the next steps). At least 1.
    int submit_threads = 2;
    // False: no thread; tests call Step().
    bool start_thread = true;
    // The directory hooks run from (--hooks_dir); "": hook steps fail
    // with 32770 (validation reports HOOKS_DISABLED first).
    std::string hooks_dir;
    // Where each stored change of an execution is published (not owned;
    // null: nowhere).
    ExecutionHub* executions = nullptr;
  };

  // Not owned; all outlive the executor.
  PlanExecutor(Store* store, FailoverLogic* failover, JobHub* hub, PlanLogic* plans,
               AgentStubFactory* agents, Clock* clock, Options options);
  ~PlanExecutor() override;

  // Resumes every execution the store holds as not ended.
  absl::Status Recover();

  // StartPlanExecution: validates the plan for the mode against the
  // topology now; with an error finding (or validate_only) the execution
  // is recorded ended (FAILED / SUCCEEDED) with its findings and nothing
  // runs. Otherwise it is recorded with every step and its VMs claimed
  // (32774 VM_IN_EXECUTION naming the execution holding one), and runs.
  absl::StatusOr<dr::v1::PlanExecution> Start(const dr::v1::StartPlanExecutionRequest& request);
  absl::StatusOr<dr::v1::ExecutionStep> Answer(const dr::v1::AnswerPromptRequest& request);
  absl::StatusOr<dr::v1::PlanExecution> Resume(const dr::v1::ResumePlanExecutionRequest& request);
  absl::StatusOr<dr::v1::PlanExecution> Cancel(const dr::v1::CancelPlanExecutionRequest& request);

  // One round of the thread: the job changes received, then every run's
  // Tick; ended runs are dropped.
  void Step();

  // StepActions, over FailoverLogic and the store.
  void SubmitOperation(const Operation& op, JobDone done) override;
  // Readiness: the agent's GetVirtualMachine of the copy, its heartbeat.
  void CheckReady(const Operation& op, ReadyDone done) override;
  // Over a PosixHookRunner in options.hooks_dir. A hook's end for an
  // execution no longer run here is dropped.
  void RunHook(const Hook& hook, HookDone done) override;
  // For the latest point in time: the replica copy's last replication time
  // as the store has it (a chosen recovery point's time is recorded by
  // Start).
  std::optional<absl::Time> DataTime(const Operation& op) override;

 private:
  class Watcher final : public JobWatcher {
   public:
    explicit Watcher(PlanExecutor* executor) : executor_(executor) {}
    void OnJob(const dr::v1::Job& job) override;
    void OnClose() override {}

   private:
    PlanExecutor* const executor_;
  };

  // The run of `execution` (plans/{p}/executions/{e}), or NOT_FOUND /
  // FAILED_PRECONDITION (ended) naming `field`.
  absl::StatusOr<PlanRun*> RunOf(const std::string& field, const std::string& execution);
  // Runs the stored execution `execution` here, read back from the store.
  absl::Status Adopt(const dr::v1::PlanExecution& execution) ABSL_LOCKS_EXCLUDED(mu_);
  // The same with what the caller has in memory: the plan as run, the
  // steps as stored (in order) and, if known, the step graph they were
  // made from (a new execution: nothing needs reading back).
  absl::Status Adopt(const dr::v1::PlanExecution& execution, dr::v1::Plan plan,
                     std::vector<dr::v1::ExecutionStep> steps,
                     std::optional<plans::StepGraph> graph) ABSL_LOCKS_EXCLUDED(mu_);
  void Watch(const std::string& job);
  // Queues `answer` for the loop (posted_), which runs it if `execution`
  // is still run here.
  void Post(const std::string& execution, std::function<void()> answer) ABSL_LOCKS_EXCLUDED(mu_);
  // The VM copy an operation of `op` runs on (TEST mode's start: the test
  // VM the test failover made).
  absl::StatusOr<std::string> CopyFor(const Operation& op);
  // SubmitOperation's work, on a submit thread; `done` is given its answer
  // through the loop (Post).
  void SubmitNow(const Operation& op, const JobDone& done);
  bool Stopping() ABSL_LOCKS_EXCLUDED(mu_);
  std::string NewExecutionId();
  void Loop();
  // The loop's wait is over: a job ended or a step got its job (wake_),
  // or the executor stops.
  bool Woken() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  Store* const store_;
  FailoverLogic* const failover_;
  JobHub* const hub_;
  PlanLogic* const plans_;
  AgentStubFactory* const agents_;
  Clock* const clock_;
  const Options options_;
  Watcher watcher_{this};

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<PlanRun>> runs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> job_run_ ABSL_GUARDED_BY(mu_);  // job -> execution
  std::deque<dr::v1::Job> changes_ ABSL_GUARDED_BY(mu_);
  // Answers that came on other threads (a job creation's, a heartbeat
  // read's, a hook's end), run by the loop for their execution if it is
  // still run here: a run's lock is never taken on the job writer's
  // completion thread, a gRPC callback thread or the hook runner's, where
  // it would wait behind the run's store write (and that behind the
  // writer's batch), stalling the dispatch of every job the batch created.
  std::deque<std::pair<std::string, std::function<void()>>> posted_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;        // something to do since the loop last ran
  int reads_in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // heartbeat reads not answered yet
  // Their contexts, cancelled at shutdown (a read may wait readiness_wait).
  std::set<std::shared_ptr<grpc::ClientContext>> reading_ ABSL_GUARDED_BY(mu_);
  absl::Mutex rng_mu_;
  absl::BitGen rng_ ABSL_GUARDED_BY(rng_mu_);
  std::thread thread_;
  // SubmitNow's threads; destroyed after the loop's thread stopped, so
  // nothing schedules on it after.
  std::unique_ptr<Executor> submits_;
  // Unwatches the jobs that ended: JobHub::Unwatch waits for a delivery
  // under way in the job's shard, which the loop must not.
  std::unique_ptr<Executor> unwatches_;
  // Destroyed by the destructor once the thread has stopped (its
  // callbacks reach the runs, which may still start jobs to watch), before
  // the jobs are unwatched. hooks_ (null without a hooks dir) is set by the
  // constructor only, so callbacks read it while the runner is destroyed.
  std::unique_ptr<HookRunner> hook_runner_;
  HookRunner* hooks_ = nullptr;
  std::string hooks_unavailable_;  // why hooks_ is null
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_PLAN_EXECUTOR_H_
