// Topology logic over a real SqliteStore (in memory) and a mocked agent
// stub: request_id replays of RegisterHost and DeleteHost.
#include "server/topology.h"

#include <functional>
#include <memory>

#include "common/hyperv_status.h"
#include "dr/v1/agent_service_mock.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/forwarding_store.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::SetArgPointee;

constexpr char kTestAddress[] = "127.0.0.1:7001";
constexpr char kTestHost[] = "hosts/hv-dr-1";
constexpr char kTestVmId[] = "11111111-0000-0000-0000-000000000001";

class OneAgent final : public AgentStubFactory {
 public:
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> Get(const std::string&) override {
    return stub_;
  }
  std::shared_ptr<NiceMock<dr::v1::MockHostAgentServiceStub>> stub_ =
      std::make_shared<NiceMock<dr::v1::MockHostAgentServiceStub>>();
};

// Runs `after_delete` once, right after the first delete's store call
// returns: a retry arriving at exactly that moment.
class RetryAfterDelete final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key) override {
    absl::StatusOr<bool> result = ForwardingStore::DeleteHost(name, key);
    if (after_delete) {
      auto retry = std::move(after_delete);
      after_delete = nullptr;
      retry();
    }
    return result;
  }
  std::function<void()> after_delete;
};

dr::v1::GetInventoryResponse TestInventory() {
  dr::v1::GetInventoryResponse inv;
  auto* vm = inv.add_virtual_machines()->mutable_virtual_machine();
  vm->set_vm_id(kTestVmId);
  vm->set_display_name("sql-01");
  vm->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  return inv;
}

class TopologyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sqlite_ = *SqliteStore::Open(":memory:", {});
    store_ = std::make_unique<RetryAfterDelete>(sqlite_.get());
    topology_ = std::make_unique<Topology>(store_.get(), &agents_, &clock_, Topology::Options());
    ON_CALL(*agents_.stub_, GetInventory(_, _, _))
        .WillByDefault(DoAll(SetArgPointee<2>(TestInventory()), Return(grpc::Status::OK)));
  }
  dr::v1::RegisterHostRequest Registration(const std::string& request_id) {
    dr::v1::RegisterHostRequest r;
    r.set_host_id("hv-dr-1");
    r.set_site("sites/dr");
    r.set_agent_address(kTestAddress);
    r.set_request_id(request_id);
    return r;
  }
  dr::v1::DeleteHostRequest Deletion(const std::string& name, const std::string& request_id) {
    dr::v1::DeleteHostRequest r;
    r.set_name(name);
    r.set_request_id(request_id);
    return r;
  }

  FakeClock clock_;
  OneAgent agents_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<RetryAfterDelete> store_;
  std::unique_ptr<Topology> topology_;
};

TEST_F(TopologyTest, DeleteHostRetryRacingTheFirstCallAnswersOk) {
  ASSERT_TRUE(topology_->RegisterHost(Registration("reg-1")).ok());
  absl::Status retried = absl::UnknownError("retry did not run");
  store_->after_delete = [&] { retried = topology_->DeleteHost(Deletion(kTestHost, "del-1")); };
  absl::Status first = topology_->DeleteHost(Deletion(kTestHost, "del-1"));
  EXPECT_TRUE(first.ok()) << first;
  EXPECT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(sqlite_->GetHost(kTestHost).status().code(), absl::StatusCode::kNotFound);
  // Later retries too; the request_id of another request is refused.
  EXPECT_TRUE(topology_->DeleteHost(Deletion(kTestHost, "del-1")).ok());
  absl::Status reuse = topology_->DeleteHost(Deletion("hosts/hv-dr-2", "del-1"));
  EXPECT_EQ(reuse.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(reuse).field(), "request_id");
}

TEST_F(TopologyTest, RegisterHostReplayFinishesASyncThatFailed) {
  EXPECT_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")))
      .WillOnce(DoAll(SetArgPointee<2>(TestInventory()), Return(grpc::Status::OK)));
  absl::StatusOr<dr::v1::Host> first = topology_->RegisterHost(Registration("reg-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->reachability(), dr::v1::REACHABILITY_UNREACHABLE);
  EXPECT_FALSE(first->has_last_sync_time());
  absl::StatusOr<dr::v1::Host> again = topology_->RegisterHost(Registration("reg-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->reachability(), dr::v1::REACHABILITY_REACHABLE);
  EXPECT_TRUE(again->has_last_sync_time());
  EXPECT_TRUE(sqlite_->GetVirtualMachine(std::string(kTestHost) + "/virtualMachines/" + kTestVmId).ok());
}

TEST_F(TopologyTest, RegisterHostReplayAfterASyncDoesNotSyncAgain) {
  EXPECT_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TestInventory()), Return(grpc::Status::OK)));
  ASSERT_TRUE(topology_->RegisterHost(Registration("reg-1")).ok());
  absl::StatusOr<dr::v1::Host> again = topology_->RegisterHost(Registration("reg-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->has_last_sync_time());
}

}  // namespace
}  // namespace server
}  // namespace hvdr
