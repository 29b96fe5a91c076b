// drctl against a live drserver and agents: JSON output of each command,
// exit statuses, and plain progress lines when stdout is not a terminal.
#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "dr/v1/failover_service.pb.h"
#include "dr/v1/topology_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::VmGuid;
using ::testing::HasSubstr;

constexpr char kPrimary[] = "hv-prod-1";
constexpr char kReplica[] = "hv-dr-1";

struct Result {
  int exit;
  std::string out;
  std::string err;
};

template <typename M>
M FromJson(const std::string& json) {
  M m;
  auto s = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << json;
  return m;
}

class DrctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster("drctl");
    auto primary = hvdr::testing::PrimaryScenario(kPrimary, 6, 400);
    auto replica = hvdr::testing::ReplicaScenario(kReplica, 6, 400);
    auto* fail = replica.add_faults();
    fail->set_vm_id(VmGuid(3));
    fail->set_operation(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    fail->set_fail_at_percent(50);
    fail->set_error_code(32779);
    fail->set_error_summary("Failover failed");
    auto* slow = replica.add_durations();
    slow->set_operation(dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA);
    slow->set_duration_ms(60000);
    ASSERT_TRUE(cluster_->StartAgent(kPrimary, &primary).ok());
    ASSERT_TRUE(cluster_->StartAgent(kReplica, &replica).ok());
    ASSERT_TRUE(cluster_->StartServer().ok());
  }
  static void TearDownTestSuite() { delete cluster_; }

  Result Drctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {hvdr::testing::RunfilePath("cli/drctl"),
                                     "--server=" + cluster_->server_address()};
    argv.insert(argv.end(), args.begin(), args.end());
    Result r;
    r.exit = hvdr::testing::RunCommand(argv, &r.out, &r.err);
    return r;
  }
  void RegisterBoth() {
    for (const char* h : {kPrimary, kReplica}) {
      Result r = Drctl({"hosts", "add", h, "--site", h == std::string(kPrimary) ? "prod" : "dr",
                        "--agent", cluster_->agent_address(h), "--request-id",
                        std::string("add-") + h, "--output", "json"});
      ASSERT_EQ(r.exit, 0) << r.err << r.out;
      auto host = FromJson<dr::v1::Host>(r.out);
      EXPECT_EQ(host.name(), std::string("hosts/") + h);
      EXPECT_EQ(host.reachability(), dr::v1::REACHABILITY_REACHABLE);
    }
  }

  static Cluster* cluster_;
};
Cluster* DrctlTest::cluster_ = nullptr;

TEST_F(DrctlTest, TopologyCommandsPrintJson) {
  RegisterBoth();
  Result hosts = Drctl({"hosts", "list", "--output", "json"});
  ASSERT_EQ(hosts.exit, 0) << hosts.err;
  EXPECT_EQ(FromJson<dr::v1::ListHostsResponse>(hosts.out).hosts_size(), 2);
  Result vms = Drctl({"vms", "list", "--site", "dr", "--state", "replicating", "--output", "json"});
  ASSERT_EQ(vms.exit, 0) << vms.err;
  auto list = FromJson<dr::v1::ListVirtualMachinesResponse>(vms.out);
  ASSERT_EQ(list.virtual_machines_size(), 6);
  EXPECT_EQ(list.virtual_machines(0).site(), "sites/dr");
  Result show = Drctl({"vms", "show", "vm-0", "--host", kReplica, "--output", "json"});
  ASSERT_EQ(show.exit, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("\"recovery_points\""));
  EXPECT_THAT(show.out, HasSubstr("rp-old"));
  Result sites = Drctl({"sites", "list", "--output", "json"});
  EXPECT_EQ(FromJson<dr::v1::ListSitesResponse>(sites.out).sites_size(), 2);
  Result text = Drctl({"vms", "list"});
  EXPECT_EQ(text.exit, 0);
  EXPECT_THAT(text.out, HasSubstr("vm-0"));
  // A name matches both copies: show asks which.
  Result ambiguous = Drctl({"vms", "show", "vm-0"});
  EXPECT_EQ(ambiguous.exit, 3);
  EXPECT_THAT(ambiguous.err, HasSubstr("--host"));
}

