#include "server/hook_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

namespace {

// How often running hooks are looked at for their end (waitid) when their
// pipes say nothing.
constexpr int kPollMillis = 50;
// How long the pipe of a hook that exited is still read, for a descendant
// that left its process group but kept the pipe open.
constexpr absl::Duration kDrainAfterExit = absl::Seconds(2);
// At most this much is read from one hook per round, so that one hook
// writing without pause cannot starve the others.
constexpr size_t kReadPerRound = 64 * 1024;
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

bool IsEnvName(const std::string& name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(c) || c == '_')) return false;
  }
  return true;
}

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8SequenceAt(absl::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len || b(1) < lo || b(1) > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
  }
  return len;
}

// Drops the continuation bytes `s` starts with (at most 3: the rest of a
// sequence a cut split).
absl::string_view SkipSplitSequence(absl::string_view s) {
  size_t skip = 0;
  while (skip < 3 && skip < s.size() && (static_cast<unsigned char>(s[skip]) & 0xC0) == 0x80) {
    ++skip;
  }
  s.remove_prefix(skip);
  return s;
}

std::string ErrnoText(int e) { return std::string(strerror(e)); }

absl::Status SpawnFailed(const std::string& what, int e) {
  return HyperVError(dr::v1::RETURN_CODE_FAILED, "executable", "SPAWN_FAILED",
                     absl::StrCat(what, ": ", ErrnoText(e)));
}

}  // namespace

bool IsHookFileName(absl::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_')) return false;
  }
  return true;
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev == nullptr ? absl::StrCat("signal ", signal) : absl::StrCat("SIG", abbrev);
}

std::string HookOutputTail(absl::string_view output, size_t max) {
  if (output.size() > max) output = SkipSplitSequence(output.substr(output.size() - max));
  std::string out;
  out.reserve(output.size());
  while (!output.empty()) {
    const size_t len = Utf8SequenceAt(output);
    if (len == 0) {
      out.append(kReplacement);
      output.remove_prefix(1);
    } else {
      out.append(output.data(), len);
      output.remove_prefix(len);
    }
  }
  // Replacements are longer than the bytes they replace.
  if (out.size() > max) {
    out = std::string(SkipSplitSequence(absl::string_view(out).substr(out.size() - max)));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PosixHookRunner>> PosixHookRunner::Create(const std::string& dir) {
  if (dir.empty()) {
    return InvalidParameter("hooks_dir", "MISSING", "give the directory of the hook executables");
  }
  std::string absolute = dir;
  if (dir[0] != '/') {
    // A hook runs in the hooks directory: its path must not depend on the
    // working directory.
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) {
      return absl::InternalError(absl::StrCat("hooks_dir: getcwd: ", ErrnoText(errno)));
    }
    absolute = absl::StrCat(cwd, "/", dir);
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("hook runner: pipe: ", ErrnoText(errno)));
  }
  return std::unique_ptr<PosixHookRunner>(new PosixHookRunner(absolute, wake[0], wake[1]));
}

PosixHookRunner::PosixHookRunner(std::string dir, int wake_read, int wake_write)
    : dir_(std::move(dir)), wake_read_(wake_read), wake_write_(wake_write) {
  thread_ = std::thread([this] { Loop(); });
}

PosixHookRunner::~PosixHookRunner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const char byte = 's';
  (void)!write(wake_write_, &byte, 1);
  thread_.join();
  close(wake_read_);
  close(wake_write_);
}

void PosixHookRunner::Run(const HookRequest& request, HookDone done) {
  {
    absl::MutexLock lock(&mu_);
    queue_.push_back({request, std::move(done)});
  }
  // A full pipe (EAGAIN) means the thread is woken already.
  const char byte = 'r';
  (void)!write(wake_write_, &byte, 1);
}

