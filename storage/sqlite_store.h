// Store on an embedded SQLite database: WAL journal, foreign keys, schema
// migrations keyed on PRAGMA user_version, prepared statements reused, a
// busy timeout, and one explicit transaction per mutating call.
#ifndef HVDR_STORAGE_SQLITE_STORE_H_
#define HVDR_STORAGE_SQLITE_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "storage/file_lock.h"
#include "storage/page_token.h"
#include "storage/sqlite.h"
#include "storage/store.h"

namespace hvdr {

class SqliteStore final : public Store {
 public:
  struct Options {
    Sqlite::Options sqlite;
    // Read-only connections serving reads concurrently with the writer.
    int readers = 4;
    // Checkpoint the WAL from a background thread (every 100 ms) instead of
    // inside commits; past 16 MiB of WAL the checkpoint holds the writer back
    // briefly so that the WAL starts over (otherwise steady writes grow it
    // without bound).
    bool background_checkpoint = true;
    // Hold `<path>.lock` (storage/file_lock.h) while open, so that a second
    // store - another drserver - on the same file is refused. Off only for
    // tests that share a file between two stores on purpose.
    bool lock = true;
  };

  // Opens or creates the database at `path` and migrates it to the latest
  // schema. A file path is first checked without writing anything
  // (CheckDatabaseFile in storage/db_file.h: a directory, an unreadable or
  // read-only file or directory, not SQLite, truncated, another program's
  // database or a newer schema are refused, the file untouched), then
  // locked: FAILED_PRECONDITION with reason DB_IN_USE when another store
  // holds it. Every error message starts "database <path>: "; the reason is
  // in the status's ErrorDetail (field "db").
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const Options& options);
  ~SqliteStore() override;

