// drserver is SIGKILLed 20 times at random moments while it runs an
// unplanned failover plan of 100 VMs (each kill while the execution still
// runs), and restarted on the same database each time. The execution
// resumes after every restart and succeeds; the simulated Hyper-V ran each
// VM's failover and start exactly once (its ledger); every VM is failed
// over and running; PRAGMA integrity_check is ok. Then the same for the
// agents: both hosts' agents SIGKILLed 20 times at random during a planned
// failover of 100 VMs (both sites run steps, each kill while it runs),
// each restarted at once: every operation once, the execution succeeds.
#include <map>
#include <random>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;

constexpr int kTestVms = 100;
constexpr int kTestKills = 20;
// How long each simulated job takes. drserver kills come 20-250 ms apart
// (plus the restart), agent kills 30-250 ms: with these durations all 20
// come in the first half of the execution, so each one interrupts it
// (jobs of 150 ms with drserver kills 50-700 ms apart had ended the
// unplanned plan after about 10 kills). Agent kills slow a plan down more
// (its jobs wait out the dispatcher's backoff): 150 ms jobs suffice there.
constexpr int kTestServerKillJobMs = 250;
constexpr int kTestAgentKillJobMs = 150;

std::unique_ptr<dr::v1::PlanService::Stub> Plans(Cluster& cluster) {
  return dr::v1::PlanService::NewStub(cluster.ServerChannel("admin"));
}

