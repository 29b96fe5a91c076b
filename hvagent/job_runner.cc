#include "hvagent/job_runner.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/hyperv_rules.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace agent {

using dr::v1::AgentJobStatus;

namespace {

// Equal but maybe for the percent.
bool SameButPercent(const AgentJobStatus& a, const AgentJobStatus& b) {
  return a.state() == b.state() && a.return_code() == b.return_code() &&
         a.error_code() == b.error_code() && a.terminal() == b.terminal() &&
         a.hypervisor_job_id() == b.hypervisor_job_id() && a.error_summary() == b.error_summary();
}

bool SameStatus(const AgentJobStatus& a, const AgentJobStatus& b) {
  return SameButPercent(a, b) && a.percent_complete() == b.percent_complete();
}

// `base` completed: the hypervisor no longer has the job, and `vm`'s state
// proves the operation's effect (VmStateProvesCompletion). `why` says how
// the job's own outcome was lost.
AgentJobStatus CompletedByVmState(AgentJobStatus base, const Operation& op,
                                  const dr::v1::VirtualMachine& vm, absl::Time now,
                                  const std::string& why) {
  AgentJobStatus done = std::move(base);
  done.set_state(dr::v1::JOB_STATE_COMPLETED);
  done.set_percent_complete(100);
  done.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  done.set_error_code(0);
  done.clear_error_summary();
  done.set_terminal(true);
  done.set_cancellable(false);
  ToProto(now, done.mutable_end_time());
  done.set_outcome_note(absl::StrCat(
      why, "; the VM's observed state (", dr::v1::ReplicationState_Name(vm.replication_state()),
      ", ", dr::v1::EnabledState_Name(vm.enabled_state()), ") proves that ",
      dr::v1::JobType_Name(op.type), " completed"));
  done.set_error_description(done.outcome_note());
  *done.mutable_virtual_machine() = vm;
  return done;
}

}  // namespace

AgentJobStatus RefusedStatus(const std::string& job_id, const MethodResult& result,
                             absl::Time now) {
  AgentJobStatus s;
  s.set_job_id(job_id);
  if (result.return_code == dr::v1::RETURN_CODE_COMPLETED) {
    s.set_state(dr::v1::JOB_STATE_COMPLETED);
    s.set_percent_complete(100);
  } else {
    s.set_state(dr::v1::JOB_STATE_EXCEPTION);
    s.set_error_code(static_cast<uint32_t>(result.return_code));
    s.set_error_summary(std::string(ReturnCodeText(result.return_code)));
    s.set_error_description(result.message);
  }
  s.set_return_code(result.return_code);
  ToProto(now, s.mutable_end_time());
  s.set_terminal(true);
  return s;
}

AgentJobStatus JobRunner::StatusFromJob(const std::string& job_id, const JobInfo& info) {
  AgentJobStatus s;
  s.set_job_id(job_id);
  s.set_state(info.state);
  s.set_percent_complete(info.percent);
  s.set_error_code(info.error_code);
  s.set_error_summary(info.error_summary);
  s.set_error_description(info.error_description);
  ToProto(info.start_time, s.mutable_start_time());
  ToProto(info.end_time, s.mutable_end_time());
  s.set_hypervisor_job_id(info.job_id);
  s.set_cancellable(info.cancellable);
  s.set_terminal(IsTerminalJobState(info.state));
  // 4096 while running and when it completed as a job; the job's error code
  // (or 32768) when it failed.
  if (s.terminal() && info.state != dr::v1::JOB_STATE_COMPLETED) {
    s.set_return_code(IsValidReturnCode(info.error_code) && info.error_code >= 32768
                          ? static_cast<dr::v1::ReturnCode>(info.error_code)
                          : dr::v1::RETURN_CODE_FAILED);
  } else {
    s.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  }
  return s;
}

AgentJobStatus JobRunner::FoundAfterRestart(const std::string& job_id, const JobInfo& info) {
  AgentJobStatus s = StatusFromJob(job_id, info);
  if (s.terminal()) {
    // Only the poll publishes an end, with the VM's state read after it
    // (and then stops tracking the job); until then the job is where it
    // was, never behind.
    s.set_state(dr::v1::JOB_STATE_RUNNING);
    s.set_terminal(false);
    s.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    s.clear_end_time();
  }
  return s;
}

