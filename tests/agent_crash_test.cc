// The agent is killed with SIGKILL during failover jobs and restarted; each
// job is found, completes, and the simulated hypervisor ran it exactly once.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "dr/v1/agent_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "hvdr/sim/v1/sim.pb.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace {

using dr::v1::AgentJobStatus;
using hvdr::testing::Subprocess;

constexpr int kTestVms = 3;
std::string VmId(int i) { return absl::StrCat("CCCCCCCC-0000-0000-0000-00000000000", i); }

void WriteScenario(const std::string& path) {
  std::ofstream out(path);
  out << "host_name: \"hv-dr-1\"\ndefault_job_duration_ms: 1500\n";
  for (int i = 0; i < kTestVms; ++i) {
    out << "vms { vm_id: \"" << VmId(i) << "\" name: \"vm" << i
        << "\" mode: REPLICATION_MODE_REPLICA state: REPLICATION_STATE_REPLICATING "
           "enabled: ENABLED_STATE_DISABLED last_replication_seconds_ago: 30 }\n";
  }
}

class Agent {
 public:
  explicit Agent(std::string dir) : dir_(std::move(dir)) {}
  int Start() {
    std::remove((dir_ + "/port").c_str());
    EXPECT_TRUE(proc_
                    .Start({hvdr::testing::RunfilePath("hvagent/hvagent"),
                            "--scenario=" + dir_ + "/scenario.textproto",
                            "--state=" + dir_ + "/sim-state.bin",
                            "--journal=" + dir_ + "/journal.db", "--listen=127.0.0.1:0",
                            "--port_file=" + dir_ + "/port", "--poll_interval_ms=20",
                            // every poll's progress: the kills count statuses
                            "--progress_interval_ms=0", "--insecure"},
                           dir_ + "/agent.log")
                    .ok());
    auto port = proc_.WaitForPortFile(dir_ + "/port", absl::Seconds(20));
    EXPECT_TRUE(port.ok()) << port.status() << hvdr::testing::ReadFile(dir_ + "/agent.log");
    auto channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials());
    stub_ = dr::v1::HostAgentService::NewStub(channel);
    return *port;
  }
  void Kill() { proc_.Signal(SIGKILL); }
  dr::v1::HostAgentService::Stub* stub() { return stub_.get(); }

 private:
  std::string dir_;
  Subprocess proc_;
  std::unique_ptr<dr::v1::HostAgentService::Stub> stub_;
};

TEST(AgentCrashTest, KilledMidFailoverTheJobCompletesExactlyOnce) {
  const std::string dir = hvdr::testing::NewTempDir("agent-crash");
  WriteScenario(dir + "/scenario.textproto");
  Agent agent(dir);
  agent.Start();
  // Kill at three different moments: right after the call was accepted,
  // while running, and late in the job.
  const int kill_after_statuses[kTestVms] = {1, 10, 50};
  for (int i = 0; i < kTestVms; ++i) {
    const std::string job_id = absl::StrCat("jobs/crash-", i);
    dr::v1::HostAgentServiceInitiateFailoverRequest req;
    req.set_job_id(job_id);
    req.set_vm_id(VmId(i));
    {
      grpc::ClientContext ctx;
      auto reader = agent.stub()->InitiateFailover(&ctx, req);
      AgentJobStatus s;
      for (int n = 0; n < kill_after_statuses[i]; ++n) {
        ASSERT_TRUE(reader->Read(&s)) << "status " << n << " of " << job_id;
        ASSERT_FALSE(s.terminal());
      }
      agent.Kill();
      while (reader->Read(&s)) {
      }
      EXPECT_FALSE(reader->Finish().ok());
    }
    agent.Start();
    // The server re-dispatches the same job id after losing the stream.
    grpc::ClientContext ctx;
    auto reader = agent.stub()->InitiateFailover(&ctx, req);
    AgentJobStatus s, last;
    while (reader->Read(&s)) last = s;
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_TRUE(last.terminal()) << job_id;
    EXPECT_EQ(last.state(), dr::v1::JOB_STATE_COMPLETED) << job_id;
  }
  agent.Kill();
  hvdr::sim::v1::SimState state;
  ASSERT_TRUE(state.ParseFromString(hvdr::testing::ReadFile(dir + "/sim-state.bin")));
  for (int i = 0; i < kTestVms; ++i) {
    int started = 0;
    for (const auto& op : state.history()) started += op.vm_id() == VmId(i);
    EXPECT_EQ(started, 1) << "failover of " << VmId(i) << " ran " << started << " times";
    EXPECT_EQ(state.vms(i).state(), dr::v1::REPLICATION_STATE_RECOVERED);
  }
}

}  // namespace
}  // namespace hvdr
