// Failures of the system itself, told apart from refusals. Neutral: no
// layer's error vocabulary, so storage and the services share it.
#ifndef HVDR_COMMON_FAILURE_H_
#define HVDR_COMMON_FAILURE_H_

#include "absl/status/status.h"

namespace hvdr {

// True for a failure of the system itself (disk full, I/O error, a read-only
// or corrupt file, a lock not granted: RESOURCE_EXHAUSTED, UNAVAILABLE,
// INTERNAL or DATA_LOSS with no payload), worth retrying as it is; false
// for OK and for refusals, which carry a payload saying what they refuse
// (the store's Refusal, the API's ErrorDetail, a database problem) or a
// code of their own.
inline bool IsStorageFailure(const absl::Status& status) {
  if (status.ok()) return false;
  bool payload = false;
  status.ForEachPayload([&payload](absl::string_view, const absl::Cord&) { payload = true; });
  if (payload) return false;
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss: return true;
    default: return false;
  }
}

}  // namespace hvdr

#endif  // HVDR_COMMON_FAILURE_H_
