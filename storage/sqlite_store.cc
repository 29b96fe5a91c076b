#include "storage/sqlite_store.h"

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hyperv_rules.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/db_file.h"
#include "storage/page_token.h"
#include "storage/schema.h"

namespace hvdr {

using dr::v1::Host;
using dr::v1::Job;
using dr::v1::JobEvent;
using dr::v1::RecoveryPoint;
using dr::v1::ReplicationRelationship;
using dr::v1::Site;
using dr::v1::VirtualMachine;

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

int EffectivePageSize(int32_t requested) {
  if (requested <= 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

// Orders JobStates for the "never backwards" rule: New < Starting <
// Running/Suspended/ShuttingDown < terminal.
int StateRank(dr::v1::JobState s) {
  switch (s) {
    case dr::v1::JOB_STATE_NEW: return 0;
    case dr::v1::JOB_STATE_STARTING: return 1;
    case dr::v1::JOB_STATE_RUNNING:
    case dr::v1::JOB_STATE_SUSPENDED:
    case dr::v1::JOB_STATE_SHUTTING_DOWN: return 2;
    default: return 3;
  }
}

bool IsKnownJobState(int s) { return s >= 2 && s <= 11; }

std::string JsonIntArray(const std::vector<int>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ","), "]");
}

template <typename E>
std::vector<int> ToInts(const std::vector<E>& v) {
  return std::vector<int>(v.begin(), v.end());
}

// Runs one statement through the connection's statement cache (no parse
// per run, unlike Exec).
absl::Status RunCached(Sqlite& db, const std::string& sql) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare(sql));
  return s.Run();
}

// ---- Row readers. Each *_COLS list matches its reader. ----

constexpr char kHostCols[] =
    "name, site, agent_address, reachability, last_contact_us, last_sync_us, "
    "stale, last_error, create_us, hypervisor_name";

Host ReadHost(const Stmt& s) {
  Host h;
  h.set_name(s.Text(0));
  h.set_site(s.Text(1));
  h.set_agent_address(s.Text(2));
  h.set_reachability(static_cast<dr::v1::Reachability>(s.Int(3)));
  FromMicros(s.Int(4), h.mutable_last_contact_time());
  FromMicros(s.Int(5), h.mutable_last_sync_time());
  h.set_stale(s.Int(6) != 0);
  h.set_last_error(s.Text(7));
  FromMicros(s.Int(8), h.mutable_create_time());
  h.set_hypervisor_host_name(s.Text(9));
  if (h.last_contact_time().seconds() == 0) h.clear_last_contact_time();
  if (h.last_sync_time().seconds() == 0) h.clear_last_sync_time();
  return h;
}

constexpr char kVmCols[] =
    "v.name, v.vm_id, v.display_name, v.host, v.replication_mode, "
    "v.replication_state, v.replication_health, v.enabled_state, "
    "v.last_replication_us, v.pending_bytes, v.latency_s, v.active_job, h.site";
constexpr char kVmFrom[] = " FROM vms v JOIN hosts h ON h.name = v.host";

VirtualMachine ReadVm(const Stmt& s) {
  VirtualMachine vm;
  vm.set_name(s.Text(0));
  vm.set_vm_id(s.Text(1));
  vm.set_display_name(s.Text(2));
  vm.set_host(s.Text(3));
  vm.set_replication_mode(static_cast<dr::v1::ReplicationMode>(s.Int(4)));
  vm.set_replication_state(static_cast<dr::v1::ReplicationState>(s.Int(5)));
  vm.set_replication_health(static_cast<dr::v1::ReplicationHealth>(s.Int(6)));
  vm.set_enabled_state(static_cast<dr::v1::EnabledState>(s.Int(7)));
  if (s.Int(8) != 0) FromMicros(s.Int(8), vm.mutable_last_replication_time());
  vm.set_pending_replication_bytes(static_cast<uint64_t>(s.Int(9)));
  vm.set_replication_latency_seconds(static_cast<uint32_t>(s.Int(10)));
  vm.set_active_job(s.Text(11));
  vm.set_site(s.Text(12));
  return vm;
}

constexpr char kJobCols[] =
    "name, type, state, percent, return_code, error_code, error_summary, "
    "error_description, create_us, start_us, end_us, vm, recovery_point, "
    "requester, request_id, host, version, update_us, seq";

Job ReadJob(const Stmt& s) {
  Job j;
  j.set_name(s.Text(0));
  j.set_type(static_cast<dr::v1::JobType>(s.Int(1)));
  j.set_state(static_cast<dr::v1::JobState>(s.Int(2)));
  j.set_percent_complete(static_cast<uint32_t>(s.Int(3)));
  j.set_return_code(static_cast<dr::v1::ReturnCode>(s.Int(4)));
  j.set_error_code(static_cast<uint32_t>(s.Int(5)));
  j.set_error_summary(s.Text(6));
  j.set_error_description(s.Text(7));
  if (s.Int(8) != 0) FromMicros(s.Int(8), j.mutable_create_time());
  if (s.Int(9) != 0) FromMicros(s.Int(9), j.mutable_start_time());
  if (s.Int(10) != 0) FromMicros(s.Int(10), j.mutable_end_time());
  j.set_virtual_machine(s.Text(11));
  j.set_recovery_point(s.Text(12));
  j.set_requester(s.Text(13));
  j.set_request_id(s.Text(14));
  j.set_host(s.Text(15));
  j.set_version(s.Int(16));
  if (s.Int(17) != 0) FromMicros(s.Int(17), j.mutable_update_time());
  return j;
}

// Reads up to `size` rows of `s` into a page; one more row means another
// page, whose token names `kind`, `query` and the key of the last item
// returned.
template <typename T, typename Read, typename Key>
absl::StatusOr<Page<T>> CollectPage(Stmt& s, int size, const PageTokens& tokens, absl::string_view kind,
                                    absl::string_view query, Read read, Key key) {
  Page<T> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = tokens.Make(kind, query, key(out.items.back()));
      break;
    }
    out.items.push_back(read(s));
  }
  return out;
}

// Reads every row of `s`.
template <typename T, typename Read>
absl::StatusOr<std::vector<T>> CollectAll(Stmt& s, Read read) {
  std::vector<T> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(read(s));
  }
  return out;
}

