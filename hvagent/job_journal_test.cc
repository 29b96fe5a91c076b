#include "hvagent/job_journal.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace agent {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

Operation Failover(const std::string& vm) {
  Operation op;
  op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
  op.vm_id = vm;
  return op;
}

TEST(JobJournalTest, EntriesSurviveReopeningWithTheirPhase) {
  const std::string path = TempPath("reopen.journal");
  {
    auto j = JobJournal::Open(path);
    ASSERT_TRUE(j.ok()) << j.status();
    ASSERT_TRUE((*j)->InsertPending("jobs/a", Failover("vm-a"), absl::FromUnixSeconds(100)).ok());
    ASSERT_TRUE((*j)->InsertPending("jobs/b", Failover("vm-b"), absl::FromUnixSeconds(101)).ok());
    ASSERT_TRUE((*j)->MarkStarted("jobs/a", "hv-job-1").ok());
    dr::v1::AgentJobStatus done;
    done.set_job_id("jobs/b");
    done.set_state(dr::v1::JOB_STATE_COMPLETED);
    ASSERT_TRUE((*j)->MarkDone("jobs/b", done).ok());
    EXPECT_EQ((*j)->InsertPending("jobs/a", Failover("vm-a"), absl::FromUnixSeconds(102)).code(),
              absl::StatusCode::kAlreadyExists);
  }
  auto j = JobJournal::Open(path);
  ASSERT_TRUE(j.ok()) << j.status();
  auto open = (*j)->ListUnfinished();
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].job_id, "jobs/a");
  EXPECT_EQ((*open)[0].phase, JournalEntry::Phase::kStarted);
  EXPECT_EQ((*open)[0].hypervisor_job_id, "hv-job-1");
  auto b = (*j)->Get("jobs/b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->phase, JournalEntry::Phase::kDone);
  EXPECT_EQ(b->final_status.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ((*j)->Get("jobs/never").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobJournalTest, PruneDeletesOldDoneEntriesOnlyInBatches) {
  auto j = JobJournal::Open(":memory:");
  ASSERT_TRUE(j.ok()) << j.status();
  // Five old done jobs, one old unfinished, one old started, one recent done.
  dr::v1::AgentJobStatus done;
  done.set_state(dr::v1::JOB_STATE_COMPLETED);
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("jobs/old-", i);
    ASSERT_TRUE((*j)->InsertPending(id, Failover("vm"), absl::FromUnixSeconds(100 + i)).ok());
    ASSERT_TRUE((*j)->MarkDone(id, done).ok());
  }
  ASSERT_TRUE(
      (*j)->InsertPending("jobs/old-pending", Failover("vm"), absl::FromUnixSeconds(50)).ok());
  ASSERT_TRUE(
      (*j)->InsertPending("jobs/old-started", Failover("vm"), absl::FromUnixSeconds(51)).ok());
  ASSERT_TRUE((*j)->MarkStarted("jobs/old-started", "hv-1").ok());
  ASSERT_TRUE((*j)->InsertPending("jobs/recent", Failover("vm"), absl::FromUnixSeconds(1000)).ok());
  ASSERT_TRUE((*j)->MarkDone("jobs/recent", done).ok());
  const absl::Time cutoff = absl::FromUnixSeconds(500);
  auto first = (*j)->PruneDone(cutoff, 3);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 3) << "a batch is bounded";
  auto second = (*j)->PruneDone(cutoff, 3);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, 2) << "fewer than a batch: nothing older is left";
  EXPECT_EQ(*(*j)->PruneDone(cutoff, 3), 0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*j)->Get(absl::StrCat("jobs/old-", i)).status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_TRUE((*j)->Get("jobs/old-pending").ok()) << "an unfinished job is never pruned";
  EXPECT_TRUE((*j)->Get("jobs/old-started").ok()) << "an unfinished job is never pruned";
  EXPECT_TRUE((*j)->Get("jobs/recent").ok()) << "within the retention";
  EXPECT_EQ((*j)->ListUnfinished()->size(), 2u);
}

