// drserver is killed with SIGKILL during running failover jobs, at different
// moments, and restarted on the same database. Each job reaches its true
// terminal state, the simulated hypervisor ran each failover exactly once,
// and PRAGMA integrity_check is ok.
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;

constexpr int kTestKills = 12;
constexpr int kTestJobMs = 1200;
constexpr char kReplica[] = "hv-dr-1";

TEST(ServerCrashTest, AcceptedJobsSurviveSigkillAndRunExactlyOnce) {
  Cluster cluster("server-crash");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, kTestKills, kTestJobMs);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  ASSERT_TRUE(cluster.StartServer().ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  std::mt19937 rng(42);
  std::vector<std::string> jobs;
  for (int i = 0; i < kTestKills; ++i) {
    dr::v1::InitiateFailoverRequest r;
    r.set_virtual_machine(absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(i)));
    r.set_request_id(absl::StrCat("crash-", i));
    grpc::ClientContext ctx;
    dr::v1::JobResponse resp;
    ASSERT_TRUE(cluster.failover()->InitiateFailover(&ctx, r, &resp).ok());
    jobs.push_back(resp.job().name());
    // Kill at a different moment each time: right after the answer, or at
    // some point while the job runs (the first kills come earliest).
    const int wait_ms =
        i == 0 ? 0 : std::uniform_int_distribution<int>(0, kTestJobMs + 200)(rng) * i / kTestKills;
    absl::SleepFor(absl::Milliseconds(wait_ms));
    cluster.KillServer(SIGKILL);
    ASSERT_TRUE(cluster.StartServer().ok()) << "restart " << i;
    // A retry of the same request after the crash answers the same job.
    grpc::ClientContext retry_ctx;
    dr::v1::JobResponse again;
    ASSERT_TRUE(cluster.failover()->InitiateFailover(&retry_ctx, r, &again).ok());
    EXPECT_EQ(again.job().name(), resp.job().name());
    auto done = cluster.WaitJob(resp.job().name(), absl::Seconds(30));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED)
        << "kill " << i << " after " << wait_ms << " ms";
  }
  // Every call answered before a kill has its audit event: recorded before
  // it was answered.
  cluster.ExpectEveryCallAudited();
  cluster.KillServer(SIGKILL);
  const auto state = cluster.AgentState(kReplica);
  for (int i = 0; i < kTestKills; ++i) {
    int ran = 0;
    for (const auto& op : state.history()) ran += op.vm_id() == VmGuid(i);
    EXPECT_EQ(ran, 1) << "failover of VM " << i << " ran " << ran << " times";
    EXPECT_EQ(state.vms(i).state(), dr::v1::REPLICATION_STATE_RECOVERED);
  }
  auto store = SqliteStore::Open(cluster.dir() + "/drserver.db", {});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  for (const std::string& job : jobs) {
    auto j = (*store)->GetJob(job);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(j->state(), dr::v1::JOB_STATE_COMPLETED);
  }
  EXPECT_TRUE((*store)->ListActiveJobs()->empty());
}

}  // namespace
}  // namespace hvdr
