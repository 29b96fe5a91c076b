#include "common/grpc_status.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"

namespace hvdr {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  if (context != nullptr) {
    dr::v1::ErrorDetail detail = ErrorDetailOf(status);
    context->AddTrailingMetadata(kReturnCodeMetadata, absl::StrCat(detail.return_code()));
    context->AddTrailingMetadata(kErrorDetailMetadata, detail.SerializeAsString());
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status, const grpc::ClientContext* context) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (context != nullptr) {
    const auto& trailers = context->GetServerTrailingMetadata();
    auto it = trailers.find(kErrorDetailMetadata);
    if (it != trailers.end()) {
      dr::v1::ErrorDetail detail;
      if (detail.ParseFromArray(it->second.data(), static_cast<int>(it->second.size()))) {
        out.SetPayload(kErrorDetailUrl, absl::Cord(detail.SerializeAsString()));
      }
    }
  }
  return out;
}

}  // namespace hvdr
