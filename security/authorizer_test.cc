#include "security/authorizer.h"

#include <fstream>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace security {
namespace {

using ::testing::HasSubstr;

class AuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = std::getenv("TEST_TMPDIR");
    std::ofstream(dir + "/tokens.json")
        << R"({"tokens": [{"identity": "bob", "roles": ["operator"], "sha256": ")"
        << Sha256Hex("bob-token") << R"("}]})";
    std::ofstream(dir + "/policy.json")
        << R"({"bindings": [{"identity": "alice@example.com", "roles": ["viewer"]}]})";
    AccessFiles::Options o;
    o.tokens_path = dir + "/tokens.json";
    o.policy_path = dir + "/policy.json";
    o.clock = &clock_;
    auto files = AccessFiles::Open(o);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }
  FakeClock clock_;
  std::unique_ptr<AccessFiles> files_;
};

TEST_F(AuthorizerTest, ATokenBeatsTheCertificateAndNoCredentialIsUnauthenticated) {
  Authorizer server({files_.get(), {}});
  auto bob =
      server.Decide("/dr.v1.FailoverService/InitiateFailover", "bob-token", {"alice@example.com"});
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->identity, "bob");
  auto alice = server.Decide("/dr.v1.FailoverService/InitiateFailover", "", {"alice@example.com"});
  EXPECT_EQ(alice.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(alice.status().message(), HasSubstr("lacks permission failover.operate"));
  EXPECT_TRUE(server.Decide("/dr.v1.JobService/GetJob", "", {"alice@example.com"}).ok());
  EXPECT_EQ(server.Decide("/dr.v1.JobService/GetJob", "", {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.Decide("/dr.v1.JobService/GetJob", "guess", {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Health needs nothing; an unknown method is refused even for a token.
  EXPECT_TRUE(server.Decide("/grpc.health.v1.Health/Check", "", {}).ok());
  EXPECT_THAT(server.Decide("/dr.v1.JobService/Nope", "bob-token", {}).status().message(),
              HasSubstr("no entry in the permission table"));
}

TEST_F(AuthorizerTest, OnlyTheDrserverCertificateCallsAnAgent) {
  Authorizer agent({nullptr, {"drserver"}});
  const char* kFailover = "/dr.v1.HostAgentService/InitiateFailover";
  EXPECT_TRUE(agent.Decide(kFailover, "", {"drserver"}).ok());
  for (const auto& ids : std::vector<std::vector<std::string>>{{}, {"alice@example.com"}}) {
    auto r = agent.Decide(kFailover, "", ids);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(r.status().message(), HasSubstr("is for drserver only"));
  }
  // Not even a token of drserver's own users, and no dr.v1 client method.
  EXPECT_FALSE(agent.Decide(kFailover, "bob-token", {}).ok());
  EXPECT_FALSE(agent.Decide("/dr.v1.FailoverService/InitiateFailover", "", {"drserver"}).ok());
  EXPECT_THAT(std::string(RefusalStatus(agent.Decide(kFailover, "", {}).status()).error_message()),
              HasSubstr("[32769 Access Denied]"));
}

}  // namespace
}  // namespace security
}  // namespace hvdr
