// The agent is stopped during a job: after the retry deadline the job is
// reported 32771 (status unknown), never completed or failed on a guess; when
// the agent comes back the job is reconciled to its true outcome.
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;

constexpr char kReplica[] = "hv-dr-1";

TEST(AgentDownTest, UnknownWhileDownThenReconciled) {
  Cluster cluster("agent-down");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 1, 2500);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  ASSERT_TRUE(cluster.StartServer({"--retry_deadline_s=1"}).ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine(absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(0)));
  r.set_request_id("down-1");
  grpc::ClientContext ctx;
  dr::v1::JobResponse resp;
  ASSERT_TRUE(cluster.failover()->InitiateFailover(&ctx, r, &resp).ok());
  const std::string job = resp.job().name();
  absl::SleepFor(absl::Milliseconds(400));
  cluster.KillAgent(kReplica, SIGKILL);

  // Unknown after the retry deadline; never terminal while the agent is down.
  dr::v1::Job seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    auto j = cluster.GetJob(job);
    ASSERT_TRUE(j.ok());
    seen = *j;
    ASSERT_LT(seen.state(), dr::v1::JOB_STATE_COMPLETED) << "job ended while its agent was down";
    if (seen.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(seen.return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_EQ(seen.error_summary(), "Status is unknown");
  EXPECT_NE(seen.error_description().find("unreachable"), std::string::npos)
      << seen.error_description();
  // Still unknown a while later: no guess.
  absl::SleepFor(absl::Seconds(3));
  auto still = cluster.GetJob(job);
  EXPECT_LT(still->state(), dr::v1::JOB_STATE_COMPLETED);

  // The agent comes back on its address, with the hypervisor's state and
  // its journal: the server reconciles the job to what really happened.
  ASSERT_TRUE(cluster.StartAgent(kReplica, nullptr).ok());
  auto done = cluster.WaitJob(job, absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(done->error_summary(), "");
  const auto state = cluster.AgentState(kReplica);
  ASSERT_EQ(state.history_size(), 1) << "the failover ran more than once";
}

}  // namespace
}  // namespace hvdr
