#include "plans/scheduler.h"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/step_graph.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using dr::v1::ResumePlanExecutionRequest;
using ::testing::ElementsAre;
using testing::PlanFromText;
using testing::SimplePlan;
using testing::Vm;

// Runs a scheduler in virtual time: every started step ends `duration(s)`
// later, succeeding unless `fails(s, attempt)`. Records the order and the
// concurrency seen.
struct VirtualRun {
  const StepGraph& graph;
  Scheduler& sched;
  std::function<int64_t(int)> duration = [](int) { return 10; };
  std::function<bool(int, int)> fails = [](int, int) { return false; };

  int64_t now = 0;
  std::multimap<int64_t, int> ends;  // time -> step
  std::vector<int> started;          // in start order
  std::map<int, int64_t> start_time, end_time;
  int max_ops = 0;
  std::map<std::string, int> max_on_host;

  void StartReady() {
    for (int s : sched.TakeStartable()) {
      started.push_back(s);
      start_time[s] = now;
      ends.emplace(now + duration(s), s);
      const Step& st = graph.steps[s];
      if (st.is_operation())
        max_on_host[st.host] = std::max(max_on_host[st.host], sched.RunningOn(st.host));
    }
    max_ops = std::max(max_ops, sched.RunningOperations());
  }
  // Runs until nothing runs (terminal or halted).
  void Run() {
    StartReady();
    while (!ends.empty()) {
      auto it = ends.begin();
      now = it->first;
      const int s = it->second;
      ends.erase(it);
      end_time[s] = now;
      sched.Finish(s, !fails(s, sched.status(s).attempt));
      StartReady();
    }
  }
  int Index(const std::string& id) const { return graph.by_id.at(id); }
};

size_t RealSteps(const StepGraph& g) {
  size_t n = 0;
  for (const Step& s : g.steps) n += s.gate ? 0 : 1;
  return n;
}

std::map<std::string, VmPlacement> OneHostPerVm(int vms, int hosts) {
  std::map<std::string, VmPlacement> out;
  for (int n = 1; n <= vms; ++n) {
    const std::string h = absl::StrCat("hosts/h", (n - 1) % hosts);
    out[Vm(n)] = {"hosts/p" + h.substr(6), h};
  }
  return out;
}

TEST(SchedulerTest, GroupsRunInOrderAndVmsOfAGroupInParallel) {
  const StepGraph g =
      BuildStepGraph(SimplePlan(3, 4), dr::v1::EXECUTION_MODE_COMMIT, OneHostPerVm(12, 12));
  Scheduler sched(&g, {8, 256});
  VirtualRun run{g, sched};
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_TRUE(sched.Terminal());
  for (int v = 0; v < 12; ++v) {
    const int s = g.vms[v].steps[0];
    EXPECT_EQ(run.start_time[s], (v / 4) * 10) << "VM " << v;
  }
  EXPECT_EQ(run.now, 30);
}

TEST(SchedulerTest, DependenciesOrderVmsInsideAGroup) {
  dr::v1::Plan plan = SimplePlan(1, 3);
  // 1 after 2 after 3.
  plan.mutable_groups(0)->mutable_vms(0)->add_depends_on(Vm(2));
  plan.mutable_groups(0)->mutable_vms(1)->add_depends_on(Vm(3));
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, OneHostPerVm(3, 3));
  Scheduler sched(&g, {});
  VirtualRun run{g, sched};
  run.Run();
  // Each VM's readiness ends before the next VM's failover starts.
  const std::string p = "g1.";
  EXPECT_LE(run.end_time[run.Index(p + Vm(3) + ".readiness")],
            run.start_time[run.Index(p + Vm(2) + ".failover")]);
  EXPECT_LE(run.end_time[run.Index(p + Vm(2) + ".readiness")],
            run.start_time[run.Index(p + Vm(1) + ".failover")]);
  EXPECT_EQ(run.now, 90);
}

