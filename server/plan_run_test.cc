// PlanRun over a real SqliteStore (in memory), a fake clock and fake
// actions whose jobs the test ends: every step recorded before its work,
// prompts answered, waits, critical failures halting and resumed as a new
// attempt, cancel, and a restart that asks again with the same request_id
// and so never runs a step twice.
#include "server/plan_run.h"

#include <signal.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
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
  void CheckReady(const Operation& op, ReadyDone done) override {
    {
      absl::MutexLock lock(&mu_);
      ++checks_;
      checked_hosts_.push_back(op.host);
      checked_vms_.push_back(op.vm_id);
      if (hold_reads) {
        held_reads_.push_back(std::move(done));
        return;
      }
    }
    Readiness r;
    r.ready = ready;
    r.detail = ready ? "heartbeat OK" : "heartbeat NO_CONTACT";
    done(r);
  }
  bool ready = true;  // what the next heartbeat reads see
  int checks() {
    absl::MutexLock lock(&mu_);
    return checks_;
  }
  // The heartbeat reads asked for `vm_id`.
  int ChecksOf(const std::string& vm_id) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count(checked_vms_.begin(), checked_vms_.end(), vm_id));
  }
  // Reads are held (not answered) until AnswerHeldReads, as an agent's
  // answer reaches the run on the executor's loop, between two Ticks.
  bool hold_reads = false;
  void AnswerHeldReads() {
    std::vector<ReadyDone> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_reads_);
    }
    Readiness r;
    r.ready = ready;
    r.detail = ready ? "heartbeat OK" : "heartbeat NO_CONTACT";
    for (ReadyDone& done : held) done(r);
  }
  // Hooks wait until the test ends them (EndHook); `on_hook` (if set) sees
  // each as it is asked for.
  void RunHook(const Hook& hook, HookDone done) override {
    if (on_hook) on_hook(hook);
    absl::MutexLock lock(&mu_);
    hooks_.push_back(hook);
    hook_dones_.push_back(std::move(done));
  }
  std::vector<Hook> hooks() {
    absl::MutexLock lock(&mu_);
    return hooks_;
  }
  // Ends the `n`th hook asked for.
  void EndHook(size_t n, const absl::StatusOr<HookResult>& result) {
    HookDone done;
    {
      absl::MutexLock lock(&mu_);
      ASSERT_LT(n, hook_dones_.size());
      done = std::move(hook_dones_[n]);
      ASSERT_TRUE(done != nullptr) << "hook " << n << " ended twice";
      hook_dones_[n] = nullptr;
    }
    done(result);
  }
  std::function<void(const Hook&)> on_hook;
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
  std::optional<absl::Time> DataTime(const Operation&) override { return data_time; }
  std::optional<absl::Time> data_time;  // what DataTime answers

 private:
  absl::Mutex mu_;
  std::vector<Operation> ops_ ABSL_GUARDED_BY(mu_);
  std::vector<Operation> created_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> jobs_ ABSL_GUARDED_BY(mu_);
  int checks_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> checked_hosts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> checked_vms_ ABSL_GUARDED_BY(mu_);
  std::vector<ReadyDone> held_reads_ ABSL_GUARDED_BY(mu_);
  std::vector<Hook> hooks_ ABSL_GUARDED_BY(mu_);
  std::vector<HookDone> hook_dones_ ABSL_GUARDED_BY(mu_);
};

HookResult Exited(int code, const std::string& output) {
  HookResult r;
  r.end = HookResult::End::kExited;
  r.exit_code = code;
  r.output = output;
  return r;
}

