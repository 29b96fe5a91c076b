#include "storage/sqlite_audit.h"

#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/page_token.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

absl::Status SqliteAudit::AppendIn(Sqlite& db, const dr::v1::AuditEvent& e) {
  ASSIGN_OR_RETURN(Stmt ins, db.Prepare("INSERT INTO audit_events(time_us, identity, resource, "
                                        "method, event) VALUES (?, ?, ?, ?, ?)"));
  // The name is the row's sequence: stored without it, set on read.
  dr::v1::AuditEvent stored = e;
  stored.clear_name();
  return ins.Bind(1, ToMicros(e.time()))
      .Bind(2, e.identity())
      .Bind(3, e.resource())
      .Bind(4, e.method())
      .BindBlob(5, stored.SerializeAsString())
      .Run();
}

absl::Status SqliteAudit::AppendAuditEvents(const std::vector<dr::v1::AuditEvent>& events) {
  if (events.empty()) return absl::OkStatus();
  StoreDb::Writer w(db_);
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    for (const dr::v1::AuditEvent& e : events) RETURN_IF_ERROR(AppendIn(*w, e));
    return absl::OkStatus();
  });
  // A failed append says the store cannot write (health NOT_SERVING); a
  // small append that fits where a job's write did not must not say it can.
  if (!status.ok()) db_->NoteWrite(status);
  return status;
}

absl::StatusOr<Page<dr::v1::AuditEvent>> SqliteAudit::ListAuditEvents(const AuditFilter& filter,
                                                                      const PageRequest& page) {
  const int64_t start_us =
      filter.start == absl::InfinitePast() ? INT64_MIN : TimeToMicros(filter.start);
  const int64_t end_us =
      filter.end == absl::InfiniteFuture() ? INT64_MAX : TimeToMicros(filter.end);
  std::string query;
  AppendQueryField(&query, filter.identity);
  AppendQueryField(&query, filter.resource);
  AppendQueryField(&query, filter.method);
  AppendQueryField(&query, absl::StrCat(start_us));
  AppendQueryField(&query, absl::StrCat(end_us));
  int64_t before = INT64_MAX;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, db_->tokens().Parse("audit", query, page.page_token));
    if (!absl::SimpleAtoi(key, &before)) return BadPageToken("INVALID_PAGE_TOKEN", "malformed");
  }
  const int size = EffectivePageSize(page.page_size);
  std::string sql =
      "SELECT seq, event FROM audit_events WHERE seq < ?1 AND time_us >= ?2 AND time_us < ?3";
  if (!filter.identity.empty()) absl::StrAppend(&sql, " AND identity = ?4");
  if (!filter.resource.empty()) absl::StrAppend(&sql, " AND resource = ?5");
  if (!filter.method.empty()) {
    // The full method, or its last part ("/dr.v1.X/Method" ends in "/Method").
    absl::StrAppend(&sql, filter.method[0] == '/' ? " AND method = ?6"
                                                  : " AND method LIKE '%/' || ?6 ESCAPE '\\'");
  }
  absl::StrAppend(&sql, " ORDER BY seq DESC LIMIT ?7");
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(sql));
  s.Bind(1, before).Bind(2, start_us).Bind(3, end_us);
  if (!filter.identity.empty()) s.Bind(4, filter.identity);
  if (!filter.resource.empty()) s.Bind(5, filter.resource);
  if (!filter.method.empty()) {
    std::string m;
    for (char c : filter.method) {
      if (filter.method[0] != '/' && (c == '%' || c == '_' || c == '\\')) m.push_back('\\');
      m.push_back(c);
    }
    s.Bind(6, m);
  }
  s.Bind(7, size + 1);
  Page<dr::v1::AuditEvent> out;
  int64_t last_seq = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = db_->tokens().Make("audit", query, absl::StrCat(last_seq));
      break;
    }
    last_seq = s.Int(0);
    ASSIGN_OR_RETURN(dr::v1::AuditEvent e, DecodeRow<dr::v1::AuditEvent>(s.Blob(1), "audit event"));
    e.set_name(absl::StrCat("auditEvents/", last_seq));
    out.items.push_back(std::move(e));
  }
  return out;
}

}  // namespace hvdr