// OK when `table` has a row named `name`; NOT_FOUND otherwise.
absl::Status CheckExists(Sqlite& db, absl::string_view table, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare(absl::StrCat("SELECT 1 FROM ", table, " WHERE name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view field, absl::string_view value,
                          absl::string_view prefix) {
  if (!absl::StartsWith(value, prefix) || value.size() == prefix.size()) {
    return InvalidParameter(field, "MALFORMED_NAME",
                            absl::StrCat("must look like ", prefix, "{id}, got \"",
                                         value, "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (id.size() > 256 || absl::StrContains(id, '/')) {
    return InvalidParameter(field, "MALFORMED_ID",
                            absl::StrCat("must be 1-256 characters without '/', got \"",
                                         id.substr(0, 64), "\""));
  }
  return absl::OkStatus();
}

}  // namespace

// WAL frames (pages) past which the writer restarts the WAL: 16 MiB.
constexpr int kRestartFrames = 4096;

namespace {

// `s` with its message prefixed "database <path>: " unless it names the
// database already; the payload is kept.
absl::Status AboutDatabase(const std::string& path, const absl::Status& s) {
  if (s.ok() || absl::StartsWith(s.message(), absl::StrCat("database ", path, ": "))) return s;
  absl::Status out(s.code(), absl::StrCat("database ", path, ": ", s.message()));
  s.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
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
    ASSIGN_OR_RETURN(Stmt put, db.Prepare("INSERT INTO secrets(name, value) VALUES ('page_token', ?)"));
    return put.BindBlob(1, secret).Run();
  }));
  if (secret.size() < 16) return absl::DataLossError("the page token secret is too short");
  return secret;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const Options& options) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = OpenUnchecked(path, options);
  if (!store.ok()) return AboutDatabase(path, store.status());
  return store;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::OpenUnchecked(const std::string& path,
                                                                        const Options& options) {
  const bool file = path != ":memory:" && !path.empty();
  std::unique_ptr<FileLock> lock;
  if (file) {
    // Before anything is written: a file we must not touch stays as it was.
    RETURN_IF_ERROR(CheckDatabaseFile(path));
    if (options.lock) {
      absl::StatusOr<std::unique_ptr<FileLock>> held = FileLock::TryAcquire(path + ".lock");
      if (absl::IsFailedPrecondition(held.status())) {
        return ErrorWithDetail(absl::StatusCode::kFailedPrecondition, dr::v1::RETURN_CODE_SYSTEM_IN_USE, "db",
                               kDbInUse, absl::StrCat("in use by another drserver (", held.status().message(), ")"));
      }
      if (!held.ok()) return held.status();
      lock = *std::move(held);
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Sqlite> db, Sqlite::Open(path, options.sqlite));
  RETURN_IF_ERROR(MigrateSchema(*db));
  ASSIGN_OR_RETURN(std::string secret, PageTokenSecret(*db));
  std::unique_ptr<SqliteStore> store(
      new SqliteStore(std::move(lock), std::move(db), std::make_unique<PageTokens>(std::move(secret))));
  if (options.background_checkpoint && path != ":memory:" && !path.empty()) {
    // Commits no longer stop to copy the WAL into the database; a thread of
    // its own does it (see CheckpointOnce).
    RETURN_IF_ERROR(store->db_->Exec("PRAGMA wal_autocheckpoint = 0"));
    // ...but past 16 MiB the writer itself starts the WAL over (see
    // Sqlite::RestartWalPast).
    store->db_->RestartWalPast(kRestartFrames, absl::Milliseconds(100));
    // A WAL that grew in a burst is cut back to this when it starts over.
    RETURN_IF_ERROR(store->db_->Exec("PRAGMA journal_size_limit = 67108864"));
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
      auto r = std::make_unique<Reader>();
      r->db = std::move(reader);
      store->readers_.push_back(std::move(r));
    }
  }
  return store;
}

void SqliteStore::NoteWrite(const absl::Status& s) {
  if (!s.ok() && !IsStorageFailure(s)) return;
  const bool writable = s.ok();
  absl::MutexLock lock(&observer_mu_);
  if (writable_ == writable) return;
  writable_ = writable;
  if (observer_) observer_(writable);
}

void SqliteStore::SetWriteObserver(std::function<void(bool writable)> observer) {
  absl::MutexLock lock(&observer_mu_);
  observer_ = std::move(observer);
}

bool SqliteStore::writable() {
  absl::MutexLock lock(&observer_mu_);
  return writable_;
}

absl::Status SqliteStore::LimitPagesForTesting(int64_t max_pages) {
  absl::MutexLock lock(&mu_);
  if (max_pages > 0) {
    ASSIGN_OR_RETURN(int64_t pages, db_->QueryInt("PRAGMA page_count"));
    max_pages = std::max(max_pages, pages);
  } else {
    max_pages = 4294967294;  // SQLite's largest
  }
  return db_->Exec(absl::StrCat("PRAGMA max_page_count = ", max_pages));
}

void SqliteStore::CheckpointOnce() {
  absl::StatusOr<Stmt> passive = checkpointer_db_->Prepare("PRAGMA wal_checkpoint(PASSIVE)");
  if (passive.ok()) passive->Run().IgnoreError();
}

SqliteStore::~SqliteStore() {
  stop_.Notify();
  if (checkpointer_.joinable()) checkpointer_.join();
  if (checkpointer_db_ != nullptr) checkpointer_db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)").IgnoreError();
}

SqliteStore::ReadConn::ReadConn(SqliteStore* store) {
  if (store->readers_.empty()) {
    mu_ = &store->mu_;
    mu_->Lock();
    db_ = store->db_.get();
    return;
  }
  const size_t n = store->readers_.size();
  const size_t first = store->next_reader_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    Reader& r = *store->readers_[(first + i) % n];
    if (r.mu.TryLock()) {
      mu_ = &r.mu;
      db_ = r.db.get();
      return;
    }
  }
  Reader& r = *store->readers_[first % n];
  r.mu.Lock();
  mu_ = &r.mu;
  db_ = r.db.get();
}

SqliteStore::ReadConn::~ReadConn() { mu_->Unlock(); }

absl::Status SqliteStore::CheckIntegrity() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("PRAGMA integrity_check"));
  ASSIGN_OR_RETURN(std::vector<std::string> problems,
                   CollectAll<std::string>(s, [](const Stmt& row) { return row.Text(0); }));
  if (problems.size() == 1 && problems[0] == "ok") return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("integrity_check: ", absl::StrJoin(problems, "; ")));
}

// ---------------------------------------------------------------- hosts

