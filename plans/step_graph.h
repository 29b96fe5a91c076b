// The steps one execution of a plan runs, and what each waits for: a plan
// and a mode compiled into a DAG the scheduler (plans/scheduler.h) walks.
//
// For each group, in order: its `before` steps (a chain), then its VMs in
// parallel (each VM's chain: its `before` steps, the mode's operations, its
// `after` steps; a VM starts after the VMs it depends on), then its `after`
// steps once every VM of the group has ended. The next group starts when
// this one has ended (a gate, "{group}.end", stands between them). The mode's operations per VM:
//   TEST          TEST_FAILOVER, START, READINESS         (replica host)
//   CLEANUP_TEST  CLEANUP_TEST                            (replica host)
//   PLANNED       STOP_PRIMARY, PREPARE                   (primary host)
//                 FAILOVER, SET_NETWORK, START, READINESS, REVERSE (replica)
//   UNPLANNED     FAILOVER, SET_NETWORK, START, READINESS (replica host)
//   COMMIT        COMMIT                                  (replica host)
//   REVERT        STOP_REPLICA, REVERT                    (replica host)
// SET_NETWORK only with network settings; START and READINESS only with
// STARTUP_ACTION_POWER_ON. Plan steps run only in the modes they list.
//
// A commit policy (UNPLANNED only; CommitPolicy ACTION_COMMIT / _REVERT)
// adds, after the last group has ended, a wait "commit-policy.wait" of
// after_seconds (0: 3600) - a step of no group - then, for each VM, its
// COMMIT (or STOP_REPLICA and REVERT) "{group}.{vm-guid}.commit" on the replica
// host, once the wait and the VM's own steps have succeeded (a VM that
// failed is left for an operator). The policy is durable like any step;
// cancelling the execution during the wait cancels it.
#ifndef HVDR_PLANS_STEP_GRAPH_H_
#define HVDR_PLANS_STEP_GRAPH_H_

#include <map>
#include <string>
#include <vector>

#include "dr/v1/plan.pb.h"
#include "dr/v1/plan_execution.pb.h"

namespace hvdr {
namespace plans {

// Where a VM's copies are: hosts/{host} of each, "" when unknown.
struct VmPlacement {
  std::string primary_host;
  std::string replica_host;
};

// What a step waits for in a predecessor.
enum class Edge {
  // Its success (or its failure under ERROR_MODE_CONTINUE, or an operator
  // skipping it). A predecessor that failed otherwise skips the step
  // (SKIP_CAUSE_UPSTREAM_FAILED), unless the failure halted the execution:
  // the step then waits for the resume.
  kSuccess,
  // Its end, whatever the outcome (group boundaries).
  kEnd,
};

struct Step {
  // Unique in the execution, readable, fit for a resource name:
  // "{group}.before.{id}", "{group}.{vm-guid}.{kind}",
  // "{group}.{vm-guid}.before.{id}", "{group}.after.{id}".
  std::string id;
  dr::v1::StepKind kind = dr::v1::STEP_KIND_UNSPECIFIED;
  int group = 0;  // index into the plan's groups; -1 for the commit policy's wait
  int vm = -1;    // index into StepGraph::vms; -1 for a group's step
  // The plan step (prompt, wait, hook), else empty.
  dr::v1::PlanStep plan_step;
  // Operation steps: the host whose agent runs it; counts against the
  // per-host limit. Empty for other steps.
  std::string host;
  // Its failure halts the execution (a critical VM's step, or a group's
  // step under ERROR_MODE_STOP).
  bool critical = false;
  // Its failure is a warning only (a plan step under ERROR_MODE_CONTINUE).
  bool continue_on_error = false;
  // Predecessors (indexes into StepGraph::steps).
  std::vector<std::pair<int, Edge>> after;
  // Successors, the inverse of `after`.
  std::vector<std::pair<int, Edge>> before;

  // A gate: not a step of the execution but a point of the graph (the end
  // of a group, which the next group waits for), so that N ends and M
  // starts cost N + M edges, not N x M. Gates are never started, stored or
  // shown: the scheduler opens one when every predecessor has ended.
  bool gate = false;

  bool is_operation() const { return !host.empty(); }
};

struct VmEntry {
  std::string vm_id;  // canonical GUID
  int group = 0;
  int plan_index = 0;      // index in its group's vms
  std::vector<int> steps;  // its steps, in chain order
};

struct StepGraph {
  std::vector<Step> steps;  // in plan order, gates included
  std::vector<VmEntry> vms;
  std::vector<int> topo;  // every step, predecessors first
  std::map<std::string, int> by_id;
};

// True for the step kinds that are a Hyper-V operation (a job).
bool IsOperation(dr::v1::StepKind kind);

// Compiles `plan` (canonical: CanonicalPlan, no structural error) for
// `mode`. `placement` gives each VM's hosts (a VM missing from it, or a
// host missing, leaves its operation steps on host "hosts/-": validation
// reports such VMs before an execution starts).
StepGraph BuildStepGraph(const dr::v1::Plan& plan, dr::v1::ExecutionMode mode,
                         const std::map<std::string, VmPlacement>& placement,
                         const dr::v1::CommitPolicy& policy = dr::v1::CommitPolicy());

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_STEP_GRAPH_H_
