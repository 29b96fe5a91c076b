// State that is true right after it changed, with no manual sync: while a
// failover runs its VM shows FailoverInProgress, at its end Recovered; a test
// failover's test VM appears in the inventory as soon as the job ends and
// is addressable like any VM; its cleanup removes it again.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;

constexpr char kReplica[] = "hv-dr-1";

std::string Vm(int i) { return hvdr::testing::VmName(kReplica, i); }

// The host's test VMs (mode TestReplica).
std::vector<dr::v1::VirtualMachine> TestVms(Cluster& cluster) {
  grpc::ClientContext ctx;
  dr::v1::ListVirtualMachinesRequest r;
  r.set_parent(absl::StrCat("hosts/", kReplica));
  r.set_filter_replication_mode(true);
  r.set_replication_mode(dr::v1::REPLICATION_MODE_TEST_REPLICA);
  dr::v1::ListVirtualMachinesResponse out;
  EXPECT_TRUE(cluster.topology()->ListVirtualMachines(&ctx, r, &out).ok());
  return {out.virtual_machines().begin(), out.virtual_machines().end()};
}

TEST(FreshStateTest, VmStateFollowsTheJobAndTheTestVmAppearsAtItsEnd) {
  Cluster cluster("fresh-state");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 2, 1500);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  // No periodic sync during the test: only the jobs can refresh the state.
  ASSERT_TRUE(cluster.StartServer({"--sync_interval_s=3600"}).ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());

  auto f_resp = cluster.InitiateFailover(Vm(0), "fresh-1");
  ASSERT_TRUE(f_resp.ok()) << f_resp.status();
  // While it runs, the VM shows the hypervisor's state.
  bool in_progress = false;
  for (int i = 0; i < 300 && !in_progress; ++i) {
    auto vm = cluster.GetVirtualMachine(Vm(0));
    ASSERT_TRUE(vm.ok()) << vm.status();
    in_progress = vm->replication_state() == dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS;
    if (!in_progress) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(in_progress) << "the running failover's VM never showed FailoverInProgress";
  auto done = cluster.WaitJob(f_resp->job().name(), absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED);
  // At its end, at once (the job's terminal update carries it).
  EXPECT_EQ(cluster.GetVirtualMachine(Vm(0))->replication_state(),
            dr::v1::REPLICATION_STATE_RECOVERED);

  dr::v1::StartTestFailoverRequest test;
  test.set_virtual_machine(Vm(1));
  test.set_request_id("fresh-2");
  grpc::ClientContext t_ctx;
  dr::v1::JobResponse t_resp;
  ASSERT_TRUE(cluster.failover()->StartTestFailover(&t_ctx, test, &t_resp).ok());
  ASSERT_TRUE(TestVms(cluster).empty());
  auto tested = cluster.WaitJob(t_resp.job().name(), absl::Seconds(30));
  ASSERT_TRUE(tested.ok()) << tested.status();
  ASSERT_EQ(tested->state(), dr::v1::JOB_STATE_COMPLETED);
  // The job's end syncs the host: the test VM is there, addressable.
  std::vector<dr::v1::VirtualMachine> test_vms;
  for (int i = 0; i < 500 && test_vms.empty(); ++i) {
    test_vms = TestVms(cluster);
    if (test_vms.empty()) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(test_vms.size(), 1u) << "the test VM never appeared without a sync";
  auto by_name = cluster.GetVirtualMachine(test_vms[0].name());
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->replication_mode(), dr::v1::REPLICATION_MODE_TEST_REPLICA);
  EXPECT_NE(by_name->vm_id(), VmGuid(1));

  dr::v1::CleanupTestFailoverRequest cleanup;
  cleanup.set_virtual_machine(Vm(1));
  cleanup.set_request_id("fresh-3");
  grpc::ClientContext c_ctx;
  dr::v1::JobResponse c_resp;
  ASSERT_TRUE(cluster.failover()->CleanupTestFailover(&c_ctx, cleanup, &c_resp).ok());
  auto cleaned = cluster.WaitJob(c_resp.job().name(), absl::Seconds(30));
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = TestVms(cluster).empty();
    if (!gone) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the removed test VM stayed in the inventory";
}

}  // namespace
}  // namespace hvdr
