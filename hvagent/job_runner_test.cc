#include "hvagent/job_runner.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hvagent/sim/sim_backend.h"

namespace hvdr {
namespace agent {
namespace {

using dr::v1::AgentJobStatus;
using ::testing::HasSubstr;

constexpr char kTestVm[] = "AAAAAAAA-0000-0000-0000-000000000001";
constexpr char kTestJob[] = "jobs/j-1";

hvdr::sim::v1::Scenario TestScenario() {
  hvdr::sim::v1::Scenario s;
  s.set_host_name("hv-dr-1");
  s.set_default_job_duration_ms(1000);
  auto* vm = s.add_vms();
  vm->set_vm_id(kTestVm);
  vm->set_name("sql-01");
  vm->set_mode(dr::v1::REPLICATION_MODE_REPLICA);
  vm->set_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm->set_enabled(dr::v1::ENABLED_STATE_DISABLED);
  vm->set_last_replication_seconds_ago(60);
  return s;
}

Operation Failover() {
  Operation op;
  op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
  op.vm_id = kTestVm;
  return op;
}

// Collects what a listener receives.
struct Recorder {
  absl::Mutex mu;
  std::vector<AgentJobStatus> seen;
  JobRunner::Listener Listener() {
    return [this](const AgentJobStatus& s) {
      absl::MutexLock lock(&mu);
      seen.push_back(s);
    };
  }
  std::vector<AgentJobStatus> Seen() {
    absl::MutexLock lock(&mu);
    return seen;
  }
};

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = sim::SimBackend::Open({"", &clock_}, TestScenario());
    ASSERT_TRUE(backend.ok());
    backend_ = *std::move(backend);
    auto journal = JobJournal::Open(":memory:");
    ASSERT_TRUE(journal.ok());
    journal_ = *std::move(journal);
    MakeRunner();
  }
  void MakeRunner(absl::Duration progress_interval = absl::ZeroDuration()) {
    runner_.reset();
    JobRunner::Options options;
    options.clock = &clock_;
    options.start_poller = false;
    options.progress_interval = progress_interval;  // 0: every poll's progress
    auto runner = JobRunner::Create(backend_.get(), journal_.get(), options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = *std::move(runner);
  }
  void Step(absl::Duration d) {
    clock_.Advance(d);
    runner_->PollOnce();
  }

  FakeClock clock_;
  std::unique_ptr<sim::SimBackend> backend_;
  std::unique_ptr<JobJournal> journal_;
  std::unique_ptr<JobRunner> runner_;
};

TEST_F(JobRunnerTest, ListenerSeesEveryChangeInOrderUntilTerminal) {
  Recorder rec;
  uint64_t sub = 0;
  auto first = runner_->Start(kTestJob, Failover(), rec.Listener(), &sub);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_NE(sub, 0u);
  EXPECT_EQ(first->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_FALSE(first->hypervisor_job_id().empty());
  for (int i = 0; i < 12; ++i) Step(absl::Milliseconds(100));
  auto seen = rec.Seen();
  ASSERT_GE(seen.size(), 5u);
  EXPECT_EQ(seen.front().state(), dr::v1::JOB_STATE_NEW);
  EXPECT_EQ(seen.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(seen.back().terminal());
  EXPECT_EQ(seen.back().return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(seen.back().virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].percent_complete(), seen[i - 1].percent_complete());
    EXPECT_FALSE(seen[i - 1].terminal());
  }
  EXPECT_EQ(runner_->ActiveJobs(), 0);
}

// The poll thread reads a job as it ends when the backend knows when that
// is (the simulator does), not a poll interval later: with an interval of
// an hour, a 50 ms job's end still reaches the listener.
TEST(JobRunnerPollerTest, PollsAsAJobTheBackendKnowsTheEndOfEnds) {
  hvdr::sim::v1::Scenario scenario = TestScenario();
  scenario.set_default_job_duration_ms(50);
  auto backend = sim::SimBackend::Open({"", RealClock::Get()}, scenario);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto journal = JobJournal::Open(":memory:");
  ASSERT_TRUE(journal.ok()) << journal.status();
  JobRunner::Options options;
  options.poll_interval = absl::Hours(1);
  options.progress_interval = absl::ZeroDuration();
  auto runner = JobRunner::Create(backend->get(), journal->get(), options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  absl::Notification ended;
  uint64_t sub = 0;
  auto started = (*runner)->Start(
      kTestJob, Failover(),
      [&ended](const AgentJobStatus& s) {
        if (s.terminal() && !ended.HasBeenNotified()) ended.Notify();
      },
      &sub);
  ASSERT_TRUE(started.ok()) << started.status();
  // Generous: the end is due in 50 ms; without the hint it would come in an hour.
  EXPECT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(30)));
  (*runner)->Unsubscribe(sub);
}

// Progress (only the percent moved) goes out at most every
// progress_interval; the start, the end and the VM's state at once.
TEST_F(JobRunnerTest, ProgressGoesOutAtMostEveryProgressInterval) {
  MakeRunner(absl::Milliseconds(300));
  Recorder rec;
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), rec.Listener(), nullptr).ok());
  for (int i = 0; i < 12; ++i) Step(absl::Milliseconds(100));
  auto seen = rec.Seen();
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.front().state(), dr::v1::JOB_STATE_NEW);
  EXPECT_TRUE(seen.back().terminal());
  EXPECT_EQ(seen.back().virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  int progress = 0;
  for (size_t i = 1; i + 1 < seen.size(); ++i) {
    if (seen[i].state() == seen[i - 1].state()) ++progress;
    EXPECT_GE(seen[i].percent_complete(), seen[i - 1].percent_complete());
  }
  // A 1 s job read every 100 ms moves its percent at 9 polls; at most one
  // of them per 300 ms is sent.
  EXPECT_GE(progress, 1);
  // (ListenerSeesEveryChangeInOrderUntilTerminal, with every poll's, sees
  // more.)
  EXPECT_LE(progress, 4);
}

