// Recovery plans end to end, with real processes: the demo estate
// (deploy/examples' two simulated hosts), the example plan applied with
// drctl, validated for each mode against what the agents report - and
// nothing run.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using ::testing::HasSubstr;

constexpr char kPlanFile[] = "deploy/examples/demo-site.plan.textproto";

struct Result {
  int exit;
  std::string out;
  std::string err;
};

hvdr::sim::v1::Scenario ReadScenario(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  hvdr::sim::v1::Scenario s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &s)) << path;
  return s;
}

class PlansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>("plans");
    auto primary = ReadScenario("deploy/examples/primary-site.textproto");
    auto replica = ReadScenario("deploy/examples/replica-site.textproto");
    // Jobs of the demo's length (seconds, for people to watch) would make
    // each run here take a minute.
    for (hvdr::sim::v1::Scenario* s : {&primary, &replica}) {
      s->set_default_job_duration_ms(400);
      s->clear_durations();
    }
    Tweak(&primary, &replica);
    ASSERT_TRUE(cluster_->StartAgent("hv-prod-1", &primary).ok());
    ASSERT_TRUE(cluster_->StartAgent("hv-dr-1", &replica).ok());
    // Hooks run from here (empty unless a test writes one).
    hooks_dir_ = cluster_->dir() + "/hooks";
    ASSERT_EQ(mkdir(hooks_dir_.c_str(), 0755), 0);
    ASSERT_TRUE(cluster_->StartServer({"--hooks_dir=" + hooks_dir_}).ok());
    ASSERT_TRUE(cluster_->Register("hv-prod-1", "sites/prod").ok());
    ASSERT_TRUE(cluster_->Register("hv-dr-1", "sites/dr").ok());
  }

  // Changes the demo's scenarios before the agents start.
  virtual void Tweak(hvdr::sim::v1::Scenario*, hvdr::sim::v1::Scenario*) {}
  // The demo plan, changed by `edit`, applied with drctl.
  void ApplyPlan(const std::function<void(dr::v1::Plan&)>& edit) {
    std::ifstream in(kPlanFile);
    std::stringstream text;
    text << in.rdbuf();
    dr::v1::Plan plan;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &plan));
    edit(plan);
    std::string out;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(plan, &out));
    const std::string path = cluster_->dir() + "/edited.plan.textproto";
    std::ofstream(path) << out;
    Result applied = Drctl({"plans", "apply", "-f", path});
    ASSERT_EQ(applied.exit, 0) << applied.out << applied.err;
  }
  std::map<std::string, dr::v1::ExecutionStep> StepsById(const std::string& execution) {
    std::map<std::string, dr::v1::ExecutionStep> by_id;
    for (const auto& s : Steps(execution)) by_id[s.name().substr(s.name().rfind('/') + 1)] = s;
    return by_id;
  }
  // The step `id` of `steps`; a test failure when there is none.
  static dr::v1::ExecutionStep At(const std::map<std::string, dr::v1::ExecutionStep>& steps,
                                  const std::string& id) {
    auto it = steps.find(id);
    if (it == steps.end()) {
      ADD_FAILURE() << "no step " << id;
      return {};
    }
    return it->second;
  }
  // How many times each operation ran on `host`'s simulator, by VM GUID.
  std::map<std::pair<std::string, dr::v1::JobType>, int> Ledger(const std::string& host) {
    std::map<std::pair<std::string, dr::v1::JobType>, int> out;
    const hvdr::sim::v1::SimState state = cluster_->AgentState(host);
    for (const auto& op : state.history()) ++out[{op.vm_id(), op.type()}];
    return out;
  }
  // `host`'s simulated VMs by GUID.
  std::map<std::string, hvdr::sim::v1::SimVm> VmsById(const std::string& host) {
    std::map<std::string, hvdr::sim::v1::SimVm> out;
    const hvdr::sim::v1::SimState state = cluster_->AgentState(host);
    for (const auto& vm : state.vms()) out[vm.vm_id()] = vm;
    return out;
  }
  void AnswerFenced(const std::string& execution) {
    WaitFor(execution, dr::v1::EXECUTION_STATE_WAITING);
    Result answered = Drctl({"plans", "answer", execution + "/steps/database.before.storage-fenced",
                             "--comment", "fenced"});
    ASSERT_EQ(answered.exit, 0) << answered.out << answered.err;
  }

  dr::v1::PlanService::Stub* plans() {
    if (plans_ == nullptr) {
      plans_ = dr::v1::PlanService::NewStub(cluster_->ServerChannel("admin"));
    }
    return plans_.get();
  }
  absl::StatusOr<dr::v1::PlanExecution> StartExecution(
      dr::v1::ExecutionMode mode, const std::string& request_id,
      const std::string& plan = "plans/demo-site") {
    grpc::ClientContext context;
    dr::v1::StartPlanExecutionRequest r;
    r.set_plan(plan);
    r.set_mode(mode);
    r.set_request_id(request_id);
    r.set_requester("ci");
    dr::v1::PlanExecution e;
    absl::Status s = FromGrpcStatus(plans()->StartPlanExecution(&context, r, &e), &context);
    if (!s.ok()) return s;
    return e;
  }
  dr::v1::PlanExecution GetExecution(const std::string& name) {
    grpc::ClientContext context;
    dr::v1::GetPlanExecutionRequest r;
    r.set_name(name);
    dr::v1::PlanExecution e;
    EXPECT_TRUE(plans()->GetPlanExecution(&context, r, &e).ok());
    return e;
  }
  // Polls until the execution is in `state` (or 90 s pass).
  dr::v1::PlanExecution WaitFor(const std::string& name, dr::v1::ExecutionState state) {
    dr::v1::PlanExecution e;
    for (int i = 0; i < 900; ++i) {
      e = GetExecution(name);
      if (e.state() == state) return e;
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << name << " never reached " << dr::v1::ExecutionState_Name(state) << ":\n"
                  << e.DebugString();
    return e;
  }
  std::vector<dr::v1::ExecutionStep> Steps(const std::string& name) {
    grpc::ClientContext context;
    dr::v1::ListExecutionStepsRequest r;
    r.set_parent(name);
    r.set_page_size(1000);
    dr::v1::ListExecutionStepsResponse out;
    EXPECT_TRUE(plans()->ListExecutionSteps(&context, r, &out).ok());
    return {out.execution_steps().begin(), out.execution_steps().end()};
  }
  // The VMs of the DR host's simulator, by name.
  std::map<std::string, hvdr::sim::v1::SimVm> DrVms() {
    std::map<std::string, hvdr::sim::v1::SimVm> out;
    const hvdr::sim::v1::SimState state = cluster_->AgentState("hv-dr-1");
    for (const auto& vm : state.vms()) out[vm.name()] = vm;
    return out;
  }

  Result Drctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {hvdr::testing::RunfilePath("cli/drctl"),
                                     "--server=" + cluster_->server_address(), "--requester=ci"};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r;
    r.exit = hvdr::testing::RunCommand(argv, &r.out, &r.err);
    return r;
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<dr::v1::PlanService::Stub> plans_;
  std::string hooks_dir_;
};

