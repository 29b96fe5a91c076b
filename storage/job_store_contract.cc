// The contract of storage/job_store.h: jobs, events, group commits,
// retention.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/refusal.h"
#include "storage/store_contract.h"

namespace hvdr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

RequestKey CancelKey(const std::string& id, const std::string& fp = "fp") {
  return RequestKey{id, "dr.v1.JobService/CancelJob", fp};
}

TEST_P(StoreContractTest, ReserveJobRequestRecordsTheKeySoThatARetryIsAReplay) {
  const std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("a", vm), Key("req-a")).ok());
  auto first = store_->ReserveJobRequest("jobs/a", CancelKey("cancel-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed);
  EXPECT_EQ(first->job.name(), "jobs/a");
  auto record = store_->GetRequest("cancel-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->method, "dr.v1.JobService/CancelJob");
  EXPECT_EQ(record->job, "jobs/a");
  // The job ends: a retry answers it as it now is.
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/a", dr::v1::JOB_STATE_TERMINATED)).ok());
  auto again = store_->ReserveJobRequest("jobs/a", CancelKey("cancel-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->job.state(), dr::v1::JOB_STATE_TERMINATED);
  // Another request with that request_id, and a new one on the ended job.
  auto reused = store_->ReserveJobRequest("jobs/a", CancelKey("cancel-1", "other"));
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RefusalOf(reused.status()).kind, Refusal::kRequestReused);
  auto ended = store_->ReserveJobRequest("jobs/a", CancelKey("cancel-2"));
  EXPECT_EQ(ended.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RefusalOf(ended.status()).kind, Refusal::kJobEnded);
  EXPECT_EQ(RefusalOf(ended.status()).other, "JOB_STATE_TERMINATED");
  EXPECT_EQ(store_->GetRequest("cancel-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReserveJobRequest("jobs/nope", CancelKey("cancel-3")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRequest("cancel-3").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ReleaseJobRequestFreesOnlyItsOwnReservation) {
  const std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("a", vm), Key("req-a")).ok());
  ASSERT_TRUE(store_->ReserveJobRequest("jobs/a", CancelKey("cancel-1")).ok());
  // Another request's key, or another job, removes nothing.
  EXPECT_TRUE(store_->ReleaseJobRequest("jobs/a", CancelKey("cancel-1", "other")).ok());
  EXPECT_TRUE(store_->ReleaseJobRequest("jobs/b", CancelKey("cancel-1")).ok());
  EXPECT_TRUE(store_->ReleaseJobRequest("jobs/a", Key("req-a")).ok());
  EXPECT_TRUE(store_->GetRequest("cancel-1").ok());
  EXPECT_TRUE(store_->GetRequest("req-a").ok()) << "the job's own request_id is kept";
  // Its own: the request_id is a new request again.
  EXPECT_TRUE(store_->ReleaseJobRequest("jobs/a", CancelKey("cancel-1")).ok());
  EXPECT_EQ(store_->GetRequest("cancel-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->ReleaseJobRequest("jobs/a", CancelKey("cancel-1")).ok()) << "twice";
  auto reserved = store_->ReserveJobRequest("jobs/a", CancelKey("cancel-1"));
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_FALSE(reserved->replayed);
}

TEST_P(StoreContractTest, PruneJobsDeletesOldTerminalJobsWithEventsAndRequestIdsInBatches) {
  const std::string vm = SeedVm();
  auto run = [&](const std::string& id, absl::Duration ended_after) {
    ASSERT_TRUE(store_->CreateJob(TestJob(id, vm), Key("req-" + id)).ok());
    if (ended_after == absl::ZeroDuration()) return;  // left running
    JobUpdate end = Update("jobs/" + id, dr::v1::JOB_STATE_COMPLETED, 100);
    end.event_time = kTestNow + ended_after;
    ASSERT_TRUE(store_->UpdateJob(end).ok());
  };
  run("a", absl::Hours(1));
  ASSERT_TRUE(
      store_->PutRequest("cancel-a", {"dr.v1.JobService/CancelJob", "fp", "", "jobs/a"}).ok());
  run("b", absl::Hours(2));
  run("d", absl::Hours(10));
  run("c", absl::ZeroDuration());
  ASSERT_TRUE(
      store_->PutRequest("cancel-c", {"dr.v1.JobService/CancelJob", "fp", "", "jobs/c"}).ok());
  const absl::Time cutoff = kTestNow + absl::Hours(5);
  auto first = store_->PruneJobs(cutoff, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1) << "a batch is bounded";
  EXPECT_EQ(store_->GetJob("jobs/a").status().code(), absl::StatusCode::kNotFound)
      << "oldest first";
  EXPECT_TRUE(store_->GetJob("jobs/b").ok());
  EXPECT_EQ(*store_->PruneJobs(cutoff, 1), 1);
  EXPECT_EQ(*store_->PruneJobs(cutoff, 1), 0) << "nothing older is left";
  for (const char* gone : {"jobs/a", "jobs/b"}) {
    EXPECT_EQ(store_->GetJob(gone).status().code(), absl::StatusCode::kNotFound) << gone;
    auto events = store_->ListJobEvents(gone, {});
    EXPECT_TRUE(!events.ok() || events->items.empty()) << gone << ": its events are gone too";
  }
  for (const char* request_id : {"req-a", "req-b", "cancel-a"}) {
    EXPECT_EQ(store_->GetRequest(request_id).status().code(), absl::StatusCode::kNotFound)
        << request_id;
  }
  // Kept: a running job (however old), a job that ended within the
  // retention, and their request_ids.
  EXPECT_TRUE(store_->GetJob("jobs/c").ok());
  EXPECT_TRUE(store_->GetJob("jobs/d").ok());
  for (const char* request_id : {"req-c", "req-d", "cancel-c"}) {
    EXPECT_TRUE(store_->GetRequest(request_id).ok()) << request_id;
  }
  EXPECT_EQ(store_->ListJobEvents("jobs/d", {})->items.size(), 2u);
  // Far in the future, the running job is still never pruned.
  EXPECT_EQ(*store_->PruneJobs(kTestNow + absl::Hours(24 * 365), 100), 1) << "only jobs/d";
  EXPECT_TRUE(store_->GetJob("jobs/c").ok());
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/c");
}

TEST_P(StoreContractTest, PruneJobsKeepsTheJobsOfAnExecutionUntilItEnds) {
  const std::string vm = SeedVm();
  for (const char* id : {"first-try", "retry", "at-start", "free"}) {
    ASSERT_TRUE(store_->CreateJob(TestJob(id, vm), Key(absl::StrCat("req-", id))).ok());
    ASSERT_TRUE(
        store_->UpdateJob(Update(absl::StrCat("jobs/", id), dr::v1::JOB_STATE_COMPLETED, 100))
            .ok());
  }
  dr::v1::Plan plan;
  plan.set_name("plans/p");
  ASSERT_TRUE(store_->CreatePlan(plan, kTestNow, {"req-plan", "dr.v1.PlanService/X", "fp"}).ok());
  const std::string kExecution = "plans/p/executions/e";
  dr::v1::PlanExecution e;
  e.set_name(kExecution);
  e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
  std::vector<dr::v1::ExecutionStep> steps(2);
  steps[0].set_name(kExecution + "/steps/failover");
  steps[1].set_name(kExecution + "/steps/start");
  steps[1].set_job("jobs/at-start");
  auto created =
      store_->CreateExecution(e, plan, steps, {}, {"req-exec", "dr.v1.PlanService/X", "fp"});
  ASSERT_TRUE(created.ok()) << created.status();
  // The failover step's first job failed it; its retry's job ended too,
  // and the execution halted before recording the step's end.
  steps[0].set_job("jobs/first-try");
  ASSERT_TRUE(store_->UpdateExecution(created->value, {{0, steps[0]}}, nullptr).ok());
  steps[0].set_job("jobs/retry");
  steps[0].set_attempt(2);
  e = *store_->GetExecution(kExecution);
  e.set_state(dr::v1::EXECUTION_STATE_HALTED);
  ASSERT_TRUE(store_->UpdateExecution(e, {{0, steps[0]}}, nullptr).ok());

  const absl::Time kLater = kTestNow + absl::Hours(24 * 365);
  auto pruned = store_->PruneJobs(kLater, 100);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1) << "only jobs/free";
  EXPECT_EQ(store_->GetJob("jobs/free").status().code(), absl::StatusCode::kNotFound);
  for (const char* id : {"first-try", "retry", "at-start"}) {
    EXPECT_TRUE(store_->GetJob(absl::StrCat("jobs/", id)).ok()) << id;
    auto events = store_->ListJobEvents(absl::StrCat("jobs/", id), {});
    ASSERT_TRUE(events.ok()) << id << ": " << events.status();
    EXPECT_EQ(events->items.size(), 2u) << id;
    EXPECT_TRUE(store_->GetRequest(absl::StrCat("req-", id)).ok())
        << id << ": a resumed step asking again must get its job, not a new one";
  }
  Reopen();
  EXPECT_EQ(*store_->PruneJobs(kLater, 100), 0) << "held across a restart";
  // It ends: its jobs are pruned like any other.
  e = *store_->GetExecution(kExecution);
  e.set_state(dr::v1::EXECUTION_STATE_FAILED);
  ASSERT_TRUE(store_->UpdateExecution(e, {}, nullptr).ok());
  EXPECT_EQ(*store_->PruneJobs(kLater, 100), 3);
  for (const char* id : {"first-try", "retry", "at-start"}) {
    EXPECT_EQ(store_->GetJob(absl::StrCat("jobs/", id)).status().code(),
              absl::StatusCode::kNotFound)
        << id;
    EXPECT_EQ(store_->GetRequest(absl::StrCat("req-", id)).status().code(),
              absl::StatusCode::kNotFound)
        << id;
  }
  EXPECT_EQ((*store_->GetExecutionSteps(kExecution))[0].job(), "jobs/retry")
      << "the ended execution's record is its own";
}

TEST_P(StoreContractTest, CreateJobClaimsTheVmAndWritesItsFirstEvent) {
  std::string vm = SeedVm();
  auto created = store_->CreateJob(TestJob("j1", vm), Key("r1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->replayed);
  EXPECT_EQ(created->job.name(), "jobs/j1");
  EXPECT_EQ(created->job.request_id(), "r1");
  EXPECT_EQ(created->job.state(), dr::v1::JOB_STATE_NEW);
  EXPECT_EQ(created->job.version(), 1);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
  auto events = store_->ListJobEvents("jobs/j1", {});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->items.size(), 1u);
  EXPECT_EQ(events->items[0].state(), dr::v1::JOB_STATE_NEW);
}

TEST_P(StoreContractTest, RepeatedRequestIdReturnsTheFirstJob) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 40)).ok());
  auto again = store_->CreateJob(TestJob("j2", vm), Key("r1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->job.name(), "jobs/j1");
  EXPECT_EQ(again->job.percent_complete(), 40u);
  EXPECT_EQ(store_->GetJob("jobs/j2").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, RequestIdReusedForAnotherRequestIsInvalidArgument) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1", "fp-a")).ok());
  auto s = store_->CreateJob(TestJob("j2", vm), Key("r1", "fp-b"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RefusalOf(s.status()).kind, Refusal::kRequestReused);
  EXPECT_EQ(RefusalOf(s.status()).subject, "r1");
}

TEST_P(StoreContractTest, SecondJobOnAClaimedVmIsAbortedNamingTheJobThatHoldsIt) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  auto s = store_->CreateJob(TestJob("j2", vm), Key("r2"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(RefusalOf(s.status()).kind, Refusal::kVmClaimed);
  EXPECT_EQ(RefusalOf(s.status()).other, "jobs/j1");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("jobs/j1"));
  // Nothing of j2 was written, not even its request id.
  EXPECT_EQ(store_->GetJob("jobs/j2").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_EXCEPTION)).ok());
  auto retry = store_->CreateJob(TestJob("j2", vm), Key("r2"));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->replayed);
}

TEST_P(StoreContractTest, CreateJobValidatesInput) {
  std::string vm = SeedVm();
  EXPECT_EQ(
      store_->CreateJob(TestJob("j1", "hosts/x/virtualMachines/none"), Key("r1")).status().code(),
      absl::StatusCode::kNotFound);
  dr::v1::Job bad = TestJob("j1", vm);
  bad.set_name("j1");
  EXPECT_EQ(RefusalOf(store_->CreateJob(bad, Key("r1")).status()).subject, "name");
  bad = TestJob("j1", vm);
  bad.set_state(dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(store_->CreateJob(bad, Key("r1")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RefusalOf(store_->CreateJob(TestJob("j1", vm), Key("")).status()).subject,
            "request_id");
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED)).ok());
  EXPECT_EQ(store_->CreateJob(TestJob("j1", vm), Key("r9")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(StoreContractTest, JobUpdatesWriteStateAndEventTogether) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  JobUpdate start = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 10);
  start.start_time = kTestNow + absl::Seconds(1);
  ASSERT_TRUE(store_->UpdateJob(start).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 60)).ok());
  JobUpdate fail = Update("jobs/j1", dr::v1::JOB_STATE_EXCEPTION, 60);
  fail.return_code = dr::v1::RETURN_CODE_FAILED;
  fail.error_code = 32768;
  fail.error_summary = "Failover failed";
  fail.error_description = "The virtual machine is running";
  fail.end_time = kTestNow + absl::Seconds(9);
  auto done = store_->UpdateJob(fail);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(done->error_summary(), "Failover failed");
  EXPECT_EQ(done->return_code(), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(FromProto(done->start_time()), kTestNow + absl::Seconds(1));
  EXPECT_EQ(FromProto(done->end_time()), kTestNow + absl::Seconds(9));
  EXPECT_EQ(done->version(), 4);
  // What an update answers is exactly what is stored.
  auto stored = store_->GetJob("jobs/j1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(done->SerializeAsString(), stored->SerializeAsString())
      << done->DebugString() << "\nvs stored\n"
      << stored->DebugString();
  auto events = store_->ListJobEvents("jobs/j1", {});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->items.size(), 4u);
  EXPECT_EQ(events->items[1].percent_complete(), 10u);
  EXPECT_EQ(events->items[2].percent_complete(), 60u);
  EXPECT_EQ(events->items[3].state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(events->items[3].sequence(), 4);
  // Terminal released the claim.
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "");
}