absl::StatusOr<bool> SqliteStore::CreateHost(const Host& host, const RequestKey* key) {
  RETURN_IF_ERROR(ValidateName("name", host.name(), "hosts/"));
  RETURN_IF_ERROR(ValidateName("site", host.site(), "sites/"));
  if (host.agent_address().empty()) {
    return InvalidParameter("agent_address", "MISSING", "is required");
  }
  absl::MutexLock lock(&mu_);
  bool replayed = false;
  absl::Status status = InTransaction(*db_, [&]() -> absl::Status {
    RETURN_IF_ERROR(SeenLocked(key, &replayed));
    if (replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(Stmt site, db_->Prepare(
        "INSERT INTO sites(name) VALUES (?) ON CONFLICT(name) DO NOTHING"));
    RETURN_IF_ERROR(site.Bind(1, host.site()).Run());
    ASSIGN_OR_RETURN(Stmt ins, db_->Prepare(
        "INSERT INTO hosts(name, site, agent_address, create_us) VALUES (?, ?, ?, ?)"));
    absl::Status s = ins.Bind(1, host.name())
                         .Bind(2, host.site())
                         .Bind(3, host.agent_address())
                         .Bind(4, ToMicros(host.create_time()))
                         .Run();
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      return HyperVError(dr::v1::RETURN_CODE_SYSTEM_IN_USE, "host_id", "HOST_EXISTS",
                         absl::StrCat(host.name(), " is already registered"));
    }
    RETURN_IF_ERROR(s);
    if (key != nullptr) RETURN_IF_ERROR(PutKeyLocked(*key, ""));
    return absl::OkStatus();
  });
  NoteWrite(status);
  if (status.code() == absl::StatusCode::kAborted) {
    // HOST_EXISTS above is reported as ALREADY_EXISTS with its Hyper-V code.
    absl::Status exists = absl::AlreadyExistsError(status.message());
    exists.SetPayload(kErrorDetailUrl, *status.GetPayload(kErrorDetailUrl));
    return exists;
  }
  RETURN_IF_ERROR(status);
  return replayed;
}

absl::StatusOr<Host> SqliteStore::GetHost(const std::string& name) {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat("SELECT ", kHostCols,
                                                      " FROM hosts WHERE name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return ReadHost(s);
}

absl::StatusOr<Page<Host>> SqliteStore::ListHosts(const std::string& site,
                                                  const PageRequest& page) {
  std::string query;
  AppendQueryField(&query, site);
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, tokens_->Parse("hosts", query, page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat(
      "SELECT ", kHostCols, " FROM hosts WHERE (?1 = '' OR site = ?1) AND name > ?2 "
      "ORDER BY name LIMIT ?3")));
  s.Bind(1, site).Bind(2, after).Bind(3, size + 1);
  return CollectPage<Host>(s, size, *tokens_, "hosts", query, ReadHost, [](const Host& h) { return h.name(); });
}

absl::StatusOr<Page<Site>> SqliteStore::ListSites(const PageRequest& page) {
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, tokens_->Parse("sites", "", page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(
      "SELECT name, display_name FROM sites WHERE name > ? ORDER BY name LIMIT ?"));
  s.Bind(1, after).Bind(2, size + 1);
  auto read = [](const Stmt& row) {
    Site site;
    site.set_name(row.Text(0));
    site.set_display_name(row.Text(1));
    return site;
  };
  return CollectPage<Site>(s, size, *tokens_, "sites", "", read, [](const Site& site) { return site.name(); });
}

absl::Status SqliteStore::UpdateHostContact(const Host& host) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
      "UPDATE hosts SET reachability = ?1, "
      "last_contact_us = CASE WHEN ?2 > 0 THEN ?2 ELSE last_contact_us END, "
      "stale = ?3, last_error = ?4, "
      "hypervisor_name = CASE WHEN ?5 != '' THEN ?5 ELSE hypervisor_name END WHERE name = ?6"));
  const int64_t contact = ToMicros(host.last_contact_time());
  absl::Status written = s.Bind(1, static_cast<int64_t>(host.reachability()))
                             .Bind(2, contact)
                             .Bind(3, host.stale() ? 1 : 0)
                             .Bind(4, host.last_error())
                             .Bind(5, host.hypervisor_host_name())
                             .Bind(6, host.name())
                             .Run();
  NoteWrite(written);
  RETURN_IF_ERROR(written);
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat(host.name(), " not found"));
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteStore::DeleteHost(const std::string& name, const RequestKey* key) {
  absl::MutexLock lock(&mu_);
  bool replayed = false;
  absl::Status written = InTransaction(*db_, [&]() -> absl::Status {
    // Decided before anything else: a repeat answers as the first call did,
    // even once the host is gone.
    RETURN_IF_ERROR(SeenLocked(key, &replayed));
    if (replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(Stmt busy, db_->Prepare(
        "SELECT name, active_job FROM vms WHERE host = ? AND active_job IS NOT NULL LIMIT 1"));
    busy.Bind(1, name);
    ASSIGN_OR_RETURN(bool claimed, busy.Step());
    if (claimed) {
      return InvalidState("name", "HOST_BUSY",
                          absl::StrCat(busy.Text(1), " is running on ", busy.Text(0),
                                       "; wait for it or cancel it first"));
    }
    ASSIGN_OR_RETURN(Stmt del, db_->Prepare("DELETE FROM hosts WHERE name = ?"));
    RETURN_IF_ERROR(del.Bind(1, name).Run());
    if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat(name, " not found"));
    if (key != nullptr) RETURN_IF_ERROR(PutKeyLocked(*key, ""));
    return absl::OkStatus();
  });
  NoteWrite(written);
  RETURN_IF_ERROR(written);
  return replayed;
}

// ---------------------------------------------------------------- inventory

