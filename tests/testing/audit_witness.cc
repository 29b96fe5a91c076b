#include "tests/testing/audit_witness.h"

#include <google/protobuf/message.h>

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto_fields.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "security/permissions.h"

namespace hvdr {
namespace testing {

namespace {

class WitnessInterceptor final : public grpc::experimental::Interceptor {
 public:
  WitnessInterceptor(AuditWitness* witness, std::string method, std::string identity, bool insecure)
      : witness_(witness), insecure_(insecure) {
    call_.method = std::move(method);
    call_.identity = std::move(identity);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      const auto* request =
          static_cast<const google::protobuf::Message*>(methods->GetSendMessage());
      if (request != nullptr) {
        call_.request_id = StringField(*request, "request_id");
        if (insecure_)
          call_.identity = absl::StrCat("insecure:", StringField(*request, "requester"));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      const grpc::Status* status = methods->GetRecvStatus();
      const grpc::StatusCode code = status->error_code();
      if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::CANCELLED &&
          code != grpc::StatusCode::DEADLINE_EXCEEDED) {
        call_.status_code = static_cast<int>(code);
        witness_->Add(call_);
      }
    }
    methods->Proceed();
  }

 private:
  AuditWitness* const witness_;
  const bool insecure_;
  AuditWitness::Call call_;
};

class WitnessFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  WitnessFactory(AuditWitness* witness, std::string identity, bool insecure)
      : witness_(witness), identity_(std::move(identity)), insecure_(insecure) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    const security::MethodRule* rule = security::FindMethodRule(info->method());
    if (rule == nullptr || !rule->mutating) return nullptr;
    return new WitnessInterceptor(witness_, info->method(), identity_, insecure_);
  }

 private:
  AuditWitness* const witness_;
  const std::string identity_;
  const bool insecure_;
};

using Key = std::tuple<std::string, std::string, std::string, int>;

Key KeyOf(const AuditWitness::Call& c) {
  return {c.method, c.identity, c.request_id, c.status_code};
}

}  // namespace

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> AuditWitness::Factory(
    const std::string& identity, bool insecure) {
  return std::make_unique<WitnessFactory>(this, identity, insecure);
}

void AuditWitness::Add(Call call) {
  absl::MutexLock lock(&mu_);
  calls_.push_back(std::move(call));
}

std::vector<AuditWitness::Call> AuditWitness::Answered() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

std::vector<AuditWitness::Call> AuditWitness::Missing(const std::shared_ptr<grpc::Channel>& channel,
                                                      absl::Duration patience) const {
  const std::vector<Call> calls = Answered();
  auto audit = dr::v1::AuditService::NewStub(channel);
  const absl::Time give_up = absl::Now() + patience;
  std::vector<Call> missing;
  while (true) {
    std::map<Key, int> events;
    std::string page;
    bool read = true;
    do {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      dr::v1::ListAuditEventsRequest request;
      request.set_page_size(1000);
      request.set_page_token(page);
      dr::v1::ListAuditEventsResponse response;
      grpc::Status s = audit->ListAuditEvents(&ctx, request, &response);
      if (!s.ok()) {
        read = false;
        missing = calls;
        missing.insert(missing.begin(),
                       Call{"(the audit trail cannot be read: " + s.error_message() + ")", "", "",
                            static_cast<int>(s.error_code())});
        break;
      }
      for (const dr::v1::AuditEvent& e : response.audit_events()) {
        ++events[Key{e.method(), e.identity(), e.request_id(), e.status_code()}];
      }
      page = response.next_page_token();
    } while (!page.empty());
    if (read) {
      missing.clear();
      std::vector<Call> unmatched;
      for (const Call& c : calls) {
        int& left = events[KeyOf(c)];
        if (left > 0) {
          --left;
        } else {
          unmatched.push_back(c);
        }
      }
      // A call the authorization check refused never reached a handler:
      // its event has no request_id (gRPC's check sees no request body).
      for (const Call& c : unmatched) {
        const bool refused_by_check =
            c.status_code == static_cast<int>(grpc::StatusCode::PERMISSION_DENIED) ||
            c.status_code == static_cast<int>(grpc::StatusCode::UNAUTHENTICATED);
        int* left =
            refused_by_check ? &events[Key{c.method, c.identity, "", c.status_code}] : nullptr;
        if (left != nullptr && *left > 0) {
          --*left;
        } else {
          missing.push_back(c);
        }
      }
    }
    if (missing.empty() || absl::Now() >= give_up) return missing;
    absl::SleepFor(absl::Milliseconds(200));
  }
}

std::string DebugString(const AuditWitness::Call& call) {
  return absl::StrCat(call.method, " as ", call.identity, " request_id \"", call.request_id,
                      "\" answered ", call.status_code);
}

}  // namespace testing
}  // namespace hvdr
