#include "db/file_lock.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace {

std::string TestPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, ".lock");
}

TEST(FileLockTest, ASecondHolderIsRefusedUntilTheFirstReleases) {
  const std::string path = TestPath("second");
  auto first = FileLock::TryAcquire(path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = FileLock::TryAcquire(path);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find(path), absl::string_view::npos);
  first->reset();
  EXPECT_TRUE(FileLock::TryAcquire(path).ok());
}

TEST(FileLockTest, AnotherProcessIsRefusedAndTheLockDiesWithItsHolder) {
  const std::string path = TestPath("process");
  auto held = FileLock::TryAcquire(path);
  ASSERT_TRUE(held.ok());
  const pid_t child = fork();
  if (child == 0)
    _exit(FileLock::TryAcquire(path).status().code() == absl::StatusCode::kFailedPrecondition ? 0
                                                                                              : 1);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  held->reset();
  // A holder that is killed releases it with its death.
  const pid_t holder = fork();
  if (holder == 0) {
    auto lock = FileLock::TryAcquire(path);
    while (!lock.ok()) lock = FileLock::TryAcquire(path);  // the parent may be probing it
    pause();
    _exit(0);
  }
  while (FileLock::TryAcquire(path).ok()) usleep(1000);  // until the child holds it
  kill(holder, SIGKILL);
  waitpid(holder, &status, 0);
  EXPECT_TRUE(FileLock::TryAcquire(path).ok());
}

TEST(FileLockTest, AnUnopenablePathIsUnavailableNamingIt) {
  auto lock = FileLock::TryAcquire("/nonexistent-dir/x.lock");
  EXPECT_EQ(lock.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(lock.status().message().find("/nonexistent-dir/x.lock"), absl::string_view::npos);
}

}  // namespace
}  // namespace hvdr