TEST(SchedulerTest, PerHostAndPerExecutionLimitsAreNeverExceeded) {
  // 200 VMs on 4 hosts, limits 3 per host and 10 in all.
  const StepGraph g =
      BuildStepGraph(SimplePlan(2, 100), dr::v1::EXECUTION_MODE_PLANNED, OneHostPerVm(200, 4));
  Scheduler sched(&g, {3, 10});
  VirtualRun run{g, sched};
  run.duration = [](int s) { return 1 + (s * 7919) % 13; };
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_LE(run.max_ops, 10);
  EXPECT_EQ(run.max_ops, 10) << "the limit is used";
  for (const auto& [host, n] : run.max_on_host) EXPECT_LE(n, 3) << host;
  EXPECT_EQ(run.started.size(), RealSteps(g));
}

TEST(SchedulerTest, ANonCriticalVmFailureSkipsItsRestAndItsDependentsOnly) {
  dr::v1::Plan plan = SimplePlan(2, 3);
  plan.mutable_groups(0)->mutable_vms(1)->add_depends_on(Vm(1));  // 2 needs 1
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, OneHostPerVm(6, 6));
  Scheduler sched(&g, {});
  VirtualRun run{g, sched};
  const int failover1 = g.by_id.at("g1." + Vm(1) + ".failover");
  run.fails = [&](int s, int) { return s == failover1; };
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS);
  EXPECT_TRUE(sched.Terminal());
  EXPECT_EQ(sched.status(failover1).state, dr::v1::STEP_STATE_FAILED);
  for (int v : {0, 1}) {
    for (int s : g.vms[v].steps) {
      if (s == failover1) continue;
      EXPECT_EQ(sched.status(s).state, dr::v1::STEP_STATE_SKIPPED) << g.steps[s].id;
      EXPECT_EQ(sched.status(s).skip_cause, dr::v1::SKIP_CAUSE_UPSTREAM_FAILED);
    }
  }
  for (int v : {2, 3, 4, 5}) {
    for (int s : g.vms[v].steps) EXPECT_EQ(sched.status(s).state, dr::v1::STEP_STATE_SUCCEEDED);
  }
}

class HaltTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plan_ = SimplePlan(2, 2);
    plan_.mutable_groups(0)->mutable_vms(0)->set_critical(true);
    graph_ = BuildStepGraph(plan_, dr::v1::EXECUTION_MODE_UNPLANNED, OneHostPerVm(4, 4));
    sched_ = std::make_unique<Scheduler>(&graph_, Scheduler::Limits{});
    run_ = std::make_unique<VirtualRun>(VirtualRun{graph_, *sched_});
    start1_ = graph_.by_id.at("g1." + Vm(1) + ".start");
    // VM 1's start fails on its first attempt only.
    run_->fails = [this](int s, int attempt) { return s == start1_ && attempt == 1; };
    run_->Run();
  }
  dr::v1::Plan plan_;
  StepGraph graph_;
  std::unique_ptr<Scheduler> sched_;
  std::unique_ptr<VirtualRun> run_;
  int start1_ = 0;
};

TEST_F(HaltTest, ACriticalFailureHaltsAndNothingNewStarts) {
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_HALTED);
  EXPECT_EQ(sched_->HaltedStep(), start1_);
  EXPECT_FALSE(sched_->Terminal());
  // VM 2 (same group, not dependent) finished what it had started, and
  // starts nothing more; group 2 never started.
  const std::vector<int>& vm2 = graph_.vms[1].steps;
  EXPECT_EQ(sched_->status(vm2[0]).state, dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(sched_->status(vm2[1]).state, dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(sched_->status(vm2[2]).state, dr::v1::STEP_STATE_PENDING);
  for (int v : {2, 3}) {
    for (int s : graph_.vms[v].steps)
      EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_PENDING);
  }
  EXPECT_EQ(sched_->status(start1_ + 1).state, dr::v1::STEP_STATE_PENDING) << "waits for resume";
  EXPECT_TRUE(sched_->TakeStartable().empty());
}