AgentJobStatus JobRunner::ReattachedStatus(const std::string& job_id, const std::string& hv_job) {
  absl::StatusOr<JobInfo> info = backend_->GetJob(hv_job);
  AgentJobStatus s;
  if (info.ok()) return FoundAfterRestart(job_id, *info);
  // The poll finds out what happened to it (vanished, or unreadable now).
  s.set_job_id(job_id);
  s.set_state(dr::v1::JOB_STATE_RUNNING);
  s.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  s.set_hypervisor_job_id(hv_job);
  return s;
}

absl::StatusOr<std::unique_ptr<JobRunner>> JobRunner::Create(Backend* backend, Journal* journal,
                                                             const Options& options) {
  std::unique_ptr<JobRunner> runner(new JobRunner(backend, journal, options));
  RETURN_IF_ERROR(runner->Recover());
  if (options.start_poller) {
    runner->poller_ = std::thread([r = runner.get()] { r->PollLoop(); });
  }
  return runner;
}

JobRunner::~JobRunner() { Stop(); }

void JobRunner::Stop() {
  {
    absl::MutexLock lock(&wake_mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

void JobRunner::WakePoller() {
  absl::MutexLock lock(&wake_mu_);
  job_started_ = true;
}

absl::Status JobRunner::Recover() {
  ASSIGN_OR_RETURN(std::vector<JournalEntry> open, journal_->ListUnfinished());
  if (open.empty()) return absl::OkStatus();
  std::set<std::string> claimed;
  for (const JournalEntry& e : open) {
    if (e.phase == JournalEntry::Phase::kStarted) claimed.insert(e.hypervisor_job_id);
  }
  absl::StatusOr<std::vector<JobInfo>> hv_jobs = backend_->ListJobs();
  for (const JournalEntry& e : open) {
    if (e.phase == JournalEntry::Phase::kStarted) {
      absl::MutexLock lock(&mu_);
      Tracked& t = jobs_[e.job_id];
      t.op = e.op;
      t.hypervisor_job_id = e.hypervisor_job_id;
      t.status = ReattachedStatus(e.job_id, e.hypervisor_job_id);
      spdlog::info("job {}: re-attached to hypervisor job {} ({} on VM {})", e.job_id,
                   e.hypervisor_job_id, dr::v1::JobType_Name(e.op.type), e.op.vm_id);
      continue;
    }
    // Pending: the agent died around the hypervisor call. Did it get there?
    if (!hv_jobs.ok()) return hv_jobs.status();
    const JobInfo* adopted = nullptr;
    for (const JobInfo& j : *hv_jobs) {
      if (j.vm_id == e.op.vm_id && j.type == e.op.type && claimed.count(j.job_id) == 0 &&
          j.start_time >= e.created - absl::Seconds(2)) {
        adopted = &j;
        break;
      }
    }
    if (adopted != nullptr) {
      claimed.insert(adopted->job_id);
      RETURN_IF_ERROR(journal_->MarkStarted(e.job_id, adopted->job_id));
      absl::MutexLock lock(&mu_);
      Tracked& t = jobs_[e.job_id];
      t.op = e.op;
      t.hypervisor_job_id = adopted->job_id;
      t.status = FoundAfterRestart(e.job_id, *adopted);
      spdlog::info("job {}: found hypervisor job {} started before the restart", e.job_id,
                   adopted->job_id);
      continue;
    }
    // No hypervisor job: either the call never reached Hyper-V, or it did
    // and Hyper-V has since removed the finished job (TimeBeforeRemoval).
    // The VM tells which; launching again after a completed failover would
    // be refused and report a failure for work that succeeded.
    absl::StatusOr<dr::v1::VirtualMachineInventory> vm = backend_->GetVirtualMachine(e.op.vm_id);
    if (!vm.ok()) {
      if (vm.status().code() != absl::StatusCode::kNotFound) return vm.status();
    } else if (VmStateProvesCompletion(e.op.type, vm->virtual_machine())) {
      AgentJobStatus base;
      base.set_job_id(e.job_id);
      AgentJobStatus done = CompletedByVmState(
          base, e.op, vm->virtual_machine(), options_.clock->Now(),
          "the agent stopped after calling Hyper-V and before recording the job it started, and "
          "Hyper-V has since removed that job");
      RETURN_IF_ERROR(journal_->MarkDone(e.job_id, done));
      spdlog::warn("job {}: {}", e.job_id, done.outcome_note());
      continue;
    }
    {
      spdlog::info("job {}: the hypervisor never received it; starting it now", e.job_id);
      {
        absl::MutexLock lock(&mu_);
        Tracked& t = jobs_[e.job_id];
        t.op = e.op;
        t.status.set_job_id(e.job_id);
        t.status.set_state(dr::v1::JOB_STATE_NEW);
        t.status.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
      }
      Launch(e.job_id, e.op);
    }
  }
  return absl::OkStatus();
}

void JobRunner::AwaitJournaledLocked(const std::string& job_id) {
  auto journaled = [this, &job_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return journaling_.count(job_id) == 0;
  };
  mu_.Await(absl::Condition(&journaled));
}

uint64_t JobRunner::SubscribeLocked(Tracked& job, Listener listener) {
  if (!listener) return 0;
  const uint64_t id = next_subscription_++;
  listener(job.status);
  job.listeners.emplace(id, std::move(listener));
  subscriptions_.emplace(id, job.status.job_id());
  return id;
}

absl::StatusOr<AgentJobStatus> JobRunner::Start(const std::string& job_id, const Operation& op,
                                                Listener listener, uint64_t* subscription) {
  if (subscription != nullptr) *subscription = 0;
  auto check_same = [&](const Operation& known) -> absl::Status {
    if (known.type != op.type || known.vm_id != op.vm_id ||
        known.recovery_point_id != op.recovery_point_id) {
      return InvalidState("job_id", "JOB_ID_REUSED",
                          absl::StrCat("job ", job_id, " is already ",
                                       dr::v1::JobType_Name(known.type), " on VM ", known.vm_id));
    }
    return absl::OkStatus();
  };
  {
    absl::MutexLock lock(&mu_);
    AwaitJournaledLocked(job_id);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) {
      RETURN_IF_ERROR(check_same(it->second.op));
      uint64_t id = SubscribeLocked(it->second, std::move(listener));
      if (subscription != nullptr) *subscription = id;
      return it->second.status;
    }
  }
  absl::StatusOr<JournalEntry> known = journal_->Get(job_id);
  if (known.ok()) {
    RETURN_IF_ERROR(check_same(known->op));
    if (known->phase == JournalEntry::Phase::kDone) {
      if (listener) listener(known->final_status);
      return known->final_status;
    }
    // Unfinished but not in memory cannot happen after Recover(); re-watch.
    return Watch(job_id, std::move(listener), subscription);
  }
  if (known.status().code() != absl::StatusCode::kNotFound) return known.status();

  {
    absl::MutexLock lock(&mu_);
    AwaitJournaledLocked(job_id);
    if (jobs_.count(job_id) != 0) {  // a concurrent Start won the race
      Tracked& t = jobs_[job_id];
      RETURN_IF_ERROR(check_same(t.op));
      uint64_t id = SubscribeLocked(t, std::move(listener));
      if (subscription != nullptr) *subscription = id;
      return t.status;
    }
    journaling_.insert(job_id);
  }
  // The write (an fsync) without the lock: a concurrent Start or Watch of
  // this job waits for it, nothing else does.
  absl::Status journaled = journal_->InsertPending(job_id, op, options_.clock->Now());
  {
    absl::MutexLock lock(&mu_);
    journaling_.erase(job_id);
    if (!journaled.ok()) return journaled;
    Tracked& t = jobs_[job_id];
    t.op = op;
    t.status.set_job_id(job_id);
    t.status.set_state(dr::v1::JOB_STATE_NEW);
    t.status.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    uint64_t id = SubscribeLocked(t, std::move(listener));
    if (subscription != nullptr) *subscription = id;
  }
  Launch(job_id, op);
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) return it->second.status;
  }
  absl::StatusOr<JournalEntry> done = journal_->Get(job_id);
  if (!done.ok()) return done.status();
  return done->final_status;
}

