#include "plans/report.h"

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using dr::v1::ExecutionStep;
using testing::PlanFromText;
using testing::Vm;

const absl::Time kTestCreated = absl::FromUnixSeconds(1800000000);
const absl::Time kTestNow = kTestCreated + absl::Hours(1);
constexpr char kTestExecution[] = "plans/p/executions/e-1";

dr::v1::Plan TestPlan() {
  return PlanFromText(absl::StrCat(R"(name: "plans/p" groups { id: "db" vms { vm_id: ")", Vm(1),
                                   R"(" } } groups { id: "apps" vms { vm_id: ")", Vm(2),
                                   R"(" } vms { vm_id: ")", Vm(3), R"(" } })"));
}

dr::v1::PlanExecution Execution(dr::v1::ExecutionState state) {
  dr::v1::PlanExecution e;
  e.set_name(kTestExecution);
  e.set_mode(dr::v1::EXECUTION_MODE_UNPLANNED);
  e.set_state(state);
  ToProto(kTestCreated, e.mutable_create_time());
  return e;
}

// A step of VM `vm` (0: a group's step) of kind `kind`, in `state`,
// started and ended the given seconds after kTestCreated (< 0: unset).
ExecutionStep Step(int vm, dr::v1::StepKind kind, dr::v1::StepState state, int start = -1,
                   int end = -1) {
  ExecutionStep s;
  const std::string id = dr::v1::StepKind_Name(kind);
  s.set_name(absl::StrCat(kTestExecution, "/steps/", vm == 0 ? "g" : Vm(vm), ".", id));
  s.set_kind(kind);
  s.set_state(state);
  s.set_attempt(state == dr::v1::STEP_STATE_PENDING ? 0 : 1);
  if (vm != 0) s.set_vm_id(Vm(vm));
  if (start >= 0) ToProto(kTestCreated + absl::Seconds(start), s.mutable_start_time());
  if (end >= 0) ToProto(kTestCreated + absl::Seconds(end), s.mutable_end_time());
  return s;
}

ExecutionStep Failover(int vm, dr::v1::StepState state, int start, int end, int data_age,
                       const std::string& point = "") {
  ExecutionStep s = Step(vm, dr::v1::STEP_KIND_FAILOVER, state, start, end);
  s.set_recovery_point(point);
  if (data_age >= 0) ToProto(kTestCreated - absl::Seconds(data_age), s.mutable_data_time());
  return s;
}

// A VM recovered: failover at +10 s from data `data_age` s old, started,
// ready at +`ready` s.
std::vector<ExecutionStep> Recovered(int vm, int data_age, int ready,
                                     const std::string& point = "") {
  return {Failover(vm, dr::v1::STEP_STATE_SUCCEEDED, 10, 16, data_age, point),
          Step(vm, dr::v1::STEP_KIND_START, dr::v1::STEP_STATE_SUCCEEDED, 16, 19),
          Step(vm, dr::v1::STEP_KIND_READINESS, dr::v1::STEP_STATE_SUCCEEDED, 19, ready)};
}

