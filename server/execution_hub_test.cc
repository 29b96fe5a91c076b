#include "server/execution_hub.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace server {
namespace {

constexpr char kTestExec[] = "plans/p/executions/e1";
constexpr char kTestOtherExec[] = "plans/p/executions/e2";

struct Recorder : ExecutionWatcher {
  struct Change {
    dr::v1::PlanExecution execution;
    std::vector<dr::v1::ExecutionStep> steps;
  };
  std::vector<Change> seen;
  bool closed = false;
  void OnChange(const dr::v1::PlanExecution& e,
                const std::vector<dr::v1::ExecutionStep>& steps) override {
    seen.push_back({e, steps});
  }
  void OnClose() override { closed = true; }
};

dr::v1::PlanExecution Exec(int64_t version, dr::v1::ExecutionState state,
                           const std::string& name = kTestExec) {
  dr::v1::PlanExecution e;
  e.set_name(name);
  e.set_version(version);
  e.set_state(state);
  return e;
}

dr::v1::ExecutionStep Step(const std::string& id, int64_t version, dr::v1::StepState state) {
  dr::v1::ExecutionStep s;
  s.set_name(absl::StrCat(kTestExec, "/steps/", id));
  s.set_version(version);
  s.set_state(state);
  return s;
}

TEST(ExecutionHubTest, AChangeReachesEveryWatcherOfItsExecutionOnly) {
  ExecutionHub hub;
  Recorder a, b, other;
  hub.Watch(kTestExec, &a);
  hub.Watch(kTestExec, &b);
  hub.Watch(kTestOtherExec, &other);
  EXPECT_EQ(hub.WatcherCountForTest(), 3);
  hub.Publish(Exec(2, dr::v1::EXECUTION_STATE_RUNNING),
              {Step("s1", 1, dr::v1::STEP_STATE_RUNNING)});
  ASSERT_EQ(a.seen.size(), 1u);
  ASSERT_EQ(b.seen.size(), 1u);
  EXPECT_TRUE(other.seen.empty());
  EXPECT_EQ(a.seen[0].execution.version(), 2);
  ASSERT_EQ(a.seen[0].steps.size(), 1u);
  EXPECT_EQ(a.seen[0].steps[0].name(), absl::StrCat(kTestExec, "/steps/s1"));
}

TEST(ExecutionHubTest, AnUnwatchedWatcherIsNotCalledAgain) {
  ExecutionHub hub;
  Recorder a, b;
  hub.Watch(kTestExec, &a);
  hub.Watch(kTestExec, &b);
  hub.Unwatch(kTestExec, &a);
  hub.Unwatch(kTestExec, &a);       // twice: ignored
  hub.Unwatch(kTestOtherExec, &b);  // not watched there: ignored
  hub.Publish(Exec(2, dr::v1::EXECUTION_STATE_RUNNING), {});
  EXPECT_TRUE(a.seen.empty());
  EXPECT_EQ(b.seen.size(), 1u);
  hub.Unwatch(kTestExec, &b);
  EXPECT_EQ(hub.WatcherCountForTest(), 0);
  hub.Publish(Exec(3, dr::v1::EXECUTION_STATE_RUNNING), {});  // nobody: nothing happens
  EXPECT_EQ(b.seen.size(), 1u);
}

TEST(ExecutionHubTest, CloseAllClosesEveryWatcher) {
  ExecutionHub hub;
  Recorder a, b;
  hub.Watch(kTestExec, &a);
  hub.Watch(kTestOtherExec, &b);
  hub.CloseAll();
  EXPECT_TRUE(a.closed);
  EXPECT_TRUE(b.closed);
}

TEST(ExecutionChangesTest, ABacklogIsMergedPerStepKeepingTheNewestVersion) {
  ExecutionChanges c;
  dr::v1::WatchPlanExecutionResponse first;
  *first.mutable_execution() = Exec(1, dr::v1::EXECUTION_STATE_RUNNING);
  *first.add_steps() = Step("s1", 0, dr::v1::STEP_STATE_PENDING);
  *first.add_steps() = Step("s2", 0, dr::v1::STEP_STATE_PENDING);
  c.Sent(first);
  EXPECT_TRUE(c.empty());
  c.Add(Exec(2, dr::v1::EXECUTION_STATE_RUNNING), {Step("s2", 1, dr::v1::STEP_STATE_RUNNING)});
  c.Add(Exec(3, dr::v1::EXECUTION_STATE_RUNNING), {Step("s1", 1, dr::v1::STEP_STATE_RUNNING)});
  c.Add(Exec(4, dr::v1::EXECUTION_STATE_RUNNING), {Step("s2", 2, dr::v1::STEP_STATE_SUCCEEDED)});
  ASSERT_FALSE(c.empty());
  const dr::v1::WatchPlanExecutionResponse next = c.Take();
  EXPECT_EQ(next.execution().version(), 4);
  ASSERT_EQ(next.steps_size(), 2);
  // In the order they first changed, each at its newest version.
  EXPECT_EQ(next.steps(0).name(), absl::StrCat(kTestExec, "/steps/s2"));
  EXPECT_EQ(next.steps(0).version(), 2);
  EXPECT_EQ(next.steps(0).state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(next.steps(1).name(), absl::StrCat(kTestExec, "/steps/s1"));
  EXPECT_EQ(next.steps(1).version(), 1);
  EXPECT_TRUE(c.empty());
}

TEST(ExecutionChangesTest, WhatIsPendingIsBoundedByTheNumberOfSteps) {
  ExecutionChanges c;
  dr::v1::WatchPlanExecutionResponse first;
  *first.mutable_execution() = Exec(1, dr::v1::EXECUTION_STATE_RUNNING);
  c.Sent(first);
  // A reader that never reads while 3 steps change 10000 times.
  int64_t version = 1;
  for (int i = 1; i <= 10000; ++i) {
    c.Add(Exec(++version, dr::v1::EXECUTION_STATE_RUNNING),
          {Step(absl::StrCat("s", i % 3), i, dr::v1::STEP_STATE_RUNNING)});
    ASSERT_LE(c.pending_steps(), 3u);
  }
  const dr::v1::WatchPlanExecutionResponse next = c.Take();
  EXPECT_EQ(next.execution().version(), version);
  ASSERT_EQ(next.steps_size(), 3);
  for (const auto& s : next.steps()) EXPECT_GE(s.version(), 9998) << s.name();
}

TEST(ExecutionChangesTest, ChangesTheFirstMessageAlreadyHoldsAreDropped) {
  ExecutionChanges c;
  // Published between the subscription and the read of the stored state.
  c.Add(Exec(2, dr::v1::EXECUTION_STATE_RUNNING), {Step("s1", 1, dr::v1::STEP_STATE_RUNNING)});
  c.Add(Exec(3, dr::v1::EXECUTION_STATE_RUNNING), {Step("s2", 1, dr::v1::STEP_STATE_RUNNING)});
  // The read saw version 2 of the execution, and s1 at 1.
  dr::v1::WatchPlanExecutionResponse first;
  *first.mutable_execution() = Exec(2, dr::v1::EXECUTION_STATE_RUNNING);
  *first.add_steps() = Step("s1", 1, dr::v1::STEP_STATE_RUNNING);
  *first.add_steps() = Step("s2", 0, dr::v1::STEP_STATE_PENDING);
  c.Sent(first);
  ASSERT_FALSE(c.empty());
  const dr::v1::WatchPlanExecutionResponse next = c.Take();
  EXPECT_EQ(next.execution().version(), 3);
  ASSERT_EQ(next.steps_size(), 1);
  EXPECT_EQ(next.steps(0).name(), absl::StrCat(kTestExec, "/steps/s2"));
  // Older or repeated versions after that are dropped too.
  c.Add(Exec(3, dr::v1::EXECUTION_STATE_RUNNING), {Step("s1", 1, dr::v1::STEP_STATE_RUNNING)});
  c.Add(Exec(1, dr::v1::EXECUTION_STATE_RUNNING), {Step("s2", 1, dr::v1::STEP_STATE_RUNNING)});
  EXPECT_TRUE(c.empty());
}

TEST(ExecutionChangesTest, AFirstMessageNewerThanEveryChangeLeavesNothingPending) {
  ExecutionChanges c;
  c.Add(Exec(2, dr::v1::EXECUTION_STATE_RUNNING), {Step("s1", 1, dr::v1::STEP_STATE_RUNNING)});
  dr::v1::WatchPlanExecutionResponse first;
  *first.mutable_execution() = Exec(2, dr::v1::EXECUTION_STATE_RUNNING);
  *first.add_steps() = Step("s1", 1, dr::v1::STEP_STATE_RUNNING);
  c.Sent(first);
  EXPECT_TRUE(c.empty());
}

}  // namespace
}  // namespace server
}  // namespace hvdr
