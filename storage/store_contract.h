// The contract every Store implementation keeps (storage/store.h and the
// interfaces it joins), as parameterized GoogleTest suites: a test binary
// for an implementation links the suites (storage:*_contract) and
// instantiates them with its factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
//                            ::testing::Values(StoreFactory{"sqlite", open}));
//
// plus the fixtures and records the suites share.
#ifndef HVDR_STORAGE_STORE_CONTRACT_H_
#define HVDR_STORAGE_STORE_CONTRACT_H_

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "storage/store.h"

namespace hvdr {

// How a suite opens the implementation under test.
struct StoreFactory {
  std::string name;
  // Opens the store kept at `path` (a file path: a test reopens it to see
  // what survived).
  std::function<absl::StatusOr<std::unique_ptr<Store>>(const std::string& path)> open;
};
inline std::ostream& operator<<(std::ostream& os, const StoreFactory& f) { return os << f.name; }

inline constexpr char kTestHost[] = "hosts/hv-replica-1";
inline constexpr char kTestSite[] = "sites/dr-east";
inline constexpr char kTestVmId[] = "0B2A4C5D-1111-2222-3333-444455556666";
inline const absl::Time kTestNow = absl::FromUnixSeconds(1790000000);

inline std::string TempDbPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, ".db");
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  return path;
}

inline std::string VmName(const std::string& host, const std::string& id) {
  return absl::StrCat(host, "/virtualMachines/", id);
}

inline dr::v1::Host TestHost(const std::string& name = kTestHost,
                             const std::string& site = kTestSite) {
  dr::v1::Host h;
  h.set_name(name);
  h.set_site(site);
  h.set_agent_address("127.0.0.1:7001");
  ToProto(kTestNow, h.mutable_create_time());
  return h;
}

inline dr::v1::VirtualMachineInventory TestVm(const std::string& id, const std::string& display,
                                              int recovery_points = 2) {
  dr::v1::VirtualMachineInventory inv;
  auto* vm = inv.mutable_virtual_machine();
  vm->set_vm_id(id);
  vm->set_display_name(display);
  vm->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  vm->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm->set_replication_health(dr::v1::REPLICATION_HEALTH_OK);
  vm->set_enabled_state(dr::v1::ENABLED_STATE_DISABLED);
  ToProto(kTestNow - absl::Minutes(5), vm->mutable_last_replication_time());
  auto* rel = inv.add_replication_relationships();
  rel->set_name("0");
  rel->set_primary_host("hv-primary-1.corp");
  rel->set_replica_host("hv-replica-1.corp");
  rel->set_replication_interval_seconds(300);
  rel->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  for (int i = 0; i < recovery_points; ++i) {
    auto* rp = inv.add_recovery_points();
    rp->set_name(absl::StrCat("rp-", i));
    rp->set_type(i % 2 == 0 ? dr::v1::RECOVERY_POINT_TYPE_STANDARD
                            : dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
    ToProto(kTestNow - absl::Hours(recovery_points - i), rp->mutable_create_time());
  }
  return inv;
}

inline dr::v1::Job TestJob(const std::string& id, const std::string& vm_name) {
  dr::v1::Job j;
  j.set_name(absl::StrCat("jobs/", id));
  j.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  j.set_state(dr::v1::JOB_STATE_NEW);
  j.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  j.set_virtual_machine(vm_name);
  j.set_host(kTestHost);
  j.set_requester("runbook");
  ToProto(kTestNow, j.mutable_create_time());
  return j;
}

inline RequestKey Key(const std::string& id, const std::string& fp = "fp") {
  return RequestKey{id, "dr.v1.FailoverService/InitiateFailover", fp};
}

inline JobUpdate Update(const std::string& job, dr::v1::JobState state, uint32_t percent = 0) {
  JobUpdate u;
  u.job = job;
  u.state = state;
  u.percent_complete = percent;
  u.event_time = kTestNow + absl::Seconds(percent + 1);
  u.message = "test";
  return u;
}

class StoreContractTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    // Parameterized tests are named "Name/param".
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    path_ = TempDbPath(name);
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto store = GetParam().open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // A host with one replica VM; returns the VM's name.
  std::string SeedVm(const std::string& id = kTestVmId) {
    auto created = store_->CreateHost(TestHost(), nullptr);
    EXPECT_TRUE(created.ok() || created.status().code() == absl::StatusCode::kAlreadyExists);
    EXPECT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm(id, "sql-01")}, kTestNow).ok());
    return VmName(kTestHost, id);
  }

  std::string path_;
  std::unique_ptr<Store> store_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_STORE_CONTRACT_H_