absl::Status SqliteStore::ReplaceInventory(
    const std::string& host, const std::vector<dr::v1::VirtualMachineInventory>& vms,
    absl::Time sync_time) {
  std::set<std::string> ids;
  for (size_t i = 0; i < vms.size(); ++i) {
    const std::string& id = vms[i].virtual_machine().vm_id();
    RETURN_IF_ERROR(ValidateId(absl::StrCat("virtual_machines[", i, "].vm_id"), id));
    if (!ids.insert(id).second) {
      return InvalidParameter(absl::StrCat("virtual_machines[", i, "].vm_id"),
                              "DUPLICATE_VM", absl::StrCat(id, " appears twice"));
    }
    for (int r = 0; r < vms[i].recovery_points_size(); ++r) {
      RETURN_IF_ERROR(ValidateId(
          absl::StrCat("virtual_machines[", i, "].recovery_points[", r, "].name"),
          vms[i].recovery_points(r).name()));
    }
    for (int r = 0; r < vms[i].replication_relationships_size(); ++r) {
      RETURN_IF_ERROR(ValidateId(
          absl::StrCat("virtual_machines[", i, "].replication_relationships[", r, "].name"),
          vms[i].replication_relationships(r).name()));
    }
  }
  absl::MutexLock lock(&mu_);
  absl::Status written = InTransaction(*db_, [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckExists(*db_, "hosts", host));

    std::set<std::string> keep;
    for (const auto& inv : vms) {
      const VirtualMachine& vm = inv.virtual_machine();
      const std::string name = absl::StrCat(host, "/virtualMachines/", vm.vm_id());
      keep.insert(name);
      ASSIGN_OR_RETURN(Stmt up, db_->Prepare(
          "INSERT INTO vms(name, host, vm_id, display_name, replication_mode, "
          "replication_state, replication_health, enabled_state, last_replication_us, "
          "pending_bytes, latency_s, state_us) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
          // The state fields only when this inventory was read after the
          // state stored (a job's end may have written a newer one).
          "ON CONFLICT(name) DO UPDATE SET display_name = ?4, "
          "replication_mode = CASE WHEN state_us < ?12 THEN ?5 ELSE replication_mode END, "
          "replication_state = CASE WHEN state_us < ?12 THEN ?6 ELSE replication_state END, "
          "replication_health = CASE WHEN state_us < ?12 THEN ?7 ELSE replication_health END, "
          "enabled_state = CASE WHEN state_us < ?12 THEN ?8 ELSE enabled_state END, "
          "last_replication_us = ?9, pending_bytes = ?10, latency_s = ?11, "
          "state_us = MAX(state_us, ?12)"));
      RETURN_IF_ERROR(up.Bind(1, name)
                          .Bind(2, host)
                          .Bind(3, vm.vm_id())
                          .Bind(4, vm.display_name())
                          .Bind(5, static_cast<int64_t>(vm.replication_mode()))
                          .Bind(6, static_cast<int64_t>(vm.replication_state()))
                          .Bind(7, static_cast<int64_t>(vm.replication_health()))
                          .Bind(8, static_cast<int64_t>(vm.enabled_state()))
                          .Bind(9, ToMicros(vm.last_replication_time()))
                          .Bind(10, static_cast<int64_t>(vm.pending_replication_bytes()))
                          .Bind(11, static_cast<int64_t>(vm.replication_latency_seconds()))
                          .Bind(12, TimeToMicros(sync_time))
                          .Run());
      ASSIGN_OR_RETURN(Stmt del_rel, db_->Prepare("DELETE FROM relationships WHERE vm = ?"));
      RETURN_IF_ERROR(del_rel.Bind(1, name).Run());
      for (const ReplicationRelationship& rel : inv.replication_relationships()) {
        ASSIGN_OR_RETURN(Stmt ins, db_->Prepare(
            "INSERT INTO relationships(vm, idx, primary_host, replica_host, interval_s, "
            "state, health, last_replication_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
        RETURN_IF_ERROR(ins.Bind(1, name)
                            .Bind(2, rel.name())
                            .Bind(3, rel.primary_host())
                            .Bind(4, rel.replica_host())
                            .Bind(5, static_cast<int64_t>(rel.replication_interval_seconds()))
                            .Bind(6, static_cast<int64_t>(rel.replication_state()))
                            .Bind(7, static_cast<int64_t>(rel.replication_health()))
                            .Bind(8, ToMicros(rel.last_replication_time()))
                            .Run());
      }
      ASSIGN_OR_RETURN(Stmt del_rp, db_->Prepare("DELETE FROM recovery_points WHERE vm = ?"));
      RETURN_IF_ERROR(del_rp.Bind(1, name).Run());
      for (const RecoveryPoint& rp : inv.recovery_points()) {
        ASSIGN_OR_RETURN(Stmt ins, db_->Prepare(
            "INSERT INTO recovery_points(name, vm, type, create_us) VALUES (?, ?, ?, ?)"));
        absl::Status s = ins.Bind(1, absl::StrCat(name, "/recoveryPoints/", rp.name()))
                             .Bind(2, name)
                             .Bind(3, static_cast<int64_t>(rp.type()))
                             .Bind(4, ToMicros(rp.create_time()))
                             .Run();
        if (s.code() == absl::StatusCode::kAlreadyExists) {
          return InvalidParameter("recovery_points.name", "DUPLICATE_RECOVERY_POINT",
                                  absl::StrCat(rp.name(), " appears twice on ", name));
        }
        RETURN_IF_ERROR(s);
      }
    }
    // Drop copies that are gone, unless a job still claims them.
    ASSIGN_OR_RETURN(Stmt old, db_->Prepare(
        "SELECT name FROM vms WHERE host = ? AND active_job IS NULL"));
    old.Bind(1, host);
    std::vector<std::string> gone;
    while (true) {
      ASSIGN_OR_RETURN(bool row, old.Step());
      if (!row) break;
      std::string name = old.Text(0);
      if (keep.count(name) == 0) gone.push_back(std::move(name));
    }
    for (const std::string& name : gone) {
      ASSIGN_OR_RETURN(Stmt del, db_->Prepare("DELETE FROM vms WHERE name = ?"));
      RETURN_IF_ERROR(del.Bind(1, name).Run());
    }
    ASSIGN_OR_RETURN(Stmt h, db_->Prepare(
        "UPDATE hosts SET reachability = 1, stale = 0, last_error = '', "
        "last_sync_us = ?1, last_contact_us = ?1 WHERE name = ?2"));
    return h.Bind(1, TimeToMicros(sync_time)).Bind(2, host).Run();
  });
  NoteWrite(written);
  return written;
}

absl::Status SqliteStore::UpdateVirtualMachineState(const VirtualMachine& vm) {
  absl::MutexLock lock(&mu_);
  absl::Status s = UpdateVmStateLocked(vm.name(), vm, absl::Now());
  NoteWrite(s);
  return s;
}

absl::Status SqliteStore::UpdateVmStateLocked(const std::string& name, const VirtualMachine& vm,
                                              absl::Time observed) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
      "UPDATE vms SET replication_mode = ?, replication_state = ?, "
      "replication_health = ?, enabled_state = ?, last_replication_us = ?, "
      "pending_bytes = ?, latency_s = ?, state_us = MAX(state_us, ?) WHERE name = ?"));
  RETURN_IF_ERROR(s.Bind(1, static_cast<int64_t>(vm.replication_mode()))
                      .Bind(2, static_cast<int64_t>(vm.replication_state()))
                      .Bind(3, static_cast<int64_t>(vm.replication_health()))
                      .Bind(4, static_cast<int64_t>(vm.enabled_state()))
                      .Bind(5, ToMicros(vm.last_replication_time()))
                      .Bind(6, static_cast<int64_t>(vm.pending_replication_bytes()))
                      .Bind(7, static_cast<int64_t>(vm.replication_latency_seconds()))
                      .Bind(8, TimeToMicros(observed))
                      .Bind(9, name)
                      .Run());
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return absl::OkStatus();
}

absl::StatusOr<VirtualMachine> SqliteStore::GetVirtualMachine(const std::string& name) {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat("SELECT ", kVmCols, kVmFrom,
                                                      " WHERE v.name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return ReadVm(s);
}

absl::StatusOr<std::vector<VirtualMachine>> SqliteStore::FindVirtualMachinesById(
    const std::string& vm_id) {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat("SELECT ", kVmCols, kVmFrom,
                                                      " WHERE v.vm_id = ? ORDER BY v.name")));
  s.Bind(1, vm_id);
  return CollectAll<VirtualMachine>(s, ReadVm);
}

