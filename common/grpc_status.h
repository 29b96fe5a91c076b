// absl::Status <-> grpc::Status, carrying the Hyper-V return code both ways
// (see docs/api.md): on the server, ToGrpcStatus adds trailing metadata
// "dr-hyperv-return-code" (decimal) and "dr-error-bin" (dr.v1.ErrorDetail);
// on the client, FromGrpcStatus reads them back into the absl::Status payload.
#ifndef HVDR_COMMON_GRPC_STATUS_H_
#define HVDR_COMMON_GRPC_STATUS_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace hvdr {

inline constexpr char kReturnCodeMetadata[] = "dr-hyperv-return-code";
inline constexpr char kErrorDetailMetadata[] = "dr-error-bin";

// The gRPC status for `status`; for an error, also sets the trailing
// metadata on `context` (which may be null, e.g. in stream reactors that
// have none at hand).
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context);

// The absl::Status for a finished call, with its ErrorDetail when the server
// sent one. `context` may be null.
absl::Status FromGrpcStatus(const grpc::Status& status, const grpc::ClientContext* context);

}  // namespace hvdr

#endif  // HVDR_COMMON_GRPC_STATUS_H_
