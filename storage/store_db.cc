#include "storage/store_db.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/failure.h"
#include "common/status_macros.h"
#include "db/db_file.h"
#include "storage/refusal.h"
#include "storage/schema.h"

namespace hvdr {

// WAL frames (pages) past which the writer restarts the WAL: 16 MiB.
constexpr int kRestartFrames = 4096;

namespace {

// `s` with its message prefixed "database <path>: " unless it names the
// database already; the payload is kept.
absl::Status AboutDatabase(const std::string& path, const absl::Status& s) {
  if (s.ok() || absl::StartsWith(s.message(), absl::StrCat("database ", path, ": "))) return s;
  absl::Status out(s.code(), absl::StrCat("database ", path, ": ", s.message()));
  s.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

// The database's page token key, made at its first open.
absl::StatusOr<std::string> PageTokenSecret(Sqlite& db) {
  std::string secret;
  RETURN_IF_ERROR(InTransaction(db, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Stmt get, db.Prepare("SELECT value FROM secrets WHERE name = 'page_token'"));
    ASSIGN_OR_RETURN(bool found, get.Step());
    if (found) {
      secret = get.Blob(0);
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(secret, PageTokens::NewSecret());
    ASSIGN_OR_RETURN(Stmt put,
                     db.Prepare("INSERT INTO secrets(name, value) VALUES ('page_token', ?)"));
    return put.BindBlob(1, secret).Run();
  }));
  if (secret.size() < 16) return absl::DataLossError("the page token secret is too short");
  return secret;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreDb>> StoreDb::Open(const std::string& path,
                                                       const Options& options) {
  absl::StatusOr<std::unique_ptr<StoreDb>> store = OpenUnchecked(path, options);
  if (!store.ok()) return AboutDatabase(path, store.status());
  return store;
}

absl::StatusOr<std::unique_ptr<StoreDb>> StoreDb::OpenUnchecked(const std::string& path,
                                                                const Options& options) {
  const bool file = path != ":memory:" && !path.empty();
  std::unique_ptr<FileLock> lock;
  if (file) {
    // Before anything is written: a file we must not touch stays as it was.
    RETURN_IF_ERROR(CheckDatabaseFile(path, StoreSchema()));
    if (options.lock) {
      absl::StatusOr<std::unique_ptr<FileLock>> held = FileLock::TryAcquire(path + ".lock");
      if (absl::IsFailedPrecondition(held.status())) {
        return DbProblem(
            absl::StatusCode::kFailedPrecondition, kDbInUse,
            absl::StrCat("in use by another drserver (", held.status().message(), ")"));
      }
      if (!held.ok()) return held.status();
      lock = *std::move(held);
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Sqlite> db, Sqlite::Open(path, options.sqlite));
  RETURN_IF_ERROR(MigrateSchema(*db));
  ASSIGN_OR_RETURN(std::string secret, PageTokenSecret(*db));
  const bool background = options.background_checkpoint && path != ":memory:" && !path.empty();
  if (background) {
    // Commits no longer stop to copy the WAL into the database; a thread of
    // its own does it (see CheckpointOnce).
    // ...but past 16 MiB the writer itself starts the WAL over, and a WAL
    // that grew in a burst is cut back to 64 MiB.
    RETURN_IF_ERROR(db->LeaveCheckpointsToAnotherConnection(kRestartFrames, absl::Milliseconds(100),
                                                            int64_t{64} << 20));
  }
  std::unique_ptr<StoreDb> store(
      new StoreDb(std::move(lock), std::move(db), std::make_unique<PageTokens>(std::move(secret))));
  if (background) {
    ASSIGN_OR_RETURN(store->checkpointer_db_, Sqlite::Open(path, options.sqlite));
    store->checkpointer_ = std::thread([s = store.get()] {
      while (!s->stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) s->CheckpointOnce();
    });
  }
  // Readers see committed data through WAL while the writer works. A
  // private in-memory database cannot be shared: it reads on the writer.
  if (path != ":memory:" && !path.empty()) {
    for (int i = 0; i < options.readers; ++i) {
      ASSIGN_OR_RETURN(std::unique_ptr<Sqlite> reader, Sqlite::Open(path, options.sqlite));
      RETURN_IF_ERROR(reader->Exec("PRAGMA query_only = 1"));
      auto r = std::make_unique<ReaderConn>();
      r->db = std::move(reader);
      store->readers_.push_back(std::move(r));
    }
  }
  return store;
}

void StoreDb::NoteWrite(const absl::Status& s) {
  if (!s.ok() && !IsStorageFailure(s)) return;
  const bool writable = s.ok();
  absl::MutexLock lock(&observer_mu_);
  if (writable_ == writable) return;
  writable_ = writable;
  if (observer_) observer_(writable);
}

void StoreDb::SetWriteObserver(std::function<void(bool writable)> observer) {
  absl::MutexLock lock(&observer_mu_);
  observer_ = std::move(observer);
}

bool StoreDb::writable() {
  absl::MutexLock lock(&observer_mu_);
  return writable_;
}

absl::Status StoreDb::LimitPagesForTest(int64_t max_pages) {
  absl::MutexLock lock(&mu_);
  if (max_pages > 0) {
    ASSIGN_OR_RETURN(int64_t pages, db_->QueryInt("PRAGMA page_count"));
    max_pages = std::max(max_pages, pages);
  } else {
    max_pages = 4294967294;  // SQLite's largest
  }
  return db_->Exec(absl::StrCat("PRAGMA max_page_count = ", max_pages));
}

void StoreDb::CheckpointOnce() {
  RunCached(*checkpointer_db_, "PRAGMA wal_checkpoint(PASSIVE)").IgnoreError();
}

StoreDb::~StoreDb() {
  stop_.Notify();
  if (checkpointer_.joinable()) checkpointer_.join();
  if (checkpointer_db_ != nullptr)
    checkpointer_db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)").IgnoreError();
}

StoreDb::Reader::Reader(StoreDb* store) {
  if (store->readers_.empty()) {
    mu_ = &store->mu_;
    mu_->Lock();
    db_ = store->db_.get();
    return;
  }
  const size_t n = store->readers_.size();
  const size_t first = store->next_reader_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    ReaderConn& r = *store->readers_[(first + i) % n];
    if (r.mu.TryLock()) {
      mu_ = &r.mu;
      db_ = r.db.get();
      return;
    }
  }
  ReaderConn& r = *store->readers_[first % n];
  r.mu.Lock();
  mu_ = &r.mu;
  db_ = r.db.get();
}

StoreDb::Reader::~Reader() { mu_->Unlock(); }

absl::Status StoreDb::CheckIntegrity() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("PRAGMA integrity_check"));
  ASSIGN_OR_RETURN(std::vector<std::string> problems,
                   CollectAll<std::string>(s, [](const Stmt& row) { return row.Text(0); }));
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("integrity_check: ", absl::StrJoin(problems, "; ")));
}

}  // namespace hvdr