absl::StatusOr<Page<VirtualMachine>> SqliteStore::ListVirtualMachines(
    const VirtualMachineFilter& filter, const PageRequest& page) {
  std::string query;
  AppendQueryField(&query, filter.host == "hosts/-" ? "" : filter.host);
  AppendQueryField(&query, filter.site);
  AppendQueryField(&query, JsonIntArray(ToInts(filter.replication_states)));
  AppendQueryField(&query, JsonIntArray(ToInts(filter.replication_healths)));
  AppendQueryField(&query, filter.display_name_or_id);
  AppendQueryField(&query, filter.vm_id);
  AppendQueryField(&query, filter.filter_replication_mode ? absl::StrCat(filter.replication_mode) : "");
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, tokens_->Parse("vms", query, page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  // One SQL text per combination of filters present, so each stays a
  // cached statement that can use its index.
  std::string sql = absl::StrCat("SELECT ", kVmCols, kVmFrom, " WHERE v.name > ?1");
  const bool by_host = !filter.host.empty() && filter.host != "hosts/-";
  if (by_host) absl::StrAppend(&sql, " AND v.host = ?2");
  if (!filter.site.empty()) absl::StrAppend(&sql, " AND h.site = ?3");
  if (!filter.replication_states.empty()) {
    absl::StrAppend(&sql, " AND v.replication_state IN (SELECT value FROM json_each(?4))");
  }
  if (!filter.replication_healths.empty()) {
    absl::StrAppend(&sql, " AND v.replication_health IN (SELECT value FROM json_each(?5))");
  }
  if (!filter.display_name_or_id.empty()) {
    absl::StrAppend(&sql, " AND (v.display_name = ?6 OR v.vm_id = ?9)");
  }
  if (filter.filter_replication_mode) absl::StrAppend(&sql, " AND v.replication_mode = ?7");
  absl::StrAppend(&sql, " ORDER BY v.name LIMIT ?8");
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(sql));
  s.Bind(1, after);
  if (by_host) s.Bind(2, filter.host);
  if (!filter.site.empty()) s.Bind(3, filter.site);
  if (!filter.replication_states.empty()) {
    s.Bind(4, JsonIntArray(ToInts(filter.replication_states)));
  }
  if (!filter.replication_healths.empty()) {
    s.Bind(5, JsonIntArray(ToInts(filter.replication_healths)));
  }
  if (!filter.display_name_or_id.empty()) {
    s.Bind(6, filter.display_name_or_id);
    s.Bind(9, filter.vm_id.empty() ? filter.display_name_or_id : filter.vm_id);
  }
  if (filter.filter_replication_mode) {
    s.Bind(7, static_cast<int64_t>(filter.replication_mode));
  }
  s.Bind(8, size + 1);
  return CollectPage<VirtualMachine>(s, size, *tokens_, "vms", query, ReadVm,
                                     [](const VirtualMachine& vm) { return vm.name(); });
}

absl::StatusOr<std::vector<ReplicationRelationship>>
SqliteStore::ListReplicationRelationships(const std::string& vm) {
  ReadConn conn(this);
  RETURN_IF_ERROR(CheckExists(*conn, "vms", vm));
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(
      "SELECT idx, primary_host, replica_host, interval_s, state, health, "
      "last_replication_us FROM relationships WHERE vm = ? ORDER BY idx"));
  s.Bind(1, vm);
  return CollectAll<ReplicationRelationship>(s, [&vm](const Stmt& row) {
    ReplicationRelationship r;
    r.set_name(absl::StrCat(vm, "/replicationRelationships/", row.Text(0)));
    r.set_primary_host(row.Text(1));
    r.set_replica_host(row.Text(2));
    r.set_replication_interval_seconds(static_cast<uint32_t>(row.Int(3)));
    r.set_replication_state(static_cast<dr::v1::ReplicationState>(row.Int(4)));
    r.set_replication_health(static_cast<dr::v1::ReplicationHealth>(row.Int(5)));
    if (row.Int(6) != 0) FromMicros(row.Int(6), r.mutable_last_replication_time());
    return r;
  });
}

absl::StatusOr<Page<RecoveryPoint>> SqliteStore::ListRecoveryPoints(const std::string& vm,
                                                                    const PageRequest& page) {
  // Newest first; the token holds "<create_us>/<name>" of the last item.
  int64_t after_us = INT64_MAX;
  std::string after_name;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, tokens_->Parse("rps", vm, page.page_token));
    size_t slash = key.find('/');
    if (slash == std::string::npos || !absl::SimpleAtoi(key.substr(0, slash), &after_us)) {
      return InvalidParameter("page_token", "INVALID_PAGE_TOKEN", "malformed");
    }
    after_name = key.substr(slash + 1);
  }
  const int size = EffectivePageSize(page.page_size);
  ReadConn conn(this);
  RETURN_IF_ERROR(CheckExists(*conn, "vms", vm));
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(
      "SELECT name, type, create_us FROM recovery_points WHERE vm = ?1 AND "
      "(create_us < ?2 OR (create_us = ?2 AND name > ?3)) "
      "ORDER BY create_us DESC, name LIMIT ?4"));
  s.Bind(1, vm).Bind(2, after_us).Bind(3, after_name).Bind(4, size + 1);
  Page<RecoveryPoint> out;
  int64_t last_us = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token =
          tokens_->Make("rps", vm, absl::StrCat(last_us, "/", out.items.back().name()));
      break;
    }
    RecoveryPoint rp;
    rp.set_name(s.Text(0));
    rp.set_type(static_cast<dr::v1::RecoveryPointType>(s.Int(1)));
    last_us = s.Int(2);
    FromMicros(last_us, rp.mutable_create_time());
    out.items.push_back(std::move(rp));
  }
  return out;
}

absl::StatusOr<RecoveryPoint> SqliteStore::GetRecoveryPoint(const std::string& name) {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(
      "SELECT name, type, create_us FROM recovery_points WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  RecoveryPoint rp;
  rp.set_name(s.Text(0));
  rp.set_type(static_cast<dr::v1::RecoveryPointType>(s.Int(1)));
  FromMicros(s.Int(2), rp.mutable_create_time());
  return rp;
}

// ---------------------------------------------------------------- jobs

absl::StatusOr<std::string> SqliteStore::LookupKeyLocked(const RequestKey& key) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
      "SELECT method, fingerprint, IFNULL(job, '') FROM idempotency WHERE request_id = ?"));
  s.Bind(1, key.request_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError("request_id not seen");
  if (s.Text(0) != key.method || s.Text(1) != key.fingerprint) {
    return InvalidParameter(
        "request_id", "REQUEST_ID_REUSED",
        absl::StrCat("\"", key.request_id, "\" was already used for a different request (",
                     s.Text(0), "); use a new request_id"));
  }
  return s.Text(2);
}

