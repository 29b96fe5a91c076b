// Errors in Hyper-V's terms. Every refusal the product makes carries a
// Hyper-V return code (32768-32779) next to its canonical code, the request
// field at fault and a machine-readable reason. They travel inside
// absl::Status as a payload, so plain logic (validation, storage, backends)
// can produce them without knowing gRPC; server/grpc_status.h turns them into
// gRPC trailing metadata.
//
// The table between the two code spaces is written once, here, and in
// docs/api.md.
#ifndef HVDR_COMMON_HYPERV_STATUS_H_
#define HVDR_COMMON_HYPERV_STATUS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/failure.h"
#include "dr/v1/errors.pb.h"
#include "dr/v1/hyperv.pb.h"

namespace hvdr {

// The payload URL under which an ErrorDetail is attached to an absl::Status.
inline constexpr absl::string_view kErrorDetailUrl = "type.googleapis.com/dr.v1.ErrorDetail";

// True for the codes a Hyper-V replication method can return.
bool IsValidReturnCode(uint32_t code);

// The canonical code for a Hyper-V return code. 0 and 4096 map to OK.
// An unknown value maps to UNKNOWN.
absl::StatusCode CanonicalCodeFor(dr::v1::ReturnCode code);

// The Hyper-V return code to report for a status that carries none.
dr::v1::ReturnCode DefaultReturnCodeFor(absl::StatusCode code);

// Hyper-V's own text for a return code, e.g. "System is in use".
absl::string_view ReturnCodeText(dr::v1::ReturnCode code);

// A status with the canonical code for `code` and an ErrorDetail payload.
// `field` names the request field at fault ("" when none), `reason` is
// UPPER_SNAKE_CASE. The message is prefixed with the field when given.
absl::Status HyperVError(dr::v1::ReturnCode code, absl::string_view field, absl::string_view reason,
                         absl::string_view message);

// Shorthands for the common refusals.
absl::Status InvalidParameter(absl::string_view field, absl::string_view reason,
                              absl::string_view message);
absl::Status InvalidState(absl::string_view field, absl::string_view reason,
                          absl::string_view message);
// NOT_FOUND for a reference to an object that does not exist; Hyper-V
// answers such a reference with 32773 Invalid parameter.
absl::Status NotFoundParameter(absl::string_view field, absl::string_view reason,
                               absl::string_view message);

// A status of canonical `code` whose message is `message` as given (no
// field prefix) with an ErrorDetail of `return_code`, `field` and `reason`:
// for refusals that are not a request's, such as drserver's start-up ones
// (field "db" or "listen").
absl::Status ErrorWithDetail(absl::StatusCode code, dr::v1::ReturnCode return_code,
                             absl::string_view field, absl::string_view reason,
                             absl::string_view message);

// RESOURCE_EXHAUSTED with Hyper-V code 32778 (Out of memory: the closest
// documented code for "no room for more now") and retry advice: the detail's
// `retry_after` says how long to wait before retrying. For queue and stream
// limits, which clear as work drains.
absl::Status Exhausted(absl::string_view field, absl::string_view reason, absl::string_view message,
                       absl::Duration retry_after);

// `status` said in the caller's terms: the same canonical code, Hyper-V
// code, reason and retry advice, but naming `field` and with `message`
// (prefixed with the field, as HyperVError does). For refusals that come
// from a lower layer (the agent, the store) naming fields and ids of its
// own. `reason` replaces the detail's reason unless empty. REQUIRES:
// !status.ok().
absl::Status Restated(const absl::Status& status, absl::string_view field, absl::string_view reason,
                      absl::string_view message);

// The ErrorDetail of `status`: its payload when present, otherwise one built
// from DefaultReturnCodeFor(status.code()). REQUIRES: !status.ok().
dr::v1::ErrorDetail ErrorDetailOf(const absl::Status& status);

// IsStorageFailure: common/failure.h.

}  // namespace hvdr

#endif  // HVDR_COMMON_HYPERV_STATUS_H_
