// PosixHookRunner with real scripts written to a temporary hooks directory:
// what a hook sees (arguments, a clean environment, stdin /dev/null, the
// hooks directory as its working directory), how its end is reported
// (exit code, signal, timeout killing its whole process group), the end of
// its output kept as valid UTF-8, and the refusals of files that are not
// hooks.
#include "server/hook_runner.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTestWait = absl::Seconds(120);  // generous: a loaded machine

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether process `pid` is gone (or a zombie nobody has reaped yet).
bool Gone(pid_t pid) {
  if (kill(pid, 0) != 0) return true;
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

class HookRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmp = ::testing::TempDir();
    if (!tmp.empty() && tmp.back() == '/') tmp.pop_back();
    dir_ = absl::StrCat(tmp, "/hooks-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0) << dir_;
    auto runner = PosixHookRunner::Create(dir_);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = *std::move(runner);
  }

  void WriteScript(const std::string& name, const std::string& body, mode_t mode = 0755) {
    const std::string path = absl::StrCat(dir_, "/", name);
    {
      std::ofstream out(path);
      out << "#!/bin/sh\n" << body;
    }
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }

  // Runs `request` and waits for its end.
  absl::StatusOr<HookResult> RunAndWait(const HookRequest& request) {
    absl::Notification done;
    absl::StatusOr<HookResult> out = absl::UnknownError("no answer");
    runner_->Run(request, [&](const absl::StatusOr<HookResult>& r) {
      out = r;
      done.Notify();
    });
    if (!done.WaitForNotificationWithTimeout(kTestWait)) {
      ADD_FAILURE() << request.executable << " never reported its end";
    }
    return out;
  }
  absl::StatusOr<HookResult> RunAndWait(const std::string& name, absl::Duration timeout) {
    HookRequest r;
    r.executable = name;
    r.timeout = timeout;
    return RunAndWait(r);
  }

  std::string dir_;
  std::unique_ptr<PosixHookRunner> runner_;
};

TEST_F(HookRunnerTest, AHookSeesItsArgumentsACleanEnvironmentAndNoStdin) {
  ASSERT_EQ(setenv("HVDR_TEST_LEAK", "leaked", 1), 0);
  WriteScript("check.sh", R"sh(for a in "$@"; do echo "arg=[$a]"; done
env | sort
read line; echo "read=$?"
echo "pwd=$(pwd)"
echo "to stderr" >&2
)sh");
  HookRequest r;
  r.executable = "check.sh";
  r.args = {"a b", "--x=1", ""};
  r.env = {{"HVDR_PLAN", "plans/site"}, {"HVDR_STEP", "plans/site/executions/e/steps/s"}};
  r.timeout = absl::Seconds(60);
  absl::StatusOr<HookResult> result = RunAndWait(r);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, HookResult::End::kExited);
  EXPECT_EQ(result->exit_code, 0);
  const std::string& out = result->output;
  EXPECT_THAT(out, HasSubstr("arg=[a b]\narg=[--x=1]\narg=[]\n"));
  EXPECT_THAT(out, HasSubstr("HVDR_PLAN=plans/site\n"));
  EXPECT_THAT(out, HasSubstr("HVDR_STEP=plans/site/executions/e/steps/s\n"));
  EXPECT_THAT(out, HasSubstr("PATH=/usr/local/bin:/usr/bin:/bin\n"));
  EXPECT_THAT(out, Not(HasSubstr("HVDR_TEST_LEAK"))) << "drserver's environment stays out";
  EXPECT_THAT(out, Not(HasSubstr("TEST_TMPDIR")));
  EXPECT_THAT(out, HasSubstr("read=1\n")) << "stdin is /dev/null";
  EXPECT_THAT(out, HasSubstr(absl::StrCat("pwd=", dir_, "\n")));
  EXPECT_THAT(out, HasSubstr("to stderr\n")) << "stderr is kept with stdout";
  unsetenv("HVDR_TEST_LEAK");
}

TEST_F(HookRunnerTest, ANonZeroExitIsReportedWithItsCode) {
  WriteScript("fail.sh", "echo 'database not ready'\nexit 3\n");
  absl::StatusOr<HookResult> result = RunAndWait("fail.sh", absl::Seconds(60));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, HookResult::End::kExited);
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->output, "database not ready\n");
}

TEST_F(HookRunnerTest, AHookKilledByASignalIsReportedWithTheSignal) {
  WriteScript("die.sh", "echo dying\nkill -TERM $$\nsleep 600\n");
  absl::StatusOr<HookResult> result = RunAndWait("die.sh", absl::Seconds(60));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, HookResult::End::kSignaled);
  EXPECT_EQ(result->signal, SIGTERM);
  EXPECT_EQ(result->output, "dying\n");
}

