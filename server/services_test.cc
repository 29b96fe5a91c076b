// PlanService.WatchPlanExecution over real gRPC (in process): a PlanRun
// over an in-memory SqliteStore with fake actions publishes each stored
// change to an ExecutionHub, and watchers read the stream: the stored
// execution with every step first, then the changes, each step's versions
// in order, and OK once the execution is terminal; refusals for bad names,
// unknown executions and too many streams.
#include "server/services.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/executor.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/step_graph.h"
#include "plans/test_plans.h"
#include "server/execution_hub.h"
#include "server/plan_run.h"
#include "server/plans.h"
#include "storage/plan_store.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

using plans::testing::PlanFromText;
using plans::testing::Vm;

constexpr char kTestExec[] = "plans/site/executions/e1";

constexpr char kTestPlan[] = R"pb(
  source_site: "sites/a"
  target_site: "sites/b"
  groups {
    id: "db"
    before {
      id: "go"
      prompt { message: "Storage fenced?" }
    }
    vms { vm_id: "00000000-0000-0000-0000-000000000001" }
    vms { vm_id: "00000000-0000-0000-0000-000000000002" }
  }
)pb";

// Operations get jobs/j1, jobs/j2, ... at once; the test ends them.
class FakeActions : public StepActions {
 public:
  void SubmitOperation(const Operation& op, JobDone done) override {
    std::string job;
    {
      absl::MutexLock lock(&mu_);
      auto [it, fresh] = jobs_.emplace(op.request_id, absl::StrCat("jobs/j", jobs_.size() + 1));
      job = it->second;
    }
    done(job);
  }
  void CheckReady(const Operation&, ReadyDone done) override { done(Readiness{true, "OK"}); }
  void RunHook(const Hook&, HookDone done) override {
    done(absl::UnimplementedError("no hooks here"));
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::string> jobs_ ABSL_GUARDED_BY(mu_);
};

dr::v1::Job Completed(const std::string& name) {
  dr::v1::Job j;
  j.set_name(name);
  j.set_state(dr::v1::JOB_STATE_COMPLETED);
  j.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  return j;
}

class WatchPlanExecutionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *SqliteStore::Open(":memory:", {});
    logic_ = std::make_unique<PlanLogic>(store_.get(), &clock_, PlanLogic::Options{});
  }
  void TearDown() override {
    if (server_ != nullptr) {
      hub_.CloseAll();
      server_->Shutdown();
    }
  }

  void Serve(int max_watches_per_client = 10) {
    ApiLimits limits;
    limits.watches.max_per_peer = max_watches_per_client;
    service_ = std::make_unique<PlanServiceImpl>(logic_.get(), nullptr, &work_, limits, &hub_);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = dr::v1::PlanService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }

  // Stores kTestPlan and an execution of it in COMMIT mode, and opens its
  // run, which publishes every stored change to hub_.
  void StartExecution() {
    dr::v1::Plan plan = PlanFromText(kTestPlan);
    plan.set_name("plans/site");
    ASSERT_TRUE(store_->CreatePlan(plan, clock_.Now(), {"p", "m", "f"}).ok());
    std::map<std::string, plans::VmPlacement> placement;
    for (int n : {1, 2}) placement[Vm(n)] = {"hosts/p", "hosts/r"};
    const plans::StepGraph graph =
        plans::BuildStepGraph(plan, dr::v1::EXECUTION_MODE_COMMIT, placement);
    dr::v1::PlanExecution e;
    e.set_name(kTestExec);
    e.set_mode(dr::v1::EXECUTION_MODE_COMMIT);
    e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
    e.set_requester("ops");
    ASSERT_TRUE(store_
                    ->CreateExecution(e, plan, PlanRun::NewSteps(graph, plan, kTestExec),
                                      {Vm(1), Vm(2)}, {"e", "m", "f"})
                    .ok());
    auto run = PlanRun::Restore(
        store_.get(), &actions_, &clock_, *store_->GetExecutionPlan(kTestExec),
        *store_->GetExecution(kTestExec), *store_->GetExecutionSteps(kTestExec), nullptr);
    ASSERT_TRUE(run.ok()) << run.status();
    run_ = *std::move(run);
    run_->SetPersistListener(
        [this](const dr::v1::PlanExecution& e, const std::vector<dr::v1::ExecutionStep>& steps) {
          hub_.Publish(e, steps);
        });
  }
  void AnswerGo() {
    dr::v1::AnswerPromptRequest answer;
    answer.set_step(absl::StrCat(kTestExec, "/steps/db.before.go"));
    answer.set_proceed(true);
    answer.set_requester("alice");
    answer.set_request_id("answer-1");
    ASSERT_TRUE(run_->Answer(answer).ok());
  }
  int64_t StoredVersion() { return store_->GetExecution(kTestExec)->version(); }
  // The server ends a stream (OnDone: it unsubscribes) after the client saw
  // it end: polls, generously.
  int WatchersOnceSettled() {
    for (int i = 0; i < 600 && hub_.WatcherCountForTest() > 0; ++i) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return hub_.WatcherCountForTest();
  }

  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<dr::v1::WatchPlanExecutionResponse>> reader;
    std::vector<dr::v1::WatchPlanExecutionResponse> seen;
    // Reads until a message has the execution at `version` (or the stream ends).
    void ReadUpTo(int64_t version) {
      dr::v1::WatchPlanExecutionResponse m;
      while ((seen.empty() || seen.back().execution().version() < version) && reader->Read(&m)) {
        seen.push_back(m);
      }
    }
    absl::Status Finish() {
      dr::v1::WatchPlanExecutionResponse m;
      while (reader->Read(&m)) seen.push_back(m);
      return FromGrpcStatus(reader->Finish(), &context);
    }
  };
  std::unique_ptr<Stream> Watch(const std::string& name) {
    auto s = std::make_unique<Stream>();
    s->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    dr::v1::WatchPlanExecutionRequest r;
    r.set_name(name);
    s->reader = stub_->WatchPlanExecution(&s->context, r);
    return s;
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<PlanLogic> logic_;
  FakeActions actions_;
  std::unique_ptr<PlanRun> run_;
  ExecutionHub hub_;
  Executor work_{1};
  std::unique_ptr<PlanServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<dr::v1::PlanService::Stub> stub_;
};

