// drserver: the central DR orchestration server, assembled. Owns the store,
// the job writer, hub and dispatcher, the topology logic and the gRPC
// server (with health checking and reflection). On start it re-attaches
// every job that was not terminal when the previous process stopped.
#ifndef HVDR_SERVER_SERVER_H_
#define HVDR_SERVER_SERVER_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/executor.h"
#include "security/access.h"
#include "security/authorizer.h"
#include "security/tls.h"
#include "server/agent_client.h"
#include "server/audit_interceptor.h"
#include "server/audit_log.h"
#include "server/dispatcher.h"
#include "server/execution_hub.h"
#include "server/failover.h"
#include "server/job_hub.h"
#include "server/job_writer.h"
#include "server/retention.h"
#include "server/services.h"
#include "server/topology.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {

class DrServer {
 public:
  struct Options {
    // host:port; port 0 picks a free one; "" serves in-process only.
    std::string listen = "127.0.0.1:50051";
    std::string db_path = "drserver.db";
    // PRAGMA synchronous: FULL survives power loss, NORMAL a process crash.
    std::string db_synchronous = "FULL";
    absl::Duration sync_interval = absl::Seconds(60);
    absl::Duration retry_deadline = absl::Seconds(30);
    absl::Duration agent_timeout = absl::Seconds(10);
    // HTTP/2 keepalive of the agent channels: a hung agent is found within
    // agent_keepalive + agent_keepalive_timeout.
    absl::Duration agent_keepalive = absl::Seconds(10);
    absl::Duration agent_keepalive_timeout = absl::Seconds(5);
    bool periodic_sync = true;
    // Limits (docs/api.md, Limits).
    // New jobs waiting to be stored beyond which requests are refused
    // (RESOURCE_EXHAUSTED, 32778, retry advice); agent statuses are never.
    int64_t max_queued_creations = 10000;
    // A running job's progress (only its percent moved) is written at most
    // this often (JobWriter::Options::progress_interval); state changes and
    // ends at once.
    absl::Duration progress_interval = absl::Seconds(1);
    // Requests larger than this (serialized) are refused with an ErrorDetail
    // (field "request"); gRPC's own receive limit is this + 1 MiB.
    int64_t max_request_bytes = 4 << 20;
    // Concurrent WatchJob and WatchPlanExecution streams (counted together)
    // per client connection and in all.
    int max_watches_per_client = 1000;
    int max_watches = 100000;
    // Terminal jobs (with their events and request_ids) are pruned this long
    // after their last change, in the background; zero: kept forever.
    absl::Duration job_retention = absl::Hours(24 * 90);
    // Where recovery plans' hook executables live; "" runs no hooks.
    std::string hooks_dir;
    // Security (docs/security.md). With `tls` set, the API is served over
    // TLS and every call is authenticated (a client certificate chaining to
    // tls.ca, or a bearer token of `tokens_file`) and authorized (roles from
    // the token and `policy_file`) before its handler runs; the same
    // certificate is drserver's client certificate towards the agents,
    // whose certificates must chain to tls.ca and name their host.
    security::TlsFiles tls;
    std::string tokens_file;
    std::string policy_file;
    // Plaintext and no authentication: refused unless `listen` is a
    // loopback address. One of `tls` and `insecure` is required to listen.
    bool insecure = false;
    // The audit trail (every mutating call, accepted or refused) also goes
    // to this JSON-lines file, one event per line, for a SIEM; "" : the
    // database only.
    std::string audit_file;
    // Not owned; null: real channels to the agents.
    AgentStubFactory* agents = nullptr;
    // Not owned.
    Clock* clock = RealClock::Get();
  };

  // Opens the store (storage/sqlite_store.h: refusals name the database
  // and the reason), binds `listen` (refused with reason LISTEN_FAILED and
  // the system's reason, e.g. "Address already in use", when it cannot; the
  // port is never shared with another process: SO_REUSEPORT is off) and
  // starts serving. On error nothing is left running.
  static absl::StatusOr<std::unique_ptr<DrServer>> Create(const Options& options);
  ~DrServer();
  DrServer(const DrServer&) = delete;
  DrServer& operator=(const DrServer&) = delete;

  // The bound port (0 when serving in-process only).
  int port() const { return port_; }
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Ends watch streams with UNAVAILABLE, stops accepting calls, closes the
  // agent streams (jobs go on in the hypervisors) and flushes the store.
  // Idempotent; also safe on a server whose Create failed half-way.
  void Shutdown();
  // Re-reads the tokens and policy files now (SIGHUP); they are also
  // re-read within a second of a change. A file that does not parse keeps
  // the previous rules, and the error says why.
  absl::Status ReloadAccess();

  // Test hooks: the server's parts, for tests that seed or inspect them
  // directly. Production code goes through the gRPC services.
  SqliteStore* StoreForTest() { return store_.get(); }
  AuditLog* AuditForTest() { return audit_.get(); }
  JobHub* HubForTest() { return &hub_; }
  Dispatcher* DispatcherForTest() { return dispatcher_.get(); }
  JobWriter* WriterForTest() { return writer_.get(); }

 private:
  DrServer() = default;

  // A kept agent stream went up or down: record it on the agent's hosts
  // (and sync a host whose agent is back). Runs on work_.
  void OnAgentLink(const std::string& address, const Dispatcher::Link& link);

  Options options_;
  std::unique_ptr<security::AccessFiles> access_;
  std::unique_ptr<security::Authorizer> authorizer_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AuditServiceImpl> audit_service_;
  std::unique_ptr<ChannelAgentStubFactory> own_agents_;
  // Store writes and agent calls moved off gRPC's callback threads.
  std::unique_ptr<Executor> work_;
  std::unique_ptr<SqliteStore> store_;
  JobHub hub_;
  // Stored plan execution changes, for WatchPlanExecution.
  ExecutionHub executions_;
  std::unique_ptr<JobWriter> writer_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<Retention> retention_;
  std::unique_ptr<FailoverLogic> failover_;
  std::unique_ptr<PlanLogic> plans_;
  std::unique_ptr<PlanExecutor> plan_executor_;
  std::unique_ptr<TopologyServiceImpl> topology_service_;
  std::unique_ptr<FailoverServiceImpl> failover_service_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<PlanServiceImpl> plan_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

// The services drserver's health service reports ("" is the server as a
// whole): SERVING while the store can write, NOT_SERVING while writes fail
// in the storage (SqliteStore::writable()).
extern const char* const kHealthServices[6];

// Reason (ErrorDetail, field "listen") of a listen address that cannot be bound.
inline constexpr char kListenFailed[] = "LISTEN_FAILED";

// drserver's exit code for a Create error (docs/api.md, "drserver exit
// codes"): 3 cannot listen, 4 the database path cannot be used (directory,
// permissions, read-only), 5 the database is damaged (not SQLite,
// truncated, corrupt), 6 another program's database, 7 a newer schema, 8 in
// use by another drserver, 1 anything else.
int StartupExitCode(const absl::Status& status);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_SERVER_H_
