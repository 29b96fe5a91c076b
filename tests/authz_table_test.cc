// The authorization table, end to end over TLS: drserver on loopback with
// a throwaway CA (tools/mkcerts.sh), one bearer token per role; every RPC
// of every service drserver serves is called as each role, without any
// credential, and with a client certificate of another CA. Each call is
// allowed or refused exactly as security/permissions.h says: allowed calls
// reach their handler (whatever it then answers of an empty request),
// refused ones are PERMISSION_DENIED naming the permission and 32769, or
// UNAUTHENTICATED. A method of any service without a table entry fails the
// first test.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"
#include "security/permissions.h"
#include "security/served_services.h"
#include "server/server.h"
#include "tests/testing/certs.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace {

using security::FindMethodRule;
using security::MethodRule;
using security::Permission;

const std::vector<std::string>& Roles() { return security::RoleNames(); }

class AuthzTableTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new std::string(testing::NewTempDir("authz-certs"));
    std::string tokens;
    for (const std::string& role : Roles()) {
      absl::StrAppend(&tokens, tokens.empty() ? "" : ",", role, ":", role);
    }
    ASSERT_TRUE(testing::MakeCerts(*certs_, {"--tokens", tokens}).ok());
    other_ca_ = new std::string(testing::NewTempDir("authz-other-ca"));
    ASSERT_TRUE(testing::MakeCerts(*other_ca_, {"--clients", "stranger"}).ok());
  }

  void SetUp() override {
    server::DrServer::Options options;
    options.listen = "127.0.0.1:0";
    options.db_path = testing::NewTempDir("authz-db") + "/drserver.db";
    options.periodic_sync = false;
    options.tls.cert = *certs_ + "/drserver.crt";
    options.tls.key = *certs_ + "/drserver.key";
    options.tls.ca = *certs_ + "/ca.crt";
    options.tokens_file = *certs_ + "/tokens.json";
    auto server = server::DrServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    address_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  // A channel as `who`: a role's token, "" (no credential) or "stranger"
  // (a client certificate of another CA).
  std::shared_ptr<grpc::Channel> Channel(const std::string& who) {
    if (who == "stranger") {
      return grpc::CreateChannel(address_,
                                 testing::ClientTls(*certs_, "", *other_ca_ + "/client-stranger"));
    }
    return grpc::CreateChannel(
        address_, testing::ClientTls(*certs_, who.empty() ? "" : testing::TokenOf(*certs_, who)));
  }

  // Calls `method` with `request` (serialized) as one message and returns
  // the status; streams are cut by the deadline (2 s) once they are open.
  static grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                           const std::string& request = "") {
    grpc::GenericStub stub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::Slice slice(request);
    grpc::ByteBuffer req(&slice, 1), resp;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    return status;
  }

  static bool RoleHas(const std::string& role, Permission p) {
    std::vector<Permission> perms;
    if (!security::RolePermissions(role, &perms)) return false;
    return std::find(perms.begin(), perms.end(), p) != perms.end();
  }

  static std::string* certs_;
  static std::string* other_ca_;
  std::unique_ptr<server::DrServer> server_;
  std::string address_;
};

std::string* AuthzTableTest::certs_ = nullptr;
std::string* AuthzTableTest::other_ca_ = nullptr;

TEST_F(AuthzTableTest, EveryRpcAsEveryRoleIsAllowedOrRefusedExactlyAsTheTableSays) {
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& role : Roles()) channels[role] = Channel(role);
  channels[""] = Channel("");
  int calls = 0;
  for (const auto* service : security::DrserverServices()) {
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string method = "/" + service->full_name() + "/" + service->method(i)->name();
      const MethodRule* rule = FindMethodRule(method);
      ASSERT_NE(rule, nullptr) << method << ": a method without an entry in the permission table";
      for (const auto& [who, channel] : channels) {
        const grpc::Status s = Call(channel, method);
        ++calls;
        const std::string row = absl::StrCat(method, " as ", who.empty() ? "nobody" : who, ": ",
                                             s.error_code(), " ", s.error_message());
        if (rule->permission == Permission::kNone) {
          EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << row;
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << row;
        } else if (who.empty()) {
          EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << row;
        } else if (RoleHas(who, rule->permission)) {
          EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << row;
          EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << row;
        } else {
          EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << row;
          EXPECT_TRUE(absl::StrContains(
              s.error_message(),
              absl::StrCat("lacks permission ", security::PermissionName(rule->permission))))
              << row;
          EXPECT_TRUE(absl::StrContains(s.error_message(), "32769")) << row;
        }
      }
    }
  }
  EXPECT_GT(calls, 40 * 6);
}

TEST_F(AuthzTableTest, ACertificateOfAnotherCaIsRefusedAtTheHandshake) {
  auto stranger = Channel("stranger");
  for (const char* method :
       {"/dr.v1.TopologyService/ListHosts", "/dr.v1.FailoverService/InitiateFailover"}) {
    const grpc::Status s = Call(stranger, method);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << method << ": " << s.error_message();
  }
}

TEST_F(AuthzTableTest, APlanRunInAModeOtherThanTestNeedsPlansRun) {
  for (const auto& [mode, tester_may] : std::vector<std::pair<dr::v1::ExecutionMode, bool>>{
           {dr::v1::EXECUTION_MODE_TEST, true},
           {dr::v1::EXECUTION_MODE_CLEANUP_TEST, true},
           {dr::v1::EXECUTION_MODE_PLANNED, false},
           {dr::v1::EXECUTION_MODE_UNPLANNED, false},
           {dr::v1::EXECUTION_MODE_COMMIT, false}}) {
    dr::v1::StartPlanExecutionRequest r;
    r.set_plan("plans/none");
    r.set_mode(mode);
    r.set_request_id("x");
    const std::string bytes = r.SerializeAsString();
    const std::string method = "/dr.v1.PlanService/StartPlanExecution";
    const grpc::Status tester = Call(Channel("tester"), method, bytes);
    const grpc::Status op = Call(Channel("operator"), method, bytes);
    const std::string row = dr::v1::ExecutionMode_Name(mode);
    EXPECT_EQ(tester.error_code() == grpc::StatusCode::PERMISSION_DENIED, !tester_may)
        << row << ": " << tester.error_message();
    if (!tester_may) {
      EXPECT_TRUE(absl::StrContains(tester.error_message(), "lacks permission plans.run")) << row;
    }
    EXPECT_NE(op.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << row << ": " << op.error_message();
    EXPECT_EQ(Call(Channel("viewer"), method, bytes).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << row;
  }
}

}  // namespace
}  // namespace hvdr
