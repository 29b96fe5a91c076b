#include "storage/sqlite_store.h"

namespace hvdr {

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const Options& options) {
  absl::StatusOr<std::unique_ptr<StoreDb>> db = StoreDb::Open(path, options);
  if (!db.ok()) return db.status();
  return std::unique_ptr<SqliteStore>(new SqliteStore(*std::move(db)));
}

absl::StatusOr<bool> SqliteStore::CreateHost(const dr::v1::Host& host, const RequestKey* key) {
  return hosts_.CreateHost(host, key);
}

absl::StatusOr<dr::v1::Host> SqliteStore::GetHost(const std::string& name) {
  return hosts_.GetHost(name);
}

absl::StatusOr<Page<dr::v1::Host>> SqliteStore::ListHosts(const std::string& site,
                                                          const PageRequest& page) {
  return hosts_.ListHosts(site, page);
}

absl::StatusOr<Page<dr::v1::Site>> SqliteStore::ListSites(const PageRequest& page) {
  return hosts_.ListSites(page);
}

absl::Status SqliteStore::UpdateHostContact(const dr::v1::Host& host) {
  return hosts_.UpdateHostContact(host);
}

absl::StatusOr<bool> SqliteStore::DeleteHost(const std::string& name, const RequestKey* key) {
  return hosts_.DeleteHost(name, key);
}

absl::Status SqliteStore::ReplaceInventory(const std::string& host,
                                           const std::vector<dr::v1::VirtualMachineInventory>& vms,
                                           absl::Time sync_time) {
  return inventory_.ReplaceInventory(host, vms, sync_time);
}

absl::Status SqliteStore::UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm) {
  return inventory_.UpdateVirtualMachineState(vm);
}

absl::StatusOr<dr::v1::VirtualMachine> SqliteStore::GetVirtualMachine(const std::string& name) {
  return inventory_.GetVirtualMachine(name);
}

absl::StatusOr<std::vector<dr::v1::VirtualMachine>> SqliteStore::FindVirtualMachinesById(
    const std::string& vm_id) {
  return inventory_.FindVirtualMachinesById(vm_id);
}

absl::StatusOr<Page<dr::v1::VirtualMachine>> SqliteStore::ListVirtualMachines(
    const VirtualMachineFilter& filter, const PageRequest& page) {
  return inventory_.ListVirtualMachines(filter, page);
}

absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>>
SqliteStore::ListReplicationRelationships(const std::string& vm) {
  return inventory_.ListReplicationRelationships(vm);
}

absl::StatusOr<Page<dr::v1::RecoveryPoint>> SqliteStore::ListRecoveryPoints(
    const std::string& vm, const PageRequest& page) {
  return inventory_.ListRecoveryPoints(vm, page);
}

absl::StatusOr<dr::v1::RecoveryPoint> SqliteStore::GetRecoveryPoint(const std::string& name) {
  return inventory_.GetRecoveryPoint(name);
}

absl::StatusOr<CreateJobResult> SqliteStore::CreateJob(const dr::v1::Job& job,
                                                       const RequestKey& key,
                                                       const std::string& operation) {
  return jobs_.CreateJob(job, key, operation);
}

absl::StatusOr<CreateJobResult> SqliteStore::ReserveJobRequest(const std::string& job,
                                                               const RequestKey& key) {
  return jobs_.ReserveJobRequest(job, key);
}

absl::Status SqliteStore::ReleaseJobRequest(const std::string& job, const RequestKey& key) {
  return jobs_.ReleaseJobRequest(job, key);
}

absl::StatusOr<std::string> SqliteStore::GetJobOperation(const std::string& name) {
  return job_queries_.GetJobOperation(name);
}

absl::StatusOr<dr::v1::Job> SqliteStore::GetJob(const std::string& name) {
  return job_queries_.GetJob(name);
}

absl::StatusOr<Page<dr::v1::Job>> SqliteStore::ListJobs(const JobFilter& filter,
                                                        const PageRequest& page) {
  return job_queries_.ListJobs(filter, page);
}

