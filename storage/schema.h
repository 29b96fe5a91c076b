// The store's schema, as an ordered list of migrations. The database's
// PRAGMA user_version is the number of migrations applied; opening a
// database applies the missing ones, each in its own transaction.
#ifndef HVDR_STORAGE_SCHEMA_H_
#define HVDR_STORAGE_SCHEMA_H_

#include <vector>

#include "absl/status/status.h"
#include "storage/sqlite.h"

namespace hvdr {

// Migration i (0-based) takes user_version i to i + 1. Never edit a
// migration that has shipped: append a new one.
const std::vector<const char*>& SchemaMigrations();

// The user_version of a database with every migration applied.
int LatestSchemaVersion();

// Applies migrations until user_version == `target` (default: latest).
// FAILED_PRECONDITION if the database is newer than this program knows
// (it was written by a newer release: refuse rather than corrupt it).
absl::Status MigrateSchema(Sqlite& db, int target = -1);

}  // namespace hvdr

#endif  // HVDR_STORAGE_SCHEMA_H_