// Creates plans/site: kTestVms VMs in 4 groups.
void CreateSitePlan(Cluster& cluster) {
  dr::v1::CreatePlanRequest create;
  dr::v1::Plan* plan = create.mutable_plan();
  plan->set_name("plans/site");
  plan->set_source_site("sites/prod");
  plan->set_target_site("sites/dr");
  plan->mutable_limits()->set_max_operations_per_host(8);
  for (int g = 0; g < 4; ++g) {
    auto* group = plan->add_groups();
    group->set_id(absl::StrCat("g", g));
    for (int i = g * kTestVms / 4; i < (g + 1) * kTestVms / 4; ++i) {
      group->add_vms()->set_vm_id(VmGuid(i));
    }
  }
  create.set_request_id("create");
  grpc::ClientContext c;
  dr::v1::Plan out;
  grpc::Status s = Plans(cluster)->CreatePlan(&c, create, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

// Starts both sites' agents (kTestVms VMs each, jobs taking `job_ms`) and
// drserver, registers them, creates plans/site and starts it in `mode`:
// `start` is the request (to retry it), `execution` what it answered.
void StartSitePlan(Cluster& cluster, dr::v1::ExecutionMode mode, int job_ms,
                   const std::string& request_id, dr::v1::StartPlanExecutionRequest* start,
                   dr::v1::PlanExecution* execution) {
  auto primary = hvdr::testing::PrimaryScenario("hv-prod-1", kTestVms, job_ms);
  auto replica = hvdr::testing::ReplicaScenario("hv-dr-1", kTestVms, job_ms);
  ASSERT_TRUE(cluster.StartAgent("hv-prod-1", &primary).ok());
  ASSERT_TRUE(cluster.StartAgent("hv-dr-1", &replica).ok());
  ASSERT_TRUE(cluster.StartServer().ok());
  ASSERT_TRUE(cluster.Register("hv-prod-1", "sites/prod").ok());
  ASSERT_TRUE(cluster.Register("hv-dr-1", "sites/dr").ok());
  ASSERT_NO_FATAL_FAILURE(CreateSitePlan(cluster));
  start->set_plan("plans/site");
  start->set_mode(mode);
  start->set_request_id(request_id);
  start->set_requester("ci");
  grpc::ClientContext c;
  grpc::Status s = Plans(cluster)->StartPlanExecution(&c, *start, execution);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

// The execution's report is complete: every VM of the plan, succeeded,
// with its RTO; every step with its start and end.
void ExpectCompleteReport(Cluster& cluster, const std::string& name, int steps) {
  grpc::ClientContext c;
  dr::v1::GetExecutionReportRequest r;
  r.set_name(name);
  dr::v1::ExecutionReport report;
  grpc::Status s = Plans(cluster)->GetExecutionReport(&c, r, &report);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(report.vms_size(), kTestVms);
  for (const auto& vm : report.vms()) {
    EXPECT_EQ(vm.result(), dr::v1::STEP_STATE_SUCCEEDED) << vm.vm_id();
    EXPECT_TRUE(vm.has_rto_seconds()) << vm.vm_id();
  }
  ASSERT_EQ(report.steps_size(), steps);
  for (const auto& step : report.steps()) {
    EXPECT_TRUE(step.has_start_time() && step.has_end_time()) << step.name();
  }
}

// Every step of the execution that did not succeed, with its error: what a
// failed assertion on the execution's result prints.
std::string StepsNotSucceeded(Cluster& cluster, const std::string& name) {
  grpc::ClientContext c;
  dr::v1::GetExecutionReportRequest r;
  r.set_name(name);
  dr::v1::ExecutionReport report;
  grpc::Status s = Plans(cluster)->GetExecutionReport(&c, r, &report);
  if (!s.ok()) return absl::StrCat("(no report: ", s.error_message(), ")");
  std::string out;
  for (const auto& step : report.steps()) {
    if (step.state() == dr::v1::STEP_STATE_SUCCEEDED) continue;
    absl::StrAppend(&out, "\n", step.DebugString());
  }
  return out;
}

// The execution's state now; UNSPECIFIED when drserver does not answer.
dr::v1::ExecutionState StateOf(Cluster& cluster, const std::string& name) {
  grpc::ClientContext c;
  dr::v1::GetPlanExecutionRequest get;
  get.set_name(name);
  dr::v1::PlanExecution now;
  if (!Plans(cluster)->GetPlanExecution(&c, get, &now).ok()) {
    return dr::v1::EXECUTION_STATE_UNSPECIFIED;
  }
  return now.state();
}

// Polls until the execution is terminal (or 2 minutes pass).
dr::v1::PlanExecution WaitForEnd(Cluster& cluster, const std::string& name) {
  dr::v1::PlanExecution last;
  for (int i = 0; i < 1200; ++i) {
    grpc::ClientContext c;
    dr::v1::GetPlanExecutionRequest get;
    get.set_name(name);
    if (Plans(cluster)->GetPlanExecution(&c, get, &last).ok() &&
        last.state() >= dr::v1::EXECUTION_STATE_SUCCEEDED &&
        last.state() != dr::v1::EXECUTION_STATE_CANCELLING) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return last;
}

TEST(PlanCrashTest, AnExecutionSurvivesSigkillsOfDrserverAndRunsEveryStepExactlyOnce) {
  Cluster cluster("plan-crash");
  dr::v1::StartPlanExecutionRequest start;
  dr::v1::PlanExecution execution;
  ASSERT_NO_FATAL_FAILURE(StartSitePlan(cluster, dr::v1::EXECUTION_MODE_UNPLANNED,
                                        kTestServerKillJobMs, "run", &start, &execution));
  EXPECT_EQ(execution.steps_total(), kTestVms * 3);

  std::mt19937 rng(7);
  for (int k = 0; k < kTestKills; ++k) {
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(20, 250)(rng)));
    // Every kill interrupts the execution, none comes after its end.
    ASSERT_EQ(StateOf(cluster, execution.name()), dr::v1::EXECUTION_STATE_RUNNING)
        << "before kill " << k + 1 << " of " << kTestKills;
    cluster.KillServer(SIGKILL);
    ASSERT_TRUE(cluster.StartServer().ok()) << "restart " << k;
    // A retry of the start after the crash answers the same execution.
    grpc::ClientContext c;
    dr::v1::PlanExecution again;
    ASSERT_TRUE(Plans(cluster)->StartPlanExecution(&c, start, &again).ok());
    EXPECT_EQ(again.name(), execution.name());
  }
  const dr::v1::PlanExecution last = WaitForEnd(cluster, execution.name());
  ASSERT_EQ(last.state(), dr::v1::EXECUTION_STATE_SUCCEEDED)
      << last.DebugString() << StepsNotSucceeded(cluster, execution.name());
  EXPECT_EQ(last.steps_succeeded(), kTestVms * 3);
  ExpectCompleteReport(cluster, execution.name(), kTestVms * 3);
  cluster.ExpectEveryCallAudited();  // answered before a kill: audited
  cluster.KillServer(SIGKILL);

  // The ledger: every failover and every start ran once.
  const auto state = cluster.AgentState("hv-dr-1");
  std::map<std::string, std::map<int, int>> ran;  // VM -> job type -> times
  for (const auto& op : state.history()) ++ran[op.vm_id()][op.type()];
  EXPECT_EQ(state.history_dropped(), 0);
  for (int i = 0; i < kTestVms; ++i) {
    EXPECT_EQ(ran[VmGuid(i)][dr::v1::JOB_TYPE_INITIATE_FAILOVER], 1) << "VM " << i;
    EXPECT_EQ(ran[VmGuid(i)][dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE], 1) << "VM " << i;
    EXPECT_EQ(state.vms(i).state(), dr::v1::REPLICATION_STATE_RECOVERED) << "VM " << i;
    EXPECT_EQ(state.vms(i).enabled(), dr::v1::ENABLED_STATE_ENABLED) << "VM " << i;
  }
  // Nothing ran on the production site (an unplanned failover skips it).
  EXPECT_EQ(cluster.AgentState("hv-prod-1").history_size(), 0);
  auto store = SqliteStore::Open(cluster.dir() + "/drserver.db", {});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  EXPECT_TRUE((*store)->ListActiveExecutions()->empty());
  EXPECT_TRUE((*store)->ListActiveJobs()->empty());
}

TEST(PlanCrashTest, APlannedFailoverSurvivesSigkillsOfBothAgentsAndRunsEveryStepExactlyOnce) {
  Cluster cluster("plan-agent-crash");
  dr::v1::StartPlanExecutionRequest start;
  dr::v1::PlanExecution execution;
  ASSERT_NO_FATAL_FAILURE(StartSitePlan(cluster, dr::v1::EXECUTION_MODE_PLANNED,
                                        kTestAgentKillJobMs, "planned", &start, &execution));
  // Stop and prepare on production; failover, start, readiness and reverse
  // on the DR site.
  EXPECT_EQ(execution.steps_total(), kTestVms * 6);

  std::mt19937 rng(11);
  for (int k = 0; k < kTestKills; ++k) {
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(30, 250)(rng)));
    // Every kill interrupts the execution, none comes after its end.
    ASSERT_EQ(StateOf(cluster, execution.name()), dr::v1::EXECUTION_STATE_RUNNING)
        << "before kill " << k + 1 << " of " << kTestKills << ": "
        << StepsNotSucceeded(cluster, execution.name());
    const char* host = std::uniform_int_distribution<int>(0, 1)(rng) == 0 ? "hv-prod-1" : "hv-dr-1";
    cluster.KillAgent(host, SIGKILL);
    ASSERT_TRUE(cluster.StartAgent(host, nullptr).ok()) << "restart " << k << " of " << host;
  }
  const dr::v1::PlanExecution last = WaitForEnd(cluster, execution.name());
  ASSERT_EQ(last.state(), dr::v1::EXECUTION_STATE_SUCCEEDED)
      << last.DebugString() << StepsNotSucceeded(cluster, execution.name());
  EXPECT_EQ(last.steps_succeeded(), kTestVms * 6);
  ExpectCompleteReport(cluster, execution.name(), kTestVms * 6);

  // The ledgers: each operation once per VM, on its host.
  std::map<std::string, std::map<int, int>> prod, dr;
  const auto prod_state = cluster.AgentState("hv-prod-1");
  const auto dr_state = cluster.AgentState("hv-dr-1");
  for (const auto& op : prod_state.history()) ++prod[op.vm_id()][op.type()];
  for (const auto& op : dr_state.history()) ++dr[op.vm_id()][op.type()];
  for (int i = 0; i < kTestVms; ++i) {
    const std::string vm = VmGuid(i);
    EXPECT_EQ(prod[vm][dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE], 1) << "VM " << i;
    EXPECT_EQ(prod[vm][dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE], 1) << "VM " << i;
    EXPECT_EQ(dr[vm][dr::v1::JOB_TYPE_INITIATE_FAILOVER], 1) << "VM " << i;
    EXPECT_EQ(dr[vm][dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE], 1) << "VM " << i;
    EXPECT_EQ(dr[vm][dr::v1::JOB_TYPE_REVERSE_REPLICATION], 1) << "VM " << i;
    EXPECT_EQ(dr_state.vms(i).mode(), dr::v1::REPLICATION_MODE_PRIMARY) << "VM " << i;
    EXPECT_EQ(dr_state.vms(i).enabled(), dr::v1::ENABLED_STATE_ENABLED) << "VM " << i;
  }
  cluster.ExpectEveryCallAudited();
  cluster.KillServer(SIGKILL);
  auto store = SqliteStore::Open(cluster.dir() + "/drserver.db", {});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  EXPECT_TRUE((*store)->ListActiveExecutions()->empty());
  EXPECT_TRUE((*store)->ListActiveJobs()->empty());
}

}  // namespace
}  // namespace hvdr
