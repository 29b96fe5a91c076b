#include "server/plan_executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "grpcpp/client_context.h"
#include "plans/plan_check.h"
#include "plans/plan_validation.h"
#include "plans/step_graph.h"
#include "server/names.h"
#include "server/store_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

using dr::v1::PlanExecution;

namespace {

struct OperationOf {
  dr::v1::JobType type;
  const char* method;
};

OperationOf ForKind(dr::v1::StepKind kind) {
  switch (kind) {
    case dr::v1::STEP_KIND_STOP_PRIMARY:
    case dr::v1::STEP_KIND_STOP_REPLICA:
      return {dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE, "StopVirtualMachine"};
    case dr::v1::STEP_KIND_PREPARE:
      return {dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE, "PrepareForPlannedFailover"};
    case dr::v1::STEP_KIND_FAILOVER:
      return {dr::v1::JOB_TYPE_INITIATE_FAILOVER, "InitiateFailover"};
    case dr::v1::STEP_KIND_TEST_FAILOVER:
      return {dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA, "StartTestFailover"};
    case dr::v1::STEP_KIND_SET_NETWORK:
      return {dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS, "SetFailoverNetworkAdapterSettings"};
    case dr::v1::STEP_KIND_START:
      return {dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE, "StartVirtualMachine"};
    case dr::v1::STEP_KIND_REVERSE:
      return {dr::v1::JOB_TYPE_REVERSE_REPLICATION, "ReverseReplication"};
    case dr::v1::STEP_KIND_COMMIT: return {dr::v1::JOB_TYPE_COMMIT_FAILOVER, "CommitFailover"};
    case dr::v1::STEP_KIND_REVERT: return {dr::v1::JOB_TYPE_REVERT_FAILOVER, "RevertFailover"};
    case dr::v1::STEP_KIND_CLEANUP_TEST:
      return {dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA, "CleanupTestFailover"};
    default: return {dr::v1::JOB_TYPE_UNSPECIFIED, ""};
  }
}

bool ValidMode(dr::v1::ExecutionMode mode) {
  return mode != dr::v1::EXECUTION_MODE_UNSPECIFIED && dr::v1::ExecutionMode_IsValid(mode);
}

}  // namespace

PlanExecutor::PlanExecutor(Store* store, FailoverLogic* failover, JobHub* hub, PlanLogic* plans,
                           AgentStubFactory* agents, Clock* clock, Options options)
    : store_(store),
      failover_(failover),
      hub_(hub),
      plans_(plans),
      agents_(agents),
      clock_(clock),
      options_(options) {
  if (options_.hooks_dir.empty()) {
    hooks_unavailable_ =
        "drserver runs no hooks: start it with --hooks_dir naming the directory of hook "
        "executables";
  } else if (absl::StatusOr<std::unique_ptr<PosixHookRunner>> runner =
                 PosixHookRunner::Create(options_.hooks_dir);
             runner.ok()) {
    hook_runner_ = *std::move(runner);
    hooks_ = hook_runner_.get();
  } else {
    hooks_unavailable_ = absl::StrCat("drserver cannot run hooks from ", options_.hooks_dir, ": ",
                                      runner.status().message());
    spdlog::error("{}", hooks_unavailable_);
  }
  submits_ = std::make_unique<Executor>(std::max(1, options_.submit_threads));
  unwatches_ = std::make_unique<Executor>(1);
  if (options_.start_thread) thread_ = std::thread([this] { Loop(); });
}

PlanExecutor::~PlanExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Runs what was queued: each sees Stopping() and asks for nothing.
  submits_.reset();
  unwatches_.reset();
  {
    // Heartbeat reads end when cancelled (or by their deadline); their
    // callbacks use this. Cancelled unlocked: a callback takes mu_.
    std::vector<std::shared_ptr<grpc::ClientContext>> reading;
    {
      absl::MutexLock lock(&mu_);
      reading.assign(reading_.begin(), reading_.end());
    }
    for (auto& context : reading) context->TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &reads_in_flight_));
  }
  // Kills the hooks still running; their runs leave them RUNNING.
  hook_runner_.reset();
  std::map<std::string, std::string> jobs;
  {
    absl::MutexLock lock(&mu_);
    jobs.swap(job_run_);
  }
  for (const auto& [job, execution] : jobs) hub_->Unwatch(job, &watcher_);
}