absl::Status SqliteStore::SeenLocked(const RequestKey* key, bool* replayed) {
  *replayed = false;
  if (key == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> seen = LookupKeyLocked(*key);
  if (seen.ok()) {
    *replayed = true;
    return absl::OkStatus();
  }
  if (seen.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  return seen.status();
}

absl::Status SqliteStore::PutKeyLocked(const RequestKey& key, const std::string& job) {
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
      "INSERT INTO idempotency(request_id, method, fingerprint, job) VALUES (?, ?, ?, ?)"));
  s.Bind(1, key.request_id).Bind(2, key.method).Bind(3, key.fingerprint);
  if (job.empty()) {
    s.BindNull(4);
  } else {
    s.Bind(4, job);
  }
  return s.Run();
}

absl::Status SqliteStore::CreateJobLocked(const Job& job, const RequestKey& key,
                                          const std::string& operation, CreateJobResult* result) {
  RETURN_IF_ERROR(ValidateName("name", job.name(), "jobs/"));
  RETURN_IF_ERROR(ValidateName("virtual_machine", job.virtual_machine(), "hosts/"));
  RETURN_IF_ERROR(ValidateName("host", job.host(), "hosts/"));
  if (key.request_id.empty()) return InvalidParameter("request_id", "MISSING", "is required");
  if (!IsKnownJobState(job.state()) || IsTerminalJobState(job.state())) {
    return InvalidParameter("state", "INVALID_JOB_STATE",
                            "a new job must be in a non-terminal state (2-6)");
  }
  absl::StatusOr<std::string> seen = LookupKeyLocked(key);
  if (seen.ok()) {
    ASSIGN_OR_RETURN(result->job, GetJobOn(*db_, *seen));
    result->replayed = true;
    return absl::OkStatus();
  }
  if (seen.status().code() != absl::StatusCode::kNotFound) return seen.status();

  ASSIGN_OR_RETURN(Stmt vm, db_->Prepare(
      "SELECT IFNULL(active_job, '') FROM vms WHERE name = ?"));
  vm.Bind(1, job.virtual_machine());
  ASSIGN_OR_RETURN(bool found, vm.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat(job.virtual_machine(), " not found"));
  }
  const std::string active = vm.Text(0);
  if (!active.empty()) {
    return HyperVError(dr::v1::RETURN_CODE_SYSTEM_IN_USE, "virtual_machine", "VM_BUSY",
                       absl::StrCat(active, " is still running on ",
                                    job.virtual_machine()));
  }
  const int64_t now_us = ToMicros(job.create_time());
  ASSIGN_OR_RETURN(Stmt ins, db_->Prepare(
      "INSERT INTO jobs(name, type, state, percent, return_code, error_code, "
      "error_summary, error_description, create_us, start_us, end_us, vm, "
      "recovery_point, requester, request_id, host, version, update_us, operation) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, 1, ?, ?)"));
  absl::Status s = ins.Bind(1, job.name())
                       .Bind(2, static_cast<int64_t>(job.type()))
                       .Bind(3, static_cast<int64_t>(job.state()))
                       .Bind(4, static_cast<int64_t>(job.percent_complete()))
                       .Bind(5, static_cast<int64_t>(job.return_code()))
                       .Bind(6, static_cast<int64_t>(job.error_code()))
                       .Bind(7, job.error_summary())
                       .Bind(8, job.error_description())
                       .Bind(9, now_us)
                       .Bind(10, job.virtual_machine())
                       .Bind(11, job.recovery_point())
                       .Bind(12, job.requester())
                       .Bind(13, key.request_id)
                       .Bind(14, job.host())
                       .Bind(15, now_us)
                       .BindBlob(16, operation)
                       .Run();
  if (s.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat(job.name(), " already exists"));
  }
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(Stmt claim, db_->Prepare("UPDATE vms SET active_job = ? WHERE name = ?"));
  RETURN_IF_ERROR(claim.Bind(1, job.name()).Bind(2, job.virtual_machine()).Run());
  RETURN_IF_ERROR(PutKeyLocked(key, job.name()));
  ASSIGN_OR_RETURN(Stmt ev, db_->Prepare(
      "INSERT INTO job_events(job, sequence, event_us, state, percent, return_code, "
      "error_code, message) VALUES (?, 1, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(ev.Bind(1, job.name())
                      .Bind(2, now_us)
                      .Bind(3, static_cast<int64_t>(job.state()))
                      .Bind(4, static_cast<int64_t>(job.percent_complete()))
                      .Bind(5, static_cast<int64_t>(job.return_code()))
                      .Bind(6, static_cast<int64_t>(job.error_code()))
                      .Bind(7, "accepted")
                      .Run());
  // The row is exactly what was inserted: no need to read it back.
result->job = job;
result->job.set_request_id(key.request_id);
result->job.set_version(1);
*result->job.mutable_update_time() = job.create_time();
result->job.clear_start_time();
result->job.clear_end_time();
  return absl::OkStatus();
}

absl::StatusOr<CreateJobResult> SqliteStore::CreateJob(const Job& job, const RequestKey& key,
                                                       const std::string& operation) {
  absl::MutexLock lock(&mu_);
  CreateJobResult result;
  absl::Status written = InTransaction(*db_, [&]() { return CreateJobLocked(job, key, operation, &result); });
  NoteWrite(written);
  RETURN_IF_ERROR(written);
  return result;
}

std::vector<WriteResult> SqliteStore::Write(const std::vector<WriteOp>& ops) {
  std::vector<WriteResult> results(ops.size());
  absl::MutexLock lock(&mu_);
  absl::Status committed = InTransaction(*db_, [&]() -> absl::Status {
    for (size_t i = 0; i < ops.size(); ++i) {
      RETURN_IF_ERROR(RunCached(*db_, "SAVEPOINT op"));
      WriteResult& r = results[i];
      if (ops[i].kind == WriteOp::Kind::kCreateJob) {
        CreateJobResult created;
        r.status = CreateJobLocked(ops[i].job, ops[i].key, ops[i].operation, &created);
        r.job = std::move(created.job);
        r.replayed = created.replayed;
      } else {
        absl::StatusOr<Job> updated = UpdateJobLocked(ops[i].update, &r.replayed);
        r.status = updated.status();
        if (updated.ok()) r.job = *std::move(updated);
      }
      // A refused operation leaves no trace; the others go on.
      if (!r.status.ok()) RETURN_IF_ERROR(RunCached(*db_, "ROLLBACK TO op"));
      RETURN_IF_ERROR(RunCached(*db_, "RELEASE op"));
    }
    return absl::OkStatus();
  });
  NoteWrite(committed);
  if (!committed.ok()) {
    for (WriteResult& r : results) {
      r.status = committed;
      r.job.Clear();
    }
  }
  return results;
}

