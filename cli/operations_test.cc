#include "cli/operations.h"

#include "absl/strings/str_cat.h"
#include "cli/fake_stubs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace cli {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;

constexpr char kTestReplica[] =
    "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-000000000001";

ParsedArgs Args(std::vector<std::string> positional,
                std::map<std::string, std::vector<std::string>> values = {},
                std::set<std::string> booleans = {}) {
  ParsedArgs a;
  a.positional = std::move(positional);
  a.values = std::move(values);
  a.booleans = std::move(booleans);
  return a;
}

dr::v1::Job TestJob(dr::v1::JobState state) {
  dr::v1::Job job;
  job.set_name("jobs/j1");
  job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  job.set_virtual_machine(kTestReplica);
  job.set_state(state);
  return job;
}

grpc::Status Accept(dr::v1::JobResponse* resp) {
  *resp->mutable_job() = TestJob(dr::v1::JOB_STATE_NEW);
  resp->set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  return grpc::Status::OK;
}

TEST(OperationsTest, FlagsFollowTheRequestFields) {
  std::vector<std::string> commands, with_point;
  for (const OperationSpec& op : Operations()) {
    commands.push_back(op.command);
    if (op.takes_recovery_point) with_point.push_back(op.command);
    EXPECT_EQ(op.takes_network_settings, op.command == "reip") << op.command;
    EXPECT_NE(op.send, nullptr);
  }
  EXPECT_EQ(commands,
            (std::vector<std::string>{"failover", "revert", "commit", "test-failover", "cleanup",
                                      "reverse", "prepare", "start", "stop", "reip"}));
  EXPECT_EQ(with_point, (std::vector<std::string>{"failover", "test-failover"}));
  EXPECT_EQ(FindOperation("frobnicate"), nullptr);
}

TEST(OperationsTest, SendsTheLogicalNameForDrserverToResolve) {
  testing::TestCli cli;
  EXPECT_CALL(cli.failover, InitiateFailover(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::InitiateFailoverRequest& r,
                   dr::v1::JobResponse* resp) {
        EXPECT_EQ(r.virtual_machine(), "virtualMachines/sql-01");
        EXPECT_EQ(r.recovery_point(), "virtualMachines/sql-01/recoveryPoints/rp-1");
        EXPECT_EQ(r.request_id(), "step-1");
        EXPECT_EQ(r.requester(), "tester");
        return Accept(resp);
      });
  const int exit =
      RunOperation(cli.ctx, *FindOperation("failover"),
                   Args({"failover", "sql-01"},
                        {{"recovery-point", {"rp-1"}}, {"request-id", {"step-1"}}}, {"no-wait"}));
  EXPECT_EQ(exit, kOk) << cli.err.str();
  EXPECT_EQ(cli.out.str(), "jobs/j1\n");
}

TEST(OperationsTest, LatestIsNoRecoveryPointAndARequestIdIsMadeUp) {
  testing::TestCli cli;
  EXPECT_CALL(cli.failover, StartTestFailover(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::StartTestFailoverRequest& r,
                   dr::v1::JobResponse* resp) {
        EXPECT_EQ(r.recovery_point(), "");
        EXPECT_THAT(r.request_id(), ::testing::StartsWith("drctl-"));
        return Accept(resp);
      });
  EXPECT_EQ(RunOperation(
                cli.ctx, *FindOperation("test-failover"),
                Args({"test-failover", "sql-01"}, {{"recovery-point", {"latest"}}}, {"no-wait"})),
            kOk);
}

TEST(OperationsTest, HostNamesTheCopyOnThatHost) {
  testing::TestCli cli;
  EXPECT_CALL(cli.topology, ListVirtualMachines(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::ListVirtualMachinesRequest& r,
                   dr::v1::ListVirtualMachinesResponse* resp) {
        EXPECT_EQ(r.parent(), "hosts/hv-dr-1");
        resp->add_virtual_machines()->set_name(kTestReplica);
        return grpc::Status::OK;
      });
  EXPECT_CALL(cli.failover, StartVirtualMachine(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::StartVirtualMachineRequest& r,
                   dr::v1::JobResponse* resp) {
        EXPECT_EQ(r.virtual_machine(), kTestReplica);
        return Accept(resp);
      });
  EXPECT_EQ(RunOperation(cli.ctx, *FindOperation("start"),
                         Args({"start", "sql-01"}, {{"host", {"hv-dr-1"}}}, {"no-wait"})),
            kOk);
}

TEST(OperationsTest, ReipCarriesOneAdapter) {
  testing::TestCli cli;
  EXPECT_CALL(cli.failover, SetFailoverNetworkAdapterSettings(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::SetFailoverNetworkAdapterSettingsRequest& r,
                   dr::v1::JobResponse* resp) {
        EXPECT_EQ(r.network_settings_size(), 1);
        EXPECT_EQ(r.network_settings(0).adapter(), "lan");
        EXPECT_EQ(r.network_settings(0).ip_addresses_size(), 2);
        EXPECT_EQ(r.network_settings(0).dns_servers(0), "10.0.0.53");
        return Accept(resp);
      });
  EXPECT_EQ(
      RunOperation(
          cli.ctx, *FindOperation("reip"),
          Args({"reip", "sql-01"},
               {{"adapter", {"lan"}}, {"ip", {"10.0.0.5", "10.0.0.6"}}, {"dns", {"10.0.0.53"}}},
               {"no-wait"})),
      kOk);
}

