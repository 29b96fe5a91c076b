// PlanService logic, free of gRPC: checks plan requests, stores plans
// through the Store, and validates a plan against the topology
// (plans/plan_validation.h) from what the store knows. Every refusal names
// the field and carries the Hyper-V return code (docs/api.md).
// Running executions is server/plan_executor.h's; the calls here read
// what is stored.
#ifndef HVDR_SERVER_PLANS_H_
#define HVDR_SERVER_PLANS_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "dr/v1/plan_service.pb.h"
#include "plans/plan_validation.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class PlanLogic {
 public:
  struct Options {
    // Where hook executables live; "" runs no hooks (HOOKS_DISABLED).
    std::string hooks_dir;
  };

  // Not owned.
  PlanLogic(Store* store, Clock* clock, Options options)
      : store_(store), clock_(clock), options_(std::move(options)) {}

  // INVALID_ARGUMENT (32773) naming the field for a plan whose structure
  // is wrong (plans/plan_check.h: the first problem, and how many more);
  // the stored plan has its GUIDs in canonical form.
  absl::StatusOr<dr::v1::Plan> CreatePlan(const dr::v1::CreatePlanRequest& request);
  absl::StatusOr<dr::v1::Plan> UpdatePlan(const dr::v1::UpdatePlanRequest& request);
  absl::StatusOr<dr::v1::Plan> GetPlan(const dr::v1::GetPlanRequest& request);
  absl::StatusOr<dr::v1::ListPlansResponse> ListPlans(const dr::v1::ListPlansRequest& request);
  absl::Status DeletePlan(const dr::v1::DeletePlanRequest& request);
  // Every finding of the plan's structure and of the topology for the
  // mode; runs nothing and writes nothing.
  absl::StatusOr<dr::v1::ValidatePlanResponse> ValidatePlan(
      const dr::v1::ValidatePlanRequest& request);

  absl::StatusOr<dr::v1::PlanExecution> GetPlanExecution(
      const dr::v1::GetPlanExecutionRequest& request);
  absl::StatusOr<dr::v1::ListPlanExecutionsResponse> ListPlanExecutions(
      const dr::v1::ListPlanExecutionsRequest& request);
  absl::StatusOr<dr::v1::ListExecutionStepsResponse> ListExecutionSteps(
      const dr::v1::ListExecutionStepsRequest& request);
  // The report of an execution (plans/report.h), also of one still running:
  // the execution, the plan as it ran, every step, and per VM its result,
  // recovery point, RPO and RTO; display names from the VMs' copies in the
  // plan's sites as the store now knows them. INVALID_ARGUMENT naming
  // "name" for a malformed name; NOT_FOUND for an unknown execution.
  // Reads the whole execution: call it off the gRPC reactor threads.
  absl::StatusOr<dr::v1::ExecutionReport> GetExecutionReport(
      const dr::v1::GetExecutionReportRequest& request);
  // WatchPlanExecution's first message: the execution `name` as stored and
  // every step, read after it (so the steps are at least as new: when the
  // execution read is terminal they are its last). INVALID_ARGUMENT or
  // NOT_FOUND naming "name".
  absl::StatusOr<dr::v1::WatchPlanExecutionResponse> WatchSnapshot(const std::string& name);

  // The topology as ValidatePlan sees it for `plan` (canonical): the VMs'
  // copies (read per site, in pages), recovery points where a policy needs
  // them, relationships where the RPO check needs the interval, hosts, the
  // executions holding VMs, and the hooks directory.
  absl::StatusOr<plans::TopologySnapshot> Snapshot(const dr::v1::Plan& plan);

 private:
  absl::StatusOr<dr::v1::Plan> CheckedPlan(const dr::v1::Plan& plan, const std::string& request_id,
                                           const std::string& requester);

  Store* const store_;
  Clock* const clock_;
  const Options options_;
};

// plans/{plan}: the plan's id, or INVALID_ARGUMENT naming `field`.
absl::StatusOr<std::string> ParsePlanName(const std::string& field, const std::string& name);
// plans/{plan}/executions/{execution}: the plan's name.
absl::StatusOr<std::string> ParseExecutionName(const std::string& field, const std::string& name);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_PLANS_H_