TEST_F(HaltTest, RetryRunsTheStepAgainAsANewAttemptAndGoesOn) {
  ASSERT_TRUE(
      sched_
          ->Resume(ResumePlanExecutionRequest::ACTION_RETRY, ResumePlanExecutionRequest::SCOPE_STEP)
          .ok());
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_RUNNING);
  run_->Run();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(sched_->status(start1_).attempt, 2);
  EXPECT_EQ(sched_->status(start1_ - 1).attempt, 1) << "the failover before it is not repeated";
}

TEST_F(HaltTest, SkipStepGoesOnAsIfItHadSucceeded) {
  ASSERT_TRUE(
      sched_
          ->Resume(ResumePlanExecutionRequest::ACTION_SKIP, ResumePlanExecutionRequest::SCOPE_STEP)
          .ok());
  run_->Run();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS);
  EXPECT_EQ(sched_->status(start1_).skip_cause, dr::v1::SKIP_CAUSE_OPERATOR);
  EXPECT_EQ(sched_->status(start1_ + 1).state, dr::v1::STEP_STATE_SUCCEEDED) << "readiness ran";
  EXPECT_EQ(sched_->status(start1_).attempt, 1);
}

TEST_F(HaltTest, SkipVmSkipsTheRestOfTheVm) {
  ASSERT_TRUE(
      sched_->Resume(ResumePlanExecutionRequest::ACTION_SKIP, ResumePlanExecutionRequest::SCOPE_VM)
          .ok());
  run_->Run();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS);
  EXPECT_EQ(sched_->status(start1_ + 1).state, dr::v1::STEP_STATE_SKIPPED) << "readiness skipped";
  for (int v : {2, 3}) {
    for (int s : graph_.vms[v].steps)
      EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_SUCCEEDED);
  }
}

TEST_F(HaltTest, RetryGroupRetriesEveryFailedStepOfTheGroup) {
  ASSERT_TRUE(sched_
                  ->Resume(ResumePlanExecutionRequest::ACTION_RETRY,
                           ResumePlanExecutionRequest::SCOPE_GROUP)
                  .ok());
  run_->Run();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

TEST_F(HaltTest, RetryVmRunsTheVmsFailedStepsAgainAndTheVmGoesOn) {
  const std::vector<int>& vm1 = graph_.vms[0].steps;  // failover, start, readiness
  const std::vector<int>& vm2 = graph_.vms[1].steps;
  const size_t started_before = run_->started.size();
  const int64_t resumed_at = run_->now;
  ASSERT_TRUE(
      sched_->Resume(ResumePlanExecutionRequest::ACTION_RETRY, ResumePlanExecutionRequest::SCOPE_VM)
          .ok());
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_RUNNING);
  EXPECT_EQ(sched_->status(start1_).state, dr::v1::STEP_STATE_PENDING);
  run_->Run();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  // The failed start ran again as attempt 2; the failover that had
  // succeeded did not run again; the readiness that waited ran once.
  EXPECT_EQ(sched_->status(vm1[0]).attempt, 1);
  EXPECT_EQ(sched_->status(start1_).attempt, 2);
  EXPECT_EQ(sched_->status(start1_ + 1).attempt, 1);
  EXPECT_EQ(run_->start_time[start1_], resumed_at) << "retried at the resume";
  EXPECT_LE(run_->end_time[start1_], run_->start_time[start1_ + 1]);
  for (int s : vm1) EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_SUCCEEDED);
  // VM 2 went on from where it stopped: only its readiness ran now.
  for (int s : vm2) {
    EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_SUCCEEDED);
    EXPECT_EQ(sched_->status(s).attempt, 1);
  }
  // Started after the resume: VM 1's start and readiness, VM 2's
  // readiness, then every step of group 2 once VM 1 was ready.
  std::vector<int> resumed(run_->started.begin() + started_before, run_->started.end());
  EXPECT_EQ(resumed.size(), 3 + graph_.vms[2].steps.size() + graph_.vms[3].steps.size());
  for (int v : {2, 3}) {
    for (int s : graph_.vms[v].steps) {
      EXPECT_EQ(sched_->status(s).attempt, 1);
      EXPECT_GE(run_->start_time[s], run_->end_time[start1_ + 1]) << graph_.steps[s].id;
    }
  }
}

