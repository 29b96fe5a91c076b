#include "server/job_hub.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace server {
namespace {

struct Recorder : JobWatcher {
  std::vector<dr::v1::Job> seen;
  bool closed = false;
  void OnJob(const dr::v1::Job& job) override { seen.push_back(job); }
  void OnClose() override { closed = true; }
};

dr::v1::Job Version(int64_t v, dr::v1::JobState state, uint32_t percent) {
  dr::v1::Job j;
  j.set_name("jobs/j");
  j.set_version(v);
  j.set_state(state);
  j.set_percent_complete(percent);
  return j;
}

class JobHubTest : public ::testing::Test {
 protected:
  JobHubTest() : hub_(JobHub::Options{absl::Milliseconds(250), &clock_, false}) {}
  // What the watcher has been handed once every queued version is delivered.
  const std::vector<dr::v1::Job>& Seen() {
    hub_.Drain();
    return w_.seen;
  }
  FakeClock clock_;
  JobHub hub_;
  Recorder w_;
};

TEST_F(JobHubTest, StateChangesGoOutAtOnceProgressIsCoalesced) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));  // new state: at once
  hub_.Publish(Version(3, dr::v1::JOB_STATE_RUNNING, 20));  // progress within 250 ms: held
  hub_.Publish(Version(4, dr::v1::JOB_STATE_RUNNING, 30));  // replaces the held one
  ASSERT_EQ(Seen().size(), 1u);
  clock_.Advance(absl::Milliseconds(100));
  hub_.Flush();
  EXPECT_EQ(Seen().size(), 1u);  // not yet due
  clock_.Advance(absl::Milliseconds(200));
  hub_.Flush();  // nothing newer for an interval: the newest held progress goes out
  ASSERT_EQ(Seen().size(), 2u);
  EXPECT_EQ(Seen()[1].version(), 4);
  EXPECT_EQ(Seen()[1].percent_complete(), 30u);
  hub_.Publish(Version(5, dr::v1::JOB_STATE_RUNNING, 40));     // held again
  hub_.Publish(Version(6, dr::v1::JOB_STATE_COMPLETED, 100));  // terminal: at once
  ASSERT_EQ(Seen().size(), 3u);
  EXPECT_EQ(Seen()[2].state(), dr::v1::JOB_STATE_COMPLETED);
  clock_.Advance(absl::Seconds(1));
  hub_.Flush();
  EXPECT_EQ(Seen().size(), 3u) << "an older held progress is dropped after the terminal state";
}

TEST_F(JobHubTest, SteadyProgressIsDeliveredFreshNotFromTheFlusher) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 0));
  int64_t v = 3;
  for (int step = 1; step <= 10; ++step) {  // an update every 100 ms
    clock_.Advance(absl::Milliseconds(100));
    hub_.Publish(Version(v++, dr::v1::JOB_STATE_RUNNING, step * 5));
    hub_.Flush();
  }
  // Delivered: the first, then every third as it arrived (>= 250 ms apart).
  ASSERT_EQ(Seen().size(), 4u);
  EXPECT_EQ(Seen()[1].percent_complete(), 15u);
  EXPECT_EQ(Seen()[2].percent_complete(), 30u);
  EXPECT_EQ(Seen()[3].percent_complete(), 45u);
}

TEST_F(JobHubTest, ProgressAfterTheIntervalGoesOutAtOnce) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));
  clock_.Advance(absl::Milliseconds(300));
  hub_.Publish(Version(3, dr::v1::JOB_STATE_RUNNING, 20));
  EXPECT_EQ(Seen().size(), 2u);
}

TEST_F(JobHubTest, ReturnCodeChangeIsNotProgress) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));
  dr::v1::Job unknown = Version(3, dr::v1::JOB_STATE_RUNNING, 10);
  unknown.set_return_code(dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  hub_.Publish(unknown);
  EXPECT_EQ(Seen().size(), 2u);
}

TEST_F(JobHubTest, UnwatchedJobsAndOldVersionsAreIgnored) {
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(5, dr::v1::JOB_STATE_RUNNING, 10));
  hub_.Publish(Version(4, dr::v1::JOB_STATE_COMPLETED, 100));
  EXPECT_EQ(Seen().size(), 1u);
  hub_.Unwatch("jobs/j", &w_);
  hub_.Publish(Version(6, dr::v1::JOB_STATE_COMPLETED, 100));
  EXPECT_EQ(Seen().size(), 1u);
  EXPECT_EQ(hub_.WatcherCountForTest(), 0);
}

TEST_F(JobHubTest, CloseAllClosesEveryWatcher) {
  Recorder other;
  hub_.Watch("jobs/j", &w_);
  hub_.Watch("jobs/k", &other);
  hub_.CloseAll();
  EXPECT_TRUE(w_.closed);
  EXPECT_TRUE(other.closed);
}

// A watcher whose OnJob waits for `release`.
struct Blocking : JobWatcher {
  absl::Notification entered, release;
  std::atomic<int> calls{0};
  void OnJob(const dr::v1::Job&) override {
    ++calls;
    entered.Notify();
    release.WaitForNotification();
  }
  void OnClose() override {}
};

// A watcher that signals its first version.
struct Signal : JobWatcher {
  absl::Notification got;
  void OnJob(const dr::v1::Job&) override {
    if (!got.HasBeenNotified()) got.Notify();
  }
  void OnClose() override {}
};

dr::v1::Job Named(const std::string& name, int64_t v) {
  dr::v1::Job j = Version(v, dr::v1::JOB_STATE_RUNNING, 0);
  j.set_name(name);
  return j;
}

TEST(JobHubThreadsTest, PublishDoesNotWaitForWatchersAndJobsOnOtherThreadsGoOn) {
  JobHub hub(JobHub::Options{absl::Milliseconds(250), RealClock::Get(), false, 2});
  // Two jobs served by different delivery threads.
  const std::string a = "jobs/a";
  std::string b;
  for (int i = 0; b.empty(); ++i) {
    std::string candidate = absl::StrCat("jobs/b", i);
    if (hub.DeliveryThreadForTest(candidate) != hub.DeliveryThreadForTest(a)) b = candidate;
  }
  Blocking stuck;
  Signal other;
  hub.Watch(a, &stuck);
  hub.Watch(b, &other);
  hub.Publish(Named(a, 2));  // returns although the watcher blocks
  stuck.entered.WaitForNotification();
  hub.Publish(Named(b, 2));
  // b's thread is free: b's watcher gets its version while a's is stuck
  // (with one delivery thread for both it never would).
  EXPECT_TRUE(other.got.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(stuck.calls.load(), 1);
  stuck.release.Notify();
  hub.Drain();
}

TEST(JobHubThreadsTest, UnwatchWaitsForADeliveryUnderWay) {
  JobHub hub(JobHub::Options{absl::Milliseconds(250), RealClock::Get(), false, 1});
  Blocking w;
  hub.Watch("jobs/j", &w);
  hub.Publish(Named("jobs/j", 2));
  w.entered.WaitForNotification();
  std::atomic<bool> returned{false};
  std::thread unwatch([&] {
    hub.Unwatch("jobs/j", &w);
    returned = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(returned.load()) << "Unwatch returned while OnJob was still running";
  w.release.Notify();
  unwatch.join();
  EXPECT_TRUE(returned.load());
  hub.Publish(Named("jobs/j", 3));
  hub.Drain();
  EXPECT_EQ(w.calls.load(), 1) << "no call after Unwatch";
}

}  // namespace
}  // namespace server
}  // namespace hvdr
