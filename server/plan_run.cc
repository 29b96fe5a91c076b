#include "server/plan_run.h"

#include <openssl/sha.h>

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "server/names.h"
#include "server/store_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

using dr::v1::ExecutionStep;
using plans::Step;

namespace {

constexpr absl::Duration kDefaultOperationTimeout = absl::Seconds(1800);
constexpr absl::Duration kDefaultReadyTimeout = absl::Seconds(600);
constexpr absl::Duration kDefaultStepTimeout = absl::Seconds(300);
// The hook runner kills a hook at its timeout and reports it; a hook step
// whose end is still not reported this much later is ended by Tick.
constexpr absl::Duration kHookReportGrace = absl::Seconds(30);

// A step that is under way: Tick times it.
bool IsActive(dr::v1::StepState state) {
  return state == dr::v1::STEP_STATE_RUNNING || state == dr::v1::STEP_STATE_WAITING_FOR_ANSWER;
}

std::string StepId(const std::string& name) {
  const size_t at = name.rfind("/steps/");
  return at == std::string::npos ? name : name.substr(at + 7);
}

}  // namespace

std::string OperationRequestId(const std::string& execution, const std::string& step_id,
                               int attempt) {
  const std::string key = absl::StrCat(execution, "\n", step_id, "\n", attempt);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  return absl::StrCat("plan-", absl::BytesToHexString(
                                   absl::string_view(reinterpret_cast<const char*>(digest), 20)));
}

std::vector<ExecutionStep> PlanRun::NewSteps(const plans::StepGraph& graph,
                                             const dr::v1::Plan& plan,
                                             const std::string& execution_name) {
  std::vector<ExecutionStep> out;
  // Reserved: ExecutionStep's move may throw, so growing would copy them.
  out.reserve(graph.steps.size());
  for (const Step& s : graph.steps) {
    if (s.gate) continue;
    ExecutionStep e;
    e.set_name(absl::StrCat(execution_name, "/steps/", s.id));
    e.set_kind(s.kind);
    e.set_state(dr::v1::STEP_STATE_PENDING);
    e.set_group(s.group >= 0 ? plan.groups(s.group).id() : "");
    if (s.vm >= 0) e.set_vm_id(graph.vms[s.vm].vm_id);
    e.set_plan_step(s.plan_step.id());
    e.set_critical(s.critical);
    if (s.is_operation()) {
      e.set_host(s.host);
      e.set_virtual_machine(absl::StrCat(s.host, "/virtualMachines/", e.vm_id()));
    }
    out.push_back(std::move(e));
  }
  return out;
}

PlanRun::PlanRun(Store* store, StepActions* actions, Clock* clock, dr::v1::Plan plan,
                 dr::v1::PlanExecution execution)
    : store_(store),
      actions_(actions),
      clock_(clock),
      plan_(std::move(plan)),
      execution_(std::move(execution)) {}

