// ValidatePlan's findings end to end: one estate of real processes (three
// simulated hosts, one drserver) set up with a bad topology per VM, and a
// plan per row. Each row's plan is validated (ValidatePlan, then
// StartPlanExecution with validate_only, then a real start when it has
// errors): the finding is there with its severity, field and reason, and
// nothing ran - every simulator's ledger is as it was and no job was made.
// plans/plan_validation_test.cc checks the same findings on a snapshot;
// this checks that what the agents report gets there.
//
// Not rows of the table:
//  - Dependency cycles and invalid network settings are refused when the
//    plan is written (CreatePlan/UpdatePlan, 32773 naming the field), so
//    no stored plan has them for ValidatePlan to find;
//    ABadPlanIsRefusedNamingTheFieldWithNothingStoredOrRun checks the
//    refusal instead, with nothing stored and nothing run.
//  - HOOKS_DISABLED needs a drserver without --hooks_dir (this one has
//    one); it is not a finding the issue lists.
//  - A busy VM's job and the execution holding a VM are set up by their
//    rows (a job and an execution of their own): "nothing ran" is counted
//    from after that set-up.
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using dr::v1::SEVERITY_ERROR;
using dr::v1::SEVERITY_WARNING;
using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;
using hvdr::testing::VmName;

// The VMs of the estate, one per bad topology (VmGuid(n)).
enum EstateVm {
  kGood = 0,        // replicating, healthy, recent: every row's bad plan
  kNoReplica = 1,   // a primary in sites/prod only
  kNoPrimary = 2,   // a replica in sites/dr only
  kCritical = 3,    // replication health critical
  kStale = 4,       // last replication 20 min ago, every 5 min
  kStaleFast = 5,   // last replication 2 min ago, every 30 s
  kNoAppPoint = 6,  // only standard recovery points
  kBusy = 7,        // a failover job that never finishes runs on it
  kHeld = 8,        // in an execution waiting for a prompt
  kLostHost = 9,    // its replica is on hv-dr-2, which is killed
  kUnknown = 99,    // on no host
};

hvdr::sim::v1::SimVm* AddVm(hvdr::sim::v1::Scenario* s, int n, dr::v1::ReplicationMode mode) {
  hvdr::sim::v1::SimVm* vm = s->add_vms();
  vm->set_vm_id(VmGuid(n));
  vm->set_name(absl::StrCat("vm-", n));
  vm->set_mode(mode);
  vm->set_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm->set_health(dr::v1::REPLICATION_HEALTH_OK);
  vm->set_enabled(mode == dr::v1::REPLICATION_MODE_PRIMARY ? dr::v1::ENABLED_STATE_ENABLED
                                                           : dr::v1::ENABLED_STATE_DISABLED);
  vm->set_last_replication_seconds_ago(60);
  vm->set_primary_server("hv-prod-1");
  vm->set_replica_server(mode == dr::v1::REPLICATION_MODE_PRIMARY ? "hv-dr-1" : s->host_name());
  vm->set_interval_seconds(300);
  vm->add_network_adapters("Network Adapter");
  if (mode == dr::v1::REPLICATION_MODE_REPLICA) {
    auto* rp = vm->add_recovery_points();
    rp->set_id(absl::StrCat("vm-", n, "-app"));
    rp->set_type(dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
    rp->set_age_seconds(3600);
  }
  return vm;
}

hvdr::sim::v1::Scenario Scenario(const std::string& host) {
  hvdr::sim::v1::Scenario s;
  s.set_host_name(host);
  s.set_default_job_duration_ms(400);
  return s;
}

dr::v1::Plan PlanOf(const std::string& id, const std::vector<int>& vms) {
  dr::v1::Plan plan;
  plan.set_name("plans/" + id);
  plan.set_source_site("sites/prod");
  plan.set_target_site("sites/dr");
  dr::v1::PlanGroup* g = plan.add_groups();
  g->set_id("g");
  for (int n : vms) g->add_vms()->set_vm_id(VmGuid(n));
  return plan;
}

dr::v1::PlanStep* AddHook(google::protobuf::RepeatedPtrField<dr::v1::PlanStep>* steps,
                          const std::string& executable) {
  dr::v1::PlanStep* s = steps->Add();
  s->set_id("hook");
  s->mutable_hook()->set_executable(executable);
  return s;
}

std::string Describe(const google::protobuf::RepeatedPtrField<dr::v1::Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    absl::StrAppend(&out, dr::v1::Severity_Name(f.severity()), " ", f.field(), " ", f.reason(),
                    ": ", f.message(), "\n");
  }
  return out;
}