TEST_F(PlansTest, TheExamplePlanIsAppliedAndValidatedForEachModeWithNothingRun) {
  Result created = Drctl({"plans", "apply", "-f", kPlanFile});
  ASSERT_EQ(created.exit, 0) << created.err << created.out;
  EXPECT_THAT(created.out, HasSubstr("plans/demo-site version 1 (2 groups) created"));
  EXPECT_THAT(created.out, HasSubstr("4 VMs, sites/prod -> sites/dr"));

  // Both sites are up: a test failover and a planned one can run.
  for (const char* mode : {"test", "planned", "unplanned"}) {
    Result ok = Drctl({"plans", "validate", "demo-site", "--mode", mode});
    EXPECT_EQ(ok.exit, 0) << mode << "\n" << ok.out << ok.err;
    EXPECT_THAT(ok.out, HasSubstr("0 errors")) << mode;
  }
  // Nothing failed over yet: there is nothing to commit, for every VM.
  Result commit = Drctl({"plans", "validate", "demo-site", "--mode", "commit"});
  EXPECT_EQ(commit.exit, 3) << commit.out << commit.err;
  EXPECT_THAT(commit.out, HasSubstr("INVALID_STATE"));
  EXPECT_THAT(commit.out, HasSubstr("4 errors"));

  // Applying the same file again replaces the plan under its etag.
  Result updated = Drctl({"plans", "apply", "-f", kPlanFile});
  ASSERT_EQ(updated.exit, 0) << updated.err;
  EXPECT_THAT(updated.out, HasSubstr("version 2 (2 groups) updated"));

  // The production site is lost: a planned failover cannot run, an
  // unplanned one can.
  cluster_->KillAgent("hv-prod-1");
  Result planned;
  for (int i = 0; i < 100; ++i) {
    planned = Drctl({"plans", "validate", "demo-site", "--mode", "planned"});
    if (planned.exit != 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(planned.exit, 3) << planned.out << planned.err;
  EXPECT_THAT(planned.out, HasSubstr("HOST_UNREACHABLE"));
  EXPECT_THAT(planned.out, HasSubstr("hosts/hv-prod-1"));
  Result unplanned = Drctl({"plans", "validate", "demo-site", "--mode", "unplanned"});
  EXPECT_EQ(unplanned.exit, 0) << unplanned.out << unplanned.err;

  // Nothing was run: no job exists, and the simulator's ledger is empty.
  Result jobs = Drctl({"jobs", "list", "--output", "json"});
  ASSERT_EQ(jobs.exit, 0) << jobs.err;
  EXPECT_THAT(jobs.out, ::testing::Not(HasSubstr("jobs/")));
  EXPECT_EQ(cluster_->AgentState("hv-dr-1").history_size(), 0);
}

TEST_F(PlansTest, ATestFailoverOfTheSiteThenItsCleanupLeaveProductionUntouched) {
  ASSERT_EQ(Drctl({"plans", "apply", "-f", kPlanFile}).exit, 0);
  absl::StatusOr<dr::v1::PlanExecution> test = StartExecution(dr::v1::EXECUTION_MODE_TEST, "t-1");
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->plan_version(), 1);
  EXPECT_EQ(test->plan_hash().size(), 64u);
  // A retry of the start answers the same execution.
  absl::StatusOr<dr::v1::PlanExecution> again = StartExecution(dr::v1::EXECUTION_MODE_TEST, "t-1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->name(), test->name());
  // Watched from here: every step first, then the changes, until it ends.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  dr::v1::WatchPlanExecutionRequest watch;
  watch.set_name(test->name());
  std::unique_ptr<grpc::ClientReader<dr::v1::WatchPlanExecutionResponse>> reader =
      plans()->WatchPlanExecution(&watch_context, watch);
  std::vector<dr::v1::WatchPlanExecutionResponse> seen;
  for (dr::v1::WatchPlanExecutionResponse m; reader->Read(&m);) seen.push_back(m);
  const grpc::Status watched = reader->Finish();
  EXPECT_TRUE(watched.ok()) << watched.error_code() << " " << watched.error_message();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().steps_size(), test->steps_total()) << "the first message: every step";
  EXPECT_EQ(seen.back().execution().state(), dr::v1::EXECUTION_STATE_SUCCEEDED)
      << seen.back().DebugString();
  const dr::v1::PlanExecution done = WaitFor(test->name(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(done.steps_failed(), 0) << done.DebugString();
  // Each VM's test VM runs on the DR host; the replicas still replicate.
  std::map<std::string, hvdr::sim::v1::SimVm> vms = DrVms();
  for (const char* name : {"sql-01", "web-01", "web-02", "app-01"}) {
    ASSERT_EQ(vms.count(absl::StrCat(name, " - Test")), 1u) << name;
    EXPECT_EQ(vms[absl::StrCat(name, " - Test")].enabled(), dr::v1::ENABLED_STATE_ENABLED) << name;
    EXPECT_EQ(vms[name].state(), dr::v1::REPLICATION_STATE_REPLICATING) << name;
  }
  // Steps ran in order: web-01's test failover began after app-01 was ready.
  std::map<std::string, dr::v1::ExecutionStep> by_id;
  for (const auto& s : Steps(test->name())) by_id[s.name().substr(s.name().rfind('/') + 1)] = s;
  const auto& app_ready = by_id["apps.5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C04.readiness"];
  const auto& web_test = by_id["apps.5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C02.test-failover"];
  EXPECT_LE(FromProto(app_ready.end_time()), FromProto(web_test.start_time()));
  EXPECT_EQ(by_id.count("database.before.storage-fenced"), 0u)
      << "a PLANNED/UNPLANNED-only prompt is not a step of a test";
  // Its report: every VM tested, from known data (TEST_FAILOVER records
  // its data time too).
  Result report = Drctl({"plans", "report", test->name(), "--format", "json"});
  ASSERT_EQ(report.exit, 0) << report.err;
  const nlohmann::json j = nlohmann::json::parse(report.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << report.out;
  EXPECT_EQ(j["mode"], "test");
  ASSERT_EQ(j["vms"].size(), 4u) << report.out;
  for (const auto& vm : j["vms"]) {
    EXPECT_EQ(vm["result"], "succeeded") << vm.dump();
    EXPECT_TRUE(vm["rpo_seconds"].is_number()) << vm.dump();
    EXPECT_TRUE(vm["rto_seconds"].is_number()) << vm.dump();
  }

  absl::StatusOr<dr::v1::PlanExecution> cleanup =
      StartExecution(dr::v1::EXECUTION_MODE_CLEANUP_TEST, "c-1");
  ASSERT_TRUE(cleanup.ok()) << cleanup.status();
  WaitFor(cleanup->name(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  vms = DrVms();
  for (const char* name : {"sql-01", "web-01", "web-02", "app-01"}) {
    EXPECT_EQ(vms.count(absl::StrCat(name, " - Test")), 0u) << name;
  }
}

// The second example plan: tier by tier, one operation per host at a
// time, a recovery point no older than 10 minutes, a spare left off.
TEST_F(PlansTest, TheTieredExamplePlanFailsTheSiteOverTierByTierOneOperationAtATime) {
  Result created = Drctl({"plans", "apply", "-f", "deploy/examples/demo-tiers.plan.textproto"});
  ASSERT_EQ(created.exit, 0) << created.err << created.out;
  EXPECT_THAT(created.out, HasSubstr("plans/demo-tiers version 1 (3 groups) created"));
  for (const char* mode : {"test", "planned", "unplanned"}) {
    Result ok = Drctl({"plans", "validate", "demo-tiers", "--mode", mode});
    EXPECT_EQ(ok.exit, 0) << mode << "\n" << ok.out << ok.err;
    EXPECT_THAT(ok.out, HasSubstr("0 errors")) << mode;
  }
  cluster_->KillAgent("hv-prod-1");  // the production site is lost
  absl::StatusOr<dr::v1::PlanExecution> run =
      StartExecution(dr::v1::EXECUTION_MODE_UNPLANNED, "tiers-1", "plans/demo-tiers");
  ASSERT_TRUE(run.ok()) << run.status();
  WaitFor(run->name(), dr::v1::EXECUTION_STATE_WAITING);
  Result answered = Drctl(
      {"plans", "answer", run->name() + "/steps/data.after.dba-check", "--comment", "sql ok"});
  ASSERT_EQ(answered.exit, 0) << answered.out << answered.err;
  const dr::v1::PlanExecution done = WaitFor(run->name(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(done.steps_failed(), 0) << done.DebugString();

  // Every VM failed over on the DR host; the spare is left off.
  std::map<std::string, hvdr::sim::v1::SimVm> vms = DrVms();
  for (const char* name : {"sql-01", "app-01", "web-01", "web-02"}) {
    EXPECT_EQ(vms[name].state(), dr::v1::REPLICATION_STATE_RECOVERED) << name;
  }
  for (const char* name : {"sql-01", "app-01", "web-01"}) {
    EXPECT_EQ(vms[name].enabled(), dr::v1::ENABLED_STATE_ENABLED) << name;
  }
  EXPECT_EQ(vms["web-02"].enabled(), dr::v1::ENABLED_STATE_DISABLED);
  const auto ledger = Ledger("hv-dr-1");
  EXPECT_EQ(ledger.count(
                {"5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C03", dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE}),
            0u)
      << "the spare is never started";

  // Tier after tier, and never two Hyper-V operations at once on the host.
  const std::vector<dr::v1::ExecutionStep> steps = Steps(run->name());
  std::map<std::string, std::pair<absl::Time, absl::Time>> tier;  // group -> first start, last end
  std::vector<std::pair<absl::Time, absl::Time>> operations;
  for (const auto& st : steps) {
    if (st.kind() == dr::v1::STEP_KIND_FAILOVER || st.kind() == dr::v1::STEP_KIND_START) {
      operations.push_back({FromProto(st.start_time()), FromProto(st.end_time())});
    }
    if (st.vm_id().empty()) continue;
    auto [it, first] =
        tier.try_emplace(st.group(), FromProto(st.start_time()), FromProto(st.end_time()));
    if (!first) {
      it->second.first = std::min(it->second.first, FromProto(st.start_time()));
      it->second.second = std::max(it->second.second, FromProto(st.end_time()));
    }
  }
  ASSERT_EQ(tier.size(), 3u);
  EXPECT_LE(tier["data"].second, tier["app"].first);
  EXPECT_LE(tier["app"].second, tier["web"].first);
  ASSERT_EQ(operations.size(), 7u);  // 4 failovers, 3 starts
  std::sort(operations.begin(), operations.end());
  for (size_t i = 1; i < operations.size(); ++i) {
    EXPECT_LE(operations[i - 1].second, operations[i].first) << "operations " << i - 1 << ", " << i;
  }
  // The report: sql-01 from data no older than the plan allows.
  Result report = Drctl({"plans", "report", run->name(), "--format", "json"});
  ASSERT_EQ(report.exit, 0) << report.err;
  const nlohmann::json j = nlohmann::json::parse(report.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << report.out;
  ASSERT_EQ(j["vms"].size(), 4u) << report.out;
  for (const auto& vm : j["vms"]) {
    EXPECT_EQ(vm["result"], "succeeded") << vm.dump();
    ASSERT_TRUE(vm["rpo_seconds"].is_number()) << vm.dump();
    EXPECT_LE(vm["rpo_seconds"].get<double>(), 600) << vm.dump();
  }
}

TEST_F(PlansTest, AnUnplannedFailoverWithDrctlWaitsForItsPromptThenCommits) {
  ASSERT_EQ(Drctl({"plans", "apply", "-f", kPlanFile}).exit, 0);
  // The production site is lost.
  cluster_->KillAgent("hv-prod-1");
  Result started = Drctl(
      {"plans", "run", "demo-site", "--mode", "unplanned", "--request-id", "dr-1", "--no-wait"});
  ASSERT_EQ(started.exit, 0) << started.out << started.err;
  const std::string execution = started.out.substr(0, started.out.find(':'));
  ASSERT_THAT(execution, HasSubstr("plans/demo-site/executions/"));
  WaitFor(execution, dr::v1::EXECUTION_STATE_WAITING);
  EXPECT_TRUE(cluster_->AgentState("hv-dr-1").history().empty()) << "nothing before the answer";
  Result answered = Drctl({"plans", "answer", execution + "/steps/database.before.storage-fenced",
                           "--comment", "fenced by the storage team"});
  ASSERT_EQ(answered.exit, 0) << answered.out << answered.err;
  // Following it again with the same request_id follows the same execution.
  Result followed = Drctl({"plans", "run", "demo-site", "--mode", "unplanned", "--request-id",
                           "dr-1", "--wait-timeout", "120"});
  EXPECT_EQ(followed.exit, 0) << followed.out << followed.err;
  EXPECT_THAT(followed.out, HasSubstr(execution + ": succeeded"));
  EXPECT_THAT(followed.out, HasSubstr("database.5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01.set-network"));
  std::map<std::string, hvdr::sim::v1::SimVm> vms = DrVms();
  for (const char* name : {"sql-01", "web-01", "web-02", "app-01"}) {
    EXPECT_EQ(vms[name].state(), dr::v1::REPLICATION_STATE_RECOVERED) << name;
    EXPECT_EQ(vms[name].enabled(), dr::v1::ENABLED_STATE_ENABLED) << name;
  }
  // sql-01 came back from its latest application-consistent point.
  bool app_consistent = false;
  const hvdr::sim::v1::SimState dr_state = cluster_->AgentState("hv-dr-1");
  for (const auto& op : dr_state.history()) {
    if (op.type() == dr::v1::JOB_TYPE_INITIATE_FAILOVER &&
        op.vm_id() == "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01") {
      app_consistent = op.recovery_point_id() == "sql-01-rp-2h";
    }
  }
  EXPECT_TRUE(app_consistent) << "RECOVERY_POINT_POLICY_LATEST_APPLICATION_CONSISTENT";

  // The report: every VM of the plan, with the recovery point it came back
  // from and an RPO from the simulator's times (the point's creation, or
  // the replica's last replication for the latest).
  Result report = Drctl({"plans", "report", execution, "--format", "json"});
  ASSERT_EQ(report.exit, 0) << report.err;
  const nlohmann::json j = nlohmann::json::parse(report.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << report.out;
  EXPECT_EQ(j["execution"], execution);
  EXPECT_EQ(j["mode"], "unplanned");
  EXPECT_EQ(j["state"], "succeeded");
  EXPECT_EQ(j["requester"], "ci");
  EXPECT_EQ(j["plan_hash"].get<std::string>().size(), 64u);
  ASSERT_EQ(j["prompts"].size(), 1u);
  EXPECT_EQ(j["prompts"][0]["answered_by"], "ci");
  EXPECT_EQ(j["prompts"][0]["answer_comment"], "fenced by the storage team");
  std::map<std::string, absl::Time> failover_start;
  for (const auto& s : Steps(execution)) {
    if (s.kind() == dr::v1::STEP_KIND_FAILOVER)
      failover_start[s.vm_id()] = FromProto(s.start_time());
  }
  const std::map<std::string, hvdr::sim::v1::SimVm> sim = DrVms();
  std::map<std::string, nlohmann::json> reported;
  for (const auto& vm : j["vms"]) reported[vm["display_name"].get<std::string>()] = vm;
  for (const char* name : {"sql-01", "web-01", "web-02", "app-01"}) {
    ASSERT_EQ(reported.count(name), 1u) << name << "\n" << report.out;
    const nlohmann::json& vm = reported[name];
    const hvdr::sim::v1::SimVm& simvm = sim.at(name);
    EXPECT_EQ(vm["vm_id"], simvm.vm_id()) << name;
    EXPECT_EQ(vm["result"], "succeeded") << name;
    EXPECT_TRUE(vm["rto_seconds"].is_number()) << name;
    int64_t data_us = simvm.last_replication_us();
    if (std::string(name) == "sql-01") {
      EXPECT_THAT(vm["recovery_point"].get<std::string>(), ::testing::EndsWith("sql-01-rp-2h"));
      data_us = 0;
      for (const auto& rp : simvm.recovery_points()) {
        if (rp.id() == "sql-01-rp-2h") data_us = rp.create_us();
      }
    } else {
      EXPECT_EQ(vm["recovery_point"], "latest") << name;
    }
    ASSERT_NE(data_us, 0) << name;
    ASSERT_TRUE(vm["rpo_seconds"].is_number()) << name << "\n" << report.out;
    ASSERT_EQ(failover_start.count(simvm.vm_id()), 1u) << name;
    const double want =
        absl::ToDoubleSeconds(failover_start[simvm.vm_id()] - absl::FromUnixMicros(data_us));
    EXPECT_NEAR(vm["rpo_seconds"].get<double>(), want, 0.001) << name;
    EXPECT_GE(want, std::string(name) == "sql-01" ? 7200 : 95) << name;
  }
  // The page to attach to an audit names every VM, escaped.
  const std::string page = cluster_->dir() + "/report.html";
  Result html = Drctl({"plans", "report", execution, "--format", "html", "-o", page});
  ASSERT_EQ(html.exit, 0) << html.err;
  std::ifstream in(page);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str().rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_THAT(got.str(), ::testing::Not(HasSubstr("<script")));
  for (const char* name : {"sql-01", "web-01", "web-02", "app-01"}) {
    EXPECT_THAT(got.str(), HasSubstr(absl::StrCat("<td>", name, "</td>"))) << name;
  }
  Result text = Drctl({"plans", "report", execution});
  EXPECT_EQ(text.exit, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("proceed by ci"));

  Result committed =
      Drctl({"plans", "run", "demo-site", "--mode", "commit", "--wait-timeout", "60"});
  EXPECT_EQ(committed.exit, 0) << committed.out << committed.err;
  vms = DrVms();
  for (const char* name : {"sql-01", "web-01", "web-02", "app-01"}) {
    EXPECT_EQ(vms[name].state(), dr::v1::REPLICATION_STATE_COMMITTED) << name;
  }
}

TEST_F(PlansTest, AGroupsBeforeHookRunsOnceFromTheHooksDirWithItsEnvironmentRecorded) {
  // The hook appends its HVDR_* environment to the file its argument names
  // (in its working directory, the hooks directory).
  const std::string script = hooks_dir_ + "/record-env.sh";
  std::ofstream(script) << "#!/bin/sh\nenv | grep '^HVDR_' | sort >> \"$1\"\n"
                           "echo \"recorded for $HVDR_GROUP\"\n";
  ASSERT_EQ(chmod(script.c_str(), 0755), 0);
  std::ifstream in(kPlanFile);
  std::stringstream text;
  text << in.rdbuf();
  dr::v1::Plan plan;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &plan));
  dr::v1::PlanStep* hook = plan.mutable_groups(0)->add_before();
  hook->set_id("record");
  hook->mutable_hook()->set_executable("record-env.sh");
  hook->mutable_hook()->add_args("hook-env.txt");
  hook->set_timeout_seconds(60);
  std::string plan_text;
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(plan, &plan_text));
  const std::string plan_file = cluster_->dir() + "/hooked.plan.textproto";
  std::ofstream(plan_file) << plan_text;
  Result applied = Drctl({"plans", "apply", "-f", plan_file});
  ASSERT_EQ(applied.exit, 0) << applied.out << applied.err;

  absl::StatusOr<dr::v1::PlanExecution> test = StartExecution(dr::v1::EXECUTION_MODE_TEST, "h-1");
  ASSERT_TRUE(test.ok()) << test.status();
  const dr::v1::PlanExecution done = WaitFor(test->name(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(done.steps_failed(), 0) << done.DebugString();
  const std::string step = test->name() + "/steps/database.before.record";
  EXPECT_EQ(hvdr::testing::ReadFile(hooks_dir_ + "/hook-env.txt"),
            absl::StrCat("HVDR_ATTEMPT=1\nHVDR_EXECUTION=", test->name(),
                         "\nHVDR_GROUP=database\nHVDR_MODE=TEST\nHVDR_PLAN=plans/demo-site\n"
                         "HVDR_STEP=",
                         step, "\nHVDR_VM=\n"))
      << "run once, with the execution's names";
  std::map<std::string, dr::v1::ExecutionStep> by_id;
  for (const auto& s : Steps(test->name())) by_id[s.name().substr(s.name().rfind('/') + 1)] = s;
  ASSERT_EQ(by_id.count("database.before.record"), 1u);
  const dr::v1::ExecutionStep& recorded = by_id["database.before.record"];
  EXPECT_EQ(recorded.state(), dr::v1::STEP_STATE_SUCCEEDED) << recorded.DebugString();
  EXPECT_EQ(recorded.kind(), dr::v1::STEP_KIND_HOOK);
  EXPECT_EQ(recorded.exit_status(), 0);
  EXPECT_EQ(recorded.output(), "recorded for database\n");
  EXPECT_EQ(recorded.return_code(), dr::v1::RETURN_CODE_COMPLETED);
  // The group's VMs started after it.
  const auto& sql_test = by_id["database.5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01.test-failover"];
  EXPECT_LE(FromProto(recorded.end_time()), FromProto(sql_test.start_time()));
}

TEST_F(PlansTest, ABadPlanFileIsRefusedNamingTheLineOrTheField) {
  const std::string dir = cluster_->dir();
  const std::string cycle = dir + "/cycle.plan.textproto";
  std::ofstream(cycle) << R"(name: "plans/cycle"
source_site: "sites/prod"
target_site: "sites/dr"
groups {
  id: "g"
  vms { vm_id: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01" depends_on: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C02" }
  vms { vm_id: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C02" depends_on: "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01" }
}
)";
  Result r = Drctl({"plans", "apply", "-f", cycle});
  EXPECT_EQ(r.exit, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("plan.groups[0].vms[1].depends_on"));
  EXPECT_THAT(r.err, HasSubstr("cycle"));
  const std::string typo = dir + "/typo.plan.textproto";
  std::ofstream(typo) << "name: \"plans/typo\"\ngroups {\n  vm { vm_id: \"x\" }\n}\n";
  r = Drctl({"plans", "apply", "-f", typo});
  EXPECT_EQ(r.exit, 3);
  EXPECT_THAT(r.err, HasSubstr("typo.plan.textproto:3:"));
  Result list = Drctl({"plans", "list"});
  EXPECT_THAT(list.out, HasSubstr("no plans"));
}

constexpr const char* kDemoVms[] = {
    "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01", "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C02",
    "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C03", "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C04"};

// PLANNED, both sites up: each primary is shut down and prepared (its
// pending changes sent) before its replica fails over to the latest point,
// starts, answers its heartbeat and reverses replication: each operation
// once, on the right host.
TEST_F(PlansTest, APlannedFailoverPreparesEachPrimaryAndEndsWithReverseReplication) {
  ASSERT_EQ(Drctl({"plans", "apply", "-f", kPlanFile}).exit, 0);
  absl::StatusOr<dr::v1::PlanExecution> planned =
      StartExecution(dr::v1::EXECUTION_MODE_PLANNED, "planned-1");
  ASSERT_TRUE(planned.ok()) << planned.status();
  AnswerFenced(planned->name());
  const dr::v1::PlanExecution done = WaitFor(planned->name(), dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(done.steps_failed(), 0) << done.DebugString();

  std::map<std::string, hvdr::sim::v1::SimVm> dr_vms = VmsById("hv-dr-1");
  std::map<std::string, hvdr::sim::v1::SimVm> prod_vms = VmsById("hv-prod-1");
  auto prod = Ledger("hv-prod-1");
  auto dr = Ledger("hv-dr-1");
  const auto steps = StepsById(planned->name());
  for (const char* id : kDemoVms) {
    EXPECT_EQ(prod_vms[id].enabled(), dr::v1::ENABLED_STATE_DISABLED) << id;
    EXPECT_EQ(prod_vms[id].state(), dr::v1::REPLICATION_STATE_SYNCED_REPLICATION_COMPLETE) << id;
    EXPECT_EQ((prod[{id, dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE}]), 1) << id;
    EXPECT_LE((prod[{id, dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE}]), 1) << id;
    EXPECT_EQ((dr[{id, dr::v1::JOB_TYPE_INITIATE_FAILOVER}]), 1) << id;
    EXPECT_EQ((dr[{id, dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE}]), 1) << id;
    EXPECT_EQ((dr[{id, dr::v1::JOB_TYPE_REVERSE_REPLICATION}]), 1) << id;
    // The former replica is the primary now, running, replicating back.
    EXPECT_EQ(dr_vms[id].mode(), dr::v1::REPLICATION_MODE_PRIMARY) << id;
    EXPECT_EQ(dr_vms[id].state(), dr::v1::REPLICATION_STATE_REPLICATING) << id;
    EXPECT_EQ(dr_vms[id].enabled(), dr::v1::ENABLED_STATE_ENABLED) << id;
    EXPECT_TRUE(dr_vms[id].failed_over_to().empty()) << "a planned failover takes the latest";
    // Prepared before the failover; reversed last.
    const std::string group = std::string(id) == kDemoVms[0] ? "database." : "apps.";
    const auto prepare = At(steps, group + id + ".prepare");
    const auto failover = At(steps, group + id + ".failover");
    const auto reverse = At(steps, group + id + ".reverse");
    EXPECT_EQ(prepare.host(), "hosts/hv-prod-1");
    EXPECT_EQ(failover.host(), "hosts/hv-dr-1");
    EXPECT_LE(FromProto(prepare.end_time()), FromProto(failover.start_time())) << id;
    EXPECT_EQ(reverse.state(), dr::v1::STEP_STATE_SUCCEEDED) << id;
    EXPECT_LE(FromProto(At(steps, group + id + ".readiness").end_time()),
              FromProto(reverse.start_time()))
        << id;
  }
  EXPECT_FALSE(dr_vms[kDemoVms[0]].failover_network().empty()) << "sql-01 was re-IPed";
}

// An UNPLANNED failover with a revert policy: once the site is up and
// its time is up, every VM is reverted - nothing done by hand.
TEST_F(PlansTest, AnUnplannedFailoverWithARevertPolicyRevertsEachVmWhenItsTimeIsUp) {
  ASSERT_EQ(Drctl({"plans", "apply", "-f", kPlanFile}).exit, 0);
  cluster_->KillAgent("hv-prod-1");
  Result refused =
      Drctl({"plans", "run", "demo-site", "--mode", "test", "--revert-after", "2", "--no-wait"});
  EXPECT_NE(refused.exit, 0);
  EXPECT_THAT(refused.err, HasSubstr("commit_policy"));
  Result started = Drctl({"plans", "run", "demo-site", "--mode", "unplanned", "--revert-after", "2",
                          "--request-id", "unplanned-revert", "--no-wait"});
  ASSERT_EQ(started.exit, 0) << started.out << started.err;
  const std::string execution = started.out.substr(0, started.out.find(':'));
  AnswerFenced(execution);
  const dr::v1::PlanExecution done = WaitFor(execution, dr::v1::EXECUTION_STATE_SUCCEEDED);
  EXPECT_EQ(done.commit_policy().action(), dr::v1::CommitPolicy::ACTION_REVERT);
  const auto steps = StepsById(execution);
  const auto wait = At(steps, "commit-policy.wait");
  EXPECT_GE(FromProto(wait.end_time()) - FromProto(wait.start_time()), absl::Seconds(2));
  auto dr = Ledger("hv-dr-1");
  std::map<std::string, hvdr::sim::v1::SimVm> dr_vms = VmsById("hv-dr-1");
  for (const char* id : kDemoVms) {
    EXPECT_EQ((dr[{id, dr::v1::JOB_TYPE_INITIATE_FAILOVER}]), 1) << id;
    EXPECT_EQ((dr[{id, dr::v1::JOB_TYPE_REVERT_FAILOVER}]), 1) << id;
    EXPECT_EQ(dr_vms[id].state(), dr::v1::REPLICATION_STATE_REPLICATING) << id;
    const std::string group = std::string(id) == kDemoVms[0] ? "database." : "apps.";
    EXPECT_LE(FromProto(wait.end_time()),
              FromProto(At(steps, group + id + ".revert").start_time()));
  }
}

// Guests that take time to boot: readiness waits for each heartbeat; a
// guest that never answers fails its (non-critical) VM at its timeout and
// the execution ends with warnings.
class SlowGuestsTest : public PlansTest {
 protected:
  void Tweak(hvdr::sim::v1::Scenario*, hvdr::sim::v1::Scenario* replica) override {
    replica->set_default_boot_ms(2000);
    hvdr::sim::v1::Fault* f = replica->add_faults();
    f->set_vm_id(kDemoVms[2]);  // web-02
    f->set_never_ready(true);
  }
};

TEST_F(SlowGuestsTest, ReadinessWaitsForTheHeartbeatAndAGuestThatNeverAnswersFailsItsVm) {
  ApplyPlan([](dr::v1::Plan& plan) {
    for (auto& vm : *plan.mutable_groups(1)->mutable_vms()) {
      if (vm.vm_id() == kDemoVms[2]) vm.set_ready_timeout_seconds(4);
    }
  });
  absl::StatusOr<dr::v1::PlanExecution> test =
      StartExecution(dr::v1::EXECUTION_MODE_TEST, "slow-1");
  ASSERT_TRUE(test.ok()) << test.status();
  const dr::v1::PlanExecution done =
      WaitFor(test->name(), dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS);
  const auto steps = StepsById(test->name());
  const auto never = At(steps, absl::StrCat("apps.", kDemoVms[2], ".readiness"));
  EXPECT_EQ(never.state(), dr::v1::STEP_STATE_FAILED);
  EXPECT_EQ(never.return_code(), dr::v1::RETURN_CODE_TIMEOUT);
  EXPECT_THAT(never.error(), HasSubstr("HEARTBEAT_STATUS_NO_CONTACT"));
  for (const char* id : {kDemoVms[0], kDemoVms[1], kDemoVms[3]}) {
    const std::string group = std::string(id) == kDemoVms[0] ? "database." : "apps.";
    const auto ready = At(steps, group + id + ".readiness");
    const auto start = At(steps, group + id + ".start");
    EXPECT_EQ(ready.state(), dr::v1::STEP_STATE_SUCCEEDED) << id;
    EXPECT_THAT(ready.error(), HasSubstr("HEARTBEAT_STATUS_OK")) << id;
    // The guest boots for 2 s after its start job ends on the host; drserver
    // records that end up to a poll or two later, so at least 1 s is left.
    EXPECT_GE(FromProto(ready.end_time()) - FromProto(start.end_time()), absl::Seconds(1)) << id;
  }
}

}  // namespace
}  // namespace hvdr
