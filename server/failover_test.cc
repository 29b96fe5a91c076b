// FailoverLogic over a real SqliteStore (in memory) with the job writer and
// no dispatcher: where request_id replays are decided.
#include "server/failover.h"

#include <functional>
#include <memory>
#include <optional>

#include "absl/synchronization/notification.h"
#include "common/hyperv_status.h"
#include "gtest/gtest.h"
#include "server/job_hub.h"
#include "server/job_writer.h"
#include "storage/forwarding_store.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

constexpr char kTestHost[] = "hosts/hv-dr-1";
constexpr char kTestVm[] = "hosts/hv-dr-1/virtualMachines/11111111-0000-0000-0000-000000000001";

// Runs `after_lookup` once, right after the first request look-up returns,
// before the caller acts on it: another call overtaking this one there.
class OvertakeAfterLookup final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) override {
    absl::StatusOr<RequestRecord> result = ForwardingStore::GetRequest(request_id);
    if (after_lookup) {
      auto overtake = std::move(after_lookup);
      after_lookup = nullptr;
      overtake();
    }
    return result;
  }
  std::function<void()> after_lookup;
};

class FailoverLogicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite_ = *SqliteStore::Open(":memory:", {});
    store_ = std::make_unique<OvertakeAfterLookup>(sqlite_.get());
    dr::v1::Host host;
    host.set_name(kTestHost);
    host.set_site("sites/dr");
    host.set_agent_address("127.0.0.1:7002");
    ASSERT_TRUE(sqlite_->CreateHost(host, nullptr).ok());
    dr::v1::VirtualMachineInventory inv;
    auto* vm = inv.mutable_virtual_machine();
    vm->set_vm_id("11111111-0000-0000-0000-000000000001");
    vm->set_display_name("sql-01");
    vm->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
    vm->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
    vm->set_enabled_state(dr::v1::ENABLED_STATE_DISABLED);
    ASSERT_TRUE(sqlite_->ReplaceInventory(kTestHost, {inv}, clock_.Now()).ok());
    writer_ = std::make_unique<JobWriter>(store_.get(), &hub_);
    logic_ = std::make_unique<FailoverLogic>(store_.get(), writer_.get(), nullptr, &clock_);
  }
  OperationRequest Failover(const std::string& vm, const std::string& request_id) {
    OperationRequest r;
    r.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
    r.method = "InitiateFailover";
    r.virtual_machine = vm;
    r.request_id = request_id;
    r.fingerprint = "failover " + vm;
    return r;
  }
  // Submits and waits for the answer.
  absl::StatusOr<dr::v1::JobResponse> Submit(const OperationRequest& r) {
    absl::Notification done;
    std::optional<absl::StatusOr<dr::v1::JobResponse>> result;
    logic_->Submit(r, [&](const absl::StatusOr<dr::v1::JobResponse>& answer) {
      result = answer;
      done.Notify();
    });
    done.WaitForNotification();
    return *result;
  }

  FakeClock clock_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<OvertakeAfterLookup> store_;
  JobHub hub_;
  std::unique_ptr<JobWriter> writer_;
  std::unique_ptr<FailoverLogic> logic_;
};

// The retry looks the request_id up before its first attempt is recorded,
// and checks the VM after that attempt claimed it: it must still be told
// the first attempt's job, not VM_BUSY naming that job.
TEST_F(FailoverLogicTest, RetryOvertakenByItsFirstAttemptGetsThatAttemptsJob) {
  std::optional<absl::StatusOr<dr::v1::JobResponse>> first;
  store_->after_lookup = [&] { first = Submit(Failover(kTestVm, "step-1")); };
  absl::StatusOr<dr::v1::JobResponse> retry = Submit(Failover(kTestVm, "step-1"));
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->ok()) << first->status();
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->job().name(), (*first)->job().name());
  auto jobs = sqlite_->ListJobs({}, {});
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->items.size(), 1u);
}

// The same through the logical VM name: the replay is decided before the
// name is resolved again.
TEST_F(FailoverLogicTest, RetryOvertakenByItsFirstAttemptGetsThatAttemptsJobByLogicalName) {
  std::optional<absl::StatusOr<dr::v1::JobResponse>> first;
  store_->after_lookup = [&] { first = Submit(Failover("virtualMachines/sql-01", "step-1")); };
  absl::StatusOr<dr::v1::JobResponse> retry = Submit(Failover("virtualMachines/sql-01", "step-1"));
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->ok()) << first->status();
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->job().name(), (*first)->job().name());
  EXPECT_EQ(retry->job().virtual_machine(), kTestVm);
}

// Another request on the busy VM is still refused, by the store, with the
// same error as before.
TEST_F(FailoverLogicTest, AnotherRequestOnTheClaimedVmIsVmBusy) {
  absl::StatusOr<dr::v1::JobResponse> first = Submit(Failover(kTestVm, "step-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<dr::v1::JobResponse> other = Submit(Failover(kTestVm, "step-2"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ErrorDetailOf(other.status()).return_code(), dr::v1::RETURN_CODE_SYSTEM_IN_USE);
  EXPECT_EQ(ErrorDetailOf(other.status()).field(), "virtual_machine");
  EXPECT_EQ(ErrorDetailOf(other.status()).reason(), "VM_BUSY");
  // The dry run checks it too.
  EXPECT_EQ(logic_->CheckForTest(Failover(kTestVm, "step-3"), nullptr).code(),
            absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
