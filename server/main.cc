// drserver: the DR orchestration server. Serves dr.v1.TopologyService,
// FailoverService and JobService, keeps everything in SQLite, and drives the
// hvagent on each Hyper-V host.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve the dr.v1 API on; port 0 picks one");
ABSL_FLAG(std::string, port_file, "", "if set, write the bound port here once serving");
ABSL_FLAG(std::string, db, "drserver.db", "SQLite database (created if missing)");
ABSL_FLAG(std::string, db_synchronous, "FULL",
          "SQLite synchronous: FULL survives power loss; NORMAL survives a process crash");
ABSL_FLAG(int, sync_interval_s, 60, "seconds between inventory syncs of every host");
ABSL_FLAG(
    int, retry_deadline_s, 30,
    "seconds an agent may stay unreachable before its running jobs report 32771 (status unknown)");
ABSL_FLAG(
    int, agent_timeout_s, 10,
    "deadline of inventory and cancel calls to agents, and of each connection attempt, in seconds");
ABSL_FLAG(int, agent_keepalive_s, 10,
          "seconds between HTTP/2 keepalive pings on each agent connection (a hung agent is found "
          "within agent_keepalive_s + agent_keepalive_timeout_s)");
ABSL_FLAG(int, agent_keepalive_timeout_s, 5,
          "seconds an agent may take to answer a keepalive ping before its connection is closed");

ABSL_FLAG(int64_t, progress_interval_ms, 1000,
          "a running job's progress (only its percent moved) is stored and sent to watchers at "
          "most this often; state changes and ends at once (0: every progress)");
ABSL_FLAG(int64_t, max_queued_jobs, 10000,
          "new jobs waiting to be stored beyond which requests are refused with RESOURCE_EXHAUSTED "
          "(32778) and retry advice; agent statuses are never refused; 0: no bound");

ABSL_FLAG(int64_t, max_request_bytes, 4 << 20,
          "requests larger than this (serialized) are refused with INVALID_ARGUMENT (32773, field "
          "\"request\"); gRPC itself refuses requests over this + 1 MiB");
ABSL_FLAG(int, max_watches_per_client, 1000,
          "concurrent WatchJob and WatchPlanExecution streams per client connection (counted "
          "together); more are refused with "
          "RESOURCE_EXHAUSTED (32778) and retry advice; 0: no limit");
ABSL_FLAG(int, max_watches, 100000,
          "concurrent WatchJob and WatchPlanExecution streams in all; 0: no limit");

ABSL_FLAG(int, job_retention_days, 90,
          "terminal jobs, their events and request_ids are pruned this many days after they ended "
          "(in the background, in batches of 500); running jobs never; 0: keep them forever");

ABSL_FLAG(std::string, hooks_dir, "",
          "directory of the executables recovery plans may run as hooks (a plan names a file "
          "in it, never a command line); empty: plans run no hooks");

ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate drserver serves the API with and shows the agents as its client "
          "certificate (tools/mkcerts.sh writes one); re-read when the file changes");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle: client certificates and the agents' certificates must chain to it");
ABSL_FLAG(int, tls_refresh_s, 5, "seconds between looks at the TLS files for a rotation");
ABSL_FLAG(
    std::string, tokens_file, "",
    "JSON file of bearer tokens' SHA-256 hashes with identities and roles (docs/security.md); "
    "re-read on change and on SIGHUP");
ABSL_FLAG(std::string, policy_file, "",
          "JSON file binding identities (certificate SANs, token identities) to roles, and "
          "denials; re-read on change and on SIGHUP");
ABSL_FLAG(std::string, audit_file, "",
          "also append the audit trail (every mutating call, accepted or refused) to this "
          "JSON-lines file, one event per line, for a SIEM");
