// The dispatcher against a fake agent served in process: jobs travel on one
// RunJobs stream per agent; refusals end a job with the agent's return code
// or are retried when transient; the store is the one truth (a status behind
// it never moves a job back, a terminal status is kept until it is durable).
#include "server/dispatcher.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "storage/forwarding_store.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

constexpr char kHost[] = "hosts/hv-dr-1";

// Answers every job at once: a refusal while `refusals` for it remain
// (with `code` and `return_code`), else `statuses` when given (the job then
// goes on in the hypervisor), else a terminal COMPLETED status.
class FakeAgent final : public dr::v1::HostAgentService::CallbackService {
 public:
  struct Plan {
    int refusals = 0;
    grpc::StatusCode code = grpc::StatusCode::FAILED_PRECONDITION;
    dr::v1::ReturnCode return_code = dr::v1::RETURN_CODE_INVALID_STATE;
    std::vector<dr::v1::AgentJobStatus> statuses;  // job_id is filled in
  };
  void Set(const std::string& job, Plan plan) {
    absl::MutexLock lock(&mu_);
    plans_[job] = plan;
  }
  int streams() { return streams_.load(); }
  int received() { return received_.load(); }

  grpc::ServerBidiReactor<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse>* RunJobs(
      grpc::CallbackServerContext*) override {
    ++streams_;
    return new Stream(this);
  }

 private:
  // One read, then one write with every answer, then the next read.
  class Stream final
      : public grpc::ServerBidiReactor<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse> {
   public:
    explicit Stream(FakeAgent* agent) : agent_(agent) { StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      out_.Clear();
      for (const dr::v1::AgentJobRequest& job : in_.jobs()) agent_->Answer(job, &out_);
      StartWrite(&out_);
    }
    void OnWriteDone(bool ok) override {
      if (ok) {
        StartRead(&in_);
      } else {
        Finish(grpc::Status::CANCELLED);
      }
    }
    void OnDone() override { delete this; }

   private:
    FakeAgent* const agent_;
    dr::v1::RunJobsRequest in_;
    dr::v1::RunJobsResponse out_;
  };

  void Answer(const dr::v1::AgentJobRequest& job, dr::v1::RunJobsResponse* out) {
    ++received_;
    const std::string& id = job.initiate_failover().job_id();
    absl::MutexLock lock(&mu_);
    Plan& plan = plans_[id];
    if (plan.refusals > 0) {
      --plan.refusals;
      dr::v1::AgentJobRefusal* r = out->add_refusals();
      r->set_job_id(id);
      r->set_code(static_cast<int>(plan.code));
      r->set_message("the fake agent says no");
      r->mutable_detail()->set_return_code(plan.return_code);
      return;
    }
    if (!plan.statuses.empty()) {
      for (const dr::v1::AgentJobStatus& status : plan.statuses) {
        dr::v1::AgentJobStatus* s = out->add_statuses();
        *s = status;
        s->set_job_id(id);
      }
      return;
    }
    dr::v1::AgentJobStatus* s = out->add_statuses();
    s->set_job_id(id);
    s->set_state(dr::v1::JOB_STATE_COMPLETED);
    s->set_percent_complete(100);
    s->set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    s->set_terminal(true);
  }

  absl::Mutex mu_;
  std::map<std::string, Plan> plans_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> streams_{0};
  std::atomic<int> received_{0};
};

// A store whose disk can fill up: while full, every Write fails as SQLite's
// SQLITE_FULL does (RESOURCE_EXHAUSTED), with nothing written. Reads and the
// test's own writes (on the target) go through.
class FullDiskStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) override {
    if (full_) {
      ++refused_;
      return std::vector<WriteResult>(
          ops.size(),
          WriteResult{absl::ResourceExhaustedError("database or disk is full"), {}, false});
    }
    return ForwardingStore::Write(ops);
  }
  std::atomic<bool> full_{false};
  std::atomic<int> refused_{0};  // Writes refused while full
};

// An agent without RunJobs (UNIMPLEMENTED), like an hvagent from before it.
class OldAgent final : public dr::v1::HostAgentService::CallbackService {};

class InProcessAgents final : public AgentStubFactory {
 public:
  explicit InProcessAgents(std::shared_ptr<grpc::Channel> channel)
      : stub_(dr::v1::HostAgentService::NewStub(std::move(channel))) {}
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> Get(const std::string&) override {
    return stub_;
  }

