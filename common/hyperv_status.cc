#include "common/hyperv_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"

namespace hvdr {

using dr::v1::ReturnCode;

bool IsValidReturnCode(uint32_t code) {
  return code == 0 || code == 4096 || (code >= 32768 && code <= 32779);
}

absl::StatusCode CanonicalCodeFor(ReturnCode code) {
  switch (code) {
    case dr::v1::RETURN_CODE_COMPLETED:
    case dr::v1::RETURN_CODE_JOB_STARTED: return absl::StatusCode::kOk;
    case dr::v1::RETURN_CODE_FAILED: return absl::StatusCode::kInternal;
    case dr::v1::RETURN_CODE_ACCESS_DENIED: return absl::StatusCode::kPermissionDenied;
    case dr::v1::RETURN_CODE_NOT_SUPPORTED: return absl::StatusCode::kUnimplemented;
    case dr::v1::RETURN_CODE_STATUS_UNKNOWN: return absl::StatusCode::kUnknown;
    case dr::v1::RETURN_CODE_TIMEOUT: return absl::StatusCode::kDeadlineExceeded;
    case dr::v1::RETURN_CODE_INVALID_PARAMETER: return absl::StatusCode::kInvalidArgument;
    case dr::v1::RETURN_CODE_SYSTEM_IN_USE: return absl::StatusCode::kAborted;
    case dr::v1::RETURN_CODE_INVALID_STATE: return absl::StatusCode::kFailedPrecondition;
    case dr::v1::RETURN_CODE_INCORRECT_DATA_TYPE: return absl::StatusCode::kInvalidArgument;
    case dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE: return absl::StatusCode::kUnavailable;
    case dr::v1::RETURN_CODE_OUT_OF_MEMORY: return absl::StatusCode::kResourceExhausted;
    case dr::v1::RETURN_CODE_FILE_NOT_FOUND: return absl::StatusCode::kNotFound;
    default: return absl::StatusCode::kUnknown;
  }
}

ReturnCode DefaultReturnCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return dr::v1::RETURN_CODE_COMPLETED;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kNotFound:
      // Hyper-V answers a reference to a missing object with 32773.
      return dr::v1::RETURN_CODE_INVALID_PARAMETER;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return dr::v1::RETURN_CODE_SYSTEM_IN_USE;
    case absl::StatusCode::kFailedPrecondition: return dr::v1::RETURN_CODE_INVALID_STATE;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated: return dr::v1::RETURN_CODE_ACCESS_DENIED;
    case absl::StatusCode::kUnimplemented: return dr::v1::RETURN_CODE_NOT_SUPPORTED;
    case absl::StatusCode::kDeadlineExceeded: return dr::v1::RETURN_CODE_TIMEOUT;
    case absl::StatusCode::kUnavailable: return dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE;
    case absl::StatusCode::kResourceExhausted: return dr::v1::RETURN_CODE_OUT_OF_MEMORY;
    case absl::StatusCode::kUnknown: return dr::v1::RETURN_CODE_STATUS_UNKNOWN;
    default: return dr::v1::RETURN_CODE_FAILED;
  }
}

absl::string_view ReturnCodeText(ReturnCode code) {
  switch (code) {
    case dr::v1::RETURN_CODE_COMPLETED: return "Completed with No Error";
    case dr::v1::RETURN_CODE_JOB_STARTED: return "Method Parameters Checked - Job Started";
    case dr::v1::RETURN_CODE_FAILED: return "Failed";
    case dr::v1::RETURN_CODE_ACCESS_DENIED: return "Access Denied";
    case dr::v1::RETURN_CODE_NOT_SUPPORTED: return "Not Supported";
    case dr::v1::RETURN_CODE_STATUS_UNKNOWN: return "Status is unknown";
    case dr::v1::RETURN_CODE_TIMEOUT: return "Timeout";
    case dr::v1::RETURN_CODE_INVALID_PARAMETER: return "Invalid parameter";
    case dr::v1::RETURN_CODE_SYSTEM_IN_USE: return "System is in use";
    case dr::v1::RETURN_CODE_INVALID_STATE: return "Invalid state for this operation";
    case dr::v1::RETURN_CODE_INCORRECT_DATA_TYPE: return "Incorrect data type";
    case dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE: return "System is not available";
    case dr::v1::RETURN_CODE_OUT_OF_MEMORY: return "Out of memory";
    case dr::v1::RETURN_CODE_FILE_NOT_FOUND: return "File not found";
    default: return "Unknown return code";
  }
}