void JobRunner::Launch(const std::string& job_id, const Operation& op) {
  MethodResult result = backend_->Invoke(op);
  if (result.return_code == dr::v1::RETURN_CODE_JOB_STARTED) {
    spdlog::info("job {}: {} on VM {} -> 4096, hypervisor job {}", job_id,
                 dr::v1::JobType_Name(op.type), op.vm_id, result.job_id);
    absl::Status s = journal_->MarkStarted(job_id, result.job_id);
    if (!s.ok()) spdlog::error("job {}: journal: {}", job_id, s.ToString());
    // The VM as the job leaves it while it runs (e.g. FailoverInProgress).
    AgentJobStatus with_vm;
    AttachVm(op.vm_id, &with_vm);
    {
      absl::MutexLock lock(&mu_);
      auto it = jobs_.find(job_id);
      if (it == jobs_.end()) return;
      it->second.hypervisor_job_id = result.job_id;
      AgentJobStatus status = it->second.status;
      status.set_hypervisor_job_id(result.job_id);
      if (with_vm.has_virtual_machine())
        *status.mutable_virtual_machine() = with_vm.virtual_machine();
      PublishLocked(job_id, status);
    }
    WakePoller();
    return;
  }
  spdlog::warn("job {}: {} on VM {} refused: {} ({}) {}", job_id, dr::v1::JobType_Name(op.type),
               op.vm_id, static_cast<int>(result.return_code),
               std::string(ReturnCodeText(result.return_code)), result.message);
  AgentJobStatus status = RefusedStatus(job_id, result, options_.clock->Now());
  AttachVm(op.vm_id, &status);
  absl::Status s = journal_->MarkDone(job_id, status);
  if (!s.ok()) spdlog::error("job {}: journal: {}", job_id, s.ToString());
  absl::MutexLock lock(&mu_);
  PublishLocked(job_id, status);
}

