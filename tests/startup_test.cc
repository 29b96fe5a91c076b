// drserver refusing to start: each bad start-up (a port in use, a database
// path it cannot use, a damaged, foreign or newer database, a database
// another drserver holds) ends the process with one line on stderr naming
// the path or address and the reason, and the exit code documented in
// docs/api.md - never a crash, and never a write to a file it refuses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "db/sqlite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/schema.h"
#include "storage/sqlite_store.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

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

struct Exit {
  int code;
  std::string err;
};

// Runs drserver to its exit. `no_file_capabilities`: without
// CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH (when running as root, through
// capsh), so that file permissions apply to it.
Exit Drserver(const std::vector<std::string>& flags, bool no_file_capabilities = false) {
  std::vector<std::string> argv;
  if (no_file_capabilities && geteuid() == 0) {
    argv = {
        "/usr/sbin/capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", "exec \"$@\"",
        "drserver"};
  }
  argv.push_back(RunfilePath("server/drserver"));
  argv.push_back("--listen=127.0.0.1:0");
  argv.push_back("--insecure");
  argv.insert(argv.end(), flags.begin(), flags.end());
  Exit r;
  std::string out;
  r.code = RunCommand(argv, &out, &r.err);
  return r;
}

// The one line drserver wrote, checked for its shape.
void ExpectOneLine(const Exit& r, const std::string& mentions, const std::string& reason) {
  std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_THAT(lines[0], StartsWith("drserver: cannot start: "));
  EXPECT_THAT(lines[0], HasSubstr(mentions));
  EXPECT_THAT(lines[0], HasSubstr(reason));
}

class StartupTest : public ::testing::Test {
 protected:
  std::string dir_ = NewTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::string db_ = dir_ + "/drserver.db";
};

TEST_F(StartupTest, PortInUse) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string listen = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  Exit r = Drserver({"--listen=" + listen, "--db=" + db_});
  EXPECT_EQ(r.code, 3) << r.err;
  ExpectOneLine(r, listen, "Address already in use");
  close(fd);
}

TEST_F(StartupTest, PortOfAnotherDrserverIsNotShared) {
  Subprocess first;
  ASSERT_TRUE(first
                  .Start({RunfilePath("server/drserver"), "--listen=127.0.0.1:0", "--insecure",
                          "--db=" + db_, "--port_file=" + dir_ + "/port"},
                         dir_ + "/first.log")
                  .ok());
  auto port = first.WaitForPortFile(dir_ + "/port", absl::Seconds(30));
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string listen = absl::StrCat("127.0.0.1:", *port);
  Exit r = Drserver({"--listen=" + listen, "--db=" + dir_ + "/other.db"});
  EXPECT_EQ(r.code, 3) << r.err;
  ExpectOneLine(r, listen, "Address already in use");
}

TEST_F(StartupTest, SecondDrserverOnTheSameDatabase) {
  Subprocess first;
  ASSERT_TRUE(first
                  .Start({RunfilePath("server/drserver"), "--listen=127.0.0.1:0", "--insecure",
                          "--db=" + db_, "--port_file=" + dir_ + "/port"},
                         dir_ + "/first.log")
                  .ok());
  ASSERT_TRUE(first.WaitForPortFile(dir_ + "/port", absl::Seconds(30)).ok());
  Exit r = Drserver({"--db=" + db_});
  EXPECT_EQ(r.code, 8) << r.err;
  ExpectOneLine(r, db_, "in use by another drserver");
  // Once the first has stopped, the database opens.
  first.Signal(SIGTERM);
  Subprocess again;
  ASSERT_TRUE(again
                  .Start({RunfilePath("server/drserver"), "--listen=127.0.0.1:0", "--insecure",
                          "--db=" + db_, "--port_file=" + dir_ + "/port2"},
                         dir_ + "/again.log")
                  .ok());
  EXPECT_TRUE(again.WaitForPortFile(dir_ + "/port2", absl::Seconds(30)).ok());
}

