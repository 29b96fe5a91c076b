// The store's schema, as an ordered list of migrations. The database's
// PRAGMA user_version is the number of migrations applied; opening a
// database applies the missing ones, each in its own transaction.
#ifndef HVDR_STORAGE_SCHEMA_H_
#define HVDR_STORAGE_SCHEMA_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "storage/sqlite.h"

namespace hvdr {

// PRAGMA application_id of an hvdr database: "HVDR". Set when a database
// is created; a database of an older hvdr (0, with hvdr's tables) gets it
// at its first open by this version.
inline constexpr int32_t kHvdrApplicationId = 0x48564452;

// Migration i (0-based) takes user_version i to i + 1. Never edit a
// migration that has shipped: append a new one.
const std::vector<const char*>& SchemaMigrations();

// The user_version of a database with every migration applied.
int LatestSchemaVersion();

// Applies migrations until user_version == `target` (default: latest) and
// stamps kHvdrApplicationId. FAILED_PRECONDITION, writing nothing, if the
// database is newer than this program knows (it was written by a newer
// release: refuse rather than corrupt it) or carries another program's
// application_id. (storage/db_file.h checks a file more thoroughly before
// it is opened for writing.)
absl::Status MigrateSchema(Sqlite& db, int target = -1);

}  // namespace hvdr

#endif  // HVDR_STORAGE_SCHEMA_H_
