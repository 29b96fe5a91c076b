// TopologyService logic and inventory sync, free of gRPC. Hosts are
// registered by clients; VMs, relationships and recovery points come from
// each host's agent (GetInventory), pulled at registration, on demand and
// every sync interval. A host that cannot be reached keeps its last known
// inventory, marked stale; nothing is dropped.
#ifndef HVDR_SERVER_TOPOLOGY_H_
#define HVDR_SERVER_TOPOLOGY_H_

#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/executor.h"
#include "dr/v1/topology_service.pb.h"
#include "server/agent_client.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class Dispatcher;

class Topology {
 public:
  struct Options {
    absl::Duration sync_interval = absl::Seconds(60);
    absl::Duration agent_timeout = absl::Seconds(10);
  };
  // Not owned.
  Topology(Store* store, AgentStubFactory* agents, Clock* clock, const Options& options)
      : store_(store), agents_(agents), clock_(clock), options_(options) {}
  ~Topology();
  // Registered hosts' agents are kept connected through `dispatcher` (not
  // owned; may be null). Set before serving.
  void SetDispatcher(Dispatcher* dispatcher) { dispatcher_ = dispatcher; }

  using HostDone = std::function<void(const absl::StatusOr<dr::v1::Host>&)>;

  // Records the host (with its request_id, in one transaction), then syncs
  // it. A retry with the same request_id answers the host as stored; if the
  // host has never synced (the first call died before its sync, or the
  // agent was unreachable) the retry runs the sync first. `done` runs once,
  // on this thread or on one of the topology's (never blocking a gRPC
  // callback thread).
  void RegisterHostAsync(const dr::v1::RegisterHostRequest& request, HostDone done);
  // Removes the host and its inventory, recording the request_id in the
  // same transaction: a retry answers OK again (also once the host is gone,
  // and also when it raced the first call); the request_id of another
  // request is INVALID_ARGUMENT (field request_id).
  absl::Status DeleteHost(const dr::v1::DeleteHostRequest& request);
  // DeleteHost on the topology's threads; `done` runs there.
  void DeleteHostAsync(const dr::v1::DeleteHostRequest& request,
                       std::function<void(const absl::Status&)> done);
  // Pulls the inventory now. An unreachable agent is not an error: the host
  // comes back marked unreachable and stale, with last_error saying why.
  // The agent call is asynchronous (bounded by agent_timeout) and the store
  // write runs on the topology's threads, so neither the caller nor other
  // hosts' syncs wait for a slow or dead agent. Requests for one host are
  // coalesced: one made while a sync of the host runs is answered by the
  // next sync, which starts when the running one ends (so its inventory was
  // read after the request was made).
  //
  // The inventory is refused, nothing changed and the host flagged stale
  // with last_error saying why, when the agent names another host than the
  // one it named at the first good sync (replicated VMs share their GUID on
  // both hosts: mixing up hosts could drive the wrong copy), or answers with
  // no VM at all while the host has some (a broken WMI provider must not
  // silently delete the inventory). Both are FAILED_PRECONDITION (32775).
  //
  // An inventory the store refuses (the agent's data is malformed) is
  // INTERNAL, 32768, field "name" (RegisterHost: "host_id"), reason
  // INVENTORY_REJECTED: the store's own field names
  // (virtual_machines[i].vm_id) are the agent's, not the caller's.
  void SyncHostAsync(const std::string& name, HostDone done);
  // Test hooks: RegisterHostAsync and SyncHostAsync, waited for (never on a
  // gRPC callback thread).
  absl::StatusOr<dr::v1::Host> RegisterHostForTest(const dr::v1::RegisterHostRequest& request);
  absl::StatusOr<dr::v1::Host> SyncHostForTest(const std::string& name);
  // Reads, answered on the caller's thread.
  absl::StatusOr<dr::v1::ListVirtualMachinesResponse> ListVirtualMachines(
      const dr::v1::ListVirtualMachinesRequest& request);
  absl::StatusOr<dr::v1::ListHostsResponse> ListHosts(const dr::v1::ListHostsRequest& request);

  // Syncs every host every sync_interval on a background thread, all hosts
  // at once (each bounded by agent_timeout).
  void StartPeriodicSync();
  // Stops the periodic sync and waits for the syncs in flight.
  void Stop();

 private:
  // RegisterHostAsync's work, on the topology's threads.
  void Register(const dr::v1::RegisterHostRequest& request, HostDone done);
  struct InventoryCall;
  struct Syncing {
    std::vector<HostDone> current;  // answered by the sync running
    std::vector<HostDone> next;     // asked for while it ran
  };
  // Starts the sync of `name` (its entry in syncing_ is set).
  void StartSync(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // The agent answered (or not): records it. On the topology's threads.
  absl::StatusOr<dr::v1::Host> Record(const InventoryCall& call, const grpc::Status& status);
  // Answers the running sync's callers and starts the next one if asked.
  void Finish(const std::string& name, const absl::StatusOr<dr::v1::Host>& result)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Closes the kept stream to `address` unless another host uses it.
  void ForgetAgentIfUnused(const std::string& address);

  Store* const store_;
  AgentStubFactory* const agents_;
  Clock* const clock_;
  const Options options_;
  Dispatcher* dispatcher_ = nullptr;
  absl::Notification stop_;
  std::thread syncer_;
  absl::Mutex mu_;
  std::map<std::string, Syncing> syncing_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;     // agent calls not yet recorded
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // no new sync after Stop()
  // Store writes of finished agent calls. Declared last: destroyed (and
  // drained) first.
  Executor work_{2};
};

// RegisterHost's checks of the request itself (host_id, site,
// agent_address, request_id), before anything is recorded.
absl::Status CheckRegisterHostRequest(const dr::v1::RegisterHostRequest& request);

// The TopologyService methods answered from the store alone, as the
// handlers run them: the request's checks, then the read. A name that is
// well formed but unknown is NOT_FOUND naming the request's field.
absl::StatusOr<dr::v1::Host> GetHost(Store* store, const dr::v1::GetHostRequest& request);
absl::StatusOr<dr::v1::ListSitesResponse> ListSites(Store* store,
                                                    const dr::v1::ListSitesRequest& request);
absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(
    Store* store, const dr::v1::GetVirtualMachineRequest& request);
absl::StatusOr<dr::v1::ListReplicationRelationshipsResponse> ListReplicationRelationships(
    Store* store, const dr::v1::ListReplicationRelationshipsRequest& request);
absl::StatusOr<dr::v1::ListRecoveryPointsResponse> ListRecoveryPoints(
    Store* store, const dr::v1::ListRecoveryPointsRequest& request);

// INVALID_ARGUMENT for page_size < 0.
absl::Status CheckPageSize(int32_t page_size);

// Calls `visit` with every registered host, page by page, until it returns
// false. The store's error, if a page cannot be read.
absl::Status ForEachHost(Store* store, const std::function<bool(const dr::v1::Host&)>& visit);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_TOPOLOGY_H_
