#include "server/server.h"

#include "common/hyperv_rules.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include "absl/strings/match.h"

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/status_macros.h"
#include "db/db_file.h"
#include "grpc/health/v1/health.pb.h"
#include "server/names.h"
#include "server/store_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

namespace {

absl::Status ListenFailed(const std::string& listen, absl::string_view why) {
  return ErrorWithDetail(absl::StatusCode::kUnavailable, dr::v1::RETURN_CODE_SYSTEM_IN_USE,
                         "listen", kListenFailed,
                         absl::StrCat("cannot listen on ", listen, ": ", why));
}

// Binds every address `listen` (host:port, [v6]:port) resolves to, as gRPC
// will, and lets go: gRPC only says that it could not bind, not why.
absl::Status CheckListen(const std::string& listen) {
  if (absl::StartsWith(listen, "unix:") || absl::StartsWith(listen, "unix-abstract:")) {
    return absl::OkStatus();
  }
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return ListenFailed(listen, "not host:port");
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) return ListenFailed(listen, gai_strerror(rc));
  absl::Status result = absl::OkStatus();
  for (addrinfo* a = found; a != nullptr && result.ok(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) result = ListenFailed(listen, strerror(errno));
    close(fd);
  }
  freeaddrinfo(found);
  return result;
}

}  // namespace

const char* const kHealthServices[] = {"",
                                       dr::v1::TopologyService::service_full_name(),
                                       dr::v1::FailoverService::service_full_name(),
                                       dr::v1::JobService::service_full_name(),
                                       dr::v1::PlanService::service_full_name(),
                                       dr::v1::AuditService::service_full_name()};

int StartupExitCode(const absl::Status& status) {
  const std::string reason = ErrorDetailOf(status).reason();
  if (reason == kListenFailed) return 3;
  for (const char* r : {kDbIsDirectory, kDbNotAFile, kDbUnreadable, kDbReadOnly,
                        kDbDirectoryMissing, kDbDirectoryReadOnly}) {
    if (reason == r) return 4;
  }
  for (const char* r : {kDbNotSqlite, kDbTruncated, kDbCorrupt}) {
    if (reason == r) return 5;
  }
  if (reason == kDbForeign) return 6;
  if (reason == kDbNewerSchema) return 7;
  if (reason == kDbInUse) return 8;
  return 1;
}

