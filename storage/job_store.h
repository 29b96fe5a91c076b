// The jobs aggregate: jobs with their event history. Creating a job claims
// its VM and records its request id in the same transaction (the other
// aggregates live in the same database).
#ifndef HVDR_STORAGE_JOB_STORE_H_
#define HVDR_STORAGE_JOB_STORE_H_

#include <string>
#include <vector>

#include "storage/store_types.h"

namespace hvdr {

// The contract of storage/store.h applies (thread-safety, atomicity,
// durability, errors, ownership).
class JobStore {
 public:
  JobStore() = default;
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;
  virtual ~JobStore() = default;

  // ---- Jobs ----

  // Records a new job and claims its VM, in one transaction with the
  // idempotency record for `key`:
  //  - key.request_id seen before with the same method and fingerprint:
  //    returns the job it created, replayed = true, writes nothing;
  //  - seen with another method or fingerprint: INVALID_ARGUMENT
  //    kRequestReused;
  //  - job.virtual_machine unknown: NOT_FOUND; already claimed by a
  //    non-terminal job: ABORTED, kVmClaimed naming that job;
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
  // a state outside 2-11 or percent above 100 (kInvalidRecord). Return
  // codes are stored as given: checking them is the caller's.
  virtual absl::StatusOr<dr::v1::Job> UpdateJob(const JobUpdate& update) = 0;
  // Group commit: applies `ops` in order in one transaction, each in its own
  // savepoint, so an operation that is refused (ABORTED, FAILED_PRECONDITION,
  // ...) leaves no trace while the others are kept; the transaction then
  // commits once. Results are in the order of `ops`. If the commit itself
  // fails, every result carries that error and nothing was written.
  virtual std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) = 0;
  // ---- Requests that act on a job (CancelJob) ----

  // Decides `key`, a request to act on job `job` outside the store (e.g.
  // to ask its agent to cancel it), in one transaction with the job's
  // state, before the request is carried out:
  //  - key.request_id seen with the same method and fingerprint: returns
  //    the job the record names, as it now is (whatever its state),
  //    replayed = true, writes nothing;
  //  - seen with another method or fingerprint: INVALID_ARGUMENT
  //    kRequestReused;
  //  - `job` unknown: NOT_FOUND; ended: FAILED_PRECONDITION kJobEnded;
  //    neither records anything;
  //  - otherwise records key naming `job` (a reservation) and returns the
  //    job, replayed = false: from then on, a retry with key is a replay,
  //    and only this caller carries the request out.
  // REQUIRES: key.request_id non-empty.
  virtual absl::StatusOr<CreateJobResult> ReserveJobRequest(const std::string& job,
                                                            const RequestKey& key) = 0;
  // Undoes a ReserveJobRequest whose request was then refused (e.g. the
  // agent refused the cancel), in one transaction: removes the record of
  // key.request_id if it still is that reservation (same method,
  // fingerprint and job), so that a later retry with key is a new request.
  // OK, writing nothing, when there is no such record (never reserved,
  // released already, pruned with its job, or another request's); never
  // removes the request_id that created the job. REQUIRES: `key` was given
  // to ReserveJobRequest for `job`.
  virtual absl::Status ReleaseJobRequest(const std::string& job, const RequestKey& key) = 0;

  // Oldest first.
  virtual absl::StatusOr<Page<dr::v1::JobEvent>> ListJobEvents(const std::string& job,
                                                               const PageRequest& page) = 0;
  // Retention: deletes, in one transaction, at most `max_jobs` terminal
  // jobs whose last change (update time) is before `ended_before`, oldest
  // first, each with its JobEvents and every request_id recorded for it
  // (the one that created it, CancelJob's). Never a non-terminal job, never
  // a job named by a step of an execution that is not terminal (RUNNING,
  // WAITING, HALTED, CANCELLING: a resumed step watches its job, and asks
  // again with the job's request_id, which must answer that job rather than
  // run the operation twice; a retried step's earlier jobs are kept too),
  // and never the request_id of a job that is kept. Once the execution
  // ends, its jobs age like any other: its steps and report are
  // self-contained (they copy what they need of a job), as are audit
  // events, which name a job but never read it. Returns how many jobs were
  // deleted: fewer than max_jobs means nothing older is left. A later
  // retry with a pruned request_id is a new request. REQUIRES: max_jobs > 0.
  virtual absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs) = 0;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_JOB_STORE_H_
