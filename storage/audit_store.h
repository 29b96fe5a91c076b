// The audit aggregate: an append-only trail of mutating calls
// (dr.v1.AuditEvent). Nothing updates or deletes an event.
#ifndef HVDR_STORAGE_AUDIT_STORE_H_
#define HVDR_STORAGE_AUDIT_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dr/v1/audit_service.pb.h"
#include "storage/store_types.h"

namespace hvdr {

struct AuditFilter {
  std::string identity;  // "" : any
  std::string resource;  // "" : any
  std::string method;    // "" : any; the full method or its last part
  absl::Time start = absl::InfinitePast();
  absl::Time end = absl::InfiniteFuture();
};

// The contract of storage/store.h applies (thread-safety, atomicity,
// durability, errors, ownership).
class AuditStore {
 public:
  AuditStore() = default;
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;
  virtual ~AuditStore() = default;

  // Appends `events` in one transaction, in order; each gets its name
  // (auditEvents/{sequence}) from the store. All or none are durable.
  virtual absl::Status AppendAuditEvents(const std::vector<dr::v1::AuditEvent>& events) = 0;
  // Newest first, matching every field of `filter`.
  virtual absl::StatusOr<Page<dr::v1::AuditEvent>> ListAuditEvents(const AuditFilter& filter,
                                                                   const PageRequest& page) = 0;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_AUDIT_STORE_H_
