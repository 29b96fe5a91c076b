#include "hvagent/agent_service.h"

#include <deque>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/serial_write_reactor.h"
#include "common/hyperv_status.h"
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

absl::StatusOr<Operation> ToOperation(const dr::v1::AgentJobRequest& request, std::string* job_id) {
  using R = dr::v1::AgentJobRequest;
#define HVDR_CASE(Case, field, Type, RecoveryPoint)                                          \
  case R::Case:                                                                               \
    *job_id = request.field().job_id();                                                       \
    return ToOperation(dr::v1::Type, request.field().job_id(), request.field().vm_id(), RecoveryPoint);
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
      *job_id = request.set_failover_network_adapter_settings().job_id();
      return NetworkOperation(request.set_failover_network_adapter_settings());
    case R::kWatchJob:
      *job_id = request.watch_job().job_id();
      return InvalidParameter("operation", "NOT_AN_OPERATION", "watch_job re-attaches; it runs nothing");
    case R::OPERATION_NOT_SET:
      break;
  }
#undef HVDR_CASE
  return InvalidParameter("operation", "MISSING", "one of the operations is required");
}

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
    if (!finished()) StartRead(&in_);
  }

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
        *queued = status;  // progress of a queued state: keep the newest only
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
    for (const dr::v1::AgentJobRequest& job : in_.jobs()) Run(job);
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
      subscriptions.swap(subscriptions_);
    }
    for (const auto& [job, id] : subscriptions) runner_->Unsubscribe(id);
    service_->Unregister(this);
    delete this;
  }

 private:
  void Run(const dr::v1::AgentJobRequest& job) {
    std::string job_id;
    uint64_t subscription = 0;
    auto listener = [this](const AgentJobStatus& s) { Push(s); };
    absl::StatusOr<AgentJobStatus> started;
    if (job.has_watch_job()) {
      job_id = job.watch_job().job_id();
      started = job_id.empty() ? InvalidParameter("job_id", "MISSING", "is required")
                               : runner_->Watch(job_id, listener, &subscription);
    } else {
      absl::StatusOr<Operation> op = ToOperation(job, &job_id);
      started = op.ok() ? runner_->Start(job_id, *op, listener, &subscription) : op.status();
    }
    absl::MutexLock lock(&mu_);
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
    if (writing() || finished() || (pending_.statuses().empty() && pending_.refusals().empty())) return;
    out_.Clear();
    out_.Swap(&pending_);
    index_.clear();
    WriteLocked(&out_);
  }

  AgentServiceImpl* const service_;
  JobRunner* const runner_;
  dr::v1::RunJobsRequest in_;  // owned by the read in flight
  dr::v1::RunJobsResponse out_ ABSL_GUARDED_BY(mu_);      // the write in flight
  dr::v1::RunJobsResponse pending_ ABSL_GUARDED_BY(mu_);  // the next write
  std::map<std::string, int> index_ ABSL_GUARDED_BY(mu_);  // job -> its last status in pending_
  std::multimap<std::string, uint64_t> subscriptions_ ABSL_GUARDED_BY(mu_);
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

  void set_subscription(uint64_t id) { subscription_ = id; }

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
    runner_->Unsubscribe(subscription_);
    service_->Unregister(this);
    delete this;
  }

 private:
  AgentServiceImpl* const service_;
  JobRunner* const runner_;
  uint64_t subscription_ = 0;
  std::deque<AgentJobStatus> queue_ ABSL_GUARDED_BY(mu_);
  bool terminal_queued_ ABSL_GUARDED_BY(mu_) = false;
};

AgentServiceImpl::~AgentServiceImpl() { Shutdown(); }

void AgentServiceImpl::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (AgentStream* s : streams_) {
    s->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "hvagent is shutting down; jobs go on in the hypervisor: re-attach with "
                          "WatchJob or send them again on RunJobs"));
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
  absl::StatusOr<dr::v1::GetInventoryResponse> inv = backend_->GetInventory();
  if (inv.ok()) *response = *std::move(inv);
  reactor->Finish(ToGrpcStatus(inv.status(), context));
  return reactor;
}

grpc::ServerWriteReactor<AgentJobStatus>* AgentServiceImpl::Operate(
    grpc::CallbackServerContext* context, absl::StatusOr<Operation> op, const std::string& job_id) {
  auto* stream = new JobStream(this, runner_);
  if (!op.ok()) {
    spdlog::warn("refused request for job {}: {}", job_id, op.status().ToString());
    stream->Close(ToGrpcStatus(op.status(), context));
    return stream;
  }
  if (!Register(stream)) {
    stream->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "hvagent is shutting down"));
    return stream;
  }
  uint64_t subscription = 0;
  absl::StatusOr<AgentJobStatus> started = runner_->Start(
      job_id, *op, [stream](const AgentJobStatus& s) { stream->Push(s); }, &subscription);
  stream->set_subscription(subscription);
  if (!started.ok()) stream->Close(ToGrpcStatus(started.status(), context));
  return stream;
}

