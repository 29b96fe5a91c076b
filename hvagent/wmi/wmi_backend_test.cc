#include "hvagent/wmi/wmi_backend.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hvagent/job_runner.h"
#include "hvagent/wmi/fake_wmi_session.h"

namespace hvdr {
namespace wmi {
namespace {

using ::testing::HasSubstr;

constexpr char kTestVm[] = "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01";
constexpr char kTestService[] =
    "Msvm_ReplicationService.CreationClassName=\"Msvm_ReplicationService\",Name=\"vmms\","
    "SystemCreationClassName=\"Msvm_ComputerSystem\",SystemName=\"HV-DR-1\"";
constexpr char kTestJob[] = "8E4F6C2A-1B3D-4E5F-A6B7-C8D9E0F1A2B3";

WmiObject Obj(std::string path, WmiProperties props) {
  return WmiObject{std::move(path), std::move(props)};
}

WmiObject JobObject(int64_t state, int64_t percent, bool cancellable = false, int64_t error = 0) {
  return Obj(JobPath(kTestJob),
             {{"InstanceID", WmiValue::String(kTestJob)},
              {"JobState", WmiValue::Int(state)},
              {"PercentComplete", WmiValue::Int(percent)},
              {"JobType", WmiValue::Int(97)},
              {"ErrorCode", WmiValue::Int(error)},
              {"ErrorSummaryDescription", WmiValue::String(error ? "Failover failed" : "")},
              {"ErrorDescription", WmiValue::String(error ? "disk missing" : "")},
              {"Cancellable", WmiValue::Bool(cancellable)},
              {"StartTime", WmiValue::String("20261122010203.000000+000")},
              {"TimeOfLastStateChange", WmiValue::String("20261122010233.500000+000")}});
}

WmiProperties Started() {
  return {{"ReturnValue", WmiValue::Int(4096)},
          {"Job", WmiValue::Reference(
                      absl::StrCat("\\\\HV-DR-1\\root\\virtualization\\v2:", JobPath(kTestJob)))}};
}

class WmiBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto session = std::make_unique<FakeWmiSession>();
    session_ = session.get();
    session_->SetQuery("SELECT * FROM Msvm_ReplicationService", {Obj(kTestService, {})});
    session_->SetQuery("SELECT * FROM Msvm_VirtualSystemManagementService",
                       {Obj("Msvm_VirtualSystemManagementService.Name=\"vmms\"", {})});
    backend_ = std::make_unique<WmiBackend>(std::move(session));
  }
  agent::Operation Op(dr::v1::JobType type, const std::string& rp = "") {
    agent::Operation op;
    op.type = type;
    op.vm_id = kTestVm;
    op.recovery_point_id = rp;
    return op;
  }
  FakeWmiSession* session_;
  std::unique_ptr<WmiBackend> backend_;
};

TEST(WmiPathsTest, ObjectPathsAreHyperVs) {
  EXPECT_EQ(VmPath(kTestVm),
            "Msvm_ComputerSystem.CreationClassName=\"Msvm_ComputerSystem\",Name=\""
            "5A0D2C31-7B1E-4B8B-9C55-0F6E1A2B3C01\"");
  EXPECT_EQ(JobPath("abc"), "Msvm_ConcreteJob.InstanceID=\"abc\"");
  EXPECT_EQ(SettingDataPath("Microsoft:X\\Y"),
            "Msvm_VirtualSystemSettingData.InstanceID=\"Microsoft:X\\\\Y\"");
  EXPECT_EQ(QuoteWmiString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JobIdFromPath("\\\\HV\\root\\virtualization\\v2:Msvm_ConcreteJob.InstanceID=\"J-1\""),
            "J-1");
  EXPECT_EQ(JobIdFromPath(JobPath("we\"ird\\id")), "we\"ird\\id");
  EXPECT_EQ(JobIdFromPath("Msvm_ComputerSystem.Name=\"x\""), "");
}

TEST(WmiPathsTest, CimDateTimes) {
  EXPECT_EQ(ParseCimDateTime("20261122010203.250000+000"),
            absl::FromCivil(absl::CivilSecond(2026, 11, 22, 1, 2, 3), absl::UTCTimeZone()) +
                absl::Milliseconds(250));
  // +060: local time one hour ahead of UTC.
  EXPECT_EQ(ParseCimDateTime("20261122020203.000000+060"),
            absl::FromCivil(absl::CivilSecond(2026, 11, 22, 1, 2, 3), absl::UTCTimeZone()));
  EXPECT_EQ(ParseCimDateTime("20261122000203.000000-060"),
            absl::FromCivil(absl::CivilSecond(2026, 11, 22, 1, 2, 3), absl::UTCTimeZone()));
  EXPECT_EQ(ParseCimDateTime(""), absl::InfinitePast());
  EXPECT_EQ(ParseCimDateTime("16010101000000.000000-000"), absl::InfinitePast());
  EXPECT_EQ(ParseCimDateTime("garbage"), absl::InfinitePast());
}

// Found by fuzz/wmi_fuzzer: hour 61 and minute 79 were taken and carried
// into the next days (here past year 9999, out of a Timestamp's range).
TEST(WmiPathsTest, CimDateTimesOutOfRangeAreMalformed) {
  for (const char* text :
       {"99991230617979.999999+000", "20261122240000.000000+000", "20261122006000.000000+000",
        "20261122000060.000000+000", "20260230000000.000000+000", "20261300000000.000000+000",
        "20261122000000.000000:000", "2026112200000 .000000+000", "+0261122000000.000000+000",
        "20261122000000.000000+000 ", "99991231235959.999999-001"}) {
    EXPECT_EQ(ParseCimDateTime(text), absl::InfinitePast()) << text;
  }
  EXPECT_EQ(ParseCimDateTime("99991231235959.999999+000"),
            absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
                absl::Microseconds(999999));
}

TEST(WmiCodesTest, EveryReturnCodeIsMapped) {
  for (int64_t v : {0, 4096, 32768, 32769, 32770, 32771, 32772, 32773, 32774, 32775, 32776, 32777,
                    32778, 32779}) {
    EXPECT_EQ(static_cast<int64_t>(ReturnCodeFromWmi(v)), v);
  }
  EXPECT_EQ(ReturnCodeFromWmi(1), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(ReturnCodeFromWmi(4097), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(ReturnCodeFromWmi(-1), dr::v1::RETURN_CODE_FAILED);
}

TEST(WmiCodesTest, EveryJobStateIsMapped) {
  for (int64_t v = 2; v <= 11; ++v) {
    bool known = false;
    EXPECT_EQ(static_cast<int64_t>(JobStateFromWmi(v, &known)), v);
    EXPECT_TRUE(known);
  }
  for (int64_t v : {0, 1, 12, 32768}) {
    bool known = true;
    EXPECT_EQ(JobStateFromWmi(v, &known), dr::v1::JOB_STATE_RUNNING);
    EXPECT_FALSE(known);
  }
}

TEST(WmiCodesTest, HresultsBecomeClearStatuses) {
  WmiStatus ns = StatusFromHresult(0x8004100E, "ConnectServer root\\virtualization\\v2");
  EXPECT_EQ(ns.code, WmiCode::kUnavailable);
  EXPECT_THAT(ns.message, HasSubstr("WBEM_E_INVALID_NAMESPACE (0x8004100E)"));
  EXPECT_THAT(ns.message, HasSubstr("Hyper-V is not installed"));
  EXPECT_EQ(ReturnCodeFromStatus(ns), dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE);
  EXPECT_EQ(StatusFromHresult(0x80041003, "x").code, WmiCode::kPermissionDenied);
  EXPECT_EQ(ReturnCodeFromStatus(StatusFromHresult(0x80041003, "x")),
            dr::v1::RETURN_CODE_ACCESS_DENIED);
  EXPECT_EQ(StatusFromHresult(0x80041002, "x").code, WmiCode::kNotFound);
  EXPECT_EQ(StatusFromHresult(0x80041017, "x").code, WmiCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHresult(0x80004005, "x").code, WmiCode::kInternal);
  EXPECT_THAT(StatusFromHresult(0x80004005, "x").message, HasSubstr("0x80004005"));
  EXPECT_TRUE(StatusFromHresult(0, "x").ok());
}

TEST_F(WmiBackendTest, InitiateFailoverToLatestPassesANullSnapshot) {
  session_->SetMethod(kTestService, "InitiateFailover", Started());
  agent::MethodResult r = backend_->Invoke(Op(dr::v1::JOB_TYPE_INITIATE_FAILOVER));
  EXPECT_EQ(r.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(r.job_id, kTestJob);
  auto calls = session_->MethodCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].target, kTestService);
  EXPECT_EQ(calls[0].method, "InitiateFailover");
  WmiProperties want = {{"ComputerSystem", WmiValue::Reference(VmPath(kTestVm))},
                        {"SnapshotSettingData", WmiValue::Null()}};
  EXPECT_TRUE(calls[0].in == want);
}

TEST_F(WmiBackendTest, InitiateFailoverToAPointPassesItsSettingData) {
  session_->SetMethod(kTestService, "InitiateFailover", Started());
  backend_->Invoke(Op(dr::v1::JOB_TYPE_INITIATE_FAILOVER, "Microsoft:RP-1"));
  auto calls = session_->MethodCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].in.at("SnapshotSettingData") ==
              WmiValue::Reference("Msvm_VirtualSystemSettingData.InstanceID=\"Microsoft:RP-1\""));
}