TEST_P(StoreContractTest, IllegalTransitionsAreRefusedAndWriteNothing) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 5)).ok());
  auto back = store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_NEW));
  EXPECT_EQ(back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RefusalOf(back.status()).kind, Refusal::kJobStateBehind);
  EXPECT_EQ(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_UNSPECIFIED)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 101)).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100)).ok());
  auto after_end = store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 100));
  EXPECT_EQ(after_end.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RefusalOf(after_end.status()).kind, Refusal::kJobEnded);
  auto again = store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_EXCEPTION, 100));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob("jobs/j1")->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(store_->ListJobEvents("jobs/j1", {})->items.size(), 3u);
  EXPECT_EQ(store_->UpdateJob(Update("jobs/none", dr::v1::JOB_STATE_RUNNING)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, ReattachStatusBehindTheStoredStateKeepsItAndAppliesTheRest) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 40)).ok());
  JobUpdate unknown = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 40);
  unknown.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  ASSERT_TRUE(store_->UpdateJob(unknown).ok());
  // An agent re-attached after a restart says New, 4096: the job stays
  // Running at 40%, and the answer clears the 32771.
  JobUpdate reattached = Update("jobs/j1", dr::v1::JOB_STATE_NEW, 0);
  reattached.keep_state_if_behind = true;
  absl::StatusOr<dr::v1::Job> job = store_->UpdateJob(reattached);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->percent_complete(), 40u);
  EXPECT_EQ(job->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(store_->GetJob("jobs/j1")->DebugString(), job->DebugString());
}

