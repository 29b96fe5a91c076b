#include "storage/sqlite_jobs.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/refusal.h"
#include "storage/sqlite_audit.h"
#include "storage/sqlite_inventory.h"
#include "storage/sqlite_job_queries.h"
#include "storage/sqlite_requests.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

using dr::v1::Job;

namespace {

bool IsKnownJobState(int s) { return s >= 2 && s <= 11; }

}  // namespace

absl::Status SqliteJobs::CreateJobIn(Sqlite& db, const Job& job, const RequestKey& key,
                                     const std::string& operation, CreateJobResult* result) {
  RETURN_IF_ERROR(ValidateName("name", job.name(), "jobs/"));
  RETURN_IF_ERROR(ValidateName("virtual_machine", job.virtual_machine(), "hosts/"));
  RETURN_IF_ERROR(ValidateName("host", job.host(), "hosts/"));
  if (key.request_id.empty()) return InvalidRecord("request_id", "MISSING", "is required");
  if (!IsKnownJobState(job.state()) || IsEndedJobState(job.state())) {
    return InvalidRecord("state", "INVALID_STATE",
                         "a new job must be in a non-terminal state (2-6)");
  }
  absl::StatusOr<std::string> seen = SqliteRequests::LookupIn(db, key);
  if (seen.ok()) {
    ASSIGN_OR_RETURN(result->job, SqliteJobQueries::GetJobOn(db, *seen));
    result->replayed = true;
    return absl::OkStatus();
  }
  if (seen.status().code() != absl::StatusCode::kNotFound) return seen.status();

  const int64_t now_us = ToMicros(job.create_time());
  ASSIGN_OR_RETURN(
      Stmt ins,
      db.Prepare("INSERT INTO jobs(name, type, state, percent, return_code, error_code, "
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
  // After the insert (the claim references the job); a refused claim is
  // rolled back with it by the caller's transaction or savepoint.
  RETURN_IF_ERROR(SqliteInventory::ClaimIn(db, job.virtual_machine(), job.name()));
  RETURN_IF_ERROR(SqliteRequests::PutIn(db, key, job.name()));
  ASSIGN_OR_RETURN(
      Stmt ev,
      db.Prepare("INSERT INTO job_events(job, sequence, event_us, state, percent, return_code, "
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

absl::StatusOr<CreateJobResult> SqliteJobs::CreateJob(const Job& job, const RequestKey& key,
                                                      const std::string& operation) {
  StoreDb::Writer w(db_);
  CreateJobResult result;
  absl::Status written =
      InTransaction(*w, [&]() { return CreateJobIn(*w, job, key, operation, &result); });
  db_->NoteWrite(written);
  RETURN_IF_ERROR(written);
  return result;
}

std::vector<WriteResult> SqliteJobs::Write(const std::vector<WriteOp>& ops) {
  std::vector<WriteResult> results(ops.size());
  StoreDb::Writer w(db_);
  absl::Status committed = InTransaction(*w, [&]() -> absl::Status {
    for (size_t i = 0; i < ops.size(); ++i) {
      RETURN_IF_ERROR(RunCached(*w, "SAVEPOINT op"));
      WriteResult& r = results[i];
      if (ops[i].kind == WriteOp::Kind::kCreateJob) {
        CreateJobResult created;
        r.status = CreateJobIn(*w, ops[i].job, ops[i].key, ops[i].operation, &created);
        r.job = std::move(created.job);
        r.replayed = created.replayed;
        if (r.status.ok() && ops[i].audit.has_value()) {
          dr::v1::AuditEvent event = *ops[i].audit;
          event.set_status_code(0);
          event.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
          event.set_created(r.job.name());
          r.status = SqliteAudit::AppendIn(*w, event);
          if (r.status.ok()) r.audited = std::move(event);
        }
      } else {
        absl::StatusOr<Job> updated = UpdateJobIn(*w, ops[i].update, &r.replayed);
        r.status = updated.status();
        if (updated.ok()) r.job = *std::move(updated);
      }
      // A refused operation leaves no trace; the others go on.
      if (!r.status.ok()) RETURN_IF_ERROR(RunCached(*w, "ROLLBACK TO op"));
      RETURN_IF_ERROR(RunCached(*w, "RELEASE op"));
    }
    return absl::OkStatus();
  });
  db_->NoteWrite(committed);
  if (!committed.ok()) {
    for (WriteResult& r : results) {
      r.status = committed;
      r.job.Clear();
      r.audited.reset();
    }
  }
  return results;
}

absl::StatusOr<Job> SqliteJobs::UpdateJobIn(Sqlite& db, const JobUpdate& u, bool* replayed) {
  bool seen = false;
  RETURN_IF_ERROR(
      SqliteRequests::SeenIn(db, u.request.request_id.empty() ? nullptr : &u.request, &seen));
  if (replayed != nullptr) *replayed = seen;
  if (seen) return SqliteJobQueries::GetJobOn(db, u.job);
  if (!IsKnownJobState(u.state)) {
    return InvalidRecord("state", "INVALID_STATE",
                         absl::StrCat("JobState must be 2-11, got ", u.state));
  }
  if (u.percent_complete > 100) {
    return InvalidRecord("percent_complete", "OUT_OF_RANGE",
                         absl::StrCat("must be 0-100, got ", u.percent_complete));
  }
  ASSIGN_OR_RETURN(Job current, SqliteJobQueries::GetJobOn(db, u.job));
  if (IsEndedJobState(current.state())) {
    return Refuse(
        absl::StatusCode::kFailedPrecondition, Refusal::kJobEnded, u.job,
        dr::v1::JobState_Name(current.state()),
        absl::StrCat(u.job, " already ended in state ", dr::v1::JobState_Name(current.state())));
  }
  if (u.only_if_return_code.has_value() && current.return_code() != *u.only_if_return_code) {
    return Refuse(
        absl::StatusCode::kFailedPrecondition, Refusal::kJobOutcomeKnown, u.job,
        absl::StrCat(static_cast<int>(current.return_code())),
        absl::StrCat(u.job, " reports return code ", static_cast<int>(current.return_code()),
                     ", not ", static_cast<int>(*u.only_if_return_code)));
  }
  dr::v1::JobState state = u.state;
  uint32_t percent = u.percent_complete;
  if (JobStateRank(u.state) < JobStateRank(current.state())) {
    if (!u.keep_state_if_behind) {
      return Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kJobStateBehind, u.job,
                    dr::v1::JobState_Name(current.state()),
                    absl::StrCat(u.job, " cannot go from ", dr::v1::JobState_Name(current.state()),
                                 " to ", dr::v1::JobState_Name(u.state)));
    }
    state = current.state();
    percent = std::max(percent, current.percent_complete());
  }
  const int64_t event_us = TimeToMicros(u.event_time);
  const int64_t start_us = TimeToMicros(u.start_time);
  const int64_t end_us = TimeToMicros(u.end_time);
  const int64_t version = current.version() + 1;
  ASSIGN_OR_RETURN(
      Stmt up,
      db.Prepare("UPDATE jobs SET state = ?1, percent = ?2, return_code = ?3, error_code = ?4, "
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
  ASSIGN_OR_RETURN(
      Stmt ev,
      db.Prepare("INSERT INTO job_events(job, sequence, event_us, state, percent, return_code, "
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
  // A job claims its own VM copy; its end releases it (with the VM's state
  // when the status has it, in one statement).
  const std::string release = IsEndedJobState(state) ? u.job : std::string();
  if (u.has_vm_state) {
    // The VM may have been removed with its host meanwhile: that is fine.
    absl::Status vm = SqliteInventory::UpdateVmStateIn(db, current.virtual_machine(), u.vm_state,
                                                       u.event_time, release);
    if (!vm.ok() && vm.code() != absl::StatusCode::kNotFound) return vm;
  } else if (!release.empty()) {
    RETURN_IF_ERROR(SqliteInventory::ReleaseIn(db, current.virtual_machine(), release));
  }
  if (!u.request.request_id.empty()) RETURN_IF_ERROR(SqliteRequests::PutIn(db, u.request, u.job));
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

absl::StatusOr<CreateJobResult> SqliteJobs::ReserveJobRequest(const std::string& job,
                                                              const RequestKey& key) {
  if (key.request_id.empty()) return InvalidRecord("request_id", "MISSING", "is required");
  StoreDb::Writer w(db_);
  CreateJobResult result;
  absl::Status written = InTransaction(*w, [&]() -> absl::Status {
    // Decided before the job's state: a retry answers the job the first
    // call named, even once that job has ended.
    absl::StatusOr<std::string> seen = SqliteRequests::LookupIn(*w, key);
    if (seen.ok()) {
      ASSIGN_OR_RETURN(result.job, SqliteJobQueries::GetJobOn(*w, *seen));
      result.replayed = true;
      return absl::OkStatus();
    }
    if (seen.status().code() != absl::StatusCode::kNotFound) return seen.status();
    ASSIGN_OR_RETURN(result.job, SqliteJobQueries::GetJobOn(*w, job));
    if (IsEndedJobState(result.job.state())) {
      return Refuse(
          absl::StatusCode::kFailedPrecondition, Refusal::kJobEnded, job,
          dr::v1::JobState_Name(result.job.state()),
          absl::StrCat(job, " already ended in ", dr::v1::JobState_Name(result.job.state())));
    }
    return SqliteRequests::PutIn(*w, key, job);
  });
  db_->NoteWrite(written);
  RETURN_IF_ERROR(written);
  return result;
}

absl::Status SqliteJobs::ReleaseJobRequest(const std::string& job, const RequestKey& key) {
  StoreDb::Writer w(db_);
  absl::Status written = InTransaction(*w, [&]() -> absl::Status {
    absl::StatusOr<Job> current = SqliteJobQueries::GetJobOn(*w, job);
    if (current.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    RETURN_IF_ERROR(current.status());
    // The request that created the job is never a reservation.
    if (current->request_id() == key.request_id) return absl::OkStatus();
    return SqliteRequests::RemoveIn(*w, key, job);
  });
  db_->NoteWrite(written);
  return written;
}

absl::StatusOr<Job> SqliteJobs::UpdateJob(const JobUpdate& update) {
  StoreDb::Writer w(db_);
  Job out;
  absl::Status written = InTransaction(*w, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(out, UpdateJobIn(*w, update));
    return absl::OkStatus();
  });
  db_->NoteWrite(written);
  RETURN_IF_ERROR(written);
  return out;
}

absl::StatusOr<int> SqliteJobs::PruneJobs(absl::Time ended_before, int max_jobs) {
  if (max_jobs <= 0) return absl::InvalidArgumentError("max_jobs must be positive");
  StoreDb::Writer w(db_);
  int pruned = 0;
  RETURN_IF_ERROR(InTransaction(*w, [&]() -> absl::Status {
    std::vector<std::string> names;
    {
      // Oldest first (seq order): the jobs past the retention are the first
      // ones left, so the scan stops after about max_jobs rows (plus the
      // jobs executions not ended hold, one index probe each).
      ASSIGN_OR_RETURN(
          Stmt s,
          w->Prepare("SELECT name FROM jobs WHERE state >= 7 AND state <= 11 AND update_us < ? "
                     "AND NOT EXISTS (SELECT 1 FROM execution_jobs WHERE job = jobs.name) "
                     "ORDER BY seq LIMIT ?"));
      s.Bind(1, absl::ToUnixMicros(ended_before)).Bind(2, static_cast<int64_t>(max_jobs));
      while (true) {
        ASSIGN_OR_RETURN(bool row, s.Step());
        if (!row) break;
        names.push_back(s.Text(0));
      }
    }
    for (const std::string& name : names) {
      for (const char* sql :
           {"DELETE FROM job_events WHERE job = ?", "DELETE FROM idempotency WHERE job = ?",
            "DELETE FROM jobs WHERE name = ?"}) {
        ASSIGN_OR_RETURN(Stmt s, w->Prepare(sql));
        RETURN_IF_ERROR(s.Bind(1, name).Run());
      }
    }
    pruned = static_cast<int>(names.size());
    return absl::OkStatus();
  }));
  return pruned;
}

}  // namespace hvdr