absl::StatusOr<std::unique_ptr<DrServer>> DrServer::Create(const Options& options) {
  std::unique_ptr<DrServer> s(new DrServer());
  s->options_ = options;
  if (!options.listen.empty()) {
    RETURN_IF_ERROR(security::CheckPlaintext(options.listen, options.tls.configured(),
                                             options.insecure, "drserver"));
  }
  if (options.tls.configured()) {
    RETURN_IF_ERROR(security::CheckTlsFiles(options.tls));
    security::AccessFiles::Options access_options;
    access_options.tokens_path = options.tokens_file;
    access_options.policy_path = options.policy_file;
    access_options.clock = options.clock;
    ASSIGN_OR_RETURN(s->access_, security::AccessFiles::Open(access_options));
    security::Authorizer::Options auth;
    auth.access = s->access_.get();
    // Refusals go to the audit trail (which exists before the server serves).
    // A refusal is answered once its event is committed.
    auth.on_refused = [raw = s.get(), clock = options.clock](
                          absl::string_view method, const std::string& who,
                          const absl::Status& refusal, std::function<void()> answer) {
      if (raw->audit_ == nullptr) return answer();
      AuditRefusal(raw->audit_.get(), clock, method, who, refusal, std::move(answer));
    };
    s->authorizer_ = std::make_unique<security::Authorizer>(auth);
  } else if (!options.tokens_file.empty() || !options.policy_file.empty()) {
    return absl::InvalidArgumentError(
        "--tokens_file and --policy_file need TLS (--tls_cert_file, --tls_key_file, "
        "--tls_ca_file): a token over plaintext is a token given away");
  }
  AgentStubFactory* agents = options.agents;
  if (agents == nullptr) {
    ChannelAgentStubFactory::Options channel_options;
    if (options.tls.configured()) {
      channel_options.credentials = security::ChannelCredentials(options.tls);
    }
    channel_options.keepalive_time = options.agent_keepalive;
    channel_options.keepalive_timeout = options.agent_keepalive_timeout;
    channel_options.connect_timeout = options.agent_timeout;
    s->own_agents_ = std::make_unique<ChannelAgentStubFactory>(channel_options);
    agents = s->own_agents_.get();
  }
  SqliteStore::Options store_options;
  store_options.sqlite.synchronous = options.db_synchronous;
  auto store = SqliteStore::Open(options.db_path, store_options);
  if (!store.ok()) return DatabaseStatus(store.status());  // it names the database
  s->store_ = *std::move(store);
  JobWriter::Options writer_options;
  writer_options.max_queued_creations = options.max_queued_creations;
  writer_options.progress_interval = options.progress_interval;
  s->writer_ = std::make_unique<JobWriter>(s->store_.get(), &s->hub_, writer_options);
  Dispatcher::Options dispatch_options;
  dispatch_options.retry_deadline = options.retry_deadline;
  dispatch_options.cancel_timeout = options.agent_timeout;
  s->dispatcher_ = std::make_unique<Dispatcher>(s->store_.get(), agents, s->writer_.get(),
                                                options.clock, dispatch_options);
  s->work_ = std::make_unique<Executor>(4);
  DrServer* self = s.get();
  s->dispatcher_->SetLinkListener([self](const std::string& address, const Dispatcher::Link& link) {
    self->work_->Schedule([self, address, link] { self->OnAgentLink(address, link); });
  });
  Topology::Options topology_options;
  topology_options.sync_interval = options.sync_interval;
  topology_options.agent_timeout = options.agent_timeout;
  s->topology_ =
      std::make_unique<Topology>(s->store_.get(), agents, options.clock, topology_options);
  s->topology_->SetDispatcher(s->dispatcher_.get());
  // A job whose end changes more than its VM's state fields (recovery
  // points, a test VM made or removed, a reversed relationship: see
  // OperationRule::changes_inventory) makes its host's inventory read again
  // at once (syncs of one host are coalesced). The others' end records the
  // VM's state with the job's; a full inventory per job would cost more
  // than the job itself.
  s->dispatcher_->SetJobEndListener([self](const dr::v1::Job& job) {
    const OperationRule* rule = FindRule(job.type());
    // An abandoned job's VM is in a state nobody read: read it too.
    const bool abandoned = job.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN;
    if (!abandoned && (rule == nullptr || !rule->changes_inventory)) return;
    self->work_->Schedule([self, host = job.host()] {
      self->topology_->SyncHostAsync(host, [host](const absl::StatusOr<dr::v1::Host>& synced) {
        if (!synced.ok())
          spdlog::warn("{}: sync after a job's end: {}", host, synced.status().ToString());
      });
    });
  });
  s->failover_ = std::make_unique<FailoverLogic>(s->store_.get(), s->writer_.get(),
                                                 s->dispatcher_.get(), options.clock);
  ApiLimits limits;
  limits.max_request_bytes = options.max_request_bytes;
  limits.watches.max_per_peer = options.max_watches_per_client;
  limits.watches.max_total = options.max_watches;
  s->topology_service_ =
      std::make_unique<TopologyServiceImpl>(s->topology_.get(), s->store_.get(), limits);
  s->failover_service_ = std::make_unique<FailoverServiceImpl>(s->failover_.get(), limits);
  s->job_service_ =
      std::make_unique<JobServiceImpl>(s->store_.get(), &s->hub_, s->dispatcher_.get(),
                                       s->writer_.get(), options.clock, s->work_.get(), limits);
  s->plans_ = std::make_unique<PlanLogic>(s->store_.get(), options.clock,
                                          PlanLogic::Options{options.hooks_dir});
  PlanExecutor::Options plan_options;
  plan_options.hooks_dir = options.hooks_dir;
  plan_options.executions = &s->executions_;
  s->plan_executor_ =
      std::make_unique<PlanExecutor>(s->store_.get(), s->failover_.get(), &s->hub_, s->plans_.get(),
                                     agents, options.clock, plan_options);
  s->plan_service_ =
      std::make_unique<PlanServiceImpl>(s->plans_.get(), s->plan_executor_.get(), s->work_.get(),
                                        limits, &s->executions_, s->job_service_->watch_limiter());
  s->plan_service_->set_authorizer(s->authorizer_.get());
  s->failover_service_->set_authorizer(s->authorizer_.get());
  s->job_service_->set_authorizer(s->authorizer_.get());

  s->audit_ = std::make_unique<AuditLog>(s->store_.get(), AuditLog::Options{options.audit_file});
  s->failover_service_->set_audit(s->audit_.get(), options.clock);
  s->audit_service_ = std::make_unique<AuditServiceImpl>(s->store_.get(), limits);
  grpc::EnableDefaultHealthCheckService(true);
  // gRPC's health service has no protobuf descriptor of its own: this one
  // (proto/grpc/health/v1) lets reflection describe grpc.health.v1.Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // A second server on a port in use must fail, not share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Above our own limit, so that a request over it reaches the handlers and
  // is refused with an ErrorDetail naming it; only one over this one too is
  // refused by gRPC itself (RESOURCE_EXHAUSTED, no detail).
  if (options.max_request_bytes > 0) {
    builder.SetMaxReceiveMessageSize(static_cast<int>(
        std::min<int64_t>(options.max_request_bytes + (1 << 20), std::numeric_limits<int>::max())));
  }
  if (!options.listen.empty()) {
    RETURN_IF_ERROR(CheckListen(options.listen));
    std::shared_ptr<grpc::ServerCredentials> credentials =
        options.tls.configured() ? security::ServerCredentials(
                                       options.tls, security::ClientCertificates::kVerifyIfPresent,
                                       security::CallProcessor(s->authorizer_.get()))
                                 : grpc::InsecureServerCredentials();
    builder.AddListeningPort(options.listen, credentials, &s->port_);
  }
  builder.RegisterService(s->topology_service_.get());
  builder.RegisterService(s->failover_service_.get());
  builder.RegisterService(s->job_service_.get());
  builder.RegisterService(s->plan_service_.get());
  builder.RegisterService(s->audit_service_.get());
  // Every mutating call is audited, in one place (server/audit_interceptor.h).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<AuditInterceptorFactory>(
      s->audit_.get(), s->authorizer_.get(), options.clock));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || (!options.listen.empty() && s->port_ == 0)) {
    return ListenFailed(options.listen, "gRPC could not bind it");
  }

  // Health per service ("" is the whole server): SERVING while the store
  // can write, NOT_SERVING from a write that failed in the storage (disk
  // full, I/O error) until one succeeds again.
  grpc::HealthCheckServiceInterface* health = s->server_->GetHealthCheckService();
  auto set_health = [health](bool serving) {
    for (const char* service : kHealthServices) health->SetServingStatus(service, serving);
  };
  set_health(s->store_->writable());
  s->store_->SetWriteObserver(set_health);

  // Whose agent is at each registered address, before anything dials one
  // (a channel made without it would name no host: TLS refuses it).
  std::vector<std::string> addresses;
  RETURN_IF_ERROR(ForEachHost(s->store_.get(), [&addresses, agents](const dr::v1::Host& h) {
    if (absl::StatusOr<std::string> id = ParseHostName("name", h.name()); id.ok()) {
      agents->Expect(h.agent_address(), *id);
    }
    addresses.push_back(h.agent_address());
    return true;
  }));
  // Re-attach what the previous process left running.
  auto active = s->store_->ListActiveJobs();
  if (!active.ok()) return active.status();
  for (const dr::v1::Job& job : *active) s->dispatcher_->Dispatch(job);
  // Then the plan executions the previous process left running.
  RETURN_IF_ERROR(s->plan_executor_->Recover());
  // A stream to every registered agent, jobs or not: reachability from now.
  for (const std::string& address : addresses) s->dispatcher_->KeepConnected(address);
  if (!active->empty()) spdlog::info("re-attaching {} jobs that were running", active->size());
  if (options.periodic_sync) s->topology_->StartPeriodicSync();
  Retention::Options retention_options;
  retention_options.retention = options.job_retention;
  s->retention_ = std::make_unique<Retention>(s->store_.get(), options.clock, retention_options);
  s->retention_->Start();
  return s;
}

