// The agent's journal alone: CPU and wall time per job of the writes a job
// makes (Get, InsertPending, MarkStarted, MarkDone), one after another on
// one thread, on a file journal as hvagent runs it (synchronous NORMAL, as
// drbench's agents). Prints one line per run.
//
//   bazel run -c opt //bench:journal_bench -- --jobs=20000 --runs=3
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "hvagent/job_journal.h"

ABSL_FLAG(int, jobs, 20000, "jobs per run");
ABSL_FLAG(int, runs, 3, "runs, each on a new journal");
ABSL_FLAG(std::string, dir, "/tmp", "where the journal file goes");

namespace {

double CpuUs() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

int Run(int jobs) {
  const std::string path = absl::StrCat(absl::GetFlag(FLAGS_dir), "/journal-bench-", getpid());
  auto journal = hvdr::agent::JobJournal::Open(path, "NORMAL");
  if (!journal.ok()) {
    fprintf(stderr, "journal_bench: %s\n", journal.status().ToString().c_str());
    return 1;
  }
  hvdr::agent::Operation op;
  op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
  op.vm_id = "B0000000-0000-4000-8000-000000001699";
  dr::v1::AgentJobStatus done;
  done.set_state(dr::v1::JOB_STATE_COMPLETED);
  done.set_percent_complete(100);
  done.mutable_virtual_machine()->set_name("vm-1");
  const double cpu = CpuUs();
  const absl::Time start = absl::Now();
  for (int i = 0; i < jobs; ++i) {
    // drserver's job names: time first, then random.
    const std::string id = absl::StrCat("jobs/20261204-191318-", 100000 + i, "-c975c375");
    (*journal)->Get(id).status().IgnoreError();  // NOT_FOUND: a new job
    absl::Status s = (*journal)->InsertPending(id, op, absl::Now());
    if (s.ok()) s = (*journal)->MarkStarted(id, absl::StrCat("hv-00-job-", i));
    done.set_job_id(id);
    if (s.ok()) s = (*journal)->MarkDone(id, done);
    if (!s.ok()) {
      fprintf(stderr, "journal_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  printf("journal: %.1f us CPU, %.1f us wall per job (%d jobs)\n", (CpuUs() - cpu) / jobs,
         absl::ToDoubleMicroseconds(absl::Now() - start) / jobs, jobs);
  journal->reset();
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) unlink((path + suffix).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  for (int r = 0; r < absl::GetFlag(FLAGS_runs); ++r) {
    if (Run(absl::GetFlag(FLAGS_jobs)) != 0) return 1;
  }
  return 0;
}
