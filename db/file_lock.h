// An exclusive advisory lock (flock(2)) held on a file for an object's
// lifetime: how a process claims a database so that a second process given
// the same path refuses to start instead of sharing it.
//
// flock locks belong to an open file description, so a second FileLock on
// the same path conflicts even inside one process, and the kernel drops the
// lock when the process dies (no stale lock after a crash). The lock file
// is separate from the database: an extra descriptor on the database file
// itself would, when closed, release SQLite's own POSIX locks on it.
#ifndef HVDR_DB_FILE_LOCK_H_
#define HVDR_DB_FILE_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hvdr {

class FileLock {
 public:
  // Creates `path` if needed and locks it without waiting.
  // FAILED_PRECONDITION when another holder has it; UNAVAILABLE when the
  // file cannot be opened (the message names the path and the reason).
  static absl::StatusOr<std::unique_ptr<FileLock>> TryAcquire(const std::string& path);
  ~FileLock();  // releases the lock (the file stays)
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  const int fd_;
};

}  // namespace hvdr

#endif  // HVDR_DB_FILE_LOCK_H_
