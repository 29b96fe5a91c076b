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
// stalled). Every change is still persisted; only fan-out is thinned, so
// that delivery to many watchers stays prompt.
//
// Delivery runs on `delivery_threads` threads of the hub's own, never on the
// publisher's: Publish only queues the version. Jobs are sharded by name and
// each shard belongs to one delivery thread, so one job's versions reach a
// watcher in order while different jobs are handed out in parallel (a
// whole-site failover publishes hundreds of jobs at once, each with its
// watchers; the gRPC writes for them then run on all cores and the
// transport can coalesce writes that share a connection).
//
// Thread-safe. Sharded by job name so that publishing different jobs does not
// contend.
#ifndef HVDR_SERVER_JOB_HUB_H_
#define HVDR_SERVER_JOB_HUB_H_

#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
  // A new version of the job, called on a hub delivery thread: must not
  // block and must not call back into the hub. May repeat versions; a
  // watcher keeps only versions newer than the last it queued.
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
    // Threads that hand versions to watchers; 0 means four per core (at
    // least 4). More threads than cores, because a thread writing to a
    // connection holds its transport while the others' writes to the same
    // connection queue behind it and go out in the same send (measurements:
    // docs/performance.md).
    int delivery_threads = 0;
  };
  JobHub() : JobHub(Options()) {}
  explicit JobHub(const Options& options);
  ~JobHub();

  // After Watch returns, every Publish of `job` reaches `watcher` (subject
  // to progress coalescing) until Unwatch. Callers read the job's current
  // state *after* Watch and deliver it themselves, so nothing published in
  // between is missed.
  void Watch(const std::string& job, JobWatcher* watcher);
  // After Unwatch returns, `watcher` is not called again and may be
  // destroyed: it waits for a delivery already under way in its shard.
  // REQUIRES: not called from OnJob.
  void Unwatch(const std::string& job, JobWatcher* watcher);
  // Queues `job` for its watchers and returns without calling them.
  void Publish(const dr::v1::Job& job);
  // Waits until every version queued so far has been handed to its
  // watchers (tests; shutdown).
  void Drain();
  // Test hook: which delivery thread serves `job`.
  int DeliveryThreadForTest(const std::string& job) const;
  // Delivers progress held back with nothing newer for progress_interval.
  void Flush();
  // Calls OnClose on every watcher (shutdown).
  void CloseAll();
  // Test hook: watchers registered, over all jobs.
  int WatcherCountForTest();

 private:
  static constexpr int kShards = 64;
  struct Entry {
    std::set<JobWatcher*> watchers;
    dr::v1::Job last;  // last delivered
    absl::Time last_delivery = absl::InfinitePast();
    bool has_pending = false;
    dr::v1::Job pending;       // newest progress held back
    absl::Time pending_since;  // when it arrived
  };
  struct Shard {
    absl::Mutex mu;
    std::map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
    // Versions published and not yet handed to watchers, oldest first.
    std::vector<dr::v1::Job> ready ABSL_GUARDED_BY(mu);
    // A delivery thread is calling watchers of this shard outside mu.
    bool delivering ABSL_GUARDED_BY(mu) = false;
  };
  // One delivery thread and the wake-up flag for its shards.
  struct Lane {
    absl::Mutex mu;
    bool work ABSL_GUARDED_BY(mu) = false;
    bool stopping ABSL_GUARDED_BY(mu) = false;
    std::thread thread;
  };
  static size_t ShardIndex(const std::string& job);
  Shard& ShardFor(const std::string& job) { return shards_[ShardIndex(job)]; }
  // Records `job` as delivered to `e` (an entry of `s`) and queues it on `s`.
  void Deliver(Shard& s, Entry& e, const dr::v1::Job& job, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu);
  void DeliveryLoop(int lane);

  const Options options_;
  std::array<Shard, kShards> shards_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  absl::Notification stop_;
  std::thread flusher_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOB_HUB_H_
