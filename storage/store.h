// The orchestrator's durable state: topology (sites, hosts, VM copies,
// relationships, recovery points), jobs with their event history, and the
// idempotency records that make retried requests safe.
//
// Contract for every implementation:
//  - Thread-safety: every method may be called concurrently from any thread.
//  - Atomicity: every mutating method is one transaction; on any error
//    nothing it would have written is visible, and nothing stored before is
//    lost.
//  - Durability: when a mutating method returns OK its effect survives a
//    crash of the process (and, with the default options, of the machine).
//  - Errors: an unknown name is NOT_FOUND; a name already taken is
//    ALREADY_EXISTS; a change the current state forbids is
//    FAILED_PRECONDITION; a VM already claimed by a running job is ABORTED
//    (Hyper-V 32774); malformed input is INVALID_ARGUMENT naming the field;
//    storage failures are INTERNAL or UNAVAILABLE. Refusals carry a
//    dr.v1.ErrorDetail payload (common/hyperv_status.h).
//  - Ownership: arguments are borrowed for the duration of the call; results
//    are owned by the caller.
#ifndef HVDR_STORAGE_STORE_H_
#define HVDR_STORAGE_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dr/v1/agent_service.pb.h"
#include "dr/v1/resources.pb.h"

namespace hvdr {

// A page of results and the token for the next one ("" on the last page).
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_page_token;
};

// Paging arguments. page_size <= 0 means 100; above 1000 is coerced to 1000.
// A page_token must come from the previous page of the same query;
// anything else is INVALID_ARGUMENT (field "page_token").
struct PageRequest {
  int32_t page_size = 0;
  std::string page_token;
};

struct VirtualMachineFilter {
  std::string host;  // hosts/{host}; "" or "hosts/-" for every host
  std::string site;  // sites/{site}; "" for every site
  std::vector<dr::v1::ReplicationState> replication_states;  // any of; empty = all
  std::vector<dr::v1::ReplicationHealth> replication_healths;
  std::string display_name_or_id;  // exact match on ElementName or GUID
  // When set, the GUID display_name_or_id is compared with instead (the
  // caller's canonical spelling of it); ElementName is still compared with
  // display_name_or_id as given.
  std::string vm_id;
  bool filter_replication_mode = false;
  dr::v1::ReplicationMode replication_mode = dr::v1::REPLICATION_MODE_NONE;
};

struct JobFilter {
  std::vector<dr::v1::JobState> states;  // any of; empty = all
  std::string virtual_machine;           // "" = all
  std::string host;                      // "" = all
  std::vector<dr::v1::JobType> types;    // any of; empty = all
};

// What a client sent, reduced to what identifies it: a retry must carry the
// same method and fingerprint as the first call.
struct RequestKey {
  std::string request_id;   // REQUIRES: non-empty
  std::string method;       // e.g. "dr.v1.FailoverService/InitiateFailover"
  std::string fingerprint;  // e.g. a hash of the request with request_id cleared
};

// The outcome of CreateJob.
struct CreateJobResult {
  dr::v1::Job job;
  // True when the request_id had been seen: `job` is the job the first call
  // created (in its current state) and nothing was written.
  bool replayed = false;
};

// A stored answer to a non-job mutation (e.g. RegisterHost).
struct RequestRecord {
  std::string method;
  std::string fingerprint;
  std::string response;  // serialized response message
  std::string job;       // the job a CreateJob recorded ("" for other requests)
};

// One change to a job, as reported by its agent (or decided by the server).
struct JobUpdate {
  std::string job;  // jobs/{job}
  dr::v1::JobState state = dr::v1::JOB_STATE_UNSPECIFIED;
  uint32_t percent_complete = 0;
  dr::v1::ReturnCode return_code = dr::v1::RETURN_CODE_JOB_STARTED;
  uint32_t error_code = 0;
  std::string error_summary;
  std::string error_description;
  absl::Time start_time = absl::InfinitePast();  // InfinitePast = unchanged
  absl::Time end_time = absl::InfinitePast();    // InfinitePast = unchanged
  absl::Time event_time;                          // REQUIRES: set
  std::string message;                            // for the event
  // When set, a state behind the stored one is not refused: the stored
  // state and percent are kept and the other fields applied. For statuses
  // the hypervisor is asked for again (a re-attach after a restart, a
  // return code decided without the agent), which must never move a job
  // backwards nor be lost because they would.
  bool keep_state_if_behind = false;
  // When set, the update applies only while the job's outcome is unknown
  // (return code 32771): FAILED_PRECONDITION otherwise. For decisions an
  // operator takes because the outcome cannot be learned (abandoning).
  bool only_if_status_unknown = false;
  // When request.request_id is set, it is recorded in the same transaction
  // (with the job's name); a repeat of the key writes nothing and answers
  // the job as it now is (WriteResult.replayed); a repeat with another
  // method or fingerprint is INVALID_ARGUMENT (field "request_id").
  RequestKey request;
  // When set, the state fields of the job's VM (mode, replication state,
  // health, enabled state, RPO figures) are updated in the same
  // transaction: the hypervisor's view of the VM after the job.
  bool has_vm_state = false;
  dr::v1::VirtualMachine vm_state;
};

