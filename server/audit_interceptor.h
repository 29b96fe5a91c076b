// The one place every mutating call is audited: a gRPC server interceptor
// (ServerBuilder::experimental().SetInterceptorCreators) on every method
// the permission table marks mutating. It reads the request's target and
// request_id, the answer's job or execution, and the status sent, and
// records an AuditEvent with the caller's authenticated identity and
// address; the answer is sent once the event is committed (AuditLog's
// group commit, a few milliseconds). Calls the authorization check refused
// never reach it: the check reports those (AuditRefusal), and their
// refusal is sent once that event is committed too.
#ifndef HVDR_SERVER_AUDIT_INTERCEPTOR_H_
#define HVDR_SERVER_AUDIT_INTERCEPTOR_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "dr/v1/audit_service.pb.h"
#include "security/authorizer.h"
#include "server/audit_log.h"

namespace hvdr {
namespace server {

class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // Not owned. `authorizer` null: an --insecure server (the identity is
  // then "insecure:" and the request's requester).
  AuditInterceptorFactory(AuditLog* log, const security::Authorizer* authorizer, Clock* clock)
      : log_(log), authorizer_(authorizer), clock_(clock) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  AuditLog* const log_;
  const security::Authorizer* const authorizer_;
  Clock* const clock_;
};

// The audit event of a call of `method` (full path) with `request` (null
// if it was never read), as far as it is known before the answer: time,
// identity (the authenticated one; with a null `authorizer`, "insecure:"
// and the request's requester), peer, method, resource, request_id. The interceptor builds every
// event with it; a handler that writes its call's event with its own transaction (a failover's job
// creation: WriteOp::audit) builds it with it too, and then adds kAuditedWithItsWrite to its
// trailing metadata, which the interceptor removes instead of writing the event again.
dr::v1::AuditEvent CallAuditEvent(const grpc::ServerContextBase* context, absl::string_view method,
                                  const google::protobuf::Message* request,
                                  const security::Authorizer* authorizer, Clock* clock);
inline constexpr char kAuditedWithItsWrite[] = "hvdr-audited-with-its-write";

// Records the event of a call the authorization check refused, if its
// method is mutating, and calls `answer` once it is committed (or its
// write failed and is being retried); at once for any other method.
void AuditRefusal(AuditLog* log, Clock* clock, absl::string_view method,
                  const std::string& identity, const absl::Status& refusal,
                  std::function<void()> answer);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_AUDIT_INTERCEPTOR_H_
