// The Hyper-V Replica state machine (used by the simulator and by drserver's
// pre-checks), as a table: for
// each operation, which VMs may run it and what it does to their replication
// state. This is the one place where facts that Microsoft's documentation
// does not state are modelled; each such row or field is marked INFERRED
// (see ../shared/notes/hyperv-replica.md) and can be changed here alone.
#ifndef HVDR_COMMON_HYPERV_RULES_H_
#define HVDR_COMMON_HYPERV_RULES_H_

#include <vector>

#include "dr/v1/hyperv.pb.h"
#include "dr/v1/resources.pb.h"

namespace hvdr {

struct OperationRule {
  dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
  // Replication modes the VM may be in; violating it answers 32775.
  std::vector<dr::v1::ReplicationMode> modes;
  // Replication states the VM may be in (empty: any); violating it answers
  // 32775. When states_for_replicas_only, they apply only to VMs in mode
  // Replica or Extended replica.
  std::vector<dr::v1::ReplicationState> states;
  bool states_for_replicas_only = false;
  // Required EnabledState (ENABLED_STATE_UNKNOWN: any); violating it answers
  // 32775.
  dr::v1::EnabledState enabled = dr::v1::ENABLED_STATE_UNKNOWN;
  // The VM must have replicated at least once (LastReplicationTime set).
  bool needs_last_replication = false;
  // Replication state while the job runs, if it changes.
  bool sets_state_during = false;
  dr::v1::ReplicationState state_during = dr::v1::REPLICATION_STATE_DISABLED;
  // Replication state after the job completes, if it changes.
  bool sets_state_after = false;
  dr::v1::ReplicationState state_after = dr::v1::REPLICATION_STATE_DISABLED;
  // EnabledState after the job completes, if it changes (ENABLED_STATE_UNKNOWN:
  // it does not).
  dr::v1::EnabledState enabled_after = dr::v1::ENABLED_STATE_UNKNOWN;
  // The job changes more of the host's inventory than its VM's state fields
  // (recovery points, a VM made or removed, a relationship reversed): the
  // server reads the host's inventory again when it ends. (A job's end
  // always records its VM's state fields, from the agent's last status.)
  bool changes_inventory = false;
  // Default job duration in the simulator.
  int default_duration_ms = 2000;
};

// Msvm_ConcreteJob.JobState 7-11 (Completed, Terminated, Killed, Exception,
// Service): the job has ended.
bool IsTerminalJobState(dr::v1::JobState state);

// Every operation the simulator knows, one row each.
const std::vector<OperationRule>& HyperVRules();

// True when `vm`'s observed state proves that an operation of `type` on it
// completed: its replication state is the rule's state_after, or its
// EnabledState the rule's enabled_after. For a job whose hypervisor record
// vanished before its outcome was read. False when nothing proves it.
bool VmStateProvesCompletion(dr::v1::JobType type, const dr::v1::VirtualMachine& vm);

// The row for `type`, or nullptr when the simulator does not support it
// (the method then answers 32770 Not Supported).
const OperationRule* FindRule(dr::v1::JobType type);

}  // namespace hvdr

#endif  // HVDR_COMMON_HYPERV_RULES_H_
