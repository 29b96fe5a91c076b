#include "storage/sqlite_inventory.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/refusal.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

using dr::v1::RecoveryPoint;
using dr::v1::ReplicationRelationship;
using dr::v1::VirtualMachine;

namespace {

constexpr char kVmCols[] =
    "v.name, v.vm_id, v.display_name, v.host, v.replication_mode, "
    "v.replication_state, v.replication_health, v.enabled_state, "
    "v.last_replication_us, v.pending_bytes, v.latency_s, v.active_job, h.site";
constexpr char kVmFrom[] = " FROM vms v JOIN hosts h ON h.name = v.host";

VirtualMachine ReadVm(const Stmt& s) {
  VirtualMachine vm;
  vm.set_name(s.Text(0));
  vm.set_vm_id(s.Text(1));
  vm.set_display_name(s.Text(2));
  vm.set_host(s.Text(3));
  vm.set_replication_mode(static_cast<dr::v1::ReplicationMode>(s.Int(4)));
  vm.set_replication_state(static_cast<dr::v1::ReplicationState>(s.Int(5)));
  vm.set_replication_health(static_cast<dr::v1::ReplicationHealth>(s.Int(6)));
  vm.set_enabled_state(static_cast<dr::v1::EnabledState>(s.Int(7)));
  if (s.Int(8) != 0) FromMicros(s.Int(8), vm.mutable_last_replication_time());
  vm.set_pending_replication_bytes(static_cast<uint64_t>(s.Int(9)));
  vm.set_replication_latency_seconds(static_cast<uint32_t>(s.Int(10)));
  vm.set_active_job(s.Text(11));
  vm.set_site(s.Text(12));
  return vm;
}

}  // namespace