void JobRunner::PublishLocked(const std::string& job_id, const AgentJobStatus& status) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Tracked& t = it->second;
  // A repeat changes nothing, except that an end always ends the tracking.
  if (SameStatus(t.status, status) && !status.terminal()) return;
  if (!status.terminal() && !status.has_virtual_machine() && SameButPercent(t.status, status)) {
    // Progress only: at most every progress_interval.
    const absl::Time now = options_.clock->Now();
    if (options_.progress_interval > absl::ZeroDuration() &&
        now - t.progress_sent < options_.progress_interval) {
      return;
    }
    t.progress_sent = now;
  }
  t.status = status;
  for (auto& [id, listener] : t.listeners) listener(status);
  // The VM's state goes out with the status that observed it, once: a
  // re-attach later must not carry a VM state older than the server's.
  t.status.clear_virtual_machine();
  if (status.terminal()) {
    for (auto& [id, listener] : t.listeners) subscriptions_.erase(id);
    jobs_.erase(it);
  }
}

absl::StatusOr<AgentJobStatus> JobRunner::Watch(const std::string& job_id, Listener listener,
                                                uint64_t* subscription) {
  if (subscription != nullptr) *subscription = 0;
  {
    absl::MutexLock lock(&mu_);
    AwaitJournaledLocked(job_id);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) {
      uint64_t id = SubscribeLocked(it->second, std::move(listener));
      if (subscription != nullptr) *subscription = id;
      return it->second.status;
    }
  }
  ASSIGN_OR_RETURN(JournalEntry e, journal_->Get(job_id));
  if (e.phase == JournalEntry::Phase::kDone) {
    if (listener) listener(e.final_status);
    return e.final_status;
  }
  return absl::InternalError(
      absl::StrCat("job ", job_id, " is open in the journal but not tracked"));
}