absl::Status HyperVError(ReturnCode code, absl::string_view field, absl::string_view reason,
                         absl::string_view message) {
  absl::StatusCode canonical = CanonicalCodeFor(code);
  if (canonical == absl::StatusCode::kOk) canonical = absl::StatusCode::kUnknown;
  std::string text = field.empty() ? std::string(message) : absl::StrCat(field, ": ", message);
  absl::Status status(canonical, text);
  dr::v1::ErrorDetail detail;
  detail.set_return_code(code);
  detail.set_field(std::string(field));
  detail.set_reason(std::string(reason));
  status.SetPayload(kErrorDetailUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

absl::Status InvalidParameter(absl::string_view field, absl::string_view reason,
                              absl::string_view message) {
  return HyperVError(dr::v1::RETURN_CODE_INVALID_PARAMETER, field, reason, message);
}

absl::Status InvalidState(absl::string_view field, absl::string_view reason,
                          absl::string_view message) {
  return HyperVError(dr::v1::RETURN_CODE_INVALID_STATE, field, reason, message);
}

absl::Status NotFoundParameter(absl::string_view field, absl::string_view reason,
                               absl::string_view message) {
  absl::Status invalid = InvalidParameter(field, reason, message);
  absl::Status status(absl::StatusCode::kNotFound, invalid.message());
  status.SetPayload(kErrorDetailUrl, *invalid.GetPayload(kErrorDetailUrl));
  return status;
}

absl::Status ErrorWithDetail(absl::StatusCode code, ReturnCode return_code, absl::string_view field,
                             absl::string_view reason, absl::string_view message) {
  absl::Status status(code, message);
  dr::v1::ErrorDetail detail;
  detail.set_return_code(return_code);
  detail.set_field(std::string(field));
  detail.set_reason(std::string(reason));
  status.SetPayload(kErrorDetailUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

absl::Status Exhausted(absl::string_view field, absl::string_view reason, absl::string_view message,
                       absl::Duration retry_after) {
  absl::Status status = HyperVError(dr::v1::RETURN_CODE_OUT_OF_MEMORY, field, reason, message);
  dr::v1::ErrorDetail detail = ErrorDetailOf(status);
  ToProto(retry_after, detail.mutable_retry_after());
  status.SetPayload(kErrorDetailUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

absl::Status Restated(const absl::Status& status, absl::string_view field, absl::string_view reason,
                      absl::string_view message) {
  dr::v1::ErrorDetail detail = ErrorDetailOf(status);
  detail.set_field(std::string(field));
  if (!reason.empty()) detail.set_reason(std::string(reason));
  std::string text = field.empty() ? std::string(message) : absl::StrCat(field, ": ", message);
  absl::Status out(status.code(), text);
  out.SetPayload(kErrorDetailUrl, absl::Cord(detail.SerializeAsString()));
  return out;
}

dr::v1::ErrorDetail ErrorDetailOf(const absl::Status& status) {
  dr::v1::ErrorDetail detail;
  auto payload = status.GetPayload(kErrorDetailUrl);
  if (payload.has_value() && detail.ParseFromString(std::string(*payload))) {
    return detail;
  }
  detail.Clear();
  detail.set_return_code(DefaultReturnCodeFor(status.code()));
  return detail;
}

}  // namespace hvdr
