#include "server/agent_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"

namespace hvdr {
namespace server {

std::shared_ptr<dr::v1::HostAgentService::StubInterface> ChannelAgentStubFactory::Get(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = stubs_.find(address);
  if (it != stubs_.end()) return it->second;
  grpc::ChannelArguments args;
  // Fail fast while an agent is down; the dispatcher retries with backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub =
      dr::v1::HostAgentService::NewStub(
          grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  stubs_.emplace(address, stub);
  return stub;
}

namespace {

template <typename Req>
Req Fill(const AgentOperation& op) {
  Req r;
  r.set_job_id(op.job_id);
  r.set_vm_id(op.vm_id);
  return r;
}

template <typename Req>
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Parse(const std::string& bytes) {
  auto req = std::make_unique<Req>();
  if (!req->ParseFromString(bytes) || req->job_id().empty()) {
    return absl::InvalidArgumentError("stored agent request does not parse");
  }
  return std::unique_ptr<google::protobuf::Message>(std::move(req));
}

}  // namespace

std::string EncodeAgentOperation(const AgentOperation& op) {
  using namespace dr::v1;  // NOLINT
  switch (op.type) {
    case JOB_TYPE_INITIATE_FAILOVER: {
      auto r = Fill<HostAgentServiceInitiateFailoverRequest>(op);
      r.set_recovery_point_id(op.recovery_point_id);
      return r.SerializeAsString();
    }
    case JOB_TYPE_INITIATE_TEST_REPLICA: {
      auto r = Fill<HostAgentServiceStartTestFailoverRequest>(op);
      r.set_recovery_point_id(op.recovery_point_id);
      return r.SerializeAsString();
    }
    case JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS: {
      auto r = Fill<HostAgentServiceSetFailoverNetworkAdapterSettingsRequest>(op);
      for (const auto& n : op.network_settings) *r.add_network_settings() = n;
      return r.SerializeAsString();
    }
    case JOB_TYPE_REVERT_FAILOVER: return Fill<HostAgentServiceRevertFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_COMMIT_FAILOVER: return Fill<HostAgentServiceCommitFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_REMOVE_TEST_REPLICA: return Fill<HostAgentServiceCleanupTestFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_REVERSE_REPLICATION: return Fill<HostAgentServiceReverseReplicationRequest>(op).SerializeAsString();
    case JOB_TYPE_REPLICATION_STATE_CHANGE: return Fill<HostAgentServicePrepareForPlannedFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_START_VIRTUAL_MACHINE: return Fill<HostAgentServiceStartVirtualMachineRequest>(op).SerializeAsString();
    case JOB_TYPE_STOP_VIRTUAL_MACHINE: return Fill<HostAgentServiceStopVirtualMachineRequest>(op).SerializeAsString();
    default: return "";
  }
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> StartAgentCall(
    dr::v1::HostAgentService::StubInterface::async_interface* async, dr::v1::JobType type,
    const std::string& bytes, grpc::ClientContext* context,
    grpc::ClientReadReactor<dr::v1::AgentJobStatus>* reactor) {
  using namespace dr::v1;  // NOLINT
  if (async == nullptr) return absl::FailedPreconditionError("agent stub has no callback interface");
#define HVDR_START(Type, Req, Method)                                          \
  case Type: {                                                                 \
    auto req = Parse<Req>(bytes);                                              \
    if (!req.ok()) return req.status();                                        \
    async->Method(context, static_cast<const Req*>(req->get()), reactor);      \
    return req;                                                                \
  }
  switch (type) {
    HVDR_START(JOB_TYPE_INITIATE_FAILOVER, HostAgentServiceInitiateFailoverRequest, InitiateFailover)
    HVDR_START(JOB_TYPE_REVERT_FAILOVER, HostAgentServiceRevertFailoverRequest, RevertFailover)
    HVDR_START(JOB_TYPE_COMMIT_FAILOVER, HostAgentServiceCommitFailoverRequest, CommitFailover)
    HVDR_START(JOB_TYPE_INITIATE_TEST_REPLICA, HostAgentServiceStartTestFailoverRequest, StartTestFailover)
    HVDR_START(JOB_TYPE_REMOVE_TEST_REPLICA, HostAgentServiceCleanupTestFailoverRequest, CleanupTestFailover)
    HVDR_START(JOB_TYPE_REVERSE_REPLICATION, HostAgentServiceReverseReplicationRequest, ReverseReplication)
    HVDR_START(JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
               HostAgentServiceSetFailoverNetworkAdapterSettingsRequest, SetFailoverNetworkAdapterSettings)
    HVDR_START(JOB_TYPE_REPLICATION_STATE_CHANGE, HostAgentServicePrepareForPlannedFailoverRequest,
               PrepareForPlannedFailover)
    HVDR_START(JOB_TYPE_START_VIRTUAL_MACHINE, HostAgentServiceStartVirtualMachineRequest, StartVirtualMachine)
    HVDR_START(JOB_TYPE_STOP_VIRTUAL_MACHINE, HostAgentServiceStopVirtualMachineRequest, StopVirtualMachine)
    default:
      return absl::InvalidArgumentError(absl::StrCat(JobType_Name(type), " has no agent call"));
  }
#undef HVDR_START
}

}  // namespace server
}  // namespace hvdr
