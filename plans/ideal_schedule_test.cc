#include "plans/ideal_schedule.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/scheduler.h"
#include "plans/step_graph.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using ::testing::HasSubstr;
using testing::SimplePlan;
using testing::Vm;

// Failover 2 s, start 1 s, readiness as given: 3 s of host time per VM.
StepDurations kTestDurations(absl::Duration readiness = absl::ZeroDuration()) {
  StepDurations d;
  d.operations[dr::v1::STEP_KIND_FAILOVER] = absl::Seconds(2);
  d.operations[dr::v1::STEP_KIND_START] = absl::Seconds(1);
  d.default_operation = absl::Seconds(5);
  d.readiness = readiness;
  return d;
}

// VM n (from 1) on host (n - 1) % hosts.
std::map<std::string, VmPlacement> OnHosts(int vms, int hosts) {
  std::map<std::string, VmPlacement> out;
  for (int n = 1; n <= vms; ++n) {
    out[Vm(n)] = {absl::StrCat("hosts/p", (n - 1) % hosts),
                  absl::StrCat("hosts/h", (n - 1) % hosts)};
  }
  return out;
}

IdealSchedule Ideal(const dr::v1::Plan& plan, int hosts, const StepDurations& d,
                    Scheduler::Limits limits) {
  int vms = 0;
  for (const auto& g : plan.groups()) vms += g.vms_size();
  const StepGraph graph =
      BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, OnHosts(vms, hosts));
  absl::StatusOr<IdealSchedule> ideal = IdealMakespan(graph, d, limits);
  EXPECT_TRUE(ideal.ok()) << ideal.status();
  return ideal.ok() ? *ideal : IdealSchedule{};
}

// The makespan the scheduler reaches when every step takes exactly its
// duration and starts the instant the scheduler lets it (no overhead).
absl::Duration SimulatedMakespan(const StepGraph& graph, const StepDurations& d,
                                 Scheduler::Limits limits) {
  Scheduler sched(&graph, limits);
  std::multimap<absl::Duration, int> ends;
  absl::Duration now;
  auto start = [&] {
    for (int s : sched.TakeStartable()) ends.emplace(now + DurationOf(graph.steps[s], d), s);
  };
  start();
  while (!ends.empty()) {
    now = ends.begin()->first;
    const int s = ends.begin()->second;
    ends.erase(ends.begin());
    sched.Finish(s, true);
    start();
  }
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  return now;
}

TEST(IdealScheduleTest, OneVmTakesItsChain) {
  const IdealSchedule ideal =
      Ideal(SimplePlan(1, 1), 1, kTestDurations(absl::Milliseconds(500)), {8, 256});
  ASSERT_EQ(ideal.groups.size(), 1u);
  EXPECT_EQ(ideal.groups[0].longest_chain, absl::Milliseconds(3500));
  // 3 s / 8, then the boot after the start.
  EXPECT_EQ(ideal.groups[0].busiest_host, absl::Milliseconds(375 + 500));
  EXPECT_EQ(ideal.groups[0].busiest_host_name, "hosts/h0");
  EXPECT_EQ(ideal.makespan, absl::Milliseconds(3500));
}

TEST(IdealScheduleTest, ABusyHostIsItsOperationTimeOverItsLimit) {
  // 4 VMs on one host, 2 at once: 12 s of operations in 2 slots.
  const IdealSchedule ideal = Ideal(SimplePlan(1, 4), 1, kTestDurations(), {2, 256});
  EXPECT_EQ(ideal.groups[0].longest_chain, absl::Seconds(3));
  EXPECT_EQ(ideal.groups[0].busiest_host, absl::Seconds(6));
  EXPECT_EQ(ideal.makespan, absl::Seconds(6));
}

