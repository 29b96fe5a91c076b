// Store (storage/store.h) on an embedded SQLite database: WAL journal,
// foreign keys, schema migrations keyed on PRAGMA user_version, prepared
// statements reused, a busy timeout, one explicit transaction per mutating
// call, and reads on their own connections (storage/store_db.h). Each
// aggregate has its repository (storage/sqlite_{hosts,inventory,jobs,
// job_queries,requests}.h); this class puts them behind one interface.
#ifndef HVDR_STORAGE_SQLITE_STORE_H_
#define HVDR_STORAGE_SQLITE_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/audit_store.h"
#include "storage/sqlite_audit.h"
#include "storage/sqlite_executions.h"
#include "storage/sqlite_hosts.h"
#include "storage/sqlite_inventory.h"
#include "storage/sqlite_job_queries.h"
#include "storage/sqlite_jobs.h"
#include "storage/sqlite_plans.h"
#include "storage/sqlite_requests.h"
#include "storage/store.h"
#include "storage/store_db.h"

namespace hvdr {

class SqliteStore final : public Store, public AuditStore {
 public:
  using Options = StoreDb::Options;

  // StoreDb::Open (storage/store_db.h): opens or creates the database at
  // `path`, checked, locked and migrated.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const Options& options);

  absl::StatusOr<bool> CreateHost(const dr::v1::Host& host, const RequestKey* key) override;
  absl::StatusOr<dr::v1::Host> GetHost(const std::string& name) override;
  absl::StatusOr<Page<dr::v1::Host>> ListHosts(const std::string& site,
                                               const PageRequest& page) override;
  absl::StatusOr<Page<dr::v1::Site>> ListSites(const PageRequest& page) override;
  absl::Status UpdateHostContact(const dr::v1::Host& host) override;
  absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key) override;
  absl::Status ReplaceInventory(const std::string& host,
                                const std::vector<dr::v1::VirtualMachineInventory>& vms,
                                absl::Time sync_time) override;
  absl::Status UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm) override;
  absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(const std::string& name) override;
  absl::StatusOr<std::vector<dr::v1::VirtualMachine>> FindVirtualMachinesById(
      const std::string& vm_id) override;
  absl::StatusOr<Page<dr::v1::VirtualMachine>> ListVirtualMachines(
      const VirtualMachineFilter& filter, const PageRequest& page) override;
  absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>> ListReplicationRelationships(
      const std::string& vm) override;
  absl::StatusOr<Page<dr::v1::RecoveryPoint>> ListRecoveryPoints(const std::string& vm,
                                                                 const PageRequest& page) override;
  absl::StatusOr<dr::v1::RecoveryPoint> GetRecoveryPoint(const std::string& name) override;
  absl::StatusOr<CreateJobResult> CreateJob(const dr::v1::Job& job, const RequestKey& key,
                                            const std::string& operation) override;
  absl::StatusOr<CreateJobResult> ReserveJobRequest(const std::string& job,
                                                    const RequestKey& key) override;
  absl::Status ReleaseJobRequest(const std::string& job, const RequestKey& key) override;
  absl::StatusOr<std::string> GetJobOperation(const std::string& name) override;
  absl::StatusOr<dr::v1::Job> GetJob(const std::string& name) override;
  absl::StatusOr<Page<dr::v1::Job>> ListJobs(const JobFilter& filter,
                                             const PageRequest& page) override;
  absl::StatusOr<std::vector<dr::v1::Job>> ListActiveJobs() override;
  absl::StatusOr<dr::v1::Job> UpdateJob(const JobUpdate& update) override;
  std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) override;
  absl::StatusOr<Page<dr::v1::JobEvent>> ListJobEvents(const std::string& job,
                                                       const PageRequest& page) override;
  absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs) override;
  absl::StatusOr<Recorded<dr::v1::Plan>> CreatePlan(const dr::v1::Plan& plan, absl::Time now,
                                                    const RequestKey& key) override;
  absl::StatusOr<Recorded<dr::v1::Plan>> UpdatePlan(const dr::v1::Plan& plan,
                                                    const std::string& etag, absl::Time now,
                                                    const RequestKey& key) override;
  absl::StatusOr<dr::v1::Plan> GetPlan(const std::string& name) override;
  absl::StatusOr<Page<dr::v1::Plan>> ListPlans(const PageRequest& page) override;
  absl::StatusOr<bool> DeletePlan(const std::string& name, const std::string& etag,
                                  const RequestKey& key) override;
  absl::StatusOr<Recorded<dr::v1::PlanExecution>> CreateExecution(
      const dr::v1::PlanExecution& execution, const dr::v1::Plan& plan,
      const std::vector<dr::v1::ExecutionStep>& steps, const std::vector<std::string>& vm_ids,
      const RequestKey& key) override;
  absl::StatusOr<dr::v1::PlanExecution> GetExecution(const std::string& name) override;
  absl::StatusOr<dr::v1::Plan> GetExecutionPlan(const std::string& name) override;
  absl::StatusOr<Page<dr::v1::PlanExecution>> ListExecutions(const std::string& plan,
                                                             const PageRequest& page) override;
  absl::StatusOr<Page<dr::v1::ExecutionStep>> ListExecutionSteps(const std::string& execution,
                                                                 const PageRequest& page) override;
  absl::StatusOr<std::vector<dr::v1::ExecutionStep>> GetExecutionSteps(
      const std::string& execution) override;
  absl::StatusOr<std::vector<dr::v1::PlanExecution>> ListActiveExecutions() override;
  absl::StatusOr<Recorded<dr::v1::PlanExecution>> UpdateExecution(
      const dr::v1::PlanExecution& execution,
      const std::vector<std::pair<int, dr::v1::ExecutionStep>>& steps,
      const RequestKey* key) override;
  absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) override;
  absl::Status PutRequest(const std::string& request_id, const RequestRecord& record) override;
  using JobStore::CreateJob;
  absl::Status AppendAuditEvents(const std::vector<dr::v1::AuditEvent>& events) override {
    return audit_.AppendAuditEvents(events);
  }
  absl::StatusOr<Page<dr::v1::AuditEvent>> ListAuditEvents(const AuditFilter& filter,
                                                           const PageRequest& page) override {
    return audit_.ListAuditEvents(filter, page);
  }

  // As StoreDb's (storage/store_db.h).
  absl::Status CheckIntegrity() { return db_->CheckIntegrity(); }
  bool writable() { return db_->writable(); }
  void SetWriteObserver(std::function<void(bool writable)> observer) {
    db_->SetWriteObserver(std::move(observer));
  }
  absl::Status LimitPagesForTest(int64_t max_pages) { return db_->LimitPagesForTest(max_pages); }

 private:
  explicit SqliteStore(std::unique_ptr<StoreDb> db)
      : db_(std::move(db)),
        hosts_(db_.get()),
        inventory_(db_.get()),
        jobs_(db_.get()),
        job_queries_(db_.get()),
        requests_(db_.get()),
        plans_(db_.get()),
        executions_(db_.get()),
        audit_(db_.get()) {}

  const std::unique_ptr<StoreDb> db_;
  SqliteHosts hosts_;
  SqliteInventory inventory_;
  SqliteJobs jobs_;
  SqliteJobQueries job_queries_;
  SqliteRequests requests_;
  SqlitePlans plans_;
  SqliteExecutions executions_;
  SqliteAudit audit_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_STORE_H_
