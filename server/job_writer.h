// Persists job updates in batches: one writer thread takes every update
// queued so far and commits them in one transaction (Store::UpdateJobs), then
// publishes each stored job to the hub and runs its callback. Updates of one
// job are applied in the order they were submitted. A batch that fails is
// retried one update at a time, so one bad update does not sink the others.
//
// Thread-safe. Callbacks run on the writer thread and must not block long.
#ifndef HVDR_SERVER_JOB_WRITER_H_
#define HVDR_SERVER_JOB_WRITER_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/job_hub.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class JobWriter {
 public:
  using Done = std::function<void(const absl::StatusOr<dr::v1::Job>&)>;

  // Not owned.
  JobWriter(Store* store, JobHub* hub, int max_batch = 512);
  ~JobWriter();  // drains the queue, then stops

  void Submit(JobUpdate update, Done done);
  // Blocks until everything submitted so far is committed and published.
  void Flush();

 private:
  struct Item {
    JobUpdate update;
    Done done;
  };
  void Loop();

  Store* const store_;
  JobHub* const hub_;
  const int max_batch_;
  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOB_WRITER_H_
