// The idempotency aggregate: the answer recorded for each request id of a
// mutation that is not a job.
#ifndef HVDR_STORAGE_REQUEST_STORE_H_
#define HVDR_STORAGE_REQUEST_STORE_H_

#include <string>
#include <vector>

#include "storage/store_types.h"

namespace hvdr {

// The contract of storage/store.h applies (thread-safety, atomicity,
// durability, errors, ownership).
class RequestStore {
 public:
  RequestStore() = default;
  RequestStore(const RequestStore&) = delete;
  RequestStore& operator=(const RequestStore&) = delete;
  virtual ~RequestStore() = default;

  // ---- Idempotency for non-job mutations ----

  // NOT_FOUND if request_id was never recorded.
  virtual absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id) = 0;
  // ALREADY_EXISTS if request_id is taken. record.job, when set, names the
  // job the request acted on (e.g. CancelJob's), and must be a stored job.
  virtual absl::Status PutRequest(const std::string& request_id, const RequestRecord& record) = 0;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_REQUEST_STORE_H_
