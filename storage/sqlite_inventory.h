// Each host's inventory on SQLite: VM copies with their replication state,
// replication relationships and recovery points, and the job that claims a
// VM copy (the inventory half of the topology aggregate;
// storage/topology_store.h has the contract).
#ifndef HVDR_STORAGE_SQLITE_INVENTORY_H_
#define HVDR_STORAGE_SQLITE_INVENTORY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/sqlite.h"
#include "dr/v1/agent_service.pb.h"
#include "dr/v1/resources.pb.h"
#include "storage/store_db.h"
#include "storage/store_types.h"

namespace hvdr {

class SqliteInventory {
 public:
  explicit SqliteInventory(StoreDb* db) : db_(db) {}

  absl::Status ReplaceInventory(const std::string& host,
                                const std::vector<dr::v1::VirtualMachineInventory>& vms,
                                absl::Time sync_time);
  absl::Status UpdateVirtualMachineState(const dr::v1::VirtualMachine& vm);
  absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(const std::string& name);
  absl::StatusOr<std::vector<dr::v1::VirtualMachine>> FindVirtualMachinesById(
      const std::string& vm_id);
  absl::StatusOr<Page<dr::v1::VirtualMachine>> ListVirtualMachines(
      const VirtualMachineFilter& filter, const PageRequest& page);
  absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>> ListReplicationRelationships(
      const std::string& vm);
  absl::StatusOr<Page<dr::v1::RecoveryPoint>> ListRecoveryPoints(const std::string& vm,
                                                                 const PageRequest& page);
  absl::StatusOr<dr::v1::RecoveryPoint> GetRecoveryPoint(const std::string& name);

  // Sets the state fields of VM copy `name` from `vm` (mode, state, health,
  // enabled state, RPO figures), observed at `observed` (kept, so that an
  // inventory read before it cannot overwrite it). When `release` names a
  // job, the copy's claim by that job ends in the same statement (a job's
  // end); any other claim is left. NOT_FOUND for an unknown copy.
  // REQUIRES: `db` is the writer, in a transaction.
  static absl::Status UpdateVmStateIn(Sqlite& db, const std::string& name,
                                      const dr::v1::VirtualMachine& vm, absl::Time observed,
                                      const std::string& release = "");

  // Claims: which job holds a VM copy. A claimed copy is not removed by
  // ReplaceInventory, and its host cannot be deleted.
  // OK when VM copy `vm` exists and no job claims it; NOT_FOUND, or ABORTED
  // kVmClaimed naming the job that does. REQUIRES: as UpdateVmStateIn.
  static absl::Status CheckUnclaimedIn(Sqlite& db, const std::string& vm);
  // `job` (already stored: the claim references it) claims VM copy `vm`, in
  // one statement when the copy is free; else the error CheckUnclaimedIn
  // gives, and nothing changed. REQUIRES: as UpdateVmStateIn.
  static absl::Status ClaimIn(Sqlite& db, const std::string& vm, const std::string& job);
  // VM copy `vm` is free again if `job` claims it (a job claims its own VM
  // copy only). REQUIRES: as UpdateVmStateIn.
  static absl::Status ReleaseIn(Sqlite& db, const std::string& vm, const std::string& job);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_INVENTORY_H_
