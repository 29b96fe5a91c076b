#include "cli/commands.h"

#include <regex>

#include "absl/strings/str_split.h"
#include "cli/fake_stubs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace cli {
namespace {

using ::testing::_;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Return;

constexpr char kTestReplica[] =
    "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-000000000001";

ParsedArgs Parse(std::vector<std::string> args) {
  absl::StatusOr<ParsedArgs> a = ParseArgs(args, Flags());
  EXPECT_TRUE(a.ok()) << a.status();
  return *a;
}

TEST(CommandsTest, HelpListsEveryCommandWithItsUsage) {
  const std::string help = HelpText();
  std::vector<std::string> lines = absl::StrSplit(help, '\n');
  for (const Command& c : Commands()) {
    EXPECT_THAT(help, HasSubstr(c.usage.empty() ? c.name : c.name + " " + c.usage)) << c.name;
    EXPECT_TRUE(c.handler) << c.name;
  }
  EXPECT_THAT(
      lines, Contains("  start VM | stop VM                           start / turn off a VM copy"));
  EXPECT_THAT(lines,
              Contains("  jobs get JOB | jobs watch JOB | jobs events JOB | jobs cancel JOB"));
  EXPECT_THAT(
      lines,
      Contains("  vms show VM                      (with its relationships and recovery points)"));
  EXPECT_THAT(lines,
              Contains("  test-failover VM [--recovery-point ID|latest]  TestReplicaSystem"));
  EXPECT_THAT(help, HasSubstr("\nExit status\n"));
}

TEST(CommandsTest, EveryFlagTheHelpNamesIsAccepted) {
  const std::string help = HelpText();
  std::regex flag("--([a-z][a-z-]*)");
  int seen = 0;
  for (std::sregex_iterator it(help.begin(), help.end(), flag), end; it != end; ++it, ++seen) {
    const std::string name = (*it)[1];
    EXPECT_TRUE(Flags().valued.count(name) + Flags().booleans.count(name) == 1) << "--" << name;
  }
  EXPECT_GT(seen, 20);
}

TEST(CommandsTest, CommandNamesAreUnique) {
  std::set<std::string> names;
  for (const Command& c : Commands()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

TEST(CommandsTest, UnknownCommandsAndSubcommandsAreUsageErrors) {
  testing::TestCli cli;  // strict mocks: nothing is sent
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"frobnicate"})), kUsage);
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"hosts", "frob"})), kUsage);
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"vms"})), kUsage);
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"sites", "list", "extra"})), kUsage);
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"jobs", "frob", "j1"})), kUsage);
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"jobs", "get"})), kUsage);
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"jobs", "list", "--limit", "0"})), kUsage);
  const std::string err = cli.err.str();
  EXPECT_THAT(err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(err, HasSubstr("hosts takes list, add, sync or remove"));
  EXPECT_THAT(err, HasSubstr("vms takes list or show"));
  EXPECT_THAT(err, HasSubstr("sites takes list"));
  EXPECT_THAT(err, HasSubstr("jobs takes list, get, watch, events or cancel"));
  EXPECT_THAT(err, HasSubstr("jobs get takes JOB"));
  EXPECT_THAT(err, HasSubstr("--limit takes a positive number"));
}

TEST(CommandsTest, OperationsRunThroughTheTable) {
  testing::TestCli cli;
  EXPECT_CALL(cli.failover, RevertFailover(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::RevertFailoverRequest& r,
                   dr::v1::JobResponse* resp) {
        EXPECT_EQ(r.virtual_machine(), "virtualMachines/sql-01");
        resp->mutable_job()->set_name("jobs/j1");
        return grpc::Status::OK;
      });
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"revert", "sql-01", "--no-wait"})), kOk);
  EXPECT_EQ(cli.out.str(), "jobs/j1\n");
}

TEST(CommandsTest, HostsListPrintsATable) {
  testing::TestCli cli;
  EXPECT_CALL(cli.topology, ListHosts(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::ListHostsRequest& r,
                   dr::v1::ListHostsResponse* resp) {
        EXPECT_EQ(r.site(), "sites/dr");
        resp->add_hosts()->set_name("hosts/hv-dr-1");
        return grpc::Status::OK;
      });
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"hosts", "list", "--site", "dr"})), kOk);
  EXPECT_THAT(cli.out.str(), HasSubstr("HOST "));
  EXPECT_THAT(cli.out.str(), HasSubstr("hosts/hv-dr-1 "));
}

TEST(CommandsTest, SyncOfAnUnreachableHostIsExitSix) {
  testing::TestCli cli;
  EXPECT_CALL(cli.topology, SyncHost(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::SyncHostRequest& r, dr::v1::Host* h) {
        EXPECT_EQ(r.name(), "hosts/hv-dr-1");
        h->set_name(r.name());
        h->set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
        return grpc::Status::OK;
      });
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"hosts", "sync", "hv-dr-1"})), kUnreachable);
  EXPECT_EQ(cli.out.str(), "hosts/hv-dr-1: unreachable\n");
}

TEST(CommandsTest, VmsShowReadsTheOneCopyTheNameMeans) {
  testing::TestCli cli;
  cli.ctx.json = true;
  EXPECT_CALL(cli.topology, ListVirtualMachines(_, _, _))
      .WillOnce([](grpc::ClientContext*, auto&, dr::v1::ListVirtualMachinesResponse* resp) {
        resp->add_virtual_machines()->set_name(kTestReplica);
        return grpc::Status::OK;
      });
  EXPECT_CALL(cli.topology, GetVirtualMachine(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::GetVirtualMachineRequest& r,
                   dr::v1::VirtualMachine* vm) {
        EXPECT_EQ(r.name(), kTestReplica);
        vm->set_name(r.name());
        return grpc::Status::OK;
      });
  EXPECT_CALL(cli.topology, ListRecoveryPoints(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_CALL(cli.topology, ListReplicationRelationships(_, _, _))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"vms", "show", "sql-01", "--host", "hv-dr-1"})), kOk)
      << cli.err.str();
  EXPECT_THAT(cli.out.str(), HasSubstr("\"virtual_machine\": {"));
}

TEST(CommandsTest, JobsGetAndCancelNameTheJob) {
  testing::TestCli cli;
  EXPECT_CALL(cli.jobs, GetJob(_, _, _))
      .WillOnce([](grpc::ClientContext*, const dr::v1::GetJobRequest& r, dr::v1::Job* job) {
        EXPECT_EQ(r.name(), "jobs/j1");
        job->set_name(r.name());
        return grpc::Status::OK;
      });
  EXPECT_CALL(cli.jobs, CancelJob(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "jobs/j1 is terminal")));
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"jobs", "get", "j1"})), kOk);
  EXPECT_THAT(cli.out.str(), HasSubstr("job:         jobs/j1\n"));
  EXPECT_EQ(RunCommand(cli.ctx, Parse({"jobs", "cancel", "jobs/j1", "--request-id", "c1"})),
            kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("jobs/j1 is terminal"));
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
