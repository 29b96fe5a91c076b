#include "server/job_hub.h"

#include <vector>

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
  FakeClock clock_;
  JobHub hub_;
  Recorder w_;
};

TEST_F(JobHubTest, StateChangesGoOutAtOnceProgressIsCoalesced) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));   // new state: at once
  hub_.Publish(Version(3, dr::v1::JOB_STATE_RUNNING, 20));   // progress within 250 ms: held
  hub_.Publish(Version(4, dr::v1::JOB_STATE_RUNNING, 30));   // replaces the held one
  ASSERT_EQ(w_.seen.size(), 1u);
  clock_.Advance(absl::Milliseconds(100));
  hub_.Flush();
  EXPECT_EQ(w_.seen.size(), 1u);  // not yet due
  clock_.Advance(absl::Milliseconds(200));
  hub_.Flush();  // nothing newer for an interval: the newest held progress goes out
  ASSERT_EQ(w_.seen.size(), 2u);
  EXPECT_EQ(w_.seen[1].version(), 4);
  EXPECT_EQ(w_.seen[1].percent_complete(), 30u);
  hub_.Publish(Version(5, dr::v1::JOB_STATE_RUNNING, 40));   // held again
  hub_.Publish(Version(6, dr::v1::JOB_STATE_COMPLETED, 100));  // terminal: at once
  ASSERT_EQ(w_.seen.size(), 3u);
  EXPECT_EQ(w_.seen[2].state(), dr::v1::JOB_STATE_COMPLETED);
  clock_.Advance(absl::Seconds(1));
  hub_.Flush();
  EXPECT_EQ(w_.seen.size(), 3u) << "an older held progress is dropped after the terminal state";
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
  ASSERT_EQ(w_.seen.size(), 4u);
  EXPECT_EQ(w_.seen[1].percent_complete(), 15u);
  EXPECT_EQ(w_.seen[2].percent_complete(), 30u);
  EXPECT_EQ(w_.seen[3].percent_complete(), 45u);
}

TEST_F(JobHubTest, ProgressAfterTheIntervalGoesOutAtOnce) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));
  clock_.Advance(absl::Milliseconds(300));
  hub_.Publish(Version(3, dr::v1::JOB_STATE_RUNNING, 20));
  EXPECT_EQ(w_.seen.size(), 2u);
}

TEST_F(JobHubTest, ReturnCodeChangeIsNotProgress) {
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));
  dr::v1::Job unknown = Version(3, dr::v1::JOB_STATE_RUNNING, 10);
  unknown.set_return_code(dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  hub_.Publish(unknown);
  EXPECT_EQ(w_.seen.size(), 2u);
}

TEST_F(JobHubTest, UnwatchedJobsAndOldVersionsAreIgnored) {
  hub_.Publish(Version(2, dr::v1::JOB_STATE_RUNNING, 10));
  hub_.Watch("jobs/j", &w_);
  hub_.Publish(Version(5, dr::v1::JOB_STATE_RUNNING, 10));
  hub_.Publish(Version(4, dr::v1::JOB_STATE_COMPLETED, 100));
  EXPECT_EQ(w_.seen.size(), 1u);
  hub_.Unwatch("jobs/j", &w_);
  hub_.Publish(Version(6, dr::v1::JOB_STATE_COMPLETED, 100));
  EXPECT_EQ(w_.seen.size(), 1u);
  EXPECT_EQ(hub_.WatcherCount(), 0);
}

TEST_F(JobHubTest, CloseAllClosesEveryWatcher) {
  Recorder other;
  hub_.Watch("jobs/j", &w_);
  hub_.Watch("jobs/k", &other);
  hub_.CloseAll();
  EXPECT_TRUE(w_.closed);
  EXPECT_TRUE(other.closed);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
