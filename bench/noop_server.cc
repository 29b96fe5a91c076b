// The ceilings' server: dr.v1 services that do nothing, over the same gRPC
// stack, flags and threading as drserver.
//   FailoverService.InitiateFailover: answers a fixed JobResponse at once.
//   JobService.WatchJob("jobs/stream-N"): streams N messages, then OK.
#include <signal.h>

#include <cstdio>
#include <deque>
#include <fstream>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port");
ABSL_FLAG(std::string, port_file, "", "write the bound port here");

namespace {

class NoopFailover final : public dr::v1::FailoverService::CallbackService {
  grpc::ServerUnaryReactor* InitiateFailover(grpc::CallbackServerContext* c,
                                             const dr::v1::InitiateFailoverRequest* r,
                                             dr::v1::JobResponse* out) override {
    out->mutable_job()->set_name("jobs/noop");
    out->mutable_job()->set_virtual_machine(r->virtual_machine());
    out->set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    auto* reactor = c->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class Streamer final : public grpc::ServerWriteReactor<dr::v1::WatchJobResponse> {
 public:
  explicit Streamer(int n) : left_(n) { Next(); }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::CANCELLED);
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (left_-- <= 0) return Finish(grpc::Status::OK);
    message_.mutable_job()->set_version(message_.job().version() + 1);
    message_.mutable_job()->set_name("jobs/stream");
    hvdr::ToProto(absl::Now(), message_.mutable_job()->mutable_update_time());
    StartWrite(&message_);
  }
  int left_;
  dr::v1::WatchJobResponse message_;
};

class NoopJobs final : public dr::v1::JobService::CallbackService {
  grpc::ServerWriteReactor<dr::v1::WatchJobResponse>* WatchJob(grpc::CallbackServerContext*,
                                                               const dr::v1::WatchJobRequest* r) override {
    int n = 0;
    (void)absl::SimpleAtoi(r->name().substr(r->name().rfind('-') + 1), &n);
    return new Streamer(n);
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As in drserver and hvagent: no lock-order bookkeeping on every lock
  // (gRPC's own locks included) in a program that measures.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  NoopFailover failover;
  NoopJobs jobs;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&failover);
  builder.RegisterService(&jobs);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) return 1;
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_port_file) + ".tmp") << port << "\n";
    std::rename((absl::GetFlag(FLAGS_port_file) + ".tmp").c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown();
  return 0;
}
