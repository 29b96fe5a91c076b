#include "cli/plan_run_commands.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/fake_stubs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace cli {
namespace {

using ::testing::_;
using ::testing::DoAll;
using testing::FakeExecutionReader;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SetArgPointee;

constexpr char kTestExec[] = "plans/site/executions/e1";

int Drctl(testing::TestCli& cli, std::vector<std::string> args) {
  absl::StatusOr<ParsedArgs> a = ParseArgs(args, Flags());
  EXPECT_TRUE(a.ok()) << a.status();
  return RunCommand(cli.ctx, *a);
}

dr::v1::ExecutionStep Step(const std::string& id, dr::v1::StepState state,
                           const std::string& job = "") {
  dr::v1::ExecutionStep s;
  s.set_name(absl::StrCat(kTestExec, "/steps/", id));
  s.set_state(state);
  s.set_attempt(state == dr::v1::STEP_STATE_PENDING ? 0 : 1);
  s.set_job(job);
  return s;
}

dr::v1::WatchPlanExecutionResponse Message(dr::v1::ExecutionState state,
                                           std::vector<dr::v1::ExecutionStep> steps) {
  dr::v1::WatchPlanExecutionResponse m;
  m.mutable_execution()->set_name(kTestExec);
  m.mutable_execution()->set_state(state);
  m.mutable_execution()->set_steps_total(2);
  for (auto& s : steps) *m.add_steps() = std::move(s);
  return m;
}

dr::v1::PlanExecution Started() {
  dr::v1::PlanExecution e;
  e.set_name(kTestExec);
  e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
  e.set_plan_version(1);
  e.set_steps_total(2);
  return e;
}

TEST(PlansRunTest, FollowsTheExecutionThroughItsWatchStreamAndPrintsEachStepChange) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, StartPlanExecution(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Started()), Return(grpc::Status::OK)));
  dr::v1::WatchPlanExecutionRequest watched;
  dr::v1::WatchPlanExecutionResponse done =
      Message(dr::v1::EXECUTION_STATE_SUCCEEDED, {Step("b", dr::v1::STEP_STATE_SUCCEEDED)});
  done.mutable_execution()->set_steps_succeeded(2);
  EXPECT_CALL(cli.plans, WatchPlanExecutionRaw(_, _))
      .WillOnce(DoAll(SaveArg<1>(&watched), [&](grpc::ClientContext*, auto&) {
        return new FakeExecutionReader({Message(dr::v1::EXECUTION_STATE_RUNNING,
                                                {Step("a", dr::v1::STEP_STATE_RUNNING, "jobs/j1"),
                                                 Step("b", dr::v1::STEP_STATE_PENDING)}),
                                        Message(dr::v1::EXECUTION_STATE_RUNNING,
                                                {Step("a", dr::v1::STEP_STATE_SUCCEEDED, "jobs/j1"),
                                                 Step("b", dr::v1::STEP_STATE_RUNNING)}),
                                        done},
                                       grpc::Status::OK);
      }));
  EXPECT_EQ(Drctl(cli, {"plans", "run", "site", "--mode", "commit"}), kOk) << cli.err.str();
  EXPECT_EQ(watched.name(), kTestExec);
  const std::string out = cli.out.str();
  EXPECT_THAT(out, HasSubstr(" a running jobs/j1\n"));
  EXPECT_THAT(out, HasSubstr(" a succeeded jobs/j1\n"));
  EXPECT_THAT(out, HasSubstr(" b running\n"));
  EXPECT_THAT(out, HasSubstr(" b succeeded\n"));
  EXPECT_THAT(out, Not(HasSubstr(" b pending"))) << "pending steps are not shown";
  EXPECT_THAT(out, HasSubstr(absl::StrCat(kTestExec, ": succeeded (2 succeeded")));
}

TEST(PlansRunTest, StopsAtAHaltWithExitFiveAndTheResumeHint) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, StartPlanExecution(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Started()), Return(grpc::Status::OK)));
  EXPECT_CALL(cli.plans, WatchPlanExecutionRaw(_, _)).WillOnce([](grpc::ClientContext*, auto&) {
    // The stream goes on after a halt (until a resume or cancel): drctl
    // stops reading there.
    return new FakeExecutionReader(
        {Message(dr::v1::EXECUTION_STATE_HALTED, {Step("a", dr::v1::STEP_STATE_FAILED, "jobs/j1")}),
         Message(dr::v1::EXECUTION_STATE_RUNNING, {Step("a", dr::v1::STEP_STATE_RUNNING)})},
        grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  });
  EXPECT_EQ(Drctl(cli, {"plans", "run", "site", "--mode", "commit"}), kJobFailed);
  EXPECT_THAT(cli.out.str(), HasSubstr(absl::StrCat(kTestExec, ": halted")));
  EXPECT_THAT(cli.out.str(), HasSubstr("resume: drctl plans resume"));
  EXPECT_THAT(cli.out.str(), Not(HasSubstr(" a running"))) << "nothing after the halt is read";
}

