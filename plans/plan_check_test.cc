#include "plans/plan_check.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using ::testing::HasSubstr;
using testing::PlanFromText;
using testing::SimplePlan;
using testing::Vm;

std::string Describe(const std::vector<dr::v1::Finding>& findings) {
  std::string out;
  for (const auto& f : findings) out += f.field() + " " + f.reason() + ": " + f.message() + "\n";
  return out;
}

TEST(PlanCheckTest, ASoundPlanHasNoFinding) {
  dr::v1::Plan plan = PlanFromText(R"pb(
    source_site: "sites/primary"
    target_site: "sites/dr"
    groups {
      id: "databases"
      before {
        id: "fence"
        prompt { message: "Is the storage fenced?" }
      }
      vms { vm_id: "{00000000-0000-0000-0000-00000000000a}" critical: true }
      vms {
        vm_id: "00000000-0000-0000-0000-00000000000B"
        depends_on: "00000000-0000-0000-0000-00000000000a"
        recovery_point_policy: RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE
        max_recovery_point_age_seconds: 900
        network_settings { adapter: "eth0" ip_addresses: "10.0.0.5" subnets: "255.255.255.0" }
        after {
          id: "settle"
          wait { seconds: 30 }
        }
      }
    }
    groups {
      id: "apps"
      vms { vm_id: "00000000-0000-0000-0000-00000000000c" startup_action: STARTUP_ACTION_LEAVE_OFF }
      after {
        id: "smoke"
        hook { executable: "smoke-test.sh" args: "--quick" }
        on_error: ERROR_MODE_CONTINUE
      }
    }
  )pb");
  EXPECT_TRUE(CheckPlanStructure(plan).empty()) << Describe(CheckPlanStructure(plan));
  const dr::v1::Plan canonical = CanonicalPlan(plan);
  EXPECT_EQ(canonical.groups(0).vms(0).vm_id(), "00000000-0000-0000-0000-00000000000A");
  EXPECT_EQ(canonical.groups(0).vms(1).depends_on(0), "00000000-0000-0000-0000-00000000000A");
}

struct BadPlan {
  const char* what;
  const char* text;  // groups and fields after the sites
  const char* field;
  const char* reason;
};

class BadPlanTest : public ::testing::TestWithParam<BadPlan> {};

TEST_P(BadPlanTest, IsRefusedNamingTheFieldAndReason) {
  const BadPlan& p = GetParam();
  const std::string sites = R"pb(source_site: "sites/a" target_site: "sites/b")pb";
  dr::v1::Plan plan = PlanFromText(absl::StrCat(
      absl::string_view(p.text).find("site:") == absl::string_view::npos ? sites : "", p.text));
  const std::vector<dr::v1::Finding> findings = CheckPlanStructure(plan);
  bool found = false;
  for (const auto& f : findings) {
    EXPECT_EQ(f.severity(), dr::v1::SEVERITY_ERROR);
    EXPECT_EQ(f.return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
    EXPECT_FALSE(f.message().empty());
    found = found || (f.field() == p.field && f.reason() == p.reason);
  }
  EXPECT_TRUE(found) << p.what << ": expected " << p.field << " " << p.reason << ", got\n"
                     << Describe(findings);
  const absl::Status s = FindingsStatus(findings, "plan.");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("plan."));
}

#define VM(n) "vms { vm_id: \"00000000-0000-0000-0000-00000000000" #n "\" } "

