// PlanRun over a real SqliteStore (in memory), a fake clock and fake
// actions whose jobs the test ends: every step recorded before its work,
// prompts answered, waits, critical failures halting and resumed as a new
// attempt, cancel, and a restart that asks again with the same request_id
// and so never runs a step twice.
#include "server/plan_run.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/step_graph.h"
#include "plans/test_plans.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

using plans::testing::PlanFromText;
using plans::testing::Vm;
using ::testing::HasSubstr;

constexpr char kExec[] = "plans/site/executions/e1";

// Jobs by request_id, as FailoverService answers: the same request_id is
// the same job.
class FakeActions : public StepActions {
 public:
  void SubmitOperation(const Operation& op, JobDone done) override {
    std::string job;
    {
      absl::MutexLock lock(&mu_);
      ops_.push_back(op);
      if (not_yet > 0) {
        --not_yet;
        mu_.Unlock();
        done(absl::UnavailableError("the test VM is not in the inventory yet"));
        mu_.Lock();
        return;
      }
      auto [it, fresh] = jobs_.emplace(op.request_id, absl::StrCat("jobs/j", jobs_.size() + 1));
      job = it->second;
      if (fresh) created_.push_back(op);
    }
    done(job);
  }
  absl::StatusOr<bool> VmRunning(const Operation&) override { return running; }
  bool running = true;
  int not_yet = 0;  // the next this many asks answer UNAVAILABLE
  std::vector<Operation> created() {
    absl::MutexLock lock(&mu_);
    return created_;
  }
  std::vector<Operation> asked() {
    absl::MutexLock lock(&mu_);
    return ops_;
  }
  std::string JobOf(const Operation& op) {
    absl::MutexLock lock(&mu_);
    return jobs_[op.request_id];
  }

 private:
  absl::Mutex mu_;
  std::vector<Operation> ops_ ABSL_GUARDED_BY(mu_);
  std::vector<Operation> created_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> jobs_ ABSL_GUARDED_BY(mu_);
};

dr::v1::Job Ended(const std::string& name, dr::v1::JobState state) {
  dr::v1::Job j;
  j.set_name(name);
  j.set_state(state);
  j.set_return_code(state == dr::v1::JOB_STATE_COMPLETED ? dr::v1::RETURN_CODE_JOB_STARTED
                                                         : dr::v1::RETURN_CODE_FAILED);
  if (state != dr::v1::JOB_STATE_COMPLETED) j.set_error_summary("Failover failed");
  return j;
}

class PlanRunTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = *SqliteStore::Open(":memory:", {}); }

  // Stores `text` as plans/site and a new execution of it in `mode`, then
  // opens its run.
  void Start(const std::string& text, dr::v1::ExecutionMode mode) {
    plan_ = PlanFromText(text);
    plan_.set_name("plans/site");
    ASSERT_TRUE(store_->CreatePlan(plan_, clock_.Now(), {"p", "m", "f"}).ok());
    std::map<std::string, plans::VmPlacement> placement;
    for (const auto& g : plan_.groups()) {
      for (const auto& vm : g.vms()) placement[vm.vm_id()] = {"hosts/p", "hosts/r"};
    }
    const plans::StepGraph graph = plans::BuildStepGraph(plan_, mode, placement);
    dr::v1::PlanExecution e;
    e.set_name(kExec);
    e.set_mode(mode);
    e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
    e.set_requester("ops");
    std::vector<std::string> vms;
    for (const auto& [id, p] : placement) vms.push_back(id);
    ASSERT_TRUE(store_
                    ->CreateExecution(e, plan_, PlanRun::NewSteps(graph, plan_, kExec), vms,
                                      {"e", "m", "f"})
                    .ok());
    Reopen();
  }
  // What a restarted drserver does: the run rebuilt from the store.
  void Reopen() {
    run_.reset();
    auto e = store_->GetExecution(kExec);
    ASSERT_TRUE(e.ok()) << e.status();
    auto run = PlanRun::Restore(store_.get(), &actions_, &clock_, *store_->GetExecutionPlan(kExec),
                                *e, *store_->GetExecutionSteps(kExec),
                                [this](const std::string& job) { watched_.push_back(job); });
    ASSERT_TRUE(run.ok()) << run.status();
    run_ = *std::move(run);
  }
  dr::v1::ExecutionStep Stored(const std::string& id) {
    const std::vector<dr::v1::ExecutionStep> steps = *store_->GetExecutionSteps(kExec);
    for (const auto& s : steps) {
      if (s.name() == absl::StrCat(kExec, "/steps/", id)) return s;
    }
    ADD_FAILURE() << "no step " << id;
    return {};
  }
  dr::v1::ExecutionState State() { return store_->GetExecution(kExec)->state(); }
  // alice answers kTwoGroups' prompt: go.
  void AnswerGo() {
    dr::v1::AnswerPromptRequest answer;
    answer.set_step(absl::StrCat(kExec, "/steps/db.before.go"));
    answer.set_proceed(true);
    answer.set_requester("alice");
    answer.set_request_id("answer-1");
    ASSERT_TRUE(run_->Answer(answer).ok());
  }
  void EndJob(size_t created, dr::v1::JobState state = dr::v1::JOB_STATE_COMPLETED) {
    ASSERT_LT(created, actions_.created().size());
    run_->OnJob(Ended(actions_.JobOf(actions_.created()[created]), state));
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  std::unique_ptr<SqliteStore> store_;
  FakeActions actions_;
  dr::v1::Plan plan_;
  std::unique_ptr<PlanRun> run_;
  std::vector<std::string> watched_;  // jobs the run asked to watch
};

