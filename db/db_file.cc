#include "db/db_file.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hvdr {

namespace {

// "database <path>: <why>", with the problem attached.
absl::Status Refuse(absl::StatusCode code, absl::string_view problem, const std::string& path,
                    absl::string_view why) {
  return DbProblem(code, problem, absl::StrCat("database ", path, ": ", why));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The directory must take the -wal and -shm files SQLite keeps beside the
// database (and the lock file), or a new database.
absl::Status CheckDirectory(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Refuse(absl::StatusCode::kNotFound, kDbDirectoryMissing, path,
                  absl::StrCat("directory ", dir, " does not exist"));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return Refuse(absl::StatusCode::kPermissionDenied, kDbDirectoryReadOnly, path,
                  absl::StrCat("directory ", dir, " is not writable (", strerror(errno),
                               "): the database's -wal, -shm and .lock files live beside it"));
  }
  return absl::OkStatus();
}

// A URI for sqlite3_open_v2 with SQLITE_OPEN_URI: the path with '%', '?'
// and '#' escaped.
std::string ReadOnlyUri(const std::string& path, bool immutable) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      absl::StrAppendFormat(&uri, "%%%02X", static_cast<unsigned char>(c));
    } else {
      uri.push_back(c);
    }
  }
  absl::StrAppend(&uri, "?mode=ro", immutable ? "&immutable=1" : "");
  return uri;
}

uint32_t BigEndian(const unsigned char* p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

class ReadOnlyDb {
 public:
  ~ReadOnlyDb() { sqlite3_close(db_); }
  sqlite3* db_ = nullptr;
};

// The rows of a one-column query; the SQLite result code on failure.
int QueryColumn(sqlite3* db, const char* sql, std::vector<std::string>* out) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    out->push_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

}  // namespace

absl::Status DbProblem(absl::StatusCode code, absl::string_view problem,
                       absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kDbProblemUrl, absl::Cord(problem));
  return s;
}

std::string DbProblemOf(const absl::Status& status) {
  absl::optional<absl::Cord> problem = status.GetPayload(kDbProblemUrl);
  return problem.has_value() ? std::string(*problem) : std::string();
}