absl::StatusOr<std::vector<dr::v1::Job>> SqliteStore::ListActiveJobs() {
  return job_queries_.ListActiveJobs();
}

absl::StatusOr<dr::v1::Job> SqliteStore::UpdateJob(const JobUpdate& update) {
  return jobs_.UpdateJob(update);
}

std::vector<WriteResult> SqliteStore::Write(const std::vector<WriteOp>& ops) {
  return jobs_.Write(ops);
}

absl::StatusOr<Page<dr::v1::JobEvent>> SqliteStore::ListJobEvents(const std::string& job,
                                                                  const PageRequest& page) {
  return job_queries_.ListJobEvents(job, page);
}

absl::StatusOr<int> SqliteStore::PruneJobs(absl::Time ended_before, int max_jobs) {
  return jobs_.PruneJobs(ended_before, max_jobs);
}

absl::StatusOr<RequestRecord> SqliteStore::GetRequest(const std::string& request_id) {
  return requests_.GetRequest(request_id);
}

absl::Status SqliteStore::PutRequest(const std::string& request_id, const RequestRecord& record) {
  return requests_.PutRequest(request_id, record);
}

absl::StatusOr<Recorded<dr::v1::Plan>> SqliteStore::CreatePlan(const dr::v1::Plan& plan,
                                                               absl::Time now,
                                                               const RequestKey& key) {
  return plans_.CreatePlan(plan, now, key);
}

absl::StatusOr<Recorded<dr::v1::Plan>> SqliteStore::UpdatePlan(const dr::v1::Plan& plan,
                                                               const std::string& etag,
                                                               absl::Time now,
                                                               const RequestKey& key) {
  return plans_.UpdatePlan(plan, etag, now, key);
}

absl::StatusOr<dr::v1::Plan> SqliteStore::GetPlan(const std::string& name) {
  return plans_.GetPlan(name);
}

absl::StatusOr<Page<dr::v1::Plan>> SqliteStore::ListPlans(const PageRequest& page) {
  return plans_.ListPlans(page);
}

absl::StatusOr<bool> SqliteStore::DeletePlan(const std::string& name, const std::string& etag,
                                             const RequestKey& key) {
  return plans_.DeletePlan(name, etag, key);
}

absl::StatusOr<Recorded<dr::v1::PlanExecution>> SqliteStore::CreateExecution(
    const dr::v1::PlanExecution& execution, const dr::v1::Plan& plan,
    const std::vector<dr::v1::ExecutionStep>& steps, const std::vector<std::string>& vm_ids,
    const RequestKey& key) {
  return executions_.CreateExecution(execution, plan, steps, vm_ids, key);
}

absl::StatusOr<dr::v1::PlanExecution> SqliteStore::GetExecution(const std::string& name) {
  return executions_.GetExecution(name);
}

absl::StatusOr<dr::v1::Plan> SqliteStore::GetExecutionPlan(const std::string& name) {
  return executions_.GetExecutionPlan(name);
}

absl::StatusOr<Page<dr::v1::PlanExecution>> SqliteStore::ListExecutions(const std::string& plan,
                                                                        const PageRequest& page) {
  return executions_.ListExecutions(plan, page);
}

absl::StatusOr<Page<dr::v1::ExecutionStep>> SqliteStore::ListExecutionSteps(
    const std::string& execution, const PageRequest& page) {
  return executions_.ListExecutionSteps(execution, page);
}

absl::StatusOr<std::vector<dr::v1::ExecutionStep>> SqliteStore::GetExecutionSteps(
    const std::string& execution) {
  return executions_.GetExecutionSteps(execution);
}

absl::StatusOr<std::vector<dr::v1::PlanExecution>> SqliteStore::ListActiveExecutions() {
  return executions_.ListActiveExecutions();
}

absl::StatusOr<Recorded<dr::v1::PlanExecution>> SqliteStore::UpdateExecution(
    const dr::v1::PlanExecution& execution,
    const std::vector<std::pair<int, dr::v1::ExecutionStep>>& steps, const RequestKey* key) {
  return executions_.UpdateExecution(execution, steps, key);
}

}  // namespace hvdr
