// The report of one execution of a recovery plan, as auditors read it
// (docs/api.md, GetExecutionReport): the execution, the plan as it ran,
// every step, and per VM its result, the recovery point it came back from
// and the RPO and RTO achieved. Plain logic over what the store recorded;
// the server reads it (server/plans.h) and drctl renders it
// (cli/report_render.h).
#ifndef HVDR_PLANS_REPORT_H_
#define HVDR_PLANS_REPORT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "dr/v1/plan.pb.h"
#include "dr/v1/plan_execution.pb.h"

namespace hvdr {
namespace plans {

// What the report needs to know of the VMs beyond the execution's record.
struct ReportFacts {
  // GUID (canonical, as in the plan) -> the VM's display name. A VM not
  // in the map gets no display name.
  std::map<std::string, std::string> display_names;
};

// The report of `execution`, run with `plan` (the plan as it ran), whose
// steps are `steps` (as stored: the step graph's order, which is the
// plan's), made at `now`. One VmReport per VM of the plan, in plan order:
//  - result: FAILED when one of its steps failed; else PENDING (none
//    started) or RUNNING while one is not done; else SKIPPED when all were
//    skipped, or one was skipped because a step it waits for failed or the
//    execution was cancelled; else SUCCEEDED (a step an operator skipped
//    counts as done); a VM without steps (nothing ran: validation found
//    errors, or validate_only) is SKIPPED once the execution has ended;
//  - recovery_point and data_time from its FAILOVER / TEST_FAILOVER step;
//  - rpo_seconds = that step's start_time - data_time;
//  - rto_seconds = the end of its READINESS step when it succeeded (even if
//    a later step failed: the VM was up), else - for a SUCCEEDED VM only -
//    of its last succeeded step, minus the execution's create_time;
//  - error: its first failed step's error (or why it was skipped).
// A fact not recorded (no failover step in the mode, a step that never
// started, no data_time) is left unset, never given as zero.
dr::v1::ExecutionReport BuildExecutionReport(const dr::v1::Plan& plan,
                                             const dr::v1::PlanExecution& execution,
                                             const std::vector<dr::v1::ExecutionStep>& steps,
                                             const ReportFacts& facts, absl::Time now);

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_REPORT_H_
