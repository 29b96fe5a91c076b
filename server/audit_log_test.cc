#include "server/audit_log.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/synchronization/notification.h"
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

TEST(AuditLogTest, AMirroredEventGoesToTheFileOnlyInItsTurn) {
  auto store = SqliteStore::Open(":memory:", {});
  ASSERT_TRUE(store.ok());
  const std::string file = std::string(std::getenv("TEST_TMPDIR")) + "/mirror.jsonl";
  {
    AuditLog log(store->get(), AuditLog::Options{file});
    dr::v1::AuditEvent e;
    e.set_identity("first");
    log.Record(e);
    e.set_identity("stored-with-its-job");
    log.Mirror(e);
    e.set_identity("third");
    log.Record(e);
    log.Flush();
  }
  // In the store only the two recorded (the mirrored one is there already).
  auto listed = (*store)->ListAuditEvents({}, {});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->items.size(), 2u);
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("stored-with-its-job"), std::string::npos) << lines[1];
}

// A store whose appends fail until `fail` is cleared (a full disk).
class FullDisk : public AuditStore {
 public:
  absl::Status AppendAuditEvents(const std::vector<dr::v1::AuditEvent>& events) override {
    absl::MutexLock lock(&mu);
    ++attempts;
    if (fail) return absl::ResourceExhaustedError("database or disk is full");
    stored.insert(stored.end(), events.begin(), events.end());
    return absl::OkStatus();
  }
  absl::StatusOr<Page<dr::v1::AuditEvent>> ListAuditEvents(const AuditFilter&,
                                                           const PageRequest&) override {
    return absl::UnimplementedError("not here");
  }
  absl::Mutex mu;
  bool fail ABSL_GUARDED_BY(mu) = true;
  int attempts ABSL_GUARDED_BY(mu) = 0;
  std::vector<dr::v1::AuditEvent> stored ABSL_GUARDED_BY(mu);
};

TEST(AuditLogTest, AFullDiskDoesNotHoldTheCallAndTheEventIsWrittenOnceThereIsRoom) {
  FullDisk disk;
  AuditLog log(&disk, AuditLog::Options{});
  absl::Notification answered;
  dr::v1::AuditEvent e;
  e.set_identity("bob");
  log.Record(e, [&answered] { answered.Notify(); });
  // The call goes on although its event could not be written...
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  {
    absl::MutexLock lock(&disk.mu);
    EXPECT_TRUE(disk.stored.empty());
    disk.fail = false;  // room again
  }
  // ...and the event is kept and written once it can be.
  log.Flush();
  absl::MutexLock lock(&disk.mu);
  ASSERT_EQ(disk.stored.size(), 1u);
  EXPECT_EQ(disk.stored[0].identity(), "bob");
  EXPECT_GE(disk.attempts, 2);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