 private:
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub_;
};

class DispatcherTest : public ::testing::Test {
 protected:
  // The agent service the in-process server runs.
  virtual grpc::Service* Agent() { return &agent_; }
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(Agent());
    server_ = builder.BuildAndStart();
    agents_ = std::make_unique<InProcessAgents>(server_->InProcessChannel({}));
    store_ = *SqliteStore::Open(":memory:", {});
    dr::v1::Host host;
    host.set_name(kHost);
    host.set_site("sites/dr");
    host.set_agent_address("in-process");
    ASSERT_TRUE(store_->CreateHost(host, nullptr).ok());
    std::vector<dr::v1::VirtualMachineInventory> vms;
    for (int i = 0; i < kVms; ++i) {
      dr::v1::VirtualMachineInventory inv;
      inv.mutable_virtual_machine()->set_vm_id(absl::StrCat("VM-", i));
      inv.mutable_virtual_machine()->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
      vms.push_back(inv);
    }
    ASSERT_TRUE(store_->ReplaceInventory(kHost, vms, absl::Now()).ok());
    disk_ = std::make_unique<FullDiskStore>(store_.get());
    writer_ = std::make_unique<JobWriter>(disk_.get(), &hub_);
    Dispatcher::Options options;
    options.initial_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(50);
    dispatcher_ =
        std::make_unique<Dispatcher>(disk_.get(), agents_.get(), writer_.get(), &clock_, options);
  }
  void TearDown() override {
    dispatcher_->Shutdown();
    writer_->Flush();
    server_->Shutdown();
  }

  // Records job `i` (on VM-i) and hands it to the dispatcher.
  std::string Dispatch(int i) {
    std::string operation;
    dr::v1::Job job = Record(i, &operation);
    dispatcher_->Dispatch(job, "in-process", operation);
    return job.name();
  }
  // Records job `i` (on VM-i), New, with its operation in *operation.
  dr::v1::Job Record(int i, std::string* operation) {
    dr::v1::Job job;
    job.set_name(absl::StrCat("jobs/j", i));
    job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    job.set_state(dr::v1::JOB_STATE_NEW);
    job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    job.set_virtual_machine(absl::StrCat(kHost, "/virtualMachines/VM-", i));
    job.set_host(kHost);
    AgentOperation op;
    op.type = job.type();
    op.job_id = job.name();
    op.vm_id = absl::StrCat("VM-", i);
    *operation = EncodeAgentOperation(op);
    EXPECT_TRUE(store_->CreateJob(job, {absl::StrCat("r", i), "m", "f"}, *operation).ok());
    return job;
  }
  // Records job `i`, then ends it in the store as an operator's abandon
  // would (while its agent was away); returns the stored job.
  dr::v1::Job RecordAbandoned(int i, std::string* operation) {
    JobUpdate abandoned;
    abandoned.job = Record(i, operation).name();
    abandoned.state = dr::v1::JOB_STATE_EXCEPTION;
    abandoned.return_code = dr::v1::RETURN_CODE_FAILED;
    abandoned.error_description = "abandoned by the operator";
    abandoned.event_time = clock_.Now();
    abandoned.end_time = clock_.Now();
    absl::StatusOr<dr::v1::Job> stored = store_->UpdateJob(abandoned);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : dr::v1::Job();
  }
  // Waits (up to 10 s) until the dispatcher drives no job.
  void WaitUntracked() {
    for (int i = 0; i < 1000 && dispatcher_->ActiveJobsForTest() != 0; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  // The job once terminal (waits up to 30 s).
  dr::v1::Job WaitEnded(const std::string& name) {
    for (int i = 0; i < 3000; ++i) {
      writer_->Flush();
      absl::StatusOr<dr::v1::Job> j = store_->GetJob(name);
      if (j.ok() && j->state() >= dr::v1::JOB_STATE_COMPLETED) return *j;
      absl::SleepFor(absl::Milliseconds(10));
    }
    ADD_FAILURE() << name << " did not end";
    return dr::v1::Job();
  }

  static constexpr int kVms = 300;
  FakeAgent agent_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<InProcessAgents> agents_;
  std::unique_ptr<SqliteStore> store_;   // the truth, read and seeded directly
  std::unique_ptr<FullDiskStore> disk_;  // what the writer and the dispatcher use
  JobHub hub_;
  std::unique_ptr<JobWriter> writer_;
  FakeClock clock_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, ManyJobsShareOneStream) {
  std::vector<std::string> jobs;
  for (int i = 0; i < kVms; ++i) jobs.push_back(Dispatch(i));
  for (const std::string& name : jobs) {
    dr::v1::Job j = WaitEnded(name);
    EXPECT_EQ(j.state(), dr::v1::JOB_STATE_COMPLETED) << name;
    EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_JOB_STARTED) << name;
  }
  EXPECT_EQ(agent_.streams(), 1);
  EXPECT_EQ(agent_.received(), kVms) << "each job sent once";
  EXPECT_EQ(dispatcher_->ActiveJobsForTest(), 0);
}