absl::Status CheckDatabaseFile(const std::string& path, const Schema& schema) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return CheckDirectory(path);  // a new database
    return Refuse(absl::StatusCode::kPermissionDenied, kDbUnreadable, path,
                  absl::StrCat("cannot be read: ", strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return Refuse(absl::StatusCode::kInvalidArgument, kDbIsDirectory, path,
                  "is a directory, not a database file");
  }
  if (!S_ISREG(st.st_mode)) {
    return Refuse(absl::StatusCode::kInvalidArgument, kDbNotAFile, path, "is not a regular file");
  }
  if (access(path.c_str(), R_OK) != 0) {
    return Refuse(absl::StatusCode::kPermissionDenied, kDbUnreadable, path,
                  absl::StrCat("cannot be read: ", strerror(errno)));
  }
  if (st.st_size > 0) {
    // Without a -wal file the database file is all there is: immutable
    // reads it without creating a -shm beside it.
    ReadOnlyDb ro;
    struct stat wal_st;
    const bool has_wal = stat((path + "-wal").c_str(), &wal_st) == 0;
    const bool immutable = !has_wal;
    int rc = sqlite3_open_v2(ReadOnlyUri(path, immutable).c_str(), &ro.db_,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      return Refuse(absl::StatusCode::kPermissionDenied, kDbUnreadable, path,
                    absl::StrCat("cannot be opened: ", sqlite3_errstr(rc)));
    }
    // The 100-byte header, read through SQLite's own descriptor (a
    // descriptor of our own would drop SQLite's locks when closed).
    sqlite3_file* file = nullptr;
    unsigned char header[100] = {0};
    sqlite3_int64 file_size = 0;
    if (sqlite3_file_control(ro.db_, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
        file == nullptr || file->pMethods == nullptr ||
        file->pMethods->xFileSize(file, &file_size) != SQLITE_OK) {
      return Refuse(absl::StatusCode::kPermissionDenied, kDbUnreadable, path, "cannot be read");
    }
    const int got = file->pMethods->xRead(file, header, sizeof(header), 0);
    static constexpr char kMagic[] = "SQLite format 3";  // and its NUL: 16 bytes
    if ((got != SQLITE_OK && got != SQLITE_IOERR_SHORT_READ) || memcmp(header, kMagic, 16) != 0) {
      return Refuse(
          absl::StatusCode::kDataLoss, kDbNotSqlite, path,
          absl::StrCat("is not an SQLite database (", st.st_size,
                       " bytes without SQLite's header); give --db a new path or the right file"));
    }
    uint32_t page_size = BigEndian(header + 16, 2);
    if (page_size == 1) page_size = 65536;
    const uint32_t pages = BigEndian(header + 28, 4);
    // The header's page count is valid when its version-valid-for number
    // matches the change counter (SQLite 3.7.0 and later write both).
    const bool pages_valid = BigEndian(header + 92, 4) == BigEndian(header + 24, 4) && pages > 0;
    const int64_t want = static_cast<int64_t>(pages) * page_size;
    // With a WAL beside it the header may be ahead of the file: a
    // checkpoint writes page 1 before the pages that extend the file, and
    // one cut short (the process killed) is finished from the WAL at the
    // next open. Only without a WAL is a short file truncated.
    const bool wal = has_wal && wal_st.st_size > 0;
    if (got == SQLITE_IOERR_SHORT_READ || (pages_valid && file_size < want && !wal) ||
        (page_size >= 512 && file_size % page_size != 0)) {
      return Refuse(absl::StatusCode::kDataLoss, kDbTruncated, path,
                    absl::StrCat("is truncated: ", file_size, " bytes, its header says ",
                                 pages_valid ? absl::StrCat(want) : std::string("more"),
                                 "; restore it from a backup"));
    }
    std::vector<std::string> values;
    rc = QueryColumn(ro.db_, "PRAGMA application_id", &values);
    std::vector<std::string> version;
    if (rc == SQLITE_OK) rc = QueryColumn(ro.db_, "PRAGMA user_version", &version);
    std::vector<std::string> tables;
    if (rc == SQLITE_OK) {
      rc = QueryColumn(ro.db_, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
                       &tables);
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
      return Refuse(absl::StatusCode::kFailedPrecondition, kDbInUse, path,
                    absl::StrCat("is in use by another process (", sqlite3_errmsg(ro.db_), ")"));
    }
    if (rc != SQLITE_OK) {
      const bool corrupt = (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
      return Refuse(corrupt ? absl::StatusCode::kDataLoss : absl::StatusCode::kPermissionDenied,
                    corrupt ? kDbCorrupt : kDbUnreadable, path,
                    absl::StrCat("cannot be read: ", sqlite3_errmsg(ro.db_)));
    }
    int64_t app_id = 0;
    int64_t user_version = 0;
    if (!values.empty()) (void)absl::SimpleAtoi(values[0], &app_id);
    if (!version.empty()) (void)absl::SimpleAtoi(version[0], &user_version);
    // A database of this schema is stamped with its application_id; one made before
    // the stamp (application_id 0) is known by its tables.
    bool ours = app_id == schema.application_id;
    if (app_id == 0) {
      const std::set<std::string> have(tables.begin(), tables.end());
      bool all = !schema.legacy_tables.empty();
      for (const std::string& t : schema.legacy_tables) all = all && have.count(t) > 0;
      // An empty SQLite file is ours to fill; one without tables claiming a
      // schema version of ours is not (migrating it would fail half-way,
      // after the WAL switch); one claiming a newer version is refused as
      // newer below.
      ours = all || (tables.empty() && (user_version == 0 || user_version > schema.latest()));
    }
    if (!ours) {
      std::vector<std::string> shown(tables.begin(),
                                     tables.begin() + std::min<size_t>(tables.size(), 5));
      return Refuse(
          absl::StatusCode::kFailedPrecondition, kDbForeign, path,
          absl::StrFormat("is an SQLite database of another program (application_id 0x%08x, "
                          "tables: %s%s); refusing to touch it",
                          static_cast<uint32_t>(app_id),
                          tables.empty() ? "none" : absl::StrJoin(shown, ", "),
                          tables.size() > shown.size() ? ", ..." : ""));
    }
    if (user_version > schema.latest()) {
      return Refuse(absl::StatusCode::kFailedPrecondition, kDbNewerSchema, path,
                    absl::StrCat("schema version ", user_version, " is newer than this program's (",
                                 schema.latest(),
                                 "): it was written by a newer release; refusing to open it"));
    }
  }
  if (access(path.c_str(), W_OK) != 0) {
    return Refuse(
        absl::StatusCode::kPermissionDenied, kDbReadOnly, path,
        absl::StrCat("is not writable (", strerror(errno), "): it is written to while open"));
  }
  return CheckDirectory(path);
}

}  // namespace hvdr