// After a host's last operation its VM still boots: 2 VMs on one host, one
// at a time, 6 s of operations, then the second guest's 2 s boot.
TEST(IdealScheduleTest, TheBootAfterAHostsLastOperationCounts) {
  const IdealSchedule ideal =
      Ideal(SimplePlan(1, 2), 1, kTestDurations(absl::Seconds(2)), {1, 256});
  EXPECT_EQ(ideal.groups[0].longest_chain, absl::Seconds(5));
  EXPECT_EQ(ideal.groups[0].busiest_host, absl::Seconds(8));
  EXPECT_EQ(ideal.makespan, absl::Seconds(8));
  const StepGraph graph =
      BuildStepGraph(SimplePlan(1, 2), dr::v1::EXECUTION_MODE_UNPLANNED, OnHosts(2, 1));
  EXPECT_EQ(SimulatedMakespan(graph, kTestDurations(absl::Seconds(2)), {1, 256}), absl::Seconds(8))
      << "and the scheduler reaches it";
}

TEST(IdealScheduleTest, TheBusiestHostCounts) {
  // 5 VMs on 2 hosts: h0 holds 3 (9 s), h1 2 (6 s); 1 at once per host.
  const IdealSchedule ideal = Ideal(SimplePlan(1, 5), 2, kTestDurations(), {1, 256});
  EXPECT_EQ(ideal.groups[0].busiest_host, absl::Seconds(9));
  EXPECT_EQ(ideal.groups[0].busiest_host_name, "hosts/h0");
  EXPECT_EQ(ideal.makespan, absl::Seconds(9));
}

TEST(IdealScheduleTest, ThePlanLimitIsAllOperationTimeOverIt) {
  // 8 VMs on 2 hosts, 4 per host but 2 in all: 24 s in 2 slots.
  const IdealSchedule ideal = Ideal(SimplePlan(1, 8), 2, kTestDurations(), {4, 2});
  EXPECT_EQ(ideal.groups[0].busiest_host, absl::Seconds(3));
  EXPECT_EQ(ideal.groups[0].all_operations, absl::Seconds(12));
  EXPECT_EQ(ideal.makespan, absl::Seconds(12));
}

TEST(IdealScheduleTest, DependenciesLengthenTheChain) {
  // 3 after 2 after 1, readiness 1 s: three chains of 4 s end to end.
  dr::v1::Plan plan = SimplePlan(1, 4);
  plan.mutable_groups(0)->mutable_vms(2)->add_depends_on(Vm(2));
  plan.mutable_groups(0)->mutable_vms(1)->add_depends_on(Vm(1));
  const IdealSchedule ideal = Ideal(plan, 4, kTestDurations(absl::Seconds(1)), {8, 256});
  EXPECT_EQ(ideal.groups[0].longest_chain, absl::Seconds(12));
  EXPECT_EQ(ideal.makespan, absl::Seconds(12));
}

TEST(IdealScheduleTest, GroupsAddUpAndGroupStepsAreInTheChain) {
  // g1: a 10 s wait, then 1 VM (3 s): 13 s. g2: 4 VMs on 1 host, 1 at once:
  // 12 s. The network settings add a SET_NETWORK (the default, 5 s) to g3's
  // one VM: 8 s.
  dr::v1::Plan plan = SimplePlan(3, 0);
  dr::v1::PlanStep* settle = plan.mutable_groups(0)->add_before();
  settle->set_id("settle");
  settle->mutable_wait()->set_seconds(10);
  plan.mutable_groups(0)->add_vms()->set_vm_id(Vm(1));
  for (int n = 2; n <= 5; ++n) plan.mutable_groups(1)->add_vms()->set_vm_id(Vm(n));
  dr::v1::PlanVm* reip = plan.mutable_groups(2)->add_vms();
  reip->set_vm_id(Vm(6));
  reip->add_network_settings()->set_adapter("nic0");
  // Hosts: VM n on h((n - 1) % 1) = h0 for all.
  const IdealSchedule ideal = Ideal(plan, 1, kTestDurations(), {1, 256});
  ASSERT_EQ(ideal.groups.size(), 3u);
  EXPECT_EQ(ideal.groups[0].bound, absl::Seconds(13));
  EXPECT_EQ(ideal.groups[0].longest_chain, absl::Seconds(13));
  EXPECT_EQ(ideal.groups[1].bound, absl::Seconds(12));
  EXPECT_EQ(ideal.groups[1].longest_chain, absl::Seconds(3)) << "the previous group is not in it";
  EXPECT_EQ(ideal.groups[2].bound, absl::Seconds(8));
  EXPECT_EQ(ideal.makespan, absl::Seconds(33));
}