TEST_F(HaltTest, SkipGroupSkipsTheGroupsUnfinishedStepsAndTheNextGroupStarts) {
  const std::vector<int>& vm2 = graph_.vms[1].steps;
  const size_t started_before = run_->started.size();
  const int64_t resumed_at = run_->now;
  ASSERT_TRUE(
      sched_
          ->Resume(ResumePlanExecutionRequest::ACTION_SKIP, ResumePlanExecutionRequest::SCOPE_GROUP)
          .ok());
  // Every failed or unfinished step of group 1 is skipped by the operator
  // at once, VM 2's waiting readiness too; what had succeeded stays so.
  EXPECT_EQ(sched_->status(start1_).state, dr::v1::STEP_STATE_SKIPPED);
  EXPECT_EQ(sched_->status(start1_).skip_cause, dr::v1::SKIP_CAUSE_OPERATOR);
  EXPECT_EQ(sched_->status(start1_).attempt, 1) << "its failed attempt stays recorded";
  for (int s : {start1_ + 1, vm2[2]}) {
    EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_SKIPPED) << graph_.steps[s].id;
    EXPECT_EQ(sched_->status(s).skip_cause, dr::v1::SKIP_CAUSE_OPERATOR) << graph_.steps[s].id;
    EXPECT_EQ(sched_->status(s).attempt, 0) << graph_.steps[s].id;
  }
  for (int s : {start1_ - 1, vm2[0], vm2[1]}) {
    EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_SUCCEEDED) << graph_.steps[s].id;
  }
  run_->Run();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS);
  // Nothing of group 1 ran again; group 2 started at the resume and ran
  // every step once.
  std::vector<int> resumed(run_->started.begin() + started_before, run_->started.end());
  for (int s : resumed) EXPECT_EQ(graph_.steps[s].group, 1) << graph_.steps[s].id;
  for (int v : {2, 3}) {
    EXPECT_EQ(run_->start_time[graph_.vms[v].steps[0]], resumed_at);
    for (int s : graph_.vms[v].steps) {
      EXPECT_EQ(sched_->status(s).state, dr::v1::STEP_STATE_SUCCEEDED) << graph_.steps[s].id;
      EXPECT_EQ(sched_->status(s).attempt, 1) << graph_.steps[s].id;
    }
  }
  EXPECT_EQ(resumed.size(), graph_.vms[2].steps.size() + graph_.vms[3].steps.size());
}

TEST_F(HaltTest, ResumeOfARunningExecutionIsRefused) {
  ASSERT_TRUE(
      sched_
          ->Resume(ResumePlanExecutionRequest::ACTION_RETRY, ResumePlanExecutionRequest::SCOPE_STEP)
          .ok());
  absl::Status again = sched_->Resume(ResumePlanExecutionRequest::ACTION_RETRY,
                                      ResumePlanExecutionRequest::SCOPE_STEP);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.message()), ::testing::HasSubstr("not halted"));
}

TEST_F(HaltTest, AnUnknownActionOrScopeIsRefusedAndChangesNothing) {
  absl::Status action = sched_->Resume(ResumePlanExecutionRequest::ACTION_UNSPECIFIED,
                                       ResumePlanExecutionRequest::SCOPE_STEP);
  EXPECT_EQ(action.code(), absl::StatusCode::kInvalidArgument);
  absl::Status scope = sched_->Resume(ResumePlanExecutionRequest::ACTION_SKIP,
                                      static_cast<ResumePlanExecutionRequest::Scope>(9));
  EXPECT_EQ(scope.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(scope.message()), ::testing::HasSubstr("scope 9"));
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_HALTED);
  EXPECT_EQ(sched_->status(start1_).state, dr::v1::STEP_STATE_FAILED);
  EXPECT_TRUE(sched_->TakeStartable().empty());
}

