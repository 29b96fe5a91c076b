#include "hvagent/agent_service.h"

#include <deque>

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

// One server stream of job statuses.
class JobStream final : public SerialWriteReactor<AgentJobStatus> {
 public:
  JobStream(AgentServiceImpl* service, JobRunner* runner) : service_(service), runner_(runner) {}

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
  for (JobStream* s : streams_) {
    s->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "hvagent is shutting down; the job goes on in the hypervisor: "
                          "re-attach with WatchJob"));
  }
}

bool AgentServiceImpl::Register(JobStream* stream) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return false;
  streams_.insert(stream);
  return true;
}

void AgentServiceImpl::Unregister(JobStream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
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
  absl::StatusOr<Operation> op = ToOperation(dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
                                             request->job_id(), request->vm_id(), "");
  if (op.ok()) {
    if (request->network_settings().empty()) {
      op = InvalidParameter("network_settings", "MISSING", "at least one adapter is required");
    } else {
      op->network_settings.assign(request->network_settings().begin(),
                                  request->network_settings().end());
    }
  }
  return Operate(context, std::move(op), request->job_id());
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
