#include "plans/step_graph.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using ::testing::ElementsAre;
using testing::PlanFromText;
using testing::SimplePlan;
using testing::Vm;

std::map<std::string, VmPlacement> Placement(int vms) {
  std::map<std::string, VmPlacement> out;
  for (int n = 1; n <= vms; ++n) out[Vm(n)] = {"hosts/p1", "hosts/r1"};
  return out;
}

std::vector<std::string> Ids(const StepGraph& g) {
  std::vector<std::string> out;
  for (const Step& s : g.steps) out.push_back(s.id);
  return out;
}

std::vector<std::string> PredecessorIds(const StepGraph& g, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& [p, e] : g.steps[g.by_id.at(id)].after) out.push_back(g.steps[p].id);
  return out;
}

TEST(StepGraphTest, PlannedFailoverOfOneVmRunsEveryOperationInOrderOnTheRightHost) {
  dr::v1::Plan plan = SimplePlan(1, 1);
  plan.mutable_groups(0)->mutable_vms(0)->add_network_settings()->set_adapter("eth0");
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_PLANNED, Placement(1));
  const std::string p = "g1." + Vm(1) + ".";
  EXPECT_THAT(Ids(g), ElementsAre(p + "stop-primary", p + "prepare", p + "failover",
                                  p + "set-network", p + "start", p + "readiness", p + "reverse"));
  EXPECT_EQ(g.steps[0].host, "hosts/p1");
  EXPECT_EQ(g.steps[1].host, "hosts/p1");
  EXPECT_EQ(g.steps[2].host, "hosts/r1");
  EXPECT_TRUE(g.steps[5].host.empty()) << "readiness is not an operation";
  EXPECT_THAT(PredecessorIds(g, p + "failover"), ElementsAre(p + "prepare"));
}

TEST(StepGraphTest, EachModeHasItsOperations) {
  dr::v1::Plan plan = SimplePlan(1, 1);
  auto kinds = [&](dr::v1::ExecutionMode mode) {
    std::vector<dr::v1::StepKind> out;
    for (const Step& s : BuildStepGraph(plan, mode, Placement(1)).steps) out.push_back(s.kind);
    return out;
  };
  EXPECT_THAT(kinds(dr::v1::EXECUTION_MODE_TEST),
              ElementsAre(dr::v1::STEP_KIND_TEST_FAILOVER, dr::v1::STEP_KIND_START,
                          dr::v1::STEP_KIND_READINESS));
  EXPECT_THAT(kinds(dr::v1::EXECUTION_MODE_CLEANUP_TEST),
              ElementsAre(dr::v1::STEP_KIND_CLEANUP_TEST));
  EXPECT_THAT(kinds(dr::v1::EXECUTION_MODE_UNPLANNED),
              ElementsAre(dr::v1::STEP_KIND_FAILOVER, dr::v1::STEP_KIND_START,
                          dr::v1::STEP_KIND_READINESS));
  EXPECT_THAT(kinds(dr::v1::EXECUTION_MODE_COMMIT), ElementsAre(dr::v1::STEP_KIND_COMMIT));
  EXPECT_THAT(kinds(dr::v1::EXECUTION_MODE_REVERT),
              ElementsAre(dr::v1::STEP_KIND_STOP_REPLICA, dr::v1::STEP_KIND_REVERT));
  plan.mutable_groups(0)->mutable_vms(0)->set_startup_action(dr::v1::STARTUP_ACTION_LEAVE_OFF);
  EXPECT_THAT(kinds(dr::v1::EXECUTION_MODE_UNPLANNED), ElementsAre(dr::v1::STEP_KIND_FAILOVER));
}

TEST(StepGraphTest, GroupsFollowEachOtherAndStepsRunOnlyInTheirModes) {
  dr::v1::Plan plan = PlanFromText(R"pb(
    source_site: "sites/a"
    target_site: "sites/b"
    groups {
      id: "db"
      before {
        id: "ask"
        prompt { message: "go?" }
        modes: EXECUTION_MODE_PLANNED
      }
      vms { vm_id: "00000000-0000-0000-0000-000000000001" startup_action: STARTUP_ACTION_LEAVE_OFF }
      vms { vm_id: "00000000-0000-0000-0000-000000000002" startup_action: STARTUP_ACTION_LEAVE_OFF }
      after {
        id: "settle"
        wait { seconds: 5 }
      }
    }
    groups {
      id: "app"
      vms { vm_id: "00000000-0000-0000-0000-000000000003" startup_action: STARTUP_ACTION_LEAVE_OFF }
    }
  )pb");
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, Placement(3));
  EXPECT_THAT(Ids(g), ElementsAre("db." + Vm(1) + ".failover", "db." + Vm(2) + ".failover",
                                  "db.after.settle", "app." + Vm(3) + ".failover"));
  EXPECT_THAT(PredecessorIds(g, "db.after.settle"),
              ElementsAre("db." + Vm(1) + ".failover", "db." + Vm(2) + ".failover"));
  EXPECT_THAT(PredecessorIds(g, "app." + Vm(3) + ".failover"), ElementsAre("db.after.settle"));
  const StepGraph planned = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_PLANNED, Placement(3));
  EXPECT_EQ(planned.steps[0].id, "db.before.ask");
  EXPECT_TRUE(planned.steps[0].critical) << "a group step under ERROR_MODE_STOP halts";
}

