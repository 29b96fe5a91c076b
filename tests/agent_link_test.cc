// Liveness and reachability from the live agent stream: a hung agent
// (SIGSTOP) is found through HTTP/2 keepalive and its job goes 32771 after
// the retry deadline, then is reconciled after SIGCONT; a request for a host
// whose agent just died is refused 32777 at once, and one whose agent is
// back is accepted at once, without waiting for a sync.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;

constexpr char kReplica[] = "hv-dr-1";

std::string Vm(int i) { return hvdr::testing::VmName(kReplica, i); }

// Polls GetJob until `done` holds (false after 30 s).
template <typename F>
bool PollJob(Cluster& cluster, const std::string& job, F done, dr::v1::Job* last) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    auto j = cluster.GetJob(job);
    if (j.ok()) {
      *last = *j;
      if (done(*j)) return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST(AgentLinkTest, HungAgentIsFoundByKeepaliveThenReconciled) {
  Cluster cluster("agent-hung");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 2, 3000);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  ASSERT_TRUE(cluster
                  .StartServer({"--retry_deadline_s=2", "--agent_keepalive_s=1",
                                "--agent_keepalive_timeout_s=1"})
                  .ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  auto resp = cluster.InitiateFailover(Vm(0), "hung-1");
  ASSERT_TRUE(resp.ok()) << resp.status();
  const std::string job = resp->job().name();
  dr::v1::Job seen;
  ASSERT_TRUE(PollJob(
      cluster, job, [](const dr::v1::Job& j) { return j.state() == dr::v1::JOB_STATE_RUNNING; },
      &seen));

  const absl::Time stopped = absl::Now();
  cluster.KillAgent(kReplica, SIGSTOP);  // alive to TCP, silent to HTTP/2
  ASSERT_TRUE(PollJob(
      cluster, job,
      [](const dr::v1::Job& j) {
        return j.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN ||
               j.state() >= dr::v1::JOB_STATE_COMPLETED;
      },
      &seen))
      << "a stopped agent's job never went 32771: " << seen.DebugString();
  EXPECT_EQ(seen.return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_EQ(seen.state(), dr::v1::JOB_STATE_RUNNING) << "32771 must not move the job's state";
  // Within the bound the flags set: keepalive (1 s) and its timeout (1 s)
  // find the hung agent, then retry_deadline (2 s); the job's update time is
  // drserver's record of the 32771. The margin is for a loaded machine, not
  // a measurement: without keepalive the stream of a stopped agent never
  // breaks and the job never goes 32771.
  const absl::Duration bound = absl::Seconds(1 + 1 + 2);
  EXPECT_LE(FromProto(seen.update_time()) - stopped, bound + absl::Seconds(8))
      << "32771 recorded " << FromProto(seen.update_time()) - stopped << " after the SIGSTOP";
  // Requests for the hung host are refused while it is down.
  auto refused = cluster.InitiateFailover(Vm(1), "hung-2");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();

  cluster.KillAgent(kReplica, SIGCONT);
  auto done = cluster.WaitJob(job, absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(done->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(cluster.AgentState(kReplica).history_size(), 1) << "the failover ran more than once";
}

TEST(AgentLinkTest, DeadAgentRefusedAtOnceAndBackAgentUsableAtOnce) {
  Cluster cluster("agent-link");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 2, 200);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  // A sync interval far longer than the test: only the live stream can
  // tell the server what happened.
  ASSERT_TRUE(cluster.StartServer({"--sync_interval_s=3600"}).ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());

  cluster.KillAgent(kReplica, SIGKILL);
  // The stream breaks at once; the request after is refused 32777, not
  // accepted to sit in New.
  absl::StatusOr<dr::v1::JobResponse> resp;
  for (int i = 0; i < 100; ++i) {
    resp = cluster.InitiateFailover(Vm(0), absl::StrCat("dead-", i));
    if (!resp.ok()) break;
    absl::SleepFor(absl::Milliseconds(20));  // the kernel closing the socket
  }
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kUnavailable) << resp.status();
  EXPECT_NE(resp.status().message().find("unreachable"), std::string::npos) << resp.status();

  ASSERT_TRUE(cluster.StartAgent(kReplica, nullptr).ok());
  for (int i = 0; i < 200; ++i) {
    resp = cluster.InitiateFailover(Vm(1), absl::StrCat("back-", i));
    if (resp.ok()) break;
    absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_TRUE(resp.ok()) << "agent back but the host stayed refused: " << resp.status();
  auto done = cluster.WaitJob(resp->job().name(), absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED);
  // The host record says what the stream says.
  grpc::ClientContext ctx;
  dr::v1::GetHostRequest get;
  get.set_name(absl::StrCat("hosts/", kReplica));
  dr::v1::Host host;
  ASSERT_TRUE(cluster.topology()->GetHost(&ctx, get, &host).ok());
  EXPECT_EQ(host.reachability(), dr::v1::REACHABILITY_REACHABLE) << host.DebugString();
}

}  // namespace
}  // namespace hvdr