TEST(PlansRunTest, WatchesAgainWhileDrserverRestartsAndShowsAStepOnce) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, StartPlanExecution(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Started()), Return(grpc::Status::OK)));
  EXPECT_CALL(cli.plans, WatchPlanExecutionRaw(_, _))
      .WillOnce([](grpc::ClientContext*, auto&) {
        return new FakeExecutionReader(
            {Message(dr::v1::EXECUTION_STATE_RUNNING,
                     {Step("a", dr::v1::STEP_STATE_RUNNING, "jobs/j1")})},
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "drserver is shutting down"));
      })
      .WillOnce([](grpc::ClientContext*, auto&) {
        return new FakeExecutionReader({Message(dr::v1::EXECUTION_STATE_SUCCEEDED,
                                                {Step("a", dr::v1::STEP_STATE_RUNNING, "jobs/j1"),
                                                 Step("b", dr::v1::STEP_STATE_SUCCEEDED)})},
                                       grpc::Status::OK);
      });
  EXPECT_EQ(Drctl(cli, {"plans", "run", "site", "--mode", "commit"}), kOk) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_EQ(out.find(" a running"), out.rfind(" a running")) << out;
}

TEST(PlansRunTest, GivesUpAtTheWaitTimeoutWithExitSeven) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, StartPlanExecution(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Started()), Return(grpc::Status::OK)));
  EXPECT_CALL(cli.plans, WatchPlanExecutionRaw(_, _)).WillOnce([](grpc::ClientContext*, auto&) {
    return new FakeExecutionReader(
        {Message(dr::v1::EXECUTION_STATE_RUNNING, {})},
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded"));
  });
  EXPECT_EQ(Drctl(cli, {"plans", "run", "site", "--mode", "commit", "--wait-timeout", "5"}),
            kTimeout);
  EXPECT_THAT(cli.err.str(), HasSubstr("gave up waiting for"));
}

TEST(PlansRunTest, NoWaitDoesNotWatch) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, StartPlanExecution(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(Started()), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "run", "site", "--mode", "commit", "--no-wait"}), kOk);
}

TEST(PlansWatchTest, OnATerminalTheGroupsAreRedrawnInPlace) {
  testing::TestCli cli;
  cli.ctx.tty = true;
  auto in = [](dr::v1::ExecutionStep s, const std::string& group) {
    s.set_group(group);
    return s;
  };
  EXPECT_CALL(cli.plans, WatchPlanExecutionRaw(_, _)).WillOnce([&](grpc::ClientContext*, auto&) {
    return new FakeExecutionReader(
        {Message(dr::v1::EXECUTION_STATE_WAITING,
                 {in(Step("db.before.go", dr::v1::STEP_STATE_WAITING_FOR_ANSWER), "db"),
                  in(Step("db.vm1.commit", dr::v1::STEP_STATE_PENDING), "db"),
                  in(Step("app.vm2.commit", dr::v1::STEP_STATE_PENDING), "app")}),
         Message(dr::v1::EXECUTION_STATE_RUNNING,
                 {in(Step("db.before.go", dr::v1::STEP_STATE_SUCCEEDED), "db"),
                  in(Step("db.vm1.commit", dr::v1::STEP_STATE_RUNNING, "jobs/j1"), "db")}),
         Message(dr::v1::EXECUTION_STATE_SUCCEEDED,
                 {in(Step("db.vm1.commit", dr::v1::STEP_STATE_SUCCEEDED, "jobs/j1"), "db"),
                  in(Step("app.vm2.commit", dr::v1::STEP_STATE_SUCCEEDED), "app")})},
        grpc::Status::OK);
  });
  EXPECT_EQ(Drctl(cli, {"plans", "watch", kTestExec}), kOk) << cli.err.str();
  const std::string out = cli.out.str();
  EXPECT_THAT(out,
              HasSubstr("  db  0/2 done\x1b[K\n    waiting for a person: drctl plans answer "));
  EXPECT_THAT(out, HasSubstr("  app  0/1 done\x1b[K\n"));
  EXPECT_THAT(out, HasSubstr("\x1b[4F\x1b[J"))
      << "the second drawing replaces the first (its 4 lines)";
  EXPECT_THAT(out, HasSubstr("  db  1/2 done  running: db.vm1.commit\x1b[K\n"));
  EXPECT_THAT(out, HasSubstr("\x1b[3F\x1b[J"));
  EXPECT_THAT(out, HasSubstr("  db  2/2 done\x1b[K\n  app  1/1 done\x1b[K\n"));
  EXPECT_THAT(out, Not(HasSubstr(" db.vm1.commit running jobs/j1\n"))) << "no plain lines";
}