absl::StatusOr<std::unique_ptr<PlanRun>> PlanRun::Restore(
    Store* store, StepActions* actions, Clock* clock, dr::v1::Plan plan,
    dr::v1::PlanExecution execution, std::vector<ExecutionStep> steps,
    std::function<void(const std::string& job)> watch, std::optional<plans::StepGraph> graph) {
  // Where each VM's steps run is what the steps recorded when the
  // execution was created, not what the topology says now.
  std::map<std::string, plans::VmPlacement> placement;
  for (const ExecutionStep& s : steps) {
    if (s.host().empty()) continue;
    plans::VmPlacement& p = placement[s.vm_id()];
    if (s.kind() == dr::v1::STEP_KIND_STOP_PRIMARY || s.kind() == dr::v1::STEP_KIND_PREPARE) {
      p.primary_host = s.host();
    } else {
      p.replica_host = s.host();
    }
  }
  std::unique_ptr<PlanRun> run(
      new PlanRun(store, actions, clock, std::move(plan), std::move(execution)));
  run->watch_ = std::move(watch);
  absl::MutexLock lock(&run->mu_);
  run->graph_ = graph.has_value()
                    ? *std::move(graph)
                    : plans::BuildStepGraph(run->plan_, run->execution_.mode(), placement,
                                            run->execution_.commit_policy());
  run->placement_ = std::move(placement);
  absl::flat_hash_map<std::string, int> stored;
  stored.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) stored.emplace(StepId(steps[i].name()), i);
  run->position_.assign(run->graph_.steps.size(), -1);
  run->steps_.resize(run->graph_.steps.size());
  std::vector<plans::StepStatus> statuses(run->graph_.steps.size());
  for (size_t i = 0; i < run->graph_.steps.size(); ++i) {
    const Step& g = run->graph_.steps[i];
    if (g.gate) continue;
    auto it = stored.find(g.id);
    if (it == stored.end()) {
      return absl::DataLossError(absl::StrCat(run->execution_.name(), ": no stored step ", g.id,
                                              " (the steps do not match the plan as run)"));
    }
    run->position_[i] = it->second;
    statuses[i] = {steps[it->second].state(), steps[it->second].skip_cause(),
                   steps[it->second].attempt()};
    run->steps_[i] = std::move(steps[it->second]);
    if (IsActive(run->steps_[i].state())) {
      run->active_.insert(static_cast<int>(i));
      run->agenda_.emplace(absl::InfinitePast(), static_cast<int>(i));
    }
  }
  if (stored.size() !=
      static_cast<size_t>(std::count_if(run->graph_.steps.begin(), run->graph_.steps.end(),
                                        [](const Step& s) { return !s.gate; }))) {
    return absl::DataLossError(
        absl::StrCat(run->execution_.name(), ": the stored steps do not match the plan as run"));
  }
  const bool cancelled = run->execution_.state() == dr::v1::EXECUTION_STATE_CANCELLING ||
                         run->execution_.state() == dr::v1::EXECUTION_STATE_CANCELLED;
  run->cancelled_ = cancelled;
  run->scheduler_ = std::make_unique<plans::Scheduler>(
      &run->graph_, plans::Scheduler::Limits{
                        static_cast<int>(run->plan_.limits().max_operations_per_host() == 0
                                             ? 8
                                             : run->plan_.limits().max_operations_per_host()),
                        static_cast<int>(run->plan_.limits().max_operations() == 0
                                             ? 256
                                             : run->plan_.limits().max_operations())});
  run->scheduler_->Restore(statuses, cancelled);
  for (size_t i = 0; i < run->graph_.steps.size(); ++i) {
    const Step& g = run->graph_.steps[i];
    if (g.gate) continue;
    ExecutionStep& s = run->steps_[i];
    if (s.state() != dr::v1::STEP_STATE_RUNNING) continue;
    if (g.is_operation()) {
      // Asked for before the restart (or not yet): asking again with the
      // same request_id answers the job the first ask created.
      if (!s.job().empty()) run->job_step_[s.job()] = static_cast<int>(i);
      run->to_submit_.insert(static_cast<int>(i));
    } else if (g.kind == dr::v1::STEP_KIND_HOOK) {
      run->FinishLocked(static_cast<int>(i), false,
                        "drserver stopped while the hook ran; its outcome is unknown and it is "
                        "not run again (retry the step to run it)",
                        dr::v1::RETURN_CODE_STATUS_UNKNOWN);
    }
  }
  return run;
}

StepActions::Operation PlanRun::OperationOfLocked(int i) {
  const Step& g = graph_.steps[i];
  const ExecutionStep& s = steps_[i];
  StepActions::Operation op;
  op.mode = execution_.mode();
  op.kind = g.kind;
  op.vm_id = s.vm_id();
  op.host = g.host;
  if (op.host.empty()) {  // readiness: on the copy the VM was started on
    auto where = placement_.find(s.vm_id());
    if (where != placement_.end()) op.host = where->second.replica_host;
  }
  op.recovery_point = s.recovery_point();
  op.requester = execution_.requester();
  op.execution = execution_.name();
  return op;
}