TEST_F(DispatcherTest, AFinalRefusalFailsTheJobWithTheAgentsReturnCode) {
  agent_.Set("jobs/j1",
             {1, grpc::StatusCode::FAILED_PRECONDITION, dr::v1::RETURN_CODE_INVALID_STATE});
  const std::string refused = Dispatch(1);
  const std::string fine = Dispatch(2);
  dr::v1::Job j = WaitEnded(refused);
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_NE(j.error_description().find("the fake agent says no"), std::string::npos)
      << j.error_description();
  EXPECT_EQ(WaitEnded(fine).state(), dr::v1::JOB_STATE_COMPLETED) << "the stream goes on";
  EXPECT_EQ(agent_.received(), 2);
}

TEST_F(DispatcherTest, ATransientRefusalIsRetriedOnTheSameStream) {
  agent_.Set("jobs/j3",
             {2, grpc::StatusCode::UNAVAILABLE, dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE});
  const std::string name = Dispatch(3);
  dr::v1::Job j = WaitEnded(name);
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(agent_.received(), 3) << "two refusals, then the run";
  EXPECT_EQ(agent_.streams(), 1);
}

// An agent re-attached after its restart re-seeds the job as New, 0%: the
// store keeps the newer state it has (Running at 60%) and applies the rest
// of the status (the answer clears the 32771 recorded while the agent was
// away).
TEST_F(DispatcherTest, AStatusBehindTheStoredStateNeverMovesTheJobBack) {
  std::string operation;
  const std::string name = Record(4, &operation).name();
  JobUpdate running;
  running.job = name;
  running.state = dr::v1::JOB_STATE_RUNNING;
  running.percent_complete = 60;
  running.event_time = clock_.Now();
  ASSERT_TRUE(store_->UpdateJob(running).ok());
  JobUpdate unknown = running;
  unknown.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  unknown.error_summary = "Status unknown";
  unknown.error_description = "agent unreachable";
  absl::StatusOr<dr::v1::Job> stored = store_->UpdateJob(unknown);
  ASSERT_TRUE(stored.ok()) << stored.status();
  FakeAgent::Plan plan;
  plan.statuses.emplace_back();
  plan.statuses.back().set_state(dr::v1::JOB_STATE_NEW);
  plan.statuses.back().set_percent_complete(0);
  plan.statuses.back().set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  agent_.Set(name, plan);
  dispatcher_->Dispatch(*stored, "in-process", operation);
  // New, Running, the 32771, then the agent's answer.
  absl::StatusOr<Page<dr::v1::JobEvent>> events;
  for (int i = 0; i < 1000; ++i) {
    writer_->Flush();
    events = store_->ListJobEvents(name, {});
    ASSERT_TRUE(events.ok()) << events.status();
    if (events->items.size() >= 4) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(events->items.size(), 4u) << "the agent's status was not written";
  dr::v1::Job j = *store_->GetJob(name);
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_RUNNING) << "the job moved back";
  EXPECT_EQ(j.percent_complete(), 60u);
  EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_JOB_STARTED) << "the answer clears the 32771";
  EXPECT_EQ(j.error_description(), "");
  EXPECT_EQ(events->items[3].state(), dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(events->items[3].percent_complete(), 60u);
  EXPECT_EQ(agent_.received(), 1);
  EXPECT_EQ(dispatcher_->ActiveJobsForTest(), 1) << "still running in the hypervisor";
}

