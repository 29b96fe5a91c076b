// JobService's one mutation, free of gRPC: CancelJob with its request_id.
#ifndef HVDR_SERVER_JOBS_H_
#define HVDR_SERVER_JOBS_H_

#include <functional>
#include "absl/status/statusor.h"
#include "dr/v1/job_service.pb.h"

#include "common/clock.h"
#include "server/dispatcher.h"
#include "server/job_writer.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

// Asks the job's agent (through `dispatcher`) to cancel the job. The
// request_id is decided before the agent is asked, in one store
// transaction with the job's state (Store::ReserveJobRequest): a retry
// with the same request_id, from that moment on (even while this call is
// still asking the agent, and once the job has ended), answers the job as
// it now is and does not ask the agent again; so of calls racing with one
// request_id, only one asks the agent. The request_id of another request
// is INVALID_ARGUMENT (field request_id, REQUEST_ID_REUSED). A refused
// cancel (unknown job: NOT_FOUND; terminal job: FAILED_PRECONDITION 32775
// JOB_TERMINAL) records nothing; a cancel the agent refuses (unreachable
// agent: UNAVAILABLE 32777; the agent's own refusal) removes the
// reservation (Store::ReleaseJobRequest), so a later retry with the same
// request_id asks the agent again rather than being answered as if it had
// accepted. A retry that overlapped the refused call was answered the job
// as it then was (a replay answers the job, not the agent's answer).
//
// Should drserver stop between the reservation and the agent's answer, a
// retry answers the job as it is without asking; a cancel with a new
// request_id asks again.
//
// Not owned; thread-safe.
absl::StatusOr<dr::v1::Job> CancelJob(Store* store, Dispatcher* dispatcher,
                                      const dr::v1::CancelJobRequest& request);

// Abandons a job whose outcome is unknown (see JobService.AbandonJob): one
// update through `writer` (so it is ordered with the agents' statuses),
// applied only while the stored return code is 32771, with the request_id
// recorded in the same transaction (a retry answers the job as it now is).
// Once stored, `dispatcher` (may be null) stops driving the job. `done`
// runs once, on this thread (refusals found before writing) or on the
// writer's completion thread.
void AbandonJob(JobWriter* writer, Dispatcher* dispatcher, Clock* clock,
                const dr::v1::AbandonJobRequest& request,
                std::function<void(const absl::StatusOr<dr::v1::Job>&)> done);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOBS_H_
