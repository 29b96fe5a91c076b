// What SqliteStore::Open does with every kind of file it may be given: a
// refusal names the path and the reason, and a file that is refused is left
// byte for byte as it was.
#include "db/db_file.h"

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "db/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/schema.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/dbfile-", name);
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  mkdir(dir.c_str(), 0755);
  return dir;
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Reason(const absl::Status& s) { return DbProblemOf(s); }

// An hvdr database with some rows, checkpointed into the file.
void MakeHvdrDb(const std::string& path, int hosts = 1) {
  auto store = SqliteStore::Open(path, {});
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < hosts; ++i) {
    dr::v1::Host h;
    h.set_name(absl::StrCat("hosts/h", i));
    h.set_site("sites/s");
    h.set_agent_address(absl::StrCat("host-", i, "-with-a-long-name.example.com:5000"));
    ASSERT_TRUE((*store)->CreateHost(h, nullptr).ok());
  }
}

// Runs `body` on a thread without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
// (capabilities are per thread), so that file permissions apply to it as
// to any other user even when the test runs as root.
void WithoutFileCapabilities(const std::function<void()>& body) {
  std::thread t([&] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    ASSERT_EQ(syscall(SYS_capget, &header, data), 0);
    for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH}) {
      data[0].effective &= ~(1u << cap);
      data[0].permitted &= ~(1u << cap);
    }
    ASSERT_EQ(syscall(SYS_capset, &header, data), 0);
    body();
  });
  t.join();
}

TEST(DbFileTest, NewFileInAWritableDirectoryIsFine) {
  const std::string dir = TempDir("new");
  EXPECT_TRUE(CheckDatabaseFile(dir + "/drserver.db", StoreSchema()).ok());
  EXPECT_FALSE(Exists(dir + "/drserver.db"));
}

TEST(DbFileTest, MissingDirectoryIsNamed) {
  const absl::Status s = CheckDatabaseFile("/nonexistent-dir/x/y.db", StoreSchema());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Reason(s), kDbDirectoryMissing);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/nonexistent-dir/x/y.db"));
}

TEST(DbFileTest, DirectoryIsRefused) {
  const std::string dir = TempDir("dir");
  auto store = SqliteStore::Open(dir, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Reason(store.status()), kDbIsDirectory);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr(absl::StrCat("database ", dir, ": is a directory")));
}

TEST(DbFileTest, GarbageIsRefusedAndLeftAlone) {
  const std::string path = TempDir("garbage") + "/drserver.db";
  std::string garbage;
  for (int i = 0; i < 10000; ++i) garbage.push_back(static_cast<char>(i * 7919 % 251));
  Write(path, garbage);
  auto store = SqliteStore::Open(path, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Reason(store.status()), kDbNotSqlite);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_EQ(Contents(path), garbage);
  EXPECT_FALSE(Exists(path + "-wal"));
  EXPECT_FALSE(Exists(path + ".lock"));
}

TEST(DbFileTest, TruncatedHvdrDatabaseIsRefused) {
  const std::string path = TempDir("truncated") + "/drserver.db";
  MakeHvdrDb(path, 200);
  const std::string whole = Contents(path);
  ASSERT_GT(whole.size(), 8u * 4096);
  const std::string cut = whole.substr(0, whole.size() / 2 + 100);
  Write(path, cut);
  auto store = SqliteStore::Open(path, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Reason(store.status()), kDbTruncated);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_EQ(Contents(path), cut);
}

TEST(DbFileTest, TruncatedToLessThanAHeaderIsNotSqlite) {
  const std::string path = TempDir("stub") + "/drserver.db";
  MakeHvdrDb(path);
  Write(path, Contents(path).substr(0, 40));
  const absl::Status s = CheckDatabaseFile(path, StoreSchema());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Reason(s), ::testing::AnyOf(kDbNotSqlite, kDbTruncated));
}

TEST(DbFileTest, NewerSchemaIsRefusedAndLeftAlone) {
  const std::string path = TempDir("newer") + "/drserver.db";
  MakeHvdrDb(path);
  {
    auto db = Sqlite::Open(path, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        (*db)->Exec(absl::StrCat("PRAGMA user_version = ", LatestSchemaVersion() + 1)).ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA journal_mode = DELETE").ok());  // all in the one file
  }
  const std::string before = Contents(path);
  auto store = SqliteStore::Open(path, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(store.status()), kDbNewerSchema);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("newer"));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_EQ(Contents(path), before);
  EXPECT_FALSE(Exists(path + "-wal"));
  EXPECT_FALSE(Exists(path + "-shm"));
}