TEST_F(JobRunnerTest, SameJobIdReattachesAndNeverStartsASecondOperation) {
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), nullptr, nullptr).ok());
  Step(absl::Milliseconds(500));
  Recorder rec;
  auto again = runner_->Start(kTestJob, Failover(), rec.Listener(), nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->percent_complete(), 50u);
  Step(absl::Seconds(1));
  EXPECT_EQ(rec.Seen().back().state(), dr::v1::JOB_STATE_COMPLETED);
  // After the end, a third dispatch reports the journaled outcome.
  auto late = runner_->Start(kTestJob, Failover(), nullptr, nullptr);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
}

TEST_F(JobRunnerTest, JobIdReusedForAnotherOperationIsRefused) {
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), nullptr, nullptr).ok());
  Operation commit = Failover();
  commit.type = dr::v1::JOB_TYPE_COMMIT_FAILOVER;
  auto s = runner_->Start(kTestJob, commit, nullptr, nullptr);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("INITIATE_FAILOVER"));
}

TEST_F(JobRunnerTest, RefusedMethodEndsTheJobWithItsReturnCode) {
  Operation revert = Failover();
  revert.type = dr::v1::JOB_TYPE_REVERT_FAILOVER;  // not failed over: 32775
  Recorder rec;
  auto s = runner_->Start(kTestJob, revert, rec.Listener(), nullptr);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->terminal());
  EXPECT_EQ(s->state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(s->return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ(s->error_summary(), "Invalid state for this operation");
  EXPECT_THAT(s->error_description(), HasSubstr("REPLICATION_STATE_REPLICATING"));
  EXPECT_EQ(rec.Seen().back().return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  auto watched = runner_->Watch(kTestJob, nullptr, nullptr);
  ASSERT_TRUE(watched.ok());
  EXPECT_EQ(watched->return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
}

// vmms restarted during the failover: the hypervisor job is gone and the
// VM is back as it was, which proves nothing. The unknown status carries the
// VM as read then (REPLICATING), not the FAILOVER_IN_PROGRESS it was in
// when the job started: the server records that state, and a stale one
// would refuse the next operation once the job is abandoned.
TEST(JobRunnerVanishTest, UnknownStatusCarriesTheVmAsReadWhenTheJobVanished) {
  FakeClock clock;
  hvdr::sim::v1::Scenario scenario = TestScenario();
  auto* fault = scenario.add_faults();
  fault->set_vm_id(kTestVm);
  fault->set_operation(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  fault->set_vanish_at_percent(30);
  fault->set_count(1);
  auto backend = sim::SimBackend::Open({"", &clock}, scenario);
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto journal = JobJournal::Open(":memory:");
  ASSERT_TRUE(journal.ok()) << journal.status();
  JobRunner::Options options;
  options.clock = &clock;
  options.start_poller = false;
  options.progress_interval = absl::ZeroDuration();
  auto runner = JobRunner::Create(backend->get(), journal->get(), options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  Recorder rec;
  auto started = (*runner)->Start(kTestJob, Failover(), rec.Listener(), nullptr);
  ASSERT_TRUE(started.ok()) << started.status();
  for (int i = 0; i < 6; ++i) {
    clock.Advance(absl::Milliseconds(100));
    (*runner)->PollOnce();
  }
  auto seen = rec.Seen();
  ASSERT_GE(seen.size(), 2u);
  bool was_in_progress = false;  // as the start read it
  for (const AgentJobStatus& s : seen) {
    was_in_progress |=
        s.virtual_machine().replication_state() == dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS;
  }
  EXPECT_TRUE(was_in_progress);
  EXPECT_EQ(seen.back().return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_FALSE(seen.back().terminal());
  EXPECT_EQ(seen.back().virtual_machine().replication_state(),
            dr::v1::REPLICATION_STATE_REPLICATING);
  EXPECT_THAT(seen.back().error_description(), HasSubstr("REPLICATION_STATE_REPLICATING"));
}

TEST_F(JobRunnerTest, WatchOfUnknownJobIsNotFound) {
  EXPECT_EQ(runner_->Watch("jobs/none", nullptr, nullptr).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobRunnerTest, UnsubscribedListenerIsNotCalledAgain) {
  Recorder rec;
  uint64_t sub = 0;
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), rec.Listener(), &sub).ok());
  size_t before = rec.Seen().size();
  runner_->Unsubscribe(sub);
  Step(absl::Seconds(2));
  EXPECT_EQ(rec.Seen().size(), before);
}

TEST_F(JobRunnerTest, RestartReattachesToStartedJobs) {
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), nullptr, nullptr).ok());
  Step(absl::Milliseconds(300));
  MakeRunner();  // the agent restarts; the hypervisor and journal remain
  EXPECT_EQ(runner_->ActiveJobs(), 1);
  Recorder rec;
  ASSERT_TRUE(runner_->Watch(kTestJob, rec.Listener(), nullptr).ok());
  Step(absl::Seconds(1));
  EXPECT_EQ(rec.Seen().back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
}

TEST_F(JobRunnerTest, RestartAdoptsAJobThatReachedTheHypervisorButNotTheJournal) {
  // The agent journaled the job and died after the hypervisor accepted it
  // but before recording the hypervisor's job id.
  ASSERT_TRUE(journal_->InsertPending(kTestJob, Failover(), clock_.Now()).ok());
  MethodResult r = backend_->Invoke(Failover());
  ASSERT_EQ(r.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  MakeRunner();
  auto watched = runner_->Watch(kTestJob, nullptr, nullptr);
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(watched->hypervisor_job_id(), r.job_id);
  Step(absl::Seconds(2));
  EXPECT_EQ(journal_->Get(kTestJob)->final_status.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
}

TEST_F(JobRunnerTest, AnAdoptedJobThatAlreadyEndedReportsItsEndWithTheVmsState) {
  // As above, but the hypervisor job also finished while the agent was
  // down. Its end must go out the way every end does, from the poll with the
  // VM's state read after it: a terminal status without the VM left the
  // server showing the state before the job (a plan's next step was then
  // refused), and the job stayed tracked, re-polled forever.
  ASSERT_TRUE(journal_->InsertPending(kTestJob, Failover(), clock_.Now()).ok());
  ASSERT_EQ(backend_->Invoke(Failover()).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(2));  // done, not yet removed by Hyper-V
  MakeRunner();
  Recorder rec;
  ASSERT_TRUE(runner_->Watch(kTestJob, rec.Listener(), nullptr).ok());
  runner_->PollOnce();
  std::vector<AgentJobStatus> seen = rec.Seen();
  ASSERT_FALSE(seen.empty());
  for (size_t i = 0; i + 1 < seen.size(); ++i) EXPECT_FALSE(seen[i].terminal()) << i;
  EXPECT_TRUE(seen.back().terminal());
  EXPECT_EQ(seen.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(seen.back().virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(runner_->ActiveJobs(), 0) << "still tracked after its end";
  EXPECT_EQ(journal_->Get(kTestJob)->final_status.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
}

TEST_F(JobRunnerTest, RestartReconcilesAJobTheHypervisorFinishedAndRemovedBeforeTheJournalSawIt) {
  // The agent died between the hypervisor accepting the job and recording
  // its id, and stayed down past TimeBeforeRemoval: no hypervisor job is
  // left to adopt, but the VM is Recovered. Launching again would be
  // refused (32775) and report a failure for a failover that succeeded.
  ASSERT_TRUE(journal_->InsertPending(kTestJob, Failover(), clock_.Now()).ok());
  ASSERT_EQ(backend_->Invoke(Failover()).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Minutes(10));
  ASSERT_TRUE(backend_->ListJobs()->empty());
  MakeRunner();
  EXPECT_EQ(runner_->ActiveJobs(), 0);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1) << "launched a second time";
  auto watched = runner_->Watch(kTestJob, nullptr, nullptr);
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(watched->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(watched->terminal());
  EXPECT_EQ(watched->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_THAT(watched->outcome_note(),
              HasSubstr("proves that JOB_TYPE_INITIATE_FAILOVER completed"));
  EXPECT_EQ(watched->virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
}

TEST_F(JobRunnerTest, RestartStartsAJobThatNeverReachedTheHypervisor) {
  ASSERT_TRUE(journal_->InsertPending(kTestJob, Failover(), clock_.Now()).ok());
  MakeRunner();
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
  Step(absl::Seconds(2));
  EXPECT_EQ(journal_->Get(kTestJob)->final_status.state(), dr::v1::JOB_STATE_COMPLETED);
}

TEST_F(JobRunnerTest, OutcomeIsKeptPastTimeBeforeRemoval) {
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), nullptr, nullptr).ok());
  Step(absl::Seconds(2));
  clock_.Advance(absl::Minutes(10));
  EXPECT_TRUE(backend_->ListJobs()->empty());  // Hyper-V forgot it
  auto watched = runner_->Watch(kTestJob, nullptr, nullptr);
  ASSERT_TRUE(watched.ok());
  EXPECT_EQ(watched->state(), dr::v1::JOB_STATE_COMPLETED);
}

TEST_F(JobRunnerTest, JobRemovedBeforeItsOutcomeWasReadIsReconciledFromTheVmsState) {
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), nullptr, nullptr).ok());
  // The agent is not polling (down) for longer than TimeBeforeRemoval.
  clock_.Advance(absl::Minutes(10));
  Recorder rec;
  ASSERT_TRUE(runner_->Watch(kTestJob, rec.Listener(), nullptr).ok());
  runner_->PollOnce();
  const AgentJobStatus last = rec.Seen().back();
  // The VM is Recovered: that proves the failover completed, and says so.
  EXPECT_EQ(last.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(last.terminal());
  EXPECT_EQ(last.return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_NE(last.outcome_note().find("proves that JOB_TYPE_INITIATE_FAILOVER completed"),
            std::string::npos)
      << last.outcome_note();
  EXPECT_EQ(last.virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(journal_->Get(kTestJob)->final_status.state(), dr::v1::JOB_STATE_COMPLETED);
}

TEST_F(JobRunnerTest, ReattachedJobNeverReportsAStateBehindWhatItReported) {
  Recorder before;
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), before.Listener(), nullptr).ok());
  Step(absl::Milliseconds(600));
  ASSERT_EQ(before.Seen().back().state(), dr::v1::JOB_STATE_RUNNING);
  MakeRunner();  // the agent restarts; the hypervisor and journal remain
  Recorder after;
  ASSERT_TRUE(runner_->Watch(kTestJob, after.Listener(), nullptr).ok());
  ASSERT_FALSE(after.Seen().empty());
  EXPECT_EQ(after.Seen().front().state(), dr::v1::JOB_STATE_RUNNING) << "re-seeded as New";
  EXPECT_GE(after.Seen().front().percent_complete(), before.Seen().back().percent_complete());
}

TEST_F(JobRunnerTest, CancelOnlyWhatTheHypervisorCanCancel) {
  ASSERT_TRUE(runner_->Start(kTestJob, Failover(), nullptr, nullptr).ok());
  auto refused = runner_->Cancel(kTestJob);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runner_->Cancel("jobs/none").status().code(), absl::StatusCode::kNotFound);
  Step(absl::Seconds(2));
  EXPECT_EQ(runner_->Cancel(kTestJob).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace agent
}  // namespace hvdr
