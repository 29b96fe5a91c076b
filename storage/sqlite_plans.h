// The plans aggregate on SQLite (storage/plan_store.h has the contract):
// plans as serialized dr.v1.Plan rows; executions with the plan as run;
// their steps by position; and the VM claims of executions not ended.
#ifndef HVDR_STORAGE_SQLITE_PLANS_H_
#define HVDR_STORAGE_SQLITE_PLANS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/plan_store.h"
#include "storage/store_db.h"

namespace hvdr {

class SqlitePlans {
 public:
  explicit SqlitePlans(StoreDb* db) : db_(db) {}

  absl::StatusOr<Recorded<dr::v1::Plan>> CreatePlan(const dr::v1::Plan& plan, absl::Time now,
                                                    const RequestKey& key);
  absl::StatusOr<Recorded<dr::v1::Plan>> UpdatePlan(const dr::v1::Plan& plan,
                                                    const std::string& etag, absl::Time now,
                                                    const RequestKey& key);
  absl::StatusOr<dr::v1::Plan> GetPlan(const std::string& name);
  absl::StatusOr<Page<dr::v1::Plan>> ListPlans(const PageRequest& page);
  absl::StatusOr<bool> DeletePlan(const std::string& name, const std::string& etag,
                                  const RequestKey& key);

  absl::StatusOr<Recorded<dr::v1::PlanExecution>> CreateExecution(
      const dr::v1::PlanExecution& execution, const dr::v1::Plan& plan,
      const std::vector<dr::v1::ExecutionStep>& steps, const std::vector<std::string>& vm_ids,
      const RequestKey& key);
  absl::StatusOr<dr::v1::PlanExecution> GetExecution(const std::string& name);
  absl::StatusOr<dr::v1::Plan> GetExecutionPlan(const std::string& name);
  absl::StatusOr<Page<dr::v1::PlanExecution>> ListExecutions(const std::string& plan,
                                                             const PageRequest& page);
  absl::StatusOr<Page<dr::v1::ExecutionStep>> ListExecutionSteps(const std::string& execution,
                                                                 const PageRequest& page);
  absl::StatusOr<std::vector<dr::v1::ExecutionStep>> GetExecutionSteps(
      const std::string& execution);
  absl::StatusOr<std::vector<dr::v1::PlanExecution>> ListActiveExecutions();
  absl::StatusOr<Recorded<dr::v1::PlanExecution>> UpdateExecution(
      const dr::v1::PlanExecution& execution,
      const std::vector<std::pair<int, dr::v1::ExecutionStep>>& steps, const RequestKey* key);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_PLANS_H_