absl::StatusOr<Job> SqliteStore::GetJobOn(Sqlite& db, const std::string& name) {
  static const std::string* const kSql = new std::string(absl::StrCat("SELECT ", kJobCols, " FROM jobs WHERE name = ?"));
  ASSIGN_OR_RETURN(Stmt s, db.Prepare(*kSql));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return ReadJob(s);
}

absl::StatusOr<std::string> SqliteStore::GetJobOperation(const std::string& name) {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare("SELECT IFNULL(operation, '') FROM jobs WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return s.Blob(0);
}

absl::StatusOr<Job> SqliteStore::GetJob(const std::string& name) {
  ReadConn conn(this);
  return GetJobOn(*conn, name);
}

absl::StatusOr<Page<Job>> SqliteStore::ListJobs(const JobFilter& filter,
                                                const PageRequest& page) {
  std::string query;
  AppendQueryField(&query, JsonIntArray(ToInts(filter.states)));
  AppendQueryField(&query, filter.virtual_machine);
  AppendQueryField(&query, filter.host);
  AppendQueryField(&query, JsonIntArray(ToInts(filter.types)));
  int64_t before = INT64_MAX;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, tokens_->Parse("jobs", query, page.page_token));
    if (!absl::SimpleAtoi(key, &before)) {
      return InvalidParameter("page_token", "INVALID_PAGE_TOKEN", "malformed");
    }
  }
  const int size = EffectivePageSize(page.page_size);
  std::string sql = absl::StrCat("SELECT ", kJobCols, " FROM jobs WHERE seq < ?1");
  if (!filter.states.empty()) {
    absl::StrAppend(&sql, " AND state IN (SELECT value FROM json_each(?2))");
  }
  if (!filter.virtual_machine.empty()) absl::StrAppend(&sql, " AND vm = ?3");
  if (!filter.host.empty()) absl::StrAppend(&sql, " AND host = ?4");
  if (!filter.types.empty()) {
    absl::StrAppend(&sql, " AND type IN (SELECT value FROM json_each(?5))");
  }
  absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT ?6");
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(sql));
  s.Bind(1, before);
  if (!filter.states.empty()) s.Bind(2, JsonIntArray(ToInts(filter.states)));
  if (!filter.virtual_machine.empty()) s.Bind(3, filter.virtual_machine);
  if (!filter.host.empty()) s.Bind(4, filter.host);
  if (!filter.types.empty()) s.Bind(5, JsonIntArray(ToInts(filter.types)));
  s.Bind(6, size + 1);
  Page<Job> out;
  int64_t last_seq = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = tokens_->Make("jobs", query, absl::StrCat(last_seq));
      break;
    }
    out.items.push_back(ReadJob(s));
    last_seq = s.Int(18);
  }
  return out;
}

absl::StatusOr<std::vector<Job>> SqliteStore::ListActiveJobs() {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat(
      "SELECT ", kJobCols, " FROM jobs WHERE state < 7 ORDER BY seq")));
  return CollectAll<Job>(s, ReadJob);
}

absl::StatusOr<Job> SqliteStore::UpdateJobLocked(const JobUpdate& u, bool* replayed) {
  bool seen = false;
  RETURN_IF_ERROR(SeenLocked(u.request.request_id.empty() ? nullptr : &u.request, &seen));
  if (replayed != nullptr) *replayed = seen;
  if (seen) return GetJobOn(*db_, u.job);
  if (!IsKnownJobState(u.state)) {
    return InvalidParameter("state", "INVALID_JOB_STATE",
                            absl::StrCat("JobState must be 2-11, got ", u.state));
  }
  if (u.percent_complete > 100) {
    return InvalidParameter("percent_complete", "OUT_OF_RANGE",
                            absl::StrCat("must be 0-100, got ", u.percent_complete));
  }
  if (!IsValidReturnCode(static_cast<uint32_t>(u.return_code))) {
    return InvalidParameter("return_code", "UNKNOWN_RETURN_CODE",
                            absl::StrCat(u.return_code, " is not a Hyper-V return code"));
  }
  ASSIGN_OR_RETURN(Job current, GetJobOn(*db_, u.job));
  if (IsTerminalJobState(current.state())) {
    return InvalidState("state", "JOB_TERMINAL",
                        absl::StrCat(u.job, " already ended in state ",
                                     dr::v1::JobState_Name(current.state())));
  }
  if (u.only_if_status_unknown && current.return_code() != dr::v1::RETURN_CODE_STATUS_UNKNOWN) {
    return InvalidState("return_code", "JOB_STATUS_KNOWN",
                        absl::StrCat(u.job, " reports return code ",
                                     static_cast<int>(current.return_code()),
                                     ": its outcome is not unknown"));
  }
  dr::v1::JobState state = u.state;
  uint32_t percent = u.percent_complete;
  if (StateRank(u.state) < StateRank(current.state())) {
    if (!u.keep_state_if_behind) {
      return InvalidState("state", "JOB_STATE_BACKWARDS",
                          absl::StrCat(u.job, " cannot go from ",
                                       dr::v1::JobState_Name(current.state()), " to ",
                                       dr::v1::JobState_Name(u.state)));
    }
    state = current.state();
    percent = std::max(percent, current.percent_complete());
  }
  const int64_t event_us = TimeToMicros(u.event_time);
  const int64_t start_us = TimeToMicros(u.start_time);
  const int64_t end_us = TimeToMicros(u.end_time);
  const int64_t version = current.version() + 1;
  ASSIGN_OR_RETURN(Stmt up, db_->Prepare(
      "UPDATE jobs SET state = ?1, percent = ?2, return_code = ?3, error_code = ?4, "
      "error_summary = ?5, error_description = ?6, "
      "start_us = CASE WHEN ?7 > 0 THEN ?7 ELSE start_us END, "
      "end_us = CASE WHEN ?8 > 0 THEN ?8 ELSE end_us END, "
      "version = ?9, update_us = ?10 WHERE name = ?11"));
  RETURN_IF_ERROR(up.Bind(1, static_cast<int64_t>(state))
                      .Bind(2, static_cast<int64_t>(percent))
                      .Bind(3, static_cast<int64_t>(u.return_code))
                      .Bind(4, static_cast<int64_t>(u.error_code))
                      .Bind(5, u.error_summary)
                      .Bind(6, u.error_description)
                      .Bind(7, start_us)
                      .Bind(8, end_us)
                      .Bind(9, version)
                      .Bind(10, event_us)
                      .Bind(11, u.job)
                      .Run());
  ASSIGN_OR_RETURN(Stmt ev, db_->Prepare(
      "INSERT INTO job_events(job, sequence, event_us, state, percent, return_code, "
      "error_code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  RETURN_IF_ERROR(ev.Bind(1, u.job)
                      .Bind(2, version)
                      .Bind(3, event_us)
                      .Bind(4, static_cast<int64_t>(state))
                      .Bind(5, static_cast<int64_t>(percent))
                      .Bind(6, static_cast<int64_t>(u.return_code))
                      .Bind(7, static_cast<int64_t>(u.error_code))
                      .Bind(8, u.message)
                      .Run());
  if (u.has_vm_state) {
    // The VM may have been removed with its host meanwhile: that is fine.
    absl::Status vm = UpdateVmStateLocked(current.virtual_machine(), u.vm_state, u.event_time);
    if (!vm.ok() && vm.code() != absl::StatusCode::kNotFound) return vm;
  }
  if (IsTerminalJobState(state)) {
    ASSIGN_OR_RETURN(Stmt release, db_->Prepare(
        "UPDATE vms SET active_job = NULL WHERE active_job = ?"));
    RETURN_IF_ERROR(release.Bind(1, u.job).Run());
  }
  if (!u.request.request_id.empty()) RETURN_IF_ERROR(PutKeyLocked(u.request, u.job));
  // The row as the UPDATE above left it (as ReadJob would read it back).
  Job updated = std::move(current);
  updated.set_state(state);
  updated.set_percent_complete(percent);
  updated.set_return_code(u.return_code);
  updated.set_error_code(u.error_code);
  updated.set_error_summary(u.error_summary);
  updated.set_error_description(u.error_description);
  if (start_us > 0) FromMicros(start_us, updated.mutable_start_time());
  if (end_us > 0) FromMicros(end_us, updated.mutable_end_time());
  updated.set_version(version);
  if (event_us != 0) {
    FromMicros(event_us, updated.mutable_update_time());
  } else {
    updated.clear_update_time();
  }
  return updated;
}

absl::StatusOr<Job> SqliteStore::UpdateJob(const JobUpdate& update) {
  absl::MutexLock lock(&mu_);
  Job out;
  absl::Status written = InTransaction(*db_, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(out, UpdateJobLocked(update));
    return absl::OkStatus();
  });
  NoteWrite(written);
  RETURN_IF_ERROR(written);
  return out;
}

