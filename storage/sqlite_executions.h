// Plan executions on SQLite, the executions half of the plans aggregate
// (storage/plan_store.h has the contract): an execution with the plan as
// run, its steps by position (serialized dr.v1.ExecutionStep), and the VM
// claims of executions not ended (one active execution per VM).
#ifndef HVDR_STORAGE_SQLITE_EXECUTIONS_H_
#define HVDR_STORAGE_SQLITE_EXECUTIONS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "db/sqlite.h"
#include "storage/plan_store.h"
#include "storage/store_db.h"

namespace hvdr {

class SqliteExecutions {
 public:
  explicit SqliteExecutions(StoreDb* db) : db_(db) {}

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

  // The following REQUIRE `db` to be the writer inside a transaction.

  // The first execution of `plan` not ended, or "".
  static absl::StatusOr<std::string> ActiveOfPlanIn(Sqlite& db, const std::string& plan);
  // Deletes every execution of `plan`, with its steps and claims.
  static absl::Status DeleteOfPlanIn(Sqlite& db, const std::string& plan);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_EXECUTIONS_H_
