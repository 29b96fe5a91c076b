// Topology logic over a real SqliteStore (in memory) and a mocked agent
// stub: request_id replays of RegisterHost and DeleteHost.
#include "server/topology.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/notification.h"
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
  ASSERT_TRUE(topology_->RegisterHostForTest(Registration("reg-1")).ok());
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
  absl::StatusOr<dr::v1::Host> first = topology_->RegisterHostForTest(Registration("reg-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->reachability(), dr::v1::REACHABILITY_UNREACHABLE);
  EXPECT_FALSE(first->has_last_sync_time());
  absl::StatusOr<dr::v1::Host> again = topology_->RegisterHostForTest(Registration("reg-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->reachability(), dr::v1::REACHABILITY_REACHABLE);
  EXPECT_TRUE(again->has_last_sync_time());
  EXPECT_TRUE(
      sqlite_->GetVirtualMachine(std::string(kTestHost) + "/virtualMachines/" + kTestVmId).ok());
}

TEST_F(TopologyTest, RegisterHostReplayAfterASyncDoesNotSyncAgain) {
  EXPECT_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TestInventory()), Return(grpc::Status::OK)));
  ASSERT_TRUE(topology_->RegisterHostForTest(Registration("reg-1")).ok());
  absl::StatusOr<dr::v1::Host> again = topology_->RegisterHostForTest(Registration("reg-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->has_last_sync_time());
}

TEST_F(TopologyTest, InventoryNamingAnotherHostIsRefusedAndTheHostFlagged) {
  dr::v1::GetInventoryResponse mine = TestInventory();
  mine.set_host_name("HV-DR-1");
  ON_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillByDefault(DoAll(SetArgPointee<2>(mine), Return(grpc::Status::OK)));
  ASSERT_TRUE(topology_->RegisterHostForTest(Registration("reg-1")).ok());
  EXPECT_EQ(sqlite_->GetHost(kTestHost)->hypervisor_host_name(), "HV-DR-1");
  // Another host now answers at the address (a re-used IP, a DNS change):
  // its VMs share GUIDs with ours.
  dr::v1::GetInventoryResponse other;
  auto* vm = other.add_virtual_machines()->mutable_virtual_machine();
  vm->set_vm_id(kTestVmId);
  vm->set_replication_mode(dr::v1::REPLICATION_MODE_PRIMARY);
  other.set_host_name("HV-PROD-1");
  ON_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillByDefault(DoAll(SetArgPointee<2>(other), Return(grpc::Status::OK)));
  absl::StatusOr<dr::v1::Host> synced = topology_->SyncHostForTest(kTestHost);
  EXPECT_EQ(synced.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorDetailOf(synced.status()).reason(), "INVENTORY_REFUSED");
  absl::StatusOr<dr::v1::Host> host = sqlite_->GetHost(kTestHost);
  EXPECT_EQ(host->reachability(), dr::v1::REACHABILITY_WRONG_HOST);
  EXPECT_TRUE(host->stale());
  EXPECT_NE(host->last_error().find("HV-PROD-1"), std::string::npos) << host->last_error();
  // Nothing was mixed in: our copy is still the replica.
  EXPECT_EQ(sqlite_->GetVirtualMachine(std::string(kTestHost) + "/virtualMachines/" + kTestVmId)
                ->replication_mode(),
            dr::v1::REPLICATION_MODE_REPLICA);
  // The right host back (case aside) clears the flag.
  mine.set_host_name("hv-dr-1");
  ON_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillByDefault(DoAll(SetArgPointee<2>(mine), Return(grpc::Status::OK)));
  ASSERT_TRUE(topology_->SyncHostForTest(kTestHost).ok());
  EXPECT_EQ(sqlite_->GetHost(kTestHost)->reachability(), dr::v1::REACHABILITY_REACHABLE);
}

TEST_F(TopologyTest, EmptyInventoryOfAHostWithVmsDeletesNothing) {
  ASSERT_TRUE(topology_->RegisterHostForTest(Registration("reg-1")).ok());
  ON_CALL(*agents_.stub_, GetInventory(_, _, _))
      .WillByDefault(
          DoAll(SetArgPointee<2>(dr::v1::GetInventoryResponse()), Return(grpc::Status::OK)));
  absl::StatusOr<dr::v1::Host> synced = topology_->SyncHostForTest(kTestHost);
  EXPECT_EQ(synced.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      sqlite_->GetVirtualMachine(std::string(kTestHost) + "/virtualMachines/" + kTestVmId).ok())
      << "an empty answer deleted the inventory";
  absl::StatusOr<dr::v1::Host> host = sqlite_->GetHost(kTestHost);
  EXPECT_TRUE(host->stale());
  EXPECT_NE(host->last_error().find("no VM at all"), std::string::npos) << host->last_error();
}

// An agent whose GetInventory answers only when released: a hung host.
class HeldAgent final : public dr::v1::HostAgentService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetInventory(grpc::CallbackServerContext* c,
                                         const dr::v1::GetInventoryRequest*,
                                         dr::v1::GetInventoryResponse* out) override {
    grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
    if (!hold_) {
      *out = TestInventory();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    absl::MutexLock lock(&mu_);
    held_.push_back(reactor);
    return reactor;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    for (grpc::ServerUnaryReactor* r : held_)
      r->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "released"));
    held_.clear();
  }
  std::atomic<bool> hold_{false};

 private:
  absl::Mutex mu_;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
};