TEST_F(WmiBackendTest, EachOperationCallsItsMethodWithItsParameters) {
  struct Case {
    dr::v1::JobType type;
    std::string target;
    std::string method;
    std::vector<std::string> params;
  };
  const std::vector<Case> cases = {
      {dr::v1::JOB_TYPE_REVERT_FAILOVER, kTestService, "RevertFailover", {"ComputerSystem"}},
      {dr::v1::JOB_TYPE_COMMIT_FAILOVER, kTestService, "CommitFailover", {"ComputerSystem"}},
      {dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA,
       kTestService,
       "TestReplicaSystem",
       {"ComputerSystem", "SnapshotSettingData"}},
      {dr::v1::JOB_TYPE_REVERSE_REPLICATION,
       kTestService,
       "ReverseReplicationRelationship",
       {"ComputerSystem", "ReplicationSettingData"}},
      {dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE,
       kTestService,
       "RequestReplicationStateChange",
       {"ComputerSystem", "RequestedState"}},
      {dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE,
       VmPath(kTestVm),
       "RequestStateChange",
       {"RequestedState"}},
      {dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE,
       VmPath(kTestVm),
       "RequestStateChange",
       {"RequestedState"}},
  };
  for (const Case& c : cases) {
    SetUp();
    session_->SetMethod(c.target, c.method, Started());
    agent::MethodResult r = backend_->Invoke(Op(c.type));
    EXPECT_EQ(r.return_code, dr::v1::RETURN_CODE_JOB_STARTED) << c.method << ": " << r.message;
    auto calls = session_->MethodCalls();
    ASSERT_EQ(calls.size(), 1u) << c.method;
    EXPECT_EQ(calls[0].method, c.method);
    std::vector<std::string> names;
    for (const auto& [name, value] : calls[0].in) names.push_back(name);
    EXPECT_EQ(names, c.params) << c.method;
  }
  SetUp();
  session_->SetMethod(kTestService, "RequestReplicationStateChange", Started());
  backend_->Invoke(Op(dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE));
  EXPECT_TRUE(session_->MethodCalls()[0].in.at("RequestedState") == WmiValue::Int(4));
  SetUp();
  session_->SetMethod(kTestService, "ReverseReplicationRelationship", Started());
  backend_->Invoke(Op(dr::v1::JOB_TYPE_REVERSE_REPLICATION));
  EXPECT_TRUE(session_->MethodCalls()[0].in.at("ReplicationSettingData") ==
              WmiValue::EmbeddedObject("Msvm_ReplicationSettingData.InstanceID=\"Microsoft:" +
                                       std::string(kTestVm) + "\\\\HVR\\\\0\""));
}