absl::Status SqliteInventory::ReplaceInventory(
    const std::string& host, const std::vector<dr::v1::VirtualMachineInventory>& vms,
    absl::Time sync_time) {
  std::set<std::string> ids;
  for (size_t i = 0; i < vms.size(); ++i) {
    const std::string& id = vms[i].virtual_machine().vm_id();
    RETURN_IF_ERROR(ValidateId(absl::StrCat("virtual_machines[", i, "].vm_id"), id));
    if (!ids.insert(id).second) {
      return InvalidRecord(absl::StrCat("virtual_machines[", i, "].vm_id"), "DUPLICATE",
                           absl::StrCat(id, " appears twice"));
    }
    for (int r = 0; r < vms[i].recovery_points_size(); ++r) {
      RETURN_IF_ERROR(
          ValidateId(absl::StrCat("virtual_machines[", i, "].recovery_points[", r, "].name"),
                     vms[i].recovery_points(r).name()));
    }
    for (int r = 0; r < vms[i].replication_relationships_size(); ++r) {
      RETURN_IF_ERROR(ValidateId(
          absl::StrCat("virtual_machines[", i, "].replication_relationships[", r, "].name"),
          vms[i].replication_relationships(r).name()));
    }
  }
  StoreDb::Writer w(db_);
  absl::Status written = InTransaction(*w, [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckExists(*w, "hosts", host));

    std::set<std::string> keep;
    for (const auto& inv : vms) {
      const VirtualMachine& vm = inv.virtual_machine();
      const std::string name = absl::StrCat(host, "/virtualMachines/", vm.vm_id());
      keep.insert(name);
      ASSIGN_OR_RETURN(
          Stmt up,
          w->Prepare(
              "INSERT INTO vms(name, host, vm_id, display_name, replication_mode, "
              "replication_state, replication_health, enabled_state, last_replication_us, "
              "pending_bytes, latency_s, state_us) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
              // The state fields only when this inventory was read after the
              // state stored (a job's end may have written a newer one).
              "ON CONFLICT(name) DO UPDATE SET display_name = ?4, "
              "replication_mode = CASE WHEN state_us < ?12 THEN ?5 ELSE replication_mode END, "
              "replication_state = CASE WHEN state_us < ?12 THEN ?6 ELSE replication_state END, "
              "replication_health = CASE WHEN state_us < ?12 THEN ?7 ELSE replication_health END, "
              "enabled_state = CASE WHEN state_us < ?12 THEN ?8 ELSE enabled_state END, "
              "last_replication_us = ?9, pending_bytes = ?10, latency_s = ?11, "
              "state_us = MAX(state_us, ?12)"));
      RETURN_IF_ERROR(up.Bind(1, name)
                          .Bind(2, host)
                          .Bind(3, vm.vm_id())
                          .Bind(4, vm.display_name())
                          .Bind(5, static_cast<int64_t>(vm.replication_mode()))
                          .Bind(6, static_cast<int64_t>(vm.replication_state()))
                          .Bind(7, static_cast<int64_t>(vm.replication_health()))
                          .Bind(8, static_cast<int64_t>(vm.enabled_state()))
                          .Bind(9, ToMicros(vm.last_replication_time()))
                          .Bind(10, static_cast<int64_t>(vm.pending_replication_bytes()))
                          .Bind(11, static_cast<int64_t>(vm.replication_latency_seconds()))
                          .Bind(12, TimeToMicros(sync_time))
                          .Run());
      ASSIGN_OR_RETURN(Stmt del_rel, w->Prepare("DELETE FROM relationships WHERE vm = ?"));
      RETURN_IF_ERROR(del_rel.Bind(1, name).Run());
      for (const ReplicationRelationship& rel : inv.replication_relationships()) {
        ASSIGN_OR_RETURN(
            Stmt ins,
            w->Prepare("INSERT INTO relationships(vm, idx, primary_host, replica_host, interval_s, "
                       "state, health, last_replication_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
        RETURN_IF_ERROR(ins.Bind(1, name)
                            .Bind(2, rel.name())
                            .Bind(3, rel.primary_host())
                            .Bind(4, rel.replica_host())
                            .Bind(5, static_cast<int64_t>(rel.replication_interval_seconds()))
                            .Bind(6, static_cast<int64_t>(rel.replication_state()))
                            .Bind(7, static_cast<int64_t>(rel.replication_health()))
                            .Bind(8, ToMicros(rel.last_replication_time()))
                            .Run());
      }
      ASSIGN_OR_RETURN(Stmt del_rp, w->Prepare("DELETE FROM recovery_points WHERE vm = ?"));
      RETURN_IF_ERROR(del_rp.Bind(1, name).Run());
      for (const RecoveryPoint& rp : inv.recovery_points()) {
        ASSIGN_OR_RETURN(
            Stmt ins,
            w->Prepare(
                "INSERT INTO recovery_points(name, vm, type, create_us) VALUES (?, ?, ?, ?)"));
        absl::Status s = ins.Bind(1, absl::StrCat(name, "/recoveryPoints/", rp.name()))
                             .Bind(2, name)
                             .Bind(3, static_cast<int64_t>(rp.type()))
                             .Bind(4, ToMicros(rp.create_time()))
                             .Run();
        if (s.code() == absl::StatusCode::kAlreadyExists) {
          return InvalidRecord("recovery_points.name", "DUPLICATE",
                               absl::StrCat(rp.name(), " appears twice on ", name));
        }
        RETURN_IF_ERROR(s);
      }
    }
    // Drop copies that are gone, unless a job still claims them.
    ASSIGN_OR_RETURN(Stmt old,
                     w->Prepare("SELECT name FROM vms WHERE host = ? AND active_job IS NULL"));
    old.Bind(1, host);
    std::vector<std::string> gone;
    while (true) {
      ASSIGN_OR_RETURN(bool row, old.Step());
      if (!row) break;
      std::string name = old.Text(0);
      if (keep.count(name) == 0) gone.push_back(std::move(name));
    }
    for (const std::string& name : gone) {
      ASSIGN_OR_RETURN(Stmt del, w->Prepare("DELETE FROM vms WHERE name = ?"));
      RETURN_IF_ERROR(del.Bind(1, name).Run());
    }
    ASSIGN_OR_RETURN(Stmt h,
                     w->Prepare("UPDATE hosts SET reachability = 1, stale = 0, last_error = '', "
                                "last_sync_us = ?1, last_contact_us = ?1 WHERE name = ?2"));
    return h.Bind(1, TimeToMicros(sync_time)).Bind(2, host).Run();
  });
  db_->NoteWrite(written);
  return written;
}

absl::Status SqliteInventory::UpdateVirtualMachineState(const VirtualMachine& vm) {
  StoreDb::Writer w(db_);
  absl::Status s = UpdateVmStateIn(*w, vm.name(), vm, absl::Now());
  db_->NoteWrite(s);
  return s;
}

absl::Status SqliteInventory::UpdateVmStateIn(Sqlite& db, const std::string& name,
                                              const VirtualMachine& vm, absl::Time observed,
                                              const std::string& release) {
  // One statement for a job's end (state and release together): each
  // statement costs more than its columns (perf: ~14k instructions).
  ASSIGN_OR_RETURN(
      Stmt s,
      db.Prepare(release.empty()
                     ? "UPDATE vms SET replication_mode = ?1, replication_state = ?2, "
                       "replication_health = ?3, enabled_state = ?4, last_replication_us = ?5, "
                       "pending_bytes = ?6, latency_s = ?7, state_us = MAX(state_us, ?8) "
                       "WHERE name = ?9"
                     : "UPDATE vms SET replication_mode = ?1, replication_state = ?2, "
                       "replication_health = ?3, enabled_state = ?4, last_replication_us = ?5, "
                       "pending_bytes = ?6, latency_s = ?7, state_us = MAX(state_us, ?8), "
                       "active_job = CASE WHEN active_job = ?10 THEN NULL ELSE active_job END "
                       "WHERE name = ?9"));
  s.Bind(1, static_cast<int64_t>(vm.replication_mode()))
      .Bind(2, static_cast<int64_t>(vm.replication_state()))
      .Bind(3, static_cast<int64_t>(vm.replication_health()))
      .Bind(4, static_cast<int64_t>(vm.enabled_state()))
      .Bind(5, ToMicros(vm.last_replication_time()))
      .Bind(6, static_cast<int64_t>(vm.pending_replication_bytes()))
      .Bind(7, static_cast<int64_t>(vm.replication_latency_seconds()))
      .Bind(8, TimeToMicros(observed))
      .Bind(9, name);
  if (!release.empty()) s.Bind(10, release);
  RETURN_IF_ERROR(s.Run());
  if (db.Changes() == 0) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return absl::OkStatus();
}

absl::StatusOr<VirtualMachine> SqliteInventory::GetVirtualMachine(const std::string& name) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s,
                   conn->Prepare(absl::StrCat("SELECT ", kVmCols, kVmFrom, " WHERE v.name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return ReadVm(s);
}

absl::StatusOr<std::vector<VirtualMachine>> SqliteInventory::FindVirtualMachinesById(
    const std::string& vm_id) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(absl::StrCat("SELECT ", kVmCols, kVmFrom,
                                                      " WHERE v.vm_id = ? ORDER BY v.name")));
  s.Bind(1, vm_id);
  return CollectAll<VirtualMachine>(s, ReadVm);
}

