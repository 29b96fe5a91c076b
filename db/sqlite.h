// A thin RAII layer over one SQLite connection: prepared statements cached
// by their SQL text and reused, results as absl::Status with the right code.
//
// Not thread-safe: a Sqlite and its statements are used by one thread at a
// time (its owner serializes access, e.g. with a mutex).
#ifndef HVDR_DB_SQLITE_H_
#define HVDR_DB_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hvdr {

class Sqlite;

// A borrowed, cached statement. Reset and unbound when the Stmt goes away,
// so the next user finds it clean. Bind indexes are 1-based; column indexes
// 0-based.
class Stmt {
 public:
  Stmt(Sqlite* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(int index, int64_t value);
  Stmt& Bind(int index, absl::string_view value);
  Stmt& Bind(int index, const std::string& value) { return Bind(index, absl::string_view(value)); }
  Stmt& Bind(int index, const char* value) { return Bind(index, absl::string_view(value)); }
  Stmt& BindNull(int index);
  // Binds bytes (e.g. a serialized proto) as a BLOB.
  Stmt& BindBlob(int index, absl::string_view bytes);

  // Runs one step: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps to completion, for statements that return no rows.
  absl::Status Run();
  // Resets and unbinds it, to run it again (e.g. once per row of a batch).
  void Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;

 private:
  Sqlite* db_;
  sqlite3_stmt* stmt_;
};

class Sqlite {
 public:
  struct Options {
    // PRAGMA synchronous: "FULL" survives power loss, "NORMAL" survives a
    // process crash (in WAL mode).
    std::string synchronous = "FULL";
    // How long a writer waits for another connection's lock.
    int busy_timeout_ms = 5000;
    // Pages are read through a memory map of this many bytes (no read
    // syscall per page) and cached up to cache_kib per connection.
    int64_t mmap_bytes = 0;
    int cache_kib = 32 << 10;
  };

  // Opens (creating if needed) the database at `path` in WAL mode with
  // foreign keys on and temporary files in memory (temp_store=MEMORY: the
  // sub-journal a SAVEPOINT keeps of every page it changes would otherwise
  // be a file, written page by page with two syscalls each). ":memory:"
  // gives a private in-memory database.
  static absl::StatusOr<std::unique_ptr<Sqlite>> Open(const std::string& path,
                                                      const Options& options);
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;
  ~Sqlite();

  // Runs one or more statements that return no rows.
  absl::Status Exec(absl::string_view sql);
  // A cached prepared statement for `sql` (one statement).
  absl::StatusOr<Stmt> Prepare(const std::string& sql);
  // One integer result (first column of the first row), for PRAGMAs and
  // counts. NOT_FOUND if there is no row.
  absl::StatusOr<int64_t> QueryInt(const std::string& sql);
  int64_t Changes() const;
  // True while a transaction is open (false again once SQLite rolled it
  // back on its own, e.g. after SQLITE_FULL or an I/O error).
  bool InTransactionNow() const;
  int64_t LastInsertRowId() const;

  // The status for SQLite result `rc` at `what`: BUSY/LOCKED -> UNAVAILABLE,
  // FULL -> RESOURCE_EXHAUSTED, CONSTRAINT -> ALREADY_EXISTS or
  // FAILED_PRECONDITION, others -> INTERNAL.
  absl::Status Error(int rc, absl::string_view what) const;

  // From now on, a commit on this connection that leaves more than `frames`
  // frames in the WAL is followed, on this connection, by a RESTART
  // checkpoint that waits at most `max_wait` for readers to leave the WAL;
  // the next commit then writes the WAL from its start. For the one writer
  // of a database whose checkpoints otherwise run on another connection
  // (PASSIVE, which under steady writes never reaches the end of the WAL):
  // a RESTART from that other connection must take the write lock between
  // two commits, and a busy writer may never leave it free. A restart that
  // still finds readers on the WAL is tried again once the WAL has grown by
  // another quarter of `frames`. Call after any PRAGMA wal_autocheckpoint
  // (which replaces the hook this installs).
  void RestartWalPast(int64_t frames, absl::Duration max_wait);
  // Sets this connection, the database's one writer, up for checkpoints
  // made on another connection: its commits never checkpoint
  // (wal_autocheckpoint = 0), past `restart_frames` it starts the WAL over
  // itself (RestartWalPast, waiting at most `max_wait`), and a WAL that grew
  // in a burst is cut back to `size_limit_bytes` when it starts over.
  absl::Status LeaveCheckpointsToAnotherConnection(int64_t restart_frames, absl::Duration max_wait,
                                                   int64_t size_limit_bytes);

  sqlite3* raw() { return db_; }

 private:
  explicit Sqlite(sqlite3* db, int busy_timeout_ms) : db_(db), busy_timeout_ms_(busy_timeout_ms) {}
  struct WalRestart {
    int64_t frames;
    int max_wait_ms;
    int busy_timeout_ms;  // restored after the restart's shorter wait
    int64_t next_try = 0;
  };
  // sqlite3_wal_hook callback; `arg` is the WalRestart.
  static int AfterCommit(void* arg, sqlite3* db, const char* name, int frames);

  sqlite3* db_;
  const int busy_timeout_ms_;
  std::unique_ptr<WalRestart> wal_restart_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Runs one statement through the connection's statement cache (no parse
// per run, unlike Exec).
absl::Status RunCached(Sqlite& db, const std::string& sql);

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when `body`
// returns an error or the commit fails. The three statements are prepared
// once per connection (RunCached), not parsed at every transaction.
template <typename F>
absl::Status InTransaction(Sqlite& db, F&& body) {
  absl::Status s = RunCached(db, "BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = body();
  if (s.ok()) s = RunCached(db, "COMMIT");
  if (!s.ok() && db.InTransactionNow()) RunCached(db, "ROLLBACK").IgnoreError();
  return s;
}

}  // namespace hvdr

#endif  // HVDR_DB_SQLITE_H_