TEST_F(HaltTest, CancelSkipsEverythingNotStarted) {
  sched_->Cancel();
  EXPECT_EQ(sched_->State(), dr::v1::EXECUTION_STATE_CANCELLED);
  EXPECT_TRUE(sched_->Terminal());
  for (int v : {2, 3}) {
    for (int s : graph_.vms[v].steps) {
      EXPECT_EQ(sched_->status(s).skip_cause, dr::v1::SKIP_CAUSE_CANCELLED);
    }
  }
  EXPECT_EQ(
      sched_
          ->Resume(ResumePlanExecutionRequest::ACTION_RETRY, ResumePlanExecutionRequest::SCOPE_STEP)
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST(SchedulerTest, AStopModeGroupStepHaltsAndAContinueModeOneWarns) {
  dr::v1::Plan plan = PlanFromText(R"pb(
    source_site: "sites/a"
    target_site: "sites/b"
    groups {
      id: "g"
      before {
        id: "check"
        hook { executable: "check.sh" }
        on_error: ERROR_MODE_CONTINUE
      }
      before {
        id: "gate"
        hook { executable: "gate.sh" }
      }
      vms { vm_id: "00000000-0000-0000-0000-000000000001" }
    }
  )pb");
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_COMMIT, OneHostPerVm(1, 1));
  Scheduler sched(&g, {});
  VirtualRun run{g, sched};
  const int check = g.by_id.at("g.before.check");
  const int gate = g.by_id.at("g.before.gate");
  run.fails = [&](int s, int attempt) { return s == check || (s == gate && attempt == 1); };
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_HALTED);
  EXPECT_EQ(sched.HaltedStep(), gate);
  EXPECT_EQ(sched.status(check).state, dr::v1::STEP_STATE_FAILED);
  ASSERT_TRUE(
      sched.Resume(ResumePlanExecutionRequest::ACTION_RETRY, ResumePlanExecutionRequest::SCOPE_STEP)
          .ok());
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS) << "check warned";
  EXPECT_EQ(sched.status(check).attempt, 1);
}

TEST(SchedulerTest, RetryVmRunsEveryFailedStepOfTheVmAgainNotOnlyTheHaltedOne) {
  // A critical VM whose check (a warning only) failed before its start
  // failed and halted the execution: both are the VM's failed steps.
  dr::v1::Plan plan = PlanFromText(R"pb(
    source_site: "sites/a"
    target_site: "sites/b"
    groups {
      id: "g"
      vms {
        vm_id: "00000000-0000-0000-0000-000000000001"
        critical: true
        before {
          id: "check"
          hook { executable: "check.sh" }
          on_error: ERROR_MODE_CONTINUE
        }
      }
    }
  )pb");
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_UNPLANNED, OneHostPerVm(1, 1));
  Scheduler sched(&g, {});
  VirtualRun run{g, sched};
  const std::string p = "g." + Vm(1) + ".";
  const int check = g.by_id.at(p + "before.check");
  const int failover = g.by_id.at(p + "failover");
  const int start = g.by_id.at(p + "start");
  const int readiness = g.by_id.at(p + "readiness");
  run.fails = [&](int s, int attempt) { return (s == check || s == start) && attempt == 1; };
  run.Run();
  ASSERT_EQ(sched.State(), dr::v1::EXECUTION_STATE_HALTED);
  ASSERT_EQ(sched.HaltedStep(), start);
  EXPECT_EQ(sched.status(check).state, dr::v1::STEP_STATE_FAILED);
  ASSERT_TRUE(
      sched.Resume(ResumePlanExecutionRequest::ACTION_RETRY, ResumePlanExecutionRequest::SCOPE_VM)
          .ok());
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED) << "the check's warning is gone";
  EXPECT_EQ(sched.status(check).attempt, 2);
  EXPECT_EQ(sched.status(failover).attempt, 1);
  EXPECT_EQ(sched.status(start).attempt, 2);
  EXPECT_EQ(sched.status(readiness).attempt, 1);
  for (int s : {check, failover, start, readiness})
    EXPECT_EQ(sched.status(s).state, dr::v1::STEP_STATE_SUCCEEDED) << g.steps[s].id;
}