absl::StatusOr<Page<VirtualMachine>> SqliteInventory::ListVirtualMachines(
    const VirtualMachineFilter& filter, const PageRequest& page) {
  std::string query;
  AppendQueryField(&query, filter.host == "hosts/-" ? "" : filter.host);
  AppendQueryField(&query, filter.site);
  AppendQueryField(&query, JsonIntArray(ToInts(filter.replication_states)));
  AppendQueryField(&query, JsonIntArray(ToInts(filter.replication_healths)));
  AppendQueryField(&query, filter.display_name_or_id);
  AppendQueryField(&query, filter.vm_id);
  AppendQueryField(&query,
                   filter.filter_replication_mode ? absl::StrCat(filter.replication_mode) : "");
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, db_->tokens().Parse("vms", query, page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  // One SQL text per combination of filters present, so each stays a
  // cached statement that can use its index.
  std::string sql = absl::StrCat("SELECT ", kVmCols, kVmFrom, " WHERE v.name > ?1");
  const bool by_host = !filter.host.empty() && filter.host != "hosts/-";
  if (by_host) absl::StrAppend(&sql, " AND v.host = ?2");
  if (!filter.site.empty()) absl::StrAppend(&sql, " AND h.site = ?3");
  if (!filter.replication_states.empty()) {
    absl::StrAppend(&sql, " AND v.replication_state IN (SELECT value FROM json_each(?4))");
  }
  if (!filter.replication_healths.empty()) {
    absl::StrAppend(&sql, " AND v.replication_health IN (SELECT value FROM json_each(?5))");
  }
  if (!filter.display_name_or_id.empty()) {
    absl::StrAppend(&sql, " AND (v.display_name = ?6 OR v.vm_id = ?9)");
  }
  if (filter.filter_replication_mode) absl::StrAppend(&sql, " AND v.replication_mode = ?7");
  absl::StrAppend(&sql, " ORDER BY v.name LIMIT ?8");
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s, conn->Prepare(sql));
  s.Bind(1, after);
  if (by_host) s.Bind(2, filter.host);
  if (!filter.site.empty()) s.Bind(3, filter.site);
  if (!filter.replication_states.empty()) {
    s.Bind(4, JsonIntArray(ToInts(filter.replication_states)));
  }
  if (!filter.replication_healths.empty()) {
    s.Bind(5, JsonIntArray(ToInts(filter.replication_healths)));
  }
  if (!filter.display_name_or_id.empty()) {
    s.Bind(6, filter.display_name_or_id);
    s.Bind(9, filter.vm_id.empty() ? filter.display_name_or_id : filter.vm_id);
  }
  if (filter.filter_replication_mode) {
    s.Bind(7, static_cast<int64_t>(filter.replication_mode));
  }
  s.Bind(8, size + 1);
  return CollectPage<VirtualMachine>(s, size, db_->tokens(), "vms", query, ReadVm,
                                     [](const VirtualMachine& vm) { return vm.name(); });
}

