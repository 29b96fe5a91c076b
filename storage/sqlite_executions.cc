#include "storage/sqlite_executions.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/refusal.h"
#include "storage/sqlite_requests.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

using dr::v1::ExecutionStep;
using dr::v1::Plan;
using dr::v1::PlanExecution;

namespace {

absl::StatusOr<PlanExecution> ReadExecutionIn(Sqlite& db, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare("SELECT execution FROM plan_executions WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  return DecodeRow<PlanExecution>(s.Blob(0), "execution");
}

constexpr char kHoldJob[] = "INSERT OR IGNORE INTO execution_jobs(job, execution) VALUES (?, ?)";

// Records that `execution`, not ended, holds the job `step` names, so that
// retention keeps the job (Store::PruneJobs). `hold` is kHoldJob prepared.
absl::Status HoldJobIn(Stmt& hold, const std::string& execution, const ExecutionStep& step) {
  if (step.job().empty()) return absl::OkStatus();
  hold.Reset();
  return hold.Bind(1, step.job()).Bind(2, execution).Run();
}

std::string PlanOfExecution(const std::string& execution) {
  const size_t at = execution.find("/executions/");
  return at == std::string::npos ? "" : execution.substr(0, at);
}

}  // namespace

absl::StatusOr<std::string> SqliteExecutions::ActiveOfPlanIn(Sqlite& db, const std::string& plan) {
  ASSIGN_OR_RETURN(Stmt s,
                   db.Prepare("SELECT name FROM plan_executions WHERE plan = ? AND terminal = 0 "
                              "ORDER BY seq LIMIT 1"));
  s.Bind(1, plan);
  ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? s.Text(0) : std::string();
}

absl::Status SqliteExecutions::DeleteOfPlanIn(Sqlite& db, const std::string& plan) {
  for (const char* sql : {"DELETE FROM execution_steps WHERE execution IN "
                          "(SELECT name FROM plan_executions WHERE plan = ?)",
                          "DELETE FROM execution_vms WHERE execution IN "
                          "(SELECT name FROM plan_executions WHERE plan = ?)",
                          "DELETE FROM execution_jobs WHERE execution IN "
                          "(SELECT name FROM plan_executions WHERE plan = ?)",
                          "DELETE FROM plan_executions WHERE plan = ?"}) {
    ASSIGN_OR_RETURN(Stmt s, db.Prepare(sql));
    RETURN_IF_ERROR(s.Bind(1, plan).Run());
  }
  return absl::OkStatus();
}

absl::StatusOr<Recorded<PlanExecution>> SqliteExecutions::CreateExecution(
    const PlanExecution& execution, const Plan& plan, const std::vector<ExecutionStep>& steps,
    const std::vector<std::string>& vm_ids, const RequestKey& key) {
  const std::string plan_name = PlanOfExecution(execution.name());
  if (plan_name.empty()) {
    return InvalidRecord("name", "MALFORMED_NAME", "must be plans/{plan}/executions/{execution}");
  }
  const bool terminal = IsTerminalExecutionState(execution.state());
  StoreDb::Writer w(db_);
  Recorded<PlanExecution> out;
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    absl::StatusOr<std::string> seen = SqliteRequests::LookupResourceIn(*w, key);
    if (seen.ok()) {
      out.replayed = true;
      ASSIGN_OR_RETURN(out.value, ReadExecutionIn(*w, *seen));
      return absl::OkStatus();
    }
    if (seen.status().code() != absl::StatusCode::kNotFound) return seen.status();
    RETURN_IF_ERROR(CheckExists(*w, "plans", plan_name));
    if (!terminal) {
      ASSIGN_OR_RETURN(Stmt held,
                       w->Prepare("SELECT execution FROM execution_vms WHERE vm_id = ?"));
      ASSIGN_OR_RETURN(Stmt claim,
                       w->Prepare("INSERT INTO execution_vms(vm_id, execution) VALUES (?, ?)"));
      for (const std::string& vm : vm_ids) {
        held.Reset();
        held.Bind(1, vm);
        ASSIGN_OR_RETURN(bool row, held.Step());
        if (row) {
          return Refuse(absl::StatusCode::kAborted, Refusal::kVmInExecution, vm, held.Text(0),
                        absl::StrCat("VM ", vm, " is in execution ", held.Text(0),
                                     ", which has not ended; one execution at a time per VM"));
        }
        claim.Reset();
        RETURN_IF_ERROR(claim.Bind(1, vm).Bind(2, execution.name()).Run());
      }
    }
    PlanExecution e = execution;
    e.set_version(1);
    e.set_steps_total(static_cast<int32_t>(steps.size()));
    ASSIGN_OR_RETURN(Stmt ins,
                     w->Prepare("INSERT INTO plan_executions(name, plan, terminal, execution, "
                                "plan_as_run) VALUES (?, ?, ?, ?, ?)"));
    absl::Status st = ins.Bind(1, e.name())
                          .Bind(2, plan_name)
                          .Bind(3, terminal ? 1 : 0)
                          .BindBlob(4, e.SerializeAsString())
                          .BindBlob(5, plan.SerializeAsString())
                          .Run();
    if (st.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(e.name(), " exists already"));
    }
    RETURN_IF_ERROR(st);
    ASSIGN_OR_RETURN(Stmt step, w->Prepare("INSERT INTO execution_steps(execution, idx, step) "
                                           "VALUES (?, ?, ?)"));
    ASSIGN_OR_RETURN(Stmt hold, w->Prepare(kHoldJob));
    for (size_t i = 0; i < steps.size(); ++i) {
      step.Reset();
      RETURN_IF_ERROR(step.Bind(1, e.name())
                          .Bind(2, static_cast<int64_t>(i))
                          .BindBlob(3, steps[i].SerializeAsString())
                          .Run());
      if (!terminal) RETURN_IF_ERROR(HoldJobIn(hold, e.name(), steps[i]));
    }
    out.value = std::move(e);
    return SqliteRequests::PutResourceIn(*w, key, execution.name());
  });
  db_->NoteWrite(status);
  RETURN_IF_ERROR(status);
  return out;
}

