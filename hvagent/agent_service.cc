#include "hvagent/agent_service.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/serial_write_reactor.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace agent {

using dr::v1::AgentJobStatus;

absl::StatusOr<Operation> ToOperation(dr::v1::JobType type, const std::string& job_id,
                                      const std::string& vm_id,
                                      const std::string& recovery_point_id) {
  if (job_id.empty()) return InvalidParameter("job_id", "MISSING", "is required");
  if (job_id.size() > 200) {
    return InvalidParameter("job_id", "TOO_LONG", "must be at most 200 characters");
  }
  if (vm_id.empty()) return InvalidParameter("vm_id", "MISSING", "is required");
  Operation op;
  op.type = type;
  op.vm_id = vm_id;
  op.recovery_point_id = recovery_point_id;
  return op;
}

namespace {

absl::StatusOr<Operation> NetworkOperation(
    const dr::v1::HostAgentServiceSetFailoverNetworkAdapterSettingsRequest& request) {
  absl::StatusOr<Operation> op = ToOperation(dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
                                             request.job_id(), request.vm_id(), "");
  if (!op.ok()) return op;
  if (request.network_settings().empty()) {
    return InvalidParameter("network_settings", "MISSING", "at least one adapter is required");
  }
  op->network_settings.assign(request.network_settings().begin(), request.network_settings().end());
  return op;
}

}  // namespace

absl::Status ParseJobRequest(const dr::v1::AgentJobRequest& request, JobRequest* out) {
  using R = dr::v1::AgentJobRequest;
  absl::StatusOr<Operation> op;
#define HVDR_CASE(Case, field, Type, RecoveryPoint)                                   \
  case R::Case:                                                                       \
    out->job_id = request.field().job_id();                                           \
    op = ToOperation(dr::v1::Type, request.field().job_id(), request.field().vm_id(), \
                     RecoveryPoint);                                                  \
    break;
  switch (request.operation_case()) {
    HVDR_CASE(kInitiateFailover, initiate_failover, JOB_TYPE_INITIATE_FAILOVER,
              request.initiate_failover().recovery_point_id())
    HVDR_CASE(kRevertFailover, revert_failover, JOB_TYPE_REVERT_FAILOVER, "")
    HVDR_CASE(kCommitFailover, commit_failover, JOB_TYPE_COMMIT_FAILOVER, "")
    HVDR_CASE(kStartTestFailover, start_test_failover, JOB_TYPE_INITIATE_TEST_REPLICA,
              request.start_test_failover().recovery_point_id())
    HVDR_CASE(kCleanupTestFailover, cleanup_test_failover, JOB_TYPE_REMOVE_TEST_REPLICA, "")
    HVDR_CASE(kReverseReplication, reverse_replication, JOB_TYPE_REVERSE_REPLICATION, "")
    HVDR_CASE(kPrepareForPlannedFailover, prepare_for_planned_failover,
              JOB_TYPE_REPLICATION_STATE_CHANGE, "")
    HVDR_CASE(kStartVirtualMachine, start_virtual_machine, JOB_TYPE_START_VIRTUAL_MACHINE, "")
    HVDR_CASE(kStopVirtualMachine, stop_virtual_machine, JOB_TYPE_STOP_VIRTUAL_MACHINE, "")
    case R::kSetFailoverNetworkAdapterSettings:
      out->job_id = request.set_failover_network_adapter_settings().job_id();
      op = NetworkOperation(request.set_failover_network_adapter_settings());
      break;
    case R::kWatchJob:
      out->job_id = request.watch_job().job_id();
      if (out->job_id.empty()) return InvalidParameter("job_id", "MISSING", "is required");
      out->op.reset();
      return absl::OkStatus();
    case R::OPERATION_NOT_SET:
      return InvalidParameter("operation", "MISSING", "one of the operations is required");
  }
#undef HVDR_CASE
  if (!op.ok()) return op.status();
  out->op = *std::move(op);
  return absl::OkStatus();
}

namespace {

// Starts or re-attaches to the job `request` names (see JobRunner).
absl::StatusOr<AgentJobStatus> StartJob(JobRunner* runner, const JobRequest& request,
                                        JobRunner::Listener listener, uint64_t* subscription) {
  return request.op.has_value()
             ? runner->Start(request.job_id, *request.op, std::move(listener), subscription)
             : runner->Watch(request.job_id, std::move(listener), subscription);
}

}  // namespace

