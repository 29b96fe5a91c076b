#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

absl::StatusOr<std::unique_ptr<DrServer>> DrServer::Create(const Options& options) {
  std::unique_ptr<DrServer> s(new DrServer());
  s->options_ = options;
  AgentStubFactory* agents = options.agents;
  if (agents == nullptr) {
    ChannelAgentStubFactory::Options channel_options;
    channel_options.keepalive_time = options.agent_keepalive;
    channel_options.keepalive_timeout = options.agent_keepalive_timeout;
    channel_options.connect_timeout = options.agent_timeout;
    s->own_agents_ = std::make_unique<ChannelAgentStubFactory>(channel_options);
    agents = s->own_agents_.get();
  }
  SqliteStore::Options store_options;
  store_options.sqlite.synchronous = options.db_synchronous;
  auto store = SqliteStore::Open(options.db_path, store_options);
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat("database ", options.db_path, ": ", store.status().message()));
  }
  s->store_ = *std::move(store);
  JobWriter::Options writer_options;
  writer_options.max_queued_creations = options.max_queued_creations;
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
  s->topology_ = std::make_unique<Topology>(s->store_.get(), agents, options.clock, topology_options);
  s->topology_->SetDispatcher(s->dispatcher_.get());
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
      std::make_unique<JobServiceImpl>(s->store_.get(), &s->hub_, s->dispatcher_.get(), limits);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // Above our own limit, so that a request over it reaches the handlers and
  // is refused with an ErrorDetail naming it; only one over this one too is
  // refused by gRPC itself (RESOURCE_EXHAUSTED, no detail).
  if (options.max_request_bytes > 0) {
    builder.SetMaxReceiveMessageSize(static_cast<int>(
        std::min<int64_t>(options.max_request_bytes + (1 << 20), std::numeric_limits<int>::max())));
  }
  if (!options.listen.empty()) {
    builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &s->port_);
  }
  builder.RegisterService(s->topology_service_.get());
  builder.RegisterService(s->failover_service_.get());
  builder.RegisterService(s->job_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || (!options.listen.empty() && s->port_ == 0)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }

  // Re-attach what the previous process left running.
  auto active = s->store_->ListActiveJobs();
  if (!active.ok()) return active.status();
  for (const dr::v1::Job& job : *active) s->dispatcher_->Dispatch(job);
  // A stream to every registered agent, jobs or not: reachability from now.
  std::string token;
  do {
    auto hosts = s->store_->ListHosts("", {1000, token});
    if (!hosts.ok()) return hosts.status();
    for (const dr::v1::Host& h : hosts->items) s->dispatcher_->KeepConnected(h.agent_address());
    token = hosts->next_page_token;
  } while (!token.empty());
  if (!active->empty()) spdlog::info("re-attaching {} jobs that were running", active->size());
  if (options.periodic_sync) s->topology_->StartPeriodicSync();
  Retention::Options retention_options;
  retention_options.retention = options.job_retention;
  s->retention_ = std::make_unique<Retention>(s->store_.get(), options.clock, retention_options);
  s->retention_->Start();
  return s;
}

DrServer::~DrServer() { Shutdown(); }

void DrServer::OnAgentLink(const std::string& address, const Dispatcher::Link& link) {
  std::string token;
  do {
    auto hosts = store_->ListHosts("", {1000, token});
    if (!hosts.ok()) {
      spdlog::error("agent at {}: cannot record its link: {}", address, hosts.status().ToString());
      return;
    }
    for (const dr::v1::Host& h : hosts->items) {
      if (h.agent_address() != address) continue;
      if (link.state == Dispatcher::Link::State::kUp) {
        // Back: read what happened on the host meanwhile.
        absl::StatusOr<dr::v1::Host> synced = topology_->SyncHost(h.name());
        if (!synced.ok()) spdlog::warn("{}: sync after reconnect: {}", h.name(), synced.status().ToString());
        continue;
      }
      dr::v1::Host contact = h;
      contact.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
      contact.set_stale(true);
      contact.set_last_error(link.error);
      absl::Status s = store_->UpdateHostContact(contact);
      if (!s.ok()) spdlog::error("{}: cannot record it unreachable: {}", h.name(), s.ToString());
    }
    token = hosts->next_page_token;
  } while (!token.empty());
}

std::shared_ptr<grpc::Channel> DrServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void DrServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  hub_.Drain();  // versions already published reach their watchers first
  hub_.CloseAll();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  topology_->Stop();
  if (retention_ != nullptr) retention_->Stop();
  dispatcher_->Shutdown();
  work_.reset();  // runs what is queued, then stops
  writer_->Shutdown();
}

}  // namespace server
}  // namespace hvdr