absl::StatusOr<PosixHookRunner::Running> PosixHookRunner::Spawn(const HookRequest& request) {
  const std::string& name = request.executable;
  if (!IsHookFileName(name)) {
    return InvalidParameter(
        "executable", "MALFORMED_HOOK",
        absl::StrCat("must be a file name in the hooks directory (1-128 of A-Z, a-z, 0-9, '.', "
                     "'-', '_', not starting with '.'); got \"",
                     name.substr(0, 80), "\""));
  }
  for (const auto& [key, value] : request.env) {
    if (!IsEnvName(key) || key == "PATH" || value.find('\0') != std::string::npos) {
      return InvalidParameter("env", "BAD_ENVIRONMENT",
                              absl::StrCat("\"", key.substr(0, 80),
                                           "\" cannot be set (a name of [A-Za-z0-9_], not PATH, "
                                           "a value without NUL)"));
    }
  }
  for (const std::string& arg : request.args) {
    if (arg.find('\0') != std::string::npos) {
      return InvalidParameter("args", "BAD_ARGUMENT", "an argument holds a NUL byte");
    }
  }
  if (request.timeout <= absl::ZeroDuration()) {
    return InvalidParameter("timeout", "BAD_TIMEOUT", "must be positive");
  }
  const std::string path = absl::StrCat(dir_, "/", name);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      return HyperVError(dr::v1::RETURN_CODE_FILE_NOT_FOUND, "executable", "HOOK_MISSING",
                         absl::StrCat("no file \"", name, "\" in the hooks directory ", dir_));
    }
    return SpawnFailed(absl::StrCat("cannot read ", path), e);
  }
  if (!S_ISREG(st.st_mode)) {
    return HyperVError(dr::v1::RETURN_CODE_INVALID_STATE, "executable", "HOOK_NOT_A_FILE",
                       absl::StrCat(path, " is not a regular file"));
  }
  if (access(path.c_str(), X_OK) != 0) {
    return HyperVError(dr::v1::RETURN_CODE_ACCESS_DENIED, "executable", "HOOK_NOT_EXECUTABLE",
                       absl::StrCat(path, " is not executable by drserver (chmod +x)"));
  }

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return SpawnFailed("pipe", errno);
  if (fcntl(out[0], F_SETFL, O_NONBLOCK) != 0) {
    const int e = errno;
    close(out[0]);
    close(out[1]);
    return SpawnFailed("fcntl", e);
  }

  std::vector<std::string> args = {path};
  args.insert(args.end(), request.args.begin(), request.args.end());
  std::vector<std::string> env = {absl::StrCat("PATH=", kHookPath)};
  for (const auto& [key, value] : request.env) env.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> argv, envp;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  // Nothing of drserver's (its database, its sockets) reaches the hook.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  // Its own process group: a timeout kills all it started.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int e = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  if (e != 0) {
    close(out[0]);
    return SpawnFailed(
        absl::StrCat("cannot run ", path, e == ENOEXEC ? " (a script needs a #! line)" : ""), e);
  }
  Running r;
  r.executable = name;
  r.pid = pid;
  r.fd = out[0];
  r.start = absl::Now();
  r.deadline = r.start + request.timeout;
  return r;
}

void PosixHookRunner::Start(Pending pending) {
  absl::StatusOr<Running> r = Spawn(pending.request);
  if (!r.ok()) {
    spdlog::warn("hook {}: not run: {}", pending.request.executable, r.status().ToString());
    pending.done(r.status());
    return;
  }
  spdlog::info("hook {}: started (pid {}, timeout {})", r->executable, r->pid,
               absl::FormatDuration(pending.request.timeout));
  r->done = std::move(pending.done);
  running_.push_back(*std::move(r));
}

