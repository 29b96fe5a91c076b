// Recovery plans on SQLite, the plans half of the plans aggregate
// (storage/plan_store.h has the contract): one row per plan, a serialized
// dr.v1.Plan with its version and etag. Their executions are in
// storage/sqlite_executions.h; deleting a plan deletes them.
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

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_PLANS_H_
