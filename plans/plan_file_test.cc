#include "plans/plan_file.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plans/test_plans.h"

namespace hvdr {
namespace plans {
namespace {

using ::testing::HasSubstr;

TEST(PlanFileTest, AHandWrittenPlanParsesAndRoundTrips) {
  const std::string text = R"(# Site failover of the SQL tier.
description: "SQL tier"
source_site: "sites/primary"
target_site: "sites/dr"
groups {
  id: "db"
  vms { vm_id: "00000000-0000-0000-0000-000000000001" critical: true }
}
)";
  absl::StatusOr<dr::v1::Plan> plan = ParsePlanText(text, "sql.plan.textproto");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->groups(0).vms(0).vm_id(), "00000000-0000-0000-0000-000000000001");
  absl::StatusOr<dr::v1::Plan> again = ParsePlanText(PlanText(*plan), "x");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), plan->SerializeAsString());
}

TEST(PlanFileTest, AMistakeIsNamedWithFileLineAndColumn) {
  absl::StatusOr<dr::v1::Plan> plan =
      ParsePlanText("source_site: \"sites/a\"\ngroups {\n  idd: \"db\"\n}\n", "p.textproto");
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("p.textproto:3:"));
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("idd"));
}

TEST(PlanFileTest, UnknownEnumValuesAreRefused) {
  absl::StatusOr<dr::v1::Plan> plan =
      ParsePlanText("groups { vms { startup_action: STARTUP_ACTION_MAYBE } }", "p");
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("STARTUP_ACTION_MAYBE"));
}

TEST(PlanFileTest, TextThatIsNotUtf8IsRefusedNamingTheField) {
  absl::StatusOr<dr::v1::Plan> plan =
      ParsePlanText("groups { id: \"g\" vms { vm_id: \"\\xff\" } }", "p");
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("groups[0].vms[0].vm_id"));
  EXPECT_TRUE(ParsePlanText("description: \"d\\303\\251j\\303\\240 vu\"", "p").ok())
      << "UTF-8 escapes are text";
}

TEST(PlanFileTest, OutputOnlyFieldsAreDropped) {
  absl::StatusOr<dr::v1::Plan> plan = ParsePlanText("version: 9 etag: \"abc\"", "p");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->version(), 0);
  EXPECT_TRUE(plan->etag().empty());
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
