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
// Thread-safe. Callbacks run on the completion thread and must not block
// long.
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
  // Answers the creation's caller; what it returns (may be empty) runs once
  // every creation of the same batch has been answered.
  using CreateDone = std::function<std::function<void()>(const WriteResult&)>;

  // Not owned.
  JobWriter(Store* store, JobHub* hub, int max_batch = 512);
  ~JobWriter();  // drains the queue, then stops

  void Submit(JobUpdate update, Done done);
  // Records a new job (see Store::CreateJob); `done` gets the result.
  void SubmitCreate(dr::v1::Job job, RequestKey key, std::string operation, CreateDone done);
  // Blocks until everything submitted so far is committed and published.
  void Flush();

 private:
  struct Item {
    WriteOp op;
    Done done;
    CreateDone create_done;
  };
  void Loop();
  // Runs published jobs' callbacks on their own thread, so that the writer
  // goes on committing while gRPC replies and dispatches are sent.
  void CompleteLoop();

  Store* const store_;
  JobHub* const hub_;
  const int max_batch_;
  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t submitted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  // Committed batches waiting for their callbacks.
  struct Committed {
    std::vector<Item> items;
    std::vector<WriteResult> results;
  };
  std::deque<Committed> committed_ ABSL_GUARDED_BY(mu_);
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  std::thread completer_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_JOB_WRITER_H_