void PosixHookRunner::Drain(Running& r) {
  char buf[8192];
  size_t total = 0;
  while (r.fd >= 0 && total < kReadPerRound) {
    const ssize_t n = read(r.fd, buf, sizeof(buf));
    if (n > 0) {
      total += static_cast<size_t>(n);
      r.output.append(buf, static_cast<size_t>(n));
      // Only the end is kept (with room for the cut to fall between
      // characters).
      if (r.output.size() > 4 * kMaxHookOutput) {
        r.output.erase(0, r.output.size() - 2 * kMaxHookOutput);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close(r.fd);  // EOF, or an error that reading again will not cure
    r.fd = -1;
  }
}

void PosixHookRunner::Reap(Running& r) {
  // Looked at without reaping, so that its process group id cannot be
  // reused before the rest of the group is killed.
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  if (waitid(P_PID, r.pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == EINTR) return;
    // ECHILD: someone else reaped it (SIGCHLD ignored?): its status is lost.
    spdlog::error("hook {}: waitid({}): {}", r.executable, r.pid, ErrnoText(errno));
    r.exited = true;
    r.wait_status = -1;
    return;
  }
  if (info.si_pid == 0) return;  // still running
  kill(-r.pid, SIGKILL);         // what it left behind in its group
  int status = 0;
  while (waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exited = true;
  r.wait_status = status;
}

HookResult PosixHookRunner::ResultOf(Running& r) {
  HookResult out;
  out.elapsed = absl::Now() - r.start;
  out.output = HookOutputTail(r.output);
  if (r.timed_out) {
    out.end = HookResult::End::kTimedOut;
    out.signal = SIGKILL;
  } else if (WIFEXITED(r.wait_status)) {
    out.end = HookResult::End::kExited;
    out.exit_code = WEXITSTATUS(r.wait_status);
  } else {
    out.end = HookResult::End::kSignaled;
    out.signal = WTERMSIG(r.wait_status);
  }
  return out;
}

void PosixHookRunner::Loop() {
  while (true) {
    std::deque<Pending> batch;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      batch.swap(queue_);
      stopping = stopping_;
    }
    if (stopping) {
      std::vector<std::pair<HookDone, std::string>> cancelled;
      for (Running& r : running_) {
        if (!r.exited) {
          kill(-r.pid, SIGKILL);
          int status;
          while (waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
          }
        }
        if (r.fd >= 0) close(r.fd);
        cancelled.emplace_back(std::move(r.done), absl::StrCat("drserver is stopping: hook ",
                                                               r.executable, " was killed"));
      }
      running_.clear();
      for (auto& [done, why] : cancelled) done(absl::CancelledError(why));
      // A callback may have asked for more: refused until none is left.
      while (!batch.empty()) {
        for (Pending& p : batch) {
          p.done(absl::CancelledError(
              absl::StrCat("drserver is stopping: hook ", p.request.executable, " was not run")));
        }
        batch.clear();
        absl::MutexLock lock(&mu_);
        batch.swap(queue_);
      }
      return;
    }
    for (Pending& p : batch) Start(std::move(p));

    std::vector<pollfd> fds = {{wake_read_, POLLIN, 0}};
    std::vector<size_t> owner = {0};
    absl::Time next = absl::InfiniteFuture();
    for (size_t i = 0; i < running_.size(); ++i) {
      const Running& r = running_[i];
      if (r.fd >= 0) {
        fds.push_back({r.fd, POLLIN, 0});
        owner.push_back(i);
      }
      next = std::min(next, r.exited ? r.drain_until : r.deadline);
    }
    int timeout = -1;
    if (!running_.empty()) {
      const absl::Duration left = std::max(next - absl::Now(), absl::ZeroDuration());
      timeout = static_cast<int>(
          std::min<int64_t>(kPollMillis, absl::ToInt64Milliseconds(left + absl::Milliseconds(1))));
    }
    const int ready = poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("hook runner: poll: {}", ErrnoText(errno));
      absl::SleepFor(absl::Milliseconds(kPollMillis));
    }
    if (ready > 0) {
      if (fds[0].revents != 0) {
        char buf[256];
        while (read(wake_read_, buf, sizeof(buf)) > 0) {
        }
      }
      for (size_t k = 1; k < fds.size(); ++k) {
        if (fds[k].revents != 0) Drain(running_[owner[k]]);
      }
    }

    const absl::Time now = absl::Now();
    std::vector<std::pair<HookDone, absl::StatusOr<HookResult>>> ended;
    for (auto it = running_.begin(); it != running_.end();) {
      Running& r = *it;
      if (!r.exited) Reap(r);
      if (!r.exited && !r.timed_out && now >= r.deadline) {
        spdlog::warn("hook {}: timed out; killing its process group {}", r.executable, r.pid);
        kill(-r.pid, SIGKILL);
        r.timed_out = true;
        Reap(r);
      }
      if (r.exited && r.fd >= 0) {
        if (r.drain_until == absl::InfiniteFuture()) r.drain_until = now + kDrainAfterExit;
        Drain(r);
        if (r.fd >= 0 && now >= r.drain_until) {
          spdlog::warn(
              "hook {}: exited, but something it started keeps its output open; "
              "no longer read",
              r.executable);
          close(r.fd);
          r.fd = -1;
        }
      }
      if (!r.exited || r.fd >= 0) {
        ++it;
        continue;
      }
      if (r.wait_status == -1) {
        ended.emplace_back(
            std::move(r.done),
            HyperVError(
                dr::v1::RETURN_CODE_STATUS_UNKNOWN, "executable", "EXIT_STATUS_LOST",
                absl::StrCat("hook ", r.executable, " ended but its exit status was lost")));
      } else {
        HookResult result = ResultOf(r);
        spdlog::info(
            "hook {}: ended after {} ({})", r.executable, absl::FormatDuration(result.elapsed),
            result.end == HookResult::End::kExited
                ? absl::StrCat("exit ", result.exit_code)
                : absl::StrCat(result.end == HookResult::End::kTimedOut ? "timed out, " : "",
                               "signal ", result.signal));
        ended.emplace_back(std::move(r.done), std::move(result));
      }
      it = running_.erase(it);
    }
    for (auto& [done, result] : ended) done(result);
  }
}

}  // namespace server
}  // namespace hvdr