TEST_F(WmiBackendTest, ReIpEmbedsFailoverNetworkAdapterSettingData) {
  session_->SetMethod(kTestService, "SetFailoverNetworkAdapterSettings", Started());
  agent::Operation op = Op(dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS);
  dr::v1::FailoverNetworkAdapterSettings nic;
  nic.set_adapter("Network Adapter");
  nic.add_ip_addresses("10.20.0.5");
  nic.add_subnets("255.255.255.0");
  nic.add_default_gateways("10.20.0.1");
  nic.add_dns_servers("10.20.0.2");
  op.network_settings.push_back(nic);
  EXPECT_EQ(backend_->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  const auto calls = session_->MethodCalls();
  ASSERT_EQ(calls.size(), 1u);
  const WmiValue& v = calls[0].in.at("NetworkSettings");
  ASSERT_EQ(v.kind, WmiValue::Kind::kEmbeddedInstances);
  ASSERT_EQ(v.instances.size(), 1u);
  EXPECT_EQ(v.instances[0].class_name, "Msvm_FailoverNetworkAdapterSettingData");
  EXPECT_TRUE(v.instances[0].properties.at("IPAddresses") == WmiValue::Strings({"10.20.0.5"}));
  EXPECT_TRUE(v.instances[0].properties.at("DHCPEnabled") == WmiValue::Bool(false));
  EXPECT_TRUE(v.instances[0].properties.at("DNSServers") == WmiValue::Strings({"10.20.0.2"}));
}

TEST_F(WmiBackendTest, CleanupDestroysTheTestVm) {
  session_->SetObjects(VmPath(kTestVm),
                       {Obj(VmPath(kTestVm), {{"ElementName", WmiValue::String("sql-01")}})});
  const std::string test_path = VmPath("TEST-GUID");
  session_->SetQuery("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationMode = 3",
                     {Obj(test_path, {{"ElementName", WmiValue::String("sql-01 - Test")}})});
  session_->SetMethod("Msvm_VirtualSystemManagementService.Name=\"vmms\"", "DestroySystem",
                      Started());
  EXPECT_EQ(backend_->Invoke(Op(dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA)).return_code,
            dr::v1::RETURN_CODE_JOB_STARTED);
  auto calls = session_->MethodCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "DestroySystem");
  EXPECT_TRUE(calls[0].in.at("AffectedSystem") == WmiValue::Reference(test_path));
}

