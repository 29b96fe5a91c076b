#include "hvagent/job_journal.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/file_lock.h"
#include "db/migrations.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace agent {

namespace {

constexpr absl::Duration kPruneInterval = absl::Minutes(1);
constexpr int kPruneBatch = 1000;
// Writes in one group commit at most.
constexpr size_t kMaxGroup = 256;

// Version 1. (IF NOT EXISTS: journals written before the schema was
// versioned have the tables at user_version 0.)
constexpr char kV1[] = R"sql(
CREATE TABLE IF NOT EXISTS agent_jobs (
  job_id TEXT PRIMARY KEY,
  type INTEGER NOT NULL,
  vm_id TEXT NOT NULL,
  recovery_point_id TEXT NOT NULL DEFAULT '',
  network_settings BLOB,
  phase INTEGER NOT NULL,
  hv_job_id TEXT NOT NULL DEFAULT '',
  created_us INTEGER NOT NULL,
  final_status BLOB
);
CREATE INDEX IF NOT EXISTS agent_jobs_unfinished ON agent_jobs(created_us) WHERE phase < 2;
CREATE INDEX IF NOT EXISTS agent_jobs_done ON agent_jobs(created_us) WHERE phase = 2;
)sql";

// Version 2: one index by creation time instead of the two partial ones
// (unfinished, done), which every job's end moved the row between: its end
// now writes the row only, one page in the WAL instead of three. The
// unfinished jobs (read once, at start-up) and the done ones to prune are
// both found through it.
constexpr char kV2[] = R"sql(
DROP INDEX IF EXISTS agent_jobs_unfinished;
DROP INDEX IF EXISTS agent_jobs_done;
CREATE INDEX agent_jobs_by_created ON agent_jobs(created_us);
)sql";

const Schema& JournalSchema() {
  static const Schema* const kSchema = new Schema{
      0x4856414A,  // "HVAJ"
      {kV1, kV2},
      {"agent_jobs"},
  };
  return *kSchema;
}

constexpr char kCols[] =
    "job_id, type, vm_id, recovery_point_id, network_settings, phase, hv_job_id, created_us, "
    "final_status";

