// Recovery plans end to end, with real processes: the demo estate
// (deploy/examples' two simulated hosts), the example plan applied with
// drctl, validated for each mode against what the agents report - and
// nothing run.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using ::testing::HasSubstr;

constexpr char kPlanFile[] = "deploy/examples/demo-site.plan.textproto";

struct Result {
  int exit;
  std::string out;
  std::string err;
};

hvdr::sim::v1::Scenario ReadScenario(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  hvdr::sim::v1::Scenario s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &s)) << path;
  return s;
}

class PlansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>("plans");
    auto primary = ReadScenario("deploy/examples/primary-site.textproto");
    auto replica = ReadScenario("deploy/examples/replica-site.textproto");
    ASSERT_TRUE(cluster_->StartAgent("hv-prod-1", &primary).ok());
    ASSERT_TRUE(cluster_->StartAgent("hv-dr-1", &replica).ok());
    ASSERT_TRUE(cluster_->StartServer().ok());
    ASSERT_TRUE(cluster_->Register("hv-prod-1", "sites/prod").ok());
    ASSERT_TRUE(cluster_->Register("hv-dr-1", "sites/dr").ok());
  }

  Result Drctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {hvdr::testing::RunfilePath("cli/drctl"),
                                     "--server=" + cluster_->server_address(), "--requester=ci"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r;
    r.exit = hvdr::testing::RunCommand(argv, &r.out, &r.err);
    return r;
  }

  std::unique_ptr<Cluster> cluster_;
};

TEST_F(PlansTest, TheExamplePlanIsAppliedAndValidatedForEachModeWithNothingRun) {
  Result created = Drctl({"plans", "apply", "-f", kPlanFile});
  ASSERT_EQ(created.exit, 0) << created.err << created.out;
  EXPECT_THAT(created.out, HasSubstr("plans/demo-site version 1 (2 groups) created"));
  EXPECT_THAT(created.out, HasSubstr("4 VMs, sites/prod -> sites/dr"));

  // Both sites are up: a test failover and a planned one can run.
  for (const char* mode : {"test", "planned", "unplanned"}) {
    Result ok = Drctl({"plans", "validate", "demo-site", "--mode", mode});
    EXPECT_EQ(ok.exit, 0) << mode << "\n" << ok.out << ok.err;
    EXPECT_THAT(ok.out, HasSubstr("0 errors")) << mode;
  }
  // Nothing failed over yet: there is nothing to commit, for every VM.
  Result commit = Drctl({"plans", "validate", "demo-site", "--mode", "commit"});
  EXPECT_EQ(commit.exit, 3) << commit.out << commit.err;
  EXPECT_THAT(commit.out, HasSubstr("INVALID_STATE"));
  EXPECT_THAT(commit.out, HasSubstr("4 errors"));

  // Applying the same file again replaces the plan under its etag.
  Result updated = Drctl({"plans", "apply", "-f", kPlanFile});
  ASSERT_EQ(updated.exit, 0) << updated.err;
  EXPECT_THAT(updated.out, HasSubstr("version 2 (2 groups) updated"));

  // The production site is lost: a planned failover cannot run, an
  // unplanned one can.
  cluster_->KillAgent("hv-prod-1");
  Result planned;
  for (int i = 0; i < 100; ++i) {
    planned = Drctl({"plans", "validate", "demo-site", "--mode", "planned"});
    if (planned.exit != 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(planned.exit, 3) << planned.out << planned.err;
  EXPECT_THAT(planned.out, HasSubstr("HOST_UNREACHABLE"));
  EXPECT_THAT(planned.out, HasSubstr("hosts/hv-prod-1"));
  Result unplanned = Drctl({"plans", "validate", "demo-site", "--mode", "unplanned"});
  EXPECT_EQ(unplanned.exit, 0) << unplanned.out << unplanned.err;

  // Nothing was run: no job exists, and the simulator's ledger is empty.
  Result jobs = Drctl({"jobs", "list", "--output", "json"});
  ASSERT_EQ(jobs.exit, 0) << jobs.err;
  EXPECT_THAT(jobs.out, ::testing::Not(HasSubstr("jobs/")));
  EXPECT_EQ(cluster_->AgentState("hv-dr-1").history_size(), 0);

  // Running a plan is refused as not supported (yet), with Hyper-V's code.
  auto channel =
      grpc::CreateChannel(cluster_->server_address(), grpc::InsecureChannelCredentials());
  auto plans = dr::v1::PlanService::NewStub(channel);
  grpc::ClientContext context;
  dr::v1::StartPlanExecutionRequest start;
  start.set_plan("plans/demo-site");
  start.set_mode(dr::v1::EXECUTION_MODE_TEST);
  start.set_request_id("run-1");
  dr::v1::PlanExecution execution;
  absl::Status s = FromGrpcStatus(plans->StartPlanExecution(&context, start, &execution), &context);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_NOT_SUPPORTED);
}

TEST_F(PlansTest, ABadPlanFileIsRefusedNamingTheLineOrTheField) {
  const std::string dir = cluster_->dir();
  const std::string cycle = dir + "/cycle.plan.textproto";
  std::ofstream(cycle) << R"(name: "plans/cycle"
source_site: "sites/prod"
target_site: "sites/dr"
groups {
  id: "g"
  vms { vm_id: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01" depends_on: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C02" }
  vms { vm_id: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C02" depends_on: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01" }
}
)";
  Result r = Drctl({"plans", "apply", "-f", cycle});
  EXPECT_EQ(r.exit, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("plan.groups[0].vms[1].depends_on"));
  EXPECT_THAT(r.err, HasSubstr("cycle"));
  const std::string typo = dir + "/typo.plan.textproto";
  std::ofstream(typo) << "name: \"plans/typo\"\ngroups {\n  vm { vm_id: \"x\" }\n}\n";
  r = Drctl({"plans", "apply", "-f", typo});
  EXPECT_EQ(r.exit, 3);
  EXPECT_THAT(r.err, HasSubstr("typo.plan.textproto:3:"));
  Result list = Drctl({"plans", "list"});
  EXPECT_THAT(list.out, HasSubstr("no plans"));
}

}  // namespace
}  // namespace hvdr