const dr::v1::PlanVm* PlanRun::VmOf(int index) const {
  const Step& g = graph_.steps[index];
  if (g.vm < 0) return nullptr;
  return &plan_.groups(g.group).vms(graph_.vms[g.vm].plan_index);
}

absl::Duration PlanRun::TimeoutOf(int index) const {
  const Step& g = graph_.steps[index];
  if (g.plan_step.timeout_seconds() > 0) return absl::Seconds(g.plan_step.timeout_seconds());
  const dr::v1::PlanVm* vm = VmOf(index);
  switch (g.kind) {
    case dr::v1::STEP_KIND_PROMPT:
    case dr::v1::STEP_KIND_WAIT:
      return absl::InfiniteDuration();  // a wait ends at its time; a prompt waits for a person
    case dr::v1::STEP_KIND_HOOK: return kDefaultStepTimeout;
    case dr::v1::STEP_KIND_READINESS:
      return vm != nullptr && vm->ready_timeout_seconds() > 0
                 ? absl::Seconds(vm->ready_timeout_seconds())
                 : kDefaultReadyTimeout;
    default:
      return vm != nullptr && vm->operation_timeout_seconds() > 0
                 ? absl::Seconds(vm->operation_timeout_seconds())
                 : kDefaultOperationTimeout;
  }
}

void PlanRun::StartLocked(int i) {
  const Step& g = graph_.steps[i];
  ExecutionStep& s = steps_[i];
  s.set_attempt(scheduler_->status(i).attempt);
  ToProto(clock_->Now(), s.mutable_start_time());
  s.clear_end_time();
  s.clear_error();
  s.clear_job();
  s.clear_return_code();
  s.clear_exit_status();
  s.clear_output();
  dirty_.insert(i);
  switch (g.kind) {
    case dr::v1::STEP_KIND_PROMPT: scheduler_->SetWaiting(i, true); break;
    case dr::v1::STEP_KIND_WAIT:
    case dr::v1::STEP_KIND_READINESS: break;                // Tick ends them
    case dr::v1::STEP_KIND_HOOK: to_run_.insert(i); break;  // started once persisted
    default: to_submit_.insert(i); break;
  }
}

void PlanRun::Advance() {
  struct Submit {
    int index;
    int attempt;
    StepActions::Operation op;
  };
  std::vector<Submit> submits;
  struct HookStart {
    int index;
    int attempt;
    StepActions::Hook hook;
  };
  std::vector<HookStart> hooks;
  {
    absl::MutexLock lock(&mu_);
    for (int round = 0; round < 1000; ++round) {
      std::vector<int> started = scheduler_->TakeStartable();
      if (started.empty()) break;
      for (int i : started) StartLocked(i);
    }
    // The time of the data each failover brings back, as known when it is
    // asked for (a recovery point is gone after a commit; the last
    // replication time moves on): recorded with the step.
    for (int i : to_submit_) {
      const Step& g = graph_.steps[i];
      ExecutionStep& s = steps_[i];
      // Once: a step asked again (after a restart, or retried) keeps the
      // time it was first asked with (or its recovery point's).
      if ((g.kind != dr::v1::STEP_KIND_FAILOVER && g.kind != dr::v1::STEP_KIND_TEST_FAILOVER) ||
          s.has_data_time()) {
        continue;
      }
      if (std::optional<absl::Time> t = actions_->DataTime(OperationOfLocked(i))) {
        ToProto(*t, s.mutable_data_time());
        dirty_.insert(i);
      }
    }
    // Recorded before anything is asked of a host.
    if (!PersistLocked(nullptr).ok()) return;  // retried at the next Tick
    for (int i : to_submit_) {
      const Step& g = graph_.steps[i];
      const ExecutionStep& s = steps_[i];
      if (s.state() != dr::v1::STEP_STATE_RUNNING) continue;
      Submit sub{i, s.attempt(), OperationOfLocked(i)};
      sub.op.request_id = OperationRequestId(execution_.name(), g.id, s.attempt());
      if (const dr::v1::PlanVm* vm = VmOf(i)) {
        sub.op.network_settings.assign(vm->network_settings().begin(),
                                       vm->network_settings().end());
      }
      submits.push_back(std::move(sub));
    }
    to_submit_.clear();
    for (int i : to_run_) {
      if (steps_[i].state() == dr::v1::STEP_STATE_RUNNING) {
        hooks.push_back({i, steps_[i].attempt(), HookOfLocked(i)});
      }
    }
    to_run_.clear();
  }
  for (HookStart& h : hooks) {
    const int i = h.index;
    const int attempt = h.attempt;
    actions_->RunHook(h.hook, [this, i, attempt](const absl::StatusOr<HookResult>& result) {
      OnHookDone(i, attempt, result);
    });
  }
  for (Submit& sub : submits) {
    const int i = sub.index;
    const int attempt = sub.attempt;
    actions_->SubmitOperation(sub.op, [this, i, attempt](const absl::StatusOr<std::string>& job) {
      OnSubmitted(i, attempt, job);
    });
  }
}