INSTANTIATE_TEST_SUITE_P(
    Table, BadPlanTest,
    ::testing::Values(
        BadPlan{"no groups", "", "groups", "MISSING"},
        BadPlan{"no VMs", "groups { id: \"g\" }", "groups", "NO_VMS"},
        BadPlan{"source missing", "target_site: \"sites/b\" groups { id: \"g\" " VM(1) "}",
                "source_site", "MISSING"},
        BadPlan{"same site",
                "source_site: \"sites/a\" target_site: \"sites/a\" groups { id: \"g\" " VM(1) "}",
                "target_site", "SAME_SITE"},
        BadPlan{"malformed site",
                "source_site: \"site/a\" target_site: \"sites/b\" groups { id: \"g\" " VM(1) "}",
                "source_site", "MALFORMED_NAME"},
        BadPlan{"group id", "groups { id: \"Bad Id\" " VM(1) "}", "groups[0].id", "MALFORMED_ID"},
        BadPlan{"duplicate group", "groups { id: \"g\" " VM(1) "} groups { id: \"g\" " VM(2) "}",
                "groups[1].id", "DUPLICATE_ID"},
        BadPlan{"not a GUID", "groups { id: \"g\" vms { vm_id: \"sql-01\" } }",
                "groups[0].vms[0].vm_id", "MALFORMED_GUID"},
        BadPlan{"VM twice",
                "groups { id: \"g\" " VM(1) "} groups { id: \"h\" vms { vm_id: "
                                            "\"{00000000-0000-0000-0000-000000000001}\" } }",
                "groups[1].vms[0].vm_id", "VM_LISTED_TWICE"},
        BadPlan{"depends on itself",
                "groups { id: \"g\" vms { vm_id: \"00000000-0000-0000-0000-000000000001\" "
                "depends_on: \"00000000-0000-0000-0000-000000000001\" } }",
                "groups[0].vms[0].depends_on[0]", "DEPENDS_ON_ITSELF"},
        BadPlan{"depends outside group",
                "groups { id: \"g\" " VM(1) "} groups { id: \"h\" vms { vm_id: "
                                            "\"00000000-0000-0000-0000-000000000002\" depends_on: "
                                            "\"00000000-0000-0000-0000-000000000001\" } }",
                "groups[1].vms[0].depends_on[0]", "DEPENDENCY_OUTSIDE_GROUP"},
        BadPlan{"cycle",
                "groups { id: \"g\" "
                "vms { vm_id: \"00000000-0000-0000-0000-000000000001\" depends_on: "
                "\"00000000-0000-0000-0000-000000000002\" } "
                "vms { vm_id: \"00000000-0000-0000-0000-000000000002\" depends_on: "
                "\"00000000-0000-0000-0000-000000000003\" } "
                "vms { vm_id: \"00000000-0000-0000-0000-000000000003\" depends_on: "
                "\"00000000-0000-0000-0000-000000000001\" } }",
                "groups[0].vms[2].depends_on", "DEPENDENCY_CYCLE"},
        BadPlan{"age without policy",
                "groups { id: \"g\" vms { vm_id: \"00000000-0000-0000-0000-000000000001\" "
                "max_recovery_point_age_seconds: 60 } }",
                "groups[0].vms[0].max_recovery_point_age_seconds", "NOT_APPLICABLE"},
        BadPlan{"policy without age",
                "groups { id: \"g\" vms { vm_id: \"00000000-0000-0000-0000-000000000001\" "
                "recovery_point_policy: RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE } }",
                "groups[0].vms[0].max_recovery_point_age_seconds", "OUT_OF_RANGE"},
        BadPlan{"bad address",
                "groups { id: \"g\" vms { vm_id: \"00000000-0000-0000-0000-000000000001\" "
                "network_settings { adapter: \"eth0\" ip_addresses: \"10.0.0.300\" } } }",
                "groups[0].vms[0].network_settings[0].ip_addresses[0]", "NOT_AN_IP_ADDRESS"},
        BadPlan{"step without action", "groups { id: \"g\" before { id: \"x\" } " VM(1) "}",
                "groups[0].before[0]", "MISSING_ACTION"},
        BadPlan{"duplicate step",
                "groups { id: \"g\" before { id: \"x\" wait { seconds: 1 } } before { id: \"x\" "
                "wait { seconds: 2 } } " VM(1) "}",
                "groups[0].before[1].id", "DUPLICATE_ID"},
        BadPlan{"wait too long",
                "groups { id: \"g\" " VM(1) "after { id: \"w\" wait { seconds: 86401 } } }",
                "groups[0].after[0].wait.seconds", "OUT_OF_RANGE"},
        BadPlan{"empty prompt", "groups { id: \"g\" before { id: \"p\" prompt {} } " VM(1) "}",
                "groups[0].before[0].prompt.message", "MISSING"},
        BadPlan{"hook path",
                "groups { id: \"g\" vms { vm_id: \"00000000-0000-0000-0000-000000000001\" "
                "before { id: \"h\" hook { executable: \"../../bin/sh\" } } } }",
                "groups[0].vms[0].before[0].hook.executable", "MALFORMED_HOOK"},
        BadPlan{
            "hook command line",
            "groups { id: \"g\" " VM(1) "after { id: \"h\" hook { executable: \"rm -rf /\" } } }",
            "groups[0].after[0].hook.executable", "MALFORMED_HOOK"},
        BadPlan{"unknown mode",
                "groups { id: \"g\" " VM(1) "after { id: \"w\" wait { seconds: 1 } modes: 99 } }",
                "groups[0].after[0].modes[0]", "UNKNOWN_VALUE"},
        BadPlan{"limit too high",
                "limits { max_operations_per_host: 5000 } groups { id: \"g\" " VM(1) "}",
                "limits.max_operations_per_host", "OUT_OF_RANGE"},
        BadPlan{"step timeout",
                "groups { id: \"g\" before { id: \"w\" wait { seconds: 1 } timeout_seconds: "
                "700000 } " VM(1) "}",
                "groups[0].before[0].timeout_seconds", "OUT_OF_RANGE"}),
    [](const ::testing::TestParamInfo<BadPlan>& info) {
      std::string name;
      for (const char* c = info.param.what; *c != '\0'; ++c) {
        if (absl::ascii_isalnum(*c)) name += *c;
      }
      return name;
    });

