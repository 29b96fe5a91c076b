// The contract of storage/plan_store.h.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/refusal.h"
#include "storage/store_contract.h"

namespace hvdr {
namespace {

using ::testing::HasSubstr;

constexpr char kPlan[] = "plans/site-a";
constexpr char kExec[] = "plans/site-a/executions/e1";

dr::v1::Plan TestPlan(int vms = 2) {
  dr::v1::Plan p;
  p.set_name(kPlan);
  p.set_source_site("sites/a");
  p.set_target_site("sites/b");
  auto* g = p.add_groups();
  g->set_id("g1");
  for (int i = 0; i < vms; ++i) {
    g->add_vms()->set_vm_id(absl::StrCat("00000000-0000-0000-0000-00000000000", i + 1));
  }
  return p;
}

RequestKey PlanKey(const std::string& id, const std::string& fp = "fp") {
  return RequestKey{id, "dr.v1.PlanService/X", fp};
}

dr::v1::PlanExecution TestExecution(const std::string& name = kExec) {
  dr::v1::PlanExecution e;
  e.set_name(name);
  e.set_mode(dr::v1::EXECUTION_MODE_TEST);
  e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
  e.set_requester("ops");
  return e;
}

std::vector<dr::v1::ExecutionStep> TestSteps(const std::string& exec, int n) {
  std::vector<dr::v1::ExecutionStep> out;
  for (int i = 0; i < n; ++i) {
    dr::v1::ExecutionStep s;
    s.set_name(absl::StrCat(exec, "/steps/s", i));
    s.set_state(dr::v1::STEP_STATE_PENDING);
    out.push_back(s);
  }
  return out;
}

TEST_P(StoreContractTest, PlansAreVersionedWithEtags) {
  auto created = store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->replayed);
  EXPECT_EQ(created->value.version(), 1);
  EXPECT_FALSE(created->value.etag().empty());
  dr::v1::Plan next = TestPlan(3);
  auto updated =
      store_->UpdatePlan(next, created->value.etag(), kTestNow + absl::Seconds(1), PlanKey("p2"));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->value.version(), 2);
  EXPECT_NE(updated->value.etag(), created->value.etag());
  EXPECT_EQ(updated->value.create_time().seconds(), created->value.create_time().seconds());
  EXPECT_EQ(store_->GetPlan(kPlan)->groups(0).vms_size(), 3);
  // A stale etag is refused and changes nothing.
  auto stale = store_->UpdatePlan(TestPlan(1), created->value.etag(), kTestNow, PlanKey("p3"));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(RefusalOf(stale.status()).kind, Refusal::kEtagMismatch);
  EXPECT_EQ(RefusalOf(stale.status()).other, updated->value.etag());
  EXPECT_EQ(store_->GetPlan(kPlan)->groups(0).vms_size(), 3);
}

TEST_P(StoreContractTest, PlanCreationIsIdempotentAndNamesAreUnique) {
  ASSERT_TRUE(store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1")).ok());
  auto replay = store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1"));
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replayed);
  auto reused = store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1", "other"));
  EXPECT_EQ(RefusalOf(reused.status()).kind, Refusal::kRequestReused);
  auto taken = store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p2"));
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RefusalOf(taken.status()).kind, Refusal::kPlanExists);
  EXPECT_EQ(store_->GetPlan("plans/none").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, PlansListByNameInPages) {
  for (const char* n : {"plans/c", "plans/a", "plans/b"}) {
    dr::v1::Plan p = TestPlan();
    p.set_name(n);
    ASSERT_TRUE(store_->CreatePlan(p, kTestNow, PlanKey(n)).ok());
  }
  auto first = store_->ListPlans({2, ""});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[0].name(), "plans/a");
  auto second = store_->ListPlans({2, first->next_page_token});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].name(), "plans/c");
  EXPECT_TRUE(second->next_page_token.empty());
}