TEST(PlansWatchTest, FollowsAnExecutionToItsEndAndARefusalIsReported) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, WatchPlanExecutionRaw(_, _))
      .WillOnce([](grpc::ClientContext*, auto&) {
        return new FakeExecutionReader(
            {Message(dr::v1::EXECUTION_STATE_CANCELLED, {Step("a", dr::v1::STEP_STATE_SUCCEEDED)})},
            grpc::Status::OK);
      })
      .WillOnce([](grpc::ClientContext*, auto&) {
        return new FakeExecutionReader(
            {}, grpc::Status(grpc::StatusCode::NOT_FOUND, "name: it does not exist"));
      });
  EXPECT_EQ(Drctl(cli, {"plans", "watch", kTestExec}), kJobFailed);
  EXPECT_THAT(cli.out.str(), HasSubstr(" a succeeded\n"));
  EXPECT_THAT(cli.out.str(), HasSubstr(absl::StrCat(kTestExec, ": cancelled")));
  EXPECT_NE(Drctl(cli, {"plans", "watch", "plans/site/executions/nope"}), kOk);
  EXPECT_THAT(cli.err.str(), HasSubstr("does not exist"));
}

dr::v1::PlanExecution InState(dr::v1::ExecutionState state) {
  dr::v1::PlanExecution e = Started();
  e.set_state(state);
  return e;
}

// The next CancelPlanExecution gets its request saved in `sent` and is
// answered with the execution in `state`.
void ExpectCancel(testing::TestCli& cli, dr::v1::CancelPlanExecutionRequest* sent,
                  dr::v1::ExecutionState state) {
  EXPECT_CALL(cli.plans, CancelPlanExecution(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(sent), SetArgPointee<2>(InState(state)), Return(grpc::Status::OK)));
}

TEST(PlansResumeTest, TheActionAndScopeFlagsMapToTheRequest) {
  using R = dr::v1::ResumePlanExecutionRequest;
  struct Case {
    std::vector<std::string> flags;
    R::Action action;
    R::Scope scope;
  };
  const std::vector<Case> cases = {
      {{"--action", "retry"}, R::ACTION_RETRY, R::SCOPE_UNSPECIFIED},
      {{"--action", "skip", "--scope", "step"}, R::ACTION_SKIP, R::SCOPE_STEP},
      {{"--action", "retry", "--scope", "vm"}, R::ACTION_RETRY, R::SCOPE_VM},
      {{"--action", "skip", "--scope", "group"}, R::ACTION_SKIP, R::SCOPE_GROUP},
      {{"--action=ACTION_RETRY", "--scope=SCOPE_GROUP"}, R::ACTION_RETRY, R::SCOPE_GROUP},
  };
  for (const Case& c : cases) {
    testing::TestCli cli;
    R sent;
    EXPECT_CALL(cli.plans, ResumePlanExecution(_, _, _))
        .WillOnce(DoAll(SaveArg<1>(&sent),
                        SetArgPointee<2>(InState(dr::v1::EXECUTION_STATE_RUNNING)),
                        Return(grpc::Status::OK)));
    std::vector<std::string> args = {"plans", "resume", kTestExec, "--request-id", "r-resume"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const std::string flags = absl::StrJoin(c.flags, " ");
    EXPECT_EQ(Drctl(cli, args), kOk) << flags << ": " << cli.err.str();
    EXPECT_EQ(sent.name(), kTestExec) << flags;
    EXPECT_EQ(sent.action(), c.action) << flags;
    EXPECT_EQ(sent.scope(), c.scope) << flags;
    EXPECT_EQ(sent.request_id(), "r-resume") << flags;
    EXPECT_EQ(sent.requester(), "tester") << flags;
    EXPECT_EQ(cli.out.str(), absl::StrCat(kTestExec, ": running\n")) << flags;
  }
}

TEST(PlansResumeTest, ABadActionOrScopeIsRefusedNamingTheFlagAndNothingIsSent) {
  // The plan stub is strict: any call fails the test.
  for (const auto& [flag, value] :
       std::vector<std::pair<std::string, std::string>>{{"--action", "redo"},
                                                        {"--action", "unspecified"},
                                                        {"--action", "7"},
                                                        {"--scope", "everything"},
                                                        {"--scope", "9"}}) {
    testing::TestCli cli;
    std::vector<std::string> args = {"plans", "resume", kTestExec};
    if (flag != "--action") args.insert(args.end(), {"--action", "retry"});
    args.insert(args.end(), {flag, value});
    EXPECT_EQ(Drctl(cli, args), kRefused) << flag << " " << value;
    EXPECT_THAT(cli.err.str(), HasSubstr(flag)) << value;
    EXPECT_THAT(cli.err.str(), HasSubstr(absl::StrCat("\"", value, "\""))) << flag;
    EXPECT_THAT(cli.err.str(), HasSubstr("INVALID_ARGUMENT")) << flag << " " << value;
  }
  testing::TestCli cli;
  cli.ctx.json = true;
  EXPECT_EQ(Drctl(cli, {"plans", "resume", kTestExec, "--action", "retry", "--scope", "host"}),
            kRefused);
  EXPECT_THAT(cli.out.str(), HasSubstr("\"field\": \"--scope\""));
  EXPECT_EQ(Drctl(cli, {"plans", "resume", kTestExec}), kUsage) << "--action is required";
  EXPECT_THAT(cli.err.str(), HasSubstr("--action retry|skip"));
  EXPECT_EQ(Drctl(cli, {"plans", "resume", "--action", "retry"}), kUsage);
}

TEST(PlansResumeTest, AnExecutionThatIsNotHaltedIsReportedAsRefused) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, ResumePlanExecution(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "the execution is not halted: nothing failed that stops it")));
  EXPECT_EQ(Drctl(cli, {"plans", "resume", kTestExec, "--action", "skip"}), kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("not halted"));
  EXPECT_EQ(cli.out.str(), "");
}

