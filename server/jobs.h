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

// Asks the job's agent (through `dispatcher`) to cancel the job, and once
// the agent accepted, records the request_id with the job's name. A retry
// with the same request_id answers the job as it now is (whatever its
// state) and does not ask the agent again; the request_id of another
// request is INVALID_ARGUMENT (field request_id, REQUEST_ID_REUSED). A
// refused cancel (terminal job: FAILED_PRECONDITION 32775; unreachable
// agent: UNAVAILABLE 32777) records nothing, so it may be retried with the
// same request_id.
//
// Two retries racing each other before either is recorded may both ask the
// agent; cancelling a job twice is harmless there (the job id is the
// agent's idempotency key) and both answer the same job.
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
