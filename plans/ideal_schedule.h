// The shortest an execution of a plan could take: a lower bound on its
// makespan from the step graph, each step's duration and the concurrency
// limits, with no overhead at all (every step starts the instant it may).
// The benchmark (bench/drbench.cc, group "plans") measures a real run
// against it; the ratio says what the executor's own latency costs.
//
// Per group, the bound is the largest of
//  - the longest chain: the heaviest path through the group's steps
//    (group steps, each VM's chain, the depends_on edges between VMs);
//  - the busiest host: the operation time on one host / max_per_host, plus
//    the shortest tail any of its operations has (what must follow an
//    operation in its group: after the host's last operation ends, its
//    tail still runs, e.g. the guest's boot after a START);
//  - the whole group: its operation time / max_total, plus the shortest
//    tail of any of its operations;
// and the groups add up, since a group starts only when the previous one
// has ended (plans/step_graph.h). Steps of no group (a commit policy's
// wait and what follows it) are not counted. Each term is a bound on its own (a
// chain runs in order; no more than the limit runs at once), so their
// maximum is one too; it is reached when the chains fit in the slots.
#ifndef HVDR_PLANS_IDEAL_SCHEDULE_H_
#define HVDR_PLANS_IDEAL_SCHEDULE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dr/v1/plan_execution.pb.h"
#include "plans/scheduler.h"
#include "plans/step_graph.h"

namespace hvdr {
namespace plans {

// How long each step takes.
struct StepDurations {
  // Per operation kind (the simulator's per-operation job durations);
  // an operation kind not listed takes `default_operation`.
  std::map<dr::v1::StepKind, absl::Duration> operations;
  absl::Duration default_operation = absl::ZeroDuration();
  // A READINESS step: from the VM's start to its guest reporting ready
  // (the guest's boot time; zero while the simulator boots at once).
  // Readiness holds no host slot.
  absl::Duration readiness = absl::ZeroDuration();
  // A HOOK step. A WAIT step takes its seconds; a PROMPT takes no time (the
  // bound assumes an instant answer); a gate takes no time.
  absl::Duration hook = absl::ZeroDuration();
};

// The bound of one group and the terms it is the largest of.
struct GroupBound {
  absl::Duration longest_chain;
  absl::Duration busiest_host;  // its operation time / max_per_host + its shortest tail
  std::string busiest_host_name;
  absl::Duration all_operations;  // the group's operation time / max_total + shortest tail
  absl::Duration bound;           // the largest of the three
};

struct IdealSchedule {
  std::vector<GroupBound> groups;  // one per plan group, in order
  absl::Duration makespan;         // the sum of the groups' bounds
};

// The lower bound for `graph` (BuildStepGraph's) with `durations` and
// `limits` (the plan's, defaults resolved). INVALID_ARGUMENT, naming the
// field, for a negative duration or a limit below 1, or for a graph that
// is not a DAG (its topo order does not hold every step).
absl::StatusOr<IdealSchedule> IdealMakespan(const StepGraph& graph, const StepDurations& durations,
                                            const Scheduler::Limits& limits);

// The duration `durations` gives `step`.
absl::Duration DurationOf(const Step& step, const StepDurations& durations);

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_IDEAL_SCHEDULE_H_