HookResult Killed(HookResult::End end, int signal, const std::string& output) {
  HookResult r;
  r.end = end;
  r.signal = signal;
  r.output = output;
  return r;
}

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
  void Start(const std::string& text, dr::v1::ExecutionMode mode,
             const dr::v1::CommitPolicy& policy = dr::v1::CommitPolicy()) {
    plan_ = PlanFromText(text);
    plan_.set_name("plans/site");
    ASSERT_TRUE(store_->CreatePlan(plan_, clock_.Now(), {"p", "m", "f"}).ok());
    std::map<std::string, plans::VmPlacement> placement;
    for (const auto& g : plan_.groups()) {
      for (const auto& vm : g.vms()) placement[vm.vm_id()] = {"hosts/p", "hosts/r"};
    }
    const plans::StepGraph graph = plans::BuildStepGraph(plan_, mode, placement, policy);
    dr::v1::PlanExecution e;
    e.set_name(kExec);
    e.set_mode(mode);
    e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
    e.set_requester("ops");
    *e.mutable_commit_policy() = policy;
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

TEST_F(PlanRunTest, ADeclinedPromptFailsItsStepAndAHookThatCannotRunFailsWithTheRefusal) {
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
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_RUNNING);
  // drserver runs no hooks (no --hooks_dir).
  actions_.EndHook(0, HyperVError(dr::v1::RETURN_CODE_NOT_SUPPORTED, "", "HOOKS_DISABLED",
                                  "drserver runs no hooks"));
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(Stored("g.before.check").return_code(), dr::v1::RETURN_CODE_NOT_SUPPORTED);
  EXPECT_EQ(Stored("g.before.check").error(), "hook check.sh not run: drserver runs no hooks");
  EXPECT_EQ(Stored("g.before.go").state(), dr::v1::STEP_STATE_WAITING_FOR_ANSWER)
      << "ERROR_MODE_CONTINUE: the next step runs";
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

constexpr char kHooks[] = R"pb(
  source_site: "sites/a"
  target_site: "sites/b"
  groups {
    id: "g"
    before {
      id: "check"
      hook { executable: "check.sh" args: "--quick" args: "two words" }
    }
    vms {
      vm_id: "00000000-0000-0000-0000-000000000001"
      after {
        id: "smoke"
        hook { executable: "smoke.sh" }
        timeout_seconds: 20
        on_error: ERROR_MODE_CONTINUE
      }
    }
  }
)pb";

