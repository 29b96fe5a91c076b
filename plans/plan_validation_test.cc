#include "plans/plan_validation.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using testing::SimplePlan;
using testing::Vm;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

dr::v1::VirtualMachine Copy(int n, const std::string& host, const std::string& site,
                            dr::v1::ReplicationMode mode) {
  dr::v1::VirtualMachine c;
  c.set_vm_id(Vm(n));
  c.set_display_name(absl::StrCat("vm-", n));
  c.set_host(host);
  c.set_site(site);
  c.set_name(absl::StrCat(host, "/virtualMachines/", Vm(n)));
  c.set_replication_mode(mode);
  c.set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  c.set_replication_health(dr::v1::REPLICATION_HEALTH_OK);
  c.set_enabled_state(mode == dr::v1::REPLICATION_MODE_PRIMARY ? dr::v1::ENABLED_STATE_ENABLED
                                                               : dr::v1::ENABLED_STATE_DISABLED);
  ToProto(kNow - absl::Minutes(2), c.mutable_last_replication_time());
  return c;
}

// Two VMs replicating from hosts/p (sites/a) to hosts/r (sites/b), both
// reachable, with an application-consistent point each.
TopologySnapshot GoodTopology() {
  TopologySnapshot t;
  for (const char* h : {"hosts/p", "hosts/r"}) {
    dr::v1::Host host;
    host.set_name(h);
    host.set_reachability(dr::v1::REACHABILITY_REACHABLE);
    t.hosts[h] = host;
  }
  for (int n : {1, 2}) {
    VmFacts f;
    f.copies = {Copy(n, "hosts/p", "sites/a", dr::v1::REPLICATION_MODE_PRIMARY),
                Copy(n, "hosts/r", "sites/b", dr::v1::REPLICATION_MODE_REPLICA)};
    dr::v1::RecoveryPoint rp;
    rp.set_name(absl::StrCat("hosts/r/virtualMachines/", Vm(n), "/recoveryPoints/app-1"));
    rp.set_type(dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
    ToProto(kNow - absl::Hours(1), rp.mutable_create_time());
    f.recovery_points = {rp};
    f.replication_interval_seconds = 300;
    t.vms[Vm(n)] = f;
  }
  return t;
}

std::string Describe(const std::vector<dr::v1::Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += absl::StrCat(dr::v1::Severity_Name(f.severity()), " ", f.field(), " ", f.reason(), ": ",
                        f.message(), "\n");
  }
  return out;
}

TEST(PlanValidationTest, AGoodPlanOnAGoodTopologyHasNoFindingInAnyFailoverMode) {
  for (auto mode : {dr::v1::EXECUTION_MODE_TEST, dr::v1::EXECUTION_MODE_PLANNED,
                    dr::v1::EXECUTION_MODE_UNPLANNED}) {
    auto findings = ValidateAgainstTopology(SimplePlan(1, 2), mode, GoodTopology(), kNow);
    EXPECT_TRUE(findings.empty()) << dr::v1::ExecutionMode_Name(mode) << "\n" << Describe(findings);
  }
}

struct Case {
  const char* what;
  dr::v1::ExecutionMode mode;
  std::function<void(dr::v1::Plan&, TopologySnapshot&)> spoil;
  const char* field;
  const char* reason;
  dr::v1::Severity severity;
};

class ValidationTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(ValidationTableTest, FindsIt) {
  const Case& c = GetParam();
  dr::v1::Plan plan = SimplePlan(1, 2);
  TopologySnapshot t = GoodTopology();
  c.spoil(plan, t);
  const auto findings = ValidateAgainstTopology(plan, c.mode, t, kNow);
  bool found = false;
  for (const auto& f : findings) {
    found = found || (f.field() == c.field && f.reason() == c.reason && f.severity() == c.severity);
    EXPECT_FALSE(f.message().empty());
    EXPECT_NE(f.return_code(), dr::v1::RETURN_CODE_COMPLETED);
  }
  EXPECT_TRUE(found) << c.what << ": want " << c.field << " " << c.reason << "\n"
                     << Describe(findings);
}

constexpr char kVm0[] = "groups[0].vms[0].vm_id";
using dr::v1::SEVERITY_ERROR;
using dr::v1::SEVERITY_WARNING;

