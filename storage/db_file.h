// The checks a database file passes before the store opens it for writing:
// what is at the path (nothing, a directory, a file we may not read or
// write), whether it is an SQLite file at all, whole, written by hvdr
// (PRAGMA application_id, or an older hvdr's tables) and no newer than this
// program's schema. Everything here reads; nothing is written to the file,
// so a file that is refused is left exactly as it was.
#ifndef HVDR_STORAGE_DB_FILE_H_
#define HVDR_STORAGE_DB_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace hvdr {

// Reasons (dr.v1.ErrorDetail.reason, field "db") of the refusals below.
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
inline constexpr char kDbInUse[] = "DB_IN_USE";

// OK when `path` (a file path, not ":memory:") may be opened and migrated by
// this program: it does not exist yet (its directory must be writable), is
// empty, or is an hvdr database no newer than LatestSchemaVersion(). Every
// refusal names the path and the reason, with the reason above in an
// ErrorDetail (field "db"):
//   PERMISSION_DENIED  DB_UNREADABLE, DB_READ_ONLY, DB_DIRECTORY_READ_ONLY
//   NOT_FOUND          DB_DIRECTORY_MISSING
//   INVALID_ARGUMENT   DB_IS_DIRECTORY, DB_NOT_A_FILE
//   DATA_LOSS          DB_NOT_SQLITE, DB_TRUNCATED, DB_CORRUPT
//   FAILED_PRECONDITION DB_FOREIGN (another program's SQLite database),
//                      DB_NEWER_SCHEMA (written by a newer hvdr)
// Reads the file through SQLite (read-only; immutable when there is no
// -wal file, so no -shm is created beside it either).
absl::Status CheckDatabaseFile(const std::string& path);

}  // namespace hvdr

#endif  // HVDR_STORAGE_DB_FILE_H_