TEST_F(WmiBackendTest, EveryReturnValueReachesTheCaller) {
  for (int64_t code :
       {0, 32768, 32769, 32770, 32771, 32772, 32773, 32774, 32775, 32776, 32777, 32778, 32779}) {
    SetUp();
    session_->SetMethod(kTestService, "CommitFailover", {{"ReturnValue", WmiValue::Int(code)}});
    agent::MethodResult r = backend_->Invoke(Op(dr::v1::JOB_TYPE_COMMIT_FAILOVER));
    EXPECT_EQ(static_cast<int64_t>(r.return_code), code);
    EXPECT_TRUE(r.job_id.empty());
  }
  SetUp();
  session_->SetMethod(kTestService, "CommitFailover", {{"ReturnValue", WmiValue::Int(4096)}});
  agent::MethodResult no_job = backend_->Invoke(Op(dr::v1::JOB_TYPE_COMMIT_FAILOVER));
  EXPECT_EQ(no_job.return_code, dr::v1::RETURN_CODE_FAILED);
  EXPECT_THAT(no_job.message, HasSubstr("without a Msvm_ConcreteJob"));
}

TEST_F(WmiBackendTest, MissingNamespaceIs32777) {
  session_->FailQuery("SELECT * FROM Msvm_ReplicationService",
                      StatusFromHresult(0x8004100E, "ExecQuery"));
  agent::MethodResult r = backend_->Invoke(Op(dr::v1::JOB_TYPE_INITIATE_FAILOVER));
  EXPECT_EQ(r.return_code, dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE);
  EXPECT_THAT(r.message, HasSubstr("Hyper-V is not installed"));
  session_->FailMethod(VmPath(kTestVm), "RequestStateChange",
                       StatusFromHresult(0x80041003, "ExecMethod"));
  EXPECT_EQ(backend_->Invoke(Op(dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE)).return_code,
            dr::v1::RETURN_CODE_ACCESS_DENIED);
}

