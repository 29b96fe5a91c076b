// The store's database: one writer connection, read-only connections that
// read committed data through the WAL while the writer works, a background
// WAL checkpoint, the page-token key, and whether the last write reached
// the disk. The repositories (storage/sqlite_*.h) run their statements on
// it; it knows nothing of what they store.
#ifndef HVDR_STORAGE_STORE_DB_H_
#define HVDR_STORAGE_STORE_DB_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "db/file_lock.h"
#include "db/sqlite.h"
#include "storage/page_token.h"

namespace hvdr {

class StoreDb {
 public:
  struct Options {
    Sqlite::Options sqlite;
    // Read-only connections serving reads concurrently with the writer.
    int readers = 4;
    // Checkpoint the WAL from a background thread (every 100 ms) instead of
    // inside commits; past 16 MiB of WAL the writer starts it over after a
    // commit, so that steady writes keep it bounded.
    bool background_checkpoint = true;
    // Hold `<path>.lock` (db/file_lock.h) while open, so that a second
    // store - another drserver - on the same file is refused. Off only for
    // tests that share a file between two stores on purpose.
    bool lock = true;
  };

  // Opens or creates the database at `path` and migrates it to the store's
  // schema (storage/schema.h). A file path is first checked without writing
  // anything (CheckDatabaseFile in db/db_file.h: a directory, an unreadable
  // or read-only file or directory, not SQLite, truncated, another
  // program's database or a newer schema are refused, the file untouched),
  // then locked: FAILED_PRECONDITION with problem DB_IN_USE when another
  // store holds it. Every error message starts "database <path>: "; the
  // problem is in the status (DbProblemOf).
  static absl::StatusOr<std::unique_ptr<StoreDb>> Open(const std::string& path,
                                                       const Options& options);
  ~StoreDb();

  // The writer connection, held (with the writer lock) while alive: every
  // write, and the reads inside a write transaction.
  class ABSL_SCOPED_LOCKABLE Writer {
   public:
    explicit Writer(StoreDb* db) ABSL_EXCLUSIVE_LOCK_FUNCTION(db->mu_)
        : mu_(&db->mu_), db_(db->db_.get()) {
      mu_->Lock();
    }
    ~Writer() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
    Sqlite* operator->() { return db_; }
    Sqlite& operator*() { return *db_; }

   private:
    absl::Mutex* const mu_;
    Sqlite* const db_;
  };

  // A connection for reads: one of the readers, or the writer (locked) when
  // there are none (":memory:"). Holds the connection's lock while alive.
  class Reader {
   public:
    explicit Reader(StoreDb* db);
    ~Reader();
    Sqlite* operator->() { return db_; }
    Sqlite& operator*() { return *db_; }

   private:
    absl::Mutex* mu_;
    Sqlite* db_;
  };

  // Makes and checks page tokens (HMAC under the database's secret).
  const PageTokens& tokens() const { return *tokens_; }

  // Updates writable() from the outcome of a write: storage failures
  // (IsStorageFailure) clear it, a commit sets it, refusals change nothing.
  void NoteWrite(const absl::Status& s) ABSL_LOCKS_EXCLUDED(observer_mu_);
  // Whether the last write that reached the database committed (true), or
  // failed in the storage itself (false: disk full, I/O error, read-only or
  // corrupt file, lock not granted). True until a write fails.
  bool writable() ABSL_LOCKS_EXCLUDED(observer_mu_);
  // `observer` is called with the new value each time writable() changes,
  // in order, on the thread that wrote, possibly with the writer lock held:
  // it must be quick and must not call the store.
  void SetWriteObserver(std::function<void(bool writable)> observer)
      ABSL_LOCKS_EXCLUDED(observer_mu_);

  // Runs PRAGMA integrity_check; OK when it answers "ok".
  absl::Status CheckIntegrity() ABSL_LOCKS_EXCLUDED(mu_);
  // Caps the database at `max_pages` pages (at least its current size; 0
  // lifts the cap): writes needing more fail as on a full disk
  // (RESOURCE_EXHAUSTED). For tests of what a full disk does.
  absl::Status LimitPagesForTest(int64_t max_pages) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct ReaderConn {
    absl::Mutex mu;
    std::unique_ptr<Sqlite> db ABSL_PT_GUARDED_BY(mu);
  };

  StoreDb(std::unique_ptr<FileLock> lock, std::unique_ptr<Sqlite> db,
          std::unique_ptr<PageTokens> tokens)
      : lock_(std::move(lock)), db_(std::move(db)), tokens_(std::move(tokens)) {}

  // Open without the "database <path>: " prefix on errors.
  static absl::StatusOr<std::unique_ptr<StoreDb>> OpenUnchecked(const std::string& path,
                                                                const Options& options);

  // One round of the checkpoint thread: a PASSIVE checkpoint (the writer
  // goes on). PASSIVE alone never reaches the end of a WAL under steady
  // writes: past 16 MiB the writer's own connection restarts it after a
  // commit (Sqlite::RestartWalPast). A checkpoint that cannot run now
  // simply runs next round.
  void CheckpointOnce();

  // Released last, after every connection is closed. Null for ":memory:"
  // and when Options::lock is off.
  const std::unique_ptr<FileLock> lock_;
  absl::Mutex mu_;
  const std::unique_ptr<Sqlite> db_ ABSL_PT_GUARDED_BY(mu_);
  // Const after Open.
  const std::unique_ptr<PageTokens> tokens_;
  std::vector<std::unique_ptr<ReaderConn>> readers_;
  std::atomic<size_t> next_reader_{0};
  std::unique_ptr<Sqlite> checkpointer_db_;  // used by checkpointer_ only
  // Taken after mu_ when both are held.
  absl::Mutex observer_mu_ ABSL_ACQUIRED_AFTER(mu_);
  bool writable_ ABSL_GUARDED_BY(observer_mu_) = true;
  std::function<void(bool)> observer_ ABSL_GUARDED_BY(observer_mu_);
  absl::Notification stop_;
  std::thread checkpointer_;
};

// Reads every row of `s` with `read`.
template <typename T, typename Read>
absl::StatusOr<std::vector<T>> CollectAll(Stmt& s, Read read) {
  std::vector<T> out;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(read(s));
  }
  return out;
}

}  // namespace hvdr

#endif  // HVDR_STORAGE_STORE_DB_H_
