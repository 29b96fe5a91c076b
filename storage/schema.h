// The store's schema, as an ordered list of migrations. The database's
// PRAGMA user_version is the number of migrations applied; opening a
// database applies the missing ones, each in its own transaction.
#ifndef HVDR_STORAGE_SCHEMA_H_
#define HVDR_STORAGE_SCHEMA_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "db/migrations.h"
#include "db/sqlite.h"

namespace hvdr {

// PRAGMA application_id of an hvdr database: "HVDR". Set when a database
// is created; a database of an older hvdr (0, with hvdr's tables) gets it
// at its first open by this version.
inline constexpr int32_t kHvdrApplicationId = 0x48564452;

// The store's schema (db/migrations.h). Never edit a migration that has
// shipped: append a new one.
const Schema& StoreSchema();

// The user_version of a database with every migration applied.
int LatestSchemaVersion();

// Migrate(db, StoreSchema(), target) (db/migrations.h).
absl::Status MigrateSchema(Sqlite& db, int target = -1);

}  // namespace hvdr

#endif  // HVDR_STORAGE_SCHEMA_H_
