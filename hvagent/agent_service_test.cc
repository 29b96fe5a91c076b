#include "hvagent/agent_service.h"

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hvagent/sim/sim_backend.h"

namespace hvdr {
namespace agent {
namespace {

using dr::v1::AgentJobStatus;
using ::testing::HasSubstr;

constexpr char kTestVm[] = "BBBBBBBB-0000-0000-0000-000000000001";
constexpr char kOtherVm[] = "BBBBBBBB-0000-0000-0000-000000000002";

hvdr::sim::v1::Scenario TestScenario() {
  hvdr::sim::v1::Scenario s;
  s.set_host_name("hv-dr-1");
  s.set_default_job_duration_ms(300);
  for (const char* id : {kTestVm, kOtherVm}) {
    auto* vm = s.add_vms();
    vm->set_vm_id(id);
    vm->set_name(id == kTestVm ? "sql-01" : "web-01");
    vm->set_mode(dr::v1::REPLICATION_MODE_REPLICA);
    vm->set_state(dr::v1::REPLICATION_STATE_REPLICATING);
    vm->set_enabled(dr::v1::ENABLED_STATE_DISABLED);
    vm->set_last_replication_seconds_ago(60);
    auto* rp = vm->add_recovery_points();
    rp->set_id(std::string(id) + "-rp");
    rp->set_age_seconds(600);
  }
  auto* never = s.add_faults();
  never->set_vm_id(kOtherVm);
  never->set_never_finish(true);
  return s;
}

class AgentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = *sim::SimBackend::Open({}, TestScenario());
    journal_ = *JobJournal::Open(":memory:");
    JobRunner::Options options;
    options.poll_interval = absl::Milliseconds(10);
    runner_ = *JobRunner::Create(backend_.get(), journal_.get(), options);
    service_ = std::make_unique<AgentServiceImpl>(backend_.get(), runner_.get());
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    stub_ = dr::v1::HostAgentService::NewStub(server_->InProcessChannel({}));
  }
  void TearDown() override {
    service_->Shutdown();
    server_->Shutdown();
    runner_->Stop();
  }

  struct StreamResult {
    std::vector<AgentJobStatus> statuses;
    absl::Status status;
  };
  StreamResult Failover(const std::string& job_id, const std::string& vm = kTestVm,
                        const std::string& rp = "") {
    dr::v1::HostAgentServiceInitiateFailoverRequest req;
    req.set_job_id(job_id);
    req.set_vm_id(vm);
    req.set_recovery_point_id(rp);
    grpc::ClientContext ctx;
    auto reader = stub_->InitiateFailover(&ctx, req);
    return Drain(reader.get(), ctx);
  }
  StreamResult Drain(grpc::ClientReader<AgentJobStatus>* reader, grpc::ClientContext& ctx) {
    StreamResult out;
    AgentJobStatus s;
    while (reader->Read(&s)) out.statuses.push_back(s);
    out.status = FromGrpcStatus(reader->Finish(), &ctx);
    return out;
  }