  absl::StatusOr<bool> CreateHost(const dr::v1::Host& host,
                                  const RequestKey* key) override;
  absl::StatusOr<dr::v1::Host> GetHost(const std::string& name) override;
  absl::StatusOr<Page<dr::v1::Host>> ListHosts(const std::string& site,
                                                const PageRequest& page) override;
  absl::StatusOr<Page<dr::v1::Site>> ListSites(const PageRequest& page) override;
  absl::Status UpdateHostContact(const dr::v1::Host& host) override;
  absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key) override;

  absl::Status ReplaceInventory(const std::string& host,
                                const std::vector<dr::v1::VirtualMachineInventory>& vms,
                                absl::Time sync_time) override;
  absl::Status UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm) override;
  absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(const std::string& name) override;
  absl::StatusOr<std::vector<dr::v1::VirtualMachine>> FindVirtualMachinesById(
      const std::string& vm_id) override;
  absl::StatusOr<Page<dr::v1::VirtualMachine>> ListVirtualMachines(
      const VirtualMachineFilter& filter, const PageRequest& page) override;
  absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>> ListReplicationRelationships(
      const std::string& vm) override;
  absl::StatusOr<Page<dr::v1::RecoveryPoint>> ListRecoveryPoints(
      const std::string& vm, const PageRequest& page) override;
  absl::StatusOr<dr::v1::RecoveryPoint> GetRecoveryPoint(const std::string& name) override;

  using Store::CreateJob;
  absl::StatusOr<CreateJobResult> CreateJob(const dr::v1::Job& job, const RequestKey& key,
                                            const std::string& operation) override;
  absl::StatusOr<std::string> GetJobOperation(const std::string& name) override;
  std::vector<WriteResult> Write(const std::vector<WriteOp>& ops) override;
  absl::StatusOr<dr::v1::Job> GetJob(const std::string& name) override;
  absl::StatusOr<Page<dr::v1::Job>> ListJobs(const JobFilter& filter,
                                              const PageRequest& page) override;
  absl::StatusOr<std::vector<dr::v1::Job>> ListActiveJobs() override;
  absl::StatusOr<dr::v1::Job> UpdateJob(const JobUpdate& update) override;
  absl::StatusOr<Page<dr::v1::JobEvent>> ListJobEvents(const std::string& job,
                                                        const PageRequest& page) override;
  absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs) override;

  absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) override;
  absl::Status PutRequest(const std::string& request_id,
                          const RequestRecord& record) override;

  // Runs PRAGMA integrity_check; OK when it answers "ok".
  absl::Status CheckIntegrity();

  // Whether the last write that reached the database committed (true), or
  // failed in the storage itself (false: disk full, I/O error, read-only or
  // corrupt file, lock not granted). Refusals of a write's content (not
  // found, already exists, invalid) change nothing. True until a write
  // fails.
  bool writable();
  // `observer` is called with the new value each time writable() changes,
  // in order, on the thread that wrote, possibly with the store's writer
  // lock held: it must be quick and must not call the store.
  void SetWriteObserver(std::function<void(bool writable)> observer);
  // Caps the database at `max_pages` pages (at least its current size; 0
  // lifts the cap): writes needing more fail as on a full disk
  // (RESOURCE_EXHAUSTED). For tests of what a full disk does.
  absl::Status LimitPagesForTesting(int64_t max_pages);

 private:
  SqliteStore(std::unique_ptr<FileLock> lock, std::unique_ptr<Sqlite> db, std::unique_ptr<PageTokens> tokens)
      : lock_(std::move(lock)), db_(std::move(db)), tokens_(std::move(tokens)) {}

  // Updates writable() from the outcome of a write (see there).
  void NoteWrite(const absl::Status& s) ABSL_LOCKS_EXCLUDED(observer_mu_);

  // Open without the "database <path>: " prefix on errors.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> OpenUnchecked(const std::string& path,
                                                                    const Options& options);

  // One round of the checkpoint thread: a PASSIVE checkpoint (the writer
  // goes on). Under steady writes PASSIVE never catches up with the end of
  // the WAL, so the WAL would never start over and would grow without bound
  // (every commit extending the file): past 16 MiB, the writer's own
  // connection finishes the job after a commit (Sqlite::RestartWalPast).
  // A checkpoint that cannot run now simply runs next round.
  void CheckpointOnce();

  // A connection for reads: one of the readers, or the writer (locked)
  // when there are none. Holds the connection's lock while alive.
  class ReadConn {
   public:
    explicit ReadConn(SqliteStore* store);
    ~ReadConn();
    Sqlite* operator->() { return db_; }
    Sqlite& operator*() { return *db_; }

   private:
    absl::Mutex* mu_;
    Sqlite* db_;
  };
  struct Reader {
    absl::Mutex mu;
    std::unique_ptr<Sqlite> db ABSL_PT_GUARDED_BY(mu);
  };

  // REQUIRES: the lock of the connection `db` belongs to.
  static absl::StatusOr<dr::v1::Job> GetJobOn(Sqlite& db, const std::string& name);
  absl::Status CreateJobLocked(const dr::v1::Job& job, const RequestKey& key,
                               const std::string& operation, CreateJobResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // *replayed (may be null) is set when update.request had been seen.
  absl::StatusOr<dr::v1::Job> UpdateJobLocked(const JobUpdate& update, bool* replayed = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `observed`: when the state was seen (kept, so that an inventory read
  // before it cannot overwrite it).
  absl::Status UpdateVmStateLocked(const std::string& name, const dr::v1::VirtualMachine& vm,
                                   absl::Time observed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The stored idempotency row for key.request_id, checked against the key:
  // NOT_FOUND when absent, INVALID_ARGUMENT when method or fingerprint
  // differ; on OK, the job it names ("" for non-job requests).
  absl::StatusOr<std::string> LookupKeyLocked(const RequestKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // *replayed when `key` (may be null: none) was recorded for the same
  // request; INVALID_ARGUMENT (request_id) when for another one; OK and
  // !*replayed when never.
  absl::Status SeenLocked(const RequestKey* key, bool* replayed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutKeyLocked(const RequestKey& key, const std::string& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Released last, after every connection is closed. Null for ":memory:"
  // and when Options::lock is off.
  const std::unique_ptr<FileLock> lock_;
  // The writer connection: every write, and reads inside write transactions.
  absl::Mutex mu_;
  const std::unique_ptr<Sqlite> db_ ABSL_PT_GUARDED_BY(mu_);
  // Const after Open.
  // Makes and checks page tokens (HMAC under the database's secret).
  const std::unique_ptr<PageTokens> tokens_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::atomic<size_t> next_reader_{0};
  std::unique_ptr<Sqlite> checkpointer_db_;  // used by checkpointer_ only
  // Taken after mu_ when both are held.
  absl::Mutex observer_mu_;
  bool writable_ ABSL_GUARDED_BY(observer_mu_) = true;
  std::function<void(bool)> observer_ ABSL_GUARDED_BY(observer_mu_);
  absl::Notification stop_;
  std::thread checkpointer_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_STORE_H_
