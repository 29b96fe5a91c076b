// For drctl's unit tests: a DrClient over the generated gmock stubs
// (MockTopologyServiceStub, ...), a Ctx writing to strings and scripted
// WatchJob and WatchPlanExecution streams.
#ifndef HVDR_CLI_FAKE_STUBS_H_
#define HVDR_CLI_FAKE_STUBS_H_

#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>

#include "cli/client.h"
#include "cli/context.h"
#include "dr/v1/failover_service_mock.grpc.pb.h"
#include "dr/v1/job_service_mock.grpc.pb.h"
#include "dr/v1/plan_service_mock.grpc.pb.h"
#include "dr/v1/topology_service_mock.grpc.pb.h"
#include "gmock/gmock.h"

namespace hvdr {
namespace cli {
namespace testing {

// A WatchJob stream that yields `jobs`, then ends with `end`.
class FakeJobReader final : public grpc::ClientReaderInterface<dr::v1::WatchJobResponse> {
 public:
  FakeJobReader(std::vector<dr::v1::Job> jobs, grpc::Status end)
      : jobs_(std::move(jobs)), end_(std::move(end)) {}
  bool Read(dr::v1::WatchJobResponse* m) override {
    if (next_ >= jobs_.size()) return false;
    *m->mutable_job() = jobs_[next_++];
    return true;
  }
  bool NextMessageSize(uint32_t* size) override {
    *size = 1 << 20;
    return next_ < jobs_.size();
  }
  grpc::Status Finish() override { return end_; }
  void WaitForInitialMetadata() override {}

 private:
  std::vector<dr::v1::Job> jobs_;
  grpc::Status end_;
  size_t next_ = 0;
};

// A WatchPlanExecution stream that yields `messages`, then ends with `end`.
class FakeExecutionReader final
    : public grpc::ClientReaderInterface<dr::v1::WatchPlanExecutionResponse> {
 public:
  FakeExecutionReader(std::vector<dr::v1::WatchPlanExecutionResponse> messages, grpc::Status end)
      : messages_(std::move(messages)), end_(std::move(end)) {}
  bool Read(dr::v1::WatchPlanExecutionResponse* m) override {
    if (next_ >= messages_.size()) return false;
    *m = messages_[next_++];
    return true;
  }
  bool NextMessageSize(uint32_t* size) override {
    *size = 1 << 20;
    return next_ < messages_.size();
  }
  grpc::Status Finish() override { return end_; }
  void WaitForInitialMetadata() override {}

 private:
  std::vector<dr::v1::WatchPlanExecutionResponse> messages_;
  grpc::Status end_;
  size_t next_ = 0;
};

// A drctl with mock stubs; output lands in out/err.
struct TestCli {
  TestCli() : client(&topology, &failover, &jobs, &plans, DrClient::Options()) {
    ctx.client = &client;
    ctx.server = "drserver.test:50051";
    ctx.requester = "tester";
    ctx.out = &out;
    ctx.err = &err;
    ctx.rewatch_delay = absl::Milliseconds(1);
  }

  ::testing::StrictMock<dr::v1::MockTopologyServiceStub> topology;
  ::testing::StrictMock<dr::v1::MockFailoverServiceStub> failover;
  ::testing::StrictMock<dr::v1::MockJobServiceStub> jobs;
  ::testing::StrictMock<dr::v1::MockPlanServiceStub> plans;
  DrClient client;
  std::ostringstream out;
  std::ostringstream err;
  Ctx ctx;
};

}  // namespace testing
}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_FAKE_STUBS_H_