TEST_F(DrctlTest, FailoverWaitsAndPrintsTheJobAsJson) {
  RegisterBoth();
  Result r = Drctl({"failover", "vm-0", "--recovery-point", "rp-old", "--output", "json"});
  ASSERT_EQ(r.exit, 0) << r.err << r.out;
  auto job = FromJson<dr::v1::Job>(r.out);
  EXPECT_EQ(job.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(job.type(), dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  EXPECT_THAT(job.recovery_point(), ::testing::EndsWith("/recoveryPoints/rp-old"));
  EXPECT_EQ(job.virtual_machine(),
            absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(0)));
  Result get = Drctl({"jobs", "get", job.name(), "--output", "json"});
  EXPECT_EQ(FromJson<dr::v1::Job>(get.out).name(), job.name());
  Result events = Drctl({"jobs", "events", job.name(), "--output", "json"});
  EXPECT_GE(FromJson<dr::v1::ListJobEventsResponse>(events.out).job_events_size(), 2);
  Result jobs = Drctl({"jobs", "list", "--vm", VmGuid(0), "--host", kReplica, "--output", "json"});
  ASSERT_EQ(jobs.exit, 0) << jobs.err;
  EXPECT_GE(FromJson<dr::v1::ListJobsResponse>(jobs.out).jobs_size(), 1);
  // The commit, by GUID.
  Result commit = Drctl({"commit", VmGuid(0), "--output", "json"});
  ASSERT_EQ(commit.exit, 0) << commit.err;
  EXPECT_EQ(FromJson<dr::v1::Job>(commit.out).type(), dr::v1::JOB_TYPE_COMMIT_FAILOVER);
}

TEST_F(DrctlTest, ProgressIsPlainTimestampedLinesWhenNotATerminal) {
  RegisterBoth();
  Result r = Drctl({"failover", "vm-1"});
  ASSERT_EQ(r.exit, 0) << r.err;
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos);
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 3u);
  EXPECT_THAT(lines.front(), HasSubstr("accepted as jobs/"));
  EXPECT_THAT(lines.back(), HasSubstr("InitiateFailover completed"));
  const std::regex progress(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ jobs/\S+ InitiateFailover (New|Starting|Running|Completed) \d{1,3}%$)");
  int progress_lines = 0;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    EXPECT_TRUE(std::regex_match(lines[i], progress)) << lines[i];
    ++progress_lines;
  }
  EXPECT_GE(progress_lines, 2);
  EXPECT_LE(progress_lines, 30) << "plain logs coalesce progress";
  EXPECT_THAT(lines[lines.size() - 2], HasSubstr("Completed 100%"));
}

