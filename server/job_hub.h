// Fan-out of job changes to WatchJob streams. The hub only routes: each
// watcher owns its own bounded queue (see job_service.cc), so a slow watcher
// never delays the publisher or other watchers.
//
// Thread-safe. Sharded by job name so that publishing different jobs does not
// contend.
#ifndef HVDR_SERVER_JOB_HUB_H_
#define HVDR_SERVER_JOB_HUB_H_

#include <array>
#include <map>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
  // After Watch returns, every Publish of `job` reaches `watcher` until
  // Unwatch. Callers read the job's current state *after* Watch and deliver
  // it themselves, so nothing published in between is missed.
  void Watch(const std::string& job, JobWatcher* watcher);
  void Unwatch(const std::string& job, JobWatcher* watcher);
  void Publish(const dr::v1::Job& job);
  // Calls OnClose on every watcher (shutdown).
  void CloseAll();
  int WatcherCount();

 private:
  static constexpr int kShards = 64;
  struct Shard {
    absl::Mutex mu;
    std::map<std::string, std::set<JobWatcher*>> watchers ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(const std::string& job);
  std::array<Shard, kShards> shards_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOB_HUB_H_