JournalEntry Read(const Stmt& s) {
  JournalEntry e;
  e.job_id = s.Text(0);
  e.op.type = static_cast<dr::v1::JobType>(s.Int(1));
  e.op.vm_id = s.Text(2);
  e.op.recovery_point_id = s.Text(3);
  dr::v1::HostAgentServiceSetFailoverNetworkAdapterSettingsRequest net;
  if (!s.IsNull(4) && net.ParseFromString(s.Blob(4))) {
    e.op.network_settings.assign(net.network_settings().begin(), net.network_settings().end());
  }
  e.phase = static_cast<JournalEntry::Phase>(s.Int(5));
  e.hypervisor_job_id = s.Text(6);
  e.created = absl::FromUnixMicros(s.Int(7));
  if (!s.IsNull(8)) e.final_status.ParseFromString(s.Blob(8));
  return e;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobJournal>> JobJournal::Open(const std::string& path,
                                                             const std::string& synchronous) {
  Sqlite::Options options;
  options.synchronous = synchronous;
  options.busy_timeout_ms = 200;
  auto in_use = [&path](const absl::Status& s) {
    return absl::FailedPreconditionError(absl::StrCat(
        "journal ", path, " is in use by another process (another hvagent?): ", s.message()));
  };
  // SQLITE_BUSY: a process that is not an hvagent of this version holds it.
  auto busy_is_in_use = [&in_use](const absl::Status& s) {
    return absl::IsUnavailable(s) ? in_use(s) : s;
  };
  const bool file = path != ":memory:" && !path.empty();
  // A second hvagent given the same journal (which could start a job twice)
  // is refused here, before anything is read or written.
  std::unique_ptr<FileLock> lock;
  if (file) {
    absl::StatusOr<std::unique_ptr<FileLock>> held = FileLock::TryAcquire(path + ".lock");
    if (absl::IsFailedPrecondition(held.status())) return in_use(held.status());
    if (!held.ok()) return held.status();
    lock = *std::move(held);
  }
  absl::StatusOr<std::unique_ptr<Sqlite>> db = Sqlite::Open(path, options);
  if (!db.ok()) return busy_is_in_use(db.status());
  RETURN_IF_ERROR(busy_is_in_use(Migrate(**db, JournalSchema())));
  if (file) {
    // The journal's one connection holds the file in SQLite's exclusive
    // locking mode: no file lock taken and released around each
    // transaction (four fcntl calls each, 17 per job in the acceptance
    // benchmark), the WAL index in the process's own memory.
    RETURN_IF_ERROR((*db)->Exec("PRAGMA locking_mode=EXCLUSIVE"));
    RETURN_IF_ERROR(busy_is_in_use((*db)->Exec("BEGIN EXCLUSIVE; COMMIT")));
    // Commits never checkpoint (a pause in front of a job's start at
    // SQLite's 1,000-page mark, which ten equally loaded agents on one disk
    // reached at once); the journal's thread does, every
    // kCheckpointInterval (CheckpointOnce). A WAL that grew is cut back to
    // 16 MiB.
    RETURN_IF_ERROR((*db)->Exec("PRAGMA wal_autocheckpoint = 0"));
    RETURN_IF_ERROR((*db)->Exec(absl::StrCat("PRAGMA journal_size_limit = ", int64_t{16} << 20)));
  }
  std::unique_ptr<JobJournal> journal(new JobJournal(std::move(lock), *std::move(db), file));
  if (file) {
    journal->checkpointer_ = std::thread([j = journal.get()] {
      absl::Time next_prune = absl::Now() + kPruneInterval;
      while (!j->stop_.WaitForNotificationWithTimeout(kCheckpointInterval)) {
        absl::Status s = j->CheckpointOnce();
        if (!s.ok()) spdlog::warn("journal checkpoint: {}", s.ToString());
        if (absl::Now() < next_prune) continue;
        next_prune = absl::Now() + kPruneInterval;
        absl::Duration retention;
        {
          absl::MutexLock lock(&j->mu_);
          retention = j->retention_;
        }
        if (retention <= absl::ZeroDuration()) continue;
        const absl::Time cutoff = absl::Now() - retention;
        int64_t pruned = 0;
        while (!j->stop_.HasBeenNotified()) {
          absl::StatusOr<int> n = j->PruneDone(cutoff, kPruneBatch);
          if (!n.ok()) {
            spdlog::warn("journal prune: {}", n.status().ToString());
            break;
          }
          pruned += *n;
          if (*n < kPruneBatch) break;
        }
        if (pruned > 0)
          spdlog::info("journal: pruned {} done jobs older than the retention", pruned);
      }
    });
  }
  return journal;
}

JobJournal::~JobJournal() {
  stop_.Notify();
  if (checkpointer_.joinable()) checkpointer_.join();
  // Nothing writes any more: the whole WAL goes into the database.
  if (file_) {
    absl::MutexLock lock(&mu_);
    db_->Exec("PRAGMA wal_checkpoint(TRUNCATE)").IgnoreError();
  }
}

absl::Status JobJournal::CheckpointOnce() {
  if (!file_) return absl::OkStatus();  // in memory
  absl::MutexLock lock(&mu_);
  if (!written_) return absl::OkStatus();
  return CheckpointLocked().status();  // on failure tried again next time
}

absl::StatusOr<int64_t> JobJournal::CheckpointLocked() {
  // The only connection: nothing can keep the checkpoint from copying the
  // whole WAL, and the next commit starts the WAL over.
  ASSIGN_OR_RETURN(Stmt s, db_->Prepare("PRAGMA wal_checkpoint(PASSIVE)"));
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::InternalError("wal_checkpoint returned no row");
  written_ = false;
  return s.Int(1);  // busy, log, checkpointed
}

absl::StatusOr<JournalEntry> JobJournal::Get(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      Stmt s, db_->Prepare(absl::StrCat("SELECT ", kCols, " FROM agent_jobs WHERE job_id = ?")));
  s.Bind(1, job_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("job ", job_id, " unknown to this agent"));
  return Read(s);
}

