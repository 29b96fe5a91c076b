#include "fuzz/seeded_store.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "common/proto_time.h"

namespace hvdr {
namespace fuzz {

namespace {

void Must(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "seeded store: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

dr::v1::VirtualMachineInventory Vm(const std::string& id, const std::string& display,
                                   dr::v1::ReplicationMode mode, dr::v1::ReplicationState state,
                                   dr::v1::EnabledState enabled) {
  dr::v1::VirtualMachineInventory inv;
  auto* vm = inv.mutable_virtual_machine();
  vm->set_vm_id(id);
  vm->set_display_name(display);
  vm->set_replication_mode(mode);
  vm->set_replication_state(state);
  vm->set_replication_health(dr::v1::REPLICATION_HEALTH_OK);
  vm->set_enabled_state(enabled);
  if (mode != dr::v1::REPLICATION_MODE_NONE) {
    auto* rel = inv.add_replication_relationships();
    rel->set_name("0");
    rel->set_primary_host("hv-pri-1.example.org");
    rel->set_replica_host("hv-dr-1.example.org");
    rel->set_replication_interval_seconds(300);
    rel->set_replication_state(state);
    rel->set_replication_health(dr::v1::REPLICATION_HEALTH_OK);
  }
  return inv;
}

}  // namespace

std::unique_ptr<SqliteStore> OpenSeededStore() {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(":memory:", {});
  Must(store.status(), "open");
  const absl::Time now = absl::FromUnixSeconds(1767225600);  // 2026-01-01
  for (auto [name, site, address] :
       {std::tuple{kPrimaryHost, "sites/primary", "hv-pri-1.example.org:50061"},
        std::tuple{kDrHost, "sites/dr", "10.0.0.2:50061"}}) {
    dr::v1::Host host;
    host.set_name(name);
    host.set_site(site);
    host.set_agent_address(address);
    ToProto(now, host.mutable_create_time());
    Must((*store)->CreateHost(host, nullptr).status(), "host");
  }
  Must((*store)->ReplaceInventory(
           kPrimaryHost,
           {Vm(kSqlVm, "sql-01", dr::v1::REPLICATION_MODE_PRIMARY,
               dr::v1::REPLICATION_STATE_REPLICATING, dr::v1::ENABLED_STATE_ENABLED)},
           now),
       "primary inventory");
  dr::v1::VirtualMachineInventory replica =
      Vm(kSqlVm, "sql-01", dr::v1::REPLICATION_MODE_REPLICA, dr::v1::REPLICATION_STATE_REPLICATING,
         dr::v1::ENABLED_STATE_DISABLED);
  for (const char* id : {"rp-1", "rp-2", "rp-3"}) {
    auto* rp = replica.add_recovery_points();
    rp->set_name(id);
    rp->set_type(dr::v1::RECOVERY_POINT_TYPE_STANDARD);
    ToProto(now - absl::Hours(1), rp->mutable_create_time());
  }
  dr::v1::VirtualMachineInventory web =
      Vm(kWebVm, "web-01", dr::v1::REPLICATION_MODE_REPLICA, dr::v1::REPLICATION_STATE_RECOVERED,
         dr::v1::ENABLED_STATE_ENABLED);
  Must((*store)->ReplaceInventory(kDrHost, {replica, web}, now), "dr inventory");
  return *std::move(store);
}

}  // namespace fuzz
}  // namespace hvdr