void PlanRun::OnSubmitted(int i, int attempt, const absl::StatusOr<std::string>& job) {
  bool watch = false;
  {
    absl::MutexLock lock(&mu_);
    ExecutionStep& s = steps_[i];
    // A late answer for an attempt that has ended (a timeout, a cancel).
    if (s.state() != dr::v1::STEP_STATE_RUNNING || s.attempt() != attempt) return;
    if (!job.ok() && job.status().code() == absl::StatusCode::kUnavailable) {
      retry_.insert(i);  // not yet: asked again at the next tick
      return;
    }
    if (!job.ok()) {
      const absl::Status api = ApiStatus(job.status());
      dr::v1::ReturnCode code = ErrorDetailOf(api).return_code();
      if (code == dr::v1::RETURN_CODE_COMPLETED) code = dr::v1::RETURN_CODE_FAILED;
      FinishLocked(i, false, std::string(api.message()), code);
    } else if (job->empty()) {
      // Nothing to do: the VM is already as the step leaves it (e.g. the
      // primary of a planned failover is off already).
      FinishLocked(i, true, "nothing to do: the VM is already in the state this step leaves it in",
                   dr::v1::RETURN_CODE_COMPLETED);
    } else {
      // Watched every time the step is asked for: after a restart the job
      // is known (it was recorded) but nobody watches it yet.
      if (s.job() != *job) {
        s.set_job(*job);
        dirty_.insert(i);
      }
      job_step_[*job] = i;
      watch = true;
    }
    // The job's name is written with the run's next write (the next event
    // or Tick), not in a transaction of its own per operation: nothing
    // depends on it being durable, since asking again with the step's
    // request_id answers the same job after a restart.
    if (!watch && !PersistLocked(nullptr).ok()) return;
  }
  if (watch) {
    if (watch_) watch_(*job);
    return;  // nothing ended: nothing new may start
  }
  Advance();
}

StepActions::Hook PlanRun::HookOfLocked(int i) {
  const Step& g = graph_.steps[i];
  const ExecutionStep& s = steps_[i];
  StepActions::Hook hook;
  hook.execution = execution_.name();
  hook.step = s.name();
  hook.request.executable = g.plan_step.hook().executable();
  hook.request.args.assign(g.plan_step.hook().args().begin(), g.plan_step.hook().args().end());
  hook.request.timeout = TimeoutOf(i);
  std::string mode = dr::v1::ExecutionMode_Name(execution_.mode());
  if (absl::StartsWith(mode, "EXECUTION_MODE_")) mode = mode.substr(15);
  hook.request.env = {{"HVDR_PLAN", plan_.name()},
                      {"HVDR_EXECUTION", execution_.name()},
                      {"HVDR_MODE", mode},
                      {"HVDR_GROUP", s.group()},
                      {"HVDR_VM", s.vm_id()},
                      {"HVDR_STEP", s.name()},
                      {"HVDR_ATTEMPT", absl::StrCat(s.attempt())}};
  return hook;
}

