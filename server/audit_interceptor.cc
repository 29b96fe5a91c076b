#include "server/audit_interceptor.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_fields.h"
#include "common/proto_time.h"
#include "security/permissions.h"

namespace hvdr {
namespace server {

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// The resource a request names: its name, VM, plan or host.
std::string Target(const Message& request) {
  for (const char* field : {"name", "virtual_machine", "plan", "execution", "parent"}) {
    std::string v = StringField(request, field);
    if (!v.empty()) return v;
  }
  if (const Message* plan = MessageField(request, "plan")) return StringField(*plan, "name");
  if (std::string host = StringField(request, "host_id"); !host.empty()) {
    return absl::StrCat("hosts/", host);
  }
  return "";
}

// The job or execution an answer names.
std::string Created(const Message& response) {
  if (const Message* job = MessageField(response, "job")) return StringField(*job, "name");
  return StringField(response, "name");
}

}  // namespace

dr::v1::AuditEvent CallAuditEvent(const grpc::ServerContextBase* context, absl::string_view method,
                                  const Message* request, const security::Authorizer* authorizer,
                                  Clock* clock) {
  dr::v1::AuditEvent e;
  e.set_method(std::string(method));
  if (request != nullptr) {
    e.set_resource(Target(*request));
    e.set_request_id(StringField(*request, "request_id"));
  }
  if (authorizer == nullptr) {
    e.set_identity(
        absl::StrCat("insecure:", request != nullptr ? StringField(*request, "requester") : ""));
  } else if (absl::optional<security::Caller> caller =
                 security::Authorizer::CallerOf(authorizer, context)) {
    e.set_identity(caller->identity);
  }
  if (context != nullptr) e.set_peer(context->peer());
  ToProto(clock->Now(), e.mutable_time());
  return e;
}

namespace {

class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(grpc::experimental::ServerRpcInfo* info, AuditLog* log,
                   const security::Authorizer* authorizer, Clock* clock)
      : info_(info), log_(log), authorizer_(authorizer), clock_(clock) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Read when the event is built: the request outlives the answer.
      request_ = static_cast<const Message*>(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      const auto* response = static_cast<const Message*>(methods->GetSendMessage());
      if (response != nullptr) {
        created_ = Created(*response);
        // A JobResponse's Hyper-V answer (4096: the job started).
        const FieldDescriptor* rc = response->GetDescriptor()->FindFieldByName("return_code");
        if (rc != nullptr && !rc->is_repeated() && rc->type() == FieldDescriptor::TYPE_ENUM) {
          answered_code_ = response->GetReflection()->GetEnumValue(*response, rc);
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      std::multimap<std::string, std::string>* trailers = methods->GetSendTrailingMetadata();
      if (trailers != nullptr && trailers->erase(std::string(kAuditedWithItsWrite)) > 0) {
        // The handler wrote the event with its own transaction (no event is
        // built here).
        methods->Proceed();
        return;
      }
      // The answer waits (without holding a thread) until its event is in
      // the store: recorded before it is answered.
      Record(methods->GetSendStatus(), trailers, [methods] { methods->Proceed(); });
      return;
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status, std::multimap<std::string, std::string>* trailers,
              std::function<void()> proceed) {
    dr::v1::AuditEvent event =
        CallAuditEvent(info_->server_context(), info_->method(), request_, authorizer_, clock_);
    event.set_status_code(static_cast<int32_t>(status.error_code()));
    int code = status.ok() ? answered_code_ : 0;
    if (trailers != nullptr) {
      auto it = trailers->find(kReturnCodeMetadata);
      if (it != trailers->end()) (void)absl::SimpleAtoi(it->second, &code);
    }
    event.set_return_code(static_cast<dr::v1::ReturnCode>(code));
    if (status.ok()) {
      event.set_created(created_);
    } else {
      event.set_message(status.error_message());
    }
    log_->Record(std::move(event), std::move(proceed));
  }

  grpc::experimental::ServerRpcInfo* const info_;
  AuditLog* const log_;
  const security::Authorizer* const authorizer_;
  Clock* const clock_;
  const Message* request_ = nullptr;  // null until read (e.g. too large to read)
  std::string created_;               // the answer's job or execution
  int answered_code_ = 0;
};

}  // namespace

grpc::experimental::Interceptor* AuditInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const security::MethodRule* rule = security::FindMethodRule(info->method());
  if (rule == nullptr || !rule->mutating) return nullptr;
  return new AuditInterceptor(info, log_, authorizer_, clock_);
}

void AuditRefusal(AuditLog* log, Clock* clock, absl::string_view method,
                  const std::string& identity, const absl::Status& refusal,
                  std::function<void()> answer) {
  const security::MethodRule* rule = security::FindMethodRule(method);
  // Unknown methods are refused for all and are not mutations of ours;
  // they are logged by the authorization check.
  if (rule == nullptr || !rule->mutating) return answer();
  dr::v1::AuditEvent e;
  ToProto(clock->Now(), e.mutable_time());
  e.set_identity(identity);
  e.set_method(std::string(method));
  const bool unauthenticated = refusal.code() == absl::StatusCode::kUnauthenticated;
  e.set_status_code(unauthenticated ? static_cast<int32_t>(grpc::StatusCode::UNAUTHENTICATED)
                                    : static_cast<int32_t>(grpc::StatusCode::PERMISSION_DENIED));
  e.set_return_code(unauthenticated ? dr::v1::RETURN_CODE_COMPLETED
                                    : dr::v1::RETURN_CODE_ACCESS_DENIED);
  e.set_message(std::string(refusal.message()));
  log->Record(std::move(e), std::move(answer));
}

}  // namespace server
}  // namespace hvdr