// One RunJobs stream: many jobs, their statuses batched into few writes.
class JobSession final
    : public SerialWriter<grpc::ServerBidiReactor<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse>,
                          dr::v1::RunJobsResponse>,
      public AgentStream {
 public:
  JobSession(AgentServiceImpl* service, JobRunner* runner) : service_(service), runner_(runner) {}

  void Begin() {
    if (!service_->Register(this)) {
      Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "hvagent is shutting down"));
      return;
    }
    absl::MutexLock lock(&mu_);
    if (finished()) return;
    // Answer the stream at once: drserver takes the agent as up from here.
    StartSendInitialMetadata();
    StartRead(&in_);
  }

  void OnSendInitialMetadataDone(bool) override {}

  void Close(const grpc::Status& status) override { SerialWriter::Close(status); }

  // Called by the JobRunner with its lock held: queue and maybe write.
  void Push(const AgentJobStatus& status) {
    absl::MutexLock lock(&mu_);
    if (finished()) return;
    if (status.terminal()) subscriptions_.erase(status.job_id());
    auto it = index_.find(status.job_id());
    if (it != index_.end()) {
      AgentJobStatus* queued = pending_.mutable_statuses(it->second);
      if (queued->state() == status.state() && !queued->terminal()) {
        // Progress of a queued state: keep the newest only (and the VM's
        // state the first one carried).
        dr::v1::VirtualMachine vm;
        if (queued->has_virtual_machine() && !status.has_virtual_machine()) {
          vm.Swap(queued->mutable_virtual_machine());
        }
        *queued = status;
        if (vm.ByteSizeLong() > 0) queued->mutable_virtual_machine()->Swap(&vm);
        return;
      }
    }
    index_[status.job_id()] = pending_.statuses_size();
    *pending_.add_statuses() = status;
    MaybeWriteLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the server closed its side or went away
      Close(grpc::Status::OK);
      return;
    }
    // Starting a job journals it (an fsync) and calls the hypervisor: not
    // on this reaction's thread.
    for (const dr::v1::AgentJobRequest& job : in_.jobs()) {
      {
        absl::MutexLock lock(&mu_);
        if (closed_) break;
        ++running_;
      }
      service_->work_.Schedule([this, job] {
        Run(job);
        if (Unpin()) delete this;
      });
    }
    absl::MutexLock lock(&mu_);
    if (!finished()) StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (WriteDoneLocked(ok)) MaybeWriteLocked();
  }

  void OnCancel() override { Close(grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled")); }

  void OnDone() override {
    std::multimap<std::string, uint64_t> subscriptions;
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      subscriptions.swap(subscriptions_);
      // OnDone's own pin: a job start ending meanwhile must not delete the
      // session while this still uses it (UBSan saw exactly that).
      ++running_;
    }
    for (const auto& [job, id] : subscriptions) runner_->Unsubscribe(id);
    service_->Unregister(this);
    if (Unpin()) delete this;  // else the last job start still running does
  }

 private:
  // True when the session is over and no start runs: the caller deletes it.
  bool Unpin() {
    absl::MutexLock lock(&mu_);
    --running_;
    return closed_ && running_ == 0;
  }

  void Run(const dr::v1::AgentJobRequest& job) {
    JobRequest parsed;
    uint64_t subscription = 0;
    absl::Status valid = ParseJobRequest(job, &parsed);
    absl::StatusOr<AgentJobStatus> started =
        valid.ok()
            ? StartJob(
                  runner_, parsed, [this](const AgentJobStatus& s) { Push(s); }, &subscription)
            : valid;
    const std::string& job_id = parsed.job_id;
    absl::MutexLock lock(&mu_);
    if (closed_) {  // the stream ended while the job was starting
      mu_.Unlock();
      runner_->Unsubscribe(subscription);
      mu_.Lock();
      return;
    }
    // A job already terminal has no subscription left in the runner.
    if (subscription != 0 && !(started.ok() && started->terminal())) {
      subscriptions_.emplace(job_id, subscription);
    }
    if (started.ok() || finished()) return;
    spdlog::warn("refused job {}: {}", job_id, started.status().ToString());
    dr::v1::AgentJobRefusal* r = pending_.add_refusals();
    r->set_job_id(job_id);
    r->set_code(static_cast<int32_t>(started.status().code()));
    r->set_message(std::string(started.status().message()));
    *r->mutable_detail() = ErrorDetailOf(started.status());
    MaybeWriteLocked();
  }

  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing() || finished() || (pending_.statuses().empty() && pending_.refusals().empty()))
      return;
    out_.Clear();
    out_.Swap(&pending_);
    index_.clear();
    WriteLocked(&out_);
  }

  AgentServiceImpl* const service_;
  JobRunner* const runner_;
  dr::v1::RunJobsRequest in_;                              // owned by the read in flight
  dr::v1::RunJobsResponse out_ ABSL_GUARDED_BY(mu_);       // the write in flight
  dr::v1::RunJobsResponse pending_ ABSL_GUARDED_BY(mu_);   // the next write
  std::map<std::string, int> index_ ABSL_GUARDED_BY(mu_);  // job -> its last status in pending_
  std::multimap<std::string, uint64_t> subscriptions_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;      // job starts on the executor
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // OnDone ran
};