TEST(PlansCancelTest, SendsTheReasonAndWhoAndPrintsWhereTheExecutionStands) {
  testing::TestCli cli;
  dr::v1::CancelPlanExecutionRequest sent;
  ExpectCancel(cli, &sent, dr::v1::EXECUTION_STATE_CANCELLING);
  EXPECT_EQ(Drctl(cli, {"plans", "cancel", kTestExec, "--reason", "rehearsal over", "--request-id",
                        "r-cancel"}),
            kOk)
      << cli.err.str();
  EXPECT_EQ(sent.name(), kTestExec);
  EXPECT_EQ(sent.reason(), "rehearsal over");
  EXPECT_EQ(sent.requester(), "tester");
  EXPECT_EQ(sent.request_id(), "r-cancel");
  EXPECT_EQ(cli.out.str(), absl::StrCat(kTestExec, ": cancelling\n"));

  // No reason, no request id: an empty reason and a fresh id.
  ExpectCancel(cli, &sent, dr::v1::EXECUTION_STATE_CANCELLED);
  cli.out.str("");
  EXPECT_EQ(Drctl(cli, {"plans", "cancel", kTestExec}), kOk) << cli.err.str();
  EXPECT_EQ(sent.reason(), "");
  EXPECT_THAT(sent.request_id(), ::testing::StartsWith("drctl-"));
  EXPECT_EQ(cli.out.str(), absl::StrCat(kTestExec, ": cancelled\n"));
}

TEST(PlansCancelTest, ARefusalIsReportedAndAMissingExecutionIsAUsageError) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, CancelPlanExecution(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::NOT_FOUND, "plans/site/executions/e9 does not exist")));
  EXPECT_EQ(Drctl(cli, {"plans", "cancel", "plans/site/executions/e9"}), kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("e9 does not exist"));
  EXPECT_EQ(cli.out.str(), "");
  EXPECT_EQ(Drctl(cli, {"plans", "cancel"}), kUsage);
}

// An execution or a step may be named without the leading "plans/", as
// plans themselves can (what `plans run` prints is the full name).
TEST(PlanNamesTest, ExecutionsAndStepsMayBeNamedWithoutThePlansPrefix) {
  testing::TestCli cli;
  dr::v1::CancelPlanExecutionRequest cancel;
  ExpectCancel(cli, &cancel, dr::v1::EXECUTION_STATE_CANCELLED);
  EXPECT_EQ(Drctl(cli, {"plans", "cancel", "site/executions/e1"}), kOk) << cli.err.str();
  EXPECT_EQ(cancel.name(), kTestExec);

  dr::v1::ResumePlanExecutionRequest resume;
  EXPECT_CALL(cli.plans, ResumePlanExecution(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&resume),
                      SetArgPointee<2>(InState(dr::v1::EXECUTION_STATE_RUNNING)),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "resume", "site/executions/e1", "--action", "retry"}), kOk)
      << cli.err.str();
  EXPECT_EQ(resume.name(), kTestExec);

  dr::v1::AnswerPromptRequest answer;
  EXPECT_CALL(cli.plans, AnswerPrompt(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&answer), Return(grpc::Status::OK)));
  Drctl(cli, {"plans", "answer", "site/executions/e1/steps/g.before.p"});
  EXPECT_EQ(answer.step(), absl::StrCat(kTestExec, "/steps/g.before.p"));

  // A full name is sent as it is.
  ExpectCancel(cli, &cancel, dr::v1::EXECUTION_STATE_CANCELLED);
  EXPECT_EQ(Drctl(cli, {"plans", "cancel", kTestExec}), kOk) << cli.err.str();
  EXPECT_EQ(cancel.name(), kTestExec);
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
