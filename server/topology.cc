#include "server/topology.h"

#include <grpcpp/grpcpp.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/types/optional.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "server/dispatcher.h"
#include "server/names.h"
#include "server/store_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

absl::Status CheckPageSize(int32_t page_size) {
  if (page_size < 0) return InvalidParameter("page_size", "NEGATIVE", "must be 0 or more");
  return absl::OkStatus();
}

absl::Status CheckRegisterHostRequest(const dr::v1::RegisterHostRequest& r) {
  RETURN_IF_ERROR(CheckId("host_id", r.host_id()));
  RETURN_IF_ERROR(ParseSiteName("site", r.site()).status());
  RETURN_IF_ERROR(CheckAgentAddress("agent_address", r.agent_address()));
  return CheckRequestId("request_id", r.request_id());
}

absl::StatusOr<dr::v1::Host> GetHost(Store* store, const dr::v1::GetHostRequest& r) {
  RETURN_IF_ERROR(ParseHostName("name", r.name()).status());
  absl::StatusOr<dr::v1::Host> host = store->GetHost(r.name());
  if (!host.ok()) return NotFoundAs(host.status(), "name", r.name());
  return host;
}

absl::StatusOr<dr::v1::ListSitesResponse> ListSites(Store* store,
                                                    const dr::v1::ListSitesRequest& r) {
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  ASSIGN_OR_RETURN(Page<dr::v1::Site> page, Api(store->ListSites({r.page_size(), r.page_token()})));
  dr::v1::ListSitesResponse resp;
  for (auto& s : page.items) *resp.add_sites() = std::move(s);
  resp.set_next_page_token(page.next_page_token);
  return resp;
}

absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(
    Store* store, const dr::v1::GetVirtualMachineRequest& r) {
  ASSIGN_OR_RETURN(VmName vm, ParseVmName("name", r.name()));
  absl::StatusOr<dr::v1::VirtualMachine> found = store->GetVirtualMachine(vm.name());
  if (!found.ok()) return NotFoundAs(found.status(), "name", r.name());
  return found;
}

absl::StatusOr<dr::v1::ListReplicationRelationshipsResponse> ListReplicationRelationships(
    Store* store, const dr::v1::ListReplicationRelationshipsRequest& r) {
  ASSIGN_OR_RETURN(VmName vm, ParseVmName("parent", r.parent()));
  absl::StatusOr<std::vector<dr::v1::ReplicationRelationship>> rels =
      store->ListReplicationRelationships(vm.name());
  if (!rels.ok()) return NotFoundAs(rels.status(), "parent", r.parent());
  dr::v1::ListReplicationRelationshipsResponse resp;
  for (auto& rel : *rels) *resp.add_replication_relationships() = std::move(rel);
  return resp;
}

absl::StatusOr<dr::v1::ListRecoveryPointsResponse> ListRecoveryPoints(
    Store* store, const dr::v1::ListRecoveryPointsRequest& r) {
  ASSIGN_OR_RETURN(VmName vm, ParseVmName("parent", r.parent()));
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  absl::StatusOr<Page<dr::v1::RecoveryPoint>> page =
      store->ListRecoveryPoints(vm.name(), {r.page_size(), r.page_token()});
  if (!page.ok()) return NotFoundAs(ApiStatus(page.status()), "parent", r.parent());
  dr::v1::ListRecoveryPointsResponse resp;
  for (auto& p : page->items) *resp.add_recovery_points() = std::move(p);
  resp.set_next_page_token(page->next_page_token);
  return resp;
}

absl::Status ForEachHost(Store* store, const std::function<bool(const dr::v1::Host&)>& visit) {
  std::string token;
  do {
    ASSIGN_OR_RETURN(Page<dr::v1::Host> page, store->ListHosts("", {1000, token}));
    for (const dr::v1::Host& h : page.items) {
      if (!visit(h)) return absl::OkStatus();
    }
    token = page.next_page_token;
  } while (!token.empty());
  return absl::OkStatus();
}

Topology::~Topology() { Stop(); }