// One server stream of job statuses.
class JobStream final : public SerialWriteReactor<AgentJobStatus>, public AgentStream {
 public:
  JobStream(AgentServiceImpl* service, JobRunner* runner) : service_(service), runner_(runner) {}

  void Close(const grpc::Status& status) override { SerialWriter::Close(status); }

  // Called by the JobRunner with its lock held: queue and maybe write.
  void Push(const AgentJobStatus& status) {
    absl::MutexLock lock(&mu_);
    if (finished() || terminal_queued_) return;
    queue_.push_back(status);
    if (status.terminal()) terminal_queued_ = true;
    if (!writing()) WriteLocked(&queue_.front());
  }

  // The job's start (on the executor) is over: `started` is its outcome
  // and `id` its subscription. Returns true when the stream is over: the
  // caller deletes it.
  bool Started(const absl::Status& started, uint64_t id, grpc::CallbackServerContext* context) {
    bool done;
    {
      absl::MutexLock lock(&mu_);
      subscription_ = id;
      starting_ = false;
      done = done_;
      // The context lives until OnDone, which waits for this lock.
      if (!done && !started.ok()) FinishLocked(ToGrpcStatus(started, context));
    }
    if (done) runner_->Unsubscribe(id);
    return done;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    const bool was_terminal = queue_.front().terminal();
    queue_.pop_front();
    if (!WriteDoneLocked(ok)) return;
    if (was_terminal) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    if (!queue_.empty()) WriteLocked(&queue_.front());
  }

  void OnCancel() override { Close(grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled")); }

  void OnDone() override {
    uint64_t subscription;
    bool starting;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      subscription = subscription_;
      starting = starting_;
    }
    runner_->Unsubscribe(subscription);
    service_->Unregister(this);
    if (!starting) delete this;  // else Started() reports it and the starter deletes it
  }

 private:
  AgentServiceImpl* const service_;
  JobRunner* const runner_;
  uint64_t subscription_ ABSL_GUARDED_BY(mu_) = 0;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<AgentJobStatus> queue_ ABSL_GUARDED_BY(mu_);
  bool terminal_queued_ ABSL_GUARDED_BY(mu_) = false;
};

AgentServiceImpl::AgentServiceImpl(Backend* backend, JobRunner* runner, int workers,
                                   absl::Duration ready_check_interval)
    : backend_(backend),
      runner_(runner),
      work_(workers),
      ready_check_interval_(ready_check_interval) {
  waiter_ = std::thread([this] { ReadyWaitLoop(); });
}

AgentServiceImpl::~AgentServiceImpl() { Shutdown(); }

void AgentServiceImpl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (AgentStream* s : streams_) {
      s->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "hvagent is shutting down; jobs go on in the hypervisor: re-attach "
                            "with WatchJob or send them again on RunJobs"));
    }
  }
  {
    absl::MutexLock lock(&wait_mu_);
    waits_stopped_ = true;
  }
  if (waiter_.joinable()) waiter_.join();  // it answers the waiting calls
}

