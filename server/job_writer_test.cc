#include "server/job_writer.h"

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "storage/forwarding_store.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

constexpr char kTestHost[] = "hosts/hv-1";

// A store whose disk can fill up: while full, every Write fails as SQLite's
// SQLITE_FULL does (RESOURCE_EXHAUSTED), with nothing written.
class FullDiskStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) override {
    ops_ += static_cast<int>(ops.size());  // before writes_: a test waits on writes_
    ++writes_;
    if (absl::Notification* gate = gate_.load()) gate->WaitForNotification();
    if (full_) {
      return std::vector<WriteResult>(
          ops.size(),
          WriteResult{absl::ResourceExhaustedError("database or disk is full"), {}, false});
    }
    return ForwardingStore::Write(ops);
  }
  std::atomic<bool> full_{false};
  std::atomic<int> writes_{0};
  std::atomic<int> ops_{0};  // operations written, over every batch
  // When set, Write waits for it (a slow disk).
  std::atomic<absl::Notification*> gate_{nullptr};
};

class Recorder final : public JobWatcher {
 public:
  void OnJob(const dr::v1::Job& job) override {
    absl::MutexLock lock(&mu_);
    seen_.push_back(job);
  }
  void OnClose() override {}
  std::vector<dr::v1::Job> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  absl::Mutex mu_;
  std::vector<dr::v1::Job> seen_ ABSL_GUARDED_BY(mu_);
};

class JobWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite_ = *SqliteStore::Open(":memory:", {});
    store_ = std::make_unique<FullDiskStore>(sqlite_.get());
    dr::v1::Host host;
    host.set_name(kTestHost);
    host.set_site("sites/dr");
    host.set_agent_address("127.0.0.1:1");
    ASSERT_TRUE(sqlite_->CreateHost(host, nullptr).ok());
    std::vector<dr::v1::VirtualMachineInventory> vms(kJobs);
    for (int i = 0; i < kJobs; ++i) {
      vms[i].mutable_virtual_machine()->set_vm_id(absl::StrCat("VM-", i));
      vms[i].mutable_virtual_machine()->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
    }
    ASSERT_TRUE(sqlite_->ReplaceInventory(kTestHost, vms, absl::Now()).ok());
    JobWriter::Options options;
    options.initial_backoff = absl::Milliseconds(5);
    options.max_backoff = absl::Milliseconds(20);
    writer_ = std::make_unique<JobWriter>(store_.get(), &hub_, options);
  }
  void TearDown() override {
    writer_->Shutdown();
    hub_.Drain();
  }

  std::string Create(int i) {
    dr::v1::Job job;
    job.set_name(absl::StrCat("jobs/j", i));
    job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    job.set_state(dr::v1::JOB_STATE_NEW);
    job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    job.set_virtual_machine(absl::StrCat(kTestHost, "/virtualMachines/VM-", i));
    job.set_host(kTestHost);
    EXPECT_TRUE(sqlite_->CreateJob(job, {absl::StrCat("r", i), "m", "f"}).ok());
    return job.name();
  }

  static JobUpdate Update(const std::string& job, dr::v1::JobState state, uint32_t percent) {
    JobUpdate u;
    u.job = job;
    u.state = state;
    u.percent_complete = percent;
    u.event_time = absl::Now();
    return u;
  }

  static constexpr int kJobs = 20;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<FullDiskStore> store_;
  JobHub hub_;
  std::unique_ptr<JobWriter> writer_;
};