TEST(IdealScheduleTest, AVmLeftOffHasNoStartOrReadiness) {
  dr::v1::Plan plan = SimplePlan(1, 1);
  plan.mutable_groups(0)->mutable_vms(0)->set_startup_action(dr::v1::STARTUP_ACTION_LEAVE_OFF);
  EXPECT_EQ(Ideal(plan, 1, kTestDurations(absl::Seconds(30)), {8, 256}).makespan, absl::Seconds(2));
}

TEST(IdealScheduleTest, TheSchedulerReachesTheBoundWhenChainsFitTheSlots) {
  // The benchmark's shape, smaller: 3 groups of 40 VMs on 4 hosts, 5 at
  // once per host; each host's 10 VMs of a group take 2 rounds of 3 s.
  const dr::v1::Plan plan = SimplePlan(3, 40);
  const StepGraph graph = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, OnHosts(120, 4));
  absl::StatusOr<IdealSchedule> ideal = IdealMakespan(graph, kTestDurations(), {5, 20});
  ASSERT_TRUE(ideal.ok()) << ideal.status();
  EXPECT_EQ(ideal->makespan, absl::Seconds(18));
  EXPECT_EQ(SimulatedMakespan(graph, kTestDurations(), {5, 20}), ideal->makespan);
}

TEST(IdealScheduleTest, NeverAboveWhatTheSchedulerReaches) {
  // Uneven hosts, dependencies, readiness and a plan limit that binds
  // sometimes: the bound stays at or below the overhead-free run.
  for (int hosts : {1, 3, 7}) {
    for (int total : {2, 6, 100}) {
      dr::v1::Plan plan = SimplePlan(2, 25);
      for (int v = 5; v < 25; v += 6) {
        plan.mutable_groups(1)->mutable_vms(v)->add_depends_on(Vm(26 + v - 3));
      }
      const StepGraph graph =
          BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, OnHosts(50, hosts));
      const StepDurations d = kTestDurations(absl::Milliseconds(700));
      absl::StatusOr<IdealSchedule> ideal = IdealMakespan(graph, d, {3, total});
      ASSERT_TRUE(ideal.ok()) << ideal.status();
      const absl::Duration simulated = SimulatedMakespan(graph, d, {3, total});
      EXPECT_LE(ideal->makespan, simulated) << hosts << " hosts, " << total << " in all";
      EXPECT_GT(ideal->makespan, simulated / 2) << hosts << " hosts, " << total << " in all";
    }
  }
}

TEST(IdealScheduleTest, BadInputIsRefusedNamingTheField) {
  const StepGraph graph =
      BuildStepGraph(SimplePlan(1, 1), dr::v1::EXECUTION_MODE_UNPLANNED, OnHosts(1, 1));
  StepDurations d = kTestDurations();
  d.operations[dr::v1::STEP_KIND_START] = absl::Seconds(-1);
  absl::StatusOr<IdealSchedule> bad = IdealMakespan(graph, d, {8, 256});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("STEP_KIND_START"));

  d = kTestDurations(absl::Seconds(-2));
  EXPECT_THAT(IdealMakespan(graph, d, {8, 256}).status().message(),
              HasSubstr("durations.readiness"));

  bad = IdealMakespan(graph, kTestDurations(), {0, 256});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("limits.max_per_host"));
  EXPECT_THAT(IdealMakespan(graph, kTestDurations(), {8, 0}).status().message(),
              HasSubstr("limits.max_total"));

  StepGraph cyclic = graph;
  cyclic.topo.pop_back();
  EXPECT_THAT(IdealMakespan(cyclic, kTestDurations(), {8, 256}).status().message(),
              HasSubstr("graph.topo"));
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