void PlanRun::OnHookDone(int i, int attempt, const absl::StatusOr<HookResult>& result) {
  {
    absl::MutexLock lock(&mu_);
    ExecutionStep& s = steps_[i];
    // A late end of an attempt that has ended (its step timed out, then
    // was retried): the step belongs to another attempt now.
    if (s.state() != dr::v1::STEP_STATE_RUNNING || s.attempt() != attempt) return;
    // drserver stops and killed the hook: the step stays RUNNING, and the
    // restart records it failed, its outcome unknown.
    if (!result.ok() && result.status().code() == absl::StatusCode::kCancelled) return;
    const std::string& name = graph_.steps[i].plan_step.hook().executable();
    if (!result.ok()) {
      dr::v1::ReturnCode code = ErrorDetailOf(result.status()).return_code();
      if (code == dr::v1::RETURN_CODE_COMPLETED) code = dr::v1::RETURN_CODE_FAILED;
      FinishLocked(i, false, absl::StrCat("hook ", name, " not run: ", result.status().message()),
                   code);
    } else {
      s.set_output(result->output);
      switch (result->end) {
        case HookResult::End::kExited:
          s.set_exit_status(result->exit_code);
          if (result->exit_code == 0) {
            FinishLocked(i, true, "", dr::v1::RETURN_CODE_COMPLETED);
          } else {
            FinishLocked(i, false,
                         absl::StrCat("hook ", name, " exited with status ", result->exit_code),
                         dr::v1::RETURN_CODE_FAILED);
          }
          break;
        case HookResult::End::kSignaled:
          s.set_exit_status(128 + result->signal);  // as a shell says it
          FinishLocked(i, false,
                       absl::StrCat("hook ", name, " was killed by signal ", result->signal, " (",
                                    SignalName(result->signal), ")"),
                       dr::v1::RETURN_CODE_FAILED);
          break;
        case HookResult::End::kTimedOut:
          s.set_exit_status(128 + result->signal);
          FinishLocked(i, false,
                       absl::StrCat("hook ", name, " timed out after ",
                                    absl::FormatDuration(TimeoutOf(i)), ", killed"),
                       dr::v1::RETURN_CODE_TIMEOUT);
          break;
      }
    }
    if (!PersistLocked(nullptr).ok()) return;  // retried at the next Tick
  }
  Advance();
}

void PlanRun::OnJob(const dr::v1::Job& job) { OnJobs({job}); }

void PlanRun::OnJobs(const std::vector<dr::v1::Job>& jobs) {
  bool ended = false;
  {
    absl::MutexLock lock(&mu_);
    for (const dr::v1::Job& job : jobs) ended = ApplyJobLocked(job) || ended;
  }
  // One write for every step that ended and every step that starts next.
  if (ended) Advance();
}

bool PlanRun::ApplyJobLocked(const dr::v1::Job& job) {
  auto it = job_step_.find(job.name());
  if (it == job_step_.end()) return false;
  const int i = it->second;
  if (steps_[i].state() != dr::v1::STEP_STATE_RUNNING) return false;
  if (job.state() < dr::v1::JOB_STATE_COMPLETED) {
    if (steps_[i].return_code() != job.return_code()) {
      steps_[i].set_return_code(job.return_code());
      dirty_.insert(i);
    }
    return false;
  }
  const bool ok = job.state() == dr::v1::JOB_STATE_COMPLETED;
  std::string error;
  if (!ok) {
    error = absl::StrCat(job.name(), " ended ", dr::v1::JobState_Name(job.state()),
                         job.error_summary().empty() ? "" : ": ", job.error_summary(),
                         job.error_description().empty() ? "" : " (", job.error_description(),
                         job.error_description().empty() ? "" : ")");
  }
  FinishLocked(i, ok, error, job.return_code());
  return true;
}

