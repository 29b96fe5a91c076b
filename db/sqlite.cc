#include "db/sqlite.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace hvdr {

Stmt::~Stmt() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Stmt& Stmt::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Stmt& Stmt::Bind(int index, absl::string_view value) {
  sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::BindBlob(int index, absl::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

std::string Stmt::Blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  if (data == nullptr) return "";
  return std::string(static_cast<const char*>(data), sqlite3_column_bytes(stmt_, column));
}

Stmt& Stmt::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> Stmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, sqlite3_sql(stmt_));
}

absl::Status Stmt::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string Stmt::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

bool Stmt::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

namespace {

// Process-wide settings, before SQLite's first use: no memory statistics
// (they take a global mutex on every allocation of every connection; we
// never read them). Harmless if SQLite was already initialized elsewhere.
void ConfigureOnce() {
  static const bool done = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)done;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sqlite>> Sqlite::Open(const std::string& path,
                                                     const Options& options) {
  ConfigureOnce();
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", msg));
  }
  std::unique_ptr<Sqlite> db(new Sqlite(raw, options.busy_timeout_ms));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  if (options.synchronous != "FULL" && options.synchronous != "NORMAL" &&
      options.synchronous != "EXTRA") {
    return absl::InvalidArgumentError(
        absl::StrCat("synchronous: must be FULL, NORMAL or EXTRA, not ", options.synchronous));
  }
  absl::Status s = db->Exec(absl::StrCat(
      "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=", options.synchronous,
      "; PRAGMA mmap_size=", options.mmap_bytes, "; PRAGMA cache_size=-", options.cache_kib,
      "; PRAGMA temp_store=MEMORY;"));
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot open database ", path, ": ", s.message()));
  }
  return db;
}

void Sqlite::RestartWalPast(int64_t frames, absl::Duration max_wait) {
  wal_restart_ = std::make_unique<WalRestart>(
      WalRestart{frames, static_cast<int>(absl::ToInt64Milliseconds(max_wait)), busy_timeout_ms_});
  sqlite3_wal_hook(db_, &Sqlite::AfterCommit, wal_restart_.get());
}

int Sqlite::AfterCommit(void* arg, sqlite3* db, const char* name, int frames) {
  auto* r = static_cast<WalRestart*>(arg);
  if (frames <= r->frames || frames < r->next_try) return SQLITE_OK;
  // Called with the commit done and no write lock held: the restart waits
  // only for readers, and not long.
  sqlite3_busy_timeout(db, r->max_wait_ms);
  const int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
  sqlite3_busy_timeout(db, r->busy_timeout_ms);
  r->next_try = rc == SQLITE_OK ? 0 : frames + r->frames / 4;
  return SQLITE_OK;
}

Sqlite::~Sqlite() {
  for (auto& entry : cache_) sqlite3_finalize(entry.second);
  sqlite3_close(db_);
}

absl::Status Sqlite::Exec(absl::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  absl::Status s = Error(rc, text);
  return absl::Status(s.code(), absl::StrCat(msg, " (in: ", text.substr(0, 80), ")"));
}

absl::StatusOr<Stmt> Sqlite::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Stmt(this, it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql);
  cache_.emplace(sql, stmt);
  return Stmt(this, stmt);
}

absl::StatusOr<int64_t> Sqlite::QueryInt(const std::string& sql) {
  absl::StatusOr<Stmt> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("no row for: ", sql));
  return stmt->Int(0);
}

absl::Status Sqlite::LeaveCheckpointsToAnotherConnection(int64_t restart_frames,
                                                         absl::Duration max_wait,
                                                         int64_t size_limit_bytes) {
  absl::Status s = Exec("PRAGMA wal_autocheckpoint = 0");
  if (!s.ok()) return s;
  RestartWalPast(restart_frames, max_wait);  // after wal_autocheckpoint (it replaces the hook)
  return Exec(absl::StrCat("PRAGMA journal_size_limit = ", size_limit_bytes));
}

absl::Status RunCached(Sqlite& db, const std::string& sql) {
  absl::StatusOr<Stmt> s = db.Prepare(sql);
  if (!s.ok()) return s.status();
  return s->Run();
}

bool Sqlite::InTransactionNow() const { return sqlite3_get_autocommit(db_) == 0; }

int64_t Sqlite::Changes() const { return sqlite3_changes64(db_); }

int64_t Sqlite::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

absl::Status Sqlite::Error(int rc, absl::string_view what) const {
  std::string msg =
      absl::StrCat(sqlite3_errmsg(db_), " [sqlite ", rc, "] in: ", what.substr(0, 120));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return absl::UnavailableError(msg);
    case SQLITE_FULL:
    case SQLITE_NOMEM: return absl::ResourceExhaustedError(msg);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(msg);
      }
      return absl::FailedPreconditionError(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR: return absl::UnavailableError(msg);
    default: return absl::InternalError(msg);
  }
}

}  // namespace hvdr