TEST_F(HookRunnerTest, ATimeoutKillsTheWholeProcessGroupGrandchildrenToo) {
  // The grandchild (a sleep inside a background subshell) writes its pid,
  // then the hook waits forever.
  WriteScript(
      "hang.sh",
      R"(sh -c 'sleep 600 & echo $! > grandchild.pid.tmp; mv grandchild.pid.tmp grandchild.pid; wait' &
echo waiting
wait
)");
  absl::StatusOr<HookResult> result = RunAndWait("hang.sh", absl::Seconds(5));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, HookResult::End::kTimedOut);
  EXPECT_EQ(result->signal, SIGKILL);
  EXPECT_EQ(result->output, "waiting\n");
  const std::string pid_text = ReadFile(dir_ + "/grandchild.pid");
  ASSERT_FALSE(pid_text.empty()) << "the grandchild had not started within the hook's timeout";
  const pid_t grandchild = std::stoi(pid_text);
  bool gone = false;
  for (absl::Time until = absl::Now() + kTestWait; !gone && absl::Now() < until;) {
    gone = Gone(grandchild);
    if (!gone) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(gone) << "grandchild " << grandchild << " outlived the hook's timeout";
}

TEST_F(HookRunnerTest, OutputOverTheLimitKeepsItsEnd) {
  WriteScript("chatty.sh", R"(i=0
while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done
echo END
)");
  absl::StatusOr<HookResult> result = RunAndWait("chatty.sh", absl::Seconds(60));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_LE(result->output.size(), kMaxHookOutput);
  EXPECT_GT(result->output.size(), kMaxHookOutput - 16);
  EXPECT_THAT(result->output, HasSubstr("line 1999\nEND\n"));
  EXPECT_THAT(result->output, Not(HasSubstr("line 0\n")));
}

TEST_F(HookRunnerTest, NamesThatAreNotAPlainFileNameAreRefused) {
  WriteScript("ok.sh", "exit 0\n");
  for (const char* name :
       {"", "../ok.sh", ".ok.sh", "sub/ok.sh", "/bin/sh", "rm -rf /", "..", "ok.sh;id"}) {
    absl::StatusOr<HookResult> result = RunAndWait(name, absl::Seconds(60));
    ASSERT_FALSE(result.ok()) << name;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(ErrorDetailOf(result.status()).reason(), "MALFORMED_HOOK") << name;
    EXPECT_THAT(result.status().message(), HasSubstr("executable")) << name;
  }
}

TEST_F(HookRunnerTest, AMissingFileADirectoryAndANonExecutableFileAreRefusedNamingWhy) {
  absl::StatusOr<HookResult> missing = RunAndWait("nope.sh", absl::Seconds(60));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorDetailOf(missing.status()).reason(), "HOOK_MISSING");
  EXPECT_EQ(ErrorDetailOf(missing.status()).return_code(), dr::v1::RETURN_CODE_FILE_NOT_FOUND);
  EXPECT_THAT(missing.status().message(), HasSubstr("no file \"nope.sh\""));

  ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
  absl::StatusOr<HookResult> sub = RunAndWait("sub", absl::Seconds(60));
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(ErrorDetailOf(sub.status()).reason(), "HOOK_NOT_A_FILE");
  EXPECT_THAT(sub.status().message(), HasSubstr("not a regular file"));

  WriteScript("plain.sh", "exit 0\n", 0644);
  absl::StatusOr<HookResult> plain = RunAndWait("plain.sh", absl::Seconds(60));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrorDetailOf(plain.status()).reason(), "HOOK_NOT_EXECUTABLE");
  EXPECT_THAT(plain.status().message(), HasSubstr("not executable"));
}

TEST_F(HookRunnerTest, PathIsTheRunnersAndAFileWithoutAnInterpreterLineIsRefused) {
  HookRequest r;
  r.executable = "ok.sh";
  WriteScript("ok.sh", "exit 0\n");
  r.env = {{"PATH", "/tmp"}};
  absl::StatusOr<HookResult> path = RunAndWait(r);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(ErrorDetailOf(path.status()).reason(), "BAD_ENVIRONMENT");

  {
    std::ofstream out(dir_ + "/noshebang");
    out << "\x01\x02garbage";
  }
  ASSERT_EQ(chmod((dir_ + "/noshebang").c_str(), 0755), 0);
  absl::StatusOr<HookResult> garbage = RunAndWait("noshebang", absl::Seconds(60));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(ErrorDetailOf(garbage.status()).reason(), "SPAWN_FAILED");
}

