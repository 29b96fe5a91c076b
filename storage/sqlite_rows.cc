#include "storage/sqlite_rows.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "storage/refusal.h"

namespace hvdr {

int EffectivePageSize(int32_t requested) {
  constexpr int kDefaultPageSize = 100;
  constexpr int kMaxPageSize = 1000;
  if (requested <= 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

std::string JsonIntArray(const std::vector<int>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ","), "]");
}

absl::Status CheckExists(Sqlite& db, absl::string_view table, const std::string& name) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare(absl::StrCat("SELECT 1 FROM ", table, " WHERE name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view field, absl::string_view value,
                          absl::string_view prefix) {
  if (!absl::StartsWith(value, prefix) || value.size() == prefix.size()) {
    return InvalidRecord(field, "MALFORMED_NAME",
                         absl::StrCat("must look like ", prefix, "{id}, got \"", value, "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return InvalidRecord(field, "MISSING", "is required");
  if (id.size() > 256 || absl::StrContains(id, '/')) {
    return InvalidRecord(
        field, "MALFORMED_ID",
        absl::StrCat("must be 1-256 characters without '/', got \"", id.substr(0, 64), "\""));
  }
  return absl::OkStatus();
}

int JobStateRank(dr::v1::JobState s) {
  switch (s) {
    case dr::v1::JOB_STATE_NEW: return 0;
    case dr::v1::JOB_STATE_STARTING: return 1;
    case dr::v1::JOB_STATE_RUNNING:
    case dr::v1::JOB_STATE_SUSPENDED:
    case dr::v1::JOB_STATE_SHUTTING_DOWN: return 2;
    default: return 3;
  }
}

bool IsEndedJobState(dr::v1::JobState s) {
  return s >= dr::v1::JOB_STATE_COMPLETED && s <= dr::v1::JOB_STATE_SERVICE;
}

}  // namespace hvdr