void PlanRun::Tick() {
  struct Check {
    int index;
    int attempt;
    StepActions::Operation op;
  };
  std::vector<Check> checks;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (int i : retry_) {
      if (steps_[i].state() == dr::v1::STEP_STATE_RUNNING) to_submit_.insert(i);
    }
    retry_.clear();
    // Only the steps due now (agenda_); each that is still under way
    // gets its next due time back. The scheduler's state is the truth
    // here: FinishLocked (a job's end, a heartbeat answer) changes it
    // before PersistLocked syncs the stored one.
    std::vector<int> due_now;
    while (!agenda_.empty() && agenda_.begin()->first <= now) {
      due_now.push_back(agenda_.begin()->second);
      agenda_.erase(agenda_.begin());
    }
    std::sort(due_now.begin(), due_now.end());
    due_now.erase(std::unique(due_now.begin(), due_now.end()), due_now.end());
    for (const int index : due_now) {
      const size_t i = static_cast<size_t>(index);
      const Step& g = graph_.steps[i];
      ExecutionStep& s = steps_[i];
      if (g.gate || active_.count(index) == 0 || !IsActive(scheduler_->status(index).state)) {
        continue;
      }
      absl::Time due = absl::InfiniteFuture();
      const absl::Time started = FromProto(s.start_time());
      if (g.kind == dr::v1::STEP_KIND_WAIT) {
        const absl::Time end = started + absl::Seconds(g.plan_step.wait().seconds());
        if (now >= end) {
          FinishLocked(index, true, "", dr::v1::RETURN_CODE_COMPLETED);
          continue;
        }
        due = std::min(due, end);
      }
      if (g.kind == dr::v1::STEP_KIND_READINESS && checking_.count(index) == 0) {
        auto last = checked_at_.find(index);
        if (last == checked_at_.end() || now >= last->second + kReadinessPoll) {
          // Its answer puts the step back on the agenda (NoteReadAnswered).
          checked_at_[index] = now;
          checking_[index] = s.attempt();
          checks.push_back({index, s.attempt(), OperationOfLocked(index)});
        } else {
          due = std::min(due, last->second + kReadinessPoll);
        }
      }
      absl::Duration timeout = TimeoutOf(index);
      const bool hook = g.kind == dr::v1::STEP_KIND_HOOK;
      if (hook) timeout += kHookReportGrace;  // the runner times hooks
      if (timeout != absl::InfiniteDuration() && now >= started + timeout) {
        auto seen = last_seen_.find(index);
        FinishLocked(
            index, false,
            hook ? absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                ": the end of hook ", g.plan_step.hook().executable(),
                                " was never reported")
                 : absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                s.job().empty() ? "" : absl::StrCat(" (", s.job(), " goes on)"),
                                seen == last_seen_.end() ? "" : "; last seen: ",
                                seen == last_seen_.end() ? "" : seen->second),
            dr::v1::RETURN_CODE_TIMEOUT);
        continue;
      }
      if (timeout != absl::InfiniteDuration()) due = std::min(due, started + timeout);
      if (due != absl::InfiniteFuture()) agenda_.emplace(due, index);
    }
    if (!PersistLocked(nullptr).ok()) return;
  }
  for (Check& c : checks) {
    const int i = c.index;
    const int attempt = c.attempt;
    actions_->CheckReady(c.op, [this, i, attempt](const absl::StatusOr<StepActions::Readiness>& r) {
      OnReadiness(i, attempt, r);
    });
  }
  Advance();
}

void PlanRun::OnReadiness(int i, int attempt, const absl::StatusOr<StepActions::Readiness>& r) {
  // Any thread (an agent call's callback): only recorded here; a ready VM
  // ends its step at once, persisted by the next Tick on the executor's
  // thread (no store write on the caller's thread).
  absl::MutexLock lock(&mu_);
  auto in_flight = checking_.find(i);
  if (in_flight == checking_.end() || in_flight->second != attempt) return;
  checking_.erase(in_flight);
  ExecutionStep& s = steps_[i];
  if (s.state() != dr::v1::STEP_STATE_RUNNING || s.attempt() != attempt) return;
  if (!r.ok()) {
    last_seen_[i] = absl::StrCat("the heartbeat could not be read: ", r.status().message());
    NoteReadAnswered(i);
    return;
  }
  last_seen_[i] = r->detail;
  if (r->ready) {
    FinishLocked(i, true, absl::StrCat("ready: ", r->detail), dr::v1::RETURN_CODE_COMPLETED);
    return;
  }
  NoteReadAnswered(i);
}