DrServer::~DrServer() { Shutdown(); }

absl::Status DrServer::ReloadAccess() {
  if (access_ == nullptr) return absl::FailedPreconditionError("no --tokens_file or --policy_file");
  return access_->Reload();
}

void DrServer::OnAgentLink(const std::string& address, const Dispatcher::Link& link) {
  absl::Status listed = ForEachHost(store_.get(), [&](const dr::v1::Host& h) {
    if (h.agent_address() != address) return true;
    if (link.state == Dispatcher::Link::State::kUp) {
      // Back: read what happened on the host meanwhile.
      topology_->SyncHostAsync(
          h.name(), [name = h.name()](const absl::StatusOr<dr::v1::Host>& synced) {
            if (!synced.ok())
              spdlog::warn("{}: sync after reconnect: {}", name, synced.status().ToString());
          });
      return true;
    }
    dr::v1::Host contact = h;
    contact.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
    contact.set_stale(true);
    contact.set_last_error(link.error);
    absl::Status s = store_->UpdateHostContact(contact);
    if (!s.ok()) spdlog::error("{}: cannot record it unreachable: {}", h.name(), s.ToString());
    return true;
  });
  if (!listed.ok()) {
    spdlog::error("agent at {}: cannot record its link: {}", address, listed.ToString());
  }
}

std::shared_ptr<grpc::Channel> DrServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void DrServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // The health service goes with the gRPC server; later writes (the
  // flush below) no longer report to it.
  if (store_ != nullptr) store_->SetWriteObserver(nullptr);
  // Create may have failed half-way: only what was built is stopped.
  hub_.Drain();  // versions already published reach their watchers first
  hub_.CloseAll();
  executions_.CloseAll();
  if (server_ != nullptr)
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (topology_ != nullptr) topology_->Stop();
  if (dispatcher_ != nullptr) dispatcher_->Shutdown();
  if (retention_ != nullptr) retention_->Stop();
  // The writer's last callbacks may still schedule work (a job's end syncs
  // its host: refused now that the topology stopped), so work_ goes last.
  if (writer_ != nullptr) writer_->Shutdown();
  work_.reset();   // runs what is queued, then stops
  audit_.reset();  // what the answered calls queued is written first
  // After work_: queued PlanService calls use it.
  plan_executor_.reset();
}

}  // namespace server
}  // namespace hvdr