// Each step's versions across the messages strictly increase; returns the
// last version and state seen of each.
std::map<std::string, dr::v1::ExecutionStep> CheckInOrder(
    const std::vector<dr::v1::WatchPlanExecutionResponse>& seen) {
  std::map<std::string, dr::v1::ExecutionStep> last;
  int64_t execution_version = -1;
  for (const auto& m : seen) {
    EXPECT_GT(m.execution().version(), execution_version);
    execution_version = m.execution().version();
    for (const auto& s : m.steps()) {
      auto it = last.find(s.name());
      if (it != last.end()) {
        EXPECT_GT(s.version(), it->second.version()) << s.name();
      }
      last[s.name()] = s;
    }
  }
  return last;
}

TEST_F(WatchPlanExecutionTest, AWatcherGetsEveryStepFirstThenEachChangeAndOkAtTheEnd) {
  Serve();
  StartExecution();
  std::unique_ptr<Stream> w = Watch(kTestExec);
  w->ReadUpTo(StoredVersion());
  ASSERT_EQ(w->seen.size(), 1u);
  EXPECT_EQ(w->seen[0].steps_size(), 3) << "the first message holds every step";
  EXPECT_EQ(w->seen[0].execution().state(), dr::v1::EXECUTION_STATE_RUNNING);
  for (const auto& s : w->seen[0].steps()) EXPECT_EQ(s.state(), dr::v1::STEP_STATE_PENDING);

  run_->Advance();  // the prompt waits
  w->ReadUpTo(StoredVersion());
  ASSERT_EQ(w->seen.size(), 2u);
  EXPECT_EQ(w->seen[1].execution().state(), dr::v1::EXECUTION_STATE_WAITING);
  ASSERT_EQ(w->seen[1].steps_size(), 1) << "only what changed";
  EXPECT_EQ(w->seen[1].steps(0).name(), absl::StrCat(kTestExec, "/steps/db.before.go"));
  EXPECT_EQ(w->seen[1].steps(0).state(), dr::v1::STEP_STATE_WAITING_FOR_ANSWER);

  AnswerGo();
  run_->Advance();  // both commits run
  w->ReadUpTo(StoredVersion());
  run_->OnJob(Completed("jobs/j1"));
  w->ReadUpTo(StoredVersion());
  EXPECT_NE(w->seen.back().execution().state(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  run_->OnJob(Completed("jobs/j2"));
  ASSERT_EQ(store_->GetExecution(kTestExec)->state(), dr::v1::EXECUTION_STATE_SUCCEEDED);

  EXPECT_TRUE(w->Finish().ok()) << "the stream ends OK at the terminal state";
  EXPECT_EQ(w->seen.back().execution().state(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(w->seen.back().execution().version(), StoredVersion());
  const std::map<std::string, dr::v1::ExecutionStep> last = CheckInOrder(w->seen);
  const std::vector<dr::v1::ExecutionStep> stored = *store_->GetExecutionSteps(kTestExec);
  ASSERT_EQ(last.size(), stored.size());
  for (const auto& s : stored) {
    ASSERT_EQ(last.count(s.name()), 1u) << s.name();
    EXPECT_EQ(last.at(s.name()).version(), s.version()) << s.name();
    EXPECT_EQ(last.at(s.name()).state(), dr::v1::STEP_STATE_SUCCEEDED) << s.name();
  }
  // The running steps were seen RUNNING with their jobs before they ended.
  bool saw_running_with_job = false;
  for (const auto& m : w->seen) {
    for (const auto& s : m.steps()) {
      saw_running_with_job |= s.state() == dr::v1::STEP_STATE_RUNNING && !s.job().empty();
    }
  }
  EXPECT_TRUE(saw_running_with_job);
  EXPECT_EQ(WatchersOnceSettled(), 0) << "an ended stream unsubscribes";
}

TEST_F(WatchPlanExecutionTest, AReaderThatFallsBehindHoldsNothingUpAndGetsTheNewestOfEachStep) {
  Serve();
  StartExecution();
  std::unique_ptr<Stream> w = Watch(kTestExec);
  w->ReadUpTo(StoredVersion());  // subscribed: the first message came
  // Nothing is read while the execution runs to its end.
  run_->Advance();
  AnswerGo();
  run_->Advance();
  run_->OnJob(Completed("jobs/j1"));
  run_->OnJob(Completed("jobs/j2"));
  ASSERT_EQ(store_->GetExecution(kTestExec)->state(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_TRUE(w->Finish().ok());
  EXPECT_EQ(w->seen.back().execution().state(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  const std::map<std::string, dr::v1::ExecutionStep> last = CheckInOrder(w->seen);
  const std::vector<dr::v1::ExecutionStep> stored = *store_->GetExecutionSteps(kTestExec);
  for (const auto& s : stored) EXPECT_EQ(last.at(s.name()).version(), s.version()) << s.name();
}

TEST_F(WatchPlanExecutionTest, AnEndedExecutionIsOneMessageThenOk) {
  Serve();
  StartExecution();
  run_->Advance();
  AnswerGo();
  run_->Advance();
  run_->OnJob(Completed("jobs/j1"));
  run_->OnJob(Completed("jobs/j2"));
  std::unique_ptr<Stream> w = Watch(kTestExec);
  EXPECT_TRUE(w->Finish().ok());
  ASSERT_EQ(w->seen.size(), 1u);
  EXPECT_EQ(w->seen[0].execution().state(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(w->seen[0].steps_size(), 3);
}

TEST_F(WatchPlanExecutionTest, AMalformedOrUnknownNameIsRefusedNamingIt) {
  Serve();
  absl::Status bad = Watch("plans/site/jobs/e1")->Finish();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_EQ(ErrorDetailOf(bad).field(), "name");
  absl::Status unknown = Watch("plans/site/executions/nope")->Finish();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_EQ(ErrorDetailOf(unknown).field(), "name");
  EXPECT_EQ(WatchersOnceSettled(), 0);
}

TEST_F(WatchPlanExecutionTest, StreamsPastTheWatchLimitAreRefusedUntilOneEnds) {
  Serve(/*max_watches_per_client=*/1);
  StartExecution();
  std::unique_ptr<Stream> first = Watch(kTestExec);
  first->ReadUpTo(StoredVersion());
  ASSERT_EQ(first->seen.size(), 1u);
  absl::Status refused = Watch(kTestExec)->Finish();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  first->context.TryCancel();
  EXPECT_EQ(first->Finish().code(), absl::StatusCode::kCancelled);
  // Released once the server saw it end (asynchronously: poll).
  absl::Status again = absl::UnknownError("not tried");
  for (int i = 0; i < 600; ++i) {
    std::unique_ptr<Stream> w = Watch(kTestExec);
    w->ReadUpTo(StoredVersion());
    if (!w->seen.empty()) {
      again = absl::OkStatus();
      w->context.TryCancel();
      (void)w->Finish();
      break;
    }
    again = w->Finish();
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(again.ok()) << again;
}

TEST_F(WatchPlanExecutionTest, AServerWithoutAnExecutionHubSaysItIsNotSupported) {
  service_ = std::make_unique<PlanServiceImpl>(logic_.get(), nullptr, &work_);
  grpc::ServerBuilder builder;
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  stub_ = dr::v1::PlanService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  absl::Status s = Watch(kTestExec)->Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
}

}  // namespace
}  // namespace server
}  // namespace hvdr
