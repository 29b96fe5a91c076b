#include "storage/sqlite_job_queries.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

using dr::v1::Job;
using dr::v1::JobEvent;

namespace {

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

}  // namespace

absl::StatusOr<Job> SqliteJobQueries::GetJobOn(Sqlite& db, const std::string& name) {
  static const std::string* const kSql =
      new std::string(absl::StrCat("SELECT ", kJobCols, " FROM jobs WHERE name = ?"));
  ASSIGN_OR_RETURN(Stmt s, db.Prepare(*kSql));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return ReadJob(s);
}

absl::StatusOr<std::string> SqliteJobQueries::GetJobOperation(const std::string& name) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare("SELECT IFNULL(operation, '') FROM jobs WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return s.Blob(0);
}

absl::StatusOr<Job> SqliteJobQueries::GetJob(const std::string& name) {
  StoreDb::Reader conn(db_);
  return GetJobOn(*conn, name);
}

absl::StatusOr<Page<Job>> SqliteJobQueries::ListJobs(const JobFilter& filter,
                                                     const PageRequest& page) {
  std::string query;
  AppendQueryField(&query, JsonIntArray(ToInts(filter.states)));
  AppendQueryField(&query, filter.virtual_machine);
  AppendQueryField(&query, filter.host);
  AppendQueryField(&query, JsonIntArray(ToInts(filter.types)));
  int64_t before = INT64_MAX;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, db_->tokens().Parse("jobs", query, page.page_token));
    if (!absl::SimpleAtoi(key, &before)) {
      return BadPageToken("INVALID_PAGE_TOKEN", "malformed");
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
  StoreDb::Reader conn(db_);
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
      out.next_page_token = db_->tokens().Make("jobs", query, absl::StrCat(last_seq));
      break;
    }
    out.items.push_back(ReadJob(s));
    last_seq = s.Int(18);
  }
  return out;
}

absl::StatusOr<std::vector<Job>> SqliteJobQueries::ListActiveJobs() {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat("SELECT ", kJobCols,
                                                      " FROM jobs WHERE state < 7 ORDER BY seq")));
  return CollectAll<Job>(s, ReadJob);
}

absl::StatusOr<Page<JobEvent>> SqliteJobQueries::ListJobEvents(const std::string& job,
                                                               const PageRequest& page) {
  int64_t after = 0;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, db_->tokens().Parse("events", job, page.page_token));
    if (!absl::SimpleAtoi(key, &after)) {
      return BadPageToken("INVALID_PAGE_TOKEN", "malformed");
    }
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  RETURN_IF_ERROR(GetJobOn(*conn, job).status());
  ASSIGN_OR_RETURN(
      Stmt s,
      conn->Prepare("SELECT sequence, event_us, state, percent, return_code, error_code, message "
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
  return CollectPage<JobEvent>(s, size, db_->tokens(), "events", job, read,
                               [](const JobEvent& e) { return absl::StrCat(e.sequence()); });
}

}  // namespace hvdr
