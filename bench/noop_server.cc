// The ceilings' server: dr.v1 services that do nothing, over the same gRPC
// stack, flags and threading as drserver.
//   FailoverService.InitiateFailover: answers a fixed JobResponse at once.
//   JobService.WatchJob("jobs/stream-N"): streams N messages, then OK.
//   JobService.WatchJob("jobs/tick-G-N-P"): a version now, then one every P
//     ms for N ticks, then OK. Every tick stream in the process gets the
//     same ticks at the same moment (G only names the "job"), the way a
//     whole site's jobs report progress together; a stream whose previous
//     write is still in flight gets only the newest version after it, as
//     WatchJob does. The fan-out ceiling.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
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

class TickStream;

// The ticks of one period: streams are spread over as many threads as the
// product's JobHub has delivery threads (4 per core), and every thread
// offers each tick to its streams at the same moments (start + n * period).
class Ticker {
 public:
  explicit Ticker(absl::Duration period) : period_(period), start_(absl::Now()) {
    const int n = std::max(4, 4 * static_cast<int>(std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
    for (auto& s : shards_) s->thread = std::thread([this, shard = s.get()] { Loop(*shard); });
  }
  ~Ticker() {
    stop_.Notify();
    for (auto& s : shards_) s->thread.join();
  }
  // Returns the shard `s` was given, for Remove.
  size_t Add(TickStream* s) {
    const size_t index = next_.fetch_add(1) % shards_.size();
    Shard& shard = *shards_[index];
    absl::MutexLock lock(&shard.mu);
    shard.streams.insert(s);
    return index;
  }
  // After Remove returns, no tick reaches `s`.
  void Remove(TickStream* s, size_t shard_index) {
    Shard& shard = *shards_[shard_index];
    absl::MutexLock lock(&shard.mu);
    shard.streams.erase(s);
  }

 private:
  struct Shard {
    absl::Mutex mu;
    std::set<TickStream*> streams ABSL_GUARDED_BY(mu);
    std::thread thread;
  };
  void Loop(Shard& shard);
  const absl::Duration period_;
  const absl::Time start_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<size_t> next_{0};
  absl::Notification stop_;
};

class TickStream final : public grpc::ServerWriteReactor<dr::v1::WatchJobResponse> {
 public:
  TickStream(Ticker* ticker, const std::string& name, int ticks) : ticker_(ticker), ticks_(ticks) {
    // About the size of a real job's version.
    dr::v1::Job& job = *message_.mutable_job();
    job.set_name(name);
    job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    job.set_state(dr::v1::JOB_STATE_RUNNING);
    job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    job.set_virtual_machine("hosts/hv-00/virtualMachines/00000000-0000-0000-0000-000000000000");
    job.set_host("hosts/hv-00");
    job.set_requester("drbench");
    job.set_request_id("fan-10000-0-0");
    hvdr::ToProto(absl::Now(), job.mutable_create_time());
    hvdr::ToProto(absl::Now(), job.mutable_start_time());
    Offer(absl::Now(), /*tick=*/false);
    shard_ = ticker_->Add(this);
  }
  // A new version stamped `t`: written now, or after the write in flight.
  void Offer(absl::Time t, bool tick) {
    {
      absl::MutexLock lock(&mu_);
      if (tick) ++ticked_;
      latest_ = t;
      if (writing_ || finished_) {
        pending_ = !finished_;
        return;
      }
      writing_ = true;
      FillLocked();
    }
    StartWrite(&message_);
  }
  void OnWriteDone(bool ok) override {
    bool write_next = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok || (!pending_ && ticked_ >= ticks_)) {
        if (finished_) return;
        finished_ = true;
      } else if (pending_) {
        pending_ = false;
        writing_ = write_next = true;
        FillLocked();
      } else {
        return;
      }
    }
    if (write_next) return StartWrite(&message_);
    Finish(ok ? grpc::Status::OK : grpc::Status::CANCELLED);
  }
  void OnDone() override {
    ticker_->Remove(this, shard_);
    delete this;
  }

 private:
  void FillLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    dr::v1::Job& job = *message_.mutable_job();
    job.set_version(job.version() + 1);
    job.set_percent_complete(static_cast<uint32_t>(std::min(99, ticked_)));
    hvdr::ToProto(latest_, job.mutable_update_time());
  }
  Ticker* const ticker_;
  size_t shard_ = 0;  // set once in the constructor
  const int ticks_;
  absl::Mutex mu_;
  int ticked_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time latest_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  dr::v1::WatchJobResponse message_;  // written only when no write is in flight
};

void Ticker::Loop(Shard& shard) {
  for (int64_t n = 1;; ++n) {
    if (stop_.WaitForNotificationWithDeadline(start_ + n * period_)) return;
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&shard.mu);
    for (TickStream* s : shard.streams) s->Offer(now, /*tick=*/true);
  }
}

class NoopJobs final : public dr::v1::JobService::CallbackService {
  grpc::ServerWriteReactor<dr::v1::WatchJobResponse>* WatchJob(
      grpc::CallbackServerContext*, const dr::v1::WatchJobRequest* r) override {
    std::vector<std::string> parts = absl::StrSplit(r->name(), '-');
    int n = 0, period_ms = 0;
    if (parts.size() == 4 && parts[0] == "jobs/tick" && absl::SimpleAtoi(parts[2], &n) &&
        absl::SimpleAtoi(parts[3], &period_ms) && period_ms > 0) {
      absl::MutexLock lock(&mu_);
      std::unique_ptr<Ticker>& t = tickers_[period_ms];
      if (t == nullptr) t = std::make_unique<Ticker>(absl::Milliseconds(period_ms));
      return new TickStream(t.get(), r->name(), n);
    }
    (void)absl::SimpleAtoi(r->name().substr(r->name().rfind('-') + 1), &n);
    return new Streamer(n);
  }

  absl::Mutex mu_;
  std::map<int, std::unique_ptr<Ticker>> tickers_ ABSL_GUARDED_BY(mu_);
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
    std::rename((absl::GetFlag(FLAGS_port_file) + ".tmp").c_str(),
                absl::GetFlag(FLAGS_port_file).c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  server->Shutdown();
  return 0;
}