std::vector<ExecutionStep> Concat(std::vector<std::vector<ExecutionStep>> parts) {
  std::vector<ExecutionStep> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(ReportTest, RpoIsTheFailoverStartMinusTheDataTimeAndRtoIsTheReadinessEnd) {
  const auto steps =
      Concat({{Step(0, dr::v1::STEP_KIND_PROMPT, dr::v1::STEP_STATE_SUCCEEDED, 0, 8)},
              Recovered(1, 7200, 60, "hosts/h/virtualMachines/x/rp-2h"),
              Recovered(2, 95, 45),
              Recovered(3, 30, 50)});
  ReportFacts facts;
  facts.display_names[Vm(1)] = "sql-01";
  const dr::v1::ExecutionReport r = BuildExecutionReport(
      TestPlan(), Execution(dr::v1::EXECUTION_STATE_SUCCEEDED), steps, facts, kTestNow);
  ASSERT_EQ(r.vms_size(), 3);
  const dr::v1::VmReport& sql = r.vms(0);
  EXPECT_EQ(sql.vm_id(), Vm(1));
  EXPECT_EQ(sql.display_name(), "sql-01");
  EXPECT_EQ(sql.group(), "db");
  EXPECT_EQ(sql.result(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(sql.recovery_point(), "hosts/h/virtualMachines/x/rp-2h");
  EXPECT_EQ(FromProto(sql.data_time()), kTestCreated - absl::Seconds(7200));
  ASSERT_TRUE(sql.has_rpo_seconds());
  EXPECT_DOUBLE_EQ(sql.rpo_seconds(), 7210);
  ASSERT_TRUE(sql.has_rto_seconds());
  EXPECT_DOUBLE_EQ(sql.rto_seconds(), 60);
  EXPECT_TRUE(sql.error().empty());
  EXPECT_EQ(r.vms(1).group(), "apps");
  EXPECT_EQ(r.vms(1).display_name(), "");
  EXPECT_EQ(r.vms(1).recovery_point(), "");
  EXPECT_DOUBLE_EQ(r.vms(1).rpo_seconds(), 105);
  EXPECT_DOUBLE_EQ(r.vms(1).rto_seconds(), 45);
  EXPECT_DOUBLE_EQ(r.vms(2).rpo_seconds(), 40);
  // Every step, in the order given; the execution and plan as they are.
  ASSERT_EQ(r.steps_size(), static_cast<int>(steps.size()));
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(r.steps(i).name(), steps[i].name());
  EXPECT_EQ(r.execution().name(), kTestExecution);
  EXPECT_EQ(r.plan().name(), "plans/p");
  EXPECT_EQ(FromProto(r.report_time()), kTestNow);
}

TEST(ReportTest, AFailedVmHasItsFirstErrorAndNoRto) {
  ExecutionStep failed = Failover(1, dr::v1::STEP_STATE_FAILED, 10, 20, 100);
  failed.set_error("jobs/j-1 ended EXCEPTION: the replica is not in a state to fail over");
  ExecutionStep later = Step(1, dr::v1::STEP_KIND_START, dr::v1::STEP_STATE_FAILED, 21, 22);
  later.set_error("second error");
  const auto steps = Concat({{failed, later}, Recovered(2, 0, 30), Recovered(3, 0, 30)});
  const dr::v1::ExecutionReport r =
      BuildExecutionReport(TestPlan(), Execution(dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS),
                           steps, ReportFacts(), kTestNow);
  EXPECT_EQ(r.vms(0).result(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(r.vms(0).error(), failed.error());
  EXPECT_FALSE(r.vms(0).has_rto_seconds());
  // The failover did start from known data: its RPO is a fact.
  ASSERT_TRUE(r.vms(0).has_rpo_seconds());
  EXPECT_DOUBLE_EQ(r.vms(0).rpo_seconds(), 110);
  EXPECT_EQ(r.vms(1).result(), dr::v1::STEP_STATE_SUCCEEDED);
}

TEST(ReportTest, AVmReadyBeforeALaterStepFailedHasItsRto) {
  // PLANNED: the reverse after readiness fails; the VM was up at +60 s.
  auto steps = Recovered(1, 5, 60);
  ExecutionStep reverse = Step(1, dr::v1::STEP_KIND_REVERSE, dr::v1::STEP_STATE_FAILED, 60, 70);
  reverse.set_error("reverse failed");
  steps.push_back(reverse);
  const dr::v1::ExecutionReport r = BuildExecutionReport(
      TestPlan(), Execution(dr::v1::EXECUTION_STATE_HALTED), steps, ReportFacts(), kTestNow);
  EXPECT_EQ(r.vms(0).result(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(r.vms(0).error(), "reverse failed");
  ASSERT_TRUE(r.vms(0).has_rto_seconds());
  EXPECT_DOUBLE_EQ(r.vms(0).rto_seconds(), 60);
}

TEST(ReportTest, AFailedStepWithoutAnErrorIsNamedWithItsReturnCode) {
  ExecutionStep failed = Step(1, dr::v1::STEP_KIND_READINESS, dr::v1::STEP_STATE_FAILED, 10, 20);
  failed.set_return_code(dr::v1::RETURN_CODE_TIMEOUT);
  const dr::v1::ExecutionReport r = BuildExecutionReport(
      TestPlan(), Execution(dr::v1::EXECUTION_STATE_HALTED), {failed}, ReportFacts(), kTestNow);
  EXPECT_EQ(r.vms(0).result(), dr::v1::STEP_STATE_FAILED);
  EXPECT_THAT(r.vms(0).error(), ::testing::HasSubstr("READINESS failed (RETURN_CODE_TIMEOUT)"));
}

TEST(ReportTest, AVmSkippedAfterAnUpstreamFailureHasNoRpoNorRto) {
  ExecutionStep prompt = Step(0, dr::v1::STEP_KIND_PROMPT, dr::v1::STEP_STATE_FAILED, 0, 5);
  prompt.set_error("declined by ops");
  std::vector<ExecutionStep> steps = {prompt};
  for (int vm = 1; vm <= 3; ++vm) {
    for (ExecutionStep s : Recovered(vm, 100, 60)) {
      s.set_state(dr::v1::STEP_STATE_SKIPPED);
      s.set_skip_cause(dr::v1::SKIP_CAUSE_UPSTREAM_FAILED);
      s.clear_start_time();
      s.clear_data_time();
      ToProto(kTestCreated + absl::Seconds(5), s.mutable_end_time());
      steps.push_back(s);
    }
  }
  const dr::v1::ExecutionReport r =
      BuildExecutionReport(TestPlan(), Execution(dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS),
                           steps, ReportFacts(), kTestNow);
  for (const auto& vm : r.vms()) {
    EXPECT_EQ(vm.result(), dr::v1::STEP_STATE_SKIPPED) << vm.vm_id();
    EXPECT_THAT(vm.error(), ::testing::HasSubstr("a step it waits for failed"));
    EXPECT_FALSE(vm.has_rpo_seconds());
    EXPECT_FALSE(vm.has_rto_seconds());
    EXPECT_FALSE(vm.has_data_time());
  }
}

TEST(ReportTest, ACancelledVmWhoseFailoverRanIsSkippedWithItsRpo) {
  auto steps = Recovered(1, 50, 60);
  steps[2].set_state(dr::v1::STEP_STATE_SKIPPED);
  steps[2].set_skip_cause(dr::v1::SKIP_CAUSE_CANCELLED);
  const dr::v1::ExecutionReport r = BuildExecutionReport(
      TestPlan(), Execution(dr::v1::EXECUTION_STATE_CANCELLED), steps, ReportFacts(), kTestNow);
  EXPECT_EQ(r.vms(0).result(), dr::v1::STEP_STATE_SKIPPED);
  EXPECT_THAT(r.vms(0).error(), ::testing::HasSubstr("cancelled"));
  EXPECT_DOUBLE_EQ(r.vms(0).rpo_seconds(), 60);
  EXPECT_FALSE(r.vms(0).has_rto_seconds());
}

TEST(ReportTest, AnOperatorSkipCountsAsDoneAndRtoIsTheLastSucceededStep) {
  auto steps = Recovered(1, 50, 60);
  steps[2].set_state(dr::v1::STEP_STATE_SKIPPED);
  steps[2].set_skip_cause(dr::v1::SKIP_CAUSE_OPERATOR);
  const dr::v1::ExecutionReport r = BuildExecutionReport(
      TestPlan(), Execution(dr::v1::EXECUTION_STATE_SUCCEEDED), steps, ReportFacts(), kTestNow);
  EXPECT_EQ(r.vms(0).result(), dr::v1::STEP_STATE_SUCCEEDED);
  ASSERT_TRUE(r.vms(0).has_rto_seconds());
  EXPECT_DOUBLE_EQ(r.vms(0).rto_seconds(), 19);  // the start step's end
}

TEST(ReportTest, MissingFactsAreLeftUnsetNotZero) {
  // A failover recorded without data_time (an older drserver), and a
  // COMMIT-like VM without a failover step at all.
  const std::vector<ExecutionStep> steps = {
      Failover(1, dr::v1::STEP_STATE_SUCCEEDED, 10, 16, /*data_age=*/-1),
      Step(2, dr::v1::STEP_KIND_COMMIT, dr::v1::STEP_STATE_SUCCEEDED, 3, 12)};
  dr::v1::PlanExecution e = Execution(dr::v1::EXECUTION_STATE_RUNNING);
  const dr::v1::ExecutionReport r =
      BuildExecutionReport(TestPlan(), e, steps, ReportFacts(), kTestNow);
  EXPECT_FALSE(r.vms(0).has_data_time());
  EXPECT_FALSE(r.vms(0).has_rpo_seconds());
  EXPECT_DOUBLE_EQ(r.vms(0).rto_seconds(), 16);
  EXPECT_EQ(r.vms(1).recovery_point(), "");
  EXPECT_FALSE(r.vms(1).has_data_time());
  EXPECT_FALSE(r.vms(1).has_rpo_seconds());
  EXPECT_DOUBLE_EQ(r.vms(1).rto_seconds(), 12);
  // VM 3 has no step yet in a running execution.
  EXPECT_EQ(r.vms(2).result(), dr::v1::STEP_STATE_PENDING);
  EXPECT_FALSE(r.vms(2).has_rto_seconds());
  // Without the execution's create time there is no RTO.
  e.clear_create_time();
  const dr::v1::ExecutionReport no_start =
      BuildExecutionReport(TestPlan(), e, steps, ReportFacts(), kTestNow);
  EXPECT_FALSE(no_start.vms(0).has_rto_seconds());
  EXPECT_TRUE(no_start.vms(0).error().empty());
}

TEST(ReportTest, AVmStillRunningHasNoRtoYet) {
  auto steps = Recovered(1, 50, 60);
  steps[2].set_state(dr::v1::STEP_STATE_RUNNING);
  steps[2].clear_end_time();
  auto pending = Recovered(2, 50, 60);
  for (auto& s : pending) {
    s.set_state(dr::v1::STEP_STATE_PENDING);
    s.clear_start_time();
    s.clear_end_time();
    s.clear_data_time();
  }
  const dr::v1::ExecutionReport r =
      BuildExecutionReport(TestPlan(), Execution(dr::v1::EXECUTION_STATE_RUNNING),
                           Concat({steps, pending}), ReportFacts(), kTestNow);
  EXPECT_EQ(r.vms(0).result(), dr::v1::STEP_STATE_RUNNING);
  EXPECT_FALSE(r.vms(0).has_rto_seconds());
  EXPECT_DOUBLE_EQ(r.vms(0).rpo_seconds(), 60);
  EXPECT_EQ(r.vms(1).result(), dr::v1::STEP_STATE_PENDING);
  EXPECT_FALSE(r.vms(1).has_rpo_seconds());
}

TEST(ReportTest, AnExecutionRefusedByValidationReportsEveryVmSkipped) {
  dr::v1::PlanExecution e = Execution(dr::v1::EXECUTION_STATE_FAILED);
  e.set_state_reason("validation found errors: nothing ran (see findings)");
  auto* f = e.add_findings();
  f->set_severity(dr::v1::SEVERITY_ERROR);
  f->set_reason("NO_REPLICA_AT_TARGET");
  const dr::v1::ExecutionReport r =
      BuildExecutionReport(TestPlan(), e, {}, ReportFacts(), kTestNow);
  ASSERT_EQ(r.vms_size(), 3);
  for (const auto& vm : r.vms()) {
    EXPECT_EQ(vm.result(), dr::v1::STEP_STATE_SKIPPED);
    EXPECT_EQ(vm.error(), e.state_reason());
    EXPECT_FALSE(vm.has_rpo_seconds());
    EXPECT_FALSE(vm.has_rto_seconds());
  }
  EXPECT_EQ(r.execution().findings_size(), 1);
  EXPECT_EQ(r.steps_size(), 0);
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