TEST(StepGraphTest, ADependentVmStartsAfterItsDependencyAndTopoOrderRespectsIt) {
  dr::v1::Plan plan = SimplePlan(1, 3);
  // VM 1 depends on VM 3 (listed after it).
  plan.mutable_groups(0)->mutable_vms(0)->add_depends_on(Vm(3));
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_COMMIT, Placement(3));
  EXPECT_THAT(PredecessorIds(g, "g1." + Vm(1) + ".commit"), ElementsAre("g1." + Vm(3) + ".commit"));
  auto pos = [&](int step) {
    return std::find(g.topo.begin(), g.topo.end(), step) - g.topo.begin();
  };
  ASSERT_EQ(g.topo.size(), g.steps.size());
  EXPECT_LT(pos(2), pos(0));
}

TEST(StepGraphTest, AVmWithoutPlacementRunsOnNoHost) {
  const StepGraph g = BuildStepGraph(SimplePlan(1, 1), dr::v1::EXECUTION_MODE_COMMIT, {});
  EXPECT_EQ(g.steps[0].host, "hosts/-");
}

TEST(StepGraphTest, ACommitPolicyWaitsAfterTheLastGroupThenCommitsEachVm) {
  dr::v1::Plan plan = SimplePlan(2, 1);
  plan.mutable_groups(0)->mutable_vms(0)->set_startup_action(dr::v1::STARTUP_ACTION_LEAVE_OFF);
  dr::v1::CommitPolicy policy;
  policy.set_action(dr::v1::CommitPolicy::ACTION_COMMIT);
  policy.set_after_seconds(600);
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, Placement(2), policy);
  const std::string v1 = "g1." + Vm(1) + ".";
  const std::string v2 = "g2." + Vm(2) + ".";
  EXPECT_THAT(Ids(g), ElementsAre(v1 + "failover", v2 + "failover", v2 + "start", v2 + "readiness",
                                  "commit-policy.wait", v1 + "commit", v2 + "commit"));
  const Step& wait = g.steps[g.by_id.at("commit-policy.wait")];
  EXPECT_EQ(wait.kind, dr::v1::STEP_KIND_WAIT);
  EXPECT_EQ(wait.group, -1);
  EXPECT_EQ(wait.plan_step.wait().seconds(), 600u);
  EXPECT_THAT(PredecessorIds(g, "commit-policy.wait"), ElementsAre(v2 + "readiness"));
  EXPECT_THAT(PredecessorIds(g, v1 + "commit"), ElementsAre("commit-policy.wait", v1 + "failover"));
  EXPECT_EQ(g.steps[g.by_id.at(v1 + "commit")].host, "hosts/r1");
  EXPECT_EQ(g.vms[0].steps.back(), g.by_id.at(v1 + "commit")) << "the commit is its VM's step";

  policy.set_action(dr::v1::CommitPolicy::ACTION_REVERT);
  policy.set_after_seconds(0);
  const StepGraph r = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, Placement(2), policy);
  EXPECT_EQ(r.steps[r.by_id.at("commit-policy.wait")].plan_step.wait().seconds(), 3600u);
  EXPECT_EQ(r.steps[r.by_id.at(v2 + "revert")].kind, dr::v1::STEP_KIND_REVERT);
  EXPECT_THAT(PredecessorIds(r, v2 + "revert"), ElementsAre(v2 + "stop-replica"));
  EXPECT_THAT(PredecessorIds(r, v2 + "stop-replica"),
              ElementsAre("commit-policy.wait", v2 + "readiness"));
  // Other modes take no policy.
  for (auto mode : {dr::v1::EXECUTION_MODE_PLANNED, dr::v1::EXECUTION_MODE_TEST}) {
    EXPECT_EQ(BuildStepGraph(plan, mode, Placement(2), policy).by_id.count("commit-policy.wait"),
              0u);
  }
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