class InProcessAgents final : public AgentStubFactory {
 public:
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> Get(
      const std::string& address) override {
    return stubs_.at(address);
  }
  std::map<std::string, std::shared_ptr<dr::v1::HostAgentService::StubInterface>> stubs_;
};

TEST(TopologySyncTest, AHungHostDelaysNoOtherHostsSync) {
  HeldAgent hung, fine;
  hung.hold_ = true;
  std::vector<std::unique_ptr<grpc::Server>> servers;
  InProcessAgents agents;
  for (auto [address, service] :
       {std::pair{"127.0.0.1:7001", &hung}, std::pair{"127.0.0.1:7002", &fine}}) {
    grpc::ServerBuilder builder;
    builder.RegisterService(service);
    servers.push_back(builder.BuildAndStart());
    agents.stubs_[address] =
        dr::v1::HostAgentService::NewStub(servers.back()->InProcessChannel({}));
  }
  auto store = *SqliteStore::Open(":memory:", {});
  FakeClock clock;
  Topology::Options options;
  options.agent_timeout = absl::Seconds(60);  // the hung host holds its sync this long
  options.sync_interval = absl::Milliseconds(20);
  Topology topology(store.get(), &agents, &clock, options);
  for (auto [id, address] :
       {std::pair{"hv-1", "127.0.0.1:7001"}, std::pair{"hv-2", "127.0.0.1:7002"}}) {
    dr::v1::Host host;
    host.set_name(std::string("hosts/") + id);
    host.set_site("sites/dr");
    host.set_agent_address(address);
    ASSERT_TRUE(store->CreateHost(host, nullptr).ok());
  }
  // On demand: the hung host's sync does not hold the caller, nor the other.
  absl::Notification hung_answered;
  topology.SyncHostAsync("hosts/hv-1",
                         [&](const absl::StatusOr<dr::v1::Host>&) { hung_answered.Notify(); });
  EXPECT_TRUE(topology.SyncHostForTest("hosts/hv-2").ok());
  EXPECT_TRUE(store->GetHost("hosts/hv-2")->has_last_sync_time());
  EXPECT_FALSE(hung_answered.HasBeenNotified());
  // Periodic: the round syncs a new host, hv-3, while hv-1 hangs.
  dr::v1::Host third;
  third.set_name("hosts/hv-3");
  third.set_site("sites/dr");
  third.set_agent_address("127.0.0.1:7002");
  ASSERT_TRUE(store->CreateHost(third, nullptr).ok());
  topology.StartPeriodicSync();
  bool synced = false;
  for (int i = 0; i < 500 && !synced; ++i) {
    synced = store->GetHost("hosts/hv-3")->has_last_sync_time();
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(synced) << "the periodic sync of hv-3 waited for the hung hv-1";
  EXPECT_FALSE(hung_answered.HasBeenNotified());
  hung.hold_ = false;  // the periodic round asked hv-1 again: answer that one
  hung.Release();
  hung_answered.WaitForNotification();
  topology.Stop();
  for (auto& s : servers) s->Shutdown();
}

}  // namespace
}  // namespace server
}  // namespace hvdr