TEST(SchedulerTest, OnlyAPromptLeftMeansWaiting) {
  dr::v1::Plan plan = PlanFromText(R"pb(
    source_site: "sites/a"
    target_site: "sites/b"
    groups {
      id: "g"
      before {
        id: "ask"
        prompt { message: "go?" }
      }
      vms { vm_id: "00000000-0000-0000-0000-000000000001" }
    }
  )pb");
  const StepGraph g = BuildStepGraph(plan, dr::v1::EXECUTION_MODE_COMMIT, OneHostPerVm(1, 1));
  Scheduler sched(&g, {});
  EXPECT_THAT(sched.TakeStartable(), ElementsAre(0));
  sched.SetWaiting(0, true);
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_WAITING);
  sched.SetWaiting(0, false);
  sched.Finish(0, true);
  EXPECT_THAT(sched.TakeStartable(), ElementsAre(1));
}

TEST(SchedulerTest, RestoredStatesGoOnExactlyWhereTheyWere) {
  const StepGraph g =
      BuildStepGraph(SimplePlan(2, 3), dr::v1::EXECUTION_MODE_UNPLANNED, OneHostPerVm(6, 6));
  Scheduler first(&g, {});
  VirtualRun run{g, first};
  run.StartReady();
  // End a few steps, then "crash": the statuses are what the store holds.
  first.Finish(run.started[0], true);
  first.Finish(run.started[1], false);
  std::vector<int> next = first.TakeStartable();
  std::vector<StepStatus> stored;
  for (size_t s = 0; s < g.steps.size(); ++s) stored.push_back(first.status(s));

  Scheduler second(&g, {});
  second.Restore(stored, false);
  for (size_t s = 0; s < g.steps.size(); ++s) {
    EXPECT_EQ(second.status(s).state, first.status(s).state) << g.steps[s].id;
    EXPECT_EQ(second.status(s).skip_cause, first.status(s).skip_cause) << g.steps[s].id;
  }
  EXPECT_TRUE(second.TakeStartable().empty()) << "what was started is running, not started again";
  EXPECT_EQ(second.RunningOperations(), first.RunningOperations());
  EXPECT_EQ(second.State(), first.State());
}

TEST(SchedulerTest, ChangedStepsAreReportedOnceForPersisting) {
  const StepGraph g =
      BuildStepGraph(SimplePlan(1, 2), dr::v1::EXECUTION_MODE_COMMIT, OneHostPerVm(2, 2));
  Scheduler sched(&g, {});
  EXPECT_THAT(sched.TakeStartable(), ElementsAre(0, 1));
  EXPECT_THAT(sched.TakeChanged(), ElementsAre(0, 1));
  EXPECT_TRUE(sched.TakeChanged().empty());
  sched.Finish(1, true);
  EXPECT_THAT(sched.TakeChanged(), ElementsAre(1));
}

TEST(SchedulerTest, TenThousandVmsScheduleInLinearishTime) {
  // Not a timing assertion: the run must simply finish (a quadratic
  // scheduler takes minutes here) with every step run once.
  const StepGraph g = BuildStepGraph(SimplePlan(5, 2000), dr::v1::EXECUTION_MODE_UNPLANNED,
                                     OneHostPerVm(10000, 100));
  Scheduler sched(&g, {8, 256});
  VirtualRun run{g, sched};
  run.Run();
  EXPECT_EQ(sched.State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(run.started.size(), RealSteps(g));
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