// A job the store has already ended (an operator abandoned it while its
// agent was away) is not reopened by the agent's late end: the store keeps
// its end, and the dispatcher, which answers to the store, stops driving it.
TEST_F(DispatcherTest, AnAgentsStatusNeverChangesAJobTheStoreHasEnded) {
  std::atomic<int> ended{0};
  dispatcher_->SetJobEndListener([&](const dr::v1::Job&) { ++ended; });
  std::string operation;
  const dr::v1::Job stored = RecordAbandoned(6, &operation);
  ASSERT_FALSE(stored.name().empty());
  const std::string name = stored.name();
  dispatcher_->Dispatch(stored, "in-process", operation);
  WaitUntracked();
  EXPECT_EQ(dispatcher_->ActiveJobsForTest(), 0) << "still driving a job the store has ended";
  writer_->Flush();
  EXPECT_EQ(agent_.received(), 1);
  dr::v1::Job j = *store_->GetJob(name);
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(j.version(), stored.version());
  EXPECT_EQ(store_->ListJobEvents(name, {})->items.size(), 2u);
  EXPECT_EQ(ended, 0) << "the agent's end is not the stored one";
}

// The same for a status that does not end the job (the agent, behind,
// still reports it running): the store refuses it, and the dispatcher,
// told so by the writer, stops driving the job instead of tracking it
// forever.
TEST_F(DispatcherTest, AnAgentsRunningStatusOfAJobTheStoreHasEndedEndsItsTracking) {
  std::string operation;
  const dr::v1::Job stored = RecordAbandoned(7, &operation);
  ASSERT_FALSE(stored.name().empty());
  const std::string name = stored.name();
  FakeAgent::Plan plan;
  plan.statuses.emplace_back();
  plan.statuses.back().set_state(dr::v1::JOB_STATE_RUNNING);
  plan.statuses.back().set_percent_complete(10);
  plan.statuses.back().set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  agent_.Set(name, plan);
  dispatcher_->Dispatch(stored, "in-process", operation);
  WaitUntracked();
  EXPECT_EQ(dispatcher_->ActiveJobsForTest(), 0) << "still driving a job the store has ended";
  writer_->Flush();
  const dr::v1::Job j = *store_->GetJob(name);
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(j.version(), stored.version());
}

// Persist, then publish: the agent's end is not forgotten while the disk is
// full. The dispatcher keeps the job (sending it nowhere) until the writer
// has made the end durable; once space is freed the job is terminal in the
// store, with no new status from the agent and no restart.
TEST_F(DispatcherTest, ATerminalStatusIsKeptUntilItIsDurable) {
  std::atomic<int> ended{0};
  dispatcher_->SetJobEndListener([&](const dr::v1::Job& job) {
    EXPECT_EQ(job.state(), dr::v1::JOB_STATE_COMPLETED);
    ++ended;
  });
  disk_->full_ = true;
  const std::string name = Dispatch(5);
  // The writer keeps trying while the disk is full...
  for (int i = 0; i < 3000 && disk_->refused_ < 3; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_GE(disk_->refused_, 3) << "the agent's end was not written again and again";
  EXPECT_EQ(writer_->RetryingForTest(), 1);
  EXPECT_EQ(store_->GetJob(name)->state(), dr::v1::JOB_STATE_NEW);
  EXPECT_EQ(dispatcher_->ActiveJobsForTest(), 1) << "forgotten before it was durable";
  EXPECT_EQ(ended, 0) << "ended before it was durable";
  // ...and once space is freed, the job reaches its true state.
  disk_->full_ = false;
  dr::v1::Job j = WaitEnded(name);
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(store_->GetVirtualMachine(j.virtual_machine())->active_job(), "");
  EXPECT_EQ(dispatcher_->ActiveJobsForTest(), 0);
  EXPECT_EQ(ended, 1);
  EXPECT_EQ(agent_.received(), 1) << "sent again";
  EXPECT_EQ(agent_.streams(), 1);
}

// Same, with an agent that predates RunJobs.
class OldAgentDispatcherTest : public DispatcherTest {
 protected:
  grpc::Service* Agent() override { return &old_; }
  OldAgent old_;
};

TEST_F(OldAgentDispatcherTest, AnAgentWithoutRunJobsFailsJobsAsNotSupported) {
  dr::v1::Job j = WaitEnded(Dispatch(0));
  EXPECT_EQ(j.state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(j.return_code(), dr::v1::RETURN_CODE_NOT_SUPPORTED);
  EXPECT_NE(j.error_description().find("upgrade"), std::string::npos) << j.error_description();
}

}  // namespace
}  // namespace server
}  // namespace hvdr
