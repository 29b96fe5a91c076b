#include "storage/sqlite_requests.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/refusal.h"

namespace hvdr {

absl::StatusOr<RequestRecord> SqliteRequests::GetRequest(const std::string& request_id) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(
      Stmt s,
      conn->Prepare(
          "SELECT method, fingerprint, IFNULL(response, ''), IFNULL(job, '') FROM idempotency "
          "WHERE request_id = ?"));
  s.Bind(1, request_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("request_id ", request_id, " not seen"));
  return RequestRecord{s.Text(0), s.Text(1), s.Blob(2), s.Text(3)};
}

absl::Status SqliteRequests::PutRequest(const std::string& request_id,
                                        const RequestRecord& record) {
  if (request_id.empty()) return InvalidRecord("request_id", "MISSING", "is required");
  StoreDb::Writer w(db_);
  ASSIGN_OR_RETURN(
      Stmt s, w->Prepare("INSERT INTO idempotency(request_id, method, fingerprint, response, job) "
                         "VALUES (?, ?, ?, ?, ?)"));
  s.Bind(1, request_id)
      .Bind(2, record.method)
      .Bind(3, record.fingerprint)
      .BindBlob(4, record.response);
  if (record.job.empty()) {
    s.BindNull(5);
  } else {
    s.Bind(5, record.job);
  }
  absl::Status st = s.Run();
  if (st.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(absl::StrCat("request_id ", request_id, " already recorded"));
  }
  db_->NoteWrite(st);
  return st;
}

absl::StatusOr<std::string> SqliteRequests::LookupIn(Sqlite& db, const RequestKey& key) {
  ASSIGN_OR_RETURN(
      Stmt s,
      db.Prepare(
          "SELECT method, fingerprint, IFNULL(job, '') FROM idempotency WHERE request_id = ?"));
  s.Bind(1, key.request_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError("request_id not seen");
  if (s.Text(0) != key.method || s.Text(1) != key.fingerprint) {
    return Refuse(
        absl::StatusCode::kInvalidArgument, Refusal::kRequestReused, key.request_id, s.Text(0),
        absl::StrCat("\"", key.request_id, "\" was already used for a different request (",
                     s.Text(0), "); use a new request_id"));
  }
  return s.Text(2);
}

absl::Status SqliteRequests::SeenIn(Sqlite& db, const RequestKey* key, bool* replayed) {
  *replayed = false;
  if (key == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> seen = LookupIn(db, *key);
  if (seen.ok()) {
    *replayed = true;
    return absl::OkStatus();
  }
  if (seen.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  return seen.status();
}

absl::Status SqliteRequests::PutIn(Sqlite& db, const RequestKey& key, const std::string& job) {
  ASSIGN_OR_RETURN(
      Stmt s,
      db.Prepare(
          "INSERT INTO idempotency(request_id, method, fingerprint, job) VALUES (?, ?, ?, ?)"));
  s.Bind(1, key.request_id).Bind(2, key.method).Bind(3, key.fingerprint);
  if (job.empty()) {
    s.BindNull(4);
  } else {
    s.Bind(4, job);
  }
  return s.Run();
}

absl::Status SqliteRequests::RemoveIn(Sqlite& db, const RequestKey& key, const std::string& job) {
  // Matched here rather than in SQL: the fingerprint is opaque bytes.
  absl::StatusOr<std::string> seen = LookupIn(db, key);
  // Not recorded, or recorded for another request or another job: not
  // this reservation, nothing to remove.
  const absl::StatusCode code = seen.status().code();
  if (code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(seen.status());
  if (*seen != job) return absl::OkStatus();
  ASSIGN_OR_RETURN(Stmt s, db.Prepare("DELETE FROM idempotency WHERE request_id = ?"));
  return s.Bind(1, key.request_id).Run();
}

absl::StatusOr<std::string> SqliteRequests::LookupResourceIn(Sqlite& db, const RequestKey& key) {
  RETURN_IF_ERROR(LookupIn(db, key).status());
  ASSIGN_OR_RETURN(Stmt s,
                   db.Prepare("SELECT IFNULL(response, '') FROM idempotency WHERE request_id = ?"));
  s.Bind(1, key.request_id);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError("request_id not seen");
  return s.Blob(0);
}

absl::Status SqliteRequests::PutResourceIn(Sqlite& db, const RequestKey& key,
                                           const std::string& resource) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare("INSERT INTO idempotency(request_id, method, fingerprint, "
                                      "response) VALUES (?, ?, ?, ?)"));
  return s.Bind(1, key.request_id)
      .Bind(2, key.method)
      .Bind(3, key.fingerprint)
      .BindBlob(4, resource)
      .Run();
}

}  // namespace hvdr