TEST(PlanCheckTest, ACycleIsNamedOnceWithEveryVmOnIt) {
  dr::v1::Plan plan = SimplePlan(1, 3);
  auto* vms = plan.mutable_groups(0)->mutable_vms();
  (*vms)[0].add_depends_on(Vm(3));
  (*vms)[1].add_depends_on(Vm(1));
  (*vms)[2].add_depends_on(Vm(2));
  const auto findings = CheckPlanStructure(plan);
  ASSERT_EQ(findings.size(), 1u) << Describe(findings);
  EXPECT_EQ(findings[0].reason(), "DEPENDENCY_CYCLE");
  for (int n : {1, 2, 3}) EXPECT_THAT(findings[0].message(), HasSubstr(Vm(n)));
}

TEST(PlanCheckTest, EveryProblemIsListedNotOnlyTheFirst) {
  dr::v1::Plan plan = SimplePlan(2, 2);
  plan.set_target_site("sites/a");
  plan.mutable_groups(1)->set_id("G!");
  plan.mutable_groups(1)->mutable_vms(0)->set_vm_id("nope");
  EXPECT_EQ(CheckPlanStructure(plan).size(), 3u) << Describe(CheckPlanStructure(plan));
  EXPECT_THAT(std::string(FindingsStatus(CheckPlanStructure(plan), "plan.").message()),
              HasSubstr("and 2 more problems"));
}

TEST(PlanCheckTest, TenThousandVmsAreAnOrdinaryPlan) {
  dr::v1::Plan plan = SimplePlan(5, 2000);
  EXPECT_TRUE(CheckPlanStructure(plan).empty());
}

TEST(PlanCheckTest, TheHashChangesWithWhatThePlanAsksNotWithItsVersion) {
  dr::v1::Plan a = SimplePlan(1, 2);
  dr::v1::Plan b = a;
  b.set_version(7);
  b.set_etag("x");
  EXPECT_EQ(PlanHash(a), PlanHash(b));
  EXPECT_EQ(PlanHash(a).size(), 64u);
  b.mutable_groups(0)->mutable_vms(0)->set_critical(true);
  EXPECT_NE(PlanHash(a), PlanHash(b));
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