TEST(JobJournalTest, SeveralOutcomesInOneCallAnUnknownJobSinksNoOther) {
  auto j = JobJournal::Open(":memory:");
  ASSERT_TRUE(j.ok()) << j.status();
  for (const char* id : {"jobs/a", "jobs/b"}) {
    ASSERT_TRUE((*j)->InsertPending(id, Failover(id), absl::FromUnixSeconds(100)).ok());
  }
  std::vector<std::pair<std::string, dr::v1::AgentJobStatus>> done(3);
  done[0].first = "jobs/a";
  done[0].second.set_state(dr::v1::JOB_STATE_COMPLETED);
  done[1].first = "jobs/never";
  done[2].first = "jobs/b";
  done[2].second.set_state(dr::v1::JOB_STATE_EXCEPTION);
  done[2].second.set_error_code(32768);
  std::vector<absl::Status> out = (*j)->MarkDone(done);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].ok());
  EXPECT_EQ(out[1].code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(out[2].ok());
  EXPECT_EQ((*j)->Get("jobs/a")->final_status.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ((*j)->Get("jobs/b")->final_status.error_code(), 32768u);
  EXPECT_TRUE((*j)->ListUnfinished()->empty());
  EXPECT_TRUE((*j)->MarkDone({}).empty());
}

// The agent's workers start jobs in parallel: the writes that come while
// one commits share the next commit (one fsync) instead of one each, and
// a write refused in that commit (a duplicate id) sinks no other.
TEST(JobJournalTest, WritesThatComeDuringACommitShareTheNextOne) {
  auto j = JobJournal::Open(TempPath("group.journal"));
  ASSERT_TRUE(j.ok()) << j.status();
  JobJournal* journal = j->get();
  constexpr int kBehind = 6;  // writes queued while the first commits
  absl::Notification first_commits;
  std::vector<int> groups;  // the writes of each commit, in order
  journal->SetBeforeCommitForTest([&](int writes) {
    groups.push_back(writes);
    if (groups.size() > 1) return;
    first_commits.Notify();
    // Held until the others wait behind it (the first and kBehind).
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (journal->QueuedForTest() < 1 + kBehind && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  });
  absl::Status first;
  std::thread leader([&] {
    first = journal->InsertPending("jobs/a", Failover("vm-a"), absl::FromUnixSeconds(1));
  });
  first_commits.WaitForNotification();
  std::vector<absl::Status> behind(kBehind);
  std::vector<std::thread> threads;
  for (int i = 0; i < kBehind; ++i) {
    threads.emplace_back([&, i] {
      // The last one reuses the first's id.
      const std::string id = i + 1 < kBehind ? absl::StrCat("jobs/b", i) : "jobs/a";
      behind[i] = journal->InsertPending(id, Failover("vm-b"), absl::FromUnixSeconds(2));
    });
  }
  leader.join();
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(first.ok()) << first;
  for (int i = 0; i + 1 < kBehind; ++i) EXPECT_TRUE(behind[i].ok()) << i << ": " << behind[i];
  EXPECT_EQ(behind[kBehind - 1].code(), absl::StatusCode::kAlreadyExists) << behind[kBehind - 1];
  EXPECT_EQ(journal->CommitsForTest(), 2);
  EXPECT_THAT(groups, ::testing::ElementsAre(1, kBehind));
  EXPECT_EQ(journal->ListUnfinished()->size(), static_cast<size_t>(kBehind));
  EXPECT_EQ(journal->Get("jobs/a")->op.vm_id, "vm-a");  // the duplicate changed nothing
  // A write that fails in a group of one is still only its own.
  EXPECT_EQ(journal->MarkStarted("jobs/never", "hv-1").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(journal->MarkStarted("jobs/a", "hv-1").ok());
  EXPECT_EQ(journal->Get("jobs/a")->hypervisor_job_id, "hv-1");
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// SQLite's own checkpoint is off (it would pause a commit); the journal's
// checkpoints keep the WAL from growing with every job.
TEST(JobJournalTest, CheckpointsKeepTheWalFromGrowing) {
  const std::string path = TempPath("checkpoint.journal");
  auto j = JobJournal::Open(path);
  ASSERT_TRUE(j.ok()) << j.status();
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 200; ++i) {
      const std::string id = absl::StrCat("jobs/", round, "-", i);
      ASSERT_TRUE((*j)->InsertPending(id, Failover(id), absl::FromUnixSeconds(100)).ok());
      ASSERT_TRUE((*j)->MarkStarted(id, "hv-" + id).ok());
    }
    ASSERT_TRUE((*j)->CheckpointOnce().ok());
  }
  // Every commit appends at least one page (4 KiB and a 24-byte header) to
  // the WAL: without checkpoints the 8,000 commits above would leave it
  // over 32 MiB. With them it starts over after each round: about a
  // round's worth (the background checkpoints, whenever they run, only
  // make it smaller). A bound on the size, not on timing.
  const int64_t without_checkpoints = int64_t{8000} * (4096 + 24);
  EXPECT_LE(FileSize(path + "-wal"), without_checkpoints / 4);
  EXPECT_EQ((*j)->ListUnfinished()->size(), 4000u);
}

// A job's end writes its row and nothing else: one page in the WAL. (The
// journal's first schema kept unfinished and done jobs in two partial
// indexes, and each end moved the row from one to the other: three pages
// per end; bench/journal_bench measured a third more journal CPU per job.)
TEST(JobJournalTest, AJobsEndWritesOnePage) {
  const std::string path = TempPath("end-pages.journal");
  auto j = JobJournal::Open(path, "NORMAL");
  ASSERT_TRUE(j.ok()) << j.status();
  for (int i = 0; i < 50; ++i) {
    const std::string id = absl::StrCat("jobs/", 1000 + i);
    ASSERT_TRUE((*j)->InsertPending(id, Failover("vm-1"), absl::FromUnixSeconds(100 + i)).ok());
    ASSERT_TRUE((*j)->MarkStarted(id, absl::StrCat("hv-", i)).ok());
  }
  ASSERT_TRUE((*j)->WalFramesForTest().ok());  // everything copied: the next write starts over
  dr::v1::AgentJobStatus done;
  done.set_job_id("jobs/1025");
  done.set_state(dr::v1::JOB_STATE_COMPLETED);
  ASSERT_TRUE((*j)->MarkDone("jobs/1025", done).ok());
  absl::StatusOr<int64_t> frames = (*j)->WalFramesForTest();
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_EQ(*frames, 1);
  EXPECT_EQ((*j)->ListUnfinished()->size(), 49u);
}

// A journal of the first schema (both partial indexes) opens migrated, its
// entries as they were.
TEST(JobJournalTest, AJournalOfTheFirstSchemaIsMigrated) {
  const std::string path = TempPath("v1.journal");
  {
    Sqlite::Options options;
    auto db = Sqlite::Open(path, options);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)
                    ->Exec(R"sql(
CREATE TABLE agent_jobs (
  job_id TEXT PRIMARY KEY, type INTEGER NOT NULL, vm_id TEXT NOT NULL,
  recovery_point_id TEXT NOT NULL DEFAULT '', network_settings BLOB,
  phase INTEGER NOT NULL, hv_job_id TEXT NOT NULL DEFAULT '',
  created_us INTEGER NOT NULL, final_status BLOB);
CREATE INDEX agent_jobs_unfinished ON agent_jobs(created_us) WHERE phase < 2;
CREATE INDEX agent_jobs_done ON agent_jobs(created_us) WHERE phase = 2;
INSERT INTO agent_jobs(job_id, type, vm_id, phase, hv_job_id, created_us)
  VALUES ('jobs/open', 1, 'vm-1', 1, 'hv-1', 5), ('jobs/done', 1, 'vm-2', 2, 'hv-2', 4);
PRAGMA application_id = 1213612362;
PRAGMA user_version = 1;
)sql")
                    .ok());
  }
  auto j = JobJournal::Open(path);
  ASSERT_TRUE(j.ok()) << j.status();
  auto open = (*j)->ListUnfinished();
  ASSERT_TRUE(open.ok()) << open.status();
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].job_id, "jobs/open");
  EXPECT_EQ((*open)[0].hypervisor_job_id, "hv-1");
  EXPECT_EQ((*j)->Get("jobs/done")->phase, JournalEntry::Phase::kDone);
  j->reset();
  Sqlite::Options options;
  auto db = Sqlite::Open(path, options);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name "
                             "IN ('agent_jobs_unfinished', 'agent_jobs_done')"),
            0);
  EXPECT_EQ(*(*db)->QueryInt("SELECT count(*) FROM sqlite_master WHERE name = "
                             "'agent_jobs_by_created'"),
            1);
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), 2);
}

// Two agents on one journal could each start the same job: the second is
// refused at open, and the first goes on undisturbed.
TEST(JobJournalTest, ASecondOpenOfAJournalInUseIsRefused) {
  const std::string path = TempPath("in-use.journal");
  ASSERT_TRUE(JobJournal::Open(path).ok());  // the schema exists from now on
  auto first = JobJournal::Open(path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = JobJournal::Open(path);  // before the first wrote anything
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              ::testing::HasSubstr("in use by another process"));
  EXPECT_TRUE((*first)->InsertPending("jobs/a", Failover("vm-a"), absl::FromUnixSeconds(100)).ok());
  first->reset();
  EXPECT_TRUE(JobJournal::Open(path).ok());  // free again once closed
}

}  // namespace
}  // namespace agent
}  // namespace hvdr