TEST_P(StoreContractTest, TerminalUpdateRecordsTheVmsNewStateInTheSameTransaction) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1"), "op-bytes\x01").ok());
  EXPECT_EQ(*store_->GetJobOperation("jobs/j1"), "op-bytes\x01");
  // While it runs, the VM's state changes and the claim stays.
  JobUpdate running = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 10);
  running.has_vm_state = true;
  running.vm_state.set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  running.vm_state.set_replication_state(dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS);
  ASSERT_TRUE(store_->UpdateJob(running).ok());
  EXPECT_EQ(store_->GetVirtualMachine(vm)->replication_state(),
            dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
  JobUpdate done = Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100);
  done.has_vm_state = true;
  done.vm_state.set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  done.vm_state.set_replication_state(dr::v1::REPLICATION_STATE_RECOVERED);
  done.vm_state.set_enabled_state(dr::v1::ENABLED_STATE_DISABLED);
  ASSERT_TRUE(store_->UpdateJob(done).ok());
  auto got = store_->GetVirtualMachine(vm);
  EXPECT_EQ(got->replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(got->active_job(), "");
  EXPECT_EQ(store_->GetJobOperation("jobs/none").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, StatusUnknownKeepsTheJobOpen) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  JobUpdate unknown = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 30);
  unknown.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  auto job = store_->UpdateJob(unknown);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_EQ(store_->ListActiveJobs()->size(), 1u);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
}