  std::unique_ptr<sim::SimBackend> backend_;
  std::unique_ptr<JobJournal> journal_;
  std::unique_ptr<JobRunner> runner_;
  std::unique_ptr<AgentServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<dr::v1::HostAgentService::Stub> stub_;
};

TEST_F(AgentServiceTest, FailoverStreamsStatesInOrderThenEnds) {
  StreamResult r = Failover("jobs/a");
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_GE(r.statuses.size(), 3u);
  EXPECT_EQ(r.statuses.front().state(), dr::v1::JOB_STATE_NEW);
  EXPECT_EQ(r.statuses.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(r.statuses.back().terminal());
  EXPECT_EQ(r.statuses.back().percent_complete(), 100u);
  for (size_t i = 1; i < r.statuses.size(); ++i) {
    EXPECT_LE(r.statuses[i - 1].state() == dr::v1::JOB_STATE_RUNNING ? 4 : 0,
              r.statuses[i].state() == dr::v1::JOB_STATE_NEW ? 0 : 4);
    EXPECT_GE(r.statuses[i].percent_complete(), r.statuses[i - 1].percent_complete());
  }
  bool saw_running = false;
  for (const auto& s : r.statuses) saw_running |= s.state() == dr::v1::JOB_STATE_RUNNING;
  EXPECT_TRUE(saw_running);
  EXPECT_EQ(backend_->SnapshotForTest().vms(0).state(), dr::v1::REPLICATION_STATE_RECOVERED);
}

TEST_F(AgentServiceTest, DispatchingTheSameJobIdTwiceRunsOneOperation) {
  StreamResult first, second;
  std::thread a([&] { first = Failover("jobs/same"); });
  std::thread b([&] { second = Failover("jobs/same"); });
  a.join();
  b.join();
  ASSERT_TRUE(first.status.ok()) << first.status;
  ASSERT_TRUE(second.status.ok()) << second.status;
  EXPECT_EQ(first.statuses.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(second.statuses.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(first.statuses.back().hypervisor_job_id(), second.statuses.back().hypervisor_job_id());
  // A third dispatch after completion answers the recorded outcome at once.
  StreamResult third = Failover("jobs/same");
  ASSERT_EQ(third.statuses.size(), 1u);
  EXPECT_EQ(third.statuses[0].state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
}

TEST_F(AgentServiceTest, WatchJobReattachesByIdAndUnknownIsNotFound) {
  dr::v1::HostAgentServiceInitiateFailoverRequest req;
  req.set_job_id("jobs/w");
  req.set_vm_id(kTestVm);
  {
    // Start the job and drop the stream after the first status.
    grpc::ClientContext ctx;
    auto reader = stub_->InitiateFailover(&ctx, req);
    AgentJobStatus s;
    ASSERT_TRUE(reader->Read(&s));
    ctx.TryCancel();
    while (reader->Read(&s)) {
    }
    reader->Finish();
  }
  dr::v1::HostAgentServiceWatchJobRequest watch;
  watch.set_job_id("jobs/w");
  grpc::ClientContext ctx;
  auto reader = stub_->WatchJob(&ctx, watch);
  StreamResult r = Drain(reader.get(), ctx);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.statuses.back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);

  watch.set_job_id("jobs/never");
  grpc::ClientContext ctx2;
  auto missing = stub_->WatchJob(&ctx2, watch);
  StreamResult m = Drain(missing.get(), ctx2);
  EXPECT_EQ(m.status.code(), absl::StatusCode::kNotFound);
}

TEST_F(AgentServiceTest, RefusalIsATerminalStatusWithHyperVsCode) {
  StreamResult r = Failover("jobs/bad-rp", kTestVm, "not-this-vms-point");
  ASSERT_TRUE(r.status.ok());
  ASSERT_FALSE(r.statuses.empty());
  EXPECT_EQ(r.statuses.back().return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
  EXPECT_EQ(r.statuses.back().state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_TRUE(r.statuses.back().terminal());
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 0);
}

TEST_F(AgentServiceTest, MissingFieldsAreInvalidArgumentWithTheHyperVCodeInMetadata) {
  StreamResult r = Failover("", kTestVm);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(r.status).field(), "job_id");
  EXPECT_EQ(ErrorDetailOf(r.status).return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
  r = Failover("jobs/x", "");
  EXPECT_EQ(ErrorDetailOf(r.status).field(), "vm_id");
  dr::v1::HostAgentServiceSetFailoverNetworkAdapterSettingsRequest net;
  net.set_job_id("jobs/n");
  net.set_vm_id(kTestVm);
  grpc::ClientContext ctx;
  auto reader = stub_->SetFailoverNetworkAdapterSettings(&ctx, net);
  StreamResult n = Drain(reader.get(), ctx);
  EXPECT_EQ(ErrorDetailOf(n.status).field(), "network_settings");
  // The raw trailer, as any language would read it.
  EXPECT_EQ(ctx.GetServerTrailingMetadata().find(kReturnCodeMetadata)->second, "32773");
}

TEST_F(AgentServiceTest, CancelARunawayJob) {
  dr::v1::HostAgentServiceInitiateFailoverRequest req;
  req.set_job_id("jobs/stuck");
  req.set_vm_id(kOtherVm);
  grpc::ClientContext ctx;
  auto reader = stub_->InitiateFailover(&ctx, req);
  AgentJobStatus s;
  ASSERT_TRUE(reader->Read(&s));
  absl::SleepFor(absl::Milliseconds(100));
  dr::v1::HostAgentServiceCancelJobRequest cancel;
  cancel.set_job_id("jobs/stuck");
  grpc::ClientContext cctx;
  AgentJobStatus after;
  ASSERT_TRUE(stub_->CancelJob(&cctx, cancel, &after).ok());
  EXPECT_EQ(after.state(), dr::v1::JOB_STATE_TERMINATED);
  StreamResult rest = Drain(reader.get(), ctx);
  ASSERT_TRUE(rest.status.ok());
  EXPECT_EQ(rest.statuses.back().state(), dr::v1::JOB_STATE_TERMINATED);
  grpc::ClientContext again;
  grpc::Status st = stub_->CancelJob(&again, cancel, &after);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(AgentServiceTest, InventoryListsTheHostsVms) {
  grpc::ClientContext ctx;
  dr::v1::GetInventoryResponse inv;
  ASSERT_TRUE(stub_->GetInventory(&ctx, {}, &inv).ok());
  EXPECT_EQ(inv.host_name(), "hv-dr-1");
  EXPECT_EQ(inv.virtual_machines_size(), 2);
}

TEST_F(AgentServiceTest, ShutdownEndsOpenStreamsWithUnavailable) {
  dr::v1::HostAgentServiceInitiateFailoverRequest req;
  req.set_job_id("jobs/long");
  req.set_vm_id(kOtherVm);  // never finishes
  grpc::ClientContext ctx;
  auto reader = stub_->InitiateFailover(&ctx, req);
  AgentJobStatus s;
  ASSERT_TRUE(reader->Read(&s));
  service_->Shutdown();
  StreamResult rest = Drain(reader.get(), ctx);
  EXPECT_EQ(rest.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(rest.status.message()), HasSubstr("WatchJob"));
}

dr::v1::AgentJobRequest FailoverJob(const std::string& job_id, const std::string& vm) {
  dr::v1::AgentJobRequest r;
  r.mutable_initiate_failover()->set_job_id(job_id);
  r.mutable_initiate_failover()->set_vm_id(vm);
  return r;
}

// Reads RunJobs responses until every job in `jobs` has ended (terminal
// status or refusal); returns what each job got, in order.
struct Session {
  std::map<std::string, std::vector<AgentJobStatus>> statuses;
  std::map<std::string, dr::v1::AgentJobRefusal> refusals;
  int messages = 0;
};
Session ReadUntilEnded(
    grpc::ClientReaderWriter<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse>* stream,
    const std::set<std::string>& jobs) {
  Session out;
  std::set<std::string> open = jobs;
  dr::v1::RunJobsResponse r;
  while (!open.empty() && stream->Read(&r)) {
    ++out.messages;
    for (const auto& s : r.statuses()) {
      out.statuses[s.job_id()].push_back(s);
      if (s.terminal()) open.erase(s.job_id());
    }
    for (const auto& f : r.refusals()) {
      out.refusals[f.job_id()] = f;
      open.erase(f.job_id());
    }
  }
  return out;
}

TEST_F(AgentServiceTest, RunJobsCarriesManyJobsOnOneStream) {
  grpc::ClientContext ctx;
  auto stream = stub_->RunJobs(&ctx);
  dr::v1::RunJobsRequest req;
  *req.add_jobs() = FailoverJob("jobs/s1", kTestVm);
  dr::v1::AgentJobRequest start;  // a second job in the same message
  start.mutable_start_virtual_machine()->set_job_id("jobs/s2");
  start.mutable_start_virtual_machine()->set_vm_id(kOtherVm);
  *req.add_jobs() = start;
  ASSERT_TRUE(stream->Write(req));
  Session got = ReadUntilEnded(stream.get(), {"jobs/s1", "jobs/s2"});
  ASSERT_EQ(got.statuses["jobs/s1"].back().state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(got.statuses["jobs/s1"].back().terminal());
  EXPECT_EQ(got.statuses["jobs/s1"].front().state(), dr::v1::JOB_STATE_NEW);
  for (size_t i = 1; i < got.statuses["jobs/s1"].size(); ++i) {
    EXPECT_GE(got.statuses["jobs/s1"][i].percent_complete(),
              got.statuses["jobs/s1"][i - 1].percent_complete());
  }
  // Starting a replica VM is refused by the hypervisor: a terminal status
  // with Hyper-V's return code, not a refusal of the request.
  ASSERT_FALSE(got.statuses["jobs/s2"].empty());
  EXPECT_TRUE(got.statuses["jobs/s2"].back().terminal());
  EXPECT_EQ(got.statuses["jobs/s2"].back().return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_TRUE(got.refusals.empty());
  // The stream stays open for more jobs; re-sending a finished job
  // re-attaches to its outcome and runs nothing.
  dr::v1::RunJobsRequest again;
  *again.add_jobs() = FailoverJob("jobs/s1", kTestVm);
  ASSERT_TRUE(stream->Write(again));
  Session replay = ReadUntilEnded(stream.get(), {"jobs/s1"});
  ASSERT_EQ(replay.statuses["jobs/s1"].size(), 1u);
  EXPECT_EQ(replay.statuses["jobs/s1"][0].state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1) << "the failover ran once";
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(AgentServiceTest, RunJobsRefusesBadRequestsPerJob) {
  grpc::ClientContext ctx;
  auto stream = stub_->RunJobs(&ctx);
  dr::v1::RunJobsRequest req;
  *req.add_jobs() = FailoverJob("jobs/no-vm", "");
  *req.add_jobs() = FailoverJob("jobs/good", kTestVm);
  dr::v1::AgentJobRequest watch;
  watch.mutable_watch_job()->set_job_id("jobs/never-started");
  *req.add_jobs() = watch;
  ASSERT_TRUE(stream->Write(req));
  Session got = ReadUntilEnded(stream.get(), {"jobs/no-vm", "jobs/good", "jobs/never-started"});
  ASSERT_EQ(got.refusals.count("jobs/no-vm"), 1u);
  EXPECT_EQ(got.refusals["jobs/no-vm"].code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(got.refusals["jobs/no-vm"].detail().field(), "vm_id");
  EXPECT_EQ(got.refusals["jobs/no-vm"].detail().return_code(),
            dr::v1::RETURN_CODE_INVALID_PARAMETER);
  ASSERT_EQ(got.refusals.count("jobs/never-started"), 1u);
  EXPECT_EQ(got.refusals["jobs/never-started"].code(),
            static_cast<int>(absl::StatusCode::kNotFound));
  // One bad job does not sink the others on the stream.
  EXPECT_EQ(got.statuses["jobs/good"].back().state(), dr::v1::JOB_STATE_COMPLETED);
  // A job id reused for another VM is refused, and nothing runs twice.
  dr::v1::RunJobsRequest reused;
  *reused.add_jobs() = FailoverJob("jobs/good", kOtherVm);
  ASSERT_TRUE(stream->Write(reused));
  Session second = ReadUntilEnded(stream.get(), {"jobs/good"});
  ASSERT_EQ(second.refusals.count("jobs/good"), 1u);
  EXPECT_EQ(second.refusals["jobs/good"].code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(backend_->SnapshotForTest().history_size(), 1);
}

TEST_F(AgentServiceTest, ShutdownEndsRunJobsStreamsWithUnavailable) {
  grpc::ClientContext ctx;
  auto stream = stub_->RunJobs(&ctx);
  dr::v1::RunJobsRequest req;
  *req.add_jobs() = FailoverJob("jobs/forever", kOtherVm);  // never finishes
  ASSERT_TRUE(stream->Write(req));
  dr::v1::RunJobsResponse first;
  ASSERT_TRUE(stream->Read(&first));
  service_->Shutdown();
  dr::v1::RunJobsResponse more;
  while (stream->Read(&more)) {
  }
  grpc::Status st = stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(st.error_message(), HasSubstr("re-attach"));
}

// An agent service over a simulator of `scenario` on `clock`, served in
// process, whose readiness waits read every `ready_check_interval`; no
// poll thread. The tests shut it down themselves.
struct ReadyWaitAgent {
  ReadyWaitAgent(const hvdr::sim::v1::Scenario& scenario, Clock* clock,
                 absl::Duration ready_check_interval)
      : backend(*sim::SimBackend::Open({"", clock}, scenario)),
        journal(*JobJournal::Open(":memory:")),
        runner(NewRunner(backend.get(), journal.get(), clock)),
        service(backend.get(), runner.get(), /*workers=*/2, ready_check_interval) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    stub = dr::v1::HostAgentService::NewStub(server->InProcessChannel({}));
  }
  static std::unique_ptr<JobRunner> NewRunner(Backend* backend, JobJournal* journal, Clock* clock) {
    JobRunner::Options options;
    options.clock = clock;
    options.start_poller = false;
    return *JobRunner::Create(backend, journal, options);
  }
  // Fails kTestVm over, then powers it on: `pass` moves time on after each.
  void FailOverAndStart(const std::function<void()>& pass) {
    Operation op;
    op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
    op.vm_id = kTestVm;
    ASSERT_EQ(backend->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
    pass();
    op.type = dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE;
    ASSERT_EQ(backend->Invoke(op).return_code, dr::v1::RETURN_CODE_JOB_STARTED);
    pass();
  }

  std::unique_ptr<sim::SimBackend> backend;
  std::unique_ptr<JobJournal> journal;
  std::unique_ptr<JobRunner> runner;
  AgentServiceImpl service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<dr::v1::HostAgentService::Stub> stub;
};

// With a guest whose boot the backend knows (the simulator's), the wait
// reads it as it comes up, not at the next ready_check_interval: with an
// interval of an hour, a 200 ms boot is still answered OK within the
// 30 s wait (without the hint the answer would be NO_CONTACT after 30 s).
TEST(AgentServiceReadyWaitTest, AGuestTheBackendKnowsTheBootOfIsReadAsItComesUp) {
  hvdr::sim::v1::Scenario scenario = TestScenario();
  scenario.set_default_boot_ms(200);
  scenario.set_default_job_duration_ms(1);
  ReadyWaitAgent agent(scenario, RealClock::Get(), /*ready_check_interval=*/absl::Hours(1));
  agent.FailOverAndStart([] { absl::SleepFor(absl::Milliseconds(20)); });
  dr::v1::HostAgentServiceGetVirtualMachineRequest r;
  r.set_vm_id(kTestVm);
  ToProto(absl::Seconds(30), r.mutable_heartbeat_ok_wait());
  grpc::ClientContext ctx;
  dr::v1::VirtualMachineInventory up;
  ASSERT_TRUE(agent.stub->GetVirtualMachine(&ctx, r, &up).ok());
  EXPECT_EQ(up.heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
  agent.service.Shutdown();
  agent.server->Shutdown();
  agent.runner->Stop();
}

}  // namespace
}  // namespace agent
}  // namespace hvdr

namespace hvdr {
namespace agent {
namespace {

// The simulator, with InitiateFailover of kTestVm held inside the
// hypervisor call until released: a call that blocks, as a WMI call to a
// busy vmms can.
class HeldBackend final : public Backend {
 public:
  explicit HeldBackend(Backend* target) : target_(target) {}
  absl::StatusOr<dr::v1::GetInventoryResponse> GetInventory() override {
    return target_->GetInventory();
  }
  absl::StatusOr<dr::v1::VirtualMachineInventory> GetVirtualMachine(
      const std::string& vm_id) override {
    return target_->GetVirtualMachine(vm_id);
  }
  MethodResult Invoke(const Operation& op) override {
    if (op.vm_id == kTestVm) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return target_->Invoke(op);
  }
  absl::StatusOr<JobInfo> GetJob(const std::string& job_id) override {
    return target_->GetJob(job_id);
  }
  absl::StatusOr<std::vector<JobInfo>> ListJobs() override { return target_->ListJobs(); }
  MethodResult CancelJob(const std::string& job_id) override { return target_->CancelJob(job_id); }

  absl::Notification entered_;
  absl::Notification release_;

 private:
  Backend* const target_;
};

TEST(AgentServiceBlockingTest, AHypervisorCallThatBlocksHoldsNoStreamNorOtherCall) {
  auto sim = *sim::SimBackend::Open({}, TestScenario());
  HeldBackend backend(sim.get());
  auto journal = *JobJournal::Open(":memory:");
  JobRunner::Options options;
  options.poll_interval = absl::Milliseconds(10);
  auto runner = *JobRunner::Create(&backend, journal.get(), options);
  AgentServiceImpl service(&backend, runner.get(), /*workers=*/2);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  auto stub = dr::v1::HostAgentService::NewStub(server->InProcessChannel({}));

  grpc::ClientContext ctx;
  // Bounds the test if the stream is held (it then fails, not hangs).
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->RunJobs(&ctx);
  dr::v1::RunJobsRequest first;
  *first.add_jobs() = FailoverJob("jobs/held", kTestVm);
  ASSERT_TRUE(stream->Write(first));
  backend.entered_.WaitForNotification();  // the start of jobs/held is inside the hypervisor
  // The same stream still takes the next message and runs its job...
  dr::v1::RunJobsRequest second;
  dr::v1::AgentJobRequest stop;
  stop.mutable_stop_virtual_machine()->set_job_id("jobs/next");
  stop.mutable_stop_virtual_machine()->set_vm_id(kOtherVm);
  *second.add_jobs() = stop;
  ASSERT_TRUE(stream->Write(second));
  dr::v1::RunJobsResponse in;
  bool next_seen = false;
  while (!next_seen && stream->Read(&in)) {
    for (const auto& s : in.statuses()) next_seen = next_seen || s.job_id() == "jobs/next";
  }
  EXPECT_TRUE(next_seen);
  // ...and other calls are answered.
  grpc::ClientContext inv_ctx;
  dr::v1::GetInventoryResponse inv;
  EXPECT_TRUE(stub->GetInventory(&inv_ctx, {}, &inv).ok());
  EXPECT_EQ(inv.virtual_machines_size(), 2);

  backend.release_.Notify();
  ctx.TryCancel();
  stream->Finish();
  service.Shutdown();
  server->Shutdown();
  runner->Stop();
}

// A real journal with the pending entry of one job held inside the write
// until released: a journal write that blocks, as an fsync to a busy or
// failing disk can.
class HeldJournal final : public Journal {
 public:
  HeldJournal(Journal* target, std::string held_job)
      : target_(target), held_job_(std::move(held_job)) {}
  absl::StatusOr<JournalEntry> Get(const std::string& job_id) override {
    return target_->Get(job_id);
  }
  absl::Status InsertPending(const std::string& job_id, const Operation& op,
                             absl::Time now) override {
    if (job_id == held_job_) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return target_->InsertPending(job_id, op, now);
  }
  absl::Status MarkStarted(const std::string& job_id,
                           const std::string& hypervisor_job_id) override {
    return target_->MarkStarted(job_id, hypervisor_job_id);
  }
  absl::Status MarkDone(const std::string& job_id, const AgentJobStatus& status) override {
    return target_->MarkDone(job_id, status);
  }
  std::vector<absl::Status> MarkDone(
      const std::vector<std::pair<std::string, AgentJobStatus>>& done) override {
    return target_->MarkDone(done);
  }
  absl::StatusOr<std::vector<JournalEntry>> ListUnfinished() override {
    return target_->ListUnfinished();
  }

  absl::Notification entered_;
  absl::Notification release_;

 private:
  Journal* const target_;
  const std::string held_job_;
};

// A deadline that bounds a call the blocked write could hold (the test
// then fails, not hangs).
void BoundCall(grpc::ClientContext* ctx, int seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

// Reads `stream` until `job_id` has a status `done` accepts; false if the
// stream ended first.
bool ReadUntil(grpc::ClientReaderWriter<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse>* stream,
               const std::string& job_id, const std::function<bool(const AgentJobStatus&)>& done) {
  dr::v1::RunJobsResponse in;
  while (stream->Read(&in)) {
    for (const AgentJobStatus& s : in.statuses()) {
      if (s.job_id() == job_id && done(s)) return true;
    }
  }
  return false;
}

// The journal write of a job's start (its pending entry, an fsync) runs
// while the runner's lock is free: a write that blocks holds no other job's
// statuses (the poll publishes them under that lock), no other call on the
// runner (CancelJob, WatchJob, another stream's start) and no stream's end
// (a reactor's OnDone unsubscribes under that lock). It used to be made
// with the lock held.
TEST(AgentServiceBlockingTest, AJournalWriteThatBlocksHoldsNoStreamNorOtherCall) {
  auto sim = *sim::SimBackend::Open({}, TestScenario());
  auto real = *JobJournal::Open(":memory:");
  HeldJournal journal(real.get(), "jobs/journaling");
  JobRunner::Options options;
  options.poll_interval = absl::Milliseconds(10);
  auto runner = *JobRunner::Create(sim.get(), &journal, options);
  AgentServiceImpl service(sim.get(), runner.get(), /*workers=*/4);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  auto stub = dr::v1::HostAgentService::NewStub(server->InProcessChannel({}));

  grpc::ClientContext ctx;
  BoundCall(&ctx, 15);
  auto stream = stub->RunJobs(&ctx);
  // jobs/running (300 ms) runs; then jobs/journaling's start blocks in the
  // journal.
  dr::v1::RunJobsRequest first;
  *first.add_jobs() = FailoverJob("jobs/running", kTestVm);
  ASSERT_TRUE(stream->Write(first));
  ASSERT_TRUE(ReadUntil(stream.get(), "jobs/running",
                        [](const AgentJobStatus& s) { return !s.hypervisor_job_id().empty(); }));
  dr::v1::RunJobsRequest second;
  *second.add_jobs() = FailoverJob("jobs/journaling", kOtherVm);
  ASSERT_TRUE(stream->Write(second));
  journal.entered_.WaitForNotification();

  // Other calls are answered: a backend read, a cancel, a re-attach...
  grpc::ClientContext vm_ctx;
  BoundCall(&vm_ctx, 3);
  dr::v1::HostAgentServiceGetVirtualMachineRequest vm_req;
  vm_req.set_vm_id(kTestVm);
  dr::v1::VirtualMachineInventory vm;
  EXPECT_TRUE(stub->GetVirtualMachine(&vm_ctx, vm_req, &vm).ok());
  grpc::ClientContext cancel_ctx;
  BoundCall(&cancel_ctx, 3);
  dr::v1::HostAgentServiceCancelJobRequest cancel;
  cancel.set_job_id("jobs/never-sent");
  AgentJobStatus cancelled;
  EXPECT_EQ(stub->CancelJob(&cancel_ctx, cancel, &cancelled).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext watch_ctx;
  BoundCall(&watch_ctx, 5);
  dr::v1::HostAgentServiceWatchJobRequest watch;
  watch.set_job_id("jobs/running");
  auto watcher = stub->WatchJob(&watch_ctx, watch);
  AgentJobStatus watched;
  bool watched_end = false;
  while (watcher->Read(&watched)) watched_end = watched.terminal();
  EXPECT_TRUE(watcher->Finish().ok());
  EXPECT_TRUE(watched_end) << "WatchJob never saw the running job end";
  // ...the blocked job's own stream carries the other job's end...
  EXPECT_TRUE(ReadUntil(stream.get(), "jobs/running", [](const AgentJobStatus& s) {
    return s.terminal() && s.state() == dr::v1::JOB_STATE_COMPLETED;
  })) << "the stream holding the blocked start never carried jobs/running's end";
  // ...and another stream starts its job.
  grpc::ClientContext other_ctx;
  BoundCall(&other_ctx, 5);
  auto other = stub->RunJobs(&other_ctx);
  dr::v1::RunJobsRequest third;
  dr::v1::AgentJobRequest stop;
  stop.mutable_stop_virtual_machine()->set_job_id("jobs/other");
  stop.mutable_stop_virtual_machine()->set_vm_id(kTestVm);
  *third.add_jobs() = stop;
  ASSERT_TRUE(other->Write(third));
  EXPECT_TRUE(ReadUntil(other.get(), "jobs/other", [](const AgentJobStatus&) { return true; }))
      << "a second stream's job got no status";
  other_ctx.TryCancel();
  other->Finish();

  // Released, the blocked job starts.
  journal.release_.Notify();
  EXPECT_TRUE(ReadUntil(stream.get(), "jobs/journaling",
                        [](const AgentJobStatus& s) { return !s.hypervisor_job_id().empty(); }));
  ctx.TryCancel();
  stream->Finish();
  service.Shutdown();
  server->Shutdown();
  runner->Stop();
}

// A plan's readiness read: GetVirtualMachine with heartbeat_ok_wait answers
// once the guest's heartbeat is OK (the sim's clock decides when), when the
// wait is over, or at shutdown; never from a reactor thread.
TEST(AgentServiceReadyWaitTest, AReadWaitingForTheHeartbeatAnswersOnceTheGuestIsUp) {
  FakeClock clock;
  hvdr::sim::v1::Scenario scenario = TestScenario();
  scenario.set_default_boot_ms(5000);
  ReadyWaitAgent agent(scenario, &clock, /*ready_check_interval=*/absl::Milliseconds(5));
  auto& stub = agent.stub;
  // kTestVm failed over and started: its guest boots for 5 s of the clock.
  agent.FailOverAndStart([&clock] { clock.Advance(absl::Seconds(1)); });
  auto read = [&](const std::string& vm, absl::Duration wait,
                  dr::v1::VirtualMachineInventory* out) {
    dr::v1::HostAgentServiceGetVirtualMachineRequest r;
    r.set_vm_id(vm);
    ToProto(wait, r.mutable_heartbeat_ok_wait());
    grpc::ClientContext ctx;
    return FromGrpcStatus(stub->GetVirtualMachine(&ctx, r, out), &ctx);
  };
  dr::v1::VirtualMachineInventory now;
  ASSERT_TRUE(read(kTestVm, absl::ZeroDuration(), &now).ok());
  EXPECT_EQ(now.heartbeat(), dr::v1::HEARTBEAT_STATUS_NO_CONTACT) << "answered at once";
  for (absl::Duration bad : {absl::Seconds(-1), absl::Seconds(61)}) {
    absl::Status refused = read(kTestVm, bad, &now);
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ErrorDetailOf(refused).field(), "heartbeat_ok_wait");
  }
  absl::Notification answered;
  dr::v1::VirtualMachineInventory up;
  absl::Status up_status;
  std::thread waiter([&] {
    up_status = read(kTestVm, absl::Seconds(30), &up);
    answered.Notify();
  });
  // The guest cannot be up before the clock moves: the read waits.
  EXPECT_FALSE(answered.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  clock.Advance(absl::Seconds(10));  // past the boot
  answered.WaitForNotification();
  waiter.join();
  ASSERT_TRUE(up_status.ok()) << up_status;
  EXPECT_EQ(up.heartbeat(), dr::v1::HEARTBEAT_STATUS_OK);
  // A guest that never comes up: the wait runs out and says what it saw.
  dr::v1::VirtualMachineInventory off;
  ASSERT_TRUE(read(kOtherVm, absl::Milliseconds(50), &off).ok());
  EXPECT_EQ(off.heartbeat(), dr::v1::HEARTBEAT_STATUS_UNSPECIFIED);
  // Shutdown answers a waiting read at once.
  absl::Status at_shutdown;
  std::thread late([&] { at_shutdown = read(kOtherVm, absl::Seconds(60), &off); });
  absl::SleepFor(absl::Milliseconds(50));  // (if not yet waiting, it is refused the same way)
  agent.service.Shutdown();
  late.join();
  EXPECT_EQ(at_shutdown.code(), absl::StatusCode::kUnavailable) << at_shutdown;
  agent.server->Shutdown();
  agent.runner->Stop();
}

}  // namespace
}  // namespace agent
}  // namespace hvdr
