#include "storage/sqlite_plans.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/refusal.h"
#include "storage/sqlite_executions.h"
#include "storage/sqlite_requests.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

using dr::v1::Plan;

namespace {

absl::StatusOr<Plan> ReadPlanIn(Sqlite& db, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare("SELECT plan FROM plans WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  return DecodeRow<Plan>(s.Blob(0), "plan");
}

// Writes `plan` as its version `version`, stamped `now`.
absl::StatusOr<Plan> WritePlanIn(Sqlite& db, Plan plan, int64_t version, absl::Time now,
                                 bool insert) {
  plan.set_version(version);
  plan.set_etag(absl::StrCat(version, "-", absl::ToUnixMicros(now)));
  ToProto(now, plan.mutable_update_time());
  if (insert) ToProto(now, plan.mutable_create_time());
  ASSIGN_OR_RETURN(Stmt s, db.Prepare(insert ? "INSERT INTO plans(version, etag, plan, name) "
                                               "VALUES (?, ?, ?, ?)"
                                             : "UPDATE plans SET version = ?, etag = ?, plan = ? "
                                               "WHERE name = ?"));
  absl::Status st = s.Bind(1, version)
                        .Bind(2, plan.etag())
                        .BindBlob(3, plan.SerializeAsString())
                        .Bind(4, plan.name())
                        .Run();
  if (st.code() == absl::StatusCode::kAlreadyExists) {
    return Refuse(absl::StatusCode::kAlreadyExists, Refusal::kPlanExists, plan.name(), "",
                  absl::StrCat(plan.name(), " exists already"));
  }
  RETURN_IF_ERROR(st);
  return plan;
}

absl::Status CheckEtag(const Plan& stored, const std::string& etag) {
  if (etag.empty() || etag == stored.etag()) return absl::OkStatus();
  return Refuse(absl::StatusCode::kAborted, Refusal::kEtagMismatch, stored.name(), stored.etag(),
                absl::StrCat(stored.name(), " has changed since it was read (etag \"", etag,
                             "\", now \"", stored.etag(), "\", version ", stored.version(),
                             "); read it again and re-apply the change"));
}

// The first non-terminal execution of `plan`, or "".
// When `key` was recorded: out->replayed, out->value the plan as it now
// is; kRequestReused when it was recorded for another request.
absl::Status ReplayIn(Sqlite& db, const RequestKey& key, Recorded<Plan>* out) {
  absl::StatusOr<std::string> seen = SqliteRequests::LookupResourceIn(db, key);
  if (seen.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
  RETURN_IF_ERROR(seen.status());
  out->replayed = true;
  ASSIGN_OR_RETURN(out->value, ReadPlanIn(db, *seen));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Recorded<Plan>> SqlitePlans::CreatePlan(const Plan& plan, absl::Time now,
                                                       const RequestKey& key) {
  RETURN_IF_ERROR(ValidateName("name", plan.name(), "plans/"));
  StoreDb::Writer w(db_);
  Recorded<Plan> out;
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    RETURN_IF_ERROR(ReplayIn(*w, key, &out));
    if (out.replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(out.value, WritePlanIn(*w, plan, 1, now, /*insert=*/true));
    return SqliteRequests::PutResourceIn(*w, key, plan.name());
  });
  db_->NoteWrite(status);
  RETURN_IF_ERROR(status);
  return out;
}

absl::StatusOr<Recorded<Plan>> SqlitePlans::UpdatePlan(const Plan& plan, const std::string& etag,
                                                       absl::Time now, const RequestKey& key) {
  StoreDb::Writer w(db_);
  Recorded<Plan> out;
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    RETURN_IF_ERROR(ReplayIn(*w, key, &out));
    if (out.replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(Plan stored, ReadPlanIn(*w, plan.name()));
    RETURN_IF_ERROR(CheckEtag(stored, etag));
    Plan next = plan;
    *next.mutable_create_time() = stored.create_time();
    ASSIGN_OR_RETURN(out.value, WritePlanIn(*w, next, stored.version() + 1, now, false));
    return SqliteRequests::PutResourceIn(*w, key, plan.name());
  });
  db_->NoteWrite(status);
  RETURN_IF_ERROR(status);
  return out;
}

absl::StatusOr<Plan> SqlitePlans::GetPlan(const std::string& name) {
  StoreDb::Reader conn(db_);
  return ReadPlanIn(*conn, name);
}

absl::StatusOr<Page<Plan>> SqlitePlans::ListPlans(const PageRequest& page) {
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, db_->tokens().Parse("plans", "", page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s,
                   conn->Prepare("SELECT plan FROM plans WHERE name > ? ORDER BY name LIMIT ?"));
  s.Bind(1, after).Bind(2, size + 1);
  Page<Plan> out;
  bool corrupt = false;
  auto read = [&](const Stmt& row) {
    Plan p;
    corrupt = corrupt || !p.ParseFromString(row.Blob(0));
    return p;
  };
  ASSIGN_OR_RETURN(out, CollectPage<Plan>(s, size, db_->tokens(), "plans", "", read,
                                          [](const Plan& p) { return p.name(); }));
  if (corrupt) return absl::DataLossError("a stored plan does not parse");
  return out;
}

absl::StatusOr<bool> SqlitePlans::DeletePlan(const std::string& name, const std::string& etag,
                                             const RequestKey& key) {
  StoreDb::Writer w(db_);
  bool replayed = false;
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    RETURN_IF_ERROR(SqliteRequests::SeenIn(*w, &key, &replayed));
    if (replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(Plan stored, ReadPlanIn(*w, name));
    RETURN_IF_ERROR(CheckEtag(stored, etag));
    ASSIGN_OR_RETURN(std::string active, SqliteExecutions::ActiveOfPlanIn(*w, name));
    if (!active.empty()) {
      return Refuse(
          absl::StatusCode::kFailedPrecondition, Refusal::kPlanBusy, name, active,
          absl::StrCat(name, " has execution ", active, " running; cancel it or wait for its end"));
    }
    RETURN_IF_ERROR(SqliteExecutions::DeleteOfPlanIn(*w, name));
    ASSIGN_OR_RETURN(Stmt del, w->Prepare("DELETE FROM plans WHERE name = ?"));
    RETURN_IF_ERROR(del.Bind(1, name).Run());
    return SqliteRequests::PutResourceIn(*w, key, name);
  });
  db_->NoteWrite(status);
  RETURN_IF_ERROR(status);
  return replayed;
}

}  // namespace hvdr
