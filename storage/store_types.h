// The value types the store's interfaces take and return.
#ifndef HVDR_STORAGE_STORE_TYPES_H_
#define HVDR_STORAGE_STORE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dr/v1/agent_service.pb.h"
#include "dr/v1/audit_service.pb.h"
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
// anything else is INVALID_ARGUMENT, Refusal::kBadPageToken.
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
  absl::Time event_time;                         // REQUIRES: set
  std::string message;                           // for the event
  // When set, a state behind the stored one is not refused: the stored
  // state and percent are kept and the other fields applied. For statuses
  // the hypervisor is asked for again (a re-attach after a restart, a
  // return code decided without the agent), which must never move a job
  // backwards nor be lost because they would.
  bool keep_state_if_behind = false;
  // When set, the update applies only while the stored return code is this
  // one: kJobOutcomeKnown (FAILED_PRECONDITION) otherwise. For decisions
  // taken because of the job's current report (abandoning a job whose
  // outcome cannot be learned).
  std::optional<dr::v1::ReturnCode> only_if_return_code;
  // When request.request_id is set, it is recorded in the same transaction
  // (with the job's name); a repeat of the key writes nothing and answers
  // the job as it now is (WriteResult.replayed); a repeat with another
  // method or fingerprint is INVALID_ARGUMENT, Refusal::kRequestReused.
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
  // kCreateJob: the audit event of the call asking for the job, as far as
  // it is known before the answer (time, identity, peer, method, resource,
  // request_id). When the job is created (or replayed), the event is
  // completed with that answer (status 0, return code 4096, created = the
  // job's name) and appended in the same transaction: the call then needs
  // no commit of its own for its audit event. A refused creation writes
  // neither.
  std::optional<dr::v1::AuditEvent> audit;
};

struct WriteResult {
  absl::Status status;
  dr::v1::Job job;  // the job as stored (or the replayed one)
  // kCreateJob, or kUpdateJob with a request key: the request_id had been
  // seen; `job` is the job as it now is and nothing was written.
  bool replayed = false;
  // The op's audit event as appended (see WriteOp::audit), if it was.
  std::optional<dr::v1::AuditEvent> audited;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_STORE_TYPES_H_
