#include "cli/render.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {
namespace {

using ::testing::HasSubstr;

constexpr char kTestVm[] = "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-000000000001";
const absl::Time kTestNow = absl::FromUnixSeconds(1790000000);

TEST(RenderTest, ShortEnumNames) {
  EXPECT_EQ(Short(dr::v1::ReplicationMode_Name(dr::v1::REPLICATION_MODE_REPLICA), 17), "replica");
  EXPECT_EQ(Short(dr::v1::Reachability_Name(dr::v1::REACHABILITY_UNREACHABLE), 13), "unreachable");
  EXPECT_EQ(Short("ABC", 17), "ABC");
}

TEST(RenderTest, RpoIsTheAgeOfTheLastReplication) {
  dr::v1::VirtualMachine vm;
  EXPECT_EQ(Rpo(vm, kTestNow), "-");
  ToProto(kTestNow - absl::Seconds(42), vm.mutable_last_replication_time());
  EXPECT_EQ(Rpo(vm, kTestNow), "42s ago");
}

TEST(RenderTest, JobBlock) {
  dr::v1::Job job;
  job.set_name("jobs/j1");
  job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  job.set_state(dr::v1::JOB_STATE_EXCEPTION);
  job.set_percent_complete(50);
  job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  job.set_virtual_machine(kTestVm);
  job.set_error_code(32779);
  job.set_error_summary("Failover failed");
  job.set_request_id("step-1");
  ToProto(kTestNow, job.mutable_create_time());
  std::ostringstream out;
  PrintJob(out, job);
  EXPECT_EQ(out.str(), absl::StrCat("job:         jobs/j1\n"
                                    "type:        InitiateFailover\n"
                                    "state:       Exception (50%)\n"
                                    "return code: 4096 ",
                                    ReturnCodeText(dr::v1::RETURN_CODE_JOB_STARTED), "\n",
                                    "vm:          ", kTestVm, "\n",
                                    "error:       32779 Failover failed\n"
                                    "requested:   - (request_id step-1)\n"
                                    "created:     2026-09-21T14:13:20+00:00\n"));
}

TEST(RenderTest, HostsTableShowsLastErrors) {
  dr::v1::ListHostsResponse hosts;
  dr::v1::Host* h = hosts.add_hosts();
  h->set_name("hosts/hv-dr-1");
  h->set_site("sites/dr");
  h->set_agent_address("10.0.0.2:50061");
  h->set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
  h->set_last_error("connection refused");
  std::ostringstream out;
  PrintHosts(out, hosts);
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n');
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], ::testing::StartsWith("HOST                     SITE"));
  EXPECT_THAT(lines[1],
              ::testing::StartsWith("hosts/hv-dr-1            sites/dr         10.0.0.2:50061"));
  EXPECT_THAT(lines[1], HasSubstr("unreachable  no     -"));
  EXPECT_EQ(lines[2], "    last error: connection refused");
}

TEST(RenderTest, VirtualMachinesTable) {
  dr::v1::ListVirtualMachinesResponse vms;
  dr::v1::VirtualMachine* vm = vms.add_virtual_machines();
  vm->set_display_name("sql-01");
  vm->set_host("hosts/hv-dr-1");
  vm->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  vm->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm->set_enabled_state(dr::v1::ENABLED_STATE_DISABLED);
  vm->set_active_job("jobs/j1");
  std::ostringstream out;
  PrintVirtualMachines(out, vms, kTestNow);
  EXPECT_THAT(out.str(), HasSubstr("hv-dr-1        replica  replicating"));
  EXPECT_THAT(out.str(), HasSubstr("off       -  [jobs/j1]\n"));
}

TEST(RenderTest, VirtualMachineJsonIsOneDocument) {
  dr::v1::VirtualMachine vm;
  vm.set_name(kTestVm);
  dr::v1::ListRecoveryPointsResponse points;
  points.add_recovery_points()->set_name(absl::StrCat(kTestVm, "/recoveryPoints/rp-1"));
  nlohmann::json j = nlohmann::json::parse(VirtualMachineJson(vm, {}, points));
  EXPECT_EQ(j["virtual_machine"]["name"], kTestVm);
  EXPECT_EQ(j["recovery_points"]["recovery_points"].size(), 1u);
  EXPECT_TRUE(j.contains("replication_relationships"));
}

TEST(RenderTest, JobsTableAndEvents) {
  dr::v1::ListJobsResponse jobs;
  dr::v1::Job* j = jobs.add_jobs();
  j->set_name("jobs/j1");
  j->set_type(dr::v1::JOB_TYPE_COMMIT_FAILOVER);
  j->set_state(dr::v1::JOB_STATE_COMPLETED);
  j->set_percent_complete(100);
  std::ostringstream out;
  PrintJobs(out, jobs);
  EXPECT_THAT(
      out.str(),
      HasSubstr("jobs/j1                            CommitFailover         Completed   100 0"));

  dr::v1::ListJobEventsResponse events;
  dr::v1::JobEvent* e = events.add_job_events();
  ToProto(kTestNow + absl::Milliseconds(5), e->mutable_event_time());
  e->set_sequence(3);
  e->set_state(dr::v1::JOB_STATE_RUNNING);
  e->set_percent_complete(40);
  e->set_message("copying");
  std::ostringstream log;
  PrintJobEvents(log, events);
  EXPECT_EQ(log.str(), "2026-09-21T14:13:20.005Z #3 Running 40% code 0 copying\n");
}

TEST(RenderTest, ErrorsNameCodeAndHyperVCode) {
  absl::Status s = InvalidState("virtual_machine", "NOT_A_REPLICA", "not a replica");
  EXPECT_EQ(ErrorLine(s, "not a replica"),
            absl::StrCat("drctl: not a replica [FAILED_PRECONDITION, Hyper-V 32775 ",
                         ReturnCodeText(dr::v1::RETURN_CODE_INVALID_STATE), "]"));
  nlohmann::json j = nlohmann::json::parse(ErrorJson(s, "not a replica", 3));
  EXPECT_EQ(j["error"]["code"], "FAILED_PRECONDITION");
  EXPECT_EQ(j["error"]["hyperv_return_code"], 32775);
  EXPECT_EQ(j["error"]["field"], "virtual_machine");
  EXPECT_EQ(j["error"]["reason"], "NOT_A_REPLICA");
  EXPECT_EQ(j["exit_status"], 3);
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
