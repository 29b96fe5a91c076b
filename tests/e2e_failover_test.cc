// drserver + two hvagent processes (primary site, replica site) on loopback.
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;

constexpr int kTestJobMs = 800;
constexpr char kPrimary[] = "hv-prod-1";
constexpr char kReplica[] = "hv-dr-1";

std::string ReplicaVm(int i) {
  return absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(i));
}

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto primary = hvdr::testing::PrimaryScenario(kPrimary, 3, kTestJobMs);
    auto replica = hvdr::testing::ReplicaScenario(kReplica, 3, kTestJobMs);
    ASSERT_TRUE(cluster_.StartAgent(kPrimary, &primary).ok());
    ASSERT_TRUE(cluster_.StartAgent(kReplica, &replica).ok());
    ASSERT_TRUE(cluster_.StartServer().ok());
    ASSERT_TRUE(cluster_.Register(kPrimary, "sites/prod").ok());
    ASSERT_TRUE(cluster_.Register(kReplica, "sites/dr").ok());
  }

  struct Submitted {
    absl::Status status;
    dr::v1::JobResponse response;
  };
  template <typename Req, typename Method>
  Submitted Call(Method method, const Req& req) {
    Submitted out;
    grpc::ClientContext ctx;
    grpc::Status st = (cluster_.failover()->*method)(&ctx, req, &out.response);
    out.status = FromGrpcStatus(st, &ctx);
    return out;
  }
  Submitted Failover(int vm, const std::string& rp, const std::string& request_id) {
    dr::v1::InitiateFailoverRequest r;
    r.set_virtual_machine(ReplicaVm(vm));
    if (!rp.empty()) r.set_recovery_point(ReplicaVm(vm) + "/recoveryPoints/" + rp);
    r.set_request_id(request_id);
    r.set_requester("e2e");
    return Call(&dr::v1::FailoverService::Stub::InitiateFailover, r);
  }
  template <typename Req>
  Req Simple(int vm, const std::string& request_id) {
    Req r;
    r.set_virtual_machine(ReplicaVm(vm));
    r.set_request_id(request_id);
    return r;
  }
  dr::v1::VirtualMachine Vm(int i) {
    dr::v1::GetVirtualMachineRequest r;
    r.set_name(ReplicaVm(i));
    grpc::ClientContext ctx;
    dr::v1::VirtualMachine out;
    EXPECT_TRUE(cluster_.topology()->GetVirtualMachine(&ctx, r, &out).ok());
    return out;
  }
  dr::v1::Job Completed(const Submitted& s) {
    EXPECT_TRUE(s.status.ok()) << s.status;
    EXPECT_EQ(s.response.return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
    std::vector<dr::v1::Job> seen;
    auto job = cluster_.WaitJob(s.response.job().name(), absl::Seconds(30), &seen);
    EXPECT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state(), dr::v1::JOB_STATE_COMPLETED)
        << job->error_summary() << job->error_description();
    // Watch order: current state first, then every change, versions rising.
    for (size_t i = 1; i < seen.size(); ++i) {
      EXPECT_GT(seen[i].version(), seen[i - 1].version());
      EXPECT_GE(seen[i].state(), seen[i - 1].state());
    }
    return *job;
  }

  Cluster cluster_{"e2e"};
};

TEST_F(E2eTest, InventoryOfBothSitesIsVisible) {
  dr::v1::ListVirtualMachinesRequest r;
  r.set_parent("hosts/-");
  grpc::ClientContext ctx;
  dr::v1::ListVirtualMachinesResponse out;
  ASSERT_TRUE(cluster_.topology()->ListVirtualMachines(&ctx, r, &out).ok());
  EXPECT_EQ(out.virtual_machines_size(), 6);
  r.set_site("sites/dr");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(cluster_.topology()->ListVirtualMachines(&ctx2, r, &out).ok());
  ASSERT_EQ(out.virtual_machines_size(), 3);
  EXPECT_EQ(out.virtual_machines(0).replication_mode(), dr::v1::REPLICATION_MODE_REPLICA);
  EXPECT_EQ(out.virtual_machines(0).site(), "sites/dr");
  dr::v1::ListRecoveryPointsRequest rp;
  rp.set_parent(ReplicaVm(0));
  grpc::ClientContext ctx3;
  dr::v1::ListRecoveryPointsResponse points;
  ASSERT_TRUE(cluster_.topology()->ListRecoveryPoints(&ctx3, rp, &points).ok());
  ASSERT_EQ(points.recovery_points_size(), 2);
  EXPECT_THAT(points.recovery_points(0).name(), ::testing::EndsWith("rp-new"));
}