void AgentServiceImpl::ReadyWaitLoop() {
  const grpc::Status stopping(grpc::StatusCode::UNAVAILABLE, "hvagent is shutting down; ask again");
  absl::Duration wait = ready_check_interval_;
  while (true) {
    std::vector<ReadyWait> due;
    bool stopped;
    {
      absl::MutexLock lock(&wait_mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wait_mu_) {
        return waits_stopped_ || wait_added_;
      };
      wait_mu_.AwaitWithTimeout(absl::Condition(&woken), wait);
      wait_added_ = false;
      stopped = waits_stopped_;
      due.swap(waits_);
    }
    if (stopped) {
      for (ReadyWait& w : due) w.reactor->Finish(stopping);
      return;
    }
    // The backend is read here, off every reactor; answers go out unlocked.
    std::vector<ReadyWait> waiting;
    // The next read: ready_check_interval from now, or just after a guest
    // the backend knows the boot of is due up (Backend::HeartbeatOkIn).
    wait = ready_check_interval_;
    for (ReadyWait& w : due) {
      if (w.context->IsCancelled()) {
        w.reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
        continue;
      }
      absl::StatusOr<dr::v1::VirtualMachineInventory> vm = backend_->GetVirtualMachine(w.vm_id);
      if (vm.ok() && vm->heartbeat() != dr::v1::HEARTBEAT_STATUS_OK && absl::Now() < w.until) {
        if (std::optional<absl::Duration> up = backend_->HeartbeatOkIn(w.vm_id)) {
          // Never sooner than a millisecond: a guest due but not up yet
          // must not spin the loop.
          wait = std::min(wait, std::max(*up + kReadySlack, kReadySlack));
        }
        waiting.push_back(std::move(w));
        continue;
      }
      if (vm.ok()) *w.response = *std::move(vm);
      w.reactor->Finish(ToGrpcStatus(vm.status(), w.context));
    }
    absl::MutexLock lock(&wait_mu_);
    if (waits_stopped_) {
      for (ReadyWait& w : waiting) w.reactor->Finish(stopping);  // Finish only queues the answer
      continue;  // then ends on the next round (waits_ is empty: nothing is added once stopped)
    }
    for (ReadyWait& w : waiting) waits_.push_back(std::move(w));
  }
}

bool AgentServiceImpl::Register(AgentStream* stream) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return false;
  streams_.insert(stream);
  return true;
}

void AgentServiceImpl::Unregister(AgentStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

grpc::ServerBidiReactor<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse>* AgentServiceImpl::RunJobs(
    grpc::CallbackServerContext*) {
  auto* session = new JobSession(this, runner_);
  session->Begin();
  return session;
}

grpc::ServerUnaryReactor* AgentServiceImpl::GetInventory(grpc::CallbackServerContext* context,
                                                         const dr::v1::GetInventoryRequest*,
                                                         dr::v1::GetInventoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  work_.Schedule([this, reactor, context, response] {
    absl::StatusOr<dr::v1::GetInventoryResponse> inv = backend_->GetInventory();
    if (inv.ok()) *response = *std::move(inv);
    reactor->Finish(ToGrpcStatus(inv.status(), context));
  });
  return reactor;
}

grpc::ServerUnaryReactor* AgentServiceImpl::GetVirtualMachine(
    grpc::CallbackServerContext* context,
    const dr::v1::HostAgentServiceGetVirtualMachineRequest* request,
    dr::v1::VirtualMachineInventory* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->vm_id().empty()) {
    reactor->Finish(ToGrpcStatus(InvalidParameter("vm_id", "MISSING", "is required"), context));
    return reactor;
  }
  absl::Duration wait = absl::ZeroDuration();
  if (request->has_heartbeat_ok_wait()) {
    wait = FromProto(request->heartbeat_ok_wait());
    if (wait < absl::ZeroDuration() || wait > absl::Seconds(60)) {
      reactor->Finish(ToGrpcStatus(
          InvalidParameter("heartbeat_ok_wait", "OUT_OF_RANGE",
                           absl::StrCat("must be 0 to 60 s, got ", absl::FormatDuration(wait))),
          context));
      return reactor;
    }
  }
  // A backend read (WMI queries) never runs on the reactor.
  work_.Schedule([this, reactor, context, request, response, wait] {
    absl::StatusOr<dr::v1::VirtualMachineInventory> vm =
        backend_->GetVirtualMachine(request->vm_id());
    if (vm.ok() && vm->heartbeat() != dr::v1::HEARTBEAT_STATUS_OK && wait > absl::ZeroDuration()) {
      // A guest the backend knows the boot of: the loop plans its next read
      // again (it may sleep a whole ready_check_interval otherwise).
      const bool known = backend_->HeartbeatOkIn(request->vm_id()).has_value();
      absl::MutexLock lock(&wait_mu_);
      if (!waits_stopped_) {
        waits_.push_back({request->vm_id(), absl::Now() + wait, context, reactor, response});
        if (known) wait_added_ = true;
        return;
      }
    }
    if (vm.ok()) *response = *std::move(vm);
    reactor->Finish(ToGrpcStatus(vm.status(), context));
  });
  return reactor;
}

