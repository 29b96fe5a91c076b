// Runs the server's jobs on the hypervisor exactly once and tells listeners
// about every change.
//
// A job is named by the server's job id, the idempotency key: Start() with a
// known id re-attaches to the job already started (or reports its recorded
// outcome) and never calls the hypervisor again. Before calling the
// hypervisor, the runner journals the job id (a Journal), so that after a
// crash it can tell a job that may have reached the hypervisor from one that
// never did: on Create(), started jobs are re-attached, and pending ones are
// reconciled against the hypervisor's job list before anything is re-issued.
//
// One poll thread reads every running job from the backend every
// poll_interval (100 ms by default, like os-win) - or as a job ends, when
// the backend knows when that is (the simulator: Backend::NextJobEnd) and
// few jobs run - and
// notifies listeners of changes; there is no thread per job or per stream.
//
// Journal writes (each an fsync) and hypervisor calls are made without the
// runner's lock: one that blocks holds up only its own job (a Start or
// Watch of the same job id waits for its pending entry), never the poll,
// other jobs or Unsubscribe (which streams' ends call on gRPC reactors).
//
// Thread-safe. Listeners are called with the runner's lock held, in order,
// from whichever thread observed the change: they must be quick, must not
// block and must not call back into the runner.
#ifndef HVDR_HVAGENT_JOB_RUNNER_H_
#define HVDR_HVAGENT_JOB_RUNNER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/optional.h"
#include "common/clock.h"
#include "dr/v1/agent_service.pb.h"
#include "hvagent/backend.h"
#include "hvagent/job_journal.h"

namespace hvdr {
namespace agent {

class JobRunner {
 public:
  using Listener = std::function<void(const dr::v1::AgentJobStatus&)>;

  struct Options {
    absl::Duration poll_interval = absl::Milliseconds(100);
    // A running job's progress (a status that differs from the last one sent
    // in its percent only) goes to listeners at most this often; a poll in
    // between sends nothing for it, and a later poll the newest percent.
    // State changes, outcomes and VM states go at once. <= 0: every poll's.
    absl::Duration progress_interval = absl::Seconds(1);
    // Not owned.
    Clock* clock = RealClock::Get();
    // False: no poll thread; tests call PollOnce().
    bool start_poller = true;
  };

  // `backend` and `journal` are not owned and must outlive the runner.
  // Recovers the journal's unfinished jobs before returning.
  static absl::StatusOr<std::unique_ptr<JobRunner>> Create(Backend* backend, Journal* journal,
                                                           const Options& options);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts `op` as job `job_id`, or re-attaches to it. `listener` (may be
  // null) first receives the current status, then every change; its
  // subscription id is stored in *subscription. FAILED_PRECONDITION when
  // job_id is known for a different operation or VM.
  absl::StatusOr<dr::v1::AgentJobStatus> Start(const std::string& job_id, const Operation& op,
                                               Listener listener, uint64_t* subscription);
  // Attaches to a known job. NOT_FOUND when the agent never had job_id.
  absl::StatusOr<dr::v1::AgentJobStatus> Watch(const std::string& job_id, Listener listener,
                                               uint64_t* subscription);
  // After Unsubscribe returns, the listener is never called again.
  void Unsubscribe(uint64_t subscription);
  // Cancels a running job. FAILED_PRECONDITION (32775) when it cannot be.
  absl::StatusOr<dr::v1::AgentJobStatus> Cancel(const std::string& job_id);
  // Reads every running job once (the poll thread's step).
  void PollOnce();
  // Stops the poll thread. Idempotent.
  void Stop();

  // Number of jobs being polled (for tests and logs).
  int ActiveJobs();

 private:
  struct Tracked {
    Operation op;
    std::string hypervisor_job_id;
    dr::v1::AgentJobStatus status;                    // the last one sent
    absl::Time progress_sent = absl::InfinitePast();  // when the last progress was
    bool lost = false;  // Hyper-V removed the job before its outcome was read (logged once)
    std::map<uint64_t, Listener> listeners;
  };

  JobRunner(Backend* backend, Journal* journal, const Options& options)
      : backend_(backend), journal_(journal), options_(options) {}

  absl::Status Recover();
  // Calls the hypervisor for a journaled job and records the answer.
  void Launch(const std::string& job_id, const Operation& op) ABSL_LOCKS_EXCLUDED(mu_);
  void PollLoop();
  // How long the poll thread waits: poll_interval, or less when the
  // backend knows a running job ends sooner (Backend::NextJobEnd).
  absl::Duration NextPollIn();
  void WakePoller() ABSL_LOCKS_EXCLUDED(wake_mu_);
  static constexpr absl::Duration kJobEndSlack = absl::Milliseconds(1);
  static constexpr int kMaxJobsForEarlyPolls = 32;
  // Sets status->virtual_machine to the VM as the hypervisor now reports it.
  void AttachVm(const std::string& vm_id, dr::v1::AgentJobStatus* status) ABSL_LOCKS_EXCLUDED(mu_);
  std::string VmOf(const std::string& job_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Applies `status` to the job and notifies; drops it from memory once
  // terminal.
  void PublishLocked(const std::string& job_id, const dr::v1::AgentJobStatus& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t SubscribeLocked(Tracked& job, Listener listener) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits, with mu_ released meanwhile, until no Start is writing
  // job_id's pending entry to the journal.
  void AwaitJournaledLocked(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  dr::v1::AgentJobStatus StatusFromJob(const std::string& job_id, const JobInfo& info);
  // The status of hypervisor job `info`, found after a restart, as the
  // job's first status: never terminal (see ReattachedStatus).
  dr::v1::AgentJobStatus FoundAfterRestart(const std::string& job_id, const JobInfo& info);
  // The status of a journaled, started job after a restart, read from the
  // hypervisor: never behind what it reported before (not New; a job that
  // ended meanwhile shows Running until the poll reads its outcome).
  dr::v1::AgentJobStatus ReattachedStatus(const std::string& job_id, const std::string& hv_job);
  // Hyper-V no longer knows hv_job (removed after TimeBeforeRemoval, or
  // vmms restarted). Returns the terminal status when the VM's observed
  // state proves the operation completed (see VmStateProvesCompletion);
  // otherwise publishes 32771 saying why and returns nothing (the next poll
  // looks again).
  absl::optional<dr::v1::AgentJobStatus> Vanished(const std::string& job_id,
                                                  const std::string& hv_job)
      ABSL_LOCKS_EXCLUDED(mu_);

  Backend* const backend_;
  Journal* const journal_;
  const Options options_;

  absl::Mutex mu_;
  std::map<std::string, Tracked> jobs_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> subscriptions_ ABSL_GUARDED_BY(mu_);
  // Jobs whose pending entry a Start is writing, without mu_ (a journal
  // write may block for an fsync; mu_ is taken by the poll, every call and
  // streams' ends). Such a job is not in jobs_ yet.
  std::set<std::string> journaling_ ABSL_GUARDED_BY(mu_);
  uint64_t next_subscription_ ABSL_GUARDED_BY(mu_) = 1;

  // The poll thread's wait: over at Stop, or when a job started (its end
  // may come before the poll planned: NextPollIn again).
  absl::Mutex wake_mu_;
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool job_started_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread poller_;
};

// The status of a job the hypervisor refused at the call (no job started).
dr::v1::AgentJobStatus RefusedStatus(const std::string& job_id, const MethodResult& result,
                                     absl::Time now);

}  // namespace agent
}  // namespace hvdr

#endif  // HVDR_HVAGENT_JOB_RUNNER_H_
