#include "bench/load.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iterator>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/proto_time.h"

namespace hvdr {
namespace bench {

Latencies Summarize(std::vector<double> ms) {
  Latencies l;
  if (ms.empty()) return l;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * (ms.size() - 1) + 0.5))];
  };
  l.p50_ms = at(0.50);
  l.p99_ms = at(0.99);
  l.max_ms = ms.back();
  return l;
}

namespace {

struct Shared {
  absl::Mutex mu;
  LoadResult result ABSL_GUARDED_BY(mu);
  int done ABSL_GUARDED_BY(mu) = 0;
};

struct Call {
  grpc::ClientContext context;
  dr::v1::InitiateFailoverRequest request;
  dr::v1::JobResponse response;
  absl::Time start;
};

void Issue(dr::v1::FailoverService::Stub* stub, dr::v1::InitiateFailoverRequest request,
           std::shared_ptr<Shared> shared, std::function<void()> then) {
  auto* call = new Call;
  call->request = std::move(request);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  call->start = absl::Now();
  stub->async()->InitiateFailover(
      &call->context, &call->request, &call->response, [call, shared, then](grpc::Status status) {
        const double ms = absl::ToDoubleMilliseconds(absl::Now() - call->start);
        {
          absl::MutexLock lock(&shared->mu);
          shared->result.latencies_ms.push_back(ms);
          if (status.ok()) {
            ++shared->result.ok;
          } else {
            if (shared->result.failed++ == 0) {
              shared->result.first_error = status.error_message();
            }
          }
          ++shared->done;
        }
        delete call;
        if (then) then();
      });
}

LoadResult Finish(std::shared_ptr<Shared> shared, int total, absl::Time start) {
  absl::MutexLock lock(&shared->mu);
  auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(shared->mu) { return shared->done >= total; };
  shared->mu.Await(absl::Condition(&all));
  shared->result.elapsed = absl::Now() - start;
  return shared->result;
}

// What a closed loop's calls share. Each call's completion starts the next
// request from here: nothing of ClosedLoop's own frame, which is gone
// once the last call is counted (the completion that counted it may still
// be about to look for a next request).
struct Loop {
  dr::v1::FailoverService::Stub* stub;
  int total;
  MakeRequest make;
  std::shared_ptr<Shared> shared;
  std::atomic<int> next{0};
};

void LaunchNext(const std::shared_ptr<Loop>& loop) {
  const int i = loop->next.fetch_add(1);
  if (i >= loop->total) return;
  Issue(loop->stub, loop->make(i), loop->shared, [loop] { LaunchNext(loop); });
}

}  // namespace

LoadResult ClosedLoop(dr::v1::FailoverService::Stub* stub, int total, int concurrency,
                      const MakeRequest& make) {
  auto loop = std::make_shared<Loop>();
  loop->stub = stub;
  loop->total = total;
  loop->make = make;
  loop->shared = std::make_shared<Shared>();
  const absl::Time start = absl::Now();
  for (int i = 0; i < std::min(concurrency, total); ++i) LaunchNext(loop);
  return Finish(loop->shared, total, start);
}

LoadResult FixedRate(dr::v1::FailoverService::Stub* stub, int total, double rate,
                     const MakeRequest& make) {
  auto shared = std::make_shared<Shared>();
  const absl::Time start = absl::Now();
  for (int i = 0; i < total; ++i) {
    const absl::Time at = start + absl::Seconds(i / rate);
    const absl::Duration wait = at - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    Issue(stub, make(i), shared, nullptr);
  }
  return Finish(shared, total, start);
}

struct FanOutState {
  absl::Mutex mu;
  FanOutResult result ABSL_GUARDED_BY(mu);
  int open ABSL_GUARDED_BY(mu) = 0;
  int started ABSL_GUARDED_BY(mu) = 0;
  int live ABSL_GUARDED_BY(mu) = 0;
  bool measuring ABSL_GUARDED_BY(mu) = false;
};

class FanOut::Stream final : public grpc::ClientReadReactor<dr::v1::WatchJobResponse> {
 public:
  Stream(dr::v1::JobService::Stub* stub, const std::string& job, std::shared_ptr<FanOutState> state)
      : state_(std::move(state)) {
    request_.set_name(job);
    stub->async()->WatchJob(&context_, &request_, this);
    StartRead(&message_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const absl::Time now = absl::Now();
    {
      absl::MutexLock lock(&state_->mu);
      ++state_->result.messages;
      if (first_) {
        ++state_->open;
      } else if (state_->measuring) {
        state_->result.delays_ms.push_back(
            absl::ToDoubleMilliseconds(now - FromProto(message_.job().update_time())));
      }
    }
    first_ = false;
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&state_->mu);
      if (status.ok()) {
        ++state_->result.streams_ok;
      } else {
        ++state_->result.streams_failed;
      }
      if (first_) ++state_->open;  // ended before any message
      --state_->live;
    }
    delete this;
  }

 private:
  std::shared_ptr<FanOutState> state_;
  grpc::ClientContext context_;
  dr::v1::WatchJobRequest request_;
  dr::v1::WatchJobResponse message_;
  bool first_ = true;
};

FanOut::FanOut(const std::string& address, int channels) : state_(std::make_shared<FanOutState>()) {
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("hvdr.bench.channel", i);  // distinct channels, distinct connections
    stubs_.push_back(dr::v1::JobService::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args)));
  }
}

void FanOut::Start(const std::vector<std::string>& jobs, int watchers) {
  {
    absl::MutexLock lock(&state_->mu);
    state_->live += watchers;
    state_->started += watchers;
  }
  for (int i = 0; i < watchers; ++i) {
    new Stream(stubs_[i % stubs_.size()].get(), jobs[i % jobs.size()], state_);
  }
  absl::MutexLock lock(&state_->mu);
  auto opened = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    return state_->open >= state_->started;
  };
  state_->mu.AwaitWithTimeout(absl::Condition(&opened), absl::Seconds(120));
  state_->measuring = true;
}

FanOutResult FanOut::Wait(absl::Duration timeout) {
  absl::MutexLock lock(&state_->mu);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) { return state_->live == 0; };
  state_->mu.AwaitWithTimeout(absl::Condition(&done), timeout);
  return state_->result;
}

namespace {

// A "Name:   123 kB" line of /proc/<pid>/status in bytes, 0 if absent.
int64_t StatusBytes(int pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream fields(line.substr(field.size()));
      int64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

}  // namespace

int64_t ResidentBytes(int pid) { return StatusBytes(pid, "VmRSS:"); }

int64_t PeakResidentBytes(int pid) { return StatusBytes(pid, "VmHWM:"); }

absl::Duration CpuTime(int pid) {
  if (pid == 0) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return absl::ZeroDuration();
    return absl::DurationFromTimeval(u.ru_utime) + absl::DurationFromTimeval(u.ru_stime);
  }
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces) end with ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::ZeroDuration();
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoll(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoll(field.c_str(), nullptr, 10);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return absl::Seconds(static_cast<double>(utime + stime) /
                       static_cast<double>(ticks > 0 ? ticks : 100));
}

}  // namespace bench
}  // namespace hvdr
