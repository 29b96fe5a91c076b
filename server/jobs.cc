#include "server/jobs.h"

#include "absl/strings/str_cat.h"
#include "common/hyperv_rules.h"
#include "common/hyperv_status.h"
#include "common/status_macros.h"
#include "server/names.h"
#include "server/store_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

namespace {

constexpr char kCancelMethod[] = "dr.v1.JobService/CancelJob";

}  // namespace

absl::StatusOr<dr::v1::Job> CancelJob(Store* store, Dispatcher* dispatcher,
                                      const dr::v1::CancelJobRequest& r) {
  RETURN_IF_ERROR(CheckJobName("name", r.name()));
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  dr::v1::CancelJobRequest fp = r;
  fp.clear_request_id();
  const RequestKey key{r.request_id(), kCancelMethod, fp.SerializeAsString()};
  // The replay check, the job's state and the reservation in one
  // transaction: only this call asks the agent.
  absl::StatusOr<CreateJobResult> reserved = store->ReserveJobRequest(r.name(), key);
  if (reserved.status().code() == absl::StatusCode::kNotFound) {
    return NotFoundParameter("name", "NOT_FOUND", absl::StrCat(r.name(), " does not exist"));
  }
  if (!reserved.ok()) {
    const RefusalInfo refusal = RefusalOf(reserved.status());
    if (refusal.kind == Refusal::kJobEnded) {
      return InvalidState("name", "JOB_TERMINAL",
                          absl::StrCat(r.name(), " already ended in ", refusal.other));
    }
    return ApiStatus(reserved.status());
  }
  if (reserved->replayed) return std::move(reserved->job);
  absl::StatusOr<dr::v1::Job> cancelled = dispatcher->Cancel(reserved->job);
  if (!cancelled.ok()) {
    // The agent did not accept: the request_id is free again, so that a
    // retry asks the agent rather than being told the job it did not cancel.
    absl::Status released = store->ReleaseJobRequest(r.name(), key);
    if (!released.ok()) {
      spdlog::warn("{}: cancel refused but request_id {} still reserved: {}", r.name(),
                   key.request_id, released.ToString());
    }
  }
  return cancelled;
}

void AbandonJob(JobWriter* writer, Dispatcher* dispatcher, Clock* clock,
                const dr::v1::AbandonJobRequest& r,
                std::function<void(const absl::StatusOr<dr::v1::Job>&)> done) {
  absl::Status valid = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckJobName("name", r.name()));
    RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
    if (r.reason().empty()) {
      return InvalidParameter("reason", "MISSING",
                              "say why the job is abandoned (it is recorded with the job)");
    }
    if (r.reason().size() > 1024) {
      return InvalidParameter("reason", "TOO_LONG", "must be at most 1024 characters");
    }
    if (r.requester().size() > 256) {
      return InvalidParameter("requester", "TOO_LONG", "must be at most 256 characters");
    }
    return absl::OkStatus();
  }();
  if (!valid.ok()) return done(valid);
  dr::v1::AbandonJobRequest fp = r;
  fp.clear_request_id();
  fp.clear_requester();  // a retry from another operator is a retry
  const std::string who = r.requester().empty() ? "an operator" : r.requester();
  JobUpdate u;
  u.job = r.name();
  u.state = dr::v1::JOB_STATE_EXCEPTION;
  u.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  u.error_code = static_cast<uint32_t>(dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  u.error_summary = "Abandoned: status unknown";
  u.error_description =
      absl::StrCat("abandoned by ", who, ": ", r.reason(),
                   " (the hypervisor's outcome was never read; the VM was released as it was)");
  u.event_time = clock->Now();
  u.end_time = u.event_time;
  u.message = absl::StrCat("abandoned by ", who, ": ", r.reason());
  u.only_if_return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  u.request = RequestKey{r.request_id(), "dr.v1.JobService/AbandonJob", fp.SerializeAsString()};
  const std::string name = r.name();
  writer->Submit(std::move(u), [dispatcher, name, who,
                                done](const absl::StatusOr<dr::v1::Job>& job) {
    if (job.status().code() == absl::StatusCode::kNotFound) {
      return done(NotFoundParameter("name", "NOT_FOUND", absl::StrCat(name, " does not exist")));
    }
    if (!job.ok()) {
      const Refusal refusal = RefusalOf(job.status()).kind;
      if (refusal == Refusal::kJobEnded || refusal == Refusal::kJobOutcomeKnown) {
        const std::string reason =
            refusal == Refusal::kJobEnded ? "JOB_TERMINAL" : "JOB_STATUS_KNOWN";
        // Said in terms of this request: the job, not a state field.
        return done(InvalidState("name", reason,
                                 absl::StrCat(job.status().message(),
                                              reason == "JOB_STATUS_KNOWN"
                                                  ? "; only a job whose outcome is unknown (32771) "
                                                    "can be abandoned: cancel it instead"
                                                  : "")));
      }
      return done(ApiStatus(job.status()));
    }
    if (dispatcher != nullptr && IsTerminalJobState(job->state())) dispatcher->Drop(*job);
    spdlog::warn("{}: abandoned by {}; {} released", name, who, job->virtual_machine());
    done(job);
  });
}

}  // namespace server
}  // namespace hvdr