bool Has(const google::protobuf::RepeatedPtrField<dr::v1::Finding>& findings,
         dr::v1::Severity severity, const std::string& field, const std::string& reason) {
  for (const auto& f : findings) {
    if (f.severity() == severity && f.field() == field && f.reason() == reason) return true;
  }
  return false;
}

// One row: a plan (its VMs' topology set up by the estate, or by `setup`
// just before), the mode, and the finding it must produce.
struct Row {
  const char* what;
  dr::v1::Plan plan;
  dr::v1::ExecutionMode mode;
  const char* field;
  const char* reason;
  dr::v1::Severity severity;
  std::function<void()> setup;
};

class ValidationTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>("validation");
    hvdr::sim::v1::Scenario prod = Scenario("hv-prod-1");
    hvdr::sim::v1::Scenario dr = Scenario("hv-dr-1");
    hvdr::sim::v1::Scenario dr2 = Scenario("hv-dr-2");
    for (int n :
         {kGood, kNoReplica, kCritical, kStale, kStaleFast, kNoAppPoint, kBusy, kHeld, kLostHost}) {
      AddVm(&prod, n, dr::v1::REPLICATION_MODE_PRIMARY);
    }
    for (int n : {kGood, kNoPrimary, kCritical, kStale, kStaleFast, kNoAppPoint, kBusy, kHeld}) {
      hvdr::sim::v1::SimVm* vm = AddVm(&dr, n, dr::v1::REPLICATION_MODE_REPLICA);
      switch (n) {
        case kCritical: vm->set_health(dr::v1::REPLICATION_HEALTH_CRITICAL); break;
        case kStale: vm->set_last_replication_seconds_ago(1200); break;
        case kStaleFast:
          vm->set_interval_seconds(30);
          vm->set_last_replication_seconds_ago(120);
          break;
        case kNoAppPoint:
          vm->mutable_recovery_points(0)->set_type(dr::v1::RECOVERY_POINT_TYPE_STANDARD);
          break;
        default: break;
      }
    }
    AddVm(&dr2, kLostHost, dr::v1::REPLICATION_MODE_REPLICA);
    hvdr::sim::v1::Fault* never = dr.add_faults();
    never->set_vm_id(VmGuid(kBusy));
    never->set_operation(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    never->set_never_finish(true);
    ASSERT_TRUE(cluster_->StartAgent("hv-prod-1", &prod).ok());
    ASSERT_TRUE(cluster_->StartAgent("hv-dr-1", &dr).ok());
    ASSERT_TRUE(cluster_->StartAgent("hv-dr-2", &dr2).ok());
    hooks_dir_ = cluster_->dir() + "/hooks";
    ASSERT_EQ(mkdir(hooks_dir_.c_str(), 0755), 0);
    // A hook that is there but cannot be run.
    std::ofstream(hooks_dir_ + "/not-executable.sh") << "#!/bin/sh\nexit 0\n";
    ASSERT_EQ(chmod((hooks_dir_ + "/not-executable.sh").c_str(), 0644), 0);
    ASSERT_TRUE(cluster_->StartServer({"--hooks_dir=" + hooks_dir_}).ok());
    for (const char* host : {"hv-prod-1", "hv-dr-1", "hv-dr-2"}) {
      const std::string site = std::string(host) == "hv-prod-1" ? "sites/prod" : "sites/dr";
      ASSERT_TRUE(cluster_->Register(host, site).ok()) << host;
    }
    plans_ = dr::v1::PlanService::NewStub(cluster_->ServerChannel("admin"));
  }

  absl::StatusOr<dr::v1::Plan> CreatePlan(const dr::v1::Plan& plan) {
    grpc::ClientContext context;
    dr::v1::CreatePlanRequest r;
    *r.mutable_plan() = plan;
    r.set_request_id("create-" + plan.name().substr(6));
    r.set_requester("ci");
    dr::v1::Plan out;
    absl::Status s = FromGrpcStatus(plans_->CreatePlan(&context, r, &out), &context);
    if (!s.ok()) return s;
    return out;
  }
  dr::v1::ValidatePlanResponse Validate(const std::string& plan, dr::v1::ExecutionMode mode) {
    grpc::ClientContext context;
    dr::v1::ValidatePlanRequest r;
    r.set_name(plan);
    r.set_mode(mode);
    dr::v1::ValidatePlanResponse out;
    const grpc::Status s = plans_->ValidatePlan(&context, r, &out);
    EXPECT_TRUE(s.ok()) << plan << ": " << s.error_message();
    return out;
  }
  absl::StatusOr<dr::v1::PlanExecution> Start(const std::string& plan, dr::v1::ExecutionMode mode,
                                              bool validate_only, const std::string& request_id) {
    grpc::ClientContext context;
    dr::v1::StartPlanExecutionRequest r;
    r.set_plan(plan);
    r.set_mode(mode);
    r.set_validate_only(validate_only);
    r.set_request_id(request_id);
    r.set_requester("ci");
    dr::v1::PlanExecution out;
    absl::Status s = FromGrpcStatus(plans_->StartPlanExecution(&context, r, &out), &context);
    if (!s.ok()) return s;
    return out;
  }
  dr::v1::PlanExecution GetExecution(const std::string& name) {
    grpc::ClientContext context;
    dr::v1::GetPlanExecutionRequest r;
    r.set_name(name);
    dr::v1::PlanExecution out;
    EXPECT_TRUE(plans_->GetPlanExecution(&context, r, &out).ok()) << name;
    return out;
  }
  // Every simulator's ledger (the operations it started) and every job
  // drserver knows, as text: equal before and after means nothing ran.
  std::string Ran() {
    std::string out;
    for (const char* host : {"hv-prod-1", "hv-dr-1", "hv-dr-2"}) {
      const hvdr::sim::v1::SimState state = cluster_->AgentState(host);
      absl::StrAppend(&out, host, ": ", state.history_dropped(), " dropped\n");
      for (const auto& op : state.history()) {
        absl::StrAppend(&out, "  ", op.job_id(), " ", dr::v1::JobType_Name(op.type()), " ",
                        op.vm_id(), "\n");
      }
    }
    grpc::ClientContext context;
    dr::v1::ListJobsRequest r;
    r.set_page_size(1000);
    dr::v1::ListJobsResponse jobs;
    const grpc::Status s = cluster_->jobs()->ListJobs(&context, r, &jobs);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const auto& j : jobs.jobs()) absl::StrAppend(&out, j.name(), "\n");
    return out;
  }
  // Waits until drserver says `host` is unreachable (or 30 s pass).
  void WaitUnreachable(const std::string& host) {
    dr::v1::Host got;
    for (int i = 0; i < 300; ++i) {
      grpc::ClientContext context;
      dr::v1::GetHostRequest r;
      r.set_name(host);
      if (cluster_->topology()->GetHost(&context, r, &got).ok() &&
          got.reachability() == dr::v1::REACHABILITY_UNREACHABLE) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << host << " never became unreachable:\n" << got.DebugString();
  }

  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<dr::v1::PlanService::Stub> plans_;
  std::string hooks_dir_;
};