void PlanExecutor::Watcher::OnJob(const dr::v1::Job& job) {
  // On a hub delivery thread: queue it (the run writes to the store).
  absl::MutexLock lock(&executor_->mu_);
  executor_->changes_.push_back(job);
  // A job's end lets the next step start: the loop runs at once instead of
  // at its next tick (a 10,000-VM plan runs tens of thousands of them).
  if (job.state() >= dr::v1::JOB_STATE_COMPLETED) executor_->wake_ = true;
}

void PlanExecutor::Watch(const std::string& job) {
  hub_->Watch(job, &watcher_);
  // Read after Watch, so that nothing published in between is missed.
  absl::StatusOr<dr::v1::Job> now = store_->GetJob(job);
  if (now.ok()) watcher_.OnJob(*now);
  // A step got its job: the next round records the job's name (with those
  // of the other steps answered meanwhile) at once.
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

absl::Status PlanExecutor::Adopt(const PlanExecution& execution) {
  ASSIGN_OR_RETURN(dr::v1::Plan plan, store_->GetExecutionPlan(execution.name()));
  ASSIGN_OR_RETURN(std::vector<dr::v1::ExecutionStep> steps,
                   store_->GetExecutionSteps(execution.name()));
  return Adopt(execution, std::move(plan), std::move(steps), std::nullopt);
}

absl::Status PlanExecutor::Adopt(const PlanExecution& execution, dr::v1::Plan plan,
                                 std::vector<dr::v1::ExecutionStep> steps,
                                 std::optional<plans::StepGraph> graph) {
  const std::string name = execution.name();
  ASSIGN_OR_RETURN(std::unique_ptr<PlanRun> run,
                   PlanRun::Restore(
                       store_, this, clock_, std::move(plan), execution, std::move(steps),
                       [this, name](const std::string& job) {
                         {
                           absl::MutexLock lock(&mu_);
                           job_run_[job] = name;
                         }
                         Watch(job);
                       },
                       std::move(graph)));
  if (ExecutionHub* hub = options_.executions; hub != nullptr) {
    run->SetPersistListener(
        [hub](const PlanExecution& e, const std::vector<dr::v1::ExecutionStep>& changed) {
          hub->Publish(e, changed);
        });
  }
  std::shared_ptr<PlanRun> shared(std::move(run));
  {
    absl::MutexLock lock(&mu_);
    runs_[name] = shared;
  }
  shared->Advance();
  return absl::OkStatus();
}

absl::Status PlanExecutor::Recover() {
  ASSIGN_OR_RETURN(std::vector<PlanExecution> active, store_->ListActiveExecutions());
  for (const PlanExecution& e : active) {
    absl::Status s = Adopt(e);
    if (!s.ok()) {
      spdlog::error("{}: cannot resume: {}", e.name(), s.ToString());
      return s;
    }
    spdlog::info("{}: resumed ({})", e.name(), dr::v1::ExecutionState_Name(e.state()));
  }
  return absl::OkStatus();
}

std::string PlanExecutor::NewExecutionId() {
  absl::MutexLock lock(&rng_mu_);
  return absl::StrCat("e-", absl::FormatTime("%Y%m%d-%H%M%S", clock_->Now(), absl::UTCTimeZone()),
                      "-", absl::StrFormat("%08x", absl::Uniform<uint32_t>(rng_)));
}

absl::StatusOr<PlanExecution> PlanExecutor::Start(const dr::v1::StartPlanExecutionRequest& r) {
  RETURN_IF_ERROR(ParsePlanName("plan", r.plan()).status());
  if (!ValidMode(r.mode())) {
    return InvalidParameter("mode", "MISSING",
                            "give the mode: EXECUTION_MODE_TEST, _CLEANUP_TEST, _PLANNED, "
                            "_UNPLANNED, _COMMIT or _REVERT");
  }
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  RETURN_IF_ERROR(CheckLength("requester", r.requester(), 256));
  if (r.has_commit_policy()) {
    if (r.mode() != dr::v1::EXECUTION_MODE_UNPLANNED) {
      return InvalidParameter("commit_policy", "NOT_FOR_MODE",
                              "only UNPLANNED executions take a commit policy (a PLANNED "
                              "failover ends with reverse replication, which needs no commit)");
    }
    if (!dr::v1::CommitPolicy::Action_IsValid(r.commit_policy().action())) {
      return InvalidParameter("commit_policy.action", "UNKNOWN_VALUE", "not a CommitPolicy.Action");
    }
    if (r.commit_policy().after_seconds() > 604800) {
      return InvalidParameter("commit_policy.after_seconds", "OUT_OF_RANGE",
                              "must be 0-604800 (0 means 3600)");
    }
  }
  const RequestKey key{r.request_id(), "dr.v1.PlanService/StartPlanExecution",
                       absl::StrCat(r.plan(), "\n", r.mode(), "\n", r.validate_only(), "\n",
                                    r.commit_policy().SerializeAsString())};
  // A retry answers the execution the first call made.
  if (absl::StatusOr<RequestRecord> seen = store_->GetRequest(r.request_id()); seen.ok()) {
    if (seen->method != key.method || seen->fingerprint != key.fingerprint) {
      return InvalidParameter(
          "request_id", "REQUEST_ID_REUSED",
          absl::StrCat("\"", r.request_id(), "\" was already used for a different request"));
    }
    return Api(store_->GetExecution(seen->response));
  }
  absl::StatusOr<dr::v1::Plan> stored = store_->GetPlan(r.plan());
  if (!stored.ok()) return NotFoundAs(ApiStatus(stored.status()), "plan", r.plan());
  const dr::v1::Plan plan = *stored;
  std::vector<dr::v1::Finding> findings = plans::CheckPlanStructure(plan);
  plans::TopologySnapshot topology;
  if (findings.empty()) {
    ASSIGN_OR_RETURN(topology, plans_->Snapshot(plan));
    findings = plans::ValidateAgainstTopology(plan, r.mode(), topology, clock_->Now());
  }
  bool errors = false;
  for (const auto& f : findings) errors = errors || f.severity() == dr::v1::SEVERITY_ERROR;

  PlanExecution e;
  e.set_name(absl::StrCat(r.plan(), "/executions/", NewExecutionId()));
  e.set_mode(r.mode());
  e.set_plan_version(plan.version());
  e.set_plan_hash(plans::PlanHash(plan));
  e.set_requester(r.requester());
  e.set_request_id(r.request_id());
  ToProto(clock_->Now(), e.mutable_create_time());
  for (const auto& f : findings) *e.add_findings() = f;
  // The policy acts on UNPLANNED executions only (plans/step_graph.h).
  if (r.mode() == dr::v1::EXECUTION_MODE_UNPLANNED) {
    *e.mutable_commit_policy() = r.has_commit_policy() ? r.commit_policy() : plan.commit_policy();
  }
  std::vector<dr::v1::ExecutionStep> steps;
  std::vector<std::string> vms;
  std::optional<plans::StepGraph> graph;
  if (errors || r.validate_only()) {
    e.set_state(errors ? dr::v1::EXECUTION_STATE_FAILED : dr::v1::EXECUTION_STATE_SUCCEEDED);
    e.set_state_reason(errors ? "validation found errors: nothing ran (see findings)"
                              : "validate_only: nothing ran");
    ToProto(clock_->Now(), e.mutable_end_time());
  } else {
    e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
    graph = plans::BuildStepGraph(plan, r.mode(), plans::PlacementOf(plan, topology),
                                  e.commit_policy());
    steps = PlanRun::NewSteps(*graph, plan, e.name());
    // Each failover's recovery point, chosen now by the VM's policy (the
    // latest in PLANNED: after the prepare).
    std::map<std::string, const dr::v1::PlanVm*> plan_vms;
    for (const auto& g : plan.groups()) {
      for (const auto& vm : g.vms()) plan_vms.emplace(vm.vm_id(), &vm);
    }
    for (auto& s : steps) {
      if ((s.kind() != dr::v1::STEP_KIND_FAILOVER && s.kind() != dr::v1::STEP_KIND_TEST_FAILOVER) ||
          r.mode() == dr::v1::EXECUTION_MODE_PLANNED) {
        continue;
      }
      auto facts = topology.vms.find(s.vm_id());
      auto vm = plan_vms.find(s.vm_id());
      if (facts == topology.vms.end() || vm == plan_vms.end()) continue;
      for (const auto& copy : facts->second.copies) {
        if (copy.name() != s.virtual_machine()) continue;
        std::string point;
        absl::Time data_time;
        if (plans::ChooseRecoveryPoint(*vm->second, facts->second, copy, clock_->Now(), &point,
                                       &data_time)) {
          s.set_recovery_point(point);
          // The point's time, now: the point is gone after a commit.
          if (!point.empty()) ToProto(data_time, s.mutable_data_time());
        }
      }
    }
    for (const auto& [id, vm] : plan_vms) vms.push_back(id);
  }
  ASSIGN_OR_RETURN(Recorded<PlanExecution> created,
                   Api(store_->CreateExecution(e, plan, steps, vms, key)));
  if (created.replayed || IsTerminalExecutionState(created.value.state())) return created.value;
  spdlog::info("{}: started ({} steps, {} by {})", created.value.name(), steps.size(),
               dr::v1::ExecutionMode_Name(r.mode()), r.requester());
  // What was stored is what is here: nothing is read back.
  RETURN_IF_ERROR(Adopt(created.value, plan, std::move(steps), std::move(graph)));
  return store_->GetExecution(created.value.name());
}

absl::StatusOr<PlanRun*> PlanExecutor::RunOf(const std::string& field,
                                             const std::string& execution) {
  RETURN_IF_ERROR(ParseExecutionName(field, execution).status());
  {
    absl::MutexLock lock(&mu_);
    auto it = runs_.find(execution);
    if (it != runs_.end()) return it->second.get();
  }
  absl::StatusOr<PlanExecution> stored = store_->GetExecution(execution);
  if (!stored.ok()) return NotFoundAs(ApiStatus(stored.status()), field, execution);
  return InvalidState(
      field, "EXECUTION_TERMINAL",
      absl::StrCat(execution, " has ended (", dr::v1::ExecutionState_Name(stored->state()), ")"));
}

absl::StatusOr<dr::v1::ExecutionStep> PlanExecutor::Answer(const dr::v1::AnswerPromptRequest& r) {
  const size_t at = r.step().find("/steps/");
  if (at == std::string::npos) {
    return InvalidParameter("step", "MALFORMED_NAME",
                            "must look like plans/{plan}/executions/{execution}/steps/{step}");
  }
  ASSIGN_OR_RETURN(PlanRun * run, RunOf("step", r.step().substr(0, at)));
  ASSIGN_OR_RETURN(dr::v1::ExecutionStep step, run->Answer(r));
  run->Advance();
  return step;
}

absl::StatusOr<PlanExecution> PlanExecutor::Resume(const dr::v1::ResumePlanExecutionRequest& r) {
  ASSIGN_OR_RETURN(PlanRun * run, RunOf("name", r.name()));
  return run->Resume(r);
}

absl::StatusOr<PlanExecution> PlanExecutor::Cancel(const dr::v1::CancelPlanExecutionRequest& r) {
  RETURN_IF_ERROR(CheckLength("reason", r.reason(), 1024));
  ASSIGN_OR_RETURN(PlanRun * run, RunOf("name", r.name()));
  return run->Cancel(r);
}

absl::StatusOr<std::string> PlanExecutor::CopyFor(const Operation& op) {
  const std::string copy = absl::StrCat(op.host, "/virtualMachines/", op.vm_id);
  const bool on_test_vm =
      op.mode == dr::v1::EXECUTION_MODE_TEST &&
      (op.kind == dr::v1::STEP_KIND_START || op.kind == dr::v1::STEP_KIND_READINESS);
  if (!on_test_vm) return copy;
  // Hyper-V names the test VM "<replica> - Test", on the replica's host.
  ASSIGN_OR_RETURN(dr::v1::VirtualMachine replica, store_->GetVirtualMachine(copy));
  VirtualMachineFilter filter;
  filter.host = op.host;
  filter.display_name_or_id = absl::StrCat(replica.display_name(), " - Test");
  ASSIGN_OR_RETURN(Page<dr::v1::VirtualMachine> found,
                   store_->ListVirtualMachines(filter, {10, ""}));
  for (const auto& vm : found.items) {
    if (vm.replication_mode() == dr::v1::REPLICATION_MODE_TEST_REPLICA) return vm.name();
  }
  // The host's inventory is read again when the test failover ends; until
  // that sync is stored the step asks again (UNAVAILABLE), up to its timeout.
  return absl::UnavailableError(
      absl::StrCat("no test VM of ", copy, " on ", op.host, " in the inventory yet"));
}

bool PlanExecutor::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void PlanExecutor::SubmitOperation(const Operation& op, JobDone done) {
  // A stopping executor asks for nothing more (its runs are dropped with
  // their pending answers).
  submits_->Schedule([this, op, done = std::move(done)] {
    if (!Stopping()) SubmitNow(op, done);
  });
}

void PlanExecutor::SubmitNow(const Operation& op, const JobDone& given) {
  // Every answer - a refusal here, a job on the job writer's completion
  // thread - goes through the loop: no run's lock is taken on those threads.
  JobDone done = [this, given, execution = op.execution](const absl::StatusOr<std::string>& job) {
    Post(execution, [given, job] { given(job); });
  };
  const OperationOf of = ForKind(op.kind);
  if (of.type == dr::v1::JOB_TYPE_UNSPECIFIED) {
    done(InvalidState("kind", "NOT_AN_OPERATION", dr::v1::StepKind_Name(op.kind)));
    return;
  }
  absl::StatusOr<std::string> copy = CopyFor(op);
  if (!copy.ok()) {
    done(copy.status());
    return;
  }
  if (op.kind == dr::v1::STEP_KIND_STOP_PRIMARY || op.kind == dr::v1::STEP_KIND_STOP_REPLICA) {
    absl::StatusOr<dr::v1::VirtualMachine> vm = store_->GetVirtualMachine(*copy);
    if (vm.ok() && vm->enabled_state() == dr::v1::ENABLED_STATE_DISABLED) {
      done(std::string());  // off already
      return;
    }
  }
  OperationRequest r;
  r.type = of.type;
  r.method = of.method;
  r.virtual_machine = *copy;
  r.request_id = op.request_id;
  r.requester = op.requester;
  if (!op.recovery_point.empty()) r.recovery_point = op.recovery_point;
  if (of.type == dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS) {
    r.network_settings = op.network_settings;
  }
  // The step's request: its copy, point and settings (the request_id is
  // already the step's and attempt's).
  std::string fingerprint =
      absl::StrCat(of.method, "\n", r.virtual_machine, "\n", r.recovery_point);
  for (const auto& n : r.network_settings)
    absl::StrAppend(&fingerprint, "\n", n.SerializeAsString());
  r.fingerprint = fingerprint;
  // A refusal or a replay is answered at once, a new job once its batch is
  // committed (on the job writer's completion thread).
  failover_->Submit(r, [done](const absl::StatusOr<dr::v1::JobResponse>& response) {
    done(response.ok() ? absl::StatusOr<std::string>(response->job().name())
                       : absl::StatusOr<std::string>(response.status()));
  });
}

void PlanExecutor::Post(const std::string& execution, std::function<void()> answer) {
  absl::MutexLock lock(&mu_);
  posted_.emplace_back(execution, std::move(answer));
  wake_ = true;
}

void PlanExecutor::CheckReady(const Operation& op, ReadyDone done) {
  absl::StatusOr<std::string> copy = CopyFor(op);
  if (!copy.ok()) {
    done(copy.status());
    return;
  }
  absl::StatusOr<dr::v1::Host> host = store_->GetHost(op.host);
  if (!host.ok()) {
    done(host.status());
    return;
  }
  struct Call {
    std::shared_ptr<grpc::ClientContext> context = std::make_shared<grpc::ClientContext>();
    dr::v1::HostAgentServiceGetVirtualMachineRequest request;
    dr::v1::VirtualMachineInventory response;
  };
  auto call = std::make_shared<Call>();
  call->request.set_vm_id(copy->substr(copy->rfind('/') + 1));
  if (options_.readiness_wait > absl::ZeroDuration()) {
    ToProto(options_.readiness_wait, call->request.mutable_heartbeat_ok_wait());
  }
  call->context->set_deadline(
      absl::ToChronoTime(absl::Now() + options_.readiness_wait + options_.agent_timeout));
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub =
      agents_->Get(host->agent_address());
  if (stub->async() == nullptr) {
    done(absl::UnimplementedError("the agent stub has no asynchronous API"));
    return;
  }
  const std::string vm = *copy;
  {
    absl::MutexLock lock(&mu_);
    ++reads_in_flight_;
    reading_.insert(call->context);
  }
  // gRPC's thread: the answer goes to the loop, which gives it to the run
  // if it is still run here.
  auto answer = [this, done, execution = op.execution,
                 context = call->context](const absl::StatusOr<Readiness>& r) {
    absl::MutexLock lock(&mu_);
    --reads_in_flight_;
    reading_.erase(context);
    posted_.emplace_back(execution, [done, r] { done(r); });
    wake_ = true;
  };
  stub->async()->GetVirtualMachine(
      call->context.get(), &call->request, &call->response,
      [call, answer, vm](grpc::Status status) {
        if (!status.ok()) {
          answer(absl::UnavailableError(
              absl::StrCat("reading ", vm, " from its agent: ", status.error_message())));
          return;
        }
        Readiness r;
        const dr::v1::HeartbeatStatus hb = call->response.heartbeat();
        const dr::v1::EnabledState enabled = call->response.virtual_machine().enabled_state();
        r.ready = enabled == dr::v1::ENABLED_STATE_ENABLED && hb == dr::v1::HEARTBEAT_STATUS_OK;
        r.detail = enabled != dr::v1::ENABLED_STATE_ENABLED
                       ? absl::StrCat(vm, " is ", dr::v1::EnabledState_Name(enabled))
                       : absl::StrCat(vm, " heartbeat ", dr::v1::HeartbeatStatus_Name(hb));
        answer(r);
      });
}

void PlanExecutor::RunHook(const Hook& hook, HookDone done) {
  if (hooks_ == nullptr) {
    done(HyperVError(dr::v1::RETURN_CODE_NOT_SUPPORTED, "", "HOOKS_DISABLED", hooks_unavailable_));
    return;
  }
  // The runner's thread: the end goes to the loop, which gives it to the
  // run if it is still run here (one that ended - its step timed out
  // waiting for this - is gone: the end is dropped).
  hooks_->Run(hook.request, [this, execution = hook.execution,
                             done = std::move(done)](const absl::StatusOr<HookResult>& result) {
    Post(execution, [done, result] { done(result); });
  });
}

std::optional<absl::Time> PlanExecutor::DataTime(const Operation& op) {
  if (!op.recovery_point.empty()) return std::nullopt;
  absl::StatusOr<dr::v1::VirtualMachine> replica =
      store_->GetVirtualMachine(absl::StrCat(op.host, "/virtualMachines/", op.vm_id));
  if (!replica.ok() || !replica->has_last_replication_time()) return std::nullopt;
  return FromProto(replica->last_replication_time());
}

void PlanExecutor::Step() {
  // Answers first: a job's name reaches its step (and the job is watched,
  // its state queued below) before any change of that job is applied.
  std::deque<std::pair<std::string, std::function<void()>>> posted;
  // Each with its run, kept alive while it takes the answer (null: ended).
  std::vector<std::shared_ptr<PlanRun>> posted_runs;
  {
    absl::MutexLock lock(&mu_);
    posted.swap(posted_);
    for (const auto& [execution, answer] : posted) {
      auto it = runs_.find(execution);
      posted_runs.push_back(it == runs_.end() ? nullptr : it->second);
    }
  }
  for (size_t i = 0; i < posted.size(); ++i) {
    const auto& [execution, answer] = posted[i];
    if (posted_runs[i] == nullptr) {
      spdlog::info(
          "{}: an answer (a job's, a heartbeat read's or a hook's end) came after the execution "
          "ended; dropped",
          execution);
      continue;
    }
    answer();
  }
  std::deque<dr::v1::Job> changes;
  std::vector<std::shared_ptr<PlanRun>> runs;
  {
    absl::MutexLock lock(&mu_);
    changes.swap(changes_);
    for (const auto& [name, run] : runs_) runs.push_back(run);
  }
  // Each run gets its changes together: one write for all the steps they
  // end (and those that start next), not one per job.
  std::map<std::string, std::pair<std::shared_ptr<PlanRun>, std::vector<dr::v1::Job>>> by_run;
  {
    absl::MutexLock lock(&mu_);
    for (dr::v1::Job& job : changes) {
      auto it = job_run_.find(job.name());
      if (it == job_run_.end()) continue;
      auto r = runs_.find(it->second);
      if (r == runs_.end()) continue;
      auto& [run, jobs] = by_run[it->second];
      run = r->second;
      jobs.push_back(std::move(job));
    }
  }
  for (const auto& [name, batch] : by_run) batch.first->OnJobs(batch.second);
  // A job that ended is done with: its run has applied its end, and a
  // step asked again (a retry) gets a new job. Unwatched now, not when the
  // execution ends: a 10,000-VM plan would keep 20,000 ended jobs watched,
  // each a hub entry the hub's flusher scans four times a second.
  std::vector<std::string> done_jobs;
  for (const auto& [name, batch] : by_run) {
    for (const dr::v1::Job& job : batch.second) {
      if (job.state() >= dr::v1::JOB_STATE_COMPLETED) done_jobs.push_back(job.name());
    }
  }
  for (const auto& run : runs) run->Tick();
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& job : done_jobs) job_run_.erase(job);
    for (auto it = runs_.begin(); it != runs_.end();) {
      if (!it->second->terminal()) {
        ++it;
        continue;
      }
      for (auto j = job_run_.begin(); j != job_run_.end();) {
        if (j->second == it->first) {
          done_jobs.push_back(j->first);
          j = job_run_.erase(j);
        } else {
          ++j;
        }
      }
      spdlog::info("{}: {}", it->first,
                   dr::v1::ExecutionState_Name(it->second->execution().state()));
      it = runs_.erase(it);
    }
  }
  if (!done_jobs.empty()) {
    unwatches_->Schedule([this, jobs = std::move(done_jobs)] {
      for (const std::string& job : jobs) hub_->Unwatch(job, &watcher_);
    });
  }
}

bool PlanExecutor::Woken() const { return stopping_ || wake_; }

void PlanExecutor::Loop() {
  while (true) {
    Step();
    // Real time between rounds, whatever the clock the steps are timed by
    // (a test's clock may be frozen); a job's end or a stop wakes it at once.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &PlanExecutor::Woken), options_.tick);
    if (stopping_) return;
    wake_ = false;
  }
}

}  // namespace server
}  // namespace hvdr
