#include "cli/client.h"

#include <chrono>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/fake_stubs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace cli {
namespace {

using ::testing::_;
using testing::FakeJobReader;
using ::testing::Return;
using ::testing::StrictMock;

constexpr absl::Duration kTestTimeout = absl::Seconds(7);

class DrClientTest : public ::testing::Test {
 protected:
  DrClientTest()
      : client_(&topology_, &failover_, &jobs_, &plans_, DrClient::Options{kTestTimeout}) {}

  // The deadline `c` carries, from now.
  static absl::Duration DeadlineFromNow(grpc::ClientContext* c) {
    return absl::FromChrono(c->deadline() - std::chrono::system_clock::now());
  }

  StrictMock<dr::v1::MockTopologyServiceStub> topology_;
  StrictMock<dr::v1::MockFailoverServiceStub> failover_;
  StrictMock<dr::v1::MockJobServiceStub> jobs_;
  StrictMock<dr::v1::MockPlanServiceStub> plans_;
  DrClient client_;
};

TEST_F(DrClientTest, EveryCallHasTheDeadlineOfTheTimeout) {
  EXPECT_CALL(topology_, ListHosts(_, _, _)).WillOnce([](grpc::ClientContext* c, auto&, auto*) {
    const absl::Duration left = DeadlineFromNow(c);
    EXPECT_GT(left, kTestTimeout - absl::Seconds(2));
    EXPECT_LE(left, kTestTimeout);
    return grpc::Status::OK;
  });
  EXPECT_CALL(jobs_, GetJob(_, _, _)).WillOnce([](grpc::ClientContext* c, auto&, dr::v1::Job* job) {
    EXPECT_LE(DeadlineFromNow(c), kTestTimeout);
    job->set_name("jobs/j1");
    return grpc::Status::OK;
  });
  EXPECT_TRUE(client_.ListHosts({}).ok());
  absl::StatusOr<dr::v1::Job> job = client_.GetJob({});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->name(), "jobs/j1");
}

TEST_F(DrClientTest, SendsTheLogicalNameAndRequestIdAsGiven) {
  dr::v1::InitiateFailoverRequest sent;
  EXPECT_CALL(failover_, InitiateFailover(_, _, _))
      .WillOnce([&](grpc::ClientContext*, const dr::v1::InitiateFailoverRequest& r,
                    dr::v1::JobResponse* resp) {
        sent = r;
        resp->mutable_job()->set_virtual_machine(
            "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-000000000001");
        return grpc::Status::OK;
      });
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine("virtualMachines/sql-01");
  r.set_recovery_point("virtualMachines/sql-01/recoveryPoints/rp-1");
  r.set_request_id("runbook-step-1");
  absl::StatusOr<dr::v1::JobResponse> resp = client_.InitiateFailover(r);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(sent.virtual_machine(), "virtualMachines/sql-01");
  EXPECT_EQ(sent.recovery_point(), "virtualMachines/sql-01/recoveryPoints/rp-1");
  EXPECT_EQ(sent.request_id(), "runbook-step-1");
}

TEST_F(DrClientTest, RefusalsKeepTheirCode) {
  EXPECT_CALL(failover_, StopVirtualMachine(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::ABORTED, "VM busy")));
  absl::StatusOr<dr::v1::JobResponse> resp = client_.StopVirtualMachine({});
  EXPECT_EQ(resp.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(resp.status().message(), "VM busy");
}

TEST_F(DrClientTest, ListAllVirtualMachinesFollowsEveryPage) {
  std::vector<std::string> tokens;
  EXPECT_CALL(topology_, ListVirtualMachines(_, _, _))
      .Times(2)
      .WillRepeatedly([&](grpc::ClientContext*, const dr::v1::ListVirtualMachinesRequest& r,
                          dr::v1::ListVirtualMachinesResponse* resp) {
        EXPECT_EQ(r.parent(), "hosts/-");
        tokens.push_back(r.page_token());
        resp->add_virtual_machines()->set_name(absl::StrCat("vm-", tokens.size()));
        if (tokens.size() == 1) resp->set_next_page_token("page-2");
        return grpc::Status::OK;
      });
  dr::v1::ListVirtualMachinesRequest r;
  r.set_parent("hosts/-");
  absl::StatusOr<dr::v1::ListVirtualMachinesResponse> all = client_.ListAllVirtualMachines(r);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(tokens, (std::vector<std::string>{"", "page-2"}));
  ASSERT_EQ(all->virtual_machines_size(), 2);
  EXPECT_EQ(all->virtual_machines(1).name(), "vm-2");
  EXPECT_TRUE(all->next_page_token().empty());
}