TEST_F(DrctlTest, ExitStatusesARunbookCanBranchOn) {
  RegisterBoth();
  // 3: refused by validation (a primary cannot be prepared while running).
  Result refused = Drctl({"prepare", "vm-2", "--output", "json"});
  EXPECT_EQ(refused.exit, 3) << refused.out << refused.err;
  EXPECT_THAT(refused.out, HasSubstr("\"hyperv_return_code\": 32775"));
  EXPECT_THAT(refused.out, HasSubstr("\"field\": \"virtual_machine\""));
  // 3: unknown VM, named in the message.
  Result unknown = Drctl({"failover", "no-such-vm"});
  EXPECT_EQ(unknown.exit, 3);
  EXPECT_THAT(unknown.err, HasSubstr("no-such-vm"));
  // 3: start runs on any copy, so a name of a replicated VM is ambiguous;
  // drserver names the copies and drctl says how to pick one.
  Result ambiguous = Drctl({"start", "vm-5"});
  EXPECT_EQ(ambiguous.exit, 3) << ambiguous.err;
  EXPECT_THAT(ambiguous.err,
              HasSubstr(absl::StrCat("hosts/", kPrimary, "/virtualMachines/", VmGuid(5))));
  EXPECT_THAT(ambiguous.err,
              HasSubstr(absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(5))));
  EXPECT_THAT(ambiguous.err, HasSubstr("--host"));
  // 4: busy.
  Result first = Drctl({"test-failover", "vm-2", "--no-wait"});
  ASSERT_EQ(first.exit, 0) << first.err;
  Result busy = Drctl({"failover", "vm-2"});
  EXPECT_EQ(busy.exit, 4) << busy.err;
  EXPECT_THAT(busy.err, HasSubstr("32774"));
  // 7: gave up waiting.
  Result watch = Drctl(
      {"jobs", "watch", std::string(absl::StripAsciiWhitespace(first.out)), "--wait-timeout", "1"});
  EXPECT_EQ(watch.exit, 7) << watch.err;
  // 5: the job failed.
  Result failed = Drctl({"failover", "vm-3"});
  EXPECT_EQ(failed.exit, 5) << failed.err;
  EXPECT_THAT(failed.err, HasSubstr("32779"));
  // 2: usage.
  EXPECT_EQ(Drctl({"failover"}).exit, 2);
  EXPECT_EQ(Drctl({"failover", "vm-4", "--recovery_point", "x"}).exit, 2);
  EXPECT_EQ(Drctl({"revert", "vm-4", "--recovery-point", "x"}).exit, 2);
  EXPECT_EQ(Drctl({"frobnicate"}).exit, 2);
  // 6: unreachable, naming the address tried.
  std::string out, err;
  int code = hvdr::testing::RunCommand({hvdr::testing::RunfilePath("cli/drctl"),
                                        "--server=127.0.0.1:1", "--timeout=2", "hosts", "list"},
                                       &out, &err);
  EXPECT_EQ(code, 6);
  EXPECT_THAT(err, HasSubstr("127.0.0.1:1"));
  // --help documents the exit statuses.
  Result help = Drctl({"--help"});
  EXPECT_EQ(help.exit, 0);
  EXPECT_THAT(help.out, HasSubstr("Exit status"));
}

TEST_F(DrctlTest, RequestIdMakesAStepSafeToRetry) {
  RegisterBoth();
  Result a = Drctl({"failover", "vm-4", "--request-id", "runbook-step-7", "--no-wait"});
  Result b = Drctl({"failover", "vm-4", "--request-id", "runbook-step-7", "--no-wait"});
  ASSERT_EQ(a.exit, 0) << a.err;
  ASSERT_EQ(b.exit, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  Result wait = Drctl({"jobs", "watch", std::string(absl::StripAsciiWhitespace(a.out))});
  EXPECT_EQ(wait.exit, 0) << wait.err;
  // drctl's calls are in the audit trail, each once: the first and its
  // replay, both answered with the job.
  auto audit = dr::v1::AuditService::NewStub(cluster_->ServerChannel("admin"));
  grpc::ClientContext ctx;
  dr::v1::ListAuditEventsRequest request;
  request.set_method("InitiateFailover");
  dr::v1::ListAuditEventsResponse events;
  ASSERT_TRUE(audit->ListAuditEvents(&ctx, request, &events).ok());
  int step7 = 0;
  for (const dr::v1::AuditEvent& e : events.audit_events()) {
    if (e.request_id() != "runbook-step-7") continue;
    ++step7;
    EXPECT_EQ(e.status_code(), 0) << e.DebugString();
    EXPECT_EQ(e.created(), std::string(absl::StripAsciiWhitespace(a.out))) << e.DebugString();
    EXPECT_THAT(e.identity(), ::testing::StartsWith("insecure:")) << e.DebugString();
  }
  EXPECT_EQ(step7, 2) << events.DebugString();
}

// A runbook re-run after reverse replication swapped the copies' roles:
// each step names the VM, drserver picks the copy, and a step re-run with
// its request_id answers its first job (drctl used to pick the copy itself,
// by the roles as they are now: another request, or none at all).
TEST_F(DrctlTest, ReRunStepAfterReverseReplicationAnswersItsFirstJob) {
  RegisterBoth();
  Result failover = Drctl({"failover", "vm-5", "--request-id", "rb-failover", "--output", "json"});
  ASSERT_EQ(failover.exit, 0) << failover.err << failover.out;
  auto first = FromJson<dr::v1::Job>(failover.out);
  EXPECT_EQ(first.virtual_machine(),
            absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(5)));
  ASSERT_EQ(Drctl({"commit", "vm-5", "--request-id", "rb-commit"}).exit, 0);
  Result reverse = Drctl({"reverse", "vm-5", "--request-id", "rb-reverse", "--output", "json"});
  ASSERT_EQ(reverse.exit, 0) << reverse.err << reverse.out;
  Result again =
      Drctl({"failover", "vm-5", "--request-id", "rb-failover", "--no-wait", "--output", "json"});
  ASSERT_EQ(again.exit, 0) << again.err << again.out;
  auto replayed = FromJson<dr::v1::JobResponse>(again.out);
  EXPECT_EQ(replayed.job().name(), first.name());
  EXPECT_EQ(replayed.job().virtual_machine(), first.virtual_machine());
}