TEST(OperationsTest, UsageMistakesSendNothing) {
  testing::TestCli cli;  // strict mocks: any call fails the test
  EXPECT_EQ(RunOperation(cli.ctx, *FindOperation("failover"), Args({"failover"})), kUsage);
  EXPECT_EQ(RunOperation(cli.ctx, *FindOperation("revert"),
                         Args({"revert", "vm"}, {{"recovery-point", {"x"}}})),
            kUsage);
  EXPECT_EQ(
      RunOperation(cli.ctx, *FindOperation("failover"), Args({"failover", "vm"}, {}, {"dhcp"})),
      kUsage);
  EXPECT_THAT(cli.err.str(), HasSubstr("failover takes one VM"));
  EXPECT_THAT(cli.err.str(), HasSubstr("--recovery-point does not apply to revert"));
  EXPECT_THAT(cli.err.str(), HasSubstr("--dhcp applies to reip only"));
}

TEST(OperationsTest, ABusyVmIsExitFour) {
  testing::TestCli cli;
  EXPECT_CALL(cli.failover, CommitFailover(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::ABORTED, "jobs/j0 runs on the VM")));
  EXPECT_EQ(RunOperation(cli.ctx, *FindOperation("commit"), Args({"commit", "sql-01"})), kBusy);
  EXPECT_THAT(cli.err.str(), HasSubstr("drctl: jobs/j0 runs on the VM [ABORTED"));
}

TEST(OperationsTest, WaitsForTheJobAndWatchesAgainAfterARestart) {
  testing::TestCli cli;
  EXPECT_CALL(cli.failover, InitiateFailover(_, _, _))
      .WillOnce(
          [](grpc::ClientContext*, auto&, dr::v1::JobResponse* resp) { return Accept(resp); });
  EXPECT_CALL(cli.jobs, WatchJobRaw(_, _))
      .WillOnce([](grpc::ClientContext*, auto&) {
        return new testing::FakeJobReader(
            {TestJob(dr::v1::JOB_STATE_RUNNING)},
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"));
      })
      .WillOnce([](grpc::ClientContext*, auto&) {
        return new testing::FakeJobReader({TestJob(dr::v1::JOB_STATE_COMPLETED)}, grpc::Status::OK);
      });
  EXPECT_EQ(RunOperation(cli.ctx, *FindOperation("failover"),
                         Args({"failover", "sql-01"}, {{"request-id", {"r"}}})),
            kOk)
      << cli.err.str();
  EXPECT_THAT(cli.out.str(),
              HasSubstr(absl::StrCat("InitiateFailover ", kTestReplica,
                                     ": accepted as jobs/j1 (return code 4096, request_id r)")));
  EXPECT_THAT(cli.out.str(), HasSubstr("jobs/j1 InitiateFailover Running 0%"));
  EXPECT_THAT(cli.out.str(), HasSubstr("jobs/j1: InitiateFailover completed"));
}

TEST(WaitForJobTest, AFailedJobIsExitFive) {
  testing::TestCli cli;
  dr::v1::Job failed = TestJob(dr::v1::JOB_STATE_EXCEPTION);
  failed.set_error_code(32779);
  failed.set_error_summary("Failover failed");
  EXPECT_CALL(cli.jobs, WatchJobRaw(_, _)).WillOnce([&](grpc::ClientContext*, auto&) {
    return new testing::FakeJobReader({failed}, grpc::Status::OK);
  });
  EXPECT_EQ(WaitForJob(cli.ctx, "jobs/j1"), kJobFailed);
  EXPECT_THAT(cli.err.str(),
              HasSubstr("drctl: jobs/j1 ended Exception: error 32779 Failover failed"));
}

TEST(WaitForJobTest, GivingUpIsExitSevenAndSaysHowToGoOn) {
  testing::TestCli cli;
  dr::v1::Job unknown = TestJob(dr::v1::JOB_STATE_RUNNING);
  unknown.set_return_code(dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_CALL(cli.jobs, WatchJobRaw(_, _)).WillOnce([&](grpc::ClientContext*, auto&) {
    return new testing::FakeJobReader(
        {unknown}, grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline"));
  });
  EXPECT_EQ(WaitForJob(cli.ctx, "jobs/j1"), kTimeout);
  EXPECT_THAT(cli.err.str(), HasSubstr("status unknown: agent unreachable"));
  EXPECT_THAT(cli.err.str(), HasSubstr("drctl jobs watch jobs/j1"));
}

TEST(WaitForJobTest, JsonPrintsTheLastVersionOnly) {
  testing::TestCli cli;
  cli.ctx.json = true;
  EXPECT_CALL(cli.jobs, WatchJobRaw(_, _)).WillOnce([](grpc::ClientContext*, auto&) {
    return new testing::FakeJobReader(
        {TestJob(dr::v1::JOB_STATE_RUNNING), TestJob(dr::v1::JOB_STATE_COMPLETED)},
        grpc::Status::OK);
  });
  EXPECT_EQ(WaitForJob(cli.ctx, "jobs/j1"), kOk);
  EXPECT_THAT(cli.out.str(), HasSubstr("\"state\": \"JOB_STATE_COMPLETED\""));
  EXPECT_THAT(cli.out.str(), ::testing::Not(HasSubstr("JOB_STATE_RUNNING")));
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