void PlanRun::NoteReadAnswered(int i) {
  auto last = checked_at_.find(i);
  agenda_.emplace(last == checked_at_.end() ? absl::InfinitePast() : last->second + kReadinessPoll,
                  i);
}

void PlanRun::FinishLocked(int i, bool succeeded, const std::string& error,
                           dr::v1::ReturnCode code) {
  ExecutionStep& s = steps_[i];
  ToProto(clock_->Now(), s.mutable_end_time());
  s.set_error(error);
  s.set_return_code(code);
  if (!s.job().empty()) job_step_.erase(s.job());
  to_submit_.erase(i);
  checking_.erase(i);
  checked_at_.erase(i);
  last_seen_.erase(i);
  to_run_.erase(i);
  scheduler_->Finish(i, succeeded);
  dirty_.insert(i);
}

absl::Status PlanRun::PersistLocked(const RequestKey* key) {
  // The steps the scheduler changed (TakeChanged) and those changed here
  // (dirty_): only they are synced and written.
  std::set<int> changed(dirty_.begin(), dirty_.end());
  for (int i : scheduler_->TakeChanged()) changed.insert(i);
  std::vector<std::pair<int, ExecutionStep>> writes;
  for (int i : changed) {
    const plans::StepStatus& st = scheduler_->status(i);
    ExecutionStep& s = steps_[i];
    if (st.state == dr::v1::STEP_STATE_SKIPPED && !s.has_end_time()) {
      ToProto(clock_->Now(), s.mutable_end_time());
    }
    s.set_state(st.state);
    s.set_skip_cause(st.skip_cause);
    if (IsActive(st.state)) {
      if (active_.insert(i).second) agenda_.emplace(absl::InfinitePast(), i);  // Tick looks
    } else {
      active_.erase(i);
    }
  }
  const int succeeded = scheduler_->StepsIn(dr::v1::STEP_STATE_SUCCEEDED);
  const int failed = scheduler_->StepsIn(dr::v1::STEP_STATE_FAILED);
  const int skipped = scheduler_->StepsIn(dr::v1::STEP_STATE_SKIPPED);
  for (int i : changed) {
    if (graph_.steps[i].gate) continue;
    steps_[i].set_version(steps_[i].version() + 1);
    writes.emplace_back(position_[i], steps_[i]);
  }
  dr::v1::PlanExecution e = execution_;
  e.set_state(scheduler_->State());
  e.set_steps_succeeded(succeeded);
  e.set_steps_failed(failed);
  e.set_steps_skipped(skipped);
  const int halted = scheduler_->HaltedStep();
  e.set_halted_step(halted >= 0 ? steps_[halted].name() : "");
  if (halted >= 0) {
    e.set_state_reason(absl::StrCat(steps_[halted].name(), " failed: ", steps_[halted].error()));
  }
  ToProto(clock_->Now(), e.mutable_update_time());
  if (scheduler_->Terminal()) ToProto(clock_->Now(), e.mutable_end_time());
  if (writes.empty() && key == nullptr && e.state() == execution_.state() &&
      e.halted_step() == execution_.halted_step()) {
    return absl::OkStatus();
  }
  absl::StatusOr<Recorded<dr::v1::PlanExecution>> stored = store_->UpdateExecution(e, writes, key);
  if (!stored.ok()) {
    spdlog::error("{}: recording {} steps: {}; will retry", execution_.name(), writes.size(),
                  stored.status().ToString());
    dirty_ = std::move(changed);
    return stored.status();
  }
  execution_ = stored->value;
  dirty_.clear();
  if (on_persisted_) {
    std::vector<ExecutionStep> stored_steps;
    stored_steps.reserve(writes.size());
    for (auto& [position, step] : writes) stored_steps.push_back(std::move(step));
    on_persisted_(execution_, stored_steps);
  }
  return absl::OkStatus();
}

