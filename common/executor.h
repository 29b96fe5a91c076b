// A fixed pool of threads that runs closures in submission order (FIFO
// across the pool): where work that blocks (a disk write with its fsync, a
// hypervisor call) is moved off gRPC's callback threads, which must never
// block.
//
// Thread-safe. The destructor runs what was queued, then joins.
#ifndef HVDR_COMMON_EXECUTOR_H_
#define HVDR_COMMON_EXECUTOR_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hvdr {

class Executor {
 public:
  // REQUIRES: threads >= 1.
  explicit Executor(int threads);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`. After the destructor began, runs it on the caller's
  // thread instead (nothing is ever dropped).
  void Schedule(std::function<void()> task);
  // Blocks until every task scheduled before the call has run.
  void Drain();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t scheduled_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace hvdr

#endif  // HVDR_COMMON_EXECUTOR_H_