absl::Status JobJournal::Write(std::function<absl::Status(Sqlite&)> apply, size_t statements) {
  Writer w;
  w.apply = std::move(apply);
  w.statements = statements;
  std::vector<Writer*> group;
  {
    absl::MutexLock lock(&queue_mu_);
    writers_.push_back(&w);
    auto turn = [this, &w]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
      return w.done || writers_.front() == &w;
    };
    queue_mu_.Await(absl::Condition(&turn));
    if (w.done) return w.status;  // a leader committed it
    // The leader: itself and the writes queued behind it. They stay queued
    // (so that nobody else leads) until they are done.
    const size_t n = std::min(writers_.size(), kMaxGroup);
    group.assign(writers_.begin(), writers_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<absl::Status> statuses(group.size());
  absl::Status tx;
  {
    absl::MutexLock lock(&mu_);
    if (before_commit_) before_commit_(static_cast<int>(group.size()));
    written_ = true;
    Sqlite& db = *db_;  // the lambdas run under the lock held here
    if (group.size() == 1 && group[0]->statements <= 1) {
      // A lone write of one statement: that statement is its own
      // transaction (autocommit), whole or not at all; no BEGIN and COMMIT
      // around it (two statements more, per job start two such writes).
      statuses[0] = group[0]->apply(db);
      tx = db.InTransactionNow() ? absl::InternalError("journal write left a transaction open")
                                 : absl::OkStatus();
      if (!tx.ok()) RunCached(db, "ROLLBACK").IgnoreError();
      // A refused statement (a duplicate id, a full disk) is this write's
      // outcome; nothing was committed.
      if (tx.ok() && statuses[0].ok()) ++commits_;
    } else {
      const bool alone = group.size() == 1;
      tx = InTransaction(db, [&]() -> absl::Status {
        for (size_t i = 0; i < group.size(); ++i) {
          // Each write whole or not at all: a write refused (a duplicate id)
          // is that write's outcome only; one that ended the transaction
          // (disk full, I/O error) is every write's. A write of one
          // statement needs no savepoint: a statement refused leaves nothing.
          // A write alone in its transaction needs none either: the
          // transaction is the write.
          const bool savepoint = !alone && group[i]->statements > 1;
          if (savepoint) RETURN_IF_ERROR(RunCached(db, "SAVEPOINT write"));
          statuses[i] = group[i]->apply(db);
          if (alone && !statuses[i].ok()) return statuses[i];  // rolled back whole
          if (!db.InTransactionNow()) {
            return statuses[i].ok() ? absl::InternalError("journal transaction ended")
                                    : statuses[i];
          }
          if (!savepoint) continue;
          if (!statuses[i].ok()) RETURN_IF_ERROR(RunCached(db, "ROLLBACK TO write"));
          RETURN_IF_ERROR(RunCached(db, "RELEASE write"));
        }
        return absl::OkStatus();
      });
      if (tx.ok()) ++commits_;
    }
  }
  absl::MutexLock lock(&queue_mu_);
  for (size_t i = 0; i < group.size(); ++i) {
    group[i]->status = tx.ok() ? statuses[i] : tx;
    group[i]->done = true;
    writers_.pop_front();
  }
  return w.status;
}

absl::Status JobJournal::InsertPending(const std::string& job_id, const Operation& op,
                                       absl::Time now) {
  std::string net_blob;
  if (!op.network_settings.empty()) {
    dr::v1::HostAgentServiceSetFailoverNetworkAdapterSettingsRequest net;
    for (const auto& n : op.network_settings) *net.add_network_settings() = n;
    net_blob = net.SerializeAsString();
  }
  return Write([&](Sqlite& db) -> absl::Status {
    ASSIGN_OR_RETURN(
        Stmt s, db.Prepare("INSERT INTO agent_jobs(job_id, type, vm_id, recovery_point_id, "
                           "network_settings, phase, created_us) VALUES (?, ?, ?, ?, ?, 0, ?)"));
    s.Bind(1, job_id)
        .Bind(2, static_cast<int64_t>(op.type))
        .Bind(3, op.vm_id)
        .Bind(4, op.recovery_point_id);
    if (op.network_settings.empty()) {
      s.BindNull(5);
    } else {
      s.BindBlob(5, net_blob);
    }
    s.Bind(6, absl::ToUnixMicros(now));
    return s.Run();
  });
}

absl::Status JobJournal::MarkStarted(const std::string& job_id,
                                     const std::string& hypervisor_job_id) {
  return Write([&](Sqlite& db) -> absl::Status {
    ASSIGN_OR_RETURN(Stmt s, db.Prepare("UPDATE agent_jobs SET phase = 1, hv_job_id = ? WHERE "
                                        "job_id = ? AND phase < 2"));
    RETURN_IF_ERROR(s.Bind(1, hypervisor_job_id).Bind(2, job_id).Run());
    if (db.Changes() == 0) return absl::NotFoundError(absl::StrCat("job ", job_id, " not open"));
    return absl::OkStatus();
  });
}

absl::Status JobJournal::MarkDone(const std::string& job_id, const dr::v1::AgentJobStatus& status) {
  return MarkDone({{job_id, status}})[0];
}

std::vector<absl::Status> JobJournal::MarkDone(
    const std::vector<std::pair<std::string, dr::v1::AgentJobStatus>>& done) {
  std::vector<absl::Status> out(done.size());
  if (done.empty()) return out;
  absl::Status tx = Write(
      [&](Sqlite& db) -> absl::Status {
        for (size_t i = 0; i < done.size(); ++i) {
          const auto& [job_id, status] = done[i];
          ASSIGN_OR_RETURN(
              Stmt s,
              db.Prepare(  // cached; reset when `s` goes
                  "UPDATE agent_jobs SET phase = 2, final_status = ? WHERE job_id = ?"));
          RETURN_IF_ERROR(s.BindBlob(1, status.SerializeAsString()).Bind(2, job_id).Run());
          if (db.Changes() == 0)
            out[i] = absl::NotFoundError(absl::StrCat("job ", job_id, " unknown"));
        }
        return absl::OkStatus();
      },
      done.size());
  if (!tx.ok()) out.assign(done.size(), tx);
  return out;
}

absl::StatusOr<int64_t> JobJournal::WalFramesForTest() {
  absl::MutexLock lock(&mu_);
  return CheckpointLocked();
}

int64_t JobJournal::CommitsForTest() {
  absl::MutexLock lock(&mu_);
  return commits_;
}

int JobJournal::QueuedForTest() {
  absl::MutexLock lock(&queue_mu_);
  return static_cast<int>(writers_.size());
}

void JobJournal::SetBeforeCommitForTest(std::function<void(int writes)> hook) {
  absl::MutexLock lock(&mu_);
  before_commit_ = std::move(hook);
}

void JobJournal::SetRetention(absl::Duration retention) {
  absl::MutexLock lock(&mu_);
  retention_ = retention;
}

absl::StatusOr<int> JobJournal::PruneDone(absl::Time cutoff, int max_entries) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      Stmt s, db_->Prepare("DELETE FROM agent_jobs WHERE job_id IN (SELECT job_id FROM agent_jobs "
                           "WHERE phase = 2 AND created_us < ? ORDER BY created_us LIMIT ?)"));
  RETURN_IF_ERROR(
      s.Bind(1, absl::ToUnixMicros(cutoff)).Bind(2, static_cast<int64_t>(max_entries)).Run());
  const int deleted = static_cast<int>(db_->Changes());
  if (deleted > 0) written_ = true;
  return deleted;
}

absl::StatusOr<std::vector<JournalEntry>> JobJournal::ListUnfinished() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(
      Stmt s, db_->Prepare(absl::StrCat("SELECT ", kCols,
                                        " FROM agent_jobs WHERE phase < 2 ORDER BY created_us")));
  std::vector<JournalEntry> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(Read(s));
  }
  return out;
}

}  // namespace agent
}  // namespace hvdr