void Topology::ForgetAgentIfUnused(const std::string& address) {
  bool used = false;
  absl::Status listed = ForEachHost(store_, [&](const dr::v1::Host& h) {
    used = h.agent_address() == address;
    return !used;
  });
  // On a read error keep the stream open: that is harmless.
  if (listed.ok() && !used) dispatcher_->Forget(address);
}

void Topology::RegisterHostAsync(const dr::v1::RegisterHostRequest& request, HostDone done) {
  // The host's record is a write (an fsync): not on the caller's thread.
  work_.Schedule(
      [this, request, done = std::move(done)]() mutable { Register(request, std::move(done)); });
}

void Topology::DeleteHostAsync(const dr::v1::DeleteHostRequest& request,
                               std::function<void(const absl::Status&)> done) {
  work_.Schedule([this, request, done = std::move(done)] { done(DeleteHost(request)); });
}

void Topology::Register(const dr::v1::RegisterHostRequest& r, HostDone done) {
  // What to answer without a sync (a replay of a synced host), or the host
  // to sync.
  struct Registered {
    std::string name;
    absl::optional<dr::v1::Host> answer;
  };
  absl::StatusOr<Registered> registered = [&]() -> absl::StatusOr<Registered> {
    RETURN_IF_ERROR(CheckRegisterHostRequest(r));
    dr::v1::RegisterHostRequest fp = r;
    fp.clear_request_id();
    const RequestKey key{r.request_id(), "dr.v1.TopologyService/RegisterHost",
                         fp.SerializeAsString()};
    dr::v1::Host host;
    host.set_name(HostName(r.host_id()));
    host.set_site(r.site());
    host.set_agent_address(r.agent_address());
    ToProto(clock_->Now(), host.mutable_create_time());
    ASSIGN_OR_RETURN(bool replayed, store_->CreateHost(host, &key));
    Registered out{host.name(), absl::nullopt};
    if (replayed) {
      ASSIGN_OR_RETURN(dr::v1::Host stored, store_->GetHost(host.name()));
      // The first call may have died before its sync, or its sync failed:
      // a retry finishes the registration rather than answer an empty host.
      if (stored.has_last_sync_time()) out.answer = std::move(stored);
      return out;
    }
    spdlog::info("{}: registered in {} (agent {})", host.name(), host.site(), host.agent_address());
    agents_->Expect(host.agent_address(), r.host_id());
    if (dispatcher_ != nullptr) dispatcher_->KeepConnected(host.agent_address());
    return out;
  }();
  if (!registered.ok()) return done(ApiStatus(registered.status()));
  if (registered->answer.has_value()) return done(*registered->answer);
  SyncHostAsync(registered->name,
                [done = std::move(done)](const absl::StatusOr<dr::v1::Host>& synced) {
                  if (synced.ok() || ErrorDetailOf(synced.status()).field() != "name")
                    return done(synced);
                  // RegisterHost has no field `name`: its host is `host_id`.
                  absl::string_view message = synced.status().message();
                  absl::ConsumePrefix(&message, "name: ");
                  done(Restated(synced.status(), "host_id", "", message));
                });
}