TEST_P(StoreContractTest, AnExecutionClaimsItsVmsUntilItEnds) {
  ASSERT_TRUE(store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1")).ok());
  const std::vector<std::string> vms = {"VM-1", "VM-2"};
  auto e1 =
      store_->CreateExecution(TestExecution(), TestPlan(), TestSteps(kExec, 3), vms, PlanKey("e1"));
  ASSERT_TRUE(e1.ok()) << e1.status();
  EXPECT_EQ(e1->value.steps_total(), 3);
  EXPECT_EQ(e1->value.version(), 1);
  const std::string other = "plans/site-a/executions/e2";
  auto e2 = store_->CreateExecution(TestExecution(other), TestPlan(), TestSteps(other, 1),
                                    {"VM-3", "VM-2"}, PlanKey("e2"));
  EXPECT_EQ(e2.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(RefusalOf(e2.status()).kind, Refusal::kVmInExecution);
  EXPECT_EQ(RefusalOf(e2.status()).subject, "VM-2");
  EXPECT_EQ(RefusalOf(e2.status()).other, kExec);
  EXPECT_EQ(store_->GetExecution(other).status().code(), absl::StatusCode::kNotFound)
      << "nothing of the refused execution is stored";
  // The plan cannot be deleted while it runs.
  auto busy = store_->DeletePlan(kPlan, "", PlanKey("d1"));
  EXPECT_EQ(RefusalOf(busy.status()).kind, Refusal::kPlanBusy);
  // It ends: the claims go.
  dr::v1::PlanExecution done = e1->value;
  done.set_state(dr::v1::EXECUTION_STATE_SUCCEEDED);
  ASSERT_TRUE(store_->UpdateExecution(done, {}, nullptr).ok());
  EXPECT_TRUE(store_
                  ->CreateExecution(TestExecution(other), TestPlan(), TestSteps(other, 1),
                                    {"VM-3", "VM-2"}, PlanKey("e2b"))
                  .ok());
  // An ended execution changes no more.
  auto late = store_->UpdateExecution(done, {}, nullptr);
  EXPECT_EQ(RefusalOf(late.status()).kind, Refusal::kExecutionEnded);
}

TEST_P(StoreContractTest, ExecutionStepsAreWrittenWithTheExecutionAndSurviveReopening) {
  ASSERT_TRUE(store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1")).ok());
  ASSERT_TRUE(store_
                  ->CreateExecution(TestExecution(), TestPlan(), TestSteps(kExec, 250), {"VM-1"},
                                    PlanKey("e1"))
                  .ok());
  dr::v1::PlanExecution e = *store_->GetExecution(kExec);
  dr::v1::ExecutionStep s = TestSteps(kExec, 250)[7];
  s.set_state(dr::v1::STEP_STATE_RUNNING);
  s.set_job("jobs/j7");
  e.set_steps_succeeded(1);
  auto updated = store_->UpdateExecution(e, {{7, s}}, nullptr);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->value.version(), 2);
  // A step outside the list is refused, and nothing of the update is kept.
  e.set_steps_succeeded(99);
  auto bad = store_->UpdateExecution(e, {{0, s}, {250, s}}, nullptr);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  Reopen();
  auto steps = store_->GetExecutionSteps(kExec);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 250u);
  EXPECT_EQ((*steps)[7].job(), "jobs/j7");
  EXPECT_EQ((*steps)[0].state(), dr::v1::STEP_STATE_PENDING);
  EXPECT_EQ(store_->GetExecution(kExec)->steps_succeeded(), 1);
  // Pages in order.
  std::vector<std::string> names;
  PageRequest page{100, ""};
  do {
    auto got = store_->ListExecutionSteps(kExec, page);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& st : got->items) names.push_back(st.name());
    page.page_token = got->next_page_token;
  } while (!page.page_token.empty());
  ASSERT_EQ(names.size(), 250u);
  EXPECT_EQ(names[249], absl::StrCat(kExec, "/steps/s249"));
  EXPECT_EQ(store_->GetExecutionPlan(kExec)->name(), kPlan);
  auto active = store_->ListActiveExecutions();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].name(), kExec);
}

