#include "server/jobs.h"

#include <optional>

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

// The job a recorded CancelJob named, nullopt when `key` was never
// recorded, REQUEST_ID_REUSED when it was recorded for another request.
absl::StatusOr<std::optional<dr::v1::Job>> Replay(Store* store, const RequestKey& key) {
  absl::StatusOr<RequestRecord> seen = store->GetRequest(key.request_id);
  if (seen.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
  RETURN_IF_ERROR(seen.status());
  if (seen->method != key.method || seen->fingerprint != key.fingerprint) {
    return InvalidParameter(
        "request_id", "REQUEST_ID_REUSED",
        absl::StrCat("\"", key.request_id, "\" was already used for a different request (",
                     seen->method, "); use a new request_id"));
  }
  ASSIGN_OR_RETURN(dr::v1::Job job, store->GetJob(seen->job));
  return job;
}

}  // namespace

absl::StatusOr<dr::v1::Job> CancelJob(Store* store, Dispatcher* dispatcher,
                                      const dr::v1::CancelJobRequest& r) {
  RETURN_IF_ERROR(CheckJobName("name", r.name()));
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  dr::v1::CancelJobRequest fp = r;
  fp.clear_request_id();
  const RequestKey key{r.request_id(), kCancelMethod, fp.SerializeAsString()};
  ASSIGN_OR_RETURN(std::optional<dr::v1::Job> replayed, Replay(store, key));
  if (replayed.has_value()) return *std::move(replayed);

  absl::StatusOr<dr::v1::Job> job = store->GetJob(r.name());
  if (job.status().code() == absl::StatusCode::kNotFound) {
    return NotFoundParameter("name", "NOT_FOUND", absl::StrCat(r.name(), " does not exist"));
  }
  RETURN_IF_ERROR(job.status());
  if (IsTerminalJobState(job->state())) {
    return InvalidState(
        "name", "JOB_TERMINAL",
        absl::StrCat(r.name(), " already ended in ", dr::v1::JobState_Name(job->state())));
  }
  ASSIGN_OR_RETURN(dr::v1::Job cancelled, dispatcher->Cancel(*job));
  absl::Status recorded =
      store->PutRequest(key.request_id, {key.method, key.fingerprint, "", r.name()});
  if (recorded.code() == absl::StatusCode::kAlreadyExists) {
    // A retry racing this call recorded it first (or the request_id was
    // taken meanwhile by another request): answer as a replay would.
    ASSIGN_OR_RETURN(replayed, Replay(store, key));
    if (replayed.has_value()) return *std::move(replayed);
  }
  if (!recorded.ok()) {
    // The agent accepted the cancel; only the record is missing, and a
    // retry asks the agent again, which is harmless.
    spdlog::warn("{}: cancel accepted but request_id {} not recorded: {}", r.name(), key.request_id,
                 recorded.ToString());
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