TEST_F(HookRunnerTest, ManyHooksRunAtOnceAndACallbackMayRunAnother) {
  WriteScript("quick.sh", "echo \"$1\"\n");
  absl::Mutex mu;
  std::vector<std::string> outputs;
  absl::Notification chained;
  constexpr int kTestHooks = 8;
  for (int i = 0; i < kTestHooks; ++i) {
    HookRequest r;
    r.executable = "quick.sh";
    r.args = {absl::StrCat("hook ", i)};
    runner_->Run(r, [&, i](const absl::StatusOr<HookResult>& result) {
      ASSERT_TRUE(result.ok()) << result.status();
      {
        absl::MutexLock lock(&mu);
        outputs.push_back(result->output);
      }
      if (i == 0) {
        HookRequest next;
        next.executable = "quick.sh";
        next.args = {"chained"};
        runner_->Run(next, [&](const absl::StatusOr<HookResult>& again) {
          EXPECT_TRUE(again.ok());
          if (again.ok()) {
            EXPECT_EQ(again->output, "chained\n");
          }
          chained.Notify();
        });
      }
    });
  }
  ASSERT_TRUE(chained.WaitForNotificationWithTimeout(kTestWait));
  absl::MutexLock lock(&mu);
  auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return outputs.size() == kTestHooks; };
  ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), kTestWait));
  for (int i = 0; i < kTestHooks; ++i) {
    EXPECT_THAT(outputs, ::testing::Contains(absl::StrCat("hook ", i, "\n")));
  }
}

TEST_F(HookRunnerTest, DestroyingTheRunnerKillsRunningHooksAndReportsThemCancelled) {
  WriteScript("long.sh", "echo $$ > long.pid.tmp; mv long.pid.tmp long.pid\nsleep 600\n");
  absl::Notification done;
  absl::Status status;
  HookRequest r;
  r.executable = "long.sh";
  r.timeout = absl::Seconds(600);
  runner_->Run(r, [&](const absl::StatusOr<HookResult>& result) {
    status = result.status();
    done.Notify();
  });
  std::string pid_text;
  for (absl::Time until = absl::Now() + kTestWait; pid_text.empty() && absl::Now() < until;) {
    pid_text = ReadFile(dir_ + "/long.pid");
    if (pid_text.empty()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_FALSE(pid_text.empty()) << "the hook never started";
  runner_.reset();
  ASSERT_TRUE(done.HasBeenNotified()) << "every done is called before the destructor returns";
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("long.sh was killed"));
  EXPECT_NE(kill(std::stoi(pid_text), 0), 0) << "reaped, not left a zombie or running";
}

TEST(HookOutputTailTest, KeepsTheEndAsValidUtf8) {
  EXPECT_EQ(HookOutputTail("short"), "short");
  // A cut in the middle of "é" (C3 A9) drops its half.
  std::string accents;
  for (int i = 0; i < 10; ++i) accents += "\xC3\xA9";
  EXPECT_EQ(HookOutputTail(accents + "x", 6), "\xC3\xA9\xC3\xA9x");
  EXPECT_EQ(HookOutputTail(accents + "xy", 6), "\xC3\xA9\xC3\xA9xy");
  // Invalid bytes become U+FFFD, and the result still fits.
  EXPECT_EQ(HookOutputTail("a\xFF"
                           "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(HookOutputTail("\xC3", 8), "\xEF\xBF\xBD") << "a sequence the end cut short";
  EXPECT_EQ(HookOutputTail("\xED\xA0\x80", 16), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD")
      << "a surrogate is not UTF-8";
  EXPECT_LE(HookOutputTail(std::string(100, '\xFF'), 10).size(), 10u);
  EXPECT_EQ(HookOutputTail("\xF0\x9F\x98\x80", 8), "\xF0\x9F\x98\x80");
}

TEST(SignalNameTest, NamesSignalsAsTheShellDoes) {
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(1000), "signal 1000");
}

TEST(IsHookFileNameTest, AcceptsOnlyPlainFileNames) {
  EXPECT_TRUE(IsHookFileName("smoke-test.sh"));
  EXPECT_TRUE(IsHookFileName("Check_DB.v2"));
  EXPECT_FALSE(IsHookFileName(""));
  EXPECT_FALSE(IsHookFileName(".."));
  EXPECT_FALSE(IsHookFileName(".hidden"));
  EXPECT_FALSE(IsHookFileName("a/b"));
  EXPECT_FALSE(IsHookFileName("a b"));
  EXPECT_FALSE(IsHookFileName(std::string(129, 'a')));
}

}  // namespace
}  // namespace server
}  // namespace hvdr
