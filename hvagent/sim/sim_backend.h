// A simulated Hyper-V host, faithful to the Msvm_ReplicationService
// contract: each method checks the preconditions Hyper-V checks and answers
// its return code; accepted calls start a job that moves New -> Starting ->
// Running (percent rising) -> Completed or Exception, changing the VM's
// replication state as Hyper-V does (hyperv_rules.h); finished jobs disappear
// after TimeBeforeRemoval.
//
// Like vmms.exe, the simulated hypervisor outlives the agent: its whole state
// is written to a state file (atomically: temp file + rename) before a method
// returns, and a running job's progress follows from its start time and
// duration. An agent killed mid-job and restarted finds the job where the
// hypervisor left it, and nothing runs twice.
//
// Thread-safe.
#ifndef HVDR_HVAGENT_SIM_SIM_BACKEND_H_
#define HVDR_HVAGENT_SIM_SIM_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "hvagent/backend.h"
#include "hvdr/sim/v1/sim.pb.h"

namespace hvdr {
namespace sim {

class SimBackend final : public agent::Backend {
 public:
  struct Options {
    // Where the hypervisor's state lives; "" keeps it in memory only.
    std::string state_path;
    // Not owned; must outlive the backend.
    Clock* clock = RealClock::Get();
    // The ledger of operations started (SimState.history) keeps the newest
    // max_history; older ones are dropped (counted in history_dropped), a
    // tenth of the bound at a time. <= 0: no bound.
    int64_t max_history = 100000;
  };

  // Resumes from the state file when it exists (the scenario is then
  // ignored: the hypervisor remembers); otherwise starts from `scenario`.
  // INVALID_ARGUMENT naming the field for a bad scenario; DATA_LOSS for a
  // state file that is unreadable or fails ValidateState.
  static absl::StatusOr<std::unique_ptr<SimBackend>> Open(const Options& options,
                                                          const hvdr::sim::v1::Scenario& scenario);

  // Reads a scenario in protobuf text format.
  static absl::StatusOr<hvdr::sim::v1::Scenario> LoadScenarioFile(const std::string& path);

  // Checks a scenario; errors name the field, e.g. "vms[2].vm_id".
  static absl::Status ValidateScenario(const hvdr::sim::v1::Scenario& scenario);
  // Checks a state read back from the state file: what the simulator could
  // have written (a valid scenario over its VMs, times of 0 to year 9999 in
  // microseconds, percents 0-100, jobs of known operations, no more fault
  // counters than faults). Errors name the field, e.g. "jobs[0].percent".
  static absl::Status ValidateState(const hvdr::sim::v1::SimState& state);

  absl::StatusOr<dr::v1::GetInventoryResponse> GetInventory() override;
  absl::StatusOr<dr::v1::VirtualMachineInventory> GetVirtualMachine(
      const std::string& vm_id) override;
  agent::MethodResult Invoke(const agent::Operation& op) override;
  absl::StatusOr<agent::JobInfo> GetJob(const std::string& job_id) override;
  absl::StatusOr<std::vector<agent::JobInfo>> ListJobs() override;
  agent::MethodResult CancelJob(const std::string& job_id) override;
  // The earliest planned end (or fault's failure or vanishing) of the open
  // jobs; nullopt when none is due (none open, or only never_finish ones).
  std::optional<absl::Time> NextJobEnd() override;
  // The rest of the VM's boot (zero once booted); nullopt while it is off,
  // unknown, or a never_ready fault holds its guest.
  std::optional<absl::Duration> HeartbeatOkIn(const std::string& vm_id) override;

  // Test hook: the state as it now is (jobs advanced to the clock).
  // history lists the operations the hypervisor started (the newest
  // Options::max_history of them; history_dropped counts the rest).
  hvdr::sim::v1::SimState SnapshotForTest();

 private:
  SimBackend(const Options& options, hvdr::sim::v1::SimState state)
      : options_(options), state_(std::move(state)) {}

  // Moves every running job to where the clock says it is; applies the
  // effects of jobs that ended; drops jobs past TimeBeforeRemoval. Walks
  // the open jobs (open_jobs_), not the ended ones, and runs at most once
  // per kAdvanceStepUs of clock time: a poll of thousands of jobs then
  // costs one walk, not one per job. The removal pass runs only once the
  // earliest removal is due (next_removal_us_).
  void AdvanceLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The job with `job_id`, or null. Through job_index_.
  hvdr::sim::v1::SimJob* FindJobLocked(const std::string& job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rebuilds job_index_, open_jobs_ and next_removal_us_ from state_.jobs()
  // (after jobs were removed, or a restore).
  void IndexJobsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A job just ended at `end_us`: it is due for removal then + TimeBeforeRemoval.
  void NoteEndedLocked(int64_t end_us) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t RemovalDelayUsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static constexpr int64_t kAdvanceStepUs = 1000;
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The VM with `vm_id`, or null. Through vm_index_ (rebuilt after VMs are
  // added or removed).
  hvdr::sim::v1::SimVm* FindVmLocked(const std::string& vm_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  agent::MethodResult CheckLocked(const agent::Operation& op, hvdr::sim::v1::SimVm& vm)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finds and consumes a fault for (vm, op). `at_call` selects faults that
  // refuse the call (return_code set) or those that shape the job.
  bool TakeFaultLocked(const agent::Operation& op, bool at_call, hvdr::sim::v1::Fault* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CompleteLocked(hvdr::sim::v1::SimJob& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailLocked(hvdr::sim::v1::SimJob& job, dr::v1::JobState state, int64_t end_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t DurationMsLocked(dr::v1::JobType type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t NowUs() const;
  // The guest's heartbeat now: none while off; No Contact while it boots
  // (boot_ms, or the scenario's default_boot_ms, after its power-on) or
  // while a never_ready fault matches it; OK after.
  dr::v1::HeartbeatStatus HeartbeatLocked(const hvdr::sim::v1::SimVm& vm)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A never_ready fault holds the VM's guest (or its replica's, for a test VM).
  bool NeverReadyLocked(const hvdr::sim::v1::SimVm& vm) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the guest's boot ends, microseconds: its power-on plus boot_ms (or
  // the scenario's default_boot_ms); 0 for a VM never powered on here.
  int64_t BootEndUsLocked(const hvdr::sim::v1::SimVm& vm) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  hvdr::sim::v1::SimState state_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  int64_t advanced_us_ ABSL_GUARDED_BY(mu_) = INT64_MIN;
  // vm_id -> position in state_.vms(); empty means stale.
  absl::flat_hash_map<std::string, int> vm_index_ ABSL_GUARDED_BY(mu_);
  // Valid while jobs_indexed_: job id -> position in state_.jobs(); the
  // positions of jobs not known to have ended (a superset of the open ones,
  // in order); the earliest time an ended job is due for removal.
  bool jobs_indexed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, int> job_index_ ABSL_GUARDED_BY(mu_);
  std::vector<int> open_jobs_ ABSL_GUARDED_BY(mu_);
  int64_t next_removal_us_ ABSL_GUARDED_BY(mu_) = INT64_MAX;
};

}  // namespace sim
}  // namespace hvdr

#endif  // HVDR_HVAGENT_SIM_SIM_BACKEND_H_
