// Kills a writer process with SIGKILL at random moments and checks, after
// each kill, that every write it acknowledged is in the database and that
// PRAGMA integrity_check is ok.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace {

constexpr int kTestKills = 25;

std::string WriterPath() {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/", std::getenv("TEST_WORKSPACE"),
                      "/storage/crash_writer");
}

// Runs the writer until its first acknowledged write and `run_for` more,
// then SIGKILLs it; returns what it printed.
std::string RunAndKill(const std::string& db, int run, absl::Duration run_for) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::string writer = WriterPath();
    std::string run_id = absl::StrCat(run);
    execl(writer.c_str(), writer.c_str(), db.c_str(), run_id.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  // The kill comes `run_for` after the writer's first acknowledged write,
  // whatever its start costs (an instrumented build starts in hundreds of
  // ms): every run then kills it among writes, not before them.
  std::string out;
  char buf[65536];
  ssize_t n;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (out.find('\n') == std::string::npos && absl::Now() < give_up) {
    struct pollfd p = {fds[0], POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;  // it exited: the status below says so
    out.append(buf, n);
  }
  absl::SleepFor(run_for);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "writer exited on its own (status " << status << ") in run " << run;
  return out;
}

TEST(CrashDurabilityTest, AcknowledgedWritesSurviveSigkill) {
  const std::string db = absl::StrCat(std::getenv("TEST_TMPDIR"), "/crash.db");
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> ms(5, 120);
  // job -> highest acknowledged version
  std::map<std::string, int64_t> acked;
  int64_t total_acks = 0;
  for (int run = 0; run < kTestKills; ++run) {
    std::string out = RunAndKill(db, run, absl::Milliseconds(ms(rng)));
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      // Only complete lines count; a torn last line is ignored.
      if (f.size() != 3 || f[0] != "ACK" || &line.back() == &out.back()) continue;
      int64_t version = std::stoll(f[2]);
      acked[f[1]] = std::max(acked[f[1]], version);
      ++total_acks;
    }
    auto store = SqliteStore::Open(db, {});
    ASSERT_TRUE(store.ok()) << "run " << run << ": " << store.status();
    ASSERT_TRUE((*store)->CheckIntegrity().ok()) << "run " << run;
    for (const auto& [job, version] : acked) {
      auto got = (*store)->GetJob(job);
      ASSERT_TRUE(got.ok()) << "run " << run << ": acknowledged " << job
                            << " lost: " << got.status();
      ASSERT_GE(got->version(), version) << "run " << run << ": update of " << job << " lost";
      auto events = (*store)->ListJobEvents(job, {});
      ASSERT_TRUE(events.ok());
      ASSERT_EQ(static_cast<int64_t>(events->items.size()), got->version())
          << "job and its events disagree for " << job;
    }
  }
  // The test means something only if the writer got writes in.
  EXPECT_GT(total_acks, kTestKills);
  std::printf("%lld acknowledged writes over %d kills, all present\n",
              static_cast<long long>(total_acks), kTestKills);
}

}  // namespace
}  // namespace hvdr
