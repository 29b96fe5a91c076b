// Load generation with the gRPC callback client API: no thread per call.
#ifndef HVDR_BENCH_LOAD_H_
#define HVDR_BENCH_LOAD_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"

namespace hvdr {
namespace bench {

struct Latencies {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};
Latencies Summarize(std::vector<double> ms);

struct LoadResult {
  absl::Duration elapsed;
  int ok = 0;
  int failed = 0;
  std::string first_error;
  std::vector<double> latencies_ms;
  double Rate() const { return (ok + failed) / absl::ToDoubleSeconds(elapsed); }
};

using MakeRequest = std::function<dr::v1::InitiateFailoverRequest(int)>;

// `total` calls, at most `concurrency` in flight (saturation).
LoadResult ClosedLoop(dr::v1::FailoverService::Stub* stub, int total, int concurrency,
                      const MakeRequest& make);
// `total` calls started at `rate` per second, whatever is in flight.
LoadResult FixedRate(dr::v1::FailoverService::Stub* stub, int total, double rate,
                     const MakeRequest& make);

// `watchers` WatchJob streams spread over `jobs`, on `channels` channels.
// Records, for every message received once all streams are open (steady
// state, not the connection storm), now - job.update_time: the delay from
// drserver receiving the agent's status to the watcher reading it.
struct FanOutResult {
  std::vector<double> delays_ms;
  int streams_ok = 0;
  int streams_failed = 0;
  int64_t messages = 0;
};
class FanOut {
 public:
  FanOut(const std::string& address, int channels);
  // Opens the streams and returns once all are open (first message read).
  void Start(const std::vector<std::string>& jobs, int watchers);
  // Waits until every stream ended.
  FanOutResult Wait(absl::Duration timeout);

 private:
  class Stream;
  std::vector<std::unique_ptr<dr::v1::JobService::Stub>> stubs_;
  std::shared_ptr<struct FanOutState> state_;
};

// The resident memory of a process in bytes (VmRSS), 0 if unknown.
int64_t ResidentBytes(int pid);
// The peak resident memory of a process since it started (VmHWM), 0 if
// unknown.
int64_t PeakResidentBytes(int pid);

// CPU time (user + system, all threads) a process has used so far: `pid`
// from /proc, 0 for this process; zero if unknown.
absl::Duration CpuTime(int pid);

}  // namespace bench
}  // namespace hvdr

#endif  // HVDR_BENCH_LOAD_H_
