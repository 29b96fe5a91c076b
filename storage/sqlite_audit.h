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
  absl::StatusOr<Page<dr::v1::AuditEvent>> ListAuditEvents(const AuditFilter& filter,
                                                           const PageRequest& page);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_AUDIT_H_
