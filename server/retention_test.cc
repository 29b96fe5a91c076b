#include "server/retention.h"

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/forwarding_store.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

constexpr char kTestHost[] = "hosts/hv-1";
const absl::Time kTestNow = absl::FromUnixSeconds(1800000000);

// Records each PruneJobs batch.
class CountingStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs) override {
    absl::StatusOr<int> n = ForwardingStore::PruneJobs(ended_before, max_jobs);
    if (n.ok()) batches_.push_back(*n);
    max_asked_ = std::max(max_asked_, max_jobs);
    return n;
  }
  std::vector<int> batches_;
  int max_asked_ = 0;
};

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite_ = *SqliteStore::Open(":memory:", {});
    store_ = std::make_unique<CountingStore>(sqlite_.get());
    dr::v1::Host host;
    host.set_name(kTestHost);
    host.set_site("sites/dr");
    host.set_agent_address("127.0.0.1:1");
    ASSERT_TRUE(sqlite_->CreateHost(host, nullptr).ok());
    std::vector<dr::v1::VirtualMachineInventory> vms(kVms);
    for (int i = 0; i < kVms; ++i) {
      vms[i].mutable_virtual_machine()->set_vm_id(absl::StrCat("VM-", i));
      vms[i].mutable_virtual_machine()->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
    }
    ASSERT_TRUE(sqlite_->ReplaceInventory(kTestHost, vms, kTestNow).ok());
  }

  // A job on VM-`vm`; ended at `ended` unless that is InfinitePast (left
  // running).
  void Job(const std::string& id, int vm, absl::Time ended) {
    dr::v1::Job job;
    job.set_name("jobs/" + id);
    job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    job.set_state(dr::v1::JOB_STATE_NEW);
    job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    job.set_virtual_machine(absl::StrCat(kTestHost, "/virtualMachines/VM-", vm));
    job.set_host(kTestHost);
    ASSERT_TRUE(sqlite_->CreateJob(job, {"req-" + id, "m", "f"}).ok());
    if (ended == absl::InfinitePast()) return;
    JobUpdate end;
    end.job = job.name();
    end.state = dr::v1::JOB_STATE_COMPLETED;
    end.percent_complete = 100;
    end.event_time = ended;
    ASSERT_TRUE(sqlite_->UpdateJob(end).ok());
  }

  static constexpr int kVms = 4;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<CountingStore> store_;
};

TEST_F(RetentionTest, PrunesJobsPastTheRetentionInBoundedBatchesAndKeepsTheRest) {
  constexpr int kOld = 23;
  for (int i = 0; i < kOld; ++i) Job(absl::StrCat("old-", i), 0, kTestNow - absl::Hours(24 * 100));
  Job("recent", 1, kTestNow - absl::Hours(24));
  Job("running", 2, absl::InfinitePast());
  FakeClock clock(kTestNow);
  Retention::Options options;
  options.retention = absl::Hours(24 * 90);
  options.batch = 10;
  Retention retention(store_.get(), &clock, options);
  absl::StatusOr<int64_t> pruned = retention.RunOnce();
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, kOld);
  EXPECT_EQ(store_->batches_, (std::vector<int>{10, 10, 3})) << "never one huge transaction";
  EXPECT_EQ(store_->max_asked_, 10);
  for (int i = 0; i < kOld; ++i) {
    EXPECT_EQ(sqlite_->GetJob(absl::StrCat("jobs/old-", i)).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(sqlite_->GetRequest(absl::StrCat("req-old-", i)).status().code(),
              absl::StatusCode::kNotFound);
  }
  EXPECT_TRUE(sqlite_->GetJob("jobs/recent").ok());
  EXPECT_TRUE(sqlite_->GetRequest("req-recent").ok());
  EXPECT_TRUE(sqlite_->GetJob("jobs/running").ok());
  EXPECT_TRUE(sqlite_->GetRequest("req-running").ok());
  // The running job stays however old it gets.
  clock.Advance(absl::Hours(24 * 1000));
  EXPECT_EQ(*retention.RunOnce(), 1) << "only jobs/recent";
  EXPECT_TRUE(sqlite_->GetJob("jobs/running").ok());
}

TEST_F(RetentionTest, ZeroRetentionKeepsEverything) {
  Job("old", 0, kTestNow - absl::Hours(24 * 1000));
  FakeClock clock(kTestNow);
  Retention::Options options;
  options.retention = absl::ZeroDuration();
  Retention retention(store_.get(), &clock, options);
  EXPECT_EQ(*retention.RunOnce(), 0);
  retention.Start();  // starts nothing
  retention.Stop();
  EXPECT_TRUE(sqlite_->GetJob("jobs/old").ok());
  EXPECT_TRUE(store_->batches_.empty());
}

}  // namespace
}  // namespace server
}  // namespace hvdr