TEST_F(DrClientTest, ListAllVirtualMachinesEndsAtTheFirstError) {
  EXPECT_CALL(topology_, ListVirtualMachines(_, _, _))
      .WillOnce([](grpc::ClientContext*, auto&, dr::v1::ListVirtualMachinesResponse* resp) {
        resp->set_next_page_token("page-2");
        return grpc::Status::OK;
      })
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone")));
  EXPECT_EQ(client_.ListAllVirtualMachines({}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(DrClientTest, WatchJobHandsOverEveryVersionUnderTheGivenDeadline) {
  dr::v1::Job running, done;
  running.set_state(dr::v1::JOB_STATE_RUNNING);
  done.set_state(dr::v1::JOB_STATE_COMPLETED);
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  EXPECT_CALL(jobs_, WatchJobRaw(_, _))
      .WillOnce([&](grpc::ClientContext* c, const dr::v1::WatchJobRequest& r) {
        EXPECT_EQ(r.name(), "jobs/j1");
        EXPECT_LT(absl::AbsDuration(absl::FromChrono(c->deadline()) - deadline),
                  absl::Milliseconds(1));
        return new FakeJobReader({running, done}, grpc::Status::OK);
      });
  std::vector<dr::v1::JobState> seen;
  absl::Status st = client_.WatchJob("jobs/j1", deadline,
                                     [&](const dr::v1::Job& j) { seen.push_back(j.state()); });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_EQ(seen, (std::vector<dr::v1::JobState>{dr::v1::JOB_STATE_RUNNING,
                                                 dr::v1::JOB_STATE_COMPLETED}));
}

TEST_F(DrClientTest, WatchJobReturnsHowTheStreamEnded) {
  EXPECT_CALL(jobs_, WatchJobRaw(_, _)).WillOnce([](grpc::ClientContext*, auto&) {
    return new FakeJobReader({}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"));
  });
  EXPECT_EQ(
      client_.WatchJob("jobs/j1", absl::Now() + absl::Seconds(5), [](const dr::v1::Job&) {}).code(),
      absl::StatusCode::kUnavailable);
}

TEST_F(DrClientTest, WatchPlanExecutionStopsWhenTheCallerHasSeenEnough) {
  dr::v1::WatchPlanExecutionResponse halted, later;
  halted.mutable_execution()->set_state(dr::v1::EXECUTION_STATE_HALTED);
  later.mutable_execution()->set_state(dr::v1::EXECUTION_STATE_RUNNING);
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  EXPECT_CALL(plans_, WatchPlanExecutionRaw(_, _))
      .WillOnce([&](grpc::ClientContext* c, const dr::v1::WatchPlanExecutionRequest& r) {
        EXPECT_EQ(r.name(), "plans/p/executions/e1");
        EXPECT_LT(absl::AbsDuration(absl::FromChrono(c->deadline()) - deadline),
                  absl::Milliseconds(1));
        return new testing::FakeExecutionReader(
            {halted, later}, grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      });
  std::vector<dr::v1::ExecutionState> seen;
  absl::Status st = client_.WatchPlanExecution("plans/p/executions/e1", deadline,
                                               [&](const dr::v1::WatchPlanExecutionResponse& m) {
                                                 seen.push_back(m.execution().state());
                                                 return false;
                                               });
  EXPECT_TRUE(st.ok()) << st << ": the caller stopped it";
  EXPECT_EQ(seen, std::vector<dr::v1::ExecutionState>{dr::v1::EXECUTION_STATE_HALTED});
}

TEST_F(DrClientTest, WatchPlanExecutionReturnsHowTheStreamEnded) {
  EXPECT_CALL(plans_, WatchPlanExecutionRaw(_, _)).WillOnce([](grpc::ClientContext*, auto&) {
    return new testing::FakeExecutionReader(
        {}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting"));
  });
  EXPECT_EQ(client_
                .WatchPlanExecution("plans/p/executions/e1", absl::Now() + absl::Seconds(5),
                                    [](const dr::v1::WatchPlanExecutionResponse&) { return true; })
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(NewRequestIdTest, IsFreshAndWellFormed) {
  const std::string a = NewRequestId(), b = NewRequestId();
  EXPECT_TRUE(std::regex_match(a, std::regex("drctl-[0-9a-f]{32}"))) << a;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