TEST_F(E2eTest, FailoverRevertFailoverAgainToAPointAndCommit) {
  // Failover to the latest point in time.
  dr::v1::Job first = Completed(Failover(0, "", "fo-1"));
  EXPECT_EQ(first.percent_complete(), 100u);
  EXPECT_EQ(Vm(0).replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(Vm(0).active_job(), "");

  // Revert: back to Replicating.
  Completed(Call(&dr::v1::FailoverService::Stub::RevertFailover,
                 Simple<dr::v1::RevertFailoverRequest>(0, "revert-1")));
  EXPECT_EQ(Vm(0).replication_state(), dr::v1::REPLICATION_STATE_REPLICATING);

  // Failover again, to a chosen recovery point; a second concurrent
  // failover of the same VM is refused with 32774.
  Submitted again = Failover(0, "rp-old", "fo-2");
  ASSERT_TRUE(again.status.ok()) << again.status;
  Submitted second = Failover(0, "", "fo-3");
  EXPECT_EQ(second.status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ErrorDetailOf(second.status).return_code(), dr::v1::RETURN_CODE_SYSTEM_IN_USE);
  EXPECT_EQ(ErrorDetailOf(second.status).field(), "virtual_machine");
  dr::v1::Job to_point = Completed(again);
  EXPECT_THAT(to_point.recovery_point(), ::testing::EndsWith("/recoveryPoints/rp-old"));
  auto state = cluster_.AgentState(kReplica);
  EXPECT_EQ(state.vms(0).failed_over_to(), "rp-old");

  // Commit.
  Completed(Call(&dr::v1::FailoverService::Stub::CommitFailover,
                 Simple<dr::v1::CommitFailoverRequest>(0, "commit-1")));
  EXPECT_EQ(Vm(0).replication_state(), dr::v1::REPLICATION_STATE_COMMITTED);

  // The hypervisor ran each operation once.
  state = cluster_.AgentState(kReplica);
  std::map<dr::v1::JobType, int> ran;
  for (const auto& op : state.history()) ran[op.type()]++;
  EXPECT_EQ(ran[dr::v1::JOB_TYPE_INITIATE_FAILOVER], 2);
  EXPECT_EQ(ran[dr::v1::JOB_TYPE_REVERT_FAILOVER], 1);
  EXPECT_EQ(ran[dr::v1::JOB_TYPE_COMMIT_FAILOVER], 1);

  // History of the first job: accepted, progress..., completed.
  dr::v1::ListJobEventsRequest er;
  er.set_parent(first.name());
  grpc::ClientContext ctx;
  dr::v1::ListJobEventsResponse events;
  ASSERT_TRUE(cluster_.jobs()->ListJobEvents(&ctx, er, &events).ok());
  ASSERT_GE(events.job_events_size(), 3);
  EXPECT_EQ(events.job_events(0).state(), dr::v1::JOB_STATE_NEW);
  EXPECT_EQ(events.job_events(events.job_events_size() - 1).state(), dr::v1::JOB_STATE_COMPLETED);
}

TEST_F(E2eTest, RetryWithTheSameRequestIdReturnsTheSameJob) {
  Submitted a = Failover(1, "", "same-id");
  ASSERT_TRUE(a.status.ok());
  Submitted b = Failover(1, "", "same-id");
  ASSERT_TRUE(b.status.ok()) << b.status;
  EXPECT_EQ(a.response.job().name(), b.response.job().name());
  Completed(a);
  // Even after the VM moved on, the retry answers the original job.
  Submitted c = Failover(1, "", "same-id");
  ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(c.response.job().name(), a.response.job().name());
  EXPECT_EQ(c.response.job().state(), dr::v1::JOB_STATE_COMPLETED);
  int ran = 0;
  const auto state = cluster_.AgentState(kReplica);
  for (const auto& op : state.history()) ran += op.vm_id() == VmGuid(1);
  EXPECT_EQ(ran, 1);
}

TEST_F(E2eTest, AWatcherThatNeverReadsDelaysNobody) {
  Submitted s = Failover(2, "", "slow-watch");
  ASSERT_TRUE(s.status.ok());
  const std::string job = s.response.job().name();
  // A watcher that never reads.
  grpc::ClientContext stuck_ctx;
  dr::v1::WatchJobRequest wr;
  wr.set_name(job);
  auto stuck = cluster_.jobs()->WatchJob(&stuck_ctx, wr);
  // Other watchers see every state through to the end.
  constexpr int kWatchers = 20;
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<dr::v1::Job>> results(kWatchers, absl::UnknownError("not run"));
  for (int i = 0; i < kWatchers; ++i) {
    threads.emplace_back([&, i] { results[i] = cluster_.WaitJob(job, absl::Seconds(30)); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->state(), dr::v1::JOB_STATE_COMPLETED);
  }
  // The job itself completed while the stuck watcher still had not read.
  EXPECT_EQ(cluster_.GetJob(job)->state(), dr::v1::JOB_STATE_COMPLETED);
  // The stuck watcher, read at last, still ends with the terminal state.
  dr::v1::WatchJobResponse msg, last;
  while (stuck->Read(&msg)) last = msg;
  EXPECT_TRUE(stuck->Finish().ok());
  EXPECT_EQ(last.job().state(), dr::v1::JOB_STATE_COMPLETED);
}

}  // namespace
}  // namespace hvdr
