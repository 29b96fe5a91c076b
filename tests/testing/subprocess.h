// Child processes for multi-process tests: start a binary from the test's
// runfiles, wait for the port it writes, kill it with any signal.
#ifndef HVDR_TESTS_TESTING_SUBPROCESS_H_
#define HVDR_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hvdr {
namespace testing {

// The path of a binary in the test's runfiles, e.g. "hvagent/hvagent".
std::string RunfilePath(const std::string& relative);

// A fresh directory under TEST_TMPDIR.
std::string NewTempDir(const std::string& name);

class Subprocess {
 public:
  Subprocess() = default;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();  // SIGKILLs the child if it still runs

  // Starts `argv[0]` with stdout and stderr appended to `log_path`.
  absl::Status Start(const std::vector<std::string>& argv, const std::string& log_path);
  // Waits until `path` holds a port number the child wrote; fails if the
  // child exits first or `timeout` passes.
  absl::StatusOr<int> WaitForPortFile(const std::string& path, absl::Duration timeout);
  // Sends `sig`; with wait, reaps the child and returns its wait status.
  int Signal(int sig, bool wait = true);
  // Reaps the child; returns its wait status.
  int Wait();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Runs `argv` to completion with stdout and stderr captured; returns its
// exit status (128 + signal if it was killed, -1 if it could not start).
int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err);

// Reads a whole file ("" if it cannot).
std::string ReadFile(const std::string& path);

}  // namespace testing
}  // namespace hvdr

#endif  // HVDR_TESTS_TESTING_SUBPROCESS_H_
