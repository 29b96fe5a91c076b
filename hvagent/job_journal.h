// The agent's durable memory of the jobs the server gave it, keyed by the
// server's job id (the idempotency key). An entry is written *before* the
// hypervisor is asked to do anything, so that after a crash the agent knows
// which calls may have reached the hypervisor, and it keeps each job's
// outcome past Hyper-V's TimeBeforeRemoval.
//
// Thread-safe. Backed by SQLite (db/sqlite.h), with a versioned schema
// (db/migrations.h).
#ifndef HVDR_HVAGENT_JOB_JOURNAL_H_
#define HVDR_HVAGENT_JOB_JOURNAL_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "db/file_lock.h"
#include "db/sqlite.h"
#include "dr/v1/agent_service.pb.h"
#include "hvagent/backend.h"

namespace hvdr {
namespace agent {

struct JournalEntry {
  enum class Phase { kPending = 0, kStarted = 1, kDone = 2 };
  std::string job_id;
  Operation op;
  Phase phase = Phase::kPending;
  std::string hypervisor_job_id;  // set from kStarted on
  absl::Time created;
  dr::v1::AgentJobStatus final_status;  // set in kDone
};

// What the JobRunner reads and writes: JobJournal below, or a test's fake
// in front of one (e.g. a write that blocks, as an fsync to a busy disk
// can). Every write may block for the length of an fsync: callers never
// make one on a gRPC reactor, nor while holding a lock a reactor takes.
//
// Thread-safety: implementations are safe for concurrent use.
class Journal {
 public:
  virtual ~Journal() = default;

  // NOT_FOUND when the job id was never journaled.
  virtual absl::StatusOr<JournalEntry> Get(const std::string& job_id) = 0;
  // Records a job about to be started. ALREADY_EXISTS for a known id.
  virtual absl::Status InsertPending(const std::string& job_id, const Operation& op,
                                     absl::Time now) = 0;
  // The hypervisor accepted the job as `hypervisor_job_id`.
  virtual absl::Status MarkStarted(const std::string& job_id,
                                   const std::string& hypervisor_job_id) = 0;
  // The job ended (or the method refused it) with `status`.
  virtual absl::Status MarkDone(const std::string& job_id,
                                const dr::v1::AgentJobStatus& status) = 0;
  // Several jobs ended: one transaction for all (one commit instead of one
  // each). The result holds each job's outcome, in order: NOT_FOUND for an
  // unknown job (the others are still recorded); every entry carries the
  // error if the transaction itself failed.
  virtual std::vector<absl::Status> MarkDone(
      const std::vector<std::pair<std::string, dr::v1::AgentJobStatus>>& done) = 0;
  // Entries not yet done, oldest first.
  virtual absl::StatusOr<std::vector<JournalEntry>> ListUnfinished() = 0;
};

// The journal in SQLite. Writes are group-committed: a write that comes
// while another is committing waits for it, then commits with every write
// queued meanwhile in one transaction (one fsync for all: the agent's
// workers start jobs in parallel, each with two writes). Each write's own
// outcome is its own (a duplicate job id refuses that write only); a
// transaction that fails fails every write in it. A caller still returns
// only once its write is durable.
class JobJournal final : public Journal {
 public:
  // ":memory:" for a journal that does not survive the process (tests).
  // `synchronous` as for Sqlite::Options: FULL survives power loss.
  static absl::StatusOr<std::unique_ptr<JobJournal>> Open(const std::string& path,
                                                          const std::string& synchronous = "FULL");

  absl::StatusOr<JournalEntry> Get(const std::string& job_id) override;
  absl::Status InsertPending(const std::string& job_id, const Operation& op,
                             absl::Time now) override;
  absl::Status MarkStarted(const std::string& job_id,
                           const std::string& hypervisor_job_id) override;
  absl::Status MarkDone(const std::string& job_id, const dr::v1::AgentJobStatus& status) override;
  std::vector<absl::Status> MarkDone(
      const std::vector<std::pair<std::string, dr::v1::AgentJobStatus>>& done) override;
  absl::StatusOr<std::vector<JournalEntry>> ListUnfinished() override;

