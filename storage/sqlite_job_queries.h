// Reads of the jobs aggregate on SQLite (storage/job_store.h has the
// contract): one job, filtered pages newest first, the jobs still running,
// a job's events oldest first.
#ifndef HVDR_STORAGE_SQLITE_JOB_QUERIES_H_
#define HVDR_STORAGE_SQLITE_JOB_QUERIES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/sqlite.h"
#include "dr/v1/resources.pb.h"
#include "storage/store_db.h"
#include "storage/store_types.h"

namespace hvdr {

class SqliteJobQueries {
 public:
  explicit SqliteJobQueries(StoreDb* db) : db_(db) {}

  absl::StatusOr<dr::v1::Job> GetJob(const std::string& name);
  absl::StatusOr<std::string> GetJobOperation(const std::string& name);
  absl::StatusOr<Page<dr::v1::Job>> ListJobs(const JobFilter& filter, const PageRequest& page);
  absl::StatusOr<std::vector<dr::v1::Job>> ListActiveJobs();
  absl::StatusOr<Page<dr::v1::JobEvent>> ListJobEvents(const std::string& job,
                                                       const PageRequest& page);

  // Job `name` as stored, read on `db` (a reader, or the writer inside a
  // transaction). NOT_FOUND for an unknown job.
  static absl::StatusOr<dr::v1::Job> GetJobOn(Sqlite& db, const std::string& name);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_JOB_QUERIES_H_