TEST_F(WmiBackendTest, UnsupportedOperationIs32770) {
  EXPECT_EQ(backend_->Invoke(Op(dr::v1::JOB_TYPE_RESYNCHRONIZE)).return_code,
            dr::v1::RETURN_CODE_NOT_SUPPORTED);
  EXPECT_TRUE(session_->MethodCalls().empty());
}

TEST_F(WmiBackendTest, ReadsAJob) {
  session_->SetObjects(JobPath(kTestJob), {JobObject(10, 100, false, 32779)});
  session_->SetQuery(absl::StrCat("ASSOCIATORS OF {", JobPath(kTestJob),
                                  "} WHERE ResultClass = Msvm_ComputerSystem"),
                     {Obj(VmPath(kTestVm), {{"Name", WmiValue::String(kTestVm)}})});
  auto job = backend_->GetJob(kTestJob);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state, dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(job->error_code, 32779u);
  EXPECT_EQ(job->error_summary, "Failover failed");
  EXPECT_EQ(job->error_description, "disk missing");
  EXPECT_EQ(job->type, dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  EXPECT_EQ(job->vm_id, kTestVm);
  EXPECT_EQ(job->end_time - job->start_time, absl::Milliseconds(30500));
}

TEST_F(WmiBackendTest, RunnerPollsTheJobUntilTerminal) {
  session_->SetMethod(kTestService, "InitiateFailover", Started());
  session_->SetObjects(JobPath(kTestJob),
                       {JobObject(3, 0), JobObject(4, 30), JobObject(4, 80), JobObject(7, 100)});
  auto journal = *agent::JobJournal::Open(":memory:");
  agent::JobRunner::Options options;
  options.start_poller = false;
  auto runner = *agent::JobRunner::Create(backend_.get(), journal.get(), options);
  std::vector<dr::v1::AgentJobStatus> seen;
  ASSERT_TRUE(runner
                  ->Start(
                      "jobs/w1", Op(dr::v1::JOB_TYPE_INITIATE_FAILOVER),
                      [&](const dr::v1::AgentJobStatus& s) { seen.push_back(s); }, nullptr)
                  .ok());
  for (int i = 0; i < 6; ++i) runner->PollOnce();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(seen.back().hypervisor_job_id(), kTestJob);
  std::vector<uint32_t> percents;
  for (const auto& s : seen) percents.push_back(s.percent_complete());
  EXPECT_THAT(percents, ::testing::ElementsAre(0, 0, 0, 30, 80, 100));
  int job_reads = 0;
  for (const auto& c : session_->calls())
    job_reads += c.kind == "get" && c.target == JobPath(kTestJob);
  EXPECT_EQ(job_reads, 4) << "polling stops at the terminal state";
  // The outcome outlives the WMI job.
  session_->SetObjects(JobPath(kTestJob), {WmiObject()});
  EXPECT_EQ(runner->Watch("jobs/w1", nullptr, nullptr)->state(), dr::v1::JOB_STATE_COMPLETED);
}

TEST_F(WmiBackendTest, AJobThatExpiredBeforeItWasReadIsStatusUnknown) {
  session_->SetMethod(kTestService, "InitiateFailover", Started());
  session_->SetObjects(JobPath(kTestJob), {JobObject(4, 10), WmiObject()});
  auto journal = *agent::JobJournal::Open(":memory:");
  agent::JobRunner::Options options;
  options.start_poller = false;
  auto runner = *agent::JobRunner::Create(backend_.get(), journal.get(), options);
  std::vector<dr::v1::AgentJobStatus> seen;
  ASSERT_TRUE(runner
                  ->Start(
                      "jobs/w2", Op(dr::v1::JOB_TYPE_INITIATE_FAILOVER),
                      [&](const dr::v1::AgentJobStatus& s) { seen.push_back(s); }, nullptr)
                  .ok());
  runner->PollOnce();
  runner->PollOnce();
  EXPECT_EQ(backend_->GetJob(kTestJob).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(seen.back().return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_FALSE(seen.back().terminal());
}

TEST_F(WmiBackendTest, CancelUsesRequestStateChangeOnlyWhenCancellable) {
  session_->SetObjects(JobPath(kTestJob), {JobObject(4, 10, /*cancellable=*/false)});
  EXPECT_EQ(backend_->CancelJob(kTestJob).return_code, dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_TRUE(session_->MethodCalls().empty());
  session_->SetObjects(JobPath(kTestJob), {JobObject(4, 10, /*cancellable=*/true)});
  session_->SetMethod(JobPath(kTestJob), "RequestStateChange", {{"ReturnValue", WmiValue::Int(0)}});
  EXPECT_EQ(backend_->CancelJob(kTestJob).return_code, dr::v1::RETURN_CODE_COMPLETED);
  auto calls = session_->MethodCalls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].in.at("RequestedState") == WmiValue::Int(4));
}

TEST_F(WmiBackendTest, InventoryJoinsVmsRelationshipsSettingsAndPoints) {
  session_->SetQuery("SELECT * FROM Msvm_ComputerSystem WHERE Caption = \"Virtual Machine\"",
                     {Obj(VmPath(kTestVm), {{"Name", WmiValue::String(kTestVm)},
                                            {"ElementName", WmiValue::String("sql-01")},
                                            {"EnabledState", WmiValue::Int(3)},
                                            {"ReplicationMode", WmiValue::Int(2)}})});
  const std::string rel_id = absl::StrCat("Microsoft:", kTestVm, "\\HVR\\0");
  session_->SetQuery(
      "SELECT * FROM Msvm_ReplicationRelationship",
      {Obj("r", {{"InstanceID", WmiValue::String(rel_id)},
                 {"ReplicationState", WmiValue::Int(3)},
                 {"ReplicationHealth", WmiValue::Int(2)},
                 {"LastReplicationTime", WmiValue::String("20261122010000.000000+000")}})});
  session_->SetQuery("SELECT * FROM Msvm_ReplicationSettingData",
                     {Obj("s", {{"InstanceID", WmiValue::String(rel_id)},
                                {"PrimaryConnectionPoint", WmiValue::String("hv-prod-1")},
                                {"RecoveryConnectionPoint", WmiValue::String("hv-dr-1")},
                                {"ReplicationInterval", WmiValue::Int(300)}})});
  session_->SetQuery("SELECT * FROM Msvm_ReplicationStatistics",
                     {Obj("st", {{"InstanceID", WmiValue::String(rel_id)},
                                 {"PendingReplicationSize", WmiValue::Int(4096)},
                                 {"ReplicationLatency", WmiValue::Int(7)}})});
  session_->SetQuery(
      "SELECT * FROM Msvm_VirtualSystemSettingData WHERE VirtualSystemType LIKE "
      "\"Microsoft:Hyper-V:Snapshot:Replica%\"",
      {Obj("p", {{"InstanceID", WmiValue::String("Microsoft:RP-1")},
                 {"VirtualSystemIdentifier", WmiValue::String(kTestVm)},
                 {"VirtualSystemType",
                  WmiValue::String("Microsoft:Hyper-V:Snapshot:Replica:ApplicationConsistent")},
                 {"CreationTime", WmiValue::String("20261122000000.000000+000")}})});
  auto inv = backend_->GetInventory();
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->virtual_machines_size(), 1);
  const auto& v = inv->virtual_machines(0);
  EXPECT_EQ(v.virtual_machine().display_name(), "sql-01");
  EXPECT_EQ(v.virtual_machine().replication_mode(), dr::v1::REPLICATION_MODE_REPLICA);
  EXPECT_EQ(v.virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_REPLICATING);
  EXPECT_EQ(v.virtual_machine().replication_health(), dr::v1::REPLICATION_HEALTH_WARNING);
  EXPECT_EQ(v.virtual_machine().pending_replication_bytes(), 4096u);
  EXPECT_EQ(v.virtual_machine().replication_latency_seconds(), 7u);
  ASSERT_EQ(v.replication_relationships_size(), 1);
  EXPECT_EQ(v.replication_relationships(0).primary_host(), "hv-prod-1");
  EXPECT_EQ(v.replication_relationships(0).replication_interval_seconds(), 300u);
  ASSERT_EQ(v.recovery_points_size(), 1);
  EXPECT_EQ(v.recovery_points(0).name(), "Microsoft:RP-1");
  EXPECT_EQ(v.recovery_points(0).type(), dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
}

TEST_F(WmiBackendTest, InventoryWithoutTheNamespaceIsUnavailable) {
  session_->FailQuery("SELECT * FROM Msvm_ComputerSystem WHERE Caption = \"Virtual Machine\"",
                      StatusFromHresult(0x8004100E, "ExecQuery"));
  auto inv = backend_->GetInventory();
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kUnavailable);
}

TEST(WmiTranslationTest, HeartbeatIsTheFirstOperationalStatusOfARunningVm) {
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {2}), dr::v1::HEARTBEAT_STATUS_OK);
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {12, 2}),
            dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {13}),
            dr::v1::HEARTBEAT_STATUS_LOST_COMMUNICATION);
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {3}),
            dr::v1::HEARTBEAT_STATUS_DEGRADED);
  // Off: no guest answers, whatever the component says.
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_DISABLED, {2}),
            dr::v1::HEARTBEAT_STATUS_UNSPECIFIED);
  // Values Hyper-V does not define, and none at all.
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {4}),
            dr::v1::HEARTBEAT_STATUS_UNSPECIFIED);
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {-2}),
            dr::v1::HEARTBEAT_STATUS_UNSPECIFIED);
  EXPECT_EQ(HeartbeatFromWmi(dr::v1::ENABLED_STATE_ENABLED, {}),
            dr::v1::HEARTBEAT_STATUS_UNSPECIFIED);
}

