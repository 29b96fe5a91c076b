#include "server/audit_log.h"

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

TEST(AuditLogTest, WhatIsRecordedIsDurableAfterFlushAndInTheFile) {
  auto store = SqliteStore::Open(":memory:", {});
  ASSERT_TRUE(store.ok());
  const std::string file = std::string(std::getenv("TEST_TMPDIR")) + "/audit.jsonl";
  {
    AuditLog log(store->get(), AuditLog::Options{file});
    for (int i = 0; i < 50; ++i) {
      dr::v1::AuditEvent e;
      e.set_identity(i % 2 ? "bob" : "carol");
      e.set_method("/dr.v1.FailoverService/InitiateFailover");
      log.Record(e);
    }
    log.Flush();
    auto listed = (*store)->ListAuditEvents({}, {1000, ""});
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ(listed->items.size(), 50u);
    dr::v1::AuditEvent last;
    last.set_identity("dave");
    log.Record(last);
  }  // the destructor writes what is queued
  AuditFilter dave;
  dave.identity = "dave";
  EXPECT_EQ((*store)->ListAuditEvents(dave, {})->items.size(), 1u);
  std::ifstream in(file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    EXPECT_NE(line.find("\"identity\""), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 51);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