namespace {

// Runs an asynchronous call as a blocking one (for tests and own threads).
template <typename Start>
absl::StatusOr<dr::v1::Host> Await(Start start) {
  absl::Notification done;
  absl::StatusOr<dr::v1::Host> result;
  start([&](const absl::StatusOr<dr::v1::Host>& r) {
    result = r;
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace

absl::StatusOr<dr::v1::Host> Topology::RegisterHostForTest(const dr::v1::RegisterHostRequest& r) {
  return Await([&](HostDone d) { RegisterHostAsync(r, std::move(d)); });
}

absl::StatusOr<dr::v1::Host> Topology::SyncHostForTest(const std::string& name) {
  return Await([&](HostDone d) { SyncHostAsync(name, std::move(d)); });
}

absl::Status Topology::DeleteHost(const dr::v1::DeleteHostRequest& r) {
  RETURN_IF_ERROR(ParseHostName("name", r.name()).status());
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  // The fingerprint is the name: it is all a DeleteHostRequest says.
  const RequestKey key{r.request_id(), "dr.v1.TopologyService/DeleteHost", r.name()};
  absl::StatusOr<dr::v1::Host> doomed = store_->GetHost(r.name());
  absl::StatusOr<bool> deleted = store_->DeleteHost(r.name(), &key);
  if (deleted.status().code() == absl::StatusCode::kNotFound) {
    return NotFoundParameter("name", "HOST_NOT_FOUND",
                             absl::StrCat(r.name(), " is not registered"));
  }
  RETURN_IF_ERROR(ApiStatus(deleted.status()));
  if (!*deleted) spdlog::info("{}: removed with its inventory", r.name());
  if (dispatcher_ != nullptr && doomed.ok()) ForgetAgentIfUnused(doomed->agent_address());
  return absl::OkStatus();
}

struct Topology::InventoryCall {
  std::string name;
  dr::v1::Host host;  // as stored when the sync began
  absl::Time asked = absl::InfinitePast();
  grpc::ClientContext context;
  dr::v1::GetInventoryRequest request;
  dr::v1::GetInventoryResponse response;
};

void Topology::SyncHostAsync(const std::string& name, HostDone done) {
  absl::Status valid = ParseHostName("name", name).status();
  if (!valid.ok()) return done(valid);
  bool stopped;
  {
    absl::MutexLock lock(&mu_);
    stopped = stopped_;
    if (!stopped) {
      auto it = syncing_.find(name);
      if (it != syncing_.end()) {
        it->second.next.push_back(std::move(done));
        return;
      }
      syncing_[name].current.push_back(std::move(done));
    }
  }
  if (stopped) return done(absl::UnavailableError("drserver is shutting down"));
  StartSync(name);
}

void Topology::StartSync(const std::string& name) {
  absl::StatusOr<dr::v1::Host> host = store_->GetHost(name);
  if (host.status().code() == absl::StatusCode::kNotFound) {
    return Finish(name, NotFoundParameter("name", "HOST_NOT_FOUND",
                                          absl::StrCat(name, " is not registered")));
  }
  if (!host.ok()) return Finish(name, host.status());
  auto call = std::make_shared<InventoryCall>();
  call->name = name;
  call->host = *std::move(host);
  call->asked = clock_->Now();
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.agent_timeout));
  {
    absl::MutexLock lock(&mu_);
    ++in_flight_;
  }
  auto record = [this, call](const grpc::Status& status) {
    absl::StatusOr<dr::v1::Host> result = Record(*call, status);
    Finish(call->name, result);
    absl::MutexLock lock(&mu_);
    --in_flight_;
  };
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub =
      agents_->Get(call->host.agent_address());
  if (stub->async() == nullptr) {  // a stub without the callback API (a mock)
    work_.Schedule([stub, call, record] {
      record(stub->GetInventory(&call->context, call->request, &call->response));
    });
    return;
  }
  stub->async()->GetInventory(&call->context, &call->request, &call->response,
                              [this, call, record](grpc::Status status) {
                                // gRPC's thread: the store write goes elsewhere.
                                work_.Schedule([record, status] { record(status); });
                              });
}

void Topology::Finish(const std::string& name, const absl::StatusOr<dr::v1::Host>& result) {
  std::vector<HostDone> answered;
  bool again = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = syncing_.find(name);
    if (it == syncing_.end()) return;
    answered.swap(it->second.current);
    if (it->second.next.empty()) {
      syncing_.erase(it);
    } else {
      it->second.current.swap(it->second.next);
      again = true;
    }
  }
  for (const HostDone& done : answered) {
    if (done) done(result);
  }
  if (again) StartSync(name);
}

absl::StatusOr<dr::v1::Host> Topology::Record(const InventoryCall& call,
                                              const grpc::Status& status) {
  const std::string& name = call.name;
  const dr::v1::Host& host = call.host;
  // The inventory is refused and the host flagged, its inventory kept.
  auto flag = [&](dr::v1::Reachability reachability,
                  const std::string& why) -> absl::StatusOr<dr::v1::Host> {
    dr::v1::Host contact = host;
    contact.set_reachability(reachability);
    contact.set_stale(true);
    contact.set_last_error(why);
    ToProto(clock_->Now(), contact.mutable_last_contact_time());
    spdlog::error("{}: inventory refused: {}", name, why);
    RETURN_IF_ERROR(store_->UpdateHostContact(contact));
    return InvalidState("name", "INVENTORY_REFUSED", absl::StrCat(name, ": ", why));
  };
  if (!status.ok()) {
    dr::v1::Host contact = host;
    contact.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
    contact.set_stale(true);
    contact.set_last_error(absl::StrCat("agent at ", host.agent_address(), ": ",
                                        status.error_message(), " (", status.error_code(), ")"));
    contact.clear_last_contact_time();
    if (host.reachability() != dr::v1::REACHABILITY_UNREACHABLE) {
      spdlog::warn("{}: unreachable: {}; keeping its last known inventory", name,
                   contact.last_error());
    }
    RETURN_IF_ERROR(store_->UpdateHostContact(contact));
    return store_->GetHost(name);
  }
  const dr::v1::GetInventoryResponse& inventory = call.response;
  if (!host.hypervisor_host_name().empty() && !inventory.host_name().empty() &&
      !absl::EqualsIgnoreCase(inventory.host_name(), host.hypervisor_host_name())) {
    return flag(
        dr::v1::REACHABILITY_WRONG_HOST,
        absl::StrCat("the agent at ", host.agent_address(), " reports host \"",
                     inventory.host_name(), "\", but ", name, " is \"", host.hypervisor_host_name(),
                     "\": another host answers at that address; fix the address (or "
                     "delete and register the host again)"));
  }
  if (inventory.virtual_machines().empty()) {
    VirtualMachineFilter on_host;
    on_host.host = name;
    absl::StatusOr<Page<dr::v1::VirtualMachine>> stored =
        store_->ListVirtualMachines(on_host, {1, ""});
    if (stored.ok() && !stored->items.empty()) {
      return flag(dr::v1::REACHABILITY_REACHABLE,
                  absl::StrCat("the agent at ", host.agent_address(),
                               " reports no VM at all, but the host had VMs: kept as they were "
                               "(check Hyper-V's WMI provider on the host)"));
    }
  }
  std::vector<dr::v1::VirtualMachineInventory> vms(inventory.virtual_machines().begin(),
                                                   inventory.virtual_machines().end());
  absl::Status replaced = store_->ReplaceInventory(name, vms, call.asked);
  if (!replaced.ok()) {
    spdlog::error("{}: inventory from {} rejected: {}", name, host.agent_address(),
                  replaced.ToString());
    // The store names the inventory's fields (virtual_machines[i].vm_id),
    // which are the agent's, not the caller's: the caller's field is the
    // host, and the fault is the agent's data.
    if (replaced.code() == absl::StatusCode::kInvalidArgument) {
      return HyperVError(dr::v1::RETURN_CODE_FAILED, "name", "INVENTORY_REJECTED",
                         absl::StrCat(name, ": the inventory its agent at ", host.agent_address(),
                                      " sent cannot be stored (", replaced.message(), ")"));
    }
    return Restated(replaced, "name", "",
                    absl::StrCat(name, ": its inventory cannot be stored: ", replaced.message()));
  }
  if (host.hypervisor_host_name().empty() && !inventory.host_name().empty()) {
    dr::v1::Host named = host;
    named.set_reachability(dr::v1::REACHABILITY_REACHABLE);
    named.set_stale(false);
    named.clear_last_error();
    ToProto(clock_->Now(), named.mutable_last_contact_time());
    named.set_hypervisor_host_name(inventory.host_name());
    RETURN_IF_ERROR(store_->UpdateHostContact(named));
  }
  if (host.reachability() != dr::v1::REACHABILITY_REACHABLE) {
    spdlog::info("{}: synced {} VMs from {} ({})", name, vms.size(), host.agent_address(),
                 inventory.host_name());
  }
  return store_->GetHost(name);
}

absl::StatusOr<dr::v1::ListHostsResponse> Topology::ListHosts(const dr::v1::ListHostsRequest& r) {
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  if (!r.site().empty()) RETURN_IF_ERROR(ParseSiteName("site", r.site()).status());
  ASSIGN_OR_RETURN(Page<dr::v1::Host> page,
                   Api(store_->ListHosts(r.site(), {r.page_size(), r.page_token()})));
  dr::v1::ListHostsResponse out;
  for (auto& h : page.items) *out.add_hosts() = std::move(h);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::StatusOr<dr::v1::ListVirtualMachinesResponse> Topology::ListVirtualMachines(
    const dr::v1::ListVirtualMachinesRequest& r) {
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  VirtualMachineFilter f;
  if (!r.parent().empty() && r.parent() != "hosts/-") {
    RETURN_IF_ERROR(ParseHostName("parent", r.parent()).status());
    f.host = r.parent();
  }
  if (!r.site().empty()) {
    RETURN_IF_ERROR(ParseSiteName("site", r.site()).status());
    f.site = r.site();
  }
  for (int s : r.replication_states()) {
    if (!dr::v1::ReplicationState_IsValid(s)) {
      return InvalidParameter("replication_states", "UNKNOWN_VALUE",
                              absl::StrCat(s, " is not a ReplicationState"));
    }
    f.replication_states.push_back(static_cast<dr::v1::ReplicationState>(s));
  }
  for (int h : r.replication_healths()) {
    if (!dr::v1::ReplicationHealth_IsValid(h)) {
      return InvalidParameter("replication_healths", "UNKNOWN_VALUE",
                              absl::StrCat(h, " is not a ReplicationHealth"));
    }
    f.replication_healths.push_back(static_cast<dr::v1::ReplicationHealth>(h));
  }
  // A GUID matches in any spelling (display names are compared as given).
  // Hyper-V's ElementName (a VM's display name) is at most 256 characters.
  RETURN_IF_ERROR(CheckLength("display_name_or_id", r.display_name_or_id(), 256));
  f.display_name_or_id = r.display_name_or_id();
  absl::StatusOr<std::string> guid = CanonicalVmGuid("display_name_or_id", f.display_name_or_id);
  if (guid.ok()) f.vm_id = *std::move(guid);
  f.filter_replication_mode = r.filter_replication_mode();
  f.replication_mode = r.replication_mode();
  ASSIGN_OR_RETURN(Page<dr::v1::VirtualMachine> page,
                   Api(store_->ListVirtualMachines(f, {r.page_size(), r.page_token()})));
  dr::v1::ListVirtualMachinesResponse out;
  for (auto& vm : page.items) *out.add_virtual_machines() = std::move(vm);
  out.set_next_page_token(page.next_page_token);
  return out;
}

void Topology::StartPeriodicSync() {
  syncer_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.sync_interval)) {
      // Every host at once; the round ends when the last answers (each is
      // bounded by agent_timeout), so a dead host delays no other.
      absl::Mutex round_mu;
      int pending = 0;
      absl::Status listed = ForEachHost(store_, [&](const dr::v1::Host& h) {
        {
          absl::MutexLock lock(&round_mu);
          ++pending;
        }
        SyncHostAsync(h.name(), [&round_mu, &pending,
                                 name = h.name()](const absl::StatusOr<dr::v1::Host>& synced) {
          if (!synced.ok())
            spdlog::warn("periodic sync of {}: {}", name, synced.status().ToString());
          absl::MutexLock lock(&round_mu);
          --pending;
        });
        return true;
      });
      if (!listed.ok()) spdlog::error("periodic sync: {}", listed.ToString());
      absl::MutexLock lock(&round_mu);
      auto idle = [&pending]() { return pending == 0; };
      round_mu.Await(absl::Condition(&idle));
    }
  });
}

void Topology::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (syncer_.joinable()) syncer_.join();
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

}  // namespace server
}  // namespace hvdr