grpc::ServerWriteReactor<AgentJobStatus>* AgentServiceImpl::Operate(
    grpc::CallbackServerContext* context, const dr::v1::AgentJobRequest& request) {
  auto* stream = new JobStream(this, runner_);
  JobRequest parsed;
  absl::Status valid = ParseJobRequest(request, &parsed);
  if (!valid.ok()) {
    spdlog::warn("refused request for job {}: {}", parsed.job_id, valid.ToString());
    stream->Started(valid, 0, context);
    return stream;
  }
  if (!Register(stream)) {
    stream->Started(absl::UnavailableError("hvagent is shutting down"), 0, context);
    return stream;
  }
  work_.Schedule([this, stream, context, parsed] {
    uint64_t subscription = 0;
    absl::StatusOr<AgentJobStatus> started = StartJob(
        runner_, parsed, [stream](const AgentJobStatus& s) { stream->Push(s); }, &subscription);
    if (stream->Started(started.status(), subscription, context)) delete stream;
  });
  return stream;
}

// Each per-job call is its RunJobs entry on a stream of its own.
#define HVDR_AGENT_OPERATION(Method, Request, field)                          \
  grpc::ServerWriteReactor<AgentJobStatus>* AgentServiceImpl::Method(         \
      grpc::CallbackServerContext* context, const dr::v1::Request* request) { \
    dr::v1::AgentJobRequest job;                                              \
    *job.mutable_##field() = *request;                                        \
    return Operate(context, job);                                             \
  }

HVDR_AGENT_OPERATION(InitiateFailover, HostAgentServiceInitiateFailoverRequest, initiate_failover)
HVDR_AGENT_OPERATION(RevertFailover, HostAgentServiceRevertFailoverRequest, revert_failover)
HVDR_AGENT_OPERATION(CommitFailover, HostAgentServiceCommitFailoverRequest, commit_failover)
HVDR_AGENT_OPERATION(StartTestFailover, HostAgentServiceStartTestFailoverRequest,
                     start_test_failover)
HVDR_AGENT_OPERATION(CleanupTestFailover, HostAgentServiceCleanupTestFailoverRequest,
                     cleanup_test_failover)
HVDR_AGENT_OPERATION(ReverseReplication, HostAgentServiceReverseReplicationRequest,
                     reverse_replication)
HVDR_AGENT_OPERATION(SetFailoverNetworkAdapterSettings,
                     HostAgentServiceSetFailoverNetworkAdapterSettingsRequest,
                     set_failover_network_adapter_settings)
HVDR_AGENT_OPERATION(PrepareForPlannedFailover, HostAgentServicePrepareForPlannedFailoverRequest,
                     prepare_for_planned_failover)
HVDR_AGENT_OPERATION(StartVirtualMachine, HostAgentServiceStartVirtualMachineRequest,
                     start_virtual_machine)
HVDR_AGENT_OPERATION(StopVirtualMachine, HostAgentServiceStopVirtualMachineRequest,
                     stop_virtual_machine)
HVDR_AGENT_OPERATION(WatchJob, HostAgentServiceWatchJobRequest, watch_job)
#undef HVDR_AGENT_OPERATION

grpc::ServerUnaryReactor* AgentServiceImpl::CancelJob(
    grpc::CallbackServerContext* context, const dr::v1::HostAgentServiceCancelJobRequest* request,
    AgentJobStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->job_id().empty()) {
    reactor->Finish(ToGrpcStatus(InvalidParameter("job_id", "MISSING", "is required"), context));
    return reactor;
  }
  work_.Schedule([this, reactor, context, request, response] {
    absl::StatusOr<AgentJobStatus> status = runner_->Cancel(request->job_id());
    if (status.ok()) *response = *status;
    reactor->Finish(ToGrpcStatus(status.status(), context));
  });
  return reactor;
}

}  // namespace agent
}  // namespace hvdr
