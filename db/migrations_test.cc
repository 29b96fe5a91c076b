#include "db/migrations.h"

#include <gtest/gtest.h>

namespace hvdr {
namespace {

const Schema& TwoStep() {
  static const Schema* const kSchema = new Schema{
      0x54455354,  // "TEST"
      {"CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y INTEGER;"},
      {"a"},
  };
  return *kSchema;
}

int64_t Pragma(Sqlite& db, const char* name) {
  absl::StatusOr<int64_t> v = db.QueryInt(std::string("PRAGMA ") + name);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : -1;
}

TEST(MigrationsTest, AppliesEachStepOnceAndStamps) {
  auto db = Sqlite::Open(":memory:", {});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(Migrate(**db, TwoStep(), 1).ok());
  EXPECT_EQ(Pragma(**db, "user_version"), 1);
  EXPECT_EQ(Pragma(**db, "application_id"), 0x54455354);
  ASSERT_TRUE(Migrate(**db, TwoStep()).ok());
  EXPECT_EQ(Pragma(**db, "user_version"), 2);
  // Again: nothing left to apply (the ALTER would fail if it ran twice).
  EXPECT_TRUE(Migrate(**db, TwoStep()).ok());
  EXPECT_TRUE((*db)->Exec("INSERT INTO a(x, y) VALUES (1, 2)").ok());
}

TEST(MigrationsTest, RefusesANewerDatabaseAndWritesNothing) {
  auto db = Sqlite::Open(":memory:", {});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 3").ok());
  absl::Status s = Migrate(**db, TwoStep());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("newer"), std::string::npos) << s;
  EXPECT_EQ(Pragma(**db, "application_id"), 0);
}

TEST(MigrationsTest, RefusesAnotherProgramsDatabase) {
  auto db = Sqlite::Open(":memory:", {});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("PRAGMA application_id = 7").ok());
  absl::Status s = Migrate(**db, TwoStep());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Pragma(**db, "user_version"), 0);
}

TEST(MigrationsTest, AFailedStepLeavesTheVersionBefore) {
  const Schema bad{
      0x54455354, {"CREATE TABLE a (x INTEGER);", "ALTER TABLE nope ADD COLUMN y;"}, {}};
  auto db = Sqlite::Open(":memory:", {});
  ASSERT_TRUE(db.ok());
  absl::Status s = Migrate(**db, bad);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("schema migration 1 -> 2"), std::string::npos) << s;
  EXPECT_EQ(Pragma(**db, "user_version"), 1);
}

// Migration 1's code: copies a's x into y (as a migration would fill a new
// table from rows SQL cannot read).
absl::Status FillY(Sqlite& db) { return db.Exec("UPDATE a SET y = x * 10"); }

absl::Status Fail(Sqlite&) { return absl::DataLossError("a row does not parse"); }

TEST(MigrationsTest, AStepsCodeRunsOnceAfterItsSql) {
  const Schema with_code{0x54455354,
                         {"CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y INTEGER;"},
                         {},
                         {{1, &FillY}}};
  auto db = Sqlite::Open(":memory:", {});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(Migrate(**db, with_code, 1).ok());
  ASSERT_TRUE((*db)->Exec("INSERT INTO a(x) VALUES (4)").ok());
  ASSERT_TRUE(Migrate(**db, with_code).ok());
  EXPECT_EQ(*(*db)->QueryInt("SELECT y FROM a"), 40);
  ASSERT_TRUE((*db)->Exec("UPDATE a SET y = 0").ok());
  ASSERT_TRUE(Migrate(**db, with_code).ok());
  EXPECT_EQ(*(*db)->QueryInt("SELECT y FROM a"), 0) << "applied once";
}

TEST(MigrationsTest, AFailedStepsCodeUndoesItsSql) {
  const Schema failing{
      0x54455354, {"CREATE TABLE a (x INTEGER);", "CREATE TABLE b (x INTEGER);"}, {}, {{1, &Fail}}};
  auto db = Sqlite::Open(":memory:", {});
  ASSERT_TRUE(db.ok());
  absl::Status s = Migrate(**db, failing);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("schema migration 1 -> 2"), std::string::npos) << s;
  EXPECT_EQ(Pragma(**db, "user_version"), 1);
  EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0)
      << "the step's SQL is rolled back with it";
}

}  // namespace
}  // namespace hvdr
