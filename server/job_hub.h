// Fan-out of job changes to WatchJob streams. The hub routes; each watcher
// owns its own bounded queue (see services.cc), so a slow watcher never
// delays the publisher or other watchers.
//
// Progress is coalesced at the source: for each watched job, a change of
// state (or return code, or a terminal state) is delivered at once, while a
// progress-only change is delivered at most every `progress_interval`
// (the first one after the interval goes out as it arrives, so what is
// delivered is fresh); a progress change held back is delivered by a flusher
// thread only if nothing newer arrived for a whole interval (the job
// stalled). Every change is still persisted; only fan-out is thinned. With
// 10,000 watchers this is what keeps delivery prompt.
//
// Thread-safe. Sharded by job name so that publishing different jobs does not
// contend.
#ifndef HVDR_SERVER_JOB_HUB_H_
#define HVDR_SERVER_JOB_HUB_H_

#include <array>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "dr/v1/resources.pb.h"

namespace hvdr {
namespace server {

class JobWatcher {
 public:
  virtual ~JobWatcher() = default;
  // A new version of the job. Called with a hub shard lock held: must not
  // block and must not call back into the hub. May repeat or reorder
  // versions; a watcher keeps only versions newer than the last it queued.
  virtual void OnJob(const dr::v1::Job& job) = 0;
  // The server is shutting down: end the stream.
  virtual void OnClose() = 0;
};

class JobHub {
 public:
  struct Options {
    absl::Duration progress_interval = absl::Milliseconds(250);
    // Not owned.
    Clock* clock = RealClock::Get();
    // False: no flusher thread; tests call Flush().
    bool start_flusher = true;
  };
  JobHub() : JobHub(Options()) {}
  explicit JobHub(const Options& options);
  ~JobHub();

  // After Watch returns, every Publish of `job` reaches `watcher` (subject
  // to progress coalescing) until Unwatch. Callers read the job's current
  // state *after* Watch and deliver it themselves, so nothing published in
  // between is missed.
  void Watch(const std::string& job, JobWatcher* watcher);
  void Unwatch(const std::string& job, JobWatcher* watcher);
  void Publish(const dr::v1::Job& job);
  // Delivers progress held back with nothing newer for progress_interval.
  void Flush();
  // Calls OnClose on every watcher (shutdown).
  void CloseAll();
  int WatcherCount();

 private:
  static constexpr int kShards = 64;
  struct Entry {
    std::set<JobWatcher*> watchers;
    dr::v1::Job last;            // last delivered
    absl::Time last_delivery = absl::InfinitePast();
    bool has_pending = false;
    dr::v1::Job pending;         // newest progress held back
    absl::Time pending_since;    // when it arrived
  };
  struct Shard {
    absl::Mutex mu;
    std::map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(const std::string& job);
  static void Deliver(Entry& e, const dr::v1::Job& job, absl::Time now);

  const Options options_;
  std::array<Shard, kShards> shards_;
  absl::Notification stop_;
  std::thread flusher_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOB_HUB_H_
