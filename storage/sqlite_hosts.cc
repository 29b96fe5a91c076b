#include "storage/sqlite_hosts.h"

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "storage/refusal.h"
#include "storage/sqlite_requests.h"
#include "storage/sqlite_rows.h"

namespace hvdr {

using dr::v1::Host;
using dr::v1::Site;

namespace {

constexpr char kHostCols[] =
    "name, site, agent_address, reachability, last_contact_us, last_sync_us, "
    "stale, last_error, create_us, hypervisor_name";

Host ReadHost(const Stmt& s) {
  Host h;
  h.set_name(s.Text(0));
  h.set_site(s.Text(1));
  h.set_agent_address(s.Text(2));
  h.set_reachability(static_cast<dr::v1::Reachability>(s.Int(3)));
  FromMicros(s.Int(4), h.mutable_last_contact_time());
  FromMicros(s.Int(5), h.mutable_last_sync_time());
  h.set_stale(s.Int(6) != 0);
  h.set_last_error(s.Text(7));
  FromMicros(s.Int(8), h.mutable_create_time());
  h.set_hypervisor_host_name(s.Text(9));
  if (h.last_contact_time().seconds() == 0) h.clear_last_contact_time();
  if (h.last_sync_time().seconds() == 0) h.clear_last_sync_time();
  return h;
}

}  // namespace

absl::StatusOr<bool> SqliteHosts::CreateHost(const Host& host, const RequestKey* key) {
  RETURN_IF_ERROR(ValidateName("name", host.name(), "hosts/"));
  RETURN_IF_ERROR(ValidateName("site", host.site(), "sites/"));
  if (host.agent_address().empty()) {
    return InvalidRecord("agent_address", "MISSING", "is required");
  }
  StoreDb::Writer w(db_);
  bool replayed = false;
  absl::Status status = InTransaction(*w, [&]() -> absl::Status {
    RETURN_IF_ERROR(SqliteRequests::SeenIn(*w, key, &replayed));
    if (replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(Stmt site,
                     w->Prepare("INSERT INTO sites(name) VALUES (?) ON CONFLICT(name) DO NOTHING"));
    RETURN_IF_ERROR(site.Bind(1, host.site()).Run());
    ASSIGN_OR_RETURN(
        Stmt ins,
        w->Prepare("INSERT INTO hosts(name, site, agent_address, create_us) VALUES (?, ?, ?, ?)"));
    absl::Status s = ins.Bind(1, host.name())
                         .Bind(2, host.site())
                         .Bind(3, host.agent_address())
                         .Bind(4, ToMicros(host.create_time()))
                         .Run();
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      return Refuse(absl::StatusCode::kAlreadyExists, Refusal::kHostExists, host.name(), "",
                    absl::StrCat(host.name(), " is already registered"));
    }
    RETURN_IF_ERROR(s);
    if (key != nullptr) RETURN_IF_ERROR(SqliteRequests::PutIn(*w, *key, ""));
    return absl::OkStatus();
  });
  db_->NoteWrite(status);
  RETURN_IF_ERROR(status);
  return replayed;
}

absl::StatusOr<Host> SqliteHosts::GetHost(const std::string& name) {
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(Stmt s,
                   conn->Prepare(absl::StrCat("SELECT ", kHostCols, " FROM hosts WHERE name = ?")));
  s.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return ReadHost(s);
}

absl::StatusOr<Page<Host>> SqliteHosts::ListHosts(const std::string& site,
                                                  const PageRequest& page) {
  std::string query;
  AppendQueryField(&query, site);
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, db_->tokens().Parse("hosts", query, page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(
      Stmt s, conn->Prepare(absl::StrCat("SELECT ", kHostCols,
                                         " FROM hosts WHERE (?1 = '' OR site = ?1) AND name > ?2 "
                                         "ORDER BY name LIMIT ?3")));
  s.Bind(1, site).Bind(2, after).Bind(3, size + 1);
  return CollectPage<Host>(s, size, db_->tokens(), "hosts", query, ReadHost,
                           [](const Host& h) { return h.name(); });
}

absl::StatusOr<Page<Site>> SqliteHosts::ListSites(const PageRequest& page) {
  std::string after;
  if (!page.page_token.empty()) {
    ASSIGN_OR_RETURN(after, db_->tokens().Parse("sites", "", page.page_token));
  }
  const int size = EffectivePageSize(page.page_size);
  StoreDb::Reader conn(db_);
  ASSIGN_OR_RETURN(
      Stmt s,
      conn->Prepare("SELECT name, display_name FROM sites WHERE name > ? ORDER BY name LIMIT ?"));
  s.Bind(1, after).Bind(2, size + 1);
  auto read = [](const Stmt& row) {
    Site site;
    site.set_name(row.Text(0));
    site.set_display_name(row.Text(1));
    return site;
  };
  return CollectPage<Site>(s, size, db_->tokens(), "sites", "", read,
                           [](const Site& site) { return site.name(); });
}

absl::Status SqliteHosts::UpdateHostContact(const Host& host) {
  StoreDb::Writer w(db_);
  ASSIGN_OR_RETURN(
      Stmt s,
      w->Prepare(
          "UPDATE hosts SET reachability = ?1, "
          "last_contact_us = CASE WHEN ?2 > 0 THEN ?2 ELSE last_contact_us END, "
          "stale = ?3, last_error = ?4, "
          "hypervisor_name = CASE WHEN ?5 != '' THEN ?5 ELSE hypervisor_name END WHERE name = ?6"));
  const int64_t contact = ToMicros(host.last_contact_time());
  absl::Status written = s.Bind(1, static_cast<int64_t>(host.reachability()))
                             .Bind(2, contact)
                             .Bind(3, host.stale() ? 1 : 0)
                             .Bind(4, host.last_error())
                             .Bind(5, host.hypervisor_host_name())
                             .Bind(6, host.name())
                             .Run();
  db_->NoteWrite(written);
  RETURN_IF_ERROR(written);
  if (w->Changes() == 0) return absl::NotFoundError(absl::StrCat(host.name(), " not found"));
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteHosts::DeleteHost(const std::string& name, const RequestKey* key) {
  StoreDb::Writer w(db_);
  bool replayed = false;
  absl::Status written = InTransaction(*w, [&]() -> absl::Status {
    // Decided before anything else: a repeat answers as the first call did,
    // even once the host is gone.
    RETURN_IF_ERROR(SqliteRequests::SeenIn(*w, key, &replayed));
    if (replayed) return absl::OkStatus();
    ASSIGN_OR_RETURN(
        Stmt busy,
        w->Prepare(
            "SELECT name, active_job FROM vms WHERE host = ? AND active_job IS NOT NULL LIMIT 1"));
    busy.Bind(1, name);
    ASSIGN_OR_RETURN(bool claimed, busy.Step());
    if (claimed) {
      return Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kHostBusy, busy.Text(0),
                    busy.Text(1),
                    absl::StrCat(busy.Text(1), " is running on ", busy.Text(0),
                                 "; wait for it or cancel it first"));
    }
    ASSIGN_OR_RETURN(Stmt del, w->Prepare("DELETE FROM hosts WHERE name = ?"));
    RETURN_IF_ERROR(del.Bind(1, name).Run());
    if (w->Changes() == 0) return absl::NotFoundError(absl::StrCat(name, " not found"));
    if (key != nullptr) RETURN_IF_ERROR(SqliteRequests::PutIn(*w, *key, ""));
    return absl::OkStatus();
  });
  db_->NoteWrite(written);
  RETURN_IF_ERROR(written);
  return replayed;
}

}  // namespace hvdr