absl::StatusOr<PlanExecution> SqliteExecutions::GetExecution(const std::string& name) {
  StoreDb::Reader conn(db_);
  return ReadExecutionIn(*conn, name);
}

absl::StatusOr<Plan> SqliteExecutions::GetExecutionPlan(const std::string& name) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare("SELECT plan_as_run FROM plan_executions WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " does not exist"));
  return DecodeRow<Plan>(s.Blob(0), "plan of an execution");
}

absl::StatusOr<Page<PlanExecution>> SqliteExecutions::ListExecutions(const std::string& plan,
                                                                     const PageRequest& page) {
  int64_t before = INT64_MAX;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, db_->tokens().Parse("executions", plan, page.page_token));
    if (!absl::SimpleAtoi(key, &before))
      return BadPageToken("INVALID_PAGE_TOKEN", "the token's position is not readable");
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  RETURN_IF_ERROR(CheckExists(*conn, "plans", plan));
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare("SELECT seq, execution FROM plan_executions WHERE plan "
                                         "= ? AND seq < ? ORDER BY seq DESC LIMIT ?"));
  s.Bind(1, plan).Bind(2, before).Bind(3, size + 1);
  // The key of the last item is its seq, kept beside it while collecting.
  std::vector<int64_t> seqs;
  bool corrupt = false;
  auto read = [&](const Stmt& row) {
    PlanExecution e;
    corrupt = corrupt || !e.ParseFromString(row.Blob(1));
    seqs.push_back(row.Int(0));
    return e;
  };
  ASSIGN_OR_RETURN(
      Page<PlanExecution> out,
      CollectPage<PlanExecution>(s, size, db_->tokens(), "executions", plan, read,
                                 [&](const PlanExecution&) { return absl::StrCat(seqs.back()); }));
  if (corrupt) return absl::DataLossError("a stored execution does not parse");
  return out;
}

absl::StatusOr<Page<ExecutionStep>> SqliteExecutions::ListExecutionSteps(
    const std::string& execution, const PageRequest& page) {
  int64_t after = -1;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, db_->tokens().Parse("steps", execution, page.page_token));
    if (!absl::SimpleAtoi(key, &after))
      return BadPageToken("INVALID_PAGE_TOKEN", "the token's position is not readable");
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  RETURN_IF_ERROR(CheckExists(*conn, "plan_executions", execution));
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare("SELECT idx, step FROM execution_steps WHERE execution "
                                         "= ? AND idx > ? ORDER BY idx LIMIT ?"));
  s.Bind(1, execution).Bind(2, after).Bind(3, size + 1);
  std::vector<int64_t> idx;
  bool corrupt = false;
  auto read = [&](const Stmt& row) {
    ExecutionStep e;
    corrupt = corrupt || !e.ParseFromString(row.Blob(1));
    idx.push_back(row.Int(0));
    return e;
  };
  ASSIGN_OR_RETURN(
      Page<ExecutionStep> out,
      CollectPage<ExecutionStep>(s, size, db_->tokens(), "steps", execution, read,
                                 [&](const ExecutionStep&) { return absl::StrCat(idx.back()); }));
  if (corrupt) return absl::DataLossError("a stored step does not parse");
  return out;
}