// One operation of a Write batch.
struct WriteOp {
  enum class Kind { kCreateJob, kUpdateJob };
  Kind kind = Kind::kUpdateJob;
  // kCreateJob: as for CreateJob.
  dr::v1::Job job;
  RequestKey key;
  std::string operation;
  // kUpdateJob: as for UpdateJob.
  JobUpdate update;
};

struct WriteResult {
  absl::Status status;
  dr::v1::Job job;        // the job as stored (or the replayed one)
  // kCreateJob, or kUpdateJob with a request key: the request_id had been
  // seen; `job` is the job as it now is and nothing was written.
  bool replayed = false;
};

class Store {
 public:
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // ---- Sites and hosts ----

  // Stores `host` (name, site, agent_address, create_time are read; the
  // contact fields start empty). Creates the site if it does not exist.
  // ALREADY_EXISTS if the name is taken. When `key` is not null it is
  // recorded in the same transaction; a repeat of the key (same method and
  // fingerprint) writes nothing and returns true ("replayed"); a repeat with
  // another method or fingerprint is INVALID_ARGUMENT (field "request_id").
  virtual absl::StatusOr<bool> CreateHost(const dr::v1::Host& host,
                                          const RequestKey* key) = 0;
  virtual absl::StatusOr<dr::v1::Host> GetHost(const std::string& name) = 0;
  // Ordered by name. `site` = "" for all.
  virtual absl::StatusOr<Page<dr::v1::Host>> ListHosts(const std::string& site,
                                                        const PageRequest& page) = 0;
  virtual absl::StatusOr<Page<dr::v1::Site>> ListSites(const PageRequest& page) = 0;
  // Records a contact attempt: reachability, last_contact_time (on success),
  // stale and last_error are taken from `host`, and hypervisor_host_name
  // when it is not empty; other fields are ignored.
  virtual absl::Status UpdateHostContact(const dr::v1::Host& host) = 0;
  // Removes the host with its VM copies, relationships and recovery points.
  // Jobs are kept (they are the audit trail). FAILED_PRECONDITION while a
  // VM of the host is claimed by a job. When `key` is not null it is
  // recorded in the same transaction as the delete; a repeat of the key
  // (same method and fingerprint) writes nothing and returns true
  // ("replayed"), even once the host is gone; a repeat with another method
  // or fingerprint is INVALID_ARGUMENT (field "request_id"). A refused
  // delete records nothing.
  virtual absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key) = 0;

  // ---- Inventory ----

  // Makes the stored inventory of `host` equal to `vms` in one transaction,
  // and marks the host reachable, not stale, synced at `sync_time`: the
  // time the inventory was asked for. A VM copy's state fields (mode,
  // replication state, health, enabled state) are taken only if no newer
  // state was recorded for it (by a job's update observed after
  // `sync_time`): an inventory read before a job's end never overwrites
  // the state that job recorded. A VM
  // copy that disappeared is removed unless a job claims it (then it is kept
  // as it was). The claim (active_job) of a VM that stays is kept.
  // INVALID_ARGUMENT for a VM without a GUID or a duplicate GUID.
  virtual absl::Status ReplaceInventory(
      const std::string& host,
      const std::vector<dr::v1::VirtualMachineInventory>& vms,
      absl::Time sync_time) = 0;
  // Updates the state fields of one VM copy (mode, state, health, enabled
  // state, RPO figures) without touching its claim.
  virtual absl::Status UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm) = 0;
  virtual absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(
      const std::string& name) = 0;
  // Every copy of the VM with this GUID, on any host.
  virtual absl::StatusOr<std::vector<dr::v1::VirtualMachine>> FindVirtualMachinesById(
      const std::string& vm_id) = 0;
  // Ordered by name.
  virtual absl::StatusOr<Page<dr::v1::VirtualMachine>> ListVirtualMachines(
      const VirtualMachineFilter& filter, const PageRequest& page) = 0;
  virtual absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>>
  ListReplicationRelationships(const std::string& vm) = 0;
  // Newest first.
  virtual absl::StatusOr<Page<dr::v1::RecoveryPoint>> ListRecoveryPoints(
      const std::string& vm, const PageRequest& page) = 0;
  virtual absl::StatusOr<dr::v1::RecoveryPoint> GetRecoveryPoint(
      const std::string& name) = 0;

  // ---- Jobs ----

  // Records a new job and claims its VM, in one transaction with the
  // idempotency record for `key`:
  //  - key.request_id seen before with the same method and fingerprint:
  //    returns the job it created, replayed = true, writes nothing;
  //  - seen with another method or fingerprint: INVALID_ARGUMENT
  //    (field "request_id");
  //  - job.virtual_machine unknown: NOT_FOUND; already claimed by a
  //    non-terminal job: ABORTED (32774) naming that job;
  //  - job.name taken: ALREADY_EXISTS.
  // The job's first JobEvent (its initial state) is written too.
  // `operation` (opaque bytes, may be empty) is kept with the job for
  // GetJobOperation.
  // REQUIRES: job.name, job.virtual_machine, job.host set; job.state
  // non-terminal.
  virtual absl::StatusOr<CreateJobResult> CreateJob(const dr::v1::Job& job, const RequestKey& key,
                                                    const std::string& operation) = 0;
  absl::StatusOr<CreateJobResult> CreateJob(const dr::v1::Job& job, const RequestKey& key) {
    return CreateJob(job, key, "");
  }
  // The operation bytes given to CreateJob. NOT_FOUND for an unknown job.
  virtual absl::StatusOr<std::string> GetJobOperation(const std::string& name) = 0;
  virtual absl::StatusOr<dr::v1::Job> GetJob(const std::string& name) = 0;
  // Newest first. Pages stay stable while jobs are created.
  virtual absl::StatusOr<Page<dr::v1::Job>> ListJobs(const JobFilter& filter,
                                                      const PageRequest& page) = 0;
  // Every job not in a terminal state, oldest first (for re-attaching after
  // a restart).
  virtual absl::StatusOr<std::vector<dr::v1::Job>> ListActiveJobs() = 0;
  // Applies `update` and appends its JobEvent in one transaction; bumps the
  // job's version. A terminal state releases the VM's claim. Returns the job
  // as stored. FAILED_PRECONDITION when the job is already terminal or the
  // state would move backwards (e.g. Running -> New) and
  // !update.keep_state_if_behind; INVALID_ARGUMENT for
  // a state outside 2-11, percent above 100 or a return code that Hyper-V
  // does not define.
  virtual absl::StatusOr<dr::v1::Job> UpdateJob(const JobUpdate& update) = 0;
  // Group commit: applies `ops` in order in one transaction, each in its own
  // savepoint, so an operation that is refused (ABORTED, FAILED_PRECONDITION,
  // ...) leaves no trace while the others are kept; the transaction then
  // commits once. Results are in the order of `ops`. If the commit itself
  // fails, every result carries that error and nothing was written.
  virtual std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) = 0;
  // Oldest first.
  virtual absl::StatusOr<Page<dr::v1::JobEvent>> ListJobEvents(
      const std::string& job, const PageRequest& page) = 0;
  // Retention: deletes, in one transaction, at most `max_jobs` terminal
  // jobs whose last change (update time) is before `ended_before`, oldest
  // first, each with its JobEvents and every request_id recorded for it
  // (the one that created it, CancelJob's). Never a non-terminal job, and
  // never the request_id of a job that is kept. Returns how many jobs were
  // deleted: fewer than max_jobs means nothing older is left. A later
  // retry with a pruned request_id is a new request. REQUIRES: max_jobs > 0.
  virtual absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs) = 0;

  // ---- Idempotency for non-job mutations ----

  // NOT_FOUND if request_id was never recorded.
  virtual absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) = 0;
  // ALREADY_EXISTS if request_id is taken. record.job, when set, names the
  // job the request acted on (e.g. CancelJob's), and must be a stored job.
  virtual absl::Status PutRequest(const std::string& request_id,
                                  const RequestRecord& record) = 0;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_STORE_H_
