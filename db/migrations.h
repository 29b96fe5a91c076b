// Versioned schemas for SQLite databases: a schema is an ordered list of
// migrations, and a database's PRAGMA user_version is the number of them
// applied. Opening a database applies the missing ones, each in its own
// transaction, and stamps the schema's PRAGMA application_id, so that a
// database of another program is never migrated into.
#ifndef HVDR_DB_MIGRATIONS_H_
#define HVDR_DB_MIGRATIONS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "db/sqlite.h"

namespace hvdr {

struct Schema {
  // PRAGMA application_id of a database of this schema (non-zero).
  int32_t application_id = 0;
  // Migration i (0-based) takes user_version i to i + 1. Never edit a
  // migration that has shipped: append a new one.
  std::vector<const char*> migrations;
  // Tables whose presence marks a database of this schema written before
  // the application_id stamp (application_id 0). Empty: every such database
  // with tables is another program's.
  std::vector<std::string> legacy_tables;
  // Code that completes migration i (keyed by i), for what SQL cannot do
  // (e.g. filling a new table from serialized rows): it runs after the
  // migration's SQL, in its transaction, and its error fails the migration
  // like the SQL's would. Never edit one that has shipped either.
  std::map<int, absl::Status (*)(Sqlite& db)> code;

  // The user_version of a database with every migration applied.
  int latest() const { return static_cast<int>(migrations.size()); }
};

// Applies migrations of `schema` until user_version == `target` (default:
// latest) and stamps its application_id. FAILED_PRECONDITION, writing
// nothing, if the database is newer than `schema` (it was written by a newer
// release: refuse rather than corrupt it) or carries another
// application_id. (db/db_file.h checks a file more thoroughly before it is
// opened for writing.)
absl::Status Migrate(Sqlite& db, const Schema& schema, int target = -1);

}  // namespace hvdr

#endif  // HVDR_DB_MIGRATIONS_H_
