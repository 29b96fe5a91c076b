// The topology aggregate: sites, hosts (with what is known of their
// agents) and each host's inventory (VM copies, replication relationships,
// recovery points, and which job claims a VM).
#ifndef HVDR_STORAGE_TOPOLOGY_STORE_H_
#define HVDR_STORAGE_TOPOLOGY_STORE_H_

#include <string>
#include <vector>

#include "storage/store_types.h"

namespace hvdr {

// The contract of storage/store.h applies (thread-safety, atomicity,
// durability, errors, ownership).
class TopologyStore {
 public:
  TopologyStore() = default;
  TopologyStore(const TopologyStore&) = delete;
  TopologyStore& operator=(const TopologyStore&) = delete;
  virtual ~TopologyStore() = default;

  // ---- Sites and hosts ----

  // Stores `host` (name, site, agent_address, create_time are read; the
  // contact fields start empty). Creates the site if it does not exist.
  // ALREADY_EXISTS if the name is taken. When `key` is not null it is
  // recorded in the same transaction; a repeat of the key (same method and
  // fingerprint) writes nothing and returns true ("replayed"); a repeat with
  // another method or fingerprint is INVALID_ARGUMENT kRequestReused.
  virtual absl::StatusOr<bool> CreateHost(const dr::v1::Host& host, const RequestKey* key) = 0;
  virtual absl::StatusOr<dr::v1::Host> GetHost(const std::string& name) = 0;
  // Ordered by name. `site` = "" for all.
  virtual absl::StatusOr<Page<dr::v1::Host>> ListHosts(const std::string& site,
                                                       const PageRequest& page) = 0;
  virtual absl::StatusOr<Page<dr::v1::Site>> ListSites(const PageRequest& page) = 0;
  // Records a contact attempt: reachability, last_contact_time (on success),
  // stale and last_error are taken from `host`, and hypervisor_host_name
  // when it is not empty; other fields are ignored.
  virtual absl::Status UpdateHostContact(const dr::v1::Host& host) = 0;
  // Removes the host with its VM copies, relationships and recovery points.
  // Jobs are kept (they are the audit trail). FAILED_PRECONDITION while a
  // VM of the host is claimed by a job. When `key` is not null it is
  // recorded in the same transaction as the delete; a repeat of the key
  // (same method and fingerprint) writes nothing and returns true
  // ("replayed"), even once the host is gone; a repeat with another method
  // or fingerprint is INVALID_ARGUMENT kRequestReused. A refused
  // delete records nothing.
  virtual absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key) = 0;

  // ---- Inventory ----

  // Makes the stored inventory of `host` equal to `vms` in one transaction,
  // and marks the host reachable, not stale, synced at `sync_time`: the
  // time the inventory was asked for. A VM copy's state fields (mode,
  // replication state, health, enabled state) are taken only if no newer
  // state was recorded for it (by a job's update observed after
  // `sync_time`): an inventory read before a job's end never overwrites
  // the state that job recorded. A VM
  // copy that disappeared is removed unless a job claims it (then it is kept
  // as it was). The claim (active_job) of a VM that stays is kept.
  // INVALID_ARGUMENT for a VM without a GUID or a duplicate GUID.
  virtual absl::Status ReplaceInventory(const std::string& host,
                                        const std::vector<dr::v1::VirtualMachineInventory>& vms,
                                        absl::Time sync_time) = 0;
  // Updates the state fields of one VM copy (mode, state, health, enabled
  // state, RPO figures) without touching its claim.
  virtual absl::Status UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm) = 0;
  virtual absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(const std::string& name) = 0;
  // Every copy of the VM with this GUID, on any host.
  virtual absl::StatusOr<std::vector<dr::v1::VirtualMachine>> FindVirtualMachinesById(
      const std::string& vm_id) = 0;
  // Ordered by name.
  virtual absl::StatusOr<Page<dr::v1::VirtualMachine>> ListVirtualMachines(
      const VirtualMachineFilter& filter, const PageRequest& page) = 0;
  virtual absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>> ListReplicationRelationships(
      const std::string& vm) = 0;
  // Newest first.
  virtual absl::StatusOr<Page<dr::v1::RecoveryPoint>> ListRecoveryPoints(
      const std::string& vm, const PageRequest& page) = 0;
  virtual absl::StatusOr<dr::v1::RecoveryPoint> GetRecoveryPoint(const std::string& name) = 0;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_TOPOLOGY_STORE_H_
