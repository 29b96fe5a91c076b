// What an agent asks of the hypervisor. Two implementations: the simulated
// Hyper-V (sim/sim_backend.h) for Linux, tests and users' CI, and the WMI
// backend (wmi/wmi_backend.h) for real hosts.
//
// Every operation answers exactly as the Msvm_ReplicationService (or
// Msvm_ComputerSystem) method would: a Hyper-V return code, and with 4096 the
// id of the Msvm_ConcreteJob that carries the work. Refusals (32768-32779)
// start nothing.
//
// Thread-safety: implementations are safe for concurrent use.
#ifndef HVDR_HVAGENT_BACKEND_H_
#define HVDR_HVAGENT_BACKEND_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dr/v1/agent_service.pb.h"
#include "dr/v1/failover_service.pb.h"
#include "dr/v1/hyperv.pb.h"

namespace hvdr {
namespace agent {

// One hypervisor operation. `type` names it with its Hyper-V JobType:
//   INITIATE_FAILOVER       InitiateFailover(vm, recovery point or latest)
//   REVERT_FAILOVER         RevertFailover(vm)
//   COMMIT_FAILOVER         CommitFailover(vm)
//   INITIATE_TEST_REPLICA   TestReplicaSystem(vm, recovery point or latest)
//   REMOVE_TEST_REPLICA     DestroySystem(the test VM of vm)
//   REVERSE_REPLICATION     ReverseReplicationRelationship(vm)
//   REPLICATION_STATE_CHANGE RequestReplicationStateChange(vm, 4): prepare
//                           the primary for a planned failover
//   SET_FAILOVER_NETWORK_SETTINGS SetFailoverNetworkAdapterSettings(vm, ...)
//   START_VIRTUAL_MACHINE / STOP_VIRTUAL_MACHINE RequestStateChange(2 / 3)
struct Operation {
  dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
  std::string vm_id;              // VM GUID
  std::string recovery_point_id;  // "" = latest point in time
  std::vector<dr::v1::FailoverNetworkAdapterSettings> network_settings;
};

// A method's answer.
struct MethodResult {
  dr::v1::ReturnCode return_code = dr::v1::RETURN_CODE_FAILED;
  std::string job_id;   // Msvm_ConcreteJob InstanceID when return_code is 4096
  std::string message;  // why, for refusals (for logs and error_description)
};

// A hypervisor job (Msvm_ConcreteJob).
struct JobInfo {
  std::string job_id;
  dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
  std::string vm_id;
  dr::v1::JobState state = dr::v1::JOB_STATE_NEW;
  uint32_t percent = 0;
  uint32_t error_code = 0;
  std::string error_summary;
  std::string error_description;
  absl::Time start_time = absl::InfinitePast();
  absl::Time end_time = absl::InfinitePast();
  bool cancellable = false;
};

// True for the operations an Operation may name.
bool IsAgentOperation(dr::v1::JobType type);

class Backend {
 public:
  virtual ~Backend() = default;

  // The host's VMs with relationships, recovery points and RPO figures.
  // UNAVAILABLE when the hypervisor cannot be reached.
  virtual absl::StatusOr<dr::v1::GetInventoryResponse> GetInventory() = 0;

  // One VM as GetInventory reports it. NOT_FOUND when the host has no VM
  // with that GUID.
  virtual absl::StatusOr<dr::v1::VirtualMachineInventory> GetVirtualMachine(
      const std::string& vm_id) = 0;

  // Calls the operation's method. Never blocks on the job itself.
  virtual MethodResult Invoke(const Operation& op) = 0;

  // Reads a job. NOT_FOUND once Hyper-V removed it (TimeBeforeRemoval after
  // it ended): whoever polls must keep the outcome itself.
  virtual absl::StatusOr<JobInfo> GetJob(const std::string& job_id) = 0;

  // Every job the hypervisor still knows, for reconciling after a restart.
  virtual absl::StatusOr<std::vector<JobInfo>> ListJobs() = 0;

  // Asks the hypervisor to cancel a job (RequestStateChange on a
  // Cancellable job). 32775 when the job is not cancellable or has ended.
  virtual MethodResult CancelJob(const std::string& job_id) = 0;

  // The earliest time a running job is due to end, when the hypervisor can
  // tell: the simulator's jobs run for a set duration, so the agent's poll
  // reads a job as it ends instead of up to a poll interval later. Real
  // Hyper-V's jobs report only a percent: nullopt (the default), and the
  // agent polls at its interval. A hint only: the job's end is still what
  // GetJob reads.
  virtual std::optional<absl::Time> NextJobEnd() { return std::nullopt; }

  // How long until the guest heartbeat of the VM with `vm_id` is due to
  // report OK, when the hypervisor can tell (the simulator: its guests boot
  // for a set time after power-on), so that a wait for readiness reads it
  // then; nullopt when it cannot (real Hyper-V; a VM that is off, or never
  // becomes ready). A hint only: readiness is what GetVirtualMachine reads.
  virtual std::optional<absl::Duration> HeartbeatOkIn(const std::string& vm_id) {
    (void)vm_id;
    return std::nullopt;
  }
};

}  // namespace agent
}  // namespace hvdr

#endif  // HVDR_HVAGENT_BACKEND_H_
