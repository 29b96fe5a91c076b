#include "cli/context.h"

#include "cli/fake_stubs.h"
#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;

constexpr char kTestReplica[] =
    "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-000000000001";
constexpr char kTestPrimary[] =
    "hosts/hv-prod-1/virtualMachines/0DD0C0DE-0000-4000-8000-000000000001";

TEST(ExitForTest, MapsCodesToTheDocumentedStatuses) {
  EXPECT_EQ(ExitFor(absl::OkStatus()), kOk);
  EXPECT_EQ(ExitFor(absl::UnavailableError("")), kUnreachable);
  EXPECT_EQ(ExitFor(absl::DeadlineExceededError("")), kUnreachable);
  EXPECT_EQ(ExitFor(absl::AbortedError("")), kBusy);
  EXPECT_EQ(ExitFor(absl::InvalidArgumentError("")), kRefused);
  EXPECT_EQ(ExitFor(absl::NotFoundError("")), kRefused);
  EXPECT_EQ(ExitFor(absl::FailedPreconditionError("")), kRefused);
  EXPECT_EQ(ExitFor(absl::UnimplementedError("")), kRefused);
  EXPECT_EQ(ExitFor(absl::InternalError("")), kError);
  EXPECT_EQ(ExitFor(absl::ResourceExhaustedError("")), kError);
}

TEST(FailTest, TextGoesToStderrNamingTheServerWhenUnreachable) {
  testing::TestCli cli;
  EXPECT_EQ(Fail(cli.ctx, absl::UnavailableError("connection refused")), kUnreachable);
  EXPECT_THAT(cli.err.str(),
              HasSubstr("drctl: cannot reach drserver at drserver.test:50051: connection refused"));
  EXPECT_EQ(cli.out.str(), "");
}

TEST(FailTest, JsonGoesToStdout) {
  testing::TestCli cli;
  cli.ctx.json = true;
  EXPECT_EQ(Fail(cli.ctx, InvalidParameter("virtual_machine", "AMBIGUOUS", "two copies")),
            kRefused);
  nlohmann::json j = nlohmann::json::parse(cli.out.str());
  EXPECT_EQ(j["error"]["reason"], "AMBIGUOUS");
  EXPECT_EQ(j["exit_status"], kRefused);
  EXPECT_EQ(cli.err.str(), "");
}

TEST(UsageTest, PointsAtHelp) {
  testing::TestCli cli;
  EXPECT_EQ(Usage(cli.ctx, "failover takes one VM"), kUsage);
  EXPECT_EQ(cli.err.str(), "drctl: failover takes one VM\nRun 'drctl --help' for usage.\n");
}

TEST(NameArgTest, AcceptIdsAndNames) {
  EXPECT_EQ(HostArg("hv-1"), "hosts/hv-1");
  EXPECT_EQ(HostArg("hosts/hv-1"), "hosts/hv-1");
  EXPECT_EQ(JobArg("j1"), "jobs/j1");
  EXPECT_EQ(SiteArg("sites/dr"), "sites/dr");
}

TEST(ParseEnumTest, TakesHyperVWordsFullNamesAndNumbers) {
  auto parse = [](const std::string& text) {
    return ParseEnum<dr::v1::JobType>("--type", "JOB_TYPE_", text, dr::v1::JobType_Parse);
  };
  EXPECT_EQ(*parse("initiate-failover"), dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  EXPECT_EQ(*parse("JOB_TYPE_COMMIT_FAILOVER"), dr::v1::JOB_TYPE_COMMIT_FAILOVER);
  EXPECT_EQ(*parse("98"), dr::v1::JOB_TYPE_REVERT_FAILOVER);
  absl::StatusOr<dr::v1::JobType> bad = parse("frobnicate");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(bad.status()).field(), "--type");
}

TEST(FindOneCopyTest, AFullNameNeedsNoCall) {
  testing::TestCli cli;  // strict mocks: any call fails the test
  EXPECT_EQ(*FindOneCopy(cli.ctx, kTestReplica, ""), kTestReplica);
}

TEST(FindOneCopyTest, AsksTheServersFilterOnTheGivenHost) {
  testing::TestCli cli;
  EXPECT_CALL(cli.topology, ListVirtualMachines(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::ListVirtualMachinesRequest& r,
                   dr::v1::ListVirtualMachinesResponse* resp) {
        EXPECT_EQ(r.display_name_or_id(), "sql-01");
        EXPECT_EQ(r.parent(), "hosts/hv-dr-1");
        resp->add_virtual_machines()->set_name(kTestReplica);
        return grpc::Status::OK;
      });
  EXPECT_EQ(*FindOneCopy(cli.ctx, "virtualMachines/sql-01", "hv-dr-1"), kTestReplica);
}

TEST(FindOneCopyTest, NoneIsNotFound) {
  testing::TestCli cli;
  EXPECT_CALL(cli.topology, ListVirtualMachines(_, _, _)).WillOnce(Return(grpc::Status::OK));
  absl::StatusOr<std::string> copy = FindOneCopy(cli.ctx, "sql-09", "hv-dr-1");
  EXPECT_EQ(copy.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(copy.status().message(), HasSubstr("no VM named \"sql-09\" on hosts/hv-dr-1"));
}

TEST(FindOneCopyTest, TwoCopiesAreAmbiguousAndHintAtHost) {
  testing::TestCli cli;
  EXPECT_CALL(cli.topology, ListVirtualMachines(_, _, _))
      .WillOnce([](grpc::ClientContext*, auto&, dr::v1::ListVirtualMachinesResponse* resp) {
        auto* primary = resp->add_virtual_machines();
        primary->set_name(kTestPrimary);
        primary->set_replication_mode(dr::v1::REPLICATION_MODE_PRIMARY);
        auto* replica = resp->add_virtual_machines();
        replica->set_name(kTestReplica);
        replica->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
        return grpc::Status::OK;
      });
  absl::StatusOr<std::string> copy = FindOneCopy(cli.ctx, "sql-01", "");
  EXPECT_EQ(copy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(copy.status()).reason(), "AMBIGUOUS");
  EXPECT_THAT(copy.status().message(),
              HasSubstr(absl::StrCat(kTestPrimary, " (primary), ", kTestReplica, " (replica)")));
  EXPECT_THAT(copy.status().message(), HasSubstr("pass --host"));
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
