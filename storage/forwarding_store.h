// A Store that forwards every call to another one, in the manner of
// leveldb's EnvWrapper: a test derives from it and overrides the one call
// it wants to observe, delay or fail (e.g. to run a retry at the exact
// moment between two steps of the first call).
//
// Thread-safety: as the target's. Ownership: `target` is not owned and must
// outlive this.
#ifndef HVDR_STORAGE_FORWARDING_STORE_H_
#define HVDR_STORAGE_FORWARDING_STORE_H_

#include <string>
#include <vector>

#include "storage/store.h"

namespace hvdr {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store* target) : target_(target) {}

  Store* target() const { return target_; }

  absl::StatusOr<bool> CreateHost(const dr::v1::Host& host, const RequestKey* key) override {
    return target_->CreateHost(host, key);
  }
  absl::StatusOr<dr::v1::Host> GetHost(const std::string& name) override {
    return target_->GetHost(name);
  }
  absl::StatusOr<Page<dr::v1::Host>> ListHosts(const std::string& site,
                                               const PageRequest& page) override {
    return target_->ListHosts(site, page);
  }
  absl::StatusOr<Page<dr::v1::Site>> ListSites(const PageRequest& page) override {
    return target_->ListSites(page);
  }
  absl::Status UpdateHostContact(const dr::v1::Host& host) override {
    return target_->UpdateHostContact(host);
  }
  absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key) override {
    return target_->DeleteHost(name, key);
  }
  absl::Status ReplaceInventory(const std::string& host,
                                const std::vector<dr::v1::VirtualMachineInventory>& vms,
                                absl::Time sync_time) override {
    return target_->ReplaceInventory(host, vms, sync_time);
  }
  absl::Status UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm) override {
    return target_->UpdateVirtualMachineState(vm);
  }
  absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(const std::string& name) override {
    return target_->GetVirtualMachine(name);
  }
  absl::StatusOr<std::vector<dr::v1::VirtualMachine>> FindVirtualMachinesById(
      const std::string& vm_id) override {
    return target_->FindVirtualMachinesById(vm_id);
  }
  absl::StatusOr<Page<dr::v1::VirtualMachine>> ListVirtualMachines(
      const VirtualMachineFilter& filter, const PageRequest& page) override {
    return target_->ListVirtualMachines(filter, page);
  }
  absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>> ListReplicationRelationships(
      const std::string& vm) override {
    return target_->ListReplicationRelationships(vm);
  }
  absl::StatusOr<Page<dr::v1::RecoveryPoint>> ListRecoveryPoints(const std::string& vm,
                                                                 const PageRequest& page) override {
    return target_->ListRecoveryPoints(vm, page);
  }
  absl::StatusOr<dr::v1::RecoveryPoint> GetRecoveryPoint(const std::string& name) override {
    return target_->GetRecoveryPoint(name);
  }
  using Store::CreateJob;
  absl::StatusOr<CreateJobResult> CreateJob(const dr::v1::Job& job, const RequestKey& key,
                                            const std::string& operation) override {
    return target_->CreateJob(job, key, operation);
  }
  absl::StatusOr<CreateJobResult> ReserveJobRequest(const std::string& job,
                                                    const RequestKey& key) override {
    return target_->ReserveJobRequest(job, key);
  }
  absl::Status ReleaseJobRequest(const std::string& job, const RequestKey& key) override {
    return target_->ReleaseJobRequest(job, key);
  }
  absl::StatusOr<std::string> GetJobOperation(const std::string& name) override {
    return target_->GetJobOperation(name);
  }
  absl::StatusOr<dr::v1::Job> GetJob(const std::string& name) override {
    return target_->GetJob(name);
  }
  absl::StatusOr<Page<dr::v1::Job>> ListJobs(const JobFilter& filter,
                                             const PageRequest& page) override {
    return target_->ListJobs(filter, page);
  }
  absl::StatusOr<std::vector<dr::v1::Job>> ListActiveJobs() override {
    return target_->ListActiveJobs();
  }
  absl::StatusOr<dr::v1::Job> UpdateJob(const JobUpdate& update) override {
    return target_->UpdateJob(update);
  }
  std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) override {
    return target_->Write(ops);
  }
  absl::StatusOr<Page<dr::v1::JobEvent>> ListJobEvents(const std::string& job,
                                                       const PageRequest& page) override {
    return target_->ListJobEvents(job, page);
  }
  absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs) override {
    return target_->PruneJobs(ended_before, max_jobs);
  }
  absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) override {
    return target_->GetRequest(request_id);
  }
  absl::Status PutRequest(const std::string& request_id, const RequestRecord& record) override {
    return target_->PutRequest(request_id, record);
  }

  absl::StatusOr<Recorded<dr::v1::Plan>> CreatePlan(const dr::v1::Plan& plan, absl::Time now,
                                                    const RequestKey& key) override {
    return target_->CreatePlan(plan, now, key);
  }
  absl::StatusOr<Recorded<dr::v1::Plan>> UpdatePlan(const dr::v1::Plan& plan,
                                                    const std::string& etag, absl::Time now,
                                                    const RequestKey& key) override {
    return target_->UpdatePlan(plan, etag, now, key);
  }
  absl::StatusOr<dr::v1::Plan> GetPlan(const std::string& name) override {
    return target_->GetPlan(name);
  }
  absl::StatusOr<Page<dr::v1::Plan>> ListPlans(const PageRequest& page) override {
    return target_->ListPlans(page);
  }
  absl::StatusOr<bool> DeletePlan(const std::string& name, const std::string& etag,
                                  const RequestKey& key) override {
    return target_->DeletePlan(name, etag, key);
  }
  absl::StatusOr<Recorded<dr::v1::PlanExecution>> CreateExecution(
      const dr::v1::PlanExecution& execution, const dr::v1::Plan& plan,
      const std::vector<dr::v1::ExecutionStep>& steps, const std::vector<std::string>& vm_ids,
      const RequestKey& key) override {
    return target_->CreateExecution(execution, plan, steps, vm_ids, key);
  }
  absl::StatusOr<dr::v1::PlanExecution> GetExecution(const std::string& name) override {
    return target_->GetExecution(name);
  }
  absl::StatusOr<dr::v1::Plan> GetExecutionPlan(const std::string& name) override {
    return target_->GetExecutionPlan(name);
  }
  absl::StatusOr<Page<dr::v1::PlanExecution>> ListExecutions(const std::string& plan,
                                                             const PageRequest& page) override {
    return target_->ListExecutions(plan, page);
  }
  absl::StatusOr<Page<dr::v1::ExecutionStep>> ListExecutionSteps(const std::string& execution,
                                                                 const PageRequest& page) override {
    return target_->ListExecutionSteps(execution, page);
  }
  absl::StatusOr<std::vector<dr::v1::ExecutionStep>> GetExecutionSteps(
      const std::string& execution) override {
    return target_->GetExecutionSteps(execution);
  }
  absl::StatusOr<std::vector<dr::v1::PlanExecution>> ListActiveExecutions() override {
    return target_->ListActiveExecutions();
  }
  absl::StatusOr<Recorded<dr::v1::PlanExecution>> UpdateExecution(
      const dr::v1::PlanExecution& execution,
      const std::vector<std::pair<int, dr::v1::ExecutionStep>>& steps,
      const RequestKey* key) override {
    return target_->UpdateExecution(execution, steps, key);
  }

 private:
  Store* const target_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_FORWARDING_STORE_H_