INSTANTIATE_TEST_SUITE_P(
    Findings, ValidationTableTest,
    ::testing::Values(
        Case{"unknown VM", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) { t.vms.erase(Vm(1)); }, kVm0,
             "UNKNOWN_VM", SEVERITY_ERROR},
        Case{"no replica at the target", dr::v1::EXECUTION_MODE_UNPLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vms[Vm(1)].copies.pop_back();
             },
             kVm0, "NO_REPLICA_AT_TARGET", SEVERITY_ERROR},
        Case{"no primary for a planned failover", dr::v1::EXECUTION_MODE_PLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vms[Vm(1)].copies.erase(t.vms[Vm(1)].copies.begin());
             },
             kVm0, "NO_PRIMARY_AT_SOURCE", SEVERITY_ERROR},
        Case{"target host unreachable", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.hosts["hosts/r"].set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
             },
             kVm0, "HOST_UNREACHABLE", SEVERITY_ERROR},
        Case{"source host unreachable in a planned failover", dr::v1::EXECUTION_MODE_PLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.hosts["hosts/p"].set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
             },
             kVm0, "HOST_UNREACHABLE", SEVERITY_ERROR},
        Case{"replication critical", dr::v1::EXECUTION_MODE_PLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vms[Vm(1)].copies[1].set_replication_health(dr::v1::REPLICATION_HEALTH_CRITICAL);
             },
             kVm0, "REPLICATION_CRITICAL", SEVERITY_ERROR},
        Case{"replication critical in a disaster warns", dr::v1::EXECUTION_MODE_UNPLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vms[Vm(1)].copies[1].set_replication_health(dr::v1::REPLICATION_HEALTH_CRITICAL);
             },
             kVm0, "REPLICATION_CRITICAL", SEVERITY_WARNING},
        Case{"replication lags", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               ToProto(kNow - absl::Minutes(16),
                       t.vms[Vm(1)].copies[1].mutable_last_replication_time());
             },
             kVm0, "RPO_AT_RISK", SEVERITY_WARNING},
        Case{"no application-consistent point", dr::v1::EXECUTION_MODE_UNPLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               p.mutable_groups(0)->mutable_vms(0)->set_recovery_point_policy(
                   dr::v1::RECOVERY_POINT_POLICY_LATEST_APPLICATION_CONSISTENT);
               t.vms[Vm(1)].recovery_points.clear();
             },
             "groups[0].vms[0].recovery_point_policy", "NO_RECOVERY_POINT", SEVERITY_ERROR},
        Case{"data older than the policy allows", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               auto* vm = p.mutable_groups(0)->mutable_vms(0);
               vm->set_recovery_point_policy(dr::v1::RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE);
               vm->set_max_recovery_point_age_seconds(60);
             },
             "groups[0].vms[0].recovery_point_policy", "NO_RECOVERY_POINT", SEVERITY_ERROR},
        Case{"commit of a VM not failed over", dr::v1::EXECUTION_MODE_COMMIT,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {}, kVm0, "INVALID_STATE",
             SEVERITY_ERROR},
        Case{"failover of a VM failed over already", dr::v1::EXECUTION_MODE_UNPLANNED,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vms[Vm(1)].copies[1].set_replication_state(dr::v1::REPLICATION_STATE_RECOVERED);
             },
             kVm0, "INVALID_STATE", SEVERITY_ERROR},
        Case{"a job runs on the replica", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vms[Vm(1)].copies[1].set_active_job("jobs/x");
             },
             kVm0, "VM_BUSY", SEVERITY_ERROR},
        Case{"in another execution", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.vm_execution[Vm(1)] = "plans/other/executions/e1";
             },
             kVm0, "VM_IN_EXECUTION", SEVERITY_ERROR},
        Case{"hooks not configured", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               auto* s = p.mutable_groups(0)->add_before();
               s->set_id("h");
               s->mutable_hook()->set_executable("check.sh");
             },
             "groups[0].before[0].hook.executable", "HOOKS_DISABLED", SEVERITY_ERROR},
        Case{"hook missing", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.hooks_configured = true;
               auto* s = p.mutable_groups(0)->mutable_vms(1)->add_after();
               s->set_id("h");
               s->mutable_hook()->set_executable("check.sh");
             },
             "groups[0].vms[1].after[0].hook.executable", "HOOK_MISSING", SEVERITY_ERROR},
        Case{"hook not executable", dr::v1::EXECUTION_MODE_TEST,
             []([[maybe_unused]] auto& p, [[maybe_unused]] auto& t) {
               t.hooks_configured = true;
               t.hooks["check.sh"] = false;
               auto* s = p.mutable_groups(0)->add_after();
               s->set_id("h");
               s->mutable_hook()->set_executable("check.sh");
             },
             "groups[0].after[0].hook.executable", "HOOK_NOT_EXECUTABLE", SEVERITY_ERROR}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name;
      for (const char* c = info.param.what; *c != '\0'; ++c) {
        if (absl::ascii_isalnum(*c)) name += *c;
      }
      return name;
    });

TEST(PlanValidationTest, AHookOfAnotherModeIsNotChecked) {
  dr::v1::Plan plan = SimplePlan(1, 1);
  auto* s = plan.mutable_groups(0)->add_before();
  s->set_id("h");
  s->mutable_hook()->set_executable("planned-only.sh");
  s->add_modes(dr::v1::EXECUTION_MODE_PLANNED);
  EXPECT_TRUE(
      ValidateAgainstTopology(plan, dr::v1::EXECUTION_MODE_TEST, GoodTopology(), kNow).empty());
}

TEST(PlanValidationTest, PlacementPutsEachStepOnItsSitesCopy) {
  auto placement = PlacementOf(SimplePlan(1, 2), GoodTopology());
  ASSERT_EQ(placement.size(), 2u);
  EXPECT_EQ(placement[Vm(1)].primary_host, "hosts/p");
  EXPECT_EQ(placement[Vm(1)].replica_host, "hosts/r");
}

TEST(PlanValidationTest, ThePolicyChoosesTheRecoveryPoint) {
  TopologySnapshot t = GoodTopology();
  dr::v1::PlanVm vm;
  vm.set_recovery_point_policy(dr::v1::RECOVERY_POINT_POLICY_LATEST_APPLICATION_CONSISTENT);
  std::string point;
  absl::Time data_time;
  ASSERT_TRUE(
      ChooseRecoveryPoint(vm, t.vms[Vm(1)], t.vms[Vm(1)].copies[1], kNow, &point, &data_time));
  EXPECT_THAT(point, ::testing::EndsWith("/recoveryPoints/app-1"));
  EXPECT_EQ(data_time, kNow - absl::Hours(1));
  vm.set_recovery_point_policy(dr::v1::RECOVERY_POINT_POLICY_LATEST);
  ASSERT_TRUE(
      ChooseRecoveryPoint(vm, t.vms[Vm(1)], t.vms[Vm(1)].copies[1], kNow, &point, &data_time));
  EXPECT_TRUE(point.empty());
  EXPECT_EQ(data_time, kNow - absl::Minutes(2));
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
