// Retention of the job history: terminal jobs, their events and request_ids
// older than Options::retention are deleted in the background, in bounded
// batches (Store::PruneJobs: one short transaction each, so the job
// writer's commits wait behind at most one batch, never behind one huge
// delete). Running jobs, the jobs of plan executions not ended, and the
// request_ids of kept jobs, are never pruned.
//
// Thread-safe. Owns one thread between Start() and Stop().
#ifndef HVDR_SERVER_RETENTION_H_
#define HVDR_SERVER_RETENTION_H_

#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class Retention {
 public:
  struct Options {
    // How long a terminal job is kept after its last change; zero: forever
    // (Start() then starts nothing).
    absl::Duration retention = absl::Hours(24 * 90);
    // Time between two pruning rounds.
    absl::Duration interval = absl::Minutes(10);
    // Jobs per transaction.
    int batch = 500;
  };

  // Not owned; must outlive this object.
  Retention(Store* store, Clock* clock, const Options& options)
      : store_(store), clock_(clock), options_(options) {}
  ~Retention();  // Stop()
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  // Prunes everything past the retention now, batch after batch, until a
  // batch comes back short (or Stop() is called). Returns the jobs pruned.
  // Zero retention: prunes nothing.
  absl::StatusOr<int64_t> RunOnce();
  // Runs RunOnce every interval on a thread of its own.
  void Start();
  // Idempotent.
  void Stop();

 private:
  Store* const store_;
  Clock* const clock_;
  const Options options_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_RETENTION_H_
