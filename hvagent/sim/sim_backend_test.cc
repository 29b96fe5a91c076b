#include "hvagent/sim/sim_backend.h"

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace sim {
namespace {

using dr::v1::JobType;
using dr::v1::ReplicationState;
using dr::v1::ReturnCode;
using hvdr::sim::v1::Scenario;
using hvdr::sim::v1::SimVm;
using ::testing::HasSubstr;

constexpr char kTestVm[] = "7E0C7A3F-0000-4000-8000-00000000A001";
constexpr char kOtherVm[] = "7E0C7A3F-0000-4000-8000-00000000A002";
constexpr int kTestDurationMs = 1000;

SimVm BaseReplica() {
  SimVm vm;
  vm.set_vm_id(kTestVm);
  vm.set_name("sql-01");
  vm.set_mode(dr::v1::REPLICATION_MODE_REPLICA);
  vm.set_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm.set_health(dr::v1::REPLICATION_HEALTH_OK);
  vm.set_enabled(dr::v1::ENABLED_STATE_DISABLED);
  vm.set_last_replication_seconds_ago(120);
  vm.set_primary_server("hv-prod-1");
  vm.set_replica_server("hv-dr-1");
  vm.add_network_adapters("nic0");
  for (const char* id : {"rp-1", "rp-2"}) {
    auto* rp = vm.add_recovery_points();
    rp->set_id(id);
    rp->set_type(dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
    rp->set_age_seconds(3600);
  }
  return vm;
}

Scenario MakeScenario(const SimVm& vm) {
  Scenario s;
  s.set_host_name("hv-dr-1");
  s.set_default_job_duration_ms(kTestDurationMs);
  *s.add_vms() = vm;
  SimVm other = BaseReplica();
  other.set_vm_id(kOtherVm);
  other.set_name("other");
  other.mutable_recovery_points(0)->set_id("other-rp");
  other.mutable_recovery_points()->RemoveLast();
  *s.add_vms() = other;
  return s;
}

struct Row {
  const char* name;
  JobType op;
  std::function<void(SimVm&)> setup;
  ReturnCode want_code;
  // Only for 4096: replication state while running and after completion.
  ReplicationState want_during = dr::v1::REPLICATION_STATE_REPLICATING;
  ReplicationState want_after = dr::v1::REPLICATION_STATE_REPLICATING;
  std::string recovery_point;
  std::string vm_id = kTestVm;
  std::vector<dr::v1::FailoverNetworkAdapterSettings> network;
};

void NoSetup(SimVm&) {}
auto Mode(dr::v1::ReplicationMode m) {
  return [m](SimVm& vm) { vm.set_mode(m); };
}
auto State(ReplicationState s) {
  return [s](SimVm& vm) { vm.set_state(s); };
}
void Running(SimVm& vm) { vm.set_enabled(dr::v1::ENABLED_STATE_ENABLED); }
void PrimaryOff(SimVm& vm) { vm.set_mode(dr::v1::REPLICATION_MODE_PRIMARY); }

dr::v1::FailoverNetworkAdapterSettings Nic(const std::string& adapter, bool dhcp,
                                           std::vector<std::string> ips) {
  dr::v1::FailoverNetworkAdapterSettings s;
  s.set_adapter(adapter);
  s.set_dhcp_enabled(dhcp);
  for (auto& ip : ips) s.add_ip_addresses(ip);
  return s;
}

std::vector<Row> Table() {
  using namespace dr::v1;  // NOLINT: table
  const auto kRecovered = REPLICATION_STATE_RECOVERED;
  const auto kReplicating = REPLICATION_STATE_REPLICATING;
  return {
      // InitiateFailover
      {"failover to latest", JOB_TYPE_INITIATE_FAILOVER, NoSetup, RETURN_CODE_JOB_STARTED,
       REPLICATION_STATE_FAILOVER_IN_PROGRESS, kRecovered},
      {"failover to a chosen point", JOB_TYPE_INITIATE_FAILOVER, NoSetup, RETURN_CODE_JOB_STARTED,
       REPLICATION_STATE_FAILOVER_IN_PROGRESS, kRecovered, "rp-1"},
      {"failover from Suspended", JOB_TYPE_INITIATE_FAILOVER, State(REPLICATION_STATE_SUSPENDED),
       RETURN_CODE_JOB_STARTED, REPLICATION_STATE_FAILOVER_IN_PROGRESS, kRecovered},
      {"failover from Critical (primary lost)", JOB_TYPE_INITIATE_FAILOVER,
       State(REPLICATION_STATE_CRITICAL), RETURN_CODE_JOB_STARTED,
       REPLICATION_STATE_FAILOVER_IN_PROGRESS, kRecovered},
      {"failover after planned prepare", JOB_TYPE_INITIATE_FAILOVER,
       State(REPLICATION_STATE_SYNCED_REPLICATION_COMPLETE), RETURN_CODE_JOB_STARTED,
       REPLICATION_STATE_FAILOVER_IN_PROGRESS, kRecovered},
      {"failover of an unknown VM", JOB_TYPE_INITIATE_FAILOVER, NoSetup,
       RETURN_CODE_INVALID_PARAMETER, kReplicating, kReplicating, "", "no-such-vm"},
      {"failover to another VM's point", JOB_TYPE_INITIATE_FAILOVER, NoSetup,
       RETURN_CODE_INVALID_PARAMETER, kReplicating, kReplicating, "other-rp"},
      {"failover to a missing point", JOB_TYPE_INITIATE_FAILOVER, NoSetup,
       RETURN_CODE_INVALID_PARAMETER, kReplicating, kReplicating, "rp-404"},
      {"failover of a Primary", JOB_TYPE_INITIATE_FAILOVER, PrimaryOff, RETURN_CODE_INVALID_STATE},
      {"failover of a running VM", JOB_TYPE_INITIATE_FAILOVER, Running, RETURN_CODE_INVALID_STATE},
      {"failover while a job runs", JOB_TYPE_INITIATE_FAILOVER,
       [](SimVm& vm) { vm.set_active_job("hv-dr-1-job-busy"); }, RETURN_CODE_SYSTEM_IN_USE},
      {"failover when already failed over", JOB_TYPE_INITIATE_FAILOVER, State(kRecovered),
       RETURN_CODE_INVALID_STATE, kRecovered, kRecovered},
      {"failover before initial replication", JOB_TYPE_INITIATE_FAILOVER,
       State(REPLICATION_STATE_WAITING_INITIAL), RETURN_CODE_INVALID_STATE,
       REPLICATION_STATE_WAITING_INITIAL, REPLICATION_STATE_WAITING_INITIAL},
      {"failover of a VM that never replicated", JOB_TYPE_INITIATE_FAILOVER,
       [](SimVm& vm) { vm.set_last_replication_seconds_ago(0); }, RETURN_CODE_INVALID_STATE},
      {"failover of a non-replicated VM", JOB_TYPE_INITIATE_FAILOVER, Mode(REPLICATION_MODE_NONE),
       RETURN_CODE_INVALID_STATE},
      // RevertFailover
      {"revert a failover", JOB_TYPE_REVERT_FAILOVER, State(kRecovered), RETURN_CODE_JOB_STARTED,
       kRecovered, kReplicating},
      {"revert without failover", JOB_TYPE_REVERT_FAILOVER, NoSetup, RETURN_CODE_INVALID_STATE},
      {"revert a committed failover", JOB_TYPE_REVERT_FAILOVER, State(REPLICATION_STATE_COMMITTED),
       RETURN_CODE_INVALID_STATE, REPLICATION_STATE_COMMITTED, REPLICATION_STATE_COMMITTED},
      {"revert while running", JOB_TYPE_REVERT_FAILOVER,
       [](SimVm& vm) {
         vm.set_state(REPLICATION_STATE_RECOVERED);
         Running(vm);
       },
       RETURN_CODE_INVALID_STATE, kRecovered, kRecovered},
      {"revert on a Primary", JOB_TYPE_REVERT_FAILOVER, PrimaryOff, RETURN_CODE_INVALID_STATE},
      // CommitFailover
      {"commit a failover", JOB_TYPE_COMMIT_FAILOVER, State(kRecovered), RETURN_CODE_JOB_STARTED,
       kRecovered, REPLICATION_STATE_COMMITTED},
      {"commit a failover with the VM running", JOB_TYPE_COMMIT_FAILOVER,
       [](SimVm& vm) {
         vm.set_state(REPLICATION_STATE_RECOVERED);
         Running(vm);
       },
       RETURN_CODE_JOB_STARTED, kRecovered, REPLICATION_STATE_COMMITTED},
      {"commit without failover", JOB_TYPE_COMMIT_FAILOVER, NoSetup, RETURN_CODE_INVALID_STATE},
      {"commit twice", JOB_TYPE_COMMIT_FAILOVER, State(REPLICATION_STATE_COMMITTED),
       RETURN_CODE_INVALID_STATE, REPLICATION_STATE_COMMITTED, REPLICATION_STATE_COMMITTED},
      // TestReplicaSystem and its cleanup
      {"test failover", JOB_TYPE_INITIATE_TEST_REPLICA, NoSetup, RETURN_CODE_JOB_STARTED},
      {"test failover to a point", JOB_TYPE_INITIATE_TEST_REPLICA, NoSetup, RETURN_CODE_JOB_STARTED,
       kReplicating, kReplicating, "rp-2"},
      {"second test failover", JOB_TYPE_INITIATE_TEST_REPLICA,
       [](SimVm& vm) { vm.set_test_vm_id("x-test"); }, RETURN_CODE_SYSTEM_IN_USE},
      {"test failover of a Primary", JOB_TYPE_INITIATE_TEST_REPLICA, PrimaryOff,
       RETURN_CODE_INVALID_STATE},
      {"test failover after failover", JOB_TYPE_INITIATE_TEST_REPLICA, State(kRecovered),
       RETURN_CODE_INVALID_STATE, kRecovered, kRecovered},
      {"cleanup without test VM", JOB_TYPE_REMOVE_TEST_REPLICA, NoSetup, RETURN_CODE_INVALID_STATE},
      // ReverseReplicationRelationship
      {"reverse after commit", JOB_TYPE_REVERSE_REPLICATION, State(REPLICATION_STATE_COMMITTED),
       RETURN_CODE_JOB_STARTED, REPLICATION_STATE_COMMITTED, kReplicating},
      {"reverse after a planned failover", JOB_TYPE_REVERSE_REPLICATION, State(kRecovered),
       RETURN_CODE_JOB_STARTED, kRecovered, kReplicating},
      {"reverse a replicating replica", JOB_TYPE_REVERSE_REPLICATION, NoSetup,
       RETURN_CODE_INVALID_STATE},
      // Prepare for planned failover (on the primary)
      {"prepare the primary", JOB_TYPE_REPLICATION_STATE_CHANGE, PrimaryOff,
       RETURN_CODE_JOB_STARTED, kReplicating, REPLICATION_STATE_SYNCED_REPLICATION_COMPLETE},
      {"prepare a running primary", JOB_TYPE_REPLICATION_STATE_CHANGE,
       [](SimVm& vm) {
         PrimaryOff(vm);
         Running(vm);
       },
       RETURN_CODE_INVALID_STATE},
      {"prepare a replica", JOB_TYPE_REPLICATION_STATE_CHANGE, NoSetup, RETURN_CODE_INVALID_STATE},
      // SetFailoverNetworkAdapterSettings
      {"re-IP the replica",
       JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
       NoSetup,
       RETURN_CODE_JOB_STARTED,
       kReplicating,
       kReplicating,
       "",
       kTestVm,
       {Nic("nic0", false, {"10.20.0.5"})}},
      {"re-IP with DHCP",
       JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
       NoSetup,
       RETURN_CODE_JOB_STARTED,
       kReplicating,
       kReplicating,
       "",
       kTestVm,
       {Nic("nic0", true, {})}},
      {"re-IP without address or DHCP",
       JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
       NoSetup,
       RETURN_CODE_INVALID_PARAMETER,
       kReplicating,
       kReplicating,
       "",
       kTestVm,
       {Nic("nic0", false, {})}},
      {"re-IP an unknown adapter",
       JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
       NoSetup,
       RETURN_CODE_INVALID_PARAMETER,
       kReplicating,
       kReplicating,
       "",
       kTestVm,
       {Nic("nic9", true, {})}},
      {"re-IP with no settings", JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS, NoSetup,
       RETURN_CODE_INVALID_PARAMETER},
      {"re-IP a primary",
       JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
       PrimaryOff,
       RETURN_CODE_INVALID_STATE,
       kReplicating,
       kReplicating,
       "",
       kTestVm,
       {Nic("nic0", true, {})}},
      // Start and stop
      {"start a failed-over replica", JOB_TYPE_START_VIRTUAL_MACHINE, State(kRecovered),
       RETURN_CODE_JOB_STARTED, kRecovered, kRecovered},
      {"start a replica not failed over", JOB_TYPE_START_VIRTUAL_MACHINE, NoSetup,
       RETURN_CODE_INVALID_STATE},
      {"start a primary", JOB_TYPE_START_VIRTUAL_MACHINE, PrimaryOff, RETURN_CODE_JOB_STARTED},
      {"start a running VM", JOB_TYPE_START_VIRTUAL_MACHINE,
       [](SimVm& vm) {
         PrimaryOff(vm);
         Running(vm);
       },
       RETURN_CODE_INVALID_STATE},
      {"stop a running VM", JOB_TYPE_STOP_VIRTUAL_MACHINE,
       [](SimVm& vm) {
         PrimaryOff(vm);
         Running(vm);
       },
       RETURN_CODE_JOB_STARTED},
      {"stop a VM that is off", JOB_TYPE_STOP_VIRTUAL_MACHINE, NoSetup, RETURN_CODE_INVALID_STATE},
      // Not supported
      {"resynchronize", JOB_TYPE_RESYNCHRONIZE, NoSetup, RETURN_CODE_NOT_SUPPORTED},
  };
}

class SimBackendTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(SimBackendTableTest, ReturnsHyperVsCodeAndMovesTheState) {
  const Row& row = GetParam();
  SimVm vm = BaseReplica();
  row.setup(vm);
  FakeClock clock;
  auto backend = SimBackend::Open({"", &clock}, MakeScenario(vm));
  ASSERT_TRUE(backend.ok()) << backend.status();
  agent::Operation op;
  op.type = row.op;
  op.vm_id = row.vm_id;
  op.recovery_point_id = row.recovery_point;
  op.network_settings = row.network;
  const ReplicationState before = (*backend)->SnapshotForTest().vms(0).state();
  agent::MethodResult result = (*backend)->Invoke(op);
  ASSERT_EQ(result.return_code, row.want_code) << row.name << ": " << result.message;
  auto snapshot = [&] { return (*backend)->SnapshotForTest(); };
  if (row.want_code != dr::v1::RETURN_CODE_JOB_STARTED) {
    EXPECT_TRUE(result.job_id.empty());
    EXPECT_FALSE(result.message.empty());
    EXPECT_EQ(snapshot().history_size(), 0) << "a refused call must start nothing";
    EXPECT_EQ(snapshot().vms(0).state(), before);
    return;
  }
  ASSERT_FALSE(result.job_id.empty());
  EXPECT_EQ(snapshot().vms(0).state(), row.want_during) << row.name;
  clock.Advance(absl::Milliseconds(kTestDurationMs / 2));
  auto mid = (*backend)->GetJob(result.job_id);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->state, dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(mid->percent, 50u);
  clock.Advance(absl::Milliseconds(kTestDurationMs));
  auto done = (*backend)->GetJob(result.job_id);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, dr::v1::JOB_STATE_COMPLETED) << row.name;
  EXPECT_EQ(done->percent, 100u);
  const auto state = snapshot();
  EXPECT_EQ(state.vms(0).state(), row.want_after) << row.name;
  EXPECT_TRUE(state.vms(0).active_job().empty());
  ASSERT_EQ(state.history_size(), 1);
  EXPECT_EQ(state.history(0).type(), row.op);
}

INSTANTIATE_TEST_SUITE_P(EveryOperation, SimBackendTableTest, ::testing::ValuesIn(Table()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           std::string name;
                           for (char c : std::string(info.param.name)) {
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           }
                           return name;
                         });

class SimBackendTest : public ::testing::Test {
 protected:
  void Open(const SimVm& vm, std::function<void(Scenario&)> tweak = nullptr,
            const std::string& state_path = "") {
    Scenario s = MakeScenario(vm);
    if (tweak) tweak(s);
    auto backend = SimBackend::Open({state_path, &clock_}, s);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = *std::move(backend);
  }
  agent::MethodResult Failover(const std::string& vm = kTestVm) {
    agent::Operation op;
    op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
    op.vm_id = vm;
    return backend_->Invoke(op);
  }
  FakeClock clock_;
  std::unique_ptr<SimBackend> backend_;
};

TEST_F(SimBackendTest, JobMovesNewStartingRunningCompleted) {
  Open(BaseReplica());
  auto r = Failover();
  ASSERT_EQ(r.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(backend_->GetJob(r.job_id)->state, dr::v1::JOB_STATE_NEW);
  clock_.Advance(absl::Milliseconds(50));
  EXPECT_EQ(backend_->GetJob(r.job_id)->state, dr::v1::JOB_STATE_STARTING);
  uint32_t last = 0;
  for (int i = 0; i < 8; ++i) {
    clock_.Advance(absl::Milliseconds(100));
    auto job = backend_->GetJob(r.job_id);
    EXPECT_EQ(job->state, dr::v1::JOB_STATE_RUNNING);
    EXPECT_GT(job->percent, last);
    last = job->percent;
  }
  clock_.Advance(absl::Milliseconds(200));
  auto job = backend_->GetJob(r.job_id);
  EXPECT_EQ(job->state, dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(job->end_time - job->start_time, absl::Milliseconds(kTestDurationMs));
  EXPECT_EQ(job->type, dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  EXPECT_EQ(job->vm_id, kTestVm);
}

// The agent's poller sleeps until the earliest of these (Backend::NextJobEnd).
TEST_F(SimBackendTest, NextJobEndIsTheEarliestPlannedEndOfTheOpenJobs) {
  Open(BaseReplica(), [](Scenario& s) {
    auto* f = s.add_faults();
    f->set_vm_id(kOtherVm);
    f->set_fail_at_percent(40);
  });
  EXPECT_FALSE(backend_->NextJobEnd().has_value());  // no job
  const absl::Time t0 = clock_.Now();
  auto first = Failover();  // ends at 1 s
  ASSERT_EQ(first.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(backend_->NextJobEnd(), t0 + absl::Milliseconds(kTestDurationMs));
  clock_.Advance(absl::Milliseconds(300));
  ASSERT_EQ(Failover(kOtherVm).return_code, dr::v1::RETURN_CODE_JOB_STARTED);  // fails at 40%
  EXPECT_EQ(backend_->NextJobEnd(), t0 + absl::Milliseconds(300 + kTestDurationMs * 40 / 100));
  clock_.Advance(absl::Milliseconds(500));  // 800 ms: the second failed at 700 ms
  ASSERT_EQ(backend_->GetJob(first.job_id)->state, dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(backend_->NextJobEnd(), t0 + absl::Milliseconds(kTestDurationMs));
  clock_.Advance(absl::Milliseconds(200));
  ASSERT_EQ(backend_->GetJob(first.job_id)->state, dr::v1::JOB_STATE_COMPLETED);
  EXPECT_FALSE(backend_->NextJobEnd().has_value());
}

TEST_F(SimBackendTest, ANeverFinishingJobHasNoEnd) {
  Open(BaseReplica(), [](Scenario& s) {
    auto* f = s.add_faults();
    f->set_vm_id(kTestVm);
    f->set_never_finish(true);
  });
  ASSERT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_FALSE(backend_->NextJobEnd().has_value());
}

TEST_F(SimBackendTest, FinishedJobsDisappearAfterTimeBeforeRemoval) {
  Open(BaseReplica());
  auto r = Failover();
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(backend_->GetJob(r.job_id)->state, dr::v1::JOB_STATE_COMPLETED);
  clock_.Advance(absl::Seconds(299));
  EXPECT_TRUE(backend_->GetJob(r.job_id).ok());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(backend_->GetJob(r.job_id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(backend_->ListJobs()->empty());
}

// Removal drops only the jobs that are due; the others stay findable and
// the open one goes on moving.
TEST_F(SimBackendTest, RemovalKeepsTheJobsNotYetDueAndTheOpenOnes) {
  Open(BaseReplica());
  auto run = [&](dr::v1::JobType type) {
    agent::Operation op;
    op.type = type;
    op.vm_id = kTestVm;
    return backend_->Invoke(op);
  };
  auto first = Failover();  // ends at 1 s
  clock_.Advance(absl::Seconds(100));
  auto second = run(dr::v1::JOB_TYPE_REVERT_FAILOVER);  // ends at 101 s
  ASSERT_EQ(second.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(201));  // 301 s: the first is due
  auto third = Failover();             // still running at the removal below
  ASSERT_EQ(third.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(backend_->GetJob(first.job_id).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(backend_->GetJob(second.job_id).ok());
  EXPECT_EQ(backend_->GetJob(second.job_id)->state, dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->GetJob(third.job_id)->state, dr::v1::JOB_STATE_NEW);
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_EQ(backend_->GetJob(third.job_id)->state, dr::v1::JOB_STATE_RUNNING);
  clock_.Advance(absl::Seconds(100));  // 401.5 s: the second is due, the third ended at 302 s
  EXPECT_EQ(backend_->GetJob(second.job_id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(backend_->GetJob(third.job_id)->state, dr::v1::JOB_STATE_COMPLETED);
  ASSERT_EQ(backend_->ListJobs()->size(), 1u);
  EXPECT_EQ(backend_->CancelJob(third.job_id).return_code, dr::v1::RETURN_CODE_INVALID_STATE);
}

TEST_F(SimBackendTest, FaultAtTheCallRefusesAndStartsNothingForCountCalls) {
  Open(BaseReplica(), [](Scenario& s) {
    auto* f = s.add_faults();
    f->set_vm_id(kTestVm);
    f->set_operation(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    f->set_return_code(dr::v1::RETURN_CODE_ACCESS_DENIED);
    f->set_count(2);
  });
  EXPECT_EQ(Failover().return_code, dr::v1::RETURN_CODE_ACCESS_DENIED);
  EXPECT_EQ(Failover(kOtherVm).return_code, dr::v1::RETURN_CODE_JOB_STARTED);  // other VM
  EXPECT_EQ(Failover().return_code, dr::v1::RETURN_CODE_ACCESS_DENIED);
  EXPECT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);  // count used up
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 2);
}

TEST_F(SimBackendTest, FaultMidJobEndsInExceptionAndRestoresTheState) {
  Open(BaseReplica(), [](Scenario& s) {
    auto* f = s.add_faults();
    f->set_operation(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    f->set_fail_at_percent(40);
    f->set_error_code(32779);
    f->set_error_summary("Failover failed");
    f->set_error_description("The replica VHDX could not be found.");
  });
  auto r = Failover();
  clock_.Advance(absl::Milliseconds(300));
  EXPECT_EQ(backend_->GetJob(r.job_id)->state, dr::v1::JOB_STATE_RUNNING);
  clock_.Advance(absl::Milliseconds(200));
  auto job = backend_->GetJob(r.job_id);
  EXPECT_EQ(job->state, dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(job->percent, 40u);
  EXPECT_EQ(job->error_code, 32779u);
  EXPECT_EQ(job->error_summary, "Failover failed");
  EXPECT_EQ(job->error_description, "The replica VHDX could not be found.");
  auto vm = backend_->SnapshotForTest().vms(0);
  EXPECT_EQ(vm.state(), dr::v1::REPLICATION_STATE_REPLICATING);
  EXPECT_TRUE(vm.active_job().empty());
  // The VM can be failed over again.
  EXPECT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);
}

TEST_F(SimBackendTest, NeverFinishingJobCanBeCancelledOthersCannot) {
  Open(BaseReplica(), [](Scenario& s) {
    auto* f = s.add_faults();
    f->set_vm_id(kTestVm);
    f->set_never_finish(true);
  });
  auto stuck = Failover();
  clock_.Advance(absl::Hours(1));
  auto job = backend_->GetJob(stuck.job_id);
  EXPECT_EQ(job->state, dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->percent, 50u);
  EXPECT_TRUE(job->cancellable);
  auto normal = Failover(kOtherVm);
  auto refused = backend_->CancelJob(normal.job_id);
  EXPECT_EQ(refused.return_code, dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_THAT(refused.message, HasSubstr("not cancellable"));
  EXPECT_EQ(backend_->CancelJob(stuck.job_id).return_code, dr::v1::RETURN_CODE_COMPLETED);
  EXPECT_EQ(backend_->GetJob(stuck.job_id)->state, dr::v1::JOB_STATE_TERMINATED);
  EXPECT_EQ(backend_->SnapshotForTest().vms(0).state(), dr::v1::REPLICATION_STATE_REPLICATING);
  EXPECT_EQ(backend_->CancelJob(stuck.job_id).return_code, dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ(backend_->CancelJob("nope").return_code, dr::v1::RETURN_CODE_INVALID_PARAMETER);
}

TEST_F(SimBackendTest, TestFailoverMakesATestVmAndCleanupRemovesIt) {
  Open(BaseReplica());
  agent::Operation op;
  op.type = dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA;
  op.vm_id = kTestVm;
  ASSERT_EQ(backend_->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(5));
  auto inv = backend_->GetInventory();
  ASSERT_TRUE(inv.ok());
  ASSERT_EQ(inv->virtual_machines_size(), 3);
  EXPECT_EQ(inv->virtual_machines(2).virtual_machine().replication_mode(),
            dr::v1::REPLICATION_MODE_TEST_REPLICA);
  EXPECT_EQ(inv->virtual_machines(2).virtual_machine().display_name(), "sql-01 - Test");
  op.type = dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA;
  ASSERT_EQ(backend_->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(backend_->GetInventory()->virtual_machines_size(), 2);
}

TEST_F(SimBackendTest, CommitDropsRecoveryPointsAndReverseMakesAPrimary) {
  SimVm vm = BaseReplica();
  vm.set_state(dr::v1::REPLICATION_STATE_RECOVERED);
  Open(vm);
  agent::Operation op;
  op.vm_id = kTestVm;
  op.type = dr::v1::JOB_TYPE_COMMIT_FAILOVER;
  ASSERT_EQ(backend_->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(backend_->SnapshotForTest().vms(0).recovery_points_size(), 0);
  op.type = dr::v1::JOB_TYPE_REVERSE_REPLICATION;
  ASSERT_EQ(backend_->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(5));
  auto inv = backend_->GetInventory();
  const auto& rel = inv->virtual_machines(0).replication_relationships(0);
  EXPECT_EQ(inv->virtual_machines(0).virtual_machine().replication_mode(),
            dr::v1::REPLICATION_MODE_PRIMARY);
  EXPECT_EQ(rel.primary_host(), "hv-dr-1");
  EXPECT_EQ(rel.replica_host(), "hv-prod-1");
}

TEST_F(SimBackendTest, InventoryReportsVmsRelationshipsPointsAndRpo) {
  Open(BaseReplica());
  auto inv = backend_->GetInventory();
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->host_name(), "hv-dr-1");
  ASSERT_EQ(inv->virtual_machines_size(), 2);
  const auto& vm = inv->virtual_machines(0);
  EXPECT_EQ(vm.virtual_machine().vm_id(), kTestVm);
  EXPECT_EQ(vm.virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_REPLICATING);
  EXPECT_EQ(vm.virtual_machine().last_replication_time().seconds(),
            absl::ToUnixSeconds(clock_.Now()) - 120);
  ASSERT_EQ(vm.replication_relationships_size(), 1);
  EXPECT_EQ(vm.replication_relationships(0).replication_interval_seconds(), 300u);
  EXPECT_EQ(vm.recovery_points_size(), 2);
}

TEST_F(SimBackendTest, StateFileOutlivesTheBackendAndNothingRunsTwice) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/sim-state.bin");
  std::remove(path.c_str());
  Open(BaseReplica(), nullptr, path);
  auto r = Failover();
  ASSERT_EQ(r.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Milliseconds(400));
  backend_.reset();  // the agent process dies; the hypervisor's file stays
  // Reopened with an empty scenario: the state file wins.
  auto reopened = SimBackend::Open({path, &clock_}, Scenario());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto job = (*reopened)->GetJob(r.job_id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->percent, 40u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ((*reopened)->GetJob(r.job_id)->state, dr::v1::JOB_STATE_COMPLETED);
  const auto state = (*reopened)->SnapshotForTest();
  EXPECT_EQ(state.history_size(), 1);
  EXPECT_EQ(state.vms(0).state(), dr::v1::REPLICATION_STATE_RECOVERED);
  // The next job number continues: no id is reused.
  agent::Operation op;
  op.type = dr::v1::JOB_TYPE_COMMIT_FAILOVER;
  op.vm_id = kTestVm;
  auto next = (*reopened)->Invoke(op);
  EXPECT_NE(next.job_id, r.job_id);
}

TEST_F(SimBackendTest, HistoryKeepsTheNewestOperationsAndCountsTheDropped) {
  constexpr int kVms = 25;
  Scenario s = MakeScenario(BaseReplica());
  for (int i = 1; i < kVms; ++i) {
    SimVm* vm = s.add_vms();
    *vm = s.vms(0);
    vm->set_vm_id(absl::StrCat(kTestVm, "-", i));
  }
  SimBackend::Options options;
  options.clock = &clock_;
  options.max_history = 10;
  auto backend = SimBackend::Open(options, s);
  ASSERT_TRUE(backend.ok()) << backend.status();
  std::vector<std::string> started;
  for (int i = 0; i < kVms; ++i) {
    agent::Operation op;
    op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
    op.vm_id = i == 0 ? std::string(kTestVm) : absl::StrCat(kTestVm, "-", i);
    agent::MethodResult r = (*backend)->Invoke(op);
    ASSERT_EQ(r.return_code, dr::v1::RETURN_CODE_JOB_STARTED) << r.message;
    started.push_back(r.job_id);
  }
  const auto state = (*backend)->SnapshotForTest();
  ASSERT_LE(state.history_size(), 10);
  EXPECT_EQ(state.history_dropped() + state.history_size(), kVms) << "every operation counted";
  // The newest are kept, in order.
  for (int i = 0; i < state.history_size(); ++i) {
    EXPECT_EQ(state.history(i).job_id(), started[kVms - state.history_size() + i]);
  }
}

TEST_F(SimBackendTest, CorruptStateFileIsDataLoss) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/corrupt-state.bin");
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("\xff\xff\xff not a proto", f);
  std::fclose(f);
  auto backend = SimBackend::Open({path, &clock_}, MakeScenario(BaseReplica()));
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(backend.status().message()), HasSubstr(path));
}

// Found by fuzz/sim_state_fuzzer: a state file that parses but that the
// simulator could not have written (a job started at INT64_MIN overflowed
// the progress arithmetic; fault counters fewer than faults were read past
// their end) is DATA_LOSS naming the field, not undefined behaviour later.
TEST_F(SimBackendTest, DamagedStateFileIsDataLossNamingTheField) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/damaged-state.bin");
  auto write = [&](const hvdr::sim::v1::SimState& state) {
    FILE* f = std::fopen(path.c_str(), "w");
    const std::string bytes = state.SerializeAsString();
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  };
  hvdr::sim::v1::SimState state;
  state.add_vms()->set_vm_id(kTestVm);
  auto* job = state.add_jobs();
  job->set_job_id("j1");
  job->set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  job->set_vm_id(kTestVm);
  job->set_state(dr::v1::JOB_STATE_RUNNING);
  job->set_start_us(INT64_MIN);
  write(state);
  auto backend = SimBackend::Open({path, &clock_}, Scenario());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(backend.status().message()), HasSubstr("jobs[0]"));

  // Fewer fault counters than faults: the missing ones count as unused.
  job->set_start_us(absl::ToUnixMicros(clock_.Now()));
  auto* fault = state.mutable_scenario()->add_faults();
  fault->set_operation(dr::v1::JOB_TYPE_REVERT_FAILOVER);
  fault->set_return_code(dr::v1::RETURN_CODE_INVALID_STATE);
  write(state);
  backend = SimBackend::Open({path, &clock_}, Scenario());
  ASSERT_TRUE(backend.ok()) << backend.status();
  agent::Operation op;
  op.type = dr::v1::JOB_TYPE_REVERT_FAILOVER;
  op.vm_id = kTestVm;
  EXPECT_EQ((*backend)->Invoke(op).return_code, dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ((*backend)->SnapshotForTest().fault_uses(0), 1);
}

// Found by fuzz/sim_scenario_fuzzer: a recovery point id of bytes that are
// not UTF-8 loaded, and the state file the simulator then wrote could not
// be read back after a restart (DATA_LOSS).
TEST(SimScenarioTest, StringsThatAreNotUtf8AreRefused) {
  Scenario s;
  auto* vm = s.add_vms();
  vm->set_vm_id(kTestVm);
  vm->add_recovery_points()->set_id("\x9f\x8f-rp");
  absl::Status status = SimBackend::ValidateScenario(s);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("UTF-8"));
}

TEST(SimScenarioTest, BadScenariosNameTheField) {
  struct Case {
    std::function<void(Scenario&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](Scenario& s) { s.mutable_vms(1)->set_vm_id(kTestVm); }, "vms[1].vm_id"},
      {[](Scenario& s) { s.mutable_vms(0)->clear_vm_id(); }, "vms[0].vm_id"},
      {[](Scenario& s) { s.mutable_vms(0)->set_interval_seconds(60); }, "vms[0].interval_seconds"},
      {[](Scenario& s) { s.mutable_vms(0)->mutable_recovery_points(1)->set_id("rp-1"); },
       "vms[0].recovery_points[1].id"},
      {[](Scenario& s) { s.add_faults()->set_return_code(dr::v1::RETURN_CODE_JOB_STARTED); },
       "faults[0].return_code"},
      {[](Scenario& s) { s.add_faults()->set_fail_at_percent(101); }, "faults[0].fail_at_percent"},
      {[](Scenario& s) { s.add_faults()->set_vm_id("ghost"); }, "faults[0].vm_id"},
  };
  for (const Case& c : cases) {
    Scenario s = MakeScenario(BaseReplica());
    c.mutate(s);
    absl::Status status = SimBackend::ValidateScenario(s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.field));
  }
}

agent::MethodResult RunOp(SimBackend* backend, dr::v1::JobType type, const std::string& vm) {
  agent::Operation op;
  op.type = type;
  op.vm_id = vm;
  return backend->Invoke(op);
}

TEST_F(SimBackendTest, GuestHeartbeatIsNoContactWhileItBootsThenOk) {
  SimVm vm = BaseReplica();
  vm.set_boot_ms(5000);
  Open(vm);
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_UNSPECIFIED)
      << "a VM that is off reports no heartbeat";
  ASSERT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(RunOp(backend_.get(), dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE, kTestVm).return_code,
            dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Milliseconds(kTestDurationMs));  // the start job ends: the guest boots
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->virtual_machine().enabled_state(),
            dr::v1::ENABLED_STATE_ENABLED);
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  clock_.Advance(absl::Milliseconds(4999));
  EXPECT_EQ(backend_->GetInventory()->virtual_machines(0).heartbeat(),
            dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
  EXPECT_EQ(backend_->GetInventory()->virtual_machines(0).heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
}

TEST_F(SimBackendTest, HeartbeatOkInIsTheRestOfTheBoot) {
  SimVm vm = BaseReplica();
  vm.set_boot_ms(3000);
  Open(vm);
  EXPECT_FALSE(backend_->HeartbeatOkIn(kTestVm).has_value()) << "off";
  EXPECT_FALSE(backend_->HeartbeatOkIn("nope").has_value());
  ASSERT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(2));
  agent::Operation start;
  start.type = dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE;
  start.vm_id = kTestVm;
  ASSERT_EQ(backend_->Invoke(start).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(2));  // the start job (1 s) ended a second ago
  ASSERT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  std::optional<absl::Duration> left = backend_->HeartbeatOkIn(kTestVm);
  ASSERT_TRUE(left.has_value());
  clock_.Advance(*left);
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
  EXPECT_EQ(backend_->HeartbeatOkIn(kTestVm), absl::ZeroDuration());
}

TEST_F(SimBackendTest, ScenarioDefaultBootTimeAppliesToVmsWithoutOne) {
  Open(BaseReplica(), [](Scenario& s) { s.set_default_boot_ms(3000); });
  ASSERT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(RunOp(backend_.get(), dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE, kTestVm).return_code,
            dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Milliseconds(kTestDurationMs) + absl::Milliseconds(2999));
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
}

TEST_F(SimBackendTest, NeverReadyFaultKeepsTheGuestAndItsTestVmWithoutHeartbeat) {
  Open(BaseReplica(), [](Scenario& s) {
    hvdr::sim::v1::Fault* f = s.add_faults();
    f->set_vm_id(kTestVm);
    f->set_never_ready(true);
  });
  // The fault shapes the guest only: calls and jobs are not refused.
  auto test = RunOp(backend_.get(), dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA, kTestVm);
  ASSERT_EQ(test.return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(10));
  ASSERT_EQ(backend_->GetJob(test.job_id)->state, dr::v1::JOB_STATE_COMPLETED);
  const std::string test_vm = backend_->SnapshotForTest().vms(0).test_vm_id();
  ASSERT_FALSE(test_vm.empty());
  ASSERT_EQ(RunOp(backend_.get(), dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE, test_vm).return_code,
            dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(backend_->GetVirtualMachine(test_vm)->virtual_machine().enabled_state(),
            dr::v1::ENABLED_STATE_ENABLED);
  EXPECT_EQ(backend_->GetVirtualMachine(test_vm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
  ASSERT_EQ(Failover().return_code, dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Seconds(10));
  ASSERT_EQ(RunOp(backend_.get(), dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE, kTestVm).return_code,
            dr::v1::RETURN_CODE_JOB_STARTED);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(backend_->GetVirtualMachine(kTestVm)->heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT);
}

}  // namespace
}  // namespace sim
}  // namespace hvdr