TEST_F(ValidationTableTest, EachBadTopologyOrPlanIsFoundWithNothingRun) {
  // The control: a good plan has no finding in any failover mode.
  ASSERT_TRUE(CreatePlan(PlanOf("good", {kGood})).ok());
  for (auto mode : {dr::v1::EXECUTION_MODE_TEST, dr::v1::EXECUTION_MODE_PLANNED,
                    dr::v1::EXECUTION_MODE_UNPLANNED}) {
    const auto got = Validate("plans/good", mode);
    EXPECT_EQ(got.findings_size(), 0) << dr::v1::ExecutionMode_Name(mode) << "\n"
                                      << Describe(got.findings());
  }

  constexpr char kVm0[] = "groups[0].vms[0].vm_id";
  constexpr char kPolicy[] = "groups[0].vms[0].recovery_point_policy";
  auto within_age = PlanOf("within-age", {kGood});
  within_age.mutable_groups(0)->mutable_vms(0)->set_recovery_point_policy(
      dr::v1::RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE);
  within_age.mutable_groups(0)->mutable_vms(0)->set_max_recovery_point_age_seconds(30);
  auto app_point = PlanOf("no-app-point", {kNoAppPoint});
  app_point.mutable_groups(0)->mutable_vms(0)->set_recovery_point_policy(
      dr::v1::RECOVERY_POINT_POLICY_LATEST_APPLICATION_CONSISTENT);
  auto hook_missing = PlanOf("hook-missing", {kGood});
  AddHook(hook_missing.mutable_groups(0)->mutable_before(), "missing.sh");
  auto hook_mode = PlanOf("hook-not-executable", {kGood});
  AddHook(hook_mode.mutable_groups(0)->mutable_vms(0)->mutable_after(), "not-executable.sh");
  // kHeld is held by an execution of this plan, waiting at its prompt
  // before any VM step.
  auto holder = PlanOf("holder", {kHeld});
  dr::v1::PlanStep* prompt = holder.mutable_groups(0)->add_before();
  prompt->set_id("hold");
  prompt->mutable_prompt()->set_message("hold the VM");
  ASSERT_TRUE(CreatePlan(holder).ok());

  const std::vector<Row> rows = {
      {"unknown VM", PlanOf("unknown", {kGood, kUnknown}), dr::v1::EXECUTION_MODE_TEST,
       "groups[0].vms[1].vm_id", "UNKNOWN_VM", SEVERITY_ERROR},
      {"no replica at the target", PlanOf("no-replica", {kNoReplica}),
       dr::v1::EXECUTION_MODE_UNPLANNED, kVm0, "NO_REPLICA_AT_TARGET", SEVERITY_ERROR},
      {"no primary for a planned failover", PlanOf("no-primary", {kNoPrimary}),
       dr::v1::EXECUTION_MODE_PLANNED, kVm0, "NO_PRIMARY_AT_SOURCE", SEVERITY_ERROR},
      {"replication critical", PlanOf("critical", {kCritical}), dr::v1::EXECUTION_MODE_PLANNED,
       kVm0, "REPLICATION_CRITICAL", SEVERITY_ERROR},
      {"replication critical in a test", PlanOf("critical-test", {kCritical}),
       dr::v1::EXECUTION_MODE_TEST, kVm0, "REPLICATION_CRITICAL", SEVERITY_ERROR},
      {"replication critical in a disaster warns", PlanOf("critical-unplanned", {kCritical}),
       dr::v1::EXECUTION_MODE_UNPLANNED, kVm0, "REPLICATION_CRITICAL", SEVERITY_WARNING},
      {"last replication older than 3 x 300 s", PlanOf("stale", {kStale}),
       dr::v1::EXECUTION_MODE_TEST, kVm0, "RPO_AT_RISK", SEVERITY_WARNING},
      {"last replication older than 3 x 30 s (the agent's interval)",
       PlanOf("stale-fast", {kStaleFast}), dr::v1::EXECUTION_MODE_UNPLANNED, kVm0, "RPO_AT_RISK",
       SEVERITY_WARNING},
      {"no application-consistent point", app_point, dr::v1::EXECUTION_MODE_UNPLANNED, kPolicy,
       "NO_RECOVERY_POINT", SEVERITY_ERROR},
      {"data older than the policy allows", within_age, dr::v1::EXECUTION_MODE_TEST, kPolicy,
       "NO_RECOVERY_POINT", SEVERITY_ERROR},
      {"commit of a VM not failed over", PlanOf("commit", {kGood}), dr::v1::EXECUTION_MODE_COMMIT,
       kVm0, "INVALID_STATE", SEVERITY_ERROR},
      {"hook missing", hook_missing, dr::v1::EXECUTION_MODE_TEST,
       "groups[0].before[0].hook.executable", "HOOK_MISSING", SEVERITY_ERROR},
      {"hook not executable", hook_mode, dr::v1::EXECUTION_MODE_TEST,
       "groups[0].vms[0].after[0].hook.executable", "HOOK_NOT_EXECUTABLE", SEVERITY_ERROR},
      {"a job runs on the replica", PlanOf("busy", {kBusy}), dr::v1::EXECUTION_MODE_TEST, kVm0,
       "VM_BUSY", SEVERITY_ERROR,
       [&] {
         // A failover that never ends, started outside any plan.
         const std::string vm = VmName("hv-dr-1", kBusy);
         ASSERT_TRUE(cluster_->InitiateFailover(vm, "busy-1").ok());
         for (int i = 0; i < 300; ++i) {
           // Busy in drserver's eyes, and started on the host (in its
           // ledger before the row's count).
           absl::StatusOr<dr::v1::VirtualMachine> got = cluster_->GetVirtualMachine(vm);
           if (got.ok() && !got->active_job().empty() &&
               cluster_->AgentState("hv-dr-1").history_size() == 1) {
             return;
           }
           absl::SleepFor(absl::Milliseconds(100));
         }
         FAIL() << vm << " never got its job";
       }},
      {"in another execution", PlanOf("held", {kHeld}), dr::v1::EXECUTION_MODE_TEST, kVm0,
       "VM_IN_EXECUTION", SEVERITY_ERROR,
       [&] {
         absl::StatusOr<dr::v1::PlanExecution> e =
             Start("plans/holder", dr::v1::EXECUTION_MODE_TEST, false, "holder-1");
         ASSERT_TRUE(e.ok()) << e.status();
         for (int i = 0; i < 300; ++i) {
           if (GetExecution(e->name()).state() == dr::v1::EXECUTION_STATE_WAITING) return;
           absl::SleepFor(absl::Milliseconds(100));
         }
         FAIL() << e->name() << " never waited at its prompt";
       }},
      // Last: it kills hv-dr-2 (only kLostHost is there).
      {"target host unreachable", PlanOf("lost-host", {kLostHost}), dr::v1::EXECUTION_MODE_TEST,
       kVm0, "HOST_UNREACHABLE", SEVERITY_ERROR,
       [&] {
         cluster_->KillAgent("hv-dr-2");
         WaitUnreachable("hosts/hv-dr-2");
       }},
  };
  int n = 0;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    ++n;
    ASSERT_TRUE(CreatePlan(row.plan).ok());
    if (row.setup) row.setup();
    if (::testing::Test::HasFatalFailure()) return;
    const std::string before = Ran();

    // (a) ValidatePlan lists it.
    const dr::v1::ValidatePlanResponse validated = Validate(row.plan.name(), row.mode);
    EXPECT_TRUE(Has(validated.findings(), row.severity, row.field, row.reason))
        << "want " << dr::v1::Severity_Name(row.severity) << " " << row.field << " " << row.reason
        << "\n"
        << Describe(validated.findings());
    bool errors = false;
    for (const auto& f : validated.findings()) {
      EXPECT_FALSE(f.message().empty()) << f.reason();
      EXPECT_NE(f.return_code(), dr::v1::RETURN_CODE_COMPLETED) << f.reason();
      errors = errors || f.severity() == SEVERITY_ERROR;
    }
    EXPECT_EQ(errors, row.severity == SEVERITY_ERROR) << Describe(validated.findings());

    // validate_only records the same findings and ends at once.
    absl::StatusOr<dr::v1::PlanExecution> checked =
        Start(row.plan.name(), row.mode, true, absl::StrCat("validate-only-", n));
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_EQ(checked->state(),
              errors ? dr::v1::EXECUTION_STATE_FAILED : dr::v1::EXECUTION_STATE_SUCCEEDED)
        << checked->DebugString();
    EXPECT_TRUE(Has(checked->findings(), row.severity, row.field, row.reason))
        << Describe(checked->findings());
    EXPECT_EQ(checked->steps_total(), 0);

    // With errors, a real start is recorded as failed with nothing run.
    if (errors) {
      absl::StatusOr<dr::v1::PlanExecution> started =
          Start(row.plan.name(), row.mode, false, absl::StrCat("start-", n));
      ASSERT_TRUE(started.ok()) << started.status();
      EXPECT_EQ(started->state(), dr::v1::EXECUTION_STATE_FAILED) << started->DebugString();
      EXPECT_TRUE(Has(started->findings(), row.severity, row.field, row.reason))
          << Describe(started->findings());
      EXPECT_EQ(started->steps_total(), 0);
    }

    // (b) Nothing ran: no operation on any host, no job.
    EXPECT_EQ(Ran(), before);
  }
}