TEST_F(JobWriterTest, StatusesOutliveAFullDiskAndArePublishedOnlyOnceDurable) {
  std::vector<std::string> jobs;
  std::vector<std::unique_ptr<Recorder>> watchers;
  for (int i = 0; i < kJobs; ++i) {
    jobs.push_back(Create(i));
    watchers.push_back(std::make_unique<Recorder>());
    hub_.Watch(jobs.back(), watchers.back().get());
  }
  store_->full_ = true;
  std::atomic<int> answered{0};
  for (const std::string& job : jobs) {
    writer_->Submit(Update(job, dr::v1::JOB_STATE_RUNNING, 40), [&](const auto&) { ++answered; });
    writer_->Submit(Update(job, dr::v1::JOB_STATE_COMPLETED, 100),
                    [&](const auto&) { ++answered; });
  }
  // The writer keeps trying while the disk is full...
  const int before = store_->writes_;
  while (store_->writes_ < before + 5) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(writer_->RetryingForTest(), 2 * kJobs);
  EXPECT_EQ(answered, 0) << "a status was answered before it was durable";
  hub_.Drain();
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_TRUE(watchers[i]->seen().empty()) << "a watcher saw a version that is not stored";
    EXPECT_EQ(sqlite_->GetJob(jobs[i])->state(), dr::v1::JOB_STATE_NEW);
    EXPECT_EQ(sqlite_->GetVirtualMachine(absl::StrCat(kTestHost, "/virtualMachines/VM-", i))
                  ->active_job(),
              jobs[i]);
  }
  // ...and once space is freed, every job reaches its true state, in
  // order, with no restart.
  store_->full_ = false;
  writer_->Flush();
  EXPECT_EQ(answered, 2 * kJobs);
  EXPECT_EQ(writer_->RetryingForTest(), 0);
  hub_.Drain();
  for (int i = 0; i < kJobs; ++i) {
    absl::StatusOr<dr::v1::Job> job = sqlite_->GetJob(jobs[i]);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->state(), dr::v1::JOB_STATE_COMPLETED);
    EXPECT_EQ(sqlite_->GetVirtualMachine(absl::StrCat(kTestHost, "/virtualMachines/VM-", i))
                  ->active_job(),
              "");
    auto events = sqlite_->ListJobEvents(jobs[i], {});
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->items.size(), 3u) << "New, Running, Completed";
    EXPECT_EQ(events->items[1].state(), dr::v1::JOB_STATE_RUNNING);
    std::vector<dr::v1::Job> seen = watchers[i]->seen();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().state(), dr::v1::JOB_STATE_COMPLETED);
    for (const dr::v1::Job& v : seen) {
      EXPECT_LE(v.version(), job->version()) << "published a version the store does not have";
    }
    hub_.Unwatch(jobs[i], watchers[i].get());
  }
}

TEST_F(JobWriterTest, CreationThatCannotBeStoredIsAnsweredWithTheError) {
  store_->full_ = true;
  dr::v1::Job job;
  job.set_name("jobs/new");
  job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  job.set_state(dr::v1::JOB_STATE_NEW);
  job.set_virtual_machine(absl::StrCat(kTestHost, "/virtualMachines/VM-0"));
  job.set_host(kTestHost);
  absl::Notification done;
  absl::Status status;
  writer_->SubmitCreate(job, {"rq", "m", "f"}, "",
                        [&](const WriteResult& r) -> std::function<void()> {
                          status = r.status;
                          done.Notify();
                          return nullptr;
                        });
  done.WaitForNotification();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sqlite_->GetJob("jobs/new").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobWriterTest, FullQueueRefusesCreationsButNeverAgentStatuses) {
  constexpr int kBound = 3;
  std::vector<std::string> jobs;
  for (int i = 0; i < 5; ++i) jobs.push_back(Create(i));
  writer_->Shutdown();
  JobWriter::Options options;
  options.max_queued_creations = kBound;
  options.queue_full_retry_after = absl::Seconds(2);
  writer_ = std::make_unique<JobWriter>(store_.get(), &hub_, options);
  absl::Notification slow_disk;
  store_->gate_ = &slow_disk;
  auto new_job = [&](int vm) {
    dr::v1::Job job;
    job.set_name(absl::StrCat("jobs/new-", vm));
    job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    job.set_state(dr::v1::JOB_STATE_NEW);
    job.set_virtual_machine(absl::StrCat(kTestHost, "/virtualMachines/VM-", vm));
    job.set_host(kTestHost);
    return job;
  };
  absl::Mutex mu;
  std::vector<absl::Status> created(kBound + 3, absl::UnknownError("not answered"));
  auto submit = [&](int i) {
    writer_->SubmitCreate(new_job(10 + i), {absl::StrCat("new-", i), "m", "f"}, "",
                          [&, i](const WriteResult& r) -> std::function<void()> {
                            absl::MutexLock lock(&mu);
                            created[i] = r.status;
                            return nullptr;
                          });
  };
  // The first creation is taken by the writer, which waits on the disk...
  const int before = store_->writes_;
  submit(0);
  while (store_->writes_ == before) absl::SleepFor(absl::Milliseconds(1));
  // ...while kBound more wait in the queue: the next ones are refused at once.
  for (int i = 1; i <= kBound + 2; ++i) submit(i);
  for (int i = kBound + 1; i <= kBound + 2; ++i) {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(created[i].code(), absl::StatusCode::kResourceExhausted) << created[i];
    dr::v1::ErrorDetail detail = ErrorDetailOf(created[i]);
    EXPECT_EQ(detail.return_code(), dr::v1::RETURN_CODE_OUT_OF_MEMORY);
    EXPECT_EQ(detail.field(), "request");
    EXPECT_EQ(detail.reason(), "QUEUE_FULL");
    EXPECT_EQ(detail.retry_after().seconds(), 2);
  }
  // Agent statuses are never refused, however full the queue.
  std::atomic<int> updated{0};
  for (const std::string& job : jobs) {
    for (int p = 1; p <= 2 * kBound; ++p) {
      writer_->Submit(Update(job, dr::v1::JOB_STATE_RUNNING, p),
                      [&](const absl::StatusOr<dr::v1::Job>& r) {
                        if (r.ok()) ++updated;
                      });
    }
    writer_->Submit(Update(job, dr::v1::JOB_STATE_COMPLETED, 100),
                    [&](const absl::StatusOr<dr::v1::Job>& r) {
                      if (r.ok()) ++updated;
                    });
  }
  slow_disk.Notify();
  writer_->Flush();
  store_->gate_ = nullptr;
  EXPECT_EQ(updated, static_cast<int>(jobs.size()) * (2 * kBound + 1));
  for (const std::string& job : jobs)
    EXPECT_EQ(sqlite_->GetJob(job)->state(), dr::v1::JOB_STATE_COMPLETED);
  absl::MutexLock lock(&mu);
  for (int i = 0; i <= kBound; ++i) {
    EXPECT_TRUE(created[i].ok()) << i << ": " << created[i];
    EXPECT_TRUE(sqlite_->GetJob(absl::StrCat("jobs/new-", 10 + i)).ok());
  }
  // Once the queue drained, creations are accepted again.
  absl::Notification again;
  writer_->SubmitCreate(new_job(19), {"new-again", "m", "f"}, "",
                        [&](const WriteResult& r) -> std::function<void()> {
                          EXPECT_TRUE(r.status.ok()) << r.status;
                          again.Notify();
                          return nullptr;
                        });
  again.WaitForNotification();
}

