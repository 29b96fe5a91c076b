// The server's single writer: job creations and job updates are queued, and
// one thread commits everything queued so far in one transaction
// (Store::Write: group commit, a savepoint per operation, so one refused
// operation does not sink the others); a second thread then answers the
// batch's creations, and only after that publishes each stored job to the
// hub and runs the rest of the callbacks (dispatch, logging), so a caller's
// answer never waits behind another job's dispatch. Operations are applied
// in submission order, so the updates of one job stay in order. With
// synchronous=FULL a commit costs an fsync; batching shares it among every
// request waiting.
//
// Persist, then publish: a job update that fails for a storage reason (disk
// full, I/O error, database busy: UNAVAILABLE, RESOURCE_EXHAUSTED, INTERNAL)
// is not dropped: it goes back to the head of the queue, in order, and is
// retried with backoff until it is durable; only then is it published and
// its callback run. Watchers therefore only ever see stored versions, and an
// agent's terminal status outlives a full disk. A creation that cannot be
// stored is answered with the error (nothing was accepted). Retries stop
// only at Shutdown(): what is not durable then is re-read from the agents at
// the next start (their journals keep every outcome).
//
// Coalescing: a job's progress status (not terminal, no message, no
// request key or condition, nobody waiting for its callback) that is still
// queued - not yet taken into a batch - is replaced in place by the same
// job's next status if that has no request key or condition either (a
// newer progress, or the job's end with its callback): the store and the
// watchers get the newest state, what only the older carried (the start
// time, the VM's state) kept, and a burst of progress (hundreds of jobs
// reporting every poll, or a short job's start and end) costs one
// statement per job per batch, not one per status. The superseded status
// leaves no job event. Anything else of the job queued after it stops that
// (order is kept).
//
// Progress at most every progress_interval per job: SubmitProgress takes a
// status that only moves a job's percent (its state, return code and VM
// unchanged: the dispatcher knows). The first is queued as any status; one
// that comes less than progress_interval after the job's previous progress
// was taken into a batch is held instead (a newer one replaces it) and
// queued when the interval is over. Any other status of the job queues the
// held one first, where the coalescing above lets the newer supersede it;
// Flush and Shutdown queue every held one. 500 running jobs whose agents
// report every 100 ms are 500 writes a second, not 5,000; watchers see
// progress as often (the hub sends it at most every 250 ms anyway), state
// changes and ends at once.
//
// Backpressure: creations are refused (RESOURCE_EXHAUSTED, 32778, with
// retry advice) while max_queued_creations of them wait in the queue, so a
// burst of requests cannot grow the queue without bound. Updates are never
// refused and do not count: they are the agents' durable truth, and one
// refused would be a status lost until the next re-attach.
//
// Thread-safe. Callbacks run on the completion thread and must not block
// long.
#ifndef HVDR_SERVER_JOB_WRITER_H_
#define HVDR_SERVER_JOB_WRITER_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/job_hub.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class JobWriter {
 public:
  using Done = std::function<void(const absl::StatusOr<dr::v1::Job>&)>;
  // Answers the creation's caller; what it returns (may be empty) runs once
  // every creation of the same batch has been answered.
  using CreateDone = std::function<std::function<void()>(const WriteResult&)>;

  struct Options {
    // Operations per transaction: a burst of creations (a plan round of 500)
    // is committed and dispatched in parts, the first ones sooner (10,000-VM
    // plan: ratio 1.19 with 512, 1.17 with 128, 1.19 with 32).
    int max_batch = 128;
    // Backoff between retries of updates the store could not write.
    absl::Duration initial_backoff = absl::Milliseconds(50);
    absl::Duration max_backoff = absl::Seconds(2);
    // Creations waiting (not yet committed) beyond which SubmitCreate
    // refuses; <= 0: no bound.
    int64_t max_queued_creations = 10000;
    // The retry advice of that refusal.
    absl::Duration queue_full_retry_after = absl::Seconds(1);
    // A job's progress is written at most this often; <= 0: every one.
    absl::Duration progress_interval = absl::Seconds(1);
  };

  // Not owned.
  JobWriter(Store* store, JobHub* hub) : JobWriter(store, hub, Options()) {}
  JobWriter(Store* store, JobHub* hub, const Options& options);
  ~JobWriter();  // Shutdown()

  void Submit(JobUpdate update, Done done);
  // A status that moves only the job's percent (see "Progress" above); no
  // callback. REQUIRES: IsProgress-shaped (not terminal, no message, no
  // request key or condition).
  void SubmitProgress(JobUpdate update);
  // Records a new job (see Store::CreateJob); `done` gets the result. When
  // the queue already holds max_queued_creations creations, `done` is run at
  // once, on the calling thread, with RESOURCE_EXHAUSTED (field "request",
  // reason QUEUE_FULL, ErrorDetail.retry_after set) and nothing is queued.
  // `audit` (optional): the asking call's audit event, written with the
  // job (WriteOp::audit; WriteResult::audited says it was).
  void SubmitCreate(dr::v1::Job job, RequestKey key, std::string operation, CreateDone done,
                    std::optional<dr::v1::AuditEvent> audit = std::nullopt);
  // `listener` is called on the completion thread with each job update
  // that has no callback (Submit with a null `done`, SubmitProgress) and
  // that the store refused - not a storage failure, which is retried - e.g.
  // a status of a job the store has ended. REQUIRES: called before the
  // first Submit; at most once.
  using RefusedListener = std::function<void(const std::string& job, const absl::Status& refusal)>;
  void SetRefusedListener(RefusedListener listener);
  // Blocks until everything submitted so far is committed and published
  // (or given up at Shutdown).
  void Flush();
  // Stops retrying, drains the queue (one last attempt each), then stops the
  // threads. Idempotent.
  void Shutdown();

  // Updates waiting for a retry because the store could not write them.
  int64_t RetryingForTest();

 private:
  struct Item {
    WriteOp op;
    Done done;
    CreateDone create_done;
  };
  // Submit's queueing, for a status (or a held progress) of update.job.
  void QueueLocked(JobUpdate update, Done done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `job`'s held progress, if any.
  void ReleaseHeldLocked(const std::string& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the held progress due by `now` (every one: InfiniteFuture).
  void ReleaseDueLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();
  // Runs published jobs' callbacks on their own thread, so that the writer
  // goes on committing while gRPC replies and dispatches are sent.
  void CompleteLoop();

  Store* const store_;
  JobHub* const hub_;
  const Options options_;
  RefusedListener refused_listener_;  // set before the first Submit
  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Updates put back at the head of queue_ after a storage failure.
  int64_t retrying_ ABSL_GUARDED_BY(mu_) = 0;
  // Creations in queue_ (taken out when their batch is taken).
  int64_t queued_creations_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  // job -> its last item in queue_ while that is a progress status that a
  // newer one may replace (deque references survive pushes at either end;
  // the entry goes when the item is taken).
  absl::flat_hash_map<std::string, Item*> coalescable_ ABSL_GUARDED_BY(mu_);
  int64_t coalesced_ ABSL_GUARDED_BY(mu_) = 0;
  // Held progress: job -> the status and when it is due, and the same by
  // due time. progress_taken_: job -> when its last progress was queued
  // (entries older than progress_interval mean nothing and are swept).
  struct Held {
    JobUpdate update;
    std::multimap<absl::Time, std::string>::iterator due;
  };
  absl::flat_hash_map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::string> held_by_due_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> progress_taken_ ABSL_GUARDED_BY(mu_);
  size_t sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
  // A held progress is due before the one the loop waits for.
  bool earlier_due_ ABSL_GUARDED_BY(mu_) = false;
  int64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  // Committed batches waiting for their callbacks.
  struct Committed {
    std::vector<Item> items;
    std::vector<WriteResult> results;
  };
  std::deque<Committed> committed_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  std::thread completer_;
  absl::Mutex shutdown_mu_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOB_WRITER_H_