// Every list pages through one rule (store_types.h, PageRequest).
TEST_P(StoreContractTest, APageSizeAboveTheMaximumIsServedAsTheMaximum) {
  constexpr int kTestMaxPageSize = 1000;
  ASSERT_TRUE(store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1")).ok());
  ASSERT_TRUE(store_
                  ->CreateExecution(TestExecution(), TestPlan(),
                                    TestSteps(kExec, kTestMaxPageSize + 5), {}, PlanKey("e1"))
                  .ok());
  auto first = store_->ListExecutionSteps(kExec, {kTestMaxPageSize + 1, ""});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->items.size(), static_cast<size_t>(kTestMaxPageSize));
  EXPECT_EQ(first->items.back().name(), absl::StrCat(kExec, "/steps/s", kTestMaxPageSize - 1));
  ASSERT_FALSE(first->next_page_token.empty()) << "the rest is on the next page";
  auto rest = store_->ListExecutionSteps(
      kExec, {std::numeric_limits<int32_t>::max(), first->next_page_token});
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->items.size(), 5u);
  EXPECT_EQ(rest->items[0].name(), absl::StrCat(kExec, "/steps/s", kTestMaxPageSize));
  EXPECT_TRUE(rest->next_page_token.empty());
}

TEST_P(StoreContractTest, ExecutionRequestsAreIdempotent) {
  ASSERT_TRUE(store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1")).ok());
  ASSERT_TRUE(store_
                  ->CreateExecution(TestExecution(), TestPlan(), TestSteps(kExec, 1), {"VM-1"},
                                    PlanKey("e1"))
                  .ok());
  // The retry of the start names another execution id: it answers the first.
  auto replay = store_->CreateExecution(TestExecution("plans/site-a/executions/e9"), TestPlan(),
                                        TestSteps(kExec, 1), {"VM-1"}, PlanKey("e1"));
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->value.name(), kExec);
  dr::v1::PlanExecution e = *store_->GetExecution(kExec);
  e.set_state_reason("cancel asked");
  const RequestKey cancel = PlanKey("c1");
  ASSERT_FALSE(store_->UpdateExecution(e, {}, &cancel)->replayed);
  auto again = store_->UpdateExecution(e, {}, &cancel);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->value.version(), 2) << "the replay wrote nothing";
}

TEST_P(StoreContractTest, DeletingAPlanDeletesItsEndedExecutions) {
  auto created = store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1"));
  ASSERT_TRUE(created.ok());
  dr::v1::PlanExecution e = TestExecution();
  e.set_state(dr::v1::EXECUTION_STATE_FAILED);  // validation failed: created ended
  ASSERT_TRUE(
      store_->CreateExecution(e, TestPlan(), TestSteps(kExec, 2), {"VM-1"}, PlanKey("e1")).ok());
  EXPECT_EQ(RefusalOf(store_->DeletePlan(kPlan, "stale", PlanKey("d0")).status()).kind,
            Refusal::kEtagMismatch);
  auto deleted = store_->DeletePlan(kPlan, created->value.etag(), PlanKey("d1"));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(*deleted);
  EXPECT_TRUE(*store_->DeletePlan(kPlan, "", PlanKey("d1"))) << "a replay";
  EXPECT_EQ(store_->GetPlan(kPlan).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetExecution(kExec).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetExecutionSteps(kExec).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeletePlan(kPlan, "", PlanKey("d2")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ExecutionsListNewestFirst) {
  ASSERT_TRUE(store_->CreatePlan(TestPlan(), kTestNow, PlanKey("p1")).ok());
  for (int i = 0; i < 5; ++i) {
    const std::string name = absl::StrCat(kPlan, "/executions/x", i);
    dr::v1::PlanExecution e = TestExecution(name);
    e.set_state(dr::v1::EXECUTION_STATE_SUCCEEDED);
    ASSERT_TRUE(store_->CreateExecution(e, TestPlan(), {}, {}, PlanKey(absl::StrCat("x", i))).ok());
  }
  auto page = store_->ListExecutions(kPlan, {3, ""});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_EQ(page->items[0].name(), absl::StrCat(kPlan, "/executions/x4"));
  auto rest = store_->ListExecutions(kPlan, {3, page->next_page_token});
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->items.size(), 2u);
  EXPECT_EQ(rest->items[1].name(), absl::StrCat(kPlan, "/executions/x0"));
  // A token of another plan's query is refused.
  auto wrong =
      store_->ListExecutionSteps(absl::StrCat(kPlan, "/executions/x4"), {3, page->next_page_token});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ListExecutions("plans/none", {}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace hvdr
