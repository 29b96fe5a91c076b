// The idempotency aggregate on SQLite: one row per request id, with the
// request's method and fingerprint, the answer of a non-job mutation or the
// job a request acted on. The In() functions run inside a transaction of
// another repository, so that a mutation and its request id commit together.
#ifndef HVDR_STORAGE_SQLITE_REQUESTS_H_
#define HVDR_STORAGE_SQLITE_REQUESTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "db/sqlite.h"
#include "storage/store_db.h"
#include "storage/store_types.h"

namespace hvdr {

class SqliteRequests {
 public:
  explicit SqliteRequests(StoreDb* db) : db_(db) {}

  absl::StatusOr<RequestRecord> GetRequest(const std::string& request_id);
  absl::Status PutRequest(const std::string& request_id, const RequestRecord& record);

  // The following REQUIRE `db` to be the writer inside a transaction.

  // The stored row for key.request_id, checked against the key: NOT_FOUND
  // when absent, kRequestReused when method or fingerprint differ; on OK,
  // the job it names ("" for non-job requests).
  static absl::StatusOr<std::string> LookupIn(Sqlite& db, const RequestKey& key);
  // *replayed when `key` (may be null: none) was recorded for the same
  // request; kRequestReused when for another one; OK and !*replayed when
  // never.
  static absl::Status SeenIn(Sqlite& db, const RequestKey* key, bool* replayed);
  // Records `key`, naming `job` ("" for none).
  static absl::Status PutIn(Sqlite& db, const RequestKey& key, const std::string& job);
  // Removes the record of key.request_id if it matches `key` and names
  // `job`; OK, removing nothing, otherwise.
  static absl::Status RemoveIn(Sqlite& db, const RequestKey& key, const std::string& job);
  // As LookupIn and PutIn, for a request that acted on a resource other
  // than a job (a plan, an execution): its name is kept as the answer.
  static absl::StatusOr<std::string> LookupResourceIn(Sqlite& db, const RequestKey& key);
  static absl::Status PutResourceIn(Sqlite& db, const RequestKey& key, const std::string& resource);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_REQUESTS_H_
