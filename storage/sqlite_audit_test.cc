#include <string>

#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace {

dr::v1::AuditEvent Event(int64_t at_s, const std::string& who, const std::string& method,
                         const std::string& resource, int code = 0) {
  dr::v1::AuditEvent e;
  FromMicros(at_s * 1000000, e.mutable_time());
  e.set_identity(who);
  e.set_method(method);
  e.set_resource(resource);
  e.set_status_code(code);
  return e;
}

class SqliteAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(":memory:", {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_
                    ->AppendAuditEvents({
                        Event(100, "bob", "/dr.v1.FailoverService/InitiateFailover",
                              "hosts/h/virtualMachines/A"),
                        Event(200, "carol", "/dr.v1.FailoverService/InitiateFailover",
                              "hosts/h/virtualMachines/B", 7),
                        Event(300, "bob", "/dr.v1.PlanService/StartPlanExecution", "plans/site"),
                    })
                    .ok());
  }
  std::vector<std::string> Names(const AuditFilter& f, PageRequest page = {}) {
    auto listed = store_->ListAuditEvents(f, page);
    EXPECT_TRUE(listed.ok()) << listed.status();
    std::vector<std::string> names;
    if (listed.ok()) {
      for (const auto& e : listed->items) names.push_back(e.name());
    }
    return names;
  }
  std::unique_ptr<SqliteStore> store_;
};

using ::testing::ElementsAre;

TEST_F(SqliteAuditTest, EventsAreNamedInOrderAndListedNewestFirst) {
  EXPECT_THAT(Names({}), ElementsAre("auditEvents/3", "auditEvents/2", "auditEvents/1"));
  auto listed = store_->ListAuditEvents({}, {});
  EXPECT_EQ(listed->items[1].identity(), "carol");
  EXPECT_EQ(listed->items[1].status_code(), 7);
}

TEST_F(SqliteAuditTest, EveryFilterNarrows) {
  AuditFilter by_identity;
  by_identity.identity = "bob";
  EXPECT_THAT(Names(by_identity), ElementsAre("auditEvents/3", "auditEvents/1"));
  AuditFilter by_resource;
  by_resource.resource = "hosts/h/virtualMachines/B";
  EXPECT_THAT(Names(by_resource), ElementsAre("auditEvents/2"));
  AuditFilter by_method;
  by_method.method = "InitiateFailover";
  EXPECT_THAT(Names(by_method), ElementsAre("auditEvents/2", "auditEvents/1"));
  by_method.method = "/dr.v1.PlanService/StartPlanExecution";
  EXPECT_THAT(Names(by_method), ElementsAre("auditEvents/3"));
  by_method.method = "%";  // a LIKE wildcard is a character, not a pattern
  EXPECT_TRUE(Names(by_method).empty());
  AuditFilter by_time;
  by_time.start = absl::FromUnixSeconds(150);
  by_time.end = absl::FromUnixSeconds(300);
  EXPECT_THAT(Names(by_time), ElementsAre("auditEvents/2"));
}

TEST_F(SqliteAuditTest, PagesFollowEachOtherAndATokenIsForItsOwnFilter) {
  PageRequest first{2, ""};
  auto page1 = store_->ListAuditEvents({}, first);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->items.size(), 2u);
  ASSERT_FALSE(page1->next_page_token.empty());
  EXPECT_THAT(Names({}, PageRequest{2, page1->next_page_token}), ElementsAre("auditEvents/1"));
  AuditFilter other;
  other.identity = "bob";
  auto wrong = store_->ListAuditEvents(other, PageRequest{2, page1->next_page_token});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hvdr
