// ValidatePlan's checks against the topology: can this plan run in this
// mode now? Plain logic over a snapshot of what the store knows (the
// server reads it: server/plan_service.cc), so that every finding is
// testable with a table and nothing runs.
#ifndef HVDR_PLANS_PLAN_VALIDATION_H_
#define HVDR_PLANS_PLAN_VALIDATION_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "dr/v1/plan.pb.h"
#include "dr/v1/plan_execution.pb.h"
#include "dr/v1/resources.pb.h"
#include "plans/step_graph.h"

namespace hvdr {
namespace plans {

// What the store knows of one logical VM (a GUID).
struct VmFacts {
  std::vector<dr::v1::VirtualMachine> copies;  // every copy, any host
  // Recovery points of the replica copy at the target site.
  std::vector<dr::v1::RecoveryPoint> recovery_points;
  // ReplicationInterval of its primary relationship; 0 when unknown (300
  // is assumed, Hyper-V's default).
  uint32_t replication_interval_seconds = 0;
};

struct TopologySnapshot {
  std::map<std::string, VmFacts> vms;               // by canonical GUID
  std::map<std::string, dr::v1::Host> hosts;        // by name
  std::map<std::string, std::string> vm_execution;  // GUID -> active execution holding it
  // Hooks in drserver's hooks directory: file name -> executable. Unset
  // hooks_configured means drserver runs no hooks (--hooks_dir not set).
  bool hooks_configured = false;
  std::map<std::string, bool> hooks;
};

// Every problem that stops `plan` (canonical, structurally sound) from
// running in `mode` at `now`, or puts its RPO at risk (warnings). Findings
// name the plan field (e.g. "groups[0].vms[2].vm_id"), a reason, the
// Hyper-V code the step would meet, and say what to do. Reasons:
//   UNKNOWN_VM             no copy of the GUID is known on any host
//   NO_REPLICA_AT_TARGET   no replica copy on a host of the target site
//   NO_PRIMARY_AT_SOURCE   PLANNED: no primary copy in the source site
//   HOST_UNREACHABLE       a host a step runs on is not reachable
//   REPLICATION_CRITICAL   replication health critical (a warning in
//                          UNPLANNED: the disaster does not wait)
//   RPO_AT_RISK            warning: last replication older than 3 x its
//                          interval
//   NO_RECOVERY_POINT      no recovery point satisfies the VM's policy
//   INVALID_STATE          the copy's replication state or mode does not
//                          allow the mode's first operation (e.g. COMMIT of
//                          a VM not failed over)
//   VM_BUSY                a job runs on the copy
//   VM_IN_EXECUTION        another execution that has not ended holds it
//   HOOKS_DISABLED, HOOK_MISSING, HOOK_NOT_EXECUTABLE   for hook steps
std::vector<dr::v1::Finding> ValidateAgainstTopology(const dr::v1::Plan& plan,
                                                     dr::v1::ExecutionMode mode,
                                                     const TopologySnapshot& topology,
                                                     absl::Time now);

// Where each VM's steps run, from the snapshot: the primary copy in the
// source site and the replica copy in the target site (for BuildStepGraph).
std::map<std::string, VmPlacement> PlacementOf(const dr::v1::Plan& plan,
                                               const TopologySnapshot& topology);

// The recovery point a failover of `vm` (its replica copy `replica`) uses
// under its policy, in *recovery_point: "" for the latest point in time,
// or the name of the newest application-consistent point; *data_time is
// the time of the data it brings back. False when none qualifies
// (NO_RECOVERY_POINT).
bool ChooseRecoveryPoint(const dr::v1::PlanVm& vm, const VmFacts& facts,
                         const dr::v1::VirtualMachine& replica, absl::Time now,
                         std::string* recovery_point, absl::Time* data_time);

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_PLAN_VALIDATION_H_
