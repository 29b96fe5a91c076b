// The disk of drserver's database fills up while jobs run, then space is
// freed: every job still reaches its true state, with no restart, and no
// operation runs twice. The database lives on a small tmpfs of the test's
// own (mounting one needs root, as CI runs; elsewhere the test is skipped
// and says why).
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;

constexpr char kReplica[] = "hv-dr-1";
constexpr int kVms = 40;

std::string Vm(int i) { return hvdr::testing::VmName(kReplica, i); }

// Writes to `path` until the file system is full; returns the bytes written.
int64_t Fill(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::string chunk(64 << 10, 'x');
  int64_t written = 0;
  for (size_t size = chunk.size(); size >= 512; size /= 2) {
    while (std::fwrite(chunk.data(), 1, size, f) == size && std::fflush(f) == 0) written += size;
    std::clearerr(f);
  }
  std::fclose(f);
  return written;
}

TEST(DiskFullTest, JobsReachTheirTrueStateOnceSpaceIsFreedWithNoRestart) {
  Cluster cluster("disk-full");
  const std::string disk = cluster.dir() + "/disk";
  ASSERT_EQ(::mkdir(disk.c_str(), 0700), 0) << std::strerror(errno);
  if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=16m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs for the database (" << std::strerror(errno)
                 << "): this test needs root, as CI has";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{disk};

  auto scenario = hvdr::testing::ReplicaScenario(kReplica, kVms, 2500);
  // Every poll's progress, from the agent and into the store, so that
  // writes need new pages while the disk is full.
  ASSERT_TRUE(cluster.StartAgent(kReplica, &scenario, {"--progress_interval_ms=0"}).ok());
  ASSERT_TRUE(cluster
                  .StartServer({"--db=" + disk + "/drserver.db", "--sync_interval_s=3600",
                                // every progress written, so that writes need new pages
                                "--progress_interval_ms=0"})
                  .ok());
  ASSERT_TRUE(cluster.Register(kReplica, "sites/dr").ok());
  std::vector<std::string> jobs;
  for (int i = 0; i < kVms; ++i) {
    auto resp = cluster.InitiateFailover(Vm(i), absl::StrCat("full-", i));
    ASSERT_TRUE(resp.ok()) << resp.status();
    jobs.push_back(resp->job().name());
  }
  // The disk fills up while the jobs run: their progress and ends cannot
  // be written.
  const int64_t filled = Fill(disk + "/filler");
  ASSERT_GT(filled, 0);
  // drserver's health says when its store cannot write.
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(cluster.server_address(), grpc::InsecureChannelCredentials()));
  bool refused = false;
  for (int i = 0; i < 600 && !refused; ++i) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest r;
    grpc::health::v1::HealthCheckResponse out;
    refused = health->Check(&ctx, r, &out).ok() &&
              out.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!refused) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(refused) << "the full disk never refused a write (the test did not test it)";
  // The hypervisor finishes every job meanwhile.
  for (int i = 0; i < 1000; ++i) {
    const auto state = cluster.AgentState(kReplica);
    int open = 0;
    for (const auto& j : state.jobs()) open += j.state() < dr::v1::JOB_STATE_COMPLETED ? 1 : 0;
    if (state.jobs_size() == kVms && open == 0) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  // Watchers and readers never saw what is not stored; the store still reads.
  EXPECT_TRUE(cluster.GetJob(jobs[0]).ok());

  std::remove((disk + "/filler").c_str());
  for (const std::string& job : jobs) {
    auto done = cluster.WaitJob(job, absl::Seconds(60));
    ASSERT_TRUE(done.ok()) << job << ": " << done.status();
    EXPECT_EQ(done->state(), dr::v1::JOB_STATE_COMPLETED) << done->DebugString();
  }
  auto vm = cluster.GetVirtualMachine(Vm(kVms - 1));
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(vm->active_job(), "");
  EXPECT_EQ(cluster.AgentState(kReplica).history_size(), kVms) << "an operation ran twice";
  // Calls answered while the disk was full have their audit events now.
  cluster.ExpectEveryCallAudited();
  cluster.KillServer(SIGTERM);
}

}  // namespace
}  // namespace hvdr