TEST_F(WmiBackendTest, VirtualMachineCarriesItsGuestHeartbeat) {
  session_->SetQuery("SELECT * FROM Msvm_ComputerSystem WHERE Caption = \"Virtual Machine\"",
                     {Obj(VmPath(kTestVm), {{"Name", WmiValue::String(kTestVm)},
                                            {"ElementName", WmiValue::String("sql-01")},
                                            {"EnabledState", WmiValue::Int(2)},
                                            {"ReplicationMode", WmiValue::Int(2)}})});
  session_->SetQuery("SELECT * FROM Msvm_ReplicationRelationship", {});
  session_->SetQuery("SELECT * FROM Msvm_ReplicationSettingData", {});
  session_->SetQuery("SELECT * FROM Msvm_HeartbeatComponent",
                     {Obj("h", {{"SystemName", WmiValue::String(kTestVm)},
                                {"OperationalStatus", WmiValue::Ints({12})}})});
  auto vm = backend_->GetVirtualMachine(kTestVm);
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  session_->SetQuery("SELECT * FROM Msvm_HeartbeatComponent",
                     {Obj("h", {{"SystemName", WmiValue::String(kTestVm)},
                                {"OperationalStatus", WmiValue::Ints({2})}})});
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
}

}  // namespace
}  // namespace wmi
}  // namespace hvdr
