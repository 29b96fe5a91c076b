// The checks a database file passes before it is opened for writing: what
// is at the path (nothing, a directory, a file we may not read or write),
// whether it is an SQLite file at all, whole, of the expected schema (PRAGMA
// application_id, or the schema's tables before it was stamped) and no
// newer than this program's. Everything here reads; nothing is written to the file,
// so a file that is refused is left exactly as it was.
#ifndef HVDR_DB_DB_FILE_H_
#define HVDR_DB_DB_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "db/migrations.h"

namespace hvdr {

// The payload URL under which a refusal below carries its problem: one of
// the names that follow. The layer above says it in its own terms (drserver
// turns each into an error detail and an exit code).
inline constexpr absl::string_view kDbProblemUrl = "hvdr.db/problem";
inline constexpr char kDbIsDirectory[] = "DB_IS_DIRECTORY";
inline constexpr char kDbNotAFile[] = "DB_NOT_A_FILE";
inline constexpr char kDbUnreadable[] = "DB_UNREADABLE";
inline constexpr char kDbReadOnly[] = "DB_READ_ONLY";
inline constexpr char kDbDirectoryMissing[] = "DB_DIRECTORY_MISSING";
inline constexpr char kDbDirectoryReadOnly[] = "DB_DIRECTORY_READ_ONLY";
inline constexpr char kDbNotSqlite[] = "DB_NOT_SQLITE";
inline constexpr char kDbTruncated[] = "DB_TRUNCATED";
inline constexpr char kDbCorrupt[] = "DB_CORRUPT";
inline constexpr char kDbForeign[] = "DB_FOREIGN";
inline constexpr char kDbNewerSchema[] = "DB_NEWER_SCHEMA";
inline constexpr char kDbInUse[] = "DB_IN_USE";  // (by another process: db/file_lock.h)

// A status of `code` and `message` carrying `problem`.
absl::Status DbProblem(absl::StatusCode code, absl::string_view problem, absl::string_view message);
// The problem `status` carries; "" when none.
std::string DbProblemOf(const absl::Status& status);

// OK when `path` (a file path, not ":memory:") may be opened and migrated to
// `schema`: it does not exist yet (its directory must be writable), is
// empty, or is a database of `schema` (its application_id, or before the
// stamp its legacy tables) no newer than schema.latest(). Every refusal
// names the path and the problem, which it carries (DbProblemOf):
//   PERMISSION_DENIED  DB_UNREADABLE, DB_READ_ONLY, DB_DIRECTORY_READ_ONLY
//   NOT_FOUND          DB_DIRECTORY_MISSING
//   INVALID_ARGUMENT   DB_IS_DIRECTORY, DB_NOT_A_FILE
//   DATA_LOSS          DB_NOT_SQLITE, DB_TRUNCATED, DB_CORRUPT
//   FAILED_PRECONDITION DB_IN_USE (locked by another process),
//                      DB_FOREIGN (another program's SQLite database),
//                      DB_NEWER_SCHEMA (written by a newer release)
// Reads the file through SQLite (read-only; immutable when there is no
// -wal file, so no -shm is created beside it either).
absl::Status CheckDatabaseFile(const std::string& path, const Schema& schema);

}  // namespace hvdr

#endif  // HVDR_DB_DB_FILE_H_
