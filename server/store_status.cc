#include "server/store_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "db/db_file.h"
#include "storage/refusal.h"

namespace hvdr {
namespace server {

absl::Status ApiStatus(const absl::Status& status) {
  const RefusalInfo refusal = RefusalOf(status);
  const absl::string_view message = status.message();
  switch (refusal.kind) {
    case Refusal::kNone: return status;
    case Refusal::kInvalidRecord: return InvalidParameter(refusal.subject, refusal.other, message);
    case Refusal::kHostExists:
      return ErrorWithDetail(absl::StatusCode::kAlreadyExists, dr::v1::RETURN_CODE_SYSTEM_IN_USE,
                             "host_id", "HOST_EXISTS", absl::StrCat("host_id: ", message));
    case Refusal::kHostBusy: return InvalidState("name", "HOST_BUSY", message);
    case Refusal::kVmClaimed:
      return HyperVError(dr::v1::RETURN_CODE_SYSTEM_IN_USE, "virtual_machine", "VM_BUSY", message);
    case Refusal::kRequestReused:
      return InvalidParameter("request_id", "REQUEST_ID_REUSED", message);
    case Refusal::kBadPageToken:
      return InvalidParameter(
          "page_token", refusal.other.empty() ? "INVALID_PAGE_TOKEN" : refusal.other, message);
    case Refusal::kJobEnded: return InvalidState("state", "JOB_TERMINAL", message);
    case Refusal::kJobStateBehind: return InvalidState("state", "JOB_STATE_BACKWARDS", message);
    case Refusal::kJobOutcomeKnown: return InvalidState("return_code", "JOB_STATUS_KNOWN", message);
    case Refusal::kPlanExists:
      return ErrorWithDetail(absl::StatusCode::kAlreadyExists, dr::v1::RETURN_CODE_SYSTEM_IN_USE,
                             "plan.name", "PLAN_EXISTS", absl::StrCat("plan.name: ", message));
    case Refusal::kEtagMismatch:
      return ErrorWithDetail(absl::StatusCode::kAborted, dr::v1::RETURN_CODE_INVALID_STATE, "etag",
                             "ETAG_MISMATCH", absl::StrCat("etag: ", message));
    case Refusal::kPlanBusy:
      return HyperVError(dr::v1::RETURN_CODE_SYSTEM_IN_USE, "name", "PLAN_RUNNING", message);
    case Refusal::kVmInExecution:
      return HyperVError(dr::v1::RETURN_CODE_SYSTEM_IN_USE, "plan", "VM_IN_EXECUTION", message);
    case Refusal::kExecutionEnded: return InvalidState("name", "EXECUTION_TERMINAL", message);
  }
  return status;
}

grpc::Status ApiGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  return ToGrpcStatus(ApiStatus(status), context);
}

absl::Status DatabaseStatus(const absl::Status& status) {
  const std::string problem = DbProblemOf(status);
  if (problem.empty()) return status;
  dr::v1::ReturnCode code = dr::v1::RETURN_CODE_FAILED;
  if (problem == kDbDirectoryMissing) {
    code = dr::v1::RETURN_CODE_FILE_NOT_FOUND;
  } else if (problem == kDbUnreadable || problem == kDbReadOnly ||
             problem == kDbDirectoryReadOnly) {
    code = dr::v1::RETURN_CODE_ACCESS_DENIED;
  } else if (problem == kDbIsDirectory || problem == kDbNotAFile || problem == kDbForeign) {
    code = dr::v1::RETURN_CODE_INVALID_PARAMETER;
  } else if (problem == kDbNotSqlite) {
    code = dr::v1::RETURN_CODE_INCORRECT_DATA_TYPE;
  } else if (problem == kDbNewerSchema) {
    code = dr::v1::RETURN_CODE_INVALID_STATE;
  } else if (problem == kDbInUse) {
    code = dr::v1::RETURN_CODE_SYSTEM_IN_USE;
  }  // DB_TRUNCATED, DB_CORRUPT: Failed.
  return ErrorWithDetail(status.code(), code, "db", problem, status.message());
}

}  // namespace server
}  // namespace hvdr
