#include "storage/schema.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "dr/v1/plan_execution.pb.h"

namespace hvdr {

namespace {

// Version 1: topology and jobs.
constexpr char kV1[] = R"sql(
CREATE TABLE sites (
  name TEXT PRIMARY KEY,
  display_name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE hosts (
  name TEXT PRIMARY KEY,
  site TEXT NOT NULL REFERENCES sites(name),
  agent_address TEXT NOT NULL,
  reachability INTEGER NOT NULL DEFAULT 0,
  last_contact_us INTEGER NOT NULL DEFAULT 0,
  last_sync_us INTEGER NOT NULL DEFAULT 0,
  stale INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  create_us INTEGER NOT NULL
);
CREATE INDEX hosts_by_site ON hosts(site, name);
CREATE TABLE vms (
  name TEXT PRIMARY KEY,
  host TEXT NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,
  vm_id TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  replication_mode INTEGER NOT NULL DEFAULT 0,
  replication_state INTEGER NOT NULL DEFAULT 0,
  replication_health INTEGER NOT NULL DEFAULT 0,
  enabled_state INTEGER NOT NULL DEFAULT 0,
  last_replication_us INTEGER NOT NULL DEFAULT 0,
  pending_bytes INTEGER NOT NULL DEFAULT 0,
  latency_s INTEGER NOT NULL DEFAULT 0,
  UNIQUE (host, vm_id)
);
CREATE INDEX vms_by_id ON vms(vm_id);
CREATE INDEX vms_by_display_name ON vms(display_name);
CREATE TABLE relationships (
  vm TEXT NOT NULL REFERENCES vms(name) ON DELETE CASCADE,
  idx TEXT NOT NULL,
  primary_host TEXT NOT NULL DEFAULT '',
  replica_host TEXT NOT NULL DEFAULT '',
  interval_s INTEGER NOT NULL DEFAULT 0,
  state INTEGER NOT NULL DEFAULT 0,
  health INTEGER NOT NULL DEFAULT 0,
  last_replication_us INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (vm, idx)
);
CREATE TABLE recovery_points (
  name TEXT PRIMARY KEY,
  vm TEXT NOT NULL REFERENCES vms(name) ON DELETE CASCADE,
  type INTEGER NOT NULL DEFAULT 0,
  create_us INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX recovery_points_by_vm ON recovery_points(vm, create_us DESC);
CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  type INTEGER NOT NULL,
  state INTEGER NOT NULL,
  percent INTEGER NOT NULL DEFAULT 0,
  return_code INTEGER NOT NULL DEFAULT 4096,
  error_code INTEGER NOT NULL DEFAULT 0,
  error_summary TEXT NOT NULL DEFAULT '',
  error_description TEXT NOT NULL DEFAULT '',
  create_us INTEGER NOT NULL,
  start_us INTEGER NOT NULL DEFAULT 0,
  end_us INTEGER NOT NULL DEFAULT 0,
  vm TEXT NOT NULL,
  recovery_point TEXT NOT NULL DEFAULT '',
  requester TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  host TEXT NOT NULL
);
CREATE INDEX jobs_by_vm ON jobs(vm, seq);
CREATE INDEX jobs_by_host ON jobs(host, seq);
CREATE INDEX jobs_by_state ON jobs(state, seq);
CREATE TABLE job_events (
  job TEXT NOT NULL REFERENCES jobs(name),
  sequence INTEGER NOT NULL,
  event_us INTEGER NOT NULL,
  state INTEGER NOT NULL,
  percent INTEGER NOT NULL,
  return_code INTEGER NOT NULL,
  error_code INTEGER NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job, sequence)
) WITHOUT ROWID;
)sql";

// Version 2: idempotency records, VM claims by running jobs, job versions.
constexpr char kV2[] = R"sql(
CREATE TABLE idempotency (
  request_id TEXT PRIMARY KEY,
  method TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  job TEXT REFERENCES jobs(name),
  response BLOB
) WITHOUT ROWID;
ALTER TABLE vms ADD COLUMN active_job TEXT REFERENCES jobs(name);
CREATE UNIQUE INDEX vms_by_active_job ON vms(active_job) WHERE active_job IS NOT NULL;
ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN update_us INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET update_us = create_us;
CREATE INDEX jobs_active ON jobs(seq) WHERE state < 7;
)sql";

// Version 3: each job keeps the request the server sends its agent, so a
// restarted server can re-dispatch it by job id.
constexpr char kV3[] = R"sql(
ALTER TABLE jobs ADD COLUMN operation BLOB;
)sql";

