// The contract of storage/topology_store.h for syncs that follow one
// another: what a later inventory changes, and what it leaves.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "storage/store_contract.h"

namespace hvdr {
namespace {

TEST_P(StoreContractTest, ASyncAppliesEveryChangeOfRelationshipsAndRecoveryPoints) {
  std::string vm_name = SeedVm();
  // The same inventory again: nothing changes.
  ASSERT_TRUE(
      store_
          ->ReplaceInventory(kTestHost, {TestVm(kTestVmId, "sql-01")}, kTestNow + absl::Seconds(1))
          .ok());
  ASSERT_EQ(store_->ListRecoveryPoints(vm_name, {})->items.size(), 2u);
  ASSERT_EQ(store_->ListReplicationRelationships(vm_name)->size(), 1u);
  // One point's type, the interval and the point count change: each is seen.
  dr::v1::VirtualMachineInventory changed = TestVm(kTestVmId, "sql-01", 3);
  changed.mutable_recovery_points(0)->set_type(dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
  changed.mutable_replication_relationships(0)->set_replication_interval_seconds(30);
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {changed}, kTestNow + absl::Seconds(2)).ok());
  auto rps = store_->ListRecoveryPoints(vm_name, {});
  ASSERT_TRUE(rps.ok());
  ASSERT_EQ(rps->items.size(), 3u);
  EXPECT_EQ(store_->GetRecoveryPoint(vm_name + "/recoveryPoints/rp-0")->type(),
            dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
  EXPECT_EQ((*store_->ListReplicationRelationships(vm_name))[0].replication_interval_seconds(),
            30u);
  // Every point goes (a failover's commit removes them): none is left.
  dr::v1::VirtualMachineInventory none = TestVm(kTestVmId, "sql-01", 0);
  none.clear_replication_relationships();
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {none}, kTestNow + absl::Seconds(3)).ok());
  EXPECT_TRUE(store_->ListRecoveryPoints(vm_name, {})->items.empty());
  EXPECT_TRUE(store_->ListReplicationRelationships(vm_name)->empty());
}

}  // namespace
}  // namespace hvdr