void PlanRun::SetPersistListener(PersistListener listener) {
  absl::MutexLock lock(&mu_);
  on_persisted_ = std::move(listener);
}

absl::StatusOr<ExecutionStep> PlanRun::Answer(const dr::v1::AnswerPromptRequest& r) {
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  if (r.requester().empty()) {
    return InvalidParameter("requester", "MISSING", "who answers is recorded: give requester");
  }
  absl::MutexLock lock(&mu_);
  int index = -1;
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (!graph_.steps[i].gate && steps_[i].name() == r.step()) index = static_cast<int>(i);
  }
  if (index < 0) {
    return NotFoundParameter("step", "STEP_NOT_FOUND",
                             absl::StrCat(r.step(), " is not a step of ", execution_.name()));
  }
  const RequestKey key{r.request_id(), "dr.v1.PlanService/AnswerPrompt",
                       absl::StrCat(r.step(), "\n", r.proceed())};
  ExecutionStep& s = steps_[index];
  if (s.state() != dr::v1::STEP_STATE_WAITING_FOR_ANSWER) {
    // A retry of the answer that was recorded answers the step as it is.
    if (s.answered_by() == r.requester() && s.has_answer_time()) return s;
    return InvalidState("step", "NOT_WAITING",
                        absl::StrCat(r.step(), " does not wait for an answer (it is ",
                                     dr::v1::StepState_Name(s.state()), ")"));
  }
  s.set_answered_by(r.requester());
  ToProto(clock_->Now(), s.mutable_answer_time());
  s.set_answer_comment(r.comment());
  scheduler_->SetWaiting(index, false);
  FinishLocked(index, r.proceed(), r.proceed() ? "" : absl::StrCat("declined by ", r.requester()),
               dr::v1::RETURN_CODE_COMPLETED);
  RETURN_IF_ERROR(ApiStatus(PersistLocked(&key)));
  return s;
}

absl::StatusOr<dr::v1::PlanExecution> PlanRun::Resume(const dr::v1::ResumePlanExecutionRequest& r) {
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  if (Replayed(r.request_id(), "dr.v1.PlanService/ResumePlanExecution")) return execution();
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(scheduler_->Resume(r.action(), r.scope()));
    const RequestKey key{r.request_id(), "dr.v1.PlanService/ResumePlanExecution",
                         absl::StrCat(r.name(), "\n", r.action(), "\n", r.scope())};
    RETURN_IF_ERROR(ApiStatus(PersistLocked(&key)));
  }
  Advance();
  return execution();
}

absl::StatusOr<dr::v1::PlanExecution> PlanRun::Cancel(const dr::v1::CancelPlanExecutionRequest& r) {
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  absl::MutexLock lock(&mu_);
  if (!cancelled_) {
    cancelled_ = true;
    scheduler_->Cancel();
    execution_.set_state_reason(absl::StrCat("cancelled by ",
                                             r.requester().empty() ? "an operator" : r.requester(),
                                             r.reason().empty() ? "" : ": ", r.reason()));
  }
  const RequestKey key{r.request_id(), "dr.v1.PlanService/CancelPlanExecution", r.name()};
  RETURN_IF_ERROR(ApiStatus(PersistLocked(&key)));
  return execution_;
}

bool PlanRun::Replayed(const std::string& request_id, const std::string& method) {
  absl::StatusOr<RequestRecord> seen = store_->GetRequest(request_id);
  return seen.ok() && seen->method == method;
}

dr::v1::PlanExecution PlanRun::execution() {
  absl::MutexLock lock(&mu_);
  return execution_;
}

std::vector<ExecutionStep> PlanRun::steps() {
  absl::MutexLock lock(&mu_);
  std::vector<ExecutionStep> out;
  for (size_t i = 0; i < steps_.size(); ++i) {
    if (!graph_.steps[i].gate) out.push_back(steps_[i]);
  }
  return out;
}

bool PlanRun::terminal() {
  absl::MutexLock lock(&mu_);
  return IsTerminalExecutionState(execution_.state());
}

}  // namespace server
}  // namespace hvdr