ABSL_FLAG(bool, insecure, false,
          "serve plaintext without authentication (anyone reaching the port can do everything); "
          "refused unless --listen is a loopback address");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "drserver --listen=0.0.0.0:50051 --db=/var/lib/drserver/drserver.db");
  absl::ParseCommandLine(argc, argv);
  // Lock-order checking costs on every lock in production; tests run it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e drserver %l: %v");
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  for (auto [name, value] :
       {std::pair{"sync_interval_s", absl::GetFlag(FLAGS_sync_interval_s)},
        std::pair{"retry_deadline_s", absl::GetFlag(FLAGS_retry_deadline_s)},
        std::pair{"agent_timeout_s", absl::GetFlag(FLAGS_agent_timeout_s)},
        std::pair{"agent_keepalive_s", absl::GetFlag(FLAGS_agent_keepalive_s)},
        std::pair{"agent_keepalive_timeout_s", absl::GetFlag(FLAGS_agent_keepalive_timeout_s)}}) {
    if (value <= 0) {
      spdlog::error("--{}: must be positive, got {}", name, value);
      return 2;
    }
  }
  hvdr::server::DrServer::Options options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.db_path = absl::GetFlag(FLAGS_db);
  options.db_synchronous = absl::GetFlag(FLAGS_db_synchronous);
  options.sync_interval = absl::Seconds(absl::GetFlag(FLAGS_sync_interval_s));
  options.retry_deadline = absl::Seconds(absl::GetFlag(FLAGS_retry_deadline_s));
  options.agent_timeout = absl::Seconds(absl::GetFlag(FLAGS_agent_timeout_s));
  options.agent_keepalive = absl::Seconds(absl::GetFlag(FLAGS_agent_keepalive_s));
  options.agent_keepalive_timeout = absl::Seconds(absl::GetFlag(FLAGS_agent_keepalive_timeout_s));
  options.max_queued_creations = absl::GetFlag(FLAGS_max_queued_jobs);
  options.progress_interval = absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  options.max_request_bytes = absl::GetFlag(FLAGS_max_request_bytes);
  options.max_watches_per_client = absl::GetFlag(FLAGS_max_watches_per_client);
  options.max_watches = absl::GetFlag(FLAGS_max_watches);
  if (absl::GetFlag(FLAGS_job_retention_days) < 0) {
    spdlog::error("--job_retention_days: must be 0 or more");
    return 2;
  }
  if (absl::GetFlag(FLAGS_progress_interval_ms) < 0) {
    spdlog::error("--progress_interval_ms: must be 0 or more, got {}",
                  absl::GetFlag(FLAGS_progress_interval_ms));
    return 2;
  }
  options.job_retention = absl::Hours(24) * absl::GetFlag(FLAGS_job_retention_days);
  options.hooks_dir = absl::GetFlag(FLAGS_hooks_dir);
  options.tls.cert = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls.key = absl::GetFlag(FLAGS_tls_key_file);
  options.tls.ca = absl::GetFlag(FLAGS_tls_ca_file);
  options.tls.refresh_seconds =
      static_cast<unsigned>(std::max(1, absl::GetFlag(FLAGS_tls_refresh_s)));
  options.tokens_file = absl::GetFlag(FLAGS_tokens_file);
  options.policy_file = absl::GetFlag(FLAGS_policy_file);
  options.insecure = absl::GetFlag(FLAGS_insecure);
  options.audit_file = absl::GetFlag(FLAGS_audit_file);
  auto server = hvdr::server::DrServer::Create(options);
  if (!server.ok()) {
    // One line on stderr naming what and why; the exit code says which
    // kind of failure (docs/api.md, "drserver exit codes").
    std::string message(server.status().message());
    for (char& c : message) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    std::fprintf(stderr, "drserver: cannot start: %s\n", message.c_str());
    return hvdr::server::StartupExitCode(server.status());
  }
  spdlog::info("serving dr.v1 on port {} ({}; database {})", (*server)->port(),
               options.tls.configured() ? "TLS, every call authenticated and authorized"
                                        : "PLAINTEXT, NO AUTHENTICATION (--insecure)",
               options.db_path);
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string path = absl::GetFlag(FLAGS_port_file);
    {
      std::ofstream out(path + ".tmp");
      out << (*server)->port() << "\n";
    }
    std::rename((path + ".tmp").c_str(), path.c_str());
  }
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    absl::Status reloaded = (*server)->ReloadAccess();
    if (!reloaded.ok()) spdlog::warn("SIGHUP: {}", reloaded.ToString());
  }
  spdlog::info(
      "signal {}: shutting down (running jobs go on and are re-attached at the next start)", sig);
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