TEST(DbFileTest, ForeignSqliteDatabaseIsRefusedAndLeftByteForByte) {
  const std::string path = TempDir("foreign") + "/other.db";
  {
    auto db = Sqlite::Open(path, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
                           "INSERT INTO customers(name) VALUES ('acme');"
                           "PRAGMA journal_mode = DELETE;")
                    .ok());
  }
  const std::string before = Contents(path);
  auto store = SqliteStore::Open(path, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(store.status()), kDbForeign);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("customers"));
  EXPECT_EQ(Contents(path), before);
  EXPECT_FALSE(Exists(path + "-wal"));
  EXPECT_FALSE(Exists(path + "-shm"));
  EXPECT_FALSE(Exists(path + ".lock"));
}

TEST(DbFileTest, ForeignApplicationIdIsRefusedEvenWithHvdrTables) {
  const std::string path = TempDir("foreign-id") + "/drserver.db";
  MakeHvdrDb(path);
  {
    auto db = Sqlite::Open(path, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA application_id = 1234").ok());
  }
  EXPECT_EQ(Reason(CheckDatabaseFile(path, StoreSchema())), kDbForeign);
}

TEST(DbFileTest, TablelessFileClaimingOurSchemaVersionIsForeign) {
  const std::string path = TempDir("tableless") + "/x.db";
  {
    auto db = Sqlite::Open(path, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 2; PRAGMA journal_mode = DELETE;").ok());
  }
  const std::string before = Contents(path);
  EXPECT_EQ(Reason(SqliteStore::Open(path, {}).status()), kDbForeign);
  EXPECT_EQ(Contents(path), before);
}

TEST(DbFileTest, NewDatabaseIsStampedWithTheApplicationId) {
  const std::string path = TempDir("stamp") + "/drserver.db";
  MakeHvdrDb(path);
  auto db = Sqlite::Open(path, {});
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA application_id"), kHvdrApplicationId);
}

TEST(DbFileTest, OlderHvdrDatabaseWithoutApplicationIdOpensAndIsStamped) {
  const std::string path = TempDir("legacy") + "/drserver.db";
  {
    auto db = Sqlite::Open(path, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(MigrateSchema(**db).ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA application_id = 0").ok());  // as older releases left it
    ASSERT_TRUE((*db)->Exec("INSERT INTO sites(name) VALUES ('sites/old')").ok());
  }
  auto store = SqliteStore::Open(path, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto sites = (*store)->ListSites({});
  ASSERT_TRUE(sites.ok());
  ASSERT_EQ(sites->items.size(), 1u);
  store->reset();
  auto db = Sqlite::Open(path, {});
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA application_id"), kHvdrApplicationId);
}

TEST(DbFileTest, SecondStoreOnTheSameFileIsRefusedUntilTheFirstCloses) {
  const std::string path = TempDir("in-use") + "/drserver.db";
  auto first = SqliteStore::Open(path, {});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = SqliteStore::Open(path, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(second.status()), kDbInUse);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use by another drserver"));
  // The refusal did not disturb the first store.
  dr::v1::Host h;
  h.set_name("hosts/h");
  h.set_site("sites/s");
  h.set_agent_address("h:1");
  EXPECT_TRUE((*first)->CreateHost(h, nullptr).ok());
  first->reset();
  auto third = SqliteStore::Open(path, {});
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(DbFileTest, UnreadableFileIsRefused) {
  const std::string path = TempDir("unreadable") + "/drserver.db";
  MakeHvdrDb(path);
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  WithoutFileCapabilities([&] {
    auto store = SqliteStore::Open(path, {});
    EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(Reason(store.status()), kDbUnreadable);
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
    EXPECT_THAT(std::string(store.status().message()), HasSubstr("Permission denied"));
  });
  chmod(path.c_str(), 0644);
}

TEST(DbFileTest, ReadOnlyFileIsRefusedAndLeftAlone) {
  const std::string path = TempDir("read-only") + "/drserver.db";
  MakeHvdrDb(path);
  const std::string before = Contents(path);
  ASSERT_EQ(chmod(path.c_str(), 0444), 0);
  WithoutFileCapabilities([&] {
    auto store = SqliteStore::Open(path, {});
    EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(Reason(store.status()), kDbReadOnly);
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  });
  EXPECT_EQ(Contents(path), before);
  chmod(path.c_str(), 0644);
}

TEST(DbFileTest, ReadOnlyDirectoryIsRefused) {
  const std::string dir = TempDir("read-only-dir");
  const std::string path = dir + "/drserver.db";
  MakeHvdrDb(path);
  ASSERT_EQ(chmod(dir.c_str(), 0555), 0);
  WithoutFileCapabilities([&] {
    auto store = SqliteStore::Open(path, {});
    EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(Reason(store.status()), kDbDirectoryReadOnly);
    EXPECT_THAT(std::string(store.status().message()), HasSubstr(dir));
  });
  chmod(dir.c_str(), 0755);
}

}  // namespace
}  // namespace hvdr