absl::StatusOr<Page<JobEvent>> SqliteStore::ListJobEvents(const std::string& job,
                                                          const PageRequest& page) {
  int64_t after = 0;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, tokens_->Parse("events", job, page.page_token));
    if (!absl::SimpleAtoi(key, &after)) {
      return InvalidParameter("page_token", "INVALID_PAGE_TOKEN", "malformed");
    }
  }
  const int size = EffectivePageSize(page.page_size);
  ReadConn conn(this);
  RETURN_IF_ERROR(GetJobOn(*conn, job).status());
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(
      "SELECT sequence, event_us, state, percent, return_code, error_code, message "
      "FROM job_events WHERE job = ? AND sequence > ? ORDER BY sequence LIMIT ?"));
  s.Bind(1, job).Bind(2, after).Bind(3, size + 1);
  auto read = [&job](const Stmt& row) {
    JobEvent e;
    e.set_job(job);
    e.set_sequence(row.Int(0));
    FromMicros(row.Int(1), e.mutable_event_time());
    e.set_state(static_cast<dr::v1::JobState>(row.Int(2)));
    e.set_percent_complete(static_cast<uint32_t>(row.Int(3)));
    e.set_return_code(static_cast<dr::v1::ReturnCode>(row.Int(4)));
    e.set_error_code(static_cast<uint32_t>(row.Int(5)));
    e.set_message(row.Text(6));
    return e;
  };
  return CollectPage<JobEvent>(s, size, *tokens_, "events", job, read,
                               [](const JobEvent& e) { return absl::StrCat(e.sequence()); });
}

absl::StatusOr<int> SqliteStore::PruneJobs(absl::Time ended_before, int max_jobs) {
  if (max_jobs <= 0) return absl::InvalidArgumentError("max_jobs must be positive");
  absl::MutexLock lock(&mu_);
  int pruned = 0;
  RETURN_IF_ERROR(InTransaction(*db_, [&]() -> absl::Status {
    std::vector<std::string> names;
    {
      // Oldest first (seq order): the jobs past the retention are the first
      // ones left, so the scan stops after about max_jobs rows.
      ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
          "SELECT name FROM jobs WHERE state >= 7 AND state <= 11 AND update_us < ? "
          "ORDER BY seq LIMIT ?"));
      s.Bind(1, absl::ToUnixMicros(ended_before)).Bind(2, static_cast<int64_t>(max_jobs));
      while (true) {
        ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        names.push_back(s.Text(0));
      }
    }
    for (const std::string& name : names) {
      for (const char* sql : {"DELETE FROM job_events WHERE job = ?",
                              "DELETE FROM idempotency WHERE job = ?",
                              "DELETE FROM jobs WHERE name = ?"}) {
        ASSIGN_OR_RETURN(Stmt s, db_->Prepare(sql));
        RETURN_IF_ERROR(s.Bind(1, name).Run());
      }
    }
    pruned = static_cast<int>(names.size());
    return absl::OkStatus();
  }));
  return pruned;
}

// ---------------------------------------------------------------- requests

absl::StatusOr<RequestRecord> SqliteStore::GetRequest(const std::string& request_id) {
  ReadConn conn(this);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(
      "SELECT method, fingerprint, IFNULL(response, ''), IFNULL(job, '') FROM idempotency "
      "WHERE request_id = ?"));
  s.Bind(1, request_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("request_id ", request_id, " not seen"));
  return RequestRecord{s.Text(0), s.Text(1), s.Blob(2), s.Text(3)};
}

absl::Status SqliteStore::PutRequest(const std::string& request_id,
                                     const RequestRecord& record) {
  if (request_id.empty()) return InvalidParameter("request_id", "MISSING", "is required");
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare(
      "INSERT INTO idempotency(request_id, method, fingerprint, response, job) "
      "VALUES (?, ?, ?, ?, ?)"));
  s.Bind(1, request_id).Bind(2, record.method).Bind(3, record.fingerprint).BindBlob(4, record.response);
  if (record.job.empty()) {
    s.BindNull(5);
  } else {
    s.Bind(5, record.job);
  }
  absl::Status st = s.Run();
  if (st.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("request_id ", request_id, " already recorded"));
  }
  NoteWrite(st);
  return st;
}

}  // namespace hvdr