// The test VM a test failover created, addressed with drctl as a user
// would: by the display name drctl prints ("<replica name> - Test"), its
// GUID in any spelling, or its resource name; a VM like any other: shown,
// started, stopped, its jobs listed, until the cleanup removes it.
class DrctlTestVmTest : public DrctlTest {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster("drctl-test-vm");
    auto primary = hvdr::testing::PrimaryScenario(kPrimary, 2, 200);
    auto replica = hvdr::testing::ReplicaScenario(kReplica, 2, 200);
    ASSERT_TRUE(cluster_->StartAgent(kPrimary, &primary).ok());
    ASSERT_TRUE(cluster_->StartAgent(kReplica, &replica).ok());
    // No periodic sync: only the jobs' ends refresh the inventory.
    ASSERT_TRUE(cluster_->StartServer({"--sync_interval_s=3600"}).ok());
  }

  // `drctl vms list --mode test-replica` until it lists `count` VMs (the
  // refresh at a job's end is asynchronous to the job's watchers).
  dr::v1::ListVirtualMachinesResponse TestVms(int count) {
    dr::v1::ListVirtualMachinesResponse list;
    for (int i = 0; i < 500; ++i) {
      Result r = Drctl({"vms", "list", "--mode", "test-replica", "--output", "json"});
      EXPECT_EQ(r.exit, 0) << r.err;
      list = FromJson<dr::v1::ListVirtualMachinesResponse>(r.out);
      if (list.virtual_machines_size() == count) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return list;
  }
};

