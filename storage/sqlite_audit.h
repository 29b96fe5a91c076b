// The audit aggregate on SQLite: one row per event, its sequence the
// name, the filtered columns beside the serialized event.
#ifndef HVDR_STORAGE_SQLITE_AUDIT_H_
#define HVDR_STORAGE_SQLITE_AUDIT_H_

#include <vector>

#include "storage/audit_store.h"
#include "storage/store_db.h"

namespace hvdr {

class SqliteAudit {
 public:
  explicit SqliteAudit(StoreDb* db) : db_(db) {}
  absl::Status AppendAuditEvents(const std::vector<dr::v1::AuditEvent>& events);
  // Appends `event` inside the caller's transaction on `db` (a job's
  // creation writes its call's event with it).
  static absl::Status AppendIn(Sqlite& db, const dr::v1::AuditEvent& event);
  absl::StatusOr<Page<dr::v1::AuditEvent>> ListAuditEvents(const AuditFilter& filter,
                                                           const PageRequest& page);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_AUDIT_H_
