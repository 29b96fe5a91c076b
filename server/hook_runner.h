// Recovery plans' hooks: executables drserver runs from its hooks
// directory (--hooks_dir). A plan names a file in that directory and its
// arguments; no command line ever travels over the API, and nothing outside
// the directory runs. Each hook runs in its own process group with stdin
// /dev/null, stdout and stderr into one pipe whose last kMaxHookOutput bytes
// are kept, a clean environment and a timeout after which its whole process
// group is killed.
#ifndef HVDR_SERVER_HOOK_RUNNER_H_
#define HVDR_SERVER_HOOK_RUNNER_H_

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hvdr {
namespace server {

// How much of a hook's output is kept: its end, as ExecutionStep.output.
inline constexpr size_t kMaxHookOutput = 4096;

// The PATH every hook gets; the rest of its environment is the request's.
inline constexpr char kHookPath[] = "/usr/local/bin:/usr/bin:/bin";

struct HookRequest {
  // A file name in the hooks directory: [A-Za-z0-9._-], not starting with
  // '.' (HookAction.executable).
  std::string executable;
  // argv[1..] (HookAction.args).
  std::vector<std::string> args;
  // The environment besides PATH (kHookPath), e.g. HVDR_PLAN. Names are
  // [A-Za-z_][A-Za-z0-9_]*, not PATH; values hold no NUL.
  std::map<std::string, std::string> env;
  // After this long the hook's process group is killed (SIGKILL) and the
  // result says so. Must be positive.
  absl::Duration timeout = absl::Seconds(300);
};

struct HookResult {
  enum class End {
    kExited,    // it exited: exit_code
    kSignaled,  // a signal killed it (not ours): signal
    kTimedOut,  // it ran past its timeout and was killed (signal SIGKILL)
  };
  End end = End::kExited;
  int exit_code = 0;  // kExited only
  int signal = 0;     // kSignaled, kTimedOut
  // The end of what it wrote to stdout and stderr: at most kMaxHookOutput
  // bytes, valid UTF-8 (see HookOutputTail).
  std::string output;
  // How long it ran (real time).
  absl::Duration elapsed;
};

// The outcome of one Run: a result for a hook that ran, or why it could not
// run (a status carrying a Hyper-V ErrorDetail, common/hyperv_status.h):
//   INVALID_ARGUMENT (32773) MALFORMED_HOOK / BAD_ENVIRONMENT / BAD_TIMEOUT
//   NOT_FOUND (32779)        HOOK_MISSING: no such file
//   FAILED_PRECONDITION (32775) HOOK_NOT_A_FILE: not a regular file
//   PERMISSION_DENIED (32769) HOOK_NOT_EXECUTABLE
//   INTERNAL (32768)         SPAWN_FAILED (pipe, posix_spawn)
//   CANCELLED                the runner is being destroyed (the hook, if
//                            it ran, was killed)
using HookDone = std::function<void(const absl::StatusOr<HookResult>& result)>;

// Runs hooks asynchronously. Thread-safe.
class HookRunner {
 public:
  virtual ~HookRunner() = default;
  // Starts `request` and returns at once. `done` is called exactly once,
  // never inside Run, from any thread (the implementation's), with no lock
  // of the runner held: it may call Run again.
  virtual void Run(const HookRequest& request, HookDone done) = 0;
};

// Is `name` a plain file name a hook may have: 1-128 of [A-Za-z0-9._-], not
// starting with '.' (so neither "..", a hidden file, nor a path)? The same
// rule as plan validation's MALFORMED_HOOK.
bool IsHookFileName(absl::string_view name);

// "SIGTERM" for 15; "signal N" for a number with no name.
std::string SignalName(int signal);

// The last at most `max` bytes of `output` as valid UTF-8: a multi-byte
// sequence the cut split is dropped, and any other invalid byte becomes
// U+FFFD. REQUIRES: max >= 4.
std::string HookOutputTail(absl::string_view output, size_t max = kMaxHookOutput);

// Runs hooks as POSIX processes from one directory, with one thread for all
// of them (poll() over their pipes, waitid() for their ends): no thread per
// hook. A hook's working directory is the hooks directory; argv[0] is its
// path; every other descriptor of drserver is closed in it. When the hook
// itself exits, what is left of its process group is killed too, and its
// output is read until the pipe closes (at most 2 s longer, for a
// descendant that left the group but kept the pipe).
class PosixHookRunner final : public HookRunner {
 public:
  // Hooks are looked up in `dir` when each runs (the directory may be
  // created or filled later). Fails only if the runner's own pipe cannot
  // be made.
  static absl::StatusOr<std::unique_ptr<PosixHookRunner>> Create(const std::string& dir);
  // Kills every running hook's process group, reaps it, reports CANCELLED
  // to every pending `done`, and joins the thread.
  ~PosixHookRunner() override;
  PosixHookRunner(const PosixHookRunner&) = delete;
  PosixHookRunner& operator=(const PosixHookRunner&) = delete;

  void Run(const HookRequest& request, HookDone done) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    HookRequest request;
    HookDone done;
  };
  // A started hook. Owned by the thread (no lock).
  struct Running {
    std::string executable;
    pid_t pid = -1;  // also its process group's id
    int fd = -1;     // the pipe's read end; -1 once closed
    std::string output;
    absl::Time start;
    absl::Time deadline;
    bool exited = false;  // reaped
    int wait_status = 0;
    bool timed_out = false;
    absl::Time drain_until = absl::InfiniteFuture();  // after its exit
    HookDone done;
  };

  PosixHookRunner(std::string dir, int wake_read, int wake_write);
  void Loop();
  // Starts one hook, or reports why it cannot (done is called).
  void Start(Pending pending);
  // Spawns it; the new hook's Running, or the refusal.
  absl::StatusOr<Running> Spawn(const HookRequest& request);
  // Reads what the hook's pipe holds; closes it at EOF.
  static void Drain(Running& r);
  // Reaps the hook if it ended (WNOHANG); kills the rest of its group first.
  static void Reap(Running& r);
  static HookResult ResultOf(Running& r);

  const std::string dir_;
  const int wake_read_;
  const int wake_write_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::vector<Running> running_;  // thread-confined: only Loop touches it
  std::thread thread_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_HOOK_RUNNER_H_