constexpr char kTwoGroups[] = R"pb(
  source_site: "sites/a"
  target_site: "sites/b"
  groups {
    id: "db"
    before {
      id: "go"
      prompt { message: "Storage fenced?" }
    }
    vms { vm_id: "00000000-0000-0000-0000-000000000001" critical: true }
    vms { vm_id: "00000000-0000-0000-0000-000000000002" }
  }
  groups {
    id: "app"
    vms { vm_id: "00000000-0000-0000-0000-000000000003" }
    after {
      id: "settle"
      wait { seconds: 30 }
    }
  }
)pb";

TEST_F(PlanRunTest, APromptThenGroupsInOrderThenAWaitAndTheExecutionSucceeds) {
  Start(kTwoGroups, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_WAITING);
  EXPECT_EQ(Stored("db.before.go").state(), dr::v1::STEP_STATE_WAITING_FOR_ANSWER);
  EXPECT_TRUE(actions_.asked().empty()) << "nothing runs before the answer";

  dr::v1::AnswerPromptRequest answer;
  answer.set_step(absl::StrCat(kExec, "/steps/db.before.go"));
  answer.set_proceed(true);
  answer.set_requester("alice");
  answer.set_comment("fenced at 10:02");
  answer.set_request_id("answer-1");
  ASSERT_TRUE(run_->Answer(answer).ok());
  EXPECT_EQ(Stored("db.before.go").answered_by(), "alice");
  run_->Advance();
  // Both VMs of the first group, each recorded RUNNING before it was asked.
  ASSERT_EQ(actions_.created().size(), 2u);
  EXPECT_EQ(actions_.created()[0].kind, dr::v1::STEP_KIND_COMMIT);
  EXPECT_EQ(actions_.created()[0].host, "hosts/r");
  EXPECT_EQ(Stored("db." + Vm(1) + ".commit").state(), dr::v1::STEP_STATE_RUNNING);
  // The job's name goes with the run's next write (here the tick's).
  run_->Tick();
  EXPECT_EQ(Stored("db." + Vm(1) + ".commit").job(), "jobs/j1");
  EndJob(0);
  EXPECT_EQ(actions_.created().size(), 2u) << "the next group waits for the whole group";
  EndJob(1);
  ASSERT_EQ(actions_.created().size(), 3u);
  EXPECT_EQ(actions_.created()[2].vm_id, Vm(3));
  EndJob(2);
  EXPECT_EQ(Stored("app.after.settle").state(), dr::v1::STEP_STATE_RUNNING);
  clock_.Advance(absl::Seconds(29));
  run_->Tick();
  EXPECT_EQ(Stored("app.after.settle").state(), dr::v1::STEP_STATE_RUNNING);
  clock_.Advance(absl::Seconds(1));
  run_->Tick();
  EXPECT_EQ(Stored("app.after.settle").state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_TRUE(run_->terminal());
  EXPECT_EQ(store_->GetExecution(kExec)->steps_succeeded(), 5);
  EXPECT_TRUE(store_->ListActiveExecutions()->empty()) << "the VMs are released";
}

TEST_F(PlanRunTest, ARestartAsksAgainWithTheSameRequestIdAndNeverRunsAStepTwice) {
  Start(kTwoGroups, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  AnswerGo();
  run_->Advance();
  ASSERT_EQ(actions_.created().size(), 2u);
  EndJob(0);
  // drserver dies with VM 2's commit running; it restarts.
  watched_.clear();
  Reopen();
  run_->Advance();
  // Its job is watched again: nobody watches it in the new process yet.
  EXPECT_THAT(watched_, ::testing::ElementsAre(actions_.JobOf(actions_.created()[1])));
  EXPECT_EQ(actions_.created().size(), 2u) << "no new job";
  ASSERT_EQ(actions_.asked().size(), 3u) << "VM 2's step asked again";
  EXPECT_EQ(actions_.asked()[2].request_id, actions_.created()[1].request_id);
  EXPECT_EQ(Stored("db." + Vm(1) + ".commit").state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(Stored("db.before.go").state(), dr::v1::STEP_STATE_SUCCEEDED) << "not asked again";
  EndJob(1);
  ASSERT_EQ(actions_.created().size(), 3u);
  EndJob(2);
  clock_.Advance(absl::Seconds(30));
  run_->Tick();
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  // Every operation ran once: three jobs for three steps.
  EXPECT_EQ(actions_.created().size(), 3u);
}

TEST_F(PlanRunTest, ACriticalFailureHaltsAndARetryIsANewAttemptWithANewJob) {
  Start(kTwoGroups, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  AnswerGo();
  run_->Advance();
  EndJob(0, dr::v1::JOB_STATE_EXCEPTION);  // the critical VM
  EndJob(1);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED);
  const dr::v1::PlanExecution halted = *store_->GetExecution(kExec);
  EXPECT_EQ(halted.halted_step(), absl::StrCat(kExec, "/steps/db.", Vm(1), ".commit"));
  EXPECT_THAT(halted.state_reason(), HasSubstr("Failover failed"));
  EXPECT_EQ(actions_.created().size(), 2u) << "nothing new starts";

  dr::v1::ResumePlanExecutionRequest resume;
  resume.set_name(kExec);
  resume.set_action(dr::v1::ResumePlanExecutionRequest::ACTION_RETRY);
  resume.set_request_id("resume-1");
  ASSERT_TRUE(run_->Resume(resume).ok());
  ASSERT_EQ(actions_.created().size(), 3u);
  EXPECT_EQ(actions_.created()[2].vm_id, Vm(1));
  EXPECT_NE(actions_.created()[2].request_id, actions_.created()[0].request_id);
  EXPECT_EQ(Stored("db." + Vm(1) + ".commit").attempt(), 2);
  // A retry of the same resume changes nothing.
  ASSERT_TRUE(run_->Resume(resume).ok());
  EXPECT_EQ(actions_.created().size(), 3u);
  EndJob(2);
  EndJob(3);
  clock_.Advance(absl::Seconds(30));
  run_->Tick();
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

TEST_F(PlanRunTest, CancelStartsNothingNewAndEndsOnceTheRunningStepsEnd) {
  Start(kTwoGroups, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  AnswerGo();
  run_->Advance();
  dr::v1::CancelPlanExecutionRequest cancel;
  cancel.set_name(kExec);
  cancel.set_reason("wrong plan");
  cancel.set_requester("bob");
  cancel.set_request_id("cancel-1");
  ASSERT_TRUE(run_->Cancel(cancel).ok());
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_CANCELLING);
  EXPECT_EQ(Stored("app." + Vm(3) + ".commit").skip_cause(), dr::v1::SKIP_CAUSE_CANCELLED);
  EndJob(0);
  EndJob(1);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_CANCELLED);
  EXPECT_THAT(store_->GetExecution(kExec)->state_reason(), HasSubstr("bob: wrong plan"));
  EXPECT_EQ(actions_.created().size(), 2u);
}

TEST_F(PlanRunTest, ADeclinedPromptFailsItsStepAndAHookIsRefusedAsNotSupported) {
  Start(R"pb(
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
              id: "go"
              prompt { message: "Go?" }
            }
            vms { vm_id: "00000000-0000-0000-0000-000000000001" }
          }
        )pb",
        dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(Stored("g.before.check").return_code(), dr::v1::RETURN_CODE_NOT_SUPPORTED);
  dr::v1::AnswerPromptRequest answer;
  answer.set_step(absl::StrCat(kExec, "/steps/g.before.go"));
  answer.set_proceed(false);
  answer.set_requester("alice");
  answer.set_request_id("answer-1");
  ASSERT_TRUE(run_->Answer(answer).ok());
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED) << "a group step under ERROR_MODE_STOP";
  EXPECT_THAT(Stored("g.before.go").error(), HasSubstr("declined by alice"));
  // Answering again (a retry) answers the step as it is; another step is
  // refused naming it.
  EXPECT_TRUE(run_->Answer(answer).ok());
  answer.set_step(absl::StrCat(kExec, "/steps/g.before.nope"));
  EXPECT_EQ(run_->Answer(answer).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(actions_.asked().empty());
}

TEST_F(PlanRunTest, AnOperationThatCannotBeAskedYetIsAskedAgainAtTheNextTick) {
  Start(R"pb(
          source_site: "sites/a"
          target_site: "sites/b"
          groups {
            id: "g"
            vms { vm_id: "00000000-0000-0000-0000-000000000001" }
          }
        )pb",
        dr::v1::EXECUTION_MODE_COMMIT);
  actions_.not_yet = 2;
  run_->Advance();
  EXPECT_EQ(actions_.asked().size(), 1u);
  EXPECT_EQ(Stored("g." + Vm(1) + ".commit").state(), dr::v1::STEP_STATE_RUNNING);
  run_->Tick();
  run_->Tick();
  ASSERT_EQ(actions_.asked().size(), 3u);
  EXPECT_EQ(actions_.asked()[2].request_id, actions_.asked()[0].request_id) << "the same attempt";
  ASSERT_EQ(actions_.created().size(), 1u);
  EndJob(0);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

TEST(OperationRequestIdTest, IsStablePerAttemptAndFitsTheRequestIdRules) {
  const std::string a = OperationRequestId(kExec, "db.x.commit", 1);
  EXPECT_EQ(a, OperationRequestId(kExec, "db.x.commit", 1));
  EXPECT_NE(a, OperationRequestId(kExec, "db.x.commit", 2));
  EXPECT_NE(a, OperationRequestId("plans/site/executions/e2", "db.x.commit", 1));
  EXPECT_EQ(a.size(), 45u);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
