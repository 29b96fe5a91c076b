// The checks of a recovery plan's own structure: everything that can be
// said of a plan without looking at the topology (ids, GUIDs, the
// dependency DAG, steps, limits, network settings). CreatePlan and
// UpdatePlan refuse a plan with any error; ValidatePlan lists these
// findings with the topology's (plans/plan_validation.h).
#ifndef HVDR_PLANS_PLAN_CHECK_H_
#define HVDR_PLANS_PLAN_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dr/v1/plan.pb.h"
#include "dr/v1/plan_execution.pb.h"

namespace hvdr {
namespace plans {

// Bounds of a plan (docs/api.md). There is no cap on groups or VMs below
// these; a plan of 10,000 VMs is an ordinary plan.
inline constexpr int kMaxVms = 100000;
inline constexpr int kMaxGroups = 1000;
inline constexpr int kMaxStepsPerList = 32;
inline constexpr int kMaxDependsOn = 64;
inline constexpr size_t kMaxDescription = 4096;
inline constexpr size_t kMaxPromptMessage = 1024;
inline constexpr uint32_t kMaxWaitSeconds = 86400;
inline constexpr uint32_t kMaxStepTimeoutSeconds = 604800;
inline constexpr uint32_t kMaxVmTimeoutSeconds = 86400;
inline constexpr uint32_t kMaxRecoveryPointAgeSeconds = 2592000;
inline constexpr uint32_t kMaxOperationsPerHost = 1024;
inline constexpr uint32_t kMaxOperations = 100000;

// Every problem of `plan`'s structure, in field order; none when it is
// sound. Each finding has severity ERROR, the field path (e.g.
// "groups[1].vms[3].depends_on[0]"), a reason and Hyper-V code 32773. A
// dependency cycle is reported once, naming every VM on it in order
// ("A -> B -> A"). `plan.name` is not checked (the caller names the plan).
std::vector<dr::v1::Finding> CheckPlanStructure(const dr::v1::Plan& plan);

// The plan with every GUID (vm_id, depends_on) in canonical form.
// REQUIRES: CheckPlanStructure(plan) found no error.
dr::v1::Plan CanonicalPlan(dr::v1::Plan plan);

// INVALID_ARGUMENT (32773) for the first error of `findings`, naming its
// field (prefixed with `prefix`, e.g. "plan.") and saying how many more
// there are; OK when there is none.
absl::Status FindingsStatus(const std::vector<dr::v1::Finding>& findings,
                            const std::string& prefix);

// Hex SHA-256 of what the plan asks for: its deterministic serialization
// without the output-only fields (version, etag, times). Two plans with the
// same hash run the same way.
std::string PlanHash(const dr::v1::Plan& plan);

// The `plan.name` id: 1-63 of a-z, 0-9 and '-', starting with a letter.
absl::Status CheckPlanName(const std::string& field, const std::string& name);

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_PLAN_CHECK_H_