// Dependency cycles and invalid network settings: a plan file that has
// them is refused when written (32773, naming the field and the reason),
// so it is never stored, and nothing runs.
TEST_F(ValidationTableTest, ABadPlanIsRefusedNamingTheFieldWithNothingStoredOrRun) {
  const std::string before = Ran();
  auto cycle = PlanOf("cycle", {kGood, kCritical});
  cycle.mutable_groups(0)->mutable_vms(0)->add_depends_on(VmGuid(kCritical));
  cycle.mutable_groups(0)->mutable_vms(1)->add_depends_on(VmGuid(kGood));
  auto network = PlanOf("network", {kGood});
  dr::v1::FailoverNetworkAdapterSettings* nic =
      network.mutable_groups(0)->mutable_vms(0)->add_network_settings();
  nic->set_adapter("Network Adapter");
  nic->add_ip_addresses("10.20.0.300");
  nic->add_subnets("255.255.255.0");
  struct Bad {
    const char* what;
    dr::v1::Plan plan;
    const char* field;
    const char* reason;
  };
  for (const Bad& bad : {
           Bad{"dependency cycle", cycle, "plan.groups[0].vms[1].depends_on", "DEPENDENCY_CYCLE"},
           Bad{"invalid network settings", network,
               "plan.groups[0].vms[0].network_settings[0].ip_addresses[0]", "NOT_AN_IP_ADDRESS"},
       }) {
    SCOPED_TRACE(bad.what);
    absl::StatusOr<dr::v1::Plan> created = CreatePlan(bad.plan);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument) << created.status();
    const dr::v1::ErrorDetail detail = ErrorDetailOf(created.status());
    EXPECT_EQ(detail.return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
    EXPECT_EQ(detail.field(), bad.field) << created.status();
    EXPECT_EQ(detail.reason(), bad.reason) << created.status();

    // A good plan cannot be made bad either: the update is refused and the
    // stored version still validates clean.
    dr::v1::Plan good = bad.plan;
    good.set_name(bad.plan.name() + "-update");
    for (auto& vm : *good.mutable_groups(0)->mutable_vms()) {
      vm.clear_depends_on();
      vm.clear_network_settings();
    }
    absl::StatusOr<dr::v1::Plan> stored = CreatePlan(good);
    ASSERT_TRUE(stored.ok()) << stored.status();
    dr::v1::UpdatePlanRequest update;
    *update.mutable_plan() = bad.plan;
    update.mutable_plan()->set_name(good.name());
    update.mutable_plan()->set_etag(stored->etag());
    update.set_request_id("update-" + good.name().substr(6));
    grpc::ClientContext context;
    dr::v1::Plan updated;
    absl::Status refused = FromGrpcStatus(plans_->UpdatePlan(&context, update, &updated), &context);
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
    EXPECT_EQ(ErrorDetailOf(refused).field(), bad.field) << refused;
    EXPECT_EQ(ErrorDetailOf(refused).reason(), bad.reason) << refused;
    grpc::ClientContext get_context;
    dr::v1::GetPlanRequest get;
    get.set_name(good.name());
    dr::v1::Plan now;
    ASSERT_TRUE(plans_->GetPlan(&get_context, get, &now).ok());
    EXPECT_EQ(now.version(), stored->version());
  }
  grpc::ClientContext context;
  dr::v1::ListPlansRequest list;
  dr::v1::ListPlansResponse listed;
  ASSERT_TRUE(plans_->ListPlans(&context, list, &listed).ok());
  std::set<std::string> names;
  for (const auto& p : listed.plans()) names.insert(p.name());
  EXPECT_EQ(names, (std::set<std::string>{"plans/cycle-update", "plans/network-update"}));
  EXPECT_EQ(Ran(), before);
}

}  // namespace
}  // namespace hvdr
