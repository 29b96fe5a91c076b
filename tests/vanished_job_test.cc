// A hypervisor job that vanished (Hyper-V removed it after TimeBeforeRemoval
// while the agent was down, or vmms restarted) never wedges its VM: the job
// is reconciled from the VM's observed state where that proves the outcome,
// and otherwise reports 32771 until an operator abandons it, which releases
// the VM for new jobs.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;
using ::testing::HasSubstr;

constexpr char kReplica[] = "hv-dr-1";

std::string Vm(int i) { return hvdr::testing::VmName(kReplica, i); }

// The failover's job name.
absl::StatusOr<std::string> Failover(Cluster& cluster, int vm, const std::string& request_id) {
  absl::StatusOr<dr::v1::JobResponse> resp = cluster.InitiateFailover(Vm(vm), request_id);
  if (!resp.ok()) return resp.status();
  return resp->job().name();
}

dr::v1::VirtualMachine GetVm(Cluster& cluster, int vm) {
  absl::StatusOr<dr::v1::VirtualMachine> got = cluster.GetVirtualMachine(Vm(vm));
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : dr::v1::VirtualMachine();
}

grpc::Status Abandon(Cluster& cluster, const std::string& job, const std::string& request_id,
                     dr::v1::Job* out) {
  grpc::ClientContext ctx;
  dr::v1::AbandonJobRequest r;
  r.set_name(job);
  r.set_reason("host rebooted during the failover; VM checked by hand: still a replica");
  r.set_request_id(request_id);
  r.set_requester("oncall-alice");
  return cluster.jobs()->AbandonJob(&ctx, r, out);
}

// Polls until the job's return code is 32771 (false after 30 s).
bool WaitUnknown(Cluster& cluster, const std::string& job, dr::v1::Job* last) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    auto j = cluster.GetJob(job);
    if (j.ok()) {
      *last = *j;
      if (j->return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN) return true;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST(VanishedJobTest, RemovedWhileTheAgentWasDownIsReconciledFromTheVmsState) {
  Cluster cluster("vanished-reconciled");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 1, 500);
  scenario.set_time_before_removal_seconds(1);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  ASSERT_TRUE(cluster.StartServer({"--retry_deadline_s=1"}).ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  absl::StatusOr<std::string> job = Failover(cluster, 0, "rec-1");
  ASSERT_TRUE(job.ok()) << job.status();
  // The agent dies as soon as the hypervisor has the job, and stays down
  // longer than the job's duration plus TimeBeforeRemoval.
  for (int i = 0; i < 200 && cluster.AgentState(kReplica).jobs_size() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  cluster.KillAgent(kReplica, SIGKILL);
  absl::SleepFor(absl::Milliseconds(2500));
  ASSERT_TRUE(cluster.StartAgent(kReplica, nullptr).ok());

  auto done = cluster.WaitJob(*job, absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED) << done->DebugString();
  EXPECT_EQ(done->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_THAT(done->error_description(),
              HasSubstr("proves that JOB_TYPE_INITIATE_FAILOVER completed"));
  // The VM is released and shows the failed-over state.
  dr::v1::VirtualMachine vm = GetVm(cluster, 0);
  EXPECT_EQ(vm.active_job(), "");
  EXPECT_EQ(vm.replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(cluster.AgentState(kReplica).history_size(), 1) << "the failover ran more than once";
  // And usable: the next operation is accepted.
  dr::v1::CommitFailoverRequest commit;
  commit.set_virtual_machine(Vm(0));
  commit.set_request_id("rec-commit");
  grpc::ClientContext ctx;
  dr::v1::JobResponse resp;
  grpc::Status s = cluster.failover()->CommitFailover(&ctx, commit, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(VanishedJobTest, UnprovableOutcomeIsUnknownUntilAbandonedThenTheVmIsUsable) {
  Cluster cluster("vanished-abandoned");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 1, 1000);
  auto* fault = scenario.add_faults();  // vmms restarts during the first failover
  fault->set_vm_id(VmGuid(0));
  fault->set_operation(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  fault->set_vanish_at_percent(30);
  fault->set_count(1);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  ASSERT_TRUE(cluster.StartServer({"--retry_deadline_s=1"}).ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  absl::StatusOr<std::string> job = Failover(cluster, 0, "lost-1");
  ASSERT_TRUE(job.ok()) << job.status();
  dr::v1::Job seen;
  ASSERT_TRUE(WaitUnknown(cluster, *job, &seen)) << seen.DebugString();
  EXPECT_LT(seen.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_THAT(seen.error_description(), HasSubstr("AbandonJob"));
  EXPECT_EQ(GetVm(cluster, 0).active_job(), *job);

  // A job whose outcome is known cannot be abandoned; this one is refused
  // nothing but is still unknown after a restart of drserver.
  cluster.KillServer(SIGKILL);
  ASSERT_TRUE(cluster.StartServer({"--retry_deadline_s=1"}).ok());
  ASSERT_TRUE(WaitUnknown(cluster, *job, &seen)) << seen.DebugString();
  dr::v1::Job abandoned;
  grpc::Status s = Abandon(cluster, *job, "abandon-1", &abandoned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(abandoned.state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(abandoned.return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_THAT(abandoned.error_description(), HasSubstr("abandoned by oncall-alice: host rebooted"));
  // A retry (even from someone else's script) answers the same.
  dr::v1::Job again;
  ASSERT_TRUE(Abandon(cluster, *job, "abandon-1", &again).ok());
  EXPECT_EQ(again.version(), abandoned.version());
  // The VM is released: a new failover runs.
  EXPECT_EQ(GetVm(cluster, 0).active_job(), "");
  absl::StatusOr<std::string> next = Failover(cluster, 0, "lost-2");
  ASSERT_TRUE(next.ok()) << next.status();
  auto done = cluster.WaitJob(*next, absl::Seconds(30));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED);
  // Abandoning a job that ended is refused, naming the job.
  dr::v1::Job refused;
  s = Abandon(cluster, *next, "abandon-2", &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

TEST(VanishedJobTest, AbandonIsRefusedWhileTheOutcomeCanStillBeRead) {
  Cluster cluster("abandon-refused");
  auto scenario = hvdr::testing::ReplicaScenario(kReplica, 1, 3000);
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario).ok());
  ASSERT_TRUE(cluster.StartServer().ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  absl::StatusOr<std::string> job = Failover(cluster, 0, "busy-1");
  ASSERT_TRUE(job.ok()) << job.status();
  dr::v1::Job refused;
  grpc::Status s = Abandon(cluster, *job, "abandon-busy", &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("cancel it instead"));
  auto done = cluster.WaitJob(*job, absl::Seconds(30));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED);
}

}  // namespace
}  // namespace hvdr