absl::StatusOr<std::vector<ReplicationRelationship>> SqliteInventory::ListReplicationRelationships(
    const std::string& vm) {
  StoreDb::Reader conn(db_);
  RETURN_IF_ERROR(CheckExists(*conn, "vms", vm));
  ASSIGN_OR_RETURN(
      Stmt s, conn->Prepare("SELECT idx, primary_host, replica_host, interval_s, state, health, "
                            "last_replication_us FROM relationships WHERE vm = ? ORDER BY idx"));
  s.Bind(1, vm);
  return CollectAll<ReplicationRelationship>(s, [&vm](const Stmt& row) {
    ReplicationRelationship r;
    r.set_name(absl::StrCat(vm, "/replicationRelationships/", row.Text(0)));
    r.set_primary_host(row.Text(1));
    r.set_replica_host(row.Text(2));
    r.set_replication_interval_seconds(static_cast<uint32_t>(row.Int(3)));
    r.set_replication_state(static_cast<dr::v1::ReplicationState>(row.Int(4)));
    r.set_replication_health(static_cast<dr::v1::ReplicationHealth>(row.Int(5)));
    if (row.Int(6) != 0) FromMicros(row.Int(6), r.mutable_last_replication_time());
    return r;
  });
}

absl::StatusOr<Page<RecoveryPoint>> SqliteInventory::ListRecoveryPoints(const std::string& vm,
                                                                        const PageRequest& page) {
  // Newest first; the token holds "<create_us>/<name>" of the last item.
  int64_t after_us = INT64_MAX;
  std::string after_name;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(std::string key, db_->tokens().Parse("rps", vm, page.page_token));
    size_t slash = key.find('/');
    if (slash == std::string::npos || !absl::SimpleAtoi(key.substr(0, slash), &after_us)) {
      return BadPageToken("INVALID_PAGE_TOKEN", "malformed");
    }
    after_name = key.substr(slash + 1);
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  RETURN_IF_ERROR(CheckExists(*conn, "vms", vm));
  ASSIGN_OR_RETURN(
      Stmt s, conn->Prepare("SELECT name, type, create_us FROM recovery_points WHERE vm = ?1 AND "
                            "(create_us < ?2 OR (create_us = ?2 AND name > ?3)) "
                            "ORDER BY create_us DESC, name LIMIT ?4"));
  s.Bind(1, vm).Bind(2, after_us).Bind(3, after_name).Bind(4, size + 1);
  Page<RecoveryPoint> out;
  int64_t last_us = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token =
          db_->tokens().Make("rps", vm, absl::StrCat(last_us, "/", out.items.back().name()));
      break;
    }
    RecoveryPoint rp;
    rp.set_name(s.Text(0));
    rp.set_type(static_cast<dr::v1::RecoveryPointType>(s.Int(1)));
    last_us = s.Int(2);
    FromMicros(last_us, rp.mutable_create_time());
    out.items.push_back(std::move(rp));
  }
  return out;
}

absl::StatusOr<RecoveryPoint> SqliteInventory::GetRecoveryPoint(const std::string& name) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(
      Stmt s, conn->Prepare("SELECT name, type, create_us FROM recovery_points WHERE name = ?"));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  RecoveryPoint rp;
  rp.set_name(s.Text(0));
  rp.set_type(static_cast<dr::v1::RecoveryPointType>(s.Int(1)));
  FromMicros(s.Int(2), rp.mutable_create_time());
  return rp;
}

absl::Status SqliteInventory::CheckUnclaimedIn(Sqlite& db, const std::string& vm) {
  ASSIGN_OR_RETURN(Stmt s, db.Prepare("SELECT IFNULL(active_job, '') FROM vms WHERE name = ?"));
  s.Bind(1, vm);
  ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return absl::NotFoundError(absl::StrCat(vm, " not found"));
  const std::string active = s.Text(0);
  if (!active.empty()) {
    return Refuse(absl::StatusCode::kAborted, Refusal::kVmClaimed, vm, active,
                  absl::StrCat(active, " is still running on ", vm));
  }
  return absl::OkStatus();
}

absl::Status SqliteInventory::ClaimIn(Sqlite& db, const std::string& vm, const std::string& job) {
  ASSIGN_OR_RETURN(
      Stmt s, db.Prepare("UPDATE vms SET active_job = ? WHERE name = ? AND active_job IS NULL"));
  RETURN_IF_ERROR(s.Bind(1, job).Bind(2, vm).Run());
  if (db.Changes() == 1) return absl::OkStatus();
  // Unknown or claimed: say which (a second read, on this path only).
  RETURN_IF_ERROR(CheckUnclaimedIn(db, vm));
  return absl::InternalError(absl::StrCat(vm, ": claim by ", job, " changed no row"));
}

absl::Status SqliteInventory::ReleaseIn(Sqlite& db, const std::string& vm, const std::string& job) {
  ASSIGN_OR_RETURN(
      Stmt s, db.Prepare("UPDATE vms SET active_job = NULL WHERE name = ? AND active_job = ?"));
  return s.Bind(1, vm).Bind(2, job).Run();
}

}  // namespace hvdr