  // Deletes at most `max_entries` done entries created before `cutoff`, in
  // one transaction; never an unfinished one. Returns how many it deleted
  // (fewer than max_entries: nothing older is left). A pruned job's outcome
  // is gone: if the server sent that job id again, the agent would take it
  // for a new job, so the retention must exceed the time the server may
  // take to record an outcome (it records it within seconds while it runs;
  // a server down longer than the retention is the risk).
  absl::StatusOr<int> PruneDone(absl::Time cutoff, int max_entries);
  // Prunes, from the journal's own thread (file journals only), done
  // entries created more than `retention` ago, every minute, in batches of
  // 1,000 (the lock is released between batches). Zero: keeps them all.
  // Call once, after Open.
  void SetRetention(absl::Duration retention);

  // Copies the WAL into the database if anything was written since the
  // last time (two fsyncs), under the journal's lock: writes wait for it. A
  // thread of the journal's own calls it every kCheckpointInterval (for a
  // file journal): commits never checkpoint (docs/performance.md says why).
  absl::Status CheckpointOnce() ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr absl::Duration kCheckpointInterval = absl::Milliseconds(100);

  ~JobJournal() override;  // stops the checkpoint thread

  // Tests: transactions committed by writes so far; and a function the
  // committing write calls before its transaction (it may block, e.g.
  // until other writes have queued behind it), with the number of writes
  // it takes.
  int64_t CommitsForTest() ABSL_LOCKS_EXCLUDED(mu_);
  // The frames (pages written) in the WAL since it last started over; runs
  // a checkpoint as CheckpointOnce does.
  absl::StatusOr<int64_t> WalFramesForTest() ABSL_LOCKS_EXCLUDED(mu_);
  int QueuedForTest() ABSL_LOCKS_EXCLUDED(queue_mu_);
  void SetBeforeCommitForTest(std::function<void(int writes)> hook) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One caller's write, queued; the leader (the oldest queued) runs it.
  struct Writer {
    std::function<absl::Status(Sqlite&)> apply;  // its statements
    size_t statements = 1;                       // how many it runs
    absl::Status status;                         // guarded by queue_mu_
    bool done = false;                           // guarded by queue_mu_
  };
  // Runs `apply` (`statements` statements that write, no transaction of
  // their own) in a transaction shared with the writes queued meanwhile;
  // its status, or the transaction's error.
  absl::Status Write(std::function<absl::Status(Sqlite&)> apply, size_t statements = 1)
      ABSL_LOCKS_EXCLUDED(mu_, queue_mu_);
  // A PASSIVE checkpoint of the file journal; returns the frames the WAL
  // held. Clears written_ when it succeeds.
  absl::StatusOr<int64_t> CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  JobJournal(std::unique_ptr<FileLock> lock, std::unique_ptr<Sqlite> db, bool file)
      : lock_(std::move(lock)), db_(std::move(db)), file_(file) {}
  // Held for the journal's lifetime (file journals): a second Open of the
  // same path is refused.
  const std::unique_ptr<FileLock> lock_;
  absl::Mutex queue_mu_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(queue_mu_);
  absl::Mutex mu_;
  int64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void(int)> before_commit_ ABSL_GUARDED_BY(mu_);
  const std::unique_ptr<Sqlite> db_ ABSL_PT_GUARDED_BY(mu_);
  bool written_ ABSL_GUARDED_BY(mu_) = false;  // since the last checkpoint
  const bool file_;                            // false for an in-memory journal
  // Read by the checkpoint thread.
  absl::Duration retention_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Notification stop_;
  std::thread checkpointer_;
};

}  // namespace agent
}  // namespace hvdr

#endif  // HVDR_HVAGENT_JOB_JOURNAL_H_