TEST_F(PlanRunTest, AHookIsRecordedRunningThenRunsWithItsEnvironmentAndItsEndIsRecorded) {
  Start(kHooks, dr::v1::EXECUTION_MODE_COMMIT);
  actions_.on_hook = [this](const StepActions::Hook& hook) {
    const dr::v1::ExecutionStep stored = Stored(hook.step.substr(hook.step.rfind('/') + 1));
    EXPECT_EQ(stored.state(), dr::v1::STEP_STATE_RUNNING) << "recorded before it runs";
    EXPECT_TRUE(stored.has_start_time());
  };
  run_->Advance();
  ASSERT_EQ(actions_.hooks().size(), 1u);
  const StepActions::Hook check = actions_.hooks()[0];
  EXPECT_EQ(check.execution, kExec);
  EXPECT_EQ(check.step, absl::StrCat(kExec, "/steps/g.before.check"));
  EXPECT_EQ(check.request.executable, "check.sh");
  EXPECT_THAT(check.request.args, ::testing::ElementsAre("--quick", "two words"));
  EXPECT_EQ(check.request.timeout, absl::Seconds(300)) << "the default step timeout";
  EXPECT_THAT(check.request.env,
              ::testing::UnorderedElementsAre(
                  ::testing::Pair("HVDR_PLAN", "plans/site"),
                  ::testing::Pair("HVDR_EXECUTION", kExec), ::testing::Pair("HVDR_MODE", "COMMIT"),
                  ::testing::Pair("HVDR_GROUP", "g"), ::testing::Pair("HVDR_VM", ""),
                  ::testing::Pair("HVDR_STEP", check.step), ::testing::Pair("HVDR_ATTEMPT", "1")));
  EXPECT_TRUE(actions_.asked().empty()) << "the group's VMs wait for its before step";

  actions_.EndHook(0, Exited(0, "storage ok\n"));
  const dr::v1::ExecutionStep done = Stored("g.before.check");
  EXPECT_EQ(done.state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(done.return_code(), dr::v1::RETURN_CODE_COMPLETED);
  EXPECT_EQ(done.exit_status(), 0);
  EXPECT_EQ(done.output(), "storage ok\n");
  EXPECT_TRUE(done.has_end_time());
  ASSERT_EQ(actions_.created().size(), 1u) << "then the VM's operation";
  EndJob(0);

  // The VM's hook: its VM in the environment, its own timeout.
  ASSERT_EQ(actions_.hooks().size(), 2u);
  const StepActions::Hook smoke = actions_.hooks()[1];
  EXPECT_EQ(smoke.request.env.at("HVDR_VM"), Vm(1));
  EXPECT_EQ(smoke.request.timeout, absl::Seconds(20));
  actions_.EndHook(1, Exited(0, ""));
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

TEST_F(PlanRunTest, AHookThatFailsUnderErrorModeStopHaltsTheExecution) {
  Start(kHooks, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  actions_.EndHook(0, Exited(2, "storage not fenced\n"));
  const dr::v1::ExecutionStep failed = Stored("g.before.check");
  EXPECT_EQ(failed.state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(failed.return_code(), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(failed.error(), "hook check.sh exited with status 2");
  EXPECT_EQ(failed.exit_status(), 2);
  EXPECT_EQ(failed.output(), "storage not fenced\n");
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED);
  EXPECT_THAT(store_->GetExecution(kExec)->state_reason(), HasSubstr("exited with status 2"));
  EXPECT_TRUE(actions_.asked().empty()) << "nothing after it starts";

  // A retry runs it again, as a new attempt, its last end cleared.
  dr::v1::ResumePlanExecutionRequest resume;
  resume.set_name(kExec);
  resume.set_action(dr::v1::ResumePlanExecutionRequest::ACTION_RETRY);
  resume.set_request_id("resume-1");
  ASSERT_TRUE(run_->Resume(resume).ok());
  ASSERT_EQ(actions_.hooks().size(), 2u);
  EXPECT_EQ(actions_.hooks()[1].request.env.at("HVDR_ATTEMPT"), "2");
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_RUNNING);
  EXPECT_EQ(Stored("g.before.check").output(), "");
  EXPECT_EQ(Stored("g.before.check").error(), "");
  actions_.EndHook(1, Exited(0, "fenced\n"));
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(actions_.created().size(), 1u);
}

TEST_F(PlanRunTest, AHookKilledByASignalFailsNamingItAndErrorModeContinueGoesOn) {
  Start(kHooks, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  actions_.EndHook(0, Exited(0, ""));
  EndJob(0);
  actions_.EndHook(1, Killed(HookResult::End::kSignaled, SIGTERM, "interrupted\n"));
  const dr::v1::ExecutionStep smoke = Stored("g." + Vm(1) + ".after.smoke");
  EXPECT_EQ(smoke.state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(smoke.return_code(), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(smoke.error(), "hook smoke.sh was killed by signal 15 (SIGTERM)");
  EXPECT_EQ(smoke.exit_status(), 128 + SIGTERM);
  EXPECT_EQ(smoke.output(), "interrupted\n");
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS);
}

TEST_F(PlanRunTest, AHookPastItsTimeoutIsKilledByTheRunnerAndFailsAsATimeout) {
  Start(kHooks, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  // At its timeout the step is the runner's to end (it kills the hook and
  // reports what it wrote).
  clock_.Advance(absl::Seconds(300));
  run_->Tick();
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_RUNNING);
  actions_.EndHook(0, Killed(HookResult::End::kTimedOut, SIGKILL, "still checking\n"));
  const dr::v1::ExecutionStep timed_out = Stored("g.before.check");
  EXPECT_EQ(timed_out.state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(timed_out.return_code(), dr::v1::RETURN_CODE_TIMEOUT);
  EXPECT_EQ(timed_out.error(), "hook check.sh timed out after 5m, killed");
  EXPECT_EQ(timed_out.exit_status(), 128 + SIGKILL);
  EXPECT_EQ(timed_out.output(), "still checking\n");
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED);
}

TEST_F(PlanRunTest, AHookWhoseEndIsNeverReportedTimesOutAndALateEndAfterARetryIsIgnored) {
  Start(kHooks, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  clock_.Advance(absl::Seconds(330));
  run_->Tick();
  const dr::v1::ExecutionStep lost = Stored("g.before.check");
  EXPECT_EQ(lost.state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(lost.return_code(), dr::v1::RETURN_CODE_TIMEOUT);
  EXPECT_THAT(lost.error(), HasSubstr("the end of hook check.sh was never reported"));
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED);

  dr::v1::ResumePlanExecutionRequest resume;
  resume.set_name(kExec);
  resume.set_action(dr::v1::ResumePlanExecutionRequest::ACTION_RETRY);
  resume.set_request_id("resume-1");
  ASSERT_TRUE(run_->Resume(resume).ok());
  ASSERT_EQ(actions_.hooks().size(), 2u);
  // The first attempt's end comes at last: it is not the step's any more.
  actions_.EndHook(0, Exited(0, "late\n"));
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_RUNNING);
  EXPECT_EQ(Stored("g.before.check").attempt(), 2);
  EXPECT_EQ(Stored("g.before.check").output(), "");
  EXPECT_TRUE(actions_.asked().empty());
  actions_.EndHook(1, Exited(1, "second\n"));
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(Stored("g.before.check").output(), "second\n");
}

TEST_F(PlanRunTest, AHookRunningWhenDrserverStopsIsRecordedFailedAndNotRunAgain) {
  Start(kHooks, dr::v1::EXECUTION_MODE_COMMIT);
  run_->Advance();
  // drserver stops: its runner kills the hook and says so; the step stays
  // RUNNING for the restart to judge.
  actions_.EndHook(0, absl::CancelledError("drserver is stopping: hook check.sh was killed"));
  EXPECT_EQ(Stored("g.before.check").state(), dr::v1::STEP_STATE_RUNNING);
  Reopen();
  run_->Advance();
  const dr::v1::ExecutionStep s = Stored("g.before.check");
  EXPECT_EQ(s.state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(s.return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_THAT(s.error(), HasSubstr("not run again"));
  EXPECT_EQ(actions_.hooks().size(), 1u);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED);
}

TEST(OperationRequestIdTest, IsStablePerAttemptAndFitsTheRequestIdRules) {
  const std::string a = OperationRequestId(kExec, "db.x.commit", 1);
  EXPECT_EQ(a, OperationRequestId(kExec, "db.x.commit", 1));
  EXPECT_NE(a, OperationRequestId(kExec, "db.x.commit", 2));
  EXPECT_NE(a, OperationRequestId("plans/site/executions/e2", "db.x.commit", 1));
  EXPECT_EQ(a.size(), 45u);
}

constexpr char kOneVm[] = R"pb(
  source_site: "sites/a"
  target_site: "sites/b"
  groups {
    id: "g"
    vms { vm_id: "00000000-0000-0000-0000-000000000001" critical: true ready_timeout_seconds: 60 }
  }
)pb";

// Readiness reads the guest heartbeat once per kReadinessPoll until it is
// OK; the step ends at the read that sees it.
TEST_F(PlanRunTest, ReadinessPollsTheHeartbeatUntilItIsOk) {
  Start(kOneVm, dr::v1::EXECUTION_MODE_UNPLANNED);
  run_->Advance();
  EndJob(0);  // failover
  EndJob(1);  // start
  const std::string ready = "g." + Vm(1) + ".readiness";
  EXPECT_EQ(Stored(ready).state(), dr::v1::STEP_STATE_RUNNING);
  actions_.ready = false;
  run_->Tick();
  EXPECT_EQ(actions_.checks(), 1);
  run_->Tick();  // within the poll interval: not read again
  EXPECT_EQ(actions_.checks(), 1);
  clock_.Advance(kReadinessPoll);
  run_->Tick();
  EXPECT_EQ(actions_.checks(), 2);
  EXPECT_EQ(Stored(ready).state(), dr::v1::STEP_STATE_RUNNING);
  actions_.ready = true;
  clock_.Advance(kReadinessPoll);
  run_->Tick();  // reads OK
  run_->Tick();  // persisted
  EXPECT_EQ(actions_.checks(), 3);
  EXPECT_EQ(Stored(ready).state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_THAT(Stored(ready).error(), HasSubstr("heartbeat OK"));
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

constexpr char kTwoVms[] = R"pb(
  source_site: "sites/a"
  target_site: "sites/b"
  groups {
    id: "g"
    vms { vm_id: "00000000-0000-0000-0000-000000000001" }
    vms { vm_id: "00000000-0000-0000-0000-000000000002" }
  }
)pb";

// A heartbeat answer reaches the run between two Ticks (the executor's
// loop). One that ends its step is the step's last read: the next Tick does
// not read the guest again, though the step's end is not stored yet and
// another step became active meanwhile (which brings every step under way
// up for a look).
TEST_F(PlanRunTest, AReadinessAnswerThatEndsItsStepIsItsLastRead) {
  Start(kTwoVms, dr::v1::EXECUTION_MODE_UNPLANNED);
  run_->Advance();
  EndJob(0);  // VM 1's failover
  EndJob(1);  // VM 2's failover
  EndJob(2);  // VM 1's start: its readiness runs
  actions_.hold_reads = true;
  run_->Tick();
  ASSERT_EQ(actions_.ChecksOf(Vm(1)), 1);
  EndJob(3);                       // VM 2's start: its readiness becomes active
  clock_.Advance(kReadinessPoll);  // VM 1's next read would be due
  actions_.AnswerHeldReads();      // VM 1 is ready
  run_->Tick();
  EXPECT_EQ(actions_.ChecksOf(Vm(1)), 1) << "VM 1's guest read again after it was seen ready";
  EXPECT_EQ(actions_.ChecksOf(Vm(2)), 1);
  EXPECT_EQ(Stored("g." + Vm(1) + ".readiness").state(), dr::v1::STEP_STATE_SUCCEEDED);
  actions_.AnswerHeldReads();
  run_->Tick();
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

// A guest that never answers fails its readiness step at its timeout with
// what was last seen; the VM is critical, so the execution halts.
TEST_F(PlanRunTest, AGuestThatNeverBecomesReadyTimesOutAndHaltsTheExecution) {
  Start(kOneVm, dr::v1::EXECUTION_MODE_UNPLANNED);
  run_->Advance();
  EndJob(0);
  EndJob(1);
  actions_.ready = false;
  for (int i = 0; i < 59; ++i) {
    run_->Tick();
    clock_.Advance(absl::Seconds(1));
  }
  const std::string ready = "g." + Vm(1) + ".readiness";
  EXPECT_EQ(Stored(ready).state(), dr::v1::STEP_STATE_RUNNING);
  clock_.Advance(absl::Seconds(1));
  run_->Tick();
  EXPECT_EQ(Stored(ready).state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(Stored(ready).return_code(), dr::v1::RETURN_CODE_TIMEOUT);
  EXPECT_THAT(Stored(ready).error(), HasSubstr("heartbeat NO_CONTACT"));
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_HALTED);
}

// The commit policy's timer is a durable wait: it survives a restart, and
// the commits start when it is up, not before.
TEST_F(PlanRunTest, ACommitPolicyCommitsEachVmWhenItsTimeIsUpAcrossARestart) {
  dr::v1::CommitPolicy policy;
  policy.set_action(dr::v1::CommitPolicy::ACTION_COMMIT);
  policy.set_after_seconds(600);
  Start(kOneVm, dr::v1::EXECUTION_MODE_UNPLANNED, policy);
  run_->Advance();
  EndJob(0);  // failover
  EndJob(1);  // start
  run_->Tick();
  run_->Tick();  // ready
  EXPECT_EQ(Stored("commit-policy.wait").state(), dr::v1::STEP_STATE_RUNNING);
  const absl::Time waited_from = FromProto(Stored("commit-policy.wait").start_time());
  clock_.Advance(absl::Seconds(599));
  run_->Tick();
  EXPECT_EQ(actions_.created().size(), 2u) << "no commit before its time";
  Reopen();  // drserver restarts during the wait
  run_->Advance();
  clock_.Advance(absl::Seconds(1));
  run_->Tick();
  ASSERT_EQ(actions_.created().size(), 3u);
  EXPECT_EQ(actions_.created()[2].kind, dr::v1::STEP_KIND_COMMIT);
  EXPECT_EQ(actions_.created()[2].host, "hosts/r");
  EXPECT_EQ(FromProto(Stored("commit-policy.wait").end_time()) - waited_from, absl::Seconds(600));
  EndJob(2);
  EXPECT_EQ(Stored("g." + Vm(1) + ".commit").state(), dr::v1::STEP_STATE_SUCCEEDED);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
}

// Cancelling during the wait stops the policy: nothing is committed or
// reverted, and the execution ends CANCELLED.
TEST_F(PlanRunTest, CancellingDuringTheCommitPolicyWaitStopsThePolicy) {
  dr::v1::CommitPolicy policy;
  policy.set_action(dr::v1::CommitPolicy::ACTION_REVERT);
  policy.set_after_seconds(60);
  Start(kOneVm, dr::v1::EXECUTION_MODE_UNPLANNED, policy);
  run_->Advance();
  EndJob(0);
  EndJob(1);
  run_->Tick();
  run_->Tick();
  ASSERT_EQ(Stored("commit-policy.wait").state(), dr::v1::STEP_STATE_RUNNING);
  dr::v1::CancelPlanExecutionRequest cancel;
  cancel.set_name(kExec);
  cancel.set_requester("alice");
  cancel.set_reason("keep the failover; we commit by hand");
  cancel.set_request_id("cancel-1");
  ASSERT_TRUE(run_->Cancel(cancel).ok());
  clock_.Advance(absl::Hours(2));
  run_->Tick();
  EXPECT_EQ(actions_.created().size(), 2u) << "nothing reverted";
  EXPECT_EQ(Stored("g." + Vm(1) + ".revert").state(), dr::v1::STEP_STATE_SKIPPED);
  EXPECT_EQ(State(), dr::v1::EXECUTION_STATE_CANCELLED);
}

TEST_F(PlanRunTest, AFailoverRecordsItsDataTimeWhenItIsFirstAsked) {
  Start(R"pb(source_site: "sites/a"
             target_site: "sites/b"
             groups {
               id: "db"
               vms { vm_id: "00000000-0000-0000-0000-000000000001" }
             })pb",
        dr::v1::EXECUTION_MODE_UNPLANNED);
  const absl::Time replicated = clock_.Now() - absl::Seconds(95);
  actions_.data_time = replicated;
  run_->Advance();
  ASSERT_EQ(actions_.created().size(), 1u);
  EXPECT_EQ(actions_.created()[0].kind, dr::v1::STEP_KIND_FAILOVER);
  EXPECT_EQ(FromProto(Stored("db." + Vm(1) + ".failover").data_time()), replicated);
  // After a restart the failover, asked again for the job it has, keeps
  // the time it was first asked with.
  actions_.data_time = clock_.Now();
  Reopen();
  run_->Advance();
  EXPECT_EQ(FromProto(Stored("db." + Vm(1) + ".failover").data_time()), replicated);
  EndJob(0);
  ASSERT_EQ(actions_.created().size(), 2u);
  EXPECT_EQ(actions_.created()[1].kind, dr::v1::STEP_KIND_START);
  EXPECT_FALSE(Stored("db." + Vm(1) + ".start").has_data_time()) << "only failovers";
}

TEST_F(PlanRunTest, EachStoredChangeIsHandedToThePersistListenerAfterItIsStored) {
  Start(kTwoGroups, dr::v1::EXECUTION_MODE_COMMIT);
  std::vector<int64_t> versions;
  std::map<std::string, int64_t> step_versions;
  run_->SetPersistListener(
      [&](const dr::v1::PlanExecution& e, const std::vector<dr::v1::ExecutionStep>& steps) {
        // Persist, then publish: the store already holds what is handed over.
        EXPECT_EQ(store_->GetExecution(kExec)->version(), e.version());
        versions.push_back(e.version());
        for (const auto& s : steps) {
          EXPECT_EQ(Stored(s.name().substr(s.name().rfind('/') + 1)).version(), s.version());
          EXPECT_GT(s.version(), step_versions[s.name()]) << s.name();
          step_versions[s.name()] = s.version();
        }
      });
  run_->Advance();  // the prompt waits
  AnswerGo();
  run_->Advance();
  EndJob(0);
  EndJob(1);
  EndJob(2);
  clock_.Advance(absl::Seconds(30));
  run_->Tick();
  ASSERT_EQ(State(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  ASSERT_FALSE(versions.empty());
  for (size_t i = 1; i < versions.size(); ++i) EXPECT_GT(versions[i], versions[i - 1]);
  EXPECT_EQ(versions.back(), store_->GetExecution(kExec)->version());
  EXPECT_EQ(step_versions.size(), 5u) << "every step's change was handed over";
  const std::vector<dr::v1::ExecutionStep> stored = *store_->GetExecutionSteps(kExec);
  for (const auto& s : stored) {
    EXPECT_EQ(step_versions[s.name()], s.version()) << s.name();
  }
}

}  // namespace
}  // namespace server
}  // namespace hvdr