void JobRunner::Unsubscribe(uint64_t subscription) {
  if (subscription == 0) return;
  absl::MutexLock lock(&mu_);
  auto it = subscriptions_.find(subscription);
  if (it == subscriptions_.end()) return;
  auto job = jobs_.find(it->second);
  if (job != jobs_.end()) job->second.listeners.erase(subscription);
  subscriptions_.erase(it);
}

absl::StatusOr<AgentJobStatus> JobRunner::Cancel(const std::string& job_id) {
  std::string hv_job;
  bool tracked;
  {
    absl::MutexLock lock(&mu_);
    AwaitJournaledLocked(job_id);
    auto it = jobs_.find(job_id);
    tracked = it != jobs_.end();
    if (tracked) hv_job = it->second.hypervisor_job_id;
  }
  // The journal is read without the lock: a read waits for a write in
  // flight.
  if (!tracked) {
    absl::StatusOr<JournalEntry> e = journal_->Get(job_id);
    if (!e.ok()) return e.status();
    return InvalidState("job_id", "JOB_TERMINAL", absl::StrCat("job ", job_id, " already ended"));
  }
  if (hv_job.empty()) {
    return InvalidState("job_id", "JOB_NOT_STARTED",
                        absl::StrCat("job ", job_id, " has not reached the hypervisor yet"));
  }
  MethodResult r = backend_->CancelJob(hv_job);
  if (r.return_code != dr::v1::RETURN_CODE_COMPLETED &&
      r.return_code != dr::v1::RETURN_CODE_JOB_STARTED) {
    return HyperVError(r.return_code, "job_id", "NOT_CANCELLABLE", r.message);
  }
  spdlog::info("job {}: cancel requested (hypervisor job {})", job_id, hv_job);
  PollOnce();
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it != jobs_.end()) return it->second.status;
  }
  absl::StatusOr<JournalEntry> e = journal_->Get(job_id);
  if (!e.ok()) return e.status();
  return e->final_status;
}

void JobRunner::PollOnce() {
  std::vector<std::pair<std::string, std::string>> running;  // job id, hypervisor job id
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, t] : jobs_) {
      if (!t.hypervisor_job_id.empty()) running.emplace_back(id, t.hypervisor_job_id);
    }
  }
  std::vector<std::pair<std::string, AgentJobStatus>> ended;  // job id, final status
  for (const auto& [job_id, hv_job] : running) {
    absl::StatusOr<JobInfo> info = backend_->GetJob(hv_job);
    if (info.status().code() == absl::StatusCode::kNotFound) {
      absl::optional<AgentJobStatus> proven = Vanished(job_id, hv_job);
      if (proven.has_value()) ended.emplace_back(job_id, *std::move(proven));
      continue;
    }
    if (!info.ok()) {
      spdlog::warn("job {}: reading hypervisor job {}: {}", job_id, hv_job,
                   info.status().ToString());
      continue;
    }
    AgentJobStatus status = StatusFromJob(job_id, *info);
    if (status.terminal()) {
      AttachVm(info->vm_id.empty() ? VmOf(job_id) : info->vm_id, &status);
      ended.emplace_back(job_id, std::move(status));
      continue;
    }
    absl::MutexLock lock(&mu_);
    PublishLocked(job_id, status);
  }
  // The outcomes of this poll in one commit; each is published only once
  // it is durable.
  const std::vector<absl::Status> recorded = journal_->MarkDone(ended);
  for (size_t i = 0; i < ended.size(); ++i) {
    const auto& [job_id, status] = ended[i];
    if (!recorded[i].ok()) {
      spdlog::error("job {}: journal: {}; will retry", job_id, recorded[i].ToString());
      continue;
    }
    spdlog::info("job {}: {} ({}%) error {} {}", job_id, dr::v1::JobState_Name(status.state()),
                 status.percent_complete(), status.error_code(), status.error_summary());
    absl::MutexLock lock(&mu_);
    PublishLocked(job_id, status);
  }
}