TEST_F(DrctlTestVmTest, TheTestVmIsAddressedByItsDisplayNameGuidAndName) {
  RegisterBoth();
  const std::string test_name = "vm-1 - Test";
  ASSERT_EQ(TestVms(0).virtual_machines_size(), 0);
  Result test = Drctl({"test-failover", "vm-1", "--request-id", "tvm-test", "--output", "json"});
  ASSERT_EQ(test.exit, 0) << test.err << test.out;
  auto job = FromJson<dr::v1::Job>(test.out);
  ASSERT_EQ(job.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(job.type(), dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA);
  EXPECT_EQ(job.virtual_machine(),
            absl::StrCat("hosts/", kReplica, "/virtualMachines/", VmGuid(1)));

  // Listed, with no sync, as the replica's test VM.
  auto listed = TestVms(1);
  ASSERT_EQ(listed.virtual_machines_size(), 1) << listed.DebugString();
  const dr::v1::VirtualMachine test_vm = listed.virtual_machines(0);
  EXPECT_EQ(test_vm.display_name(), test_name);
  EXPECT_EQ(test_vm.host(), absl::StrCat("hosts/", kReplica));
  EXPECT_EQ(test_vm.replication_mode(), dr::v1::REPLICATION_MODE_TEST_REPLICA);
  EXPECT_NE(test_vm.vm_id(), VmGuid(1));
  EXPECT_EQ(test_vm.name(), absl::StrCat("hosts/", kReplica, "/virtualMachines/", test_vm.vm_id()));
  Result text = Drctl({"vms", "list", "--host", kReplica});
  ASSERT_EQ(text.exit, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr(test_name));
  EXPECT_THAT(text.out, HasSubstr(test_vm.vm_id()));

  // vms show finds the one test VM by each name a user has for it.
  std::string lower = test_vm.vm_id();
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const std::string& arg : {test_name, test_vm.vm_id(), absl::StrCat("{", lower, "}"),
                                 test_vm.name(), absl::StrCat("virtualMachines/", test_name)}) {
    Result show = Drctl({"vms", "show", arg, "--output", "json"});
    ASSERT_EQ(show.exit, 0) << arg << ": " << show.err << show.out;
    EXPECT_THAT(show.out, HasSubstr(absl::StrCat("\"name\": \"", test_vm.name(), "\"")))
        << arg << ": " << show.out;
    EXPECT_THAT(show.out, HasSubstr("REPLICATION_MODE_TEST_REPLICA")) << arg;
  }
  Result shown = Drctl({"vms", "show", test_name});
  ASSERT_EQ(shown.exit, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr(absl::StrCat(test_name, " (", test_vm.name(), ")")));

  // Operations run on it by its display name and by its GUID.
  Result start = Drctl({"start", test_name, "--request-id", "tvm-start", "--output", "json"});
  ASSERT_EQ(start.exit, 0) << start.err << start.out;
  auto started = FromJson<dr::v1::Job>(start.out);
  EXPECT_EQ(started.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(started.type(), dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE);
  EXPECT_EQ(started.virtual_machine(), test_vm.name());
  Result running = Drctl({"vms", "show", test_vm.vm_id(), "--output", "json"});
  ASSERT_EQ(running.exit, 0) << running.err;
  EXPECT_THAT(running.out, HasSubstr("ENABLED_STATE_ENABLED")) << running.out;
  Result stop = Drctl({"stop", test_vm.vm_id(), "--request-id", "tvm-stop", "--output", "json"});
  ASSERT_EQ(stop.exit, 0) << stop.err << stop.out;
  auto stopped = FromJson<dr::v1::Job>(stop.out);
  EXPECT_EQ(stopped.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(stopped.virtual_machine(), test_vm.name());
  Result jobs = Drctl({"jobs", "list", "--vm", test_name, "--host", kReplica, "--output", "json"});
  ASSERT_EQ(jobs.exit, 0) << jobs.err;
  std::set<std::string> job_names;
  const auto listed_jobs = FromJson<dr::v1::ListJobsResponse>(jobs.out);
  for (const dr::v1::Job& j : listed_jobs.jobs()) {
    EXPECT_EQ(j.virtual_machine(), test_vm.name());
    job_names.insert(j.name());
  }
  EXPECT_EQ(job_names, (std::set<std::string>{started.name(), stopped.name()}));

  // The cleanup (named by the replica) removes it: no name finds it then.
  Result cleanup = Drctl({"cleanup", "vm-1", "--request-id", "tvm-cleanup", "--output", "json"});
  ASSERT_EQ(cleanup.exit, 0) << cleanup.err << cleanup.out;
  EXPECT_EQ(FromJson<dr::v1::Job>(cleanup.out).type(), dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA);
  EXPECT_EQ(TestVms(0).virtual_machines_size(), 0);
  Result gone = Drctl({"vms", "show", test_name});
  EXPECT_EQ(gone.exit, 3) << gone.out;
  EXPECT_THAT(gone.err, HasSubstr(test_name));
}

}  // namespace
}  // namespace hvdr