#define HVDR_AGENT_OPERATION(Method, Request, Type, RecoveryPoint)                            \
  grpc::ServerWriteReactor<AgentJobStatus>* AgentServiceImpl::Method(                         \
      grpc::CallbackServerContext* context, const dr::v1::Request* request) {                 \
    return Operate(context,                                                                   \
                   ToOperation(dr::v1::Type, request->job_id(), request->vm_id(), RecoveryPoint), \
                   request->job_id());                                                        \
  }

HVDR_AGENT_OPERATION(InitiateFailover, HostAgentServiceInitiateFailoverRequest,
                     JOB_TYPE_INITIATE_FAILOVER, request->recovery_point_id())
HVDR_AGENT_OPERATION(RevertFailover, HostAgentServiceRevertFailoverRequest,
                     JOB_TYPE_REVERT_FAILOVER, "")
HVDR_AGENT_OPERATION(CommitFailover, HostAgentServiceCommitFailoverRequest,
                     JOB_TYPE_COMMIT_FAILOVER, "")
HVDR_AGENT_OPERATION(StartTestFailover, HostAgentServiceStartTestFailoverRequest,
                     JOB_TYPE_INITIATE_TEST_REPLICA, request->recovery_point_id())
HVDR_AGENT_OPERATION(CleanupTestFailover, HostAgentServiceCleanupTestFailoverRequest,
                     JOB_TYPE_REMOVE_TEST_REPLICA, "")
HVDR_AGENT_OPERATION(ReverseReplication, HostAgentServiceReverseReplicationRequest,
                     JOB_TYPE_REVERSE_REPLICATION, "")
HVDR_AGENT_OPERATION(PrepareForPlannedFailover, HostAgentServicePrepareForPlannedFailoverRequest,
                     JOB_TYPE_REPLICATION_STATE_CHANGE, "")
HVDR_AGENT_OPERATION(StartVirtualMachine, HostAgentServiceStartVirtualMachineRequest,
                     JOB_TYPE_START_VIRTUAL_MACHINE, "")
HVDR_AGENT_OPERATION(StopVirtualMachine, HostAgentServiceStopVirtualMachineRequest,
                     JOB_TYPE_STOP_VIRTUAL_MACHINE, "")
#undef HVDR_AGENT_OPERATION

grpc::ServerWriteReactor<AgentJobStatus>* AgentServiceImpl::SetFailoverNetworkAdapterSettings(
    grpc::CallbackServerContext* context,
    const dr::v1::HostAgentServiceSetFailoverNetworkAdapterSettingsRequest* request) {
  return Operate(context, NetworkOperation(*request), request->job_id());
}

grpc::ServerWriteReactor<AgentJobStatus>* AgentServiceImpl::WatchJob(
    grpc::CallbackServerContext* context, const dr::v1::HostAgentServiceWatchJobRequest* request) {
  auto* stream = new JobStream(this, runner_);
  if (request->job_id().empty()) {
    stream->Close(ToGrpcStatus(InvalidParameter("job_id", "MISSING", "is required"), context));
    return stream;
  }
  if (!Register(stream)) {
    stream->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "hvagent is shutting down"));
    return stream;
  }
  uint64_t subscription = 0;
  absl::StatusOr<AgentJobStatus> watched = runner_->Watch(
      request->job_id(), [stream](const AgentJobStatus& s) { stream->Push(s); }, &subscription);
  stream->set_subscription(subscription);
  if (!watched.ok()) stream->Close(ToGrpcStatus(watched.status(), context));
  return stream;
}

grpc::ServerUnaryReactor* AgentServiceImpl::CancelJob(
    grpc::CallbackServerContext* context, const dr::v1::HostAgentServiceCancelJobRequest* request,
    AgentJobStatus* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->job_id().empty()) {
    reactor->Finish(ToGrpcStatus(InvalidParameter("job_id", "MISSING", "is required"), context));
    return reactor;
  }
  absl::StatusOr<AgentJobStatus> status = runner_->Cancel(request->job_id());
  if (status.ok()) *response = *status;
  reactor->Finish(ToGrpcStatus(status.status(), context));
  return reactor;
}

}  // namespace agent
}  // namespace hvdr