absl::optional<AgentJobStatus> JobRunner::Vanished(const std::string& job_id,
                                                   const std::string& hv_job) {
  Operation op;
  AgentJobStatus last;
  bool first;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return absl::nullopt;
    op = it->second.op;
    last = it->second.status;
    first = !it->second.lost;
    it->second.lost = true;
  }
  absl::StatusOr<dr::v1::VirtualMachineInventory> vm = backend_->GetVirtualMachine(op.vm_id);
  if (vm.ok() && VmStateProvesCompletion(op.type, vm->virtual_machine())) {
    AgentJobStatus done = CompletedByVmState(
        last, op, vm->virtual_machine(), options_.clock->Now(),
        absl::StrCat("Hyper-V removed job ", hv_job, " before its outcome was read"));
    spdlog::warn("job {}: {}", job_id, done.outcome_note());
    return done;
  }
  if (first) {
    spdlog::error(
        "job {}: hypervisor job {} vanished before its outcome was read, and the VM's "
        "state does not prove the outcome: status unknown until it does, or an "
        "operator abandons the job",
        job_id, hv_job);
  }
  AgentJobStatus unknown = last;
  // The VM as read now, not as it was when the job started: the server
  // records it, and the VM is what an operator checks before abandoning.
  if (vm.ok()) {
    *unknown.mutable_virtual_machine() = vm->virtual_machine();
  } else {
    unknown.clear_virtual_machine();
  }
  unknown.set_return_code(dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  unknown.set_error_summary(std::string(ReturnCodeText(dr::v1::RETURN_CODE_STATUS_UNKNOWN)));
  unknown.set_error_description(absl::StrCat(
      "Hyper-V removed job ", hv_job, " before the agent read its outcome, and the VM's state",
      vm.ok() ? absl::StrCat(
                    " (", dr::v1::ReplicationState_Name(vm->virtual_machine().replication_state()),
                    ", ", dr::v1::EnabledState_Name(vm->virtual_machine().enabled_state()), ")")
              : absl::StrCat(" (unreadable: ", vm.status().message(), ")"),
      " does not prove that ", dr::v1::JobType_Name(op.type),
      " completed; check the VM, then abandon the job (JobService.AbandonJob) to release it"));
  absl::MutexLock lock(&mu_);
  PublishLocked(job_id, unknown);
  return absl::nullopt;
}

void JobRunner::AttachVm(const std::string& vm_id, AgentJobStatus* status) {
  if (vm_id.empty()) return;
  absl::StatusOr<dr::v1::VirtualMachineInventory> vm = backend_->GetVirtualMachine(vm_id);
  if (vm.ok()) *status->mutable_virtual_machine() = vm->virtual_machine();
}

std::string JobRunner::VmOf(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  return it == jobs_.end() ? "" : it->second.op.vm_id;
}

void JobRunner::PollLoop() {
  absl::Time next_poll = absl::Now() + NextPollIn();
  while (true) {
    bool started;
    {
      absl::MutexLock lock(&wake_mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) {
        return stopping_ || job_started_;
      };
      wake_mu_.AwaitWithDeadline(absl::Condition(&woken), next_poll);
      if (stopping_) return;
      started = job_started_;
      job_started_ = false;
    }
    // A job started: it may end before the poll planned.
    if (started && absl::Now() < next_poll) {
      next_poll = std::min(next_poll, absl::Now() + NextPollIn());
      continue;
    }
    PollOnce();
    next_poll = absl::Now() + NextPollIn();
  }
}

absl::Duration JobRunner::NextPollIn() {
  // A poll reads every running job: polling at each end is worth it while
  // few run (a plan's few per host), not for a host running hundreds whose
  // ends are spread out (a poll every few milliseconds, each reading them
  // all): those are read every poll_interval, as without the hint.
  if (ActiveJobs() > kMaxJobsForEarlyPolls) return options_.poll_interval;
  const std::optional<absl::Time> end = backend_->NextJobEnd();
  if (!end.has_value()) return options_.poll_interval;
  // Just after the end (the backend reads the clock at most every
  // millisecond), never sooner than a millisecond from now: a job whose
  // end is due but not yet read must not spin the loop.
  const absl::Duration until = *end + kJobEndSlack - options_.clock->Now();
  return std::clamp(until, kJobEndSlack, options_.poll_interval);
}

int JobRunner::ActiveJobs() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(jobs_.size());
}

}  // namespace agent
}  // namespace hvdr
