// An LD_PRELOAD library that counts the sqlite3_step calls of a process
// and the wall time spent in them, by SQL text, and writes them to
// $SQLITE_STEPS_DIR/<program>-<pid>.txt (count, nanoseconds, SQL; tab
// separated) every 5,000 steps and at exit. A measuring aid for
// docs/performance.md, not part of the product:
//
//   g++ -O2 -shared -fPIC tools/profiling/sqlite_steps.cc -o /tmp/steps.so -ldl -lsqlite3
//   SQLITE_STEPS_DIR=/tmp/steps LD_PRELOAD=/tmp/steps.so bench/drbench ...
//
// The children drbench starts (drserver, hvagent) inherit LD_PRELOAD.
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

struct sqlite3_stmt;
extern "C" const char* sqlite3_sql(sqlite3_stmt*);

namespace {

struct Count {
  long steps = 0;
  double ns = 0;
};
struct Open {
  std::string sql;
  Count count;
};

std::mutex mu;
// Leaked on purpose: steps may still run during static destruction.
auto* by_stmt = new std::unordered_map<sqlite3_stmt*, Open>;
auto* by_sql = new std::unordered_map<std::string, Count>;  // finalized statements
long total = 0;

double NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

void DumpLocked() {
  const char* dir = getenv("SQLITE_STEPS_DIR");
  if (dir == nullptr) dir = "/tmp";
  char exe[256] = {0};
  if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0) return;
  const char* base = strrchr(exe, '/');
  base = base ? base + 1 : exe;
  char path[512];
  snprintf(path, sizeof path, "%s/%s-%d.txt", dir, base, getpid());
  std::unordered_map<std::string, Count> all = *by_sql;
  for (const auto& [stmt, open] : *by_stmt) {
    all[open.sql].steps += open.count.steps;
    all[open.sql].ns += open.count.ns;
  }
  FILE* f = fopen(path, "w");
  if (f == nullptr) return;
  for (auto& [sql, c] : all) {
    std::string line = sql;
    for (char& ch : line) {
      if (ch == '\n' || ch == '\t') ch = ' ';
    }
    fprintf(f, "%ld\t%.0f\t%s\n", c.steps, c.ns, line.c_str());
  }
  fclose(f);
}

struct AtExit {
  ~AtExit() {
    std::lock_guard<std::mutex> l(mu);
    DumpLocked();
  }
} at_exit;

}  // namespace

extern "C" int sqlite3_step(sqlite3_stmt* stmt) {
  using Step = int (*)(sqlite3_stmt*);
  static Step real = reinterpret_cast<Step>(dlsym(RTLD_NEXT, "sqlite3_step"));
  const double start = NowNs();
  const int rc = real(stmt);
  const double ns = NowNs() - start;
  const char* sql = sqlite3_sql(stmt);
  std::lock_guard<std::mutex> l(mu);
  Open& open = (*by_stmt)[stmt];
  if (open.sql != (sql ? sql : "")) {  // a new statement at a reused address
    if (open.count.steps > 0) {
      (*by_sql)[open.sql].steps += open.count.steps;
      (*by_sql)[open.sql].ns += open.count.ns;
    }
    open = Open{sql ? sql : "", {}};
  }
  ++open.count.steps;
  open.count.ns += ns;
  if (++total % 5000 == 0) DumpLocked();
  return rc;
}
