// hvagent: the per-host agent. Serves dr.v1.HostAgentService for drserver
// and performs each operation on the host's hypervisor: the simulated
// Hyper-V (--backend=sim, Linux) or WMI (--backend=wmi, Windows).
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "hvagent/agent_service.h"
#include "hvagent/job_journal.h"
#include "hvagent/job_runner.h"
#include "hvagent/sim/sim_backend.h"
#include "security/authorizer.h"
#include "security/tls.h"
#include "spdlog/spdlog.h"

#ifdef _WIN32
#include "hvagent/wmi/com_wmi_session.h"
#include "hvagent/wmi/wmi_backend.h"
#endif

ABSL_FLAG(std::string, listen, "127.0.0.1:50061",
          "host:port to serve dr.v1.HostAgentService on; port 0 picks a free port");
ABSL_FLAG(std::string, port_file, "",
          "if set, write the bound port to this file once serving (for scripts and tests)");
ABSL_FLAG(std::string, backend, "sim", "hypervisor backend: sim (simulated Hyper-V) or wmi");
ABSL_FLAG(std::string, scenario, "",
          "sim: scenario file (hvdr.sim.v1.Scenario text proto) used when --state does not exist");
ABSL_FLAG(std::string, state, "",
          "sim: the simulated hypervisor's state file; it outlives the agent like vmms.exe");
ABSL_FLAG(std::string, journal, "hvagent-journal.db", "the agent's job journal (SQLite)");
ABSL_FLAG(
    int64_t, sim_max_history, 100000,
    "--backend=sim: operations the simulated hypervisor's ledger (SimState.history) keeps, the "
    "newest; older ones are only counted (history_dropped); 0: all");
ABSL_FLAG(
    int, journal_retention_days, 30,
    "done jobs are pruned from the journal this many days after they were created (never an "
    "unfinished one); must exceed the longest time drserver may be down; 0: keep them forever");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate naming this host (its host id as a DNS SAN; tools/mkcerts.sh writes "
          "one); re-read when the file changes");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA bundle that drserver's client certificate must chain to");
ABSL_FLAG(std::string, drserver_identity, "drserver",
          "comma-separated certificate identities (SANs) allowed to call this agent: drserver's");
ABSL_FLAG(int, tls_refresh_s, 5, "seconds between looks at the TLS files for a rotation");
ABSL_FLAG(bool, insecure, false,
          "serve plaintext and accept any caller (anyone reaching the port can fail VMs over); "
          "refused unless --listen is a loopback address");
ABSL_FLAG(int, poll_interval_ms, 100, "how often running hypervisor jobs are read");
ABSL_FLAG(int, ready_check_interval_ms, 100,
          "how often a VM is read for a GetVirtualMachine that waits for its guest's heartbeat "
          "(heartbeat_ok_wait: a plan's readiness step)");
ABSL_FLAG(int, progress_interval_ms, 1000,
          "a running job's progress (only its percent moved) is sent to drserver at most this "
          "often; state changes and ends at once (0: every poll's)");
ABSL_FLAG(std::string, journal_synchronous, "FULL",
          "SQLite synchronous for the journal: FULL survives power loss; NORMAL a process crash");

