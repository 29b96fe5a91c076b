// Counts open streams per client connection and in all, and refuses a new
// one past either limit: a client that opens streams in a loop (or forgets
// to close them) cannot exhaust the server's memory, nor crowd other
// clients out. Used for JobService.WatchJob and
// PlanService.WatchPlanExecution (one limiter for both), keyed by
// context->peer().
//
// Thread-safe.
#ifndef HVDR_SERVER_STREAM_LIMITER_H_
#define HVDR_SERVER_STREAM_LIMITER_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hvdr {
namespace server {

class StreamLimiter {
 public:
  struct Options {
    // <= 0: no limit.
    int max_per_peer = 1000;
    int max_total = 100000;
    // The retry advice of a refusal.
    absl::Duration retry_after = absl::Seconds(5);
  };

  explicit StreamLimiter(const Options& options) : options_(options) {}
  StreamLimiter(const StreamLimiter&) = delete;
  StreamLimiter& operator=(const StreamLimiter&) = delete;

  // Counts a new stream of `peer`, or refuses it with RESOURCE_EXHAUSTED
  // (32778, field "request", reason TOO_MANY_STREAMS_FROM_CLIENT or
  // TOO_MANY_STREAMS, ErrorDetail.retry_after set) and counts nothing.
  // Every OK must be matched by one Release(peer).
  absl::Status Acquire(const std::string& peer);
  void Release(const std::string& peer);

  int open() const;

 private:
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> per_peer_ ABSL_GUARDED_BY(mu_);
  int total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_STREAM_LIMITER_H_
