// The store's refusals (storage/refusal.h) and database problems
// (db/db_file.h) said in the API's terms: canonical gRPC code, Hyper-V
// return code, the request field at fault and a reason (docs/api.md). The
// store knows none of these; every status a service answers passes here.
#ifndef HVDR_SERVER_STORE_STATUS_H_
#define HVDR_SERVER_STORE_STATUS_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hvdr {
namespace server {

// `status` with a refusal of the store restated as the API's error (see the
// table in store_status.cc); any other status unchanged.
absl::Status ApiStatus(const absl::Status& status);

// `result`, with its error said by ApiStatus.
template <typename T>
absl::StatusOr<T> Api(absl::StatusOr<T> result) {
  if (!result.ok()) return ApiStatus(result.status());
  return result;
}

// ToGrpcStatus(ApiStatus(status), context) (common/grpc_status.h).
grpc::Status ApiGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context);

// A database problem of opening the store (DbProblemOf) as drserver's
// start-up error: the same code and message, with an ErrorDetail naming
// the field "db", the problem as its reason and a Hyper-V return code;
// any other status unchanged.
absl::Status DatabaseStatus(const absl::Status& status);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_STORE_STATUS_H_