namespace {

int Fail(const std::string& message) {
  spdlog::error("{}", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "hvagent --backend=sim --scenario=deploy/examples/replica-site.textproto "
      "--state=/var/lib/hvagent/sim-state.bin --listen=0.0.0.0:50061");
  absl::ParseCommandLine(argc, argv);
  hvdr::security::TlsFiles tls;
  tls.cert = absl::GetFlag(FLAGS_tls_cert_file);
  tls.key = absl::GetFlag(FLAGS_tls_key_file);
  tls.ca = absl::GetFlag(FLAGS_tls_ca_file);
  tls.refresh_seconds = static_cast<unsigned>(std::max(1, absl::GetFlag(FLAGS_tls_refresh_s)));
  if (absl::Status plain = hvdr::security::CheckPlaintext(
          absl::GetFlag(FLAGS_listen), tls.configured(), absl::GetFlag(FLAGS_insecure), "hvagent");
      !plain.ok()) {
    return Fail(std::string(plain.message()));
  }
  // Lock-order checking costs on every lock in production; tests run it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e hvagent %l: %v");

  // SIGTERM/SIGINT are taken by a thread of their own (sigwait).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<hvdr::agent::Backend> backend;
  const std::string kind = absl::GetFlag(FLAGS_backend);
  if (kind == "sim") {
    hvdr::sim::v1::Scenario scenario;
    if (!absl::GetFlag(FLAGS_scenario).empty()) {
      auto loaded = hvdr::sim::SimBackend::LoadScenarioFile(absl::GetFlag(FLAGS_scenario));
      if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
      scenario = *std::move(loaded);
    } else if (absl::GetFlag(FLAGS_state).empty()) {
      return Fail("--backend=sim needs --scenario or an existing --state file");
    }
    hvdr::sim::SimBackend::Options options;
    options.state_path = absl::GetFlag(FLAGS_state);
    options.max_history = absl::GetFlag(FLAGS_sim_max_history);
    auto sim = hvdr::sim::SimBackend::Open(options, scenario);
    if (!sim.ok()) return Fail(absl::StrCat("simulated Hyper-V: ", sim.status().message()));
    backend = *std::move(sim);
    spdlog::info("backend: simulated Hyper-V (state {})",
                 options.state_path.empty() ? "in memory" : options.state_path);
  } else if (kind == "wmi") {
#ifdef _WIN32
    std::unique_ptr<hvdr::wmi::ComWmiSession> session;
    hvdr::wmi::WmiStatus s =
        hvdr::wmi::ComWmiSession::Connect(hvdr::wmi::kVirtualizationNamespace, &session);
    if (!s.ok()) return Fail(absl::StrCat("--backend=wmi: ", s.message));
    backend = std::make_unique<hvdr::wmi::WmiBackend>(std::move(session));
    spdlog::info("backend: Hyper-V through WMI ({})", hvdr::wmi::kVirtualizationNamespace);
#else
    return Fail(
        "--backend=wmi: this build has no WMI session (COM exists only on Windows; see README "
        "'Building the agent for Windows'). Hyper-V return code 32770 Not Supported.");
#endif
  } else {
    return Fail(absl::StrCat("--backend: must be sim or wmi, not \"", kind, "\""));
  }

  auto journal = hvdr::agent::JobJournal::Open(absl::GetFlag(FLAGS_journal),
                                               absl::GetFlag(FLAGS_journal_synchronous));
  if (!journal.ok()) return Fail(absl::StrCat("--journal: ", journal.status().message()));
  if (absl::GetFlag(FLAGS_journal_retention_days) < 0)
    return Fail("--journal_retention_days: must be 0 or more");
  (*journal)->SetRetention(absl::Hours(24) * absl::GetFlag(FLAGS_journal_retention_days));
  if (absl::GetFlag(FLAGS_poll_interval_ms) <= 0) {
    return Fail("--poll_interval_ms: must be positive");
  }
  hvdr::agent::JobRunner::Options runner_options;
  runner_options.poll_interval = absl::Milliseconds(absl::GetFlag(FLAGS_poll_interval_ms));
  if (absl::GetFlag(FLAGS_ready_check_interval_ms) <= 0) {
    return Fail("--ready_check_interval_ms: must be positive");
  }
  if (absl::GetFlag(FLAGS_progress_interval_ms) < 0) {
    return Fail("--progress_interval_ms: must be 0 or more");
  }
  runner_options.progress_interval = absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  auto runner = hvdr::agent::JobRunner::Create(backend.get(), journal->get(), runner_options);
  if (!runner.ok()) return Fail(absl::StrCat("recovering jobs: ", runner.status().message()));

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  std::unique_ptr<hvdr::security::Authorizer> authorizer;
  if (tls.configured()) {
    if (absl::Status files = hvdr::security::CheckTlsFiles(tls); !files.ok()) {
      return Fail(std::string(files.message()));
    }
    hvdr::security::Authorizer::Options auth;
    for (absl::string_view id :
         absl::StrSplit(absl::GetFlag(FLAGS_drserver_identity), ',', absl::SkipEmpty())) {
      auth.agent_callers.insert(std::string(id));
    }
    if (auth.agent_callers.empty()) return Fail("--drserver_identity: must name drserver");
    authorizer = std::make_unique<hvdr::security::Authorizer>(auth);
    // A certificate is verified when shown; a caller without one reaches
    // the check and is refused with PERMISSION_DENIED (32769) by name.
    credentials =
        hvdr::security::ServerCredentials(tls, hvdr::security::ClientCertificates::kVerifyIfPresent,
                                          hvdr::security::CallProcessor(authorizer.get()));
  }

  hvdr::agent::AgentServiceImpl service(
      backend.get(), runner->get(), /*workers=*/4,
      absl::Milliseconds(absl::GetFlag(FLAGS_ready_check_interval_ms)));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), credentials, &port);
  builder.RegisterService(&service);
  // drserver pings its agents (HTTP/2 keepalive) to find a hung one: accept
  // its pings, also between calls, rather than closing the connection.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::StrCat("--listen: cannot listen on ", absl::GetFlag(FLAGS_listen)));
  }
  spdlog::info(
      "serving dr.v1.HostAgentService on port {} ({}; {} jobs re-attached)", port,
      tls.configured() ? "mutual TLS, drserver only" : "PLAINTEXT, ANY CALLER (--insecure)",
      (*runner)->ActiveJobs());
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    const std::string path = absl::GetFlag(FLAGS_port_file);
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      out << port << "\n";
    }
    std::rename(tmp.c_str(), path.c_str());
  }

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down (running jobs go on in the hypervisor)", sig);
  service.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  (*runner)->Stop();
  spdlog::info("stopped");
  return 0;
}
