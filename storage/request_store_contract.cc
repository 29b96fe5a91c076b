// The contract of storage/request_store.h, and of everything surviving a
// reopen.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/refusal.h"
#include "storage/store_contract.h"

namespace hvdr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_P(StoreContractTest, RequestRecordOfAJobNamesTheJob) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  auto got = store_->GetRequest("r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->job, "jobs/j1");
  EXPECT_EQ(got->method, "dr.v1.FailoverService/InitiateFailover");
}

TEST_P(StoreContractTest, RequestRecordsRoundTripAndAreUnique) {
  ASSERT_TRUE(store_->PutRequest("r1", {"m", "f", "bytes\0x"}).ok());
  auto got = store_->GetRequest("r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->method, "m");
  EXPECT_EQ(got->fingerprint, "f");
  EXPECT_EQ(store_->PutRequest("r1", {"m", "f", ""}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->PutRequest("", {"m", "f", ""}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, EverythingSurvivesReopening) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 20)).ok());
  Reopen();
  EXPECT_TRUE(store_->GetHost(kTestHost).ok());
  EXPECT_EQ(store_->GetJob("jobs/j1")->percent_complete(), 20u);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
  auto replay = store_->CreateJob(TestJob("j2", vm), Key("r1"));
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->job.name(), "jobs/j1");
}

// ---- Migrations ----

}  // namespace
}  // namespace hvdr