// Version 4: secrets of this database (the page token key), created at its
// first open by SqliteStore.
constexpr char kV4[] = R"sql(
CREATE TABLE secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// Version 5: when each VM copy's state fields were observed (so a sync read
// before a job's end cannot overwrite the state the job recorded), and the
// host name each host's agent reported at its first good sync.
constexpr char kV5[] = R"sql(
ALTER TABLE vms ADD COLUMN state_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN hypervisor_name TEXT NOT NULL DEFAULT '';
)sql";

// Version 6: the request_ids recorded for a job, found by job, so that
// retention (Store::PruneJobs) deletes them with it without a scan.
constexpr char kV6[] = R"sql(
CREATE INDEX idempotency_by_job ON idempotency(job) WHERE job IS NOT NULL;
)sql";

// Recovery plans (storage/sqlite_plans.h): the plan as a serialized
// dr.v1.Plan; executions with the plan as run, their steps (serialized
// dr.v1.ExecutionStep, by position) and their VM claims.
constexpr char kV7[] = R"sql(
CREATE TABLE plans (
  name TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  etag TEXT NOT NULL,
  plan BLOB NOT NULL
);
CREATE TABLE plan_executions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  plan TEXT NOT NULL REFERENCES plans(name),
  terminal INTEGER NOT NULL,
  execution BLOB NOT NULL,
  plan_as_run BLOB NOT NULL
);
CREATE INDEX plan_executions_by_plan ON plan_executions(plan, seq);
CREATE INDEX plan_executions_active ON plan_executions(seq) WHERE terminal = 0;
CREATE TABLE execution_steps (
  execution TEXT NOT NULL,
  idx INTEGER NOT NULL,
  step BLOB NOT NULL,
  PRIMARY KEY (execution, idx)
) WITHOUT ROWID;
CREATE TABLE execution_vms (
  vm_id TEXT PRIMARY KEY,
  execution TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX execution_vms_by_execution ON execution_vms(execution);
)sql";

// Version 8: the audit trail (append-only; dr.v1.AuditEvent per row).
constexpr char kV8[] = R"sql(
CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time_us INTEGER NOT NULL,
  identity TEXT NOT NULL,
  resource TEXT NOT NULL,
  method TEXT NOT NULL,
  event BLOB NOT NULL
);
CREATE INDEX audit_events_by_identity ON audit_events(identity, seq);
CREATE INDEX audit_events_by_resource ON audit_events(resource, seq);
CREATE INDEX audit_events_by_time ON audit_events(time_us);
)sql";

// Version 9: the jobs named by the steps of executions not ended, which
// retention (Store::PruneJobs) keeps; an execution's rows go when it ends.
// No foreign key: a step may name its job before the job writer stores it.
constexpr char kV9[] = R"sql(
CREATE TABLE execution_jobs (
  job TEXT NOT NULL,
  execution TEXT NOT NULL,
  PRIMARY KEY (job, execution)
) WITHOUT ROWID;
CREATE INDEX execution_jobs_by_execution ON execution_jobs(execution);
)sql";

// Version 9's rows for the executions not ended when it is applied: their
// steps are serialized dr.v1.ExecutionStep, which SQL cannot read.
absl::Status HoldJobsOfActiveExecutions(Sqlite& db) {
  ASSIGN_OR_RETURN(Stmt steps,
                   db.Prepare("SELECT s.execution, s.step FROM execution_steps s JOIN "
                              "plan_executions e ON e.name = s.execution WHERE e.terminal = 0"));
  ASSIGN_OR_RETURN(Stmt hold, db.Prepare("INSERT OR IGNORE INTO execution_jobs(job, execution) "
                                         "VALUES (?, ?)"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, steps.Step());
    if (!row) return absl::OkStatus();
    dr::v1::ExecutionStep step;
    if (!step.ParseFromString(steps.Blob(1))) {
      return absl::DataLossError(
          absl::StrCat("a stored step of ", steps.Text(0), " does not parse"));
    }
    if (step.job().empty()) continue;
    hold.Reset();
    RETURN_IF_ERROR(hold.Bind(1, step.job()).Bind(2, steps.Text(0)).Run());
  }
}

}  // namespace

const Schema& StoreSchema() {
  static const Schema* const kSchema = new Schema{
      kHvdrApplicationId,
      {kV1, kV2, kV3, kV4, kV5, kV6, kV7, kV8, kV9},
      // Tables of a database written before the application_id stamp.
      {"sites", "hosts", "vms", "jobs", "job_events"},
      // Code completing a migration, by its index (kV9 is migration 8).
      {{8, &HoldJobsOfActiveExecutions}},
  };
  return *kSchema;
}

int LatestSchemaVersion() { return StoreSchema().latest(); }

absl::Status MigrateSchema(Sqlite& db, int target) { return Migrate(db, StoreSchema(), target); }

}  // namespace hvdr
