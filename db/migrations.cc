#include "db/migrations.h"

#include "absl/strings/str_cat.h"

namespace hvdr {

absl::Status Migrate(Sqlite& db, const Schema& schema, int target) {
  if (target < 0) target = schema.latest();
  absl::StatusOr<int64_t> version = db.QueryInt("PRAGMA user_version");
  if (!version.ok()) return version.status();
  if (*version > schema.latest()) {
    return absl::FailedPreconditionError(absl::StrCat("database schema version ", *version,
                                                      " is newer than this program's (",
                                                      schema.latest(), "); refusing to open it"));
  }
  absl::StatusOr<int64_t> app_id = db.QueryInt("PRAGMA application_id");
  if (!app_id.ok()) return app_id.status();
  if (*app_id != 0 && *app_id != schema.application_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("application_id ", *app_id,
                     " is not this program's: another program's database; refusing to open it"));
  }
  const std::string stamp = absl::StrCat("PRAGMA application_id = ", schema.application_id);
  if (*app_id == 0 && *version >= target) {
    absl::Status s = InTransaction(db, [&]() { return db.Exec(stamp); });
    if (!s.ok()) return s;
  }
  for (int v = static_cast<int>(*version); v < target; ++v) {
    absl::Status s = InTransaction(db, [&]() -> absl::Status {
      absl::Status step = db.Exec(schema.migrations[v]);
      if (!step.ok()) return step;
      if (auto code = schema.code.find(v); code != schema.code.end()) {
        step = code->second(db);
        if (!step.ok()) return step;
      }
      step = db.Exec(stamp);
      if (!step.ok()) return step;
      return db.Exec(absl::StrCat("PRAGMA user_version = ", v + 1));
    });
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("schema migration ", v, " -> ", v + 1, " failed: ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace hvdr