TEST_F(JobWriterTest, ShutdownGivesUpRetriesInsteadOfHanging) {
  const std::string job = Create(0);
  store_->full_ = true;
  absl::Notification done;
  writer_->Submit(Update(job, dr::v1::JOB_STATE_RUNNING, 10),
                  [&](const absl::StatusOr<dr::v1::Job>& r) {
                    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
                    done.Notify();
                  });
  while (writer_->RetryingForTest() == 0) absl::SleepFor(absl::Milliseconds(1));
  writer_->Shutdown();
  EXPECT_TRUE(done.HasBeenNotified());
  EXPECT_EQ(sqlite_->GetJob(job)->state(), dr::v1::JOB_STATE_NEW);
}

// Progress statuses that queue up behind a slow commit are merged: the
// store writes the newest once, and a job's end (or a noted status) takes
// the place of the progress queued before it; a status with a message or a
// waiting callback is never merged into by what comes after it.
TEST_F(JobWriterTest, QueuedProgressOfAJobIsMergedIntoItsNewestStatus) {
  const std::string a = Create(0);
  const std::string b = Create(1);
  absl::Notification slow_disk;
  store_->gate_ = &slow_disk;
  const int before = store_->writes_;
  writer_->Submit(Update(b, dr::v1::JOB_STATE_RUNNING, 1), nullptr);
  while (store_->writes_ == before) absl::SleepFor(absl::Milliseconds(1));  // taken, waiting
  const int ops_before = store_->ops_;
  for (uint32_t p = 1; p <= 10; ++p) {
    JobUpdate u = Update(a, dr::v1::JOB_STATE_RUNNING, p);
    if (p == 1) {  // only the first carries the start and the VM's state
      u.start_time = absl::FromUnixSeconds(1700000000);
      u.has_vm_state = true;
      u.vm_state.set_replication_state(dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS);
    }
    writer_->Submit(std::move(u), nullptr);
  }
  JobUpdate noted = Update(b, dr::v1::JOB_STATE_RUNNING, 20);
  noted.message = "re-attached";
  writer_->Submit(Update(b, dr::v1::JOB_STATE_RUNNING, 10), nullptr);
  writer_->Submit(std::move(noted), nullptr);  // not merged, and nothing merges past it
  writer_->Submit(Update(b, dr::v1::JOB_STATE_RUNNING, 30), nullptr);
  absl::Notification ended;
  writer_->Submit(Update(a, dr::v1::JOB_STATE_COMPLETED, 100),
                  [&](const absl::StatusOr<dr::v1::Job>& r) {
                    EXPECT_TRUE(r.ok()) << r.status();
                    ended.Notify();
                  });
  store_->gate_ = nullptr;
  slow_disk.Notify();
  writer_->Flush();
  ended.WaitForNotification();
  // a: its end, which took the place of its merged progress; b: the noted
  // 20 % in the place of its 10 %, then 30 % (never merged past the note).
  EXPECT_EQ(store_->ops_ - ops_before, 3);
  EXPECT_EQ(sqlite_->GetJob(a)->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(FromProto(sqlite_->GetJob(a)->start_time()), absl::FromUnixSeconds(1700000000))
      << "the merged progress's start time was lost";
  EXPECT_EQ(sqlite_->GetVirtualMachine(sqlite_->GetJob(a)->virtual_machine())->replication_state(),
            dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS)
      << "the merged progress's VM state was lost";
  EXPECT_EQ(sqlite_->GetJob(b)->percent_complete(), 30u);
}

// A job's progress (only its percent moved) is written at most once per
// progress_interval; what comes meanwhile is held, the newest kept, and
// goes when the job's next status does (which supersedes it), at a Flush,
// or when the interval is over.
TEST_F(JobWriterTest, ProgressIsHeldForItsIntervalAndGoesWithTheJobsNextStatus) {
  writer_->Shutdown();
  JobWriter::Options options;
  options.progress_interval = absl::Hours(1);  // held until something else moves it
  writer_ = std::make_unique<JobWriter>(store_.get(), &hub_, options);
  const std::string a = Create(0);
  const std::string b = Create(1);
  const std::string c = Create(2);
  writer_->SubmitProgress(Update(a, dr::v1::JOB_STATE_RUNNING, 10));  // the first: at once
  writer_->Flush();
  ASSERT_EQ(sqlite_->GetJob(a)->percent_complete(), 10u);
  const int ops_before = store_->ops_;
  for (uint32_t p : {20, 30, 40}) writer_->SubmitProgress(Update(a, dr::v1::JOB_STATE_RUNNING, p));
  // Another job's status is written at once; a's progress stays held.
  absl::Notification b_stored;
  writer_->Submit(Update(b, dr::v1::JOB_STATE_RUNNING, 5),
                  [&](const absl::StatusOr<dr::v1::Job>&) { b_stored.Notify(); });
  b_stored.WaitForNotification();
  EXPECT_EQ(store_->ops_ - ops_before, 1);
  EXPECT_EQ(sqlite_->GetJob(a)->percent_complete(), 10u);
  // a's end supersedes its held progress: one write.
  absl::Notification ended;
  writer_->Submit(Update(a, dr::v1::JOB_STATE_COMPLETED, 100),
                  [&](const absl::StatusOr<dr::v1::Job>& r) {
                    EXPECT_TRUE(r.ok()) << r.status();
                    ended.Notify();
                  });
  ended.WaitForNotification();
  EXPECT_EQ(store_->ops_ - ops_before, 2);
  EXPECT_EQ(sqlite_->GetJob(a)->state(), dr::v1::JOB_STATE_COMPLETED);
  auto events = sqlite_->ListJobEvents(a, {});
  ASSERT_TRUE(events.ok());
  // Created, 10 %, completed: none of the held 20-40 %.
  EXPECT_EQ(events->items.size(), 3u);
  // A Flush writes what is held.
  writer_->SubmitProgress(Update(c, dr::v1::JOB_STATE_RUNNING, 10));
  writer_->SubmitProgress(Update(c, dr::v1::JOB_STATE_RUNNING, 50));
  writer_->Flush();
  EXPECT_EQ(sqlite_->GetJob(c)->percent_complete(), 50u);
  // So does Shutdown.
  writer_->SubmitProgress(Update(c, dr::v1::JOB_STATE_RUNNING, 70));
  writer_->Shutdown();
  EXPECT_EQ(sqlite_->GetJob(c)->percent_complete(), 70u);
}

TEST_F(JobWriterTest, HeldProgressIsWrittenWhenItsIntervalIsOver) {
  writer_->Shutdown();
  JobWriter::Options options;
  options.progress_interval = absl::Milliseconds(50);
  writer_ = std::make_unique<JobWriter>(store_.get(), &hub_, options);
  const std::string a = Create(0);
  const std::string b = Create(1);
  writer_->SubmitProgress(Update(b, dr::v1::JOB_STATE_RUNNING, 10));
  writer_->SubmitProgress(Update(b, dr::v1::JOB_STATE_RUNNING, 20));  // held
  writer_->SubmitProgress(Update(a, dr::v1::JOB_STATE_RUNNING, 10));
  writer_->SubmitProgress(Update(a, dr::v1::JOB_STATE_RUNNING, 20));  // held, due later
  // No Flush, nothing else submitted: the writer wakes for each due time.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((sqlite_->GetJob(a)->percent_complete() != 20u ||
          sqlite_->GetJob(b)->percent_complete() != 20u) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(sqlite_->GetJob(a)->percent_complete(), 20u);
  EXPECT_EQ(sqlite_->GetJob(b)->percent_complete(), 20u);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
