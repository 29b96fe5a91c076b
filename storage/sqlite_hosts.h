// Sites and hosts on SQLite: the hosts half of the topology aggregate
// (storage/topology_store.h has the contract). A host's VM copies are in
// storage/sqlite_inventory.h; deleting a host deletes them (ON DELETE
// CASCADE).
#ifndef HVDR_STORAGE_SQLITE_HOSTS_H_
#define HVDR_STORAGE_SQLITE_HOSTS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dr/v1/resources.pb.h"
#include "storage/store_db.h"
#include "storage/store_types.h"

namespace hvdr {

class SqliteHosts {
 public:
  explicit SqliteHosts(StoreDb* db) : db_(db) {}

  absl::StatusOr<bool> CreateHost(const dr::v1::Host& host, const RequestKey* key);
  absl::StatusOr<dr::v1::Host> GetHost(const std::string& name);
  absl::StatusOr<Page<dr::v1::Host>> ListHosts(const std::string& site, const PageRequest& page);
  absl::StatusOr<Page<dr::v1::Site>> ListSites(const PageRequest& page);
  absl::Status UpdateHostContact(const dr::v1::Host& host);
  absl::StatusOr<bool> DeleteHost(const std::string& name, const RequestKey* key);

 private:
  StoreDb* const db_;
};

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_HOSTS_H_