TEST_P(StoreContractTest, WriteBatchKeepsGoodOperationsAndDropsRefusedOnes) {
  SeedVm("A");
  ASSERT_TRUE(
      store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), TestVm("B", "b")}, kTestNow).ok());
  const std::string a = VmName(kTestHost, "A"), b = VmName(kTestHost, "B");
  ASSERT_TRUE(store_->CreateJob(TestJob("old", b), Key("r-old")).ok());
  std::vector<WriteOp> ops(5);
  ops[0].kind = WriteOp::Kind::kCreateJob;
  ops[0].job = TestJob("ja", a);
  ops[0].key = Key("ra");
  ops[0].operation = "op-a";
  ops[1].kind = WriteOp::Kind::kCreateJob;  // B is busy: refused
  ops[1].job = TestJob("jb", b);
  ops[1].key = Key("rb");
  ops[2].kind = WriteOp::Kind::kUpdateJob;  // illegal percent: refused
  ops[2].update = Update("jobs/old", dr::v1::JOB_STATE_RUNNING, 101);
  ops[3].kind = WriteOp::Kind::kUpdateJob;
  ops[3].update = Update("jobs/old", dr::v1::JOB_STATE_COMPLETED, 100);
  ops[4].kind = WriteOp::Kind::kCreateJob;  // replay of ra
  ops[4].job = TestJob("ja2", a);
  ops[4].key = Key("ra");
  auto results = store_->Write(ops);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_EQ(results[0].job.name(), "jobs/ja");
  EXPECT_EQ(results[1].status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(results[2].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[3].status.ok());
  EXPECT_EQ(results[3].job.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(results[4].status.ok());
  EXPECT_TRUE(results[4].replayed);
  EXPECT_EQ(results[4].job.name(), "jobs/ja");
  EXPECT_EQ(*store_->GetJobOperation("jobs/ja"), "op-a");
  EXPECT_EQ(store_->GetJob("jobs/jb").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRequest("rb").status().code(), absl::StatusCode::kNotFound);
  // The refused update wrote no event; the good one did.
  EXPECT_EQ(store_->ListJobEvents("jobs/old", {})->items.size(), 2u);
  EXPECT_EQ(store_->GetVirtualMachine(a)->active_job(), "jobs/ja");
  EXPECT_EQ(store_->GetVirtualMachine(b)->active_job(), "");
  Reopen();
  EXPECT_TRUE(store_->GetJob("jobs/ja").ok());
}

TEST_P(StoreContractTest, ListJobsFiltersAndPagesStablyWhileJobsAreCreated) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  std::vector<dr::v1::VirtualMachineInventory> inv;
  for (int i = 0; i < 12; ++i) inv.push_back(TestVm(absl::StrCat("vm", i), "x"));
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, inv, kTestNow).ok());
  for (int i = 0; i < 10; ++i) {
    dr::v1::Job j = TestJob(absl::StrCat("j", i), VmName(kTestHost, absl::StrCat("vm", i)));
    if (i % 3 == 0) j.set_type(dr::v1::JOB_TYPE_COMMIT_FAILOVER);
    ASSERT_TRUE(store_->CreateJob(j, Key(absl::StrCat("r", i))).ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(store_->UpdateJob(Update(j.name(), dr::v1::JOB_STATE_COMPLETED)).ok());
    }
  }
  std::vector<std::string> names;
  PageRequest page{4, ""};
  bool inserted = false;
  do {
    auto got = store_->ListJobs({}, page);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& j : got->items) names.push_back(j.name());
    page.page_token = got->next_page_token;
    if (!inserted) {  // a new job between pages does not shift them
      ASSERT_TRUE(store_->CreateJob(TestJob("new", VmName(kTestHost, "vm11")), Key("rn")).ok());
      inserted = true;
    }
  } while (!page.page_token.empty());
  EXPECT_THAT(names, ElementsAre("jobs/j9", "jobs/j8", "jobs/j7", "jobs/j6", "jobs/j5", "jobs/j4",
                                 "jobs/j3", "jobs/j2", "jobs/j1", "jobs/j0"));
  JobFilter f;
  f.states = {dr::v1::JOB_STATE_COMPLETED};
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 5u);
  f = {};
  f.types = {dr::v1::JOB_TYPE_COMMIT_FAILOVER};
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 4u);
  f = {};
  f.virtual_machine = VmName(kTestHost, "vm3");
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 1u);
  f = {};
  f.host = "hosts/other";
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 0u);
  f.host = kTestHost;
  f.states = {dr::v1::JOB_STATE_NEW};
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 6u);
  auto active = store_->ListActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 6u);
  EXPECT_EQ((*active)[0].name(), "jobs/j1");  // oldest first
}

}  // namespace
}  // namespace hvdr
