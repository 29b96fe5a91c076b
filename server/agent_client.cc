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
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Also the floor of each connection attempt's deadline.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive_time)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.keepalive_timeout)));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::shared_ptr<grpc::ChannelCredentials> credentials = options_.credentials;
  if (credentials == nullptr) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    // The name the agent's certificate must carry: its host's id. An
    // address no host claims yet gets a name no certificate carries, so
    // that nothing reaches an agent before it is known whose it is.
    auto host = hosts_.find(address);
    args.SetSslTargetNameOverride(host != hosts_.end() ? host->second
                                                       : "unregistered-agent.invalid");
  }
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub =
      dr::v1::HostAgentService::NewStub(grpc::CreateCustomChannel(address, credentials, args));
  stubs_.emplace(address, stub);
  return stub;
}

void ChannelAgentStubFactory::Expect(const std::string& address, const std::string& host_id) {
  absl::MutexLock lock(&mu_);
  auto it = hosts_.find(address);
  if (it != hosts_.end() && it->second == host_id) return;
  hosts_[address] = host_id;
  // A channel made for another name must not be reused.
  stubs_.erase(address);
}

namespace {

template <typename Req>
Req Fill(const AgentOperation& op) {
  Req r;
  r.set_job_id(op.job_id);
  r.set_vm_id(op.vm_id);
  return r;
}

// Parses `bytes` into `out`, which must end up naming a job.
template <typename Req>
absl::Status Parse(const std::string& bytes, Req* out) {
  if (!out->ParseFromString(bytes) || out->job_id().empty()) {
    return absl::InvalidArgumentError("stored agent request does not parse");
  }
  return absl::OkStatus();
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
    case JOB_TYPE_REVERT_FAILOVER:
      return Fill<HostAgentServiceRevertFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_COMMIT_FAILOVER:
      return Fill<HostAgentServiceCommitFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_REMOVE_TEST_REPLICA:
      return Fill<HostAgentServiceCleanupTestFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_REVERSE_REPLICATION:
      return Fill<HostAgentServiceReverseReplicationRequest>(op).SerializeAsString();
    case JOB_TYPE_REPLICATION_STATE_CHANGE:
      return Fill<HostAgentServicePrepareForPlannedFailoverRequest>(op).SerializeAsString();
    case JOB_TYPE_START_VIRTUAL_MACHINE:
      return Fill<HostAgentServiceStartVirtualMachineRequest>(op).SerializeAsString();
    case JOB_TYPE_STOP_VIRTUAL_MACHINE:
      return Fill<HostAgentServiceStopVirtualMachineRequest>(op).SerializeAsString();
    default: return "";
  }
}

absl::StatusOr<dr::v1::AgentJobRequest> ToAgentJobRequest(dr::v1::JobType type,
                                                          const std::string& bytes) {
  using namespace dr::v1;  // NOLINT
  AgentJobRequest r;
  absl::Status parsed;
  switch (type) {
    case JOB_TYPE_INITIATE_FAILOVER: parsed = Parse(bytes, r.mutable_initiate_failover()); break;
    case JOB_TYPE_REVERT_FAILOVER: parsed = Parse(bytes, r.mutable_revert_failover()); break;
    case JOB_TYPE_COMMIT_FAILOVER: parsed = Parse(bytes, r.mutable_commit_failover()); break;
    case JOB_TYPE_INITIATE_TEST_REPLICA:
      parsed = Parse(bytes, r.mutable_start_test_failover());
      break;
    case JOB_TYPE_REMOVE_TEST_REPLICA:
      parsed = Parse(bytes, r.mutable_cleanup_test_failover());
      break;
    case JOB_TYPE_REVERSE_REPLICATION:
      parsed = Parse(bytes, r.mutable_reverse_replication());
      break;
    case JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS:
      parsed = Parse(bytes, r.mutable_set_failover_network_adapter_settings());
      break;
    case JOB_TYPE_REPLICATION_STATE_CHANGE:
      parsed = Parse(bytes, r.mutable_prepare_for_planned_failover());
      break;
    case JOB_TYPE_START_VIRTUAL_MACHINE:
      parsed = Parse(bytes, r.mutable_start_virtual_machine());
      break;
    case JOB_TYPE_STOP_VIRTUAL_MACHINE:
      parsed = Parse(bytes, r.mutable_stop_virtual_machine());
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(JobType_Name(type), " has no agent call"));
  }
  if (!parsed.ok()) return parsed;
  return r;
}

}  // namespace server
}  // namespace hvdr