absl::StatusOr<std::vector<ExecutionStep>> SqliteExecutions::GetExecutionSteps(
    const std::string& execution) {
  StoreDb::Reader conn(db_);
  RETURN_IF_ERROR(CheckExists(*conn, "plan_executions", execution));
  ASSIGN_OR_RETURN(
      Stmt s, conn->Prepare("SELECT step FROM execution_steps WHERE execution = ? ORDER BY idx"));
  s.Bind(1, execution);
  std::vector<ExecutionStep> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(ExecutionStep step, DecodeRow<ExecutionStep>(s.Blob(0), "step"));
    out.push_back(std::move(step));
  }
  return out;
}

absl::StatusOr<std::vector<PlanExecution>> SqliteExecutions::ListActiveExecutions() {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare("SELECT execution FROM plan_executions WHERE terminal = "
                                         "0 ORDER BY seq"));
  std::vector<PlanExecution> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(PlanExecution e, DecodeRow<PlanExecution>(s.Blob(0), "execution"));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<Recorded<PlanExecution>> SqliteExecutions::UpdateExecution(
    const PlanExecution& execution, const std::vector<std::pair<int, ExecutionStep>>& steps,
    const RequestKey* key) {
  const bool terminal = IsTerminalExecutionState(execution.state());
  StoreDb::Writer w(db_);
  Recorded<PlanExecution> out;
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    if (key != nullptr) {
      absl::StatusOr<std::string> seen = SqliteRequests::LookupResourceIn(*w, *key);
      if (seen.ok()) {
        out.replayed = true;
        ASSIGN_OR_RETURN(out.value, ReadExecutionIn(*w, execution.name()));
        return absl::OkStatus();
      }
      if (seen.status().code() != absl::StatusCode::kNotFound) return seen.status();
    }
    ASSIGN_OR_RETURN(PlanExecution stored, ReadExecutionIn(*w, execution.name()));
    if (IsTerminalExecutionState(stored.state())) {
      return Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kExecutionEnded,
                    execution.name(), dr::v1::ExecutionState_Name(stored.state()),
                    absl::StrCat(execution.name(), " has ended (",
                                 dr::v1::ExecutionState_Name(stored.state()), ")"));
    }
    PlanExecution e = execution;
    e.set_version(stored.version() + 1);
    e.set_steps_total(stored.steps_total());
    ASSIGN_OR_RETURN(Stmt step, w->Prepare("UPDATE execution_steps SET step = ? WHERE execution "
                                           "= ? AND idx = ?"));
    ASSIGN_OR_RETURN(Stmt hold, w->Prepare(kHoldJob));
    for (const auto& [idx, s] : steps) {
      if (idx < 0 || idx >= stored.steps_total()) {
        return InvalidRecord("steps", "OUT_OF_RANGE",
                             absl::StrCat("step index ", idx, " is outside the execution's ",
                                          stored.steps_total(), " steps"));
      }
      step.Reset();
      RETURN_IF_ERROR(step.BindBlob(1, s.SerializeAsString())
                          .Bind(2, e.name())
                          .Bind(3, static_cast<int64_t>(idx))
                          .Run());
      // A retried step's earlier job stays held too, until the end.
      if (!terminal) RETURN_IF_ERROR(HoldJobIn(hold, e.name(), s));
    }
    ASSIGN_OR_RETURN(Stmt upd, w->Prepare("UPDATE plan_executions SET terminal = ?, execution = ? "
                                          "WHERE name = ?"));
    RETURN_IF_ERROR(
        upd.Bind(1, terminal ? 1 : 0).BindBlob(2, e.SerializeAsString()).Bind(3, e.name()).Run());
    if (terminal) {
      for (const char* sql : {"DELETE FROM execution_vms WHERE execution = ?",
                              "DELETE FROM execution_jobs WHERE execution = ?"}) {
        ASSIGN_OR_RETURN(Stmt release, w->Prepare(sql));
        RETURN_IF_ERROR(release.Bind(1, e.name()).Run());
      }
    }
    if (key != nullptr) RETURN_IF_ERROR(SqliteRequests::PutResourceIn(*w, *key, execution.name()));
    out.value = std::move(e);
    return absl::OkStatus();
  });
  db_->NoteWrite(status);
  RETURN_IF_ERROR(status);
  return out;
}

}  // namespace hvdr