TEST_F(StartupTest, DatabasePathIsADirectory) {
  Exit r = Drserver({"--db=" + dir_});
  EXPECT_EQ(r.code, 4) << r.err;
  ExpectOneLine(r, dir_, "is a directory");
}

TEST_F(StartupTest, DatabaseDirectoryDoesNotExist) {
  Exit r = Drserver({"--db=" + dir_ + "/missing/drserver.db"});
  EXPECT_EQ(r.code, 4) << r.err;
  ExpectOneLine(r, dir_ + "/missing", "does not exist");
}

TEST_F(StartupTest, UnreadableDatabase) {
  MakeHvdrDb(db_);
  ASSERT_EQ(chmod(db_.c_str(), 0), 0);
  Exit r = Drserver({"--db=" + db_}, /*no_file_capabilities=*/true);
  EXPECT_EQ(r.code, 4) << r.err;
  ExpectOneLine(r, db_, "Permission denied");
}

TEST_F(StartupTest, ReadOnlyDatabaseFile) {
  MakeHvdrDb(db_);
  const std::string before = Contents(db_);
  ASSERT_EQ(chmod(db_.c_str(), 0444), 0);
  Exit r = Drserver({"--db=" + db_}, /*no_file_capabilities=*/true);
  EXPECT_EQ(r.code, 4) << r.err;
  ExpectOneLine(r, db_, "not writable");
  EXPECT_EQ(Contents(db_), before);
}

TEST_F(StartupTest, ReadOnlyDatabaseDirectory) {
  MakeHvdrDb(db_);
  ASSERT_EQ(chmod(dir_.c_str(), 0555), 0);
  Exit r = Drserver({"--db=" + db_}, /*no_file_capabilities=*/true);
  chmod(dir_.c_str(), 0755);
  EXPECT_EQ(r.code, 4) << r.err;
  ExpectOneLine(r, dir_, "not writable");
}

TEST_F(StartupTest, GarbageFile) {
  std::string garbage;
  for (int i = 0; i < 5000; ++i) garbage.push_back(static_cast<char>(i * 31 % 253));
  Write(db_, garbage);
  Exit r = Drserver({"--db=" + db_});
  EXPECT_EQ(r.code, 5) << r.err;
  ExpectOneLine(r, db_, "not an SQLite database");
  EXPECT_EQ(Contents(db_), garbage);
}

TEST_F(StartupTest, TruncatedDatabase) {
  MakeHvdrDb(db_, 200);
  const std::string whole = Contents(db_);
  const std::string cut = whole.substr(0, whole.size() / 2);
  Write(db_, cut);
  Exit r = Drserver({"--db=" + db_});
  EXPECT_EQ(r.code, 5) << r.err;
  ExpectOneLine(r, db_, "truncated");
  EXPECT_EQ(Contents(db_), cut);
}

TEST_F(StartupTest, ForeignSqliteDatabaseIsLeftByteForByte) {
  {
    auto db = Sqlite::Open(db_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)
                    ->Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);"
                           "INSERT INTO invoices(total) VALUES (12.5);"
                           "PRAGMA journal_mode = DELETE;")
                    .ok());
  }
  const std::string before = Contents(db_);
  Exit r = Drserver({"--db=" + db_});
  EXPECT_EQ(r.code, 6) << r.err;
  ExpectOneLine(r, db_, "another program");
  EXPECT_EQ(Contents(db_), before);
  struct stat st;
  EXPECT_NE(stat((db_ + "-wal").c_str(), &st), 0);
}

TEST_F(StartupTest, NewerSchema) {
  MakeHvdrDb(db_);
  {
    auto db = Sqlite::Open(db_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        (*db)->Exec(absl::StrCat("PRAGMA user_version = ", LatestSchemaVersion() + 1)).ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA journal_mode = DELETE").ok());
  }
  const std::string before = Contents(db_);
  Exit r = Drserver({"--db=" + db_});
  EXPECT_EQ(r.code, 7) << r.err;
  ExpectOneLine(r, db_, "newer");
  EXPECT_EQ(Contents(db_), before);
}

}  // namespace
}  // namespace testing
}  // namespace hvdr
