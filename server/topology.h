// TopologyService logic and inventory sync, free of gRPC. Hosts are
// registered by clients; VMs, relationships and recovery points come from
// each host's agent (GetInventory), pulled at registration, on demand and
// every sync interval. A host that cannot be reached keeps its last known
// inventory, marked stale; nothing is dropped.
#ifndef HVDR_SERVER_TOPOLOGY_H_
#define HVDR_SERVER_TOPOLOGY_H_

#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
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

  // Records the host (with its request_id, in one transaction), then syncs
  // it. A retry with the same request_id answers the host as stored; if the
  // host has never synced (the first call died before its sync, or the
  // agent was unreachable) the retry runs the sync first.
  absl::StatusOr<dr::v1::Host> RegisterHost(const dr::v1::RegisterHostRequest& request);
  // Removes the host and its inventory, recording the request_id in the
  // same transaction: a retry answers OK again (also once the host is gone,
  // and also when it raced the first call); the request_id of another
  // request is INVALID_ARGUMENT (field request_id).
  absl::Status DeleteHost(const dr::v1::DeleteHostRequest& request);
  // Pulls the inventory now. An unreachable agent is not an error: the host
  // comes back marked unreachable and stale, with last_error saying why.
  // An inventory the store refuses (the agent's data is malformed) is
  // INTERNAL, 32768, field "name", reason INVENTORY_REJECTED: the store's
  // own field names (virtual_machines[i].vm_id) are the agent's, not the
  // caller's.
  absl::StatusOr<dr::v1::Host> SyncHost(const std::string& name);
  absl::StatusOr<dr::v1::ListVirtualMachinesResponse> ListVirtualMachines(
      const dr::v1::ListVirtualMachinesRequest& request);
  absl::StatusOr<dr::v1::ListHostsResponse> ListHosts(const dr::v1::ListHostsRequest& request);

  // Syncs every host every sync_interval on a background thread.
  void StartPeriodicSync();
  void Stop();

 private:
  // SyncHost for RegisterHost: an error naming the host's `name` names
  // RegisterHost's `host_id` instead.
  absl::StatusOr<dr::v1::Host> RegistrationSync(const std::string& name);
  // Closes the kept stream to `address` unless another host uses it.
  void ForgetAgentIfUnused(const std::string& address);

  Store* const store_;
  AgentStubFactory* const agents_;
  Clock* const clock_;
  const Options options_;
  Dispatcher* dispatcher_ = nullptr;
  absl::Notification stop_;
  std::thread syncer_;
};

// INVALID_ARGUMENT for page_size < 0.
absl::Status CheckPageSize(int32_t page_size);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_TOPOLOGY_H_
