// Writes of the jobs aggregate on SQLite (storage/job_store.h has the
// contract): creating a job with its first event, claiming its VM and
// recording its request id in one transaction; applying an agent's status
// with its event; group commits; retention. Reads are in
// storage/sqlite_job_queries.h.
#ifndef HVDR_STORAGE_SQLITE_JOBS_H_
#define HVDR_STORAGE_SQLITE_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/sqlite.h"
#include "dr/v1/resources.pb.h"
#include "storage/store_db.h"
#include "storage/store_types.h"

namespace hvdr {

class SqliteJobs {
 public:
  explicit SqliteJobs(StoreDb* db) : db_(db) {}

  absl::StatusOr<CreateJobResult> CreateJob(const dr::v1::Job& job, const RequestKey& key,
                                            const std::string& operation);
  absl::StatusOr<CreateJobResult> ReserveJobRequest(const std::string& job, const RequestKey& key);
  absl::Status ReleaseJobRequest(const std::string& job, const RequestKey& key);
  absl::StatusOr<dr::v1::Job> UpdateJob(const JobUpdate& update);
  std::vector<WriteResult> Write(const std::vector<WriteOp>& ops);
  absl::StatusOr<int> PruneJobs(absl::Time ended_before, int max_jobs);

 private:
  // REQUIRE: `db` is the writer, in a transaction.
  static absl::Status CreateJobIn(Sqlite& db, const dr::v1::Job& job, const RequestKey& key,
                                  const std::string& operation, CreateJobResult* result);
  // *replayed (may be null) is set when update.request had been seen.
  static absl::StatusOr<dr::v1::Job> UpdateJobIn(Sqlite& db, const JobUpdate& update,
                                                 bool* replayed = nullptr);

  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_JOBS_H_
