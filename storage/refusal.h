// Why the store refused a request, as typed data: the layer above (the
// server's services) says it in the API's terms - gRPC code, Hyper-V return
// code, request field - and storage knows none of those. A refusal travels
// as an absl::Status payload, so it passes through StatusOr unchanged.
#ifndef HVDR_STORAGE_REFUSAL_H_
#define HVDR_STORAGE_REFUSAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hvdr {

enum class Refusal {
  kNone = 0,
  // INVALID_ARGUMENT: a record the store cannot hold. `subject` names the
  // record's field (e.g. "virtual_machines[2].vm_id"), `other` the problem
  // (MISSING, MALFORMED_NAME, MALFORMED_ID, DUPLICATE, OUT_OF_RANGE,
  // INVALID_STATE).
  kInvalidRecord,
  // ALREADY_EXISTS: `subject`, a host, is registered already.
  kHostExists,
  // FAILED_PRECONDITION: host `subject` has a VM claimed by job `other`.
  kHostBusy,
  // ABORTED: VM `subject` is claimed by job `other`, which has not ended.
  kVmClaimed,
  // INVALID_ARGUMENT: request id `subject` was recorded for another request
  // (method `other`).
  kRequestReused,
  // INVALID_ARGUMENT: a page token that this query did not make.
  kBadPageToken,
  // FAILED_PRECONDITION: job `subject` has ended already (in state `other`).
  kJobEnded,
  // FAILED_PRECONDITION: job `subject` would move backwards (from `other`).
  kJobStateBehind,
  // FAILED_PRECONDITION: job `subject` reports return code `other`, not the
  // one an update required (JobUpdate::only_if_return_code).
  kJobOutcomeKnown,
  // ALREADY_EXISTS: plan `subject` exists already.
  kPlanExists,
  // ABORTED: `subject` (a plan) has changed: its etag is now `other`.
  kEtagMismatch,
  // FAILED_PRECONDITION: plan `subject` has execution `other`, not ended.
  kPlanBusy,
  // ABORTED: VM `subject` is in execution `other`, which has not ended.
  kVmInExecution,
  // FAILED_PRECONDITION: execution `subject` has ended (in state `other`).
  kExecutionEnded,
};

struct RefusalInfo {
  Refusal kind = Refusal::kNone;
  std::string subject;
  std::string other;
};

// A status of `code` and `message` carrying the refusal.
absl::Status Refuse(absl::StatusCode code, Refusal kind, absl::string_view subject,
                    absl::string_view other, absl::string_view message);

// The refusal `status` carries; kind kNone when none.
RefusalInfo RefusalOf(const absl::Status& status);

// Shorthand: INVALID_ARGUMENT kInvalidRecord (the message does not repeat
// the field: the layer above names it in its own terms).
absl::Status InvalidRecord(absl::string_view field, absl::string_view problem,
                           absl::string_view message);

}  // namespace hvdr

#endif  // HVDR_STORAGE_REFUSAL_H_
