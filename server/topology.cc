#include "server/topology.h"

#include <grpcpp/grpcpp.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "absl/strings/strip.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "server/dispatcher.h"
#include "server/names.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

absl::Status CheckPageSize(int32_t page_size) {
  if (page_size < 0) return InvalidParameter("page_size", "NEGATIVE", "must be 0 or more");
  return absl::OkStatus();
}

namespace {

absl::Status CheckAgentAddress(const std::string& address) {
  if (address.empty()) return InvalidParameter("agent_address", "MISSING", "is required (host:port)");
  // A DNS name is at most 253 characters; with ":" and a port, 260.
  RETURN_IF_ERROR(CheckLength("agent_address", address, 260));
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return InvalidParameter("agent_address", "MALFORMED_ADDRESS",
                            absl::StrCat("must be host:port with a port 1-65535, got \"", address, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

Topology::~Topology() { Stop(); }

void Topology::ForgetAgentIfUnused(const std::string& address) {
  std::string token;
  do {
    absl::StatusOr<Page<dr::v1::Host>> page = store_->ListHosts("", {1000, token});
    if (!page.ok()) return;  // keeping a stream open is harmless
    for (const dr::v1::Host& h : page->items) {
      if (h.agent_address() == address) return;
    }
    token = page->next_page_token;
  } while (!token.empty());
  dispatcher_->Forget(address);
}

absl::StatusOr<dr::v1::Host> Topology::RegisterHost(const dr::v1::RegisterHostRequest& r) {
  RETURN_IF_ERROR(CheckId("host_id", r.host_id()));
  RETURN_IF_ERROR(ParseSiteName("site", r.site()).status());
  RETURN_IF_ERROR(CheckAgentAddress(r.agent_address()));
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  dr::v1::RegisterHostRequest fp = r;
  fp.clear_request_id();
  const RequestKey key{r.request_id(), "dr.v1.TopologyService/RegisterHost", fp.SerializeAsString()};
  dr::v1::Host host;
  host.set_name(HostName(r.host_id()));
  host.set_site(r.site());
  host.set_agent_address(r.agent_address());
  ToProto(clock_->Now(), host.mutable_create_time());
  ASSIGN_OR_RETURN(bool replayed, store_->CreateHost(host, &key));
  if (replayed) {
    ASSIGN_OR_RETURN(dr::v1::Host stored, store_->GetHost(host.name()));
    // The first call may have died before its sync, or its sync failed: a
    // retry finishes the registration rather than answer an empty host.
    if (stored.has_last_sync_time()) return stored;
    return RegistrationSync(host.name());
  }
  spdlog::info("{}: registered in {} (agent {})", host.name(), host.site(), host.agent_address());
  if (dispatcher_ != nullptr) dispatcher_->KeepConnected(host.agent_address());
  return RegistrationSync(host.name());
}

absl::Status Topology::DeleteHost(const dr::v1::DeleteHostRequest& r) {
  RETURN_IF_ERROR(ParseHostName("name", r.name()).status());
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  // The fingerprint is the name: it is all a DeleteHostRequest says.
  const RequestKey key{r.request_id(), "dr.v1.TopologyService/DeleteHost", r.name()};
  absl::StatusOr<dr::v1::Host> doomed = store_->GetHost(r.name());
  absl::StatusOr<bool> deleted = store_->DeleteHost(r.name(), &key);
  if (deleted.status().code() == absl::StatusCode::kNotFound) {
    return NotFoundParameter("name", "HOST_NOT_FOUND", absl::StrCat(r.name(), " is not registered"));
  }
  RETURN_IF_ERROR(deleted.status());
  if (!*deleted) spdlog::info("{}: removed with its inventory", r.name());
  if (dispatcher_ != nullptr && doomed.ok()) ForgetAgentIfUnused(doomed->agent_address());
  return absl::OkStatus();
}

absl::StatusOr<dr::v1::Host> Topology::RegistrationSync(const std::string& name) {
  absl::StatusOr<dr::v1::Host> synced = SyncHost(name);
  if (synced.ok()) return synced;
  // RegisterHost has no field `name`: its host is `host_id`.
  dr::v1::ErrorDetail detail = ErrorDetailOf(synced.status());
  if (detail.field() != "name") return synced;
  absl::string_view message = synced.status().message();
  absl::ConsumePrefix(&message, "name: ");
  return Restated(synced.status(), "host_id", "", message);
}

absl::StatusOr<dr::v1::Host> Topology::SyncHost(const std::string& name) {
  RETURN_IF_ERROR(ParseHostName("name", name).status());
  absl::StatusOr<dr::v1::Host> host = store_->GetHost(name);
  if (host.status().code() == absl::StatusCode::kNotFound) {
    return NotFoundParameter("name", "HOST_NOT_FOUND", absl::StrCat(name, " is not registered"));
  }
  if (!host.ok()) return host.status();
  auto stub = agents_->Get(host->agent_address());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.agent_timeout));
  dr::v1::GetInventoryResponse inventory;
  grpc::Status status = stub->GetInventory(&context, {}, &inventory);
  if (!status.ok()) {
    dr::v1::Host contact = *host;
    contact.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
    contact.set_stale(true);
    contact.set_last_error(absl::StrCat("agent at ", host->agent_address(), ": ",
                                        status.error_message(), " (", status.error_code(), ")"));
    contact.clear_last_contact_time();
    if (host->reachability() != dr::v1::REACHABILITY_UNREACHABLE) {
      spdlog::warn("{}: unreachable: {}; keeping its last known inventory", name, contact.last_error());
    }
    RETURN_IF_ERROR(store_->UpdateHostContact(contact));
    return store_->GetHost(name);
  }
  std::vector<dr::v1::VirtualMachineInventory> vms(inventory.virtual_machines().begin(),
                                                   inventory.virtual_machines().end());
  absl::Status replaced = store_->ReplaceInventory(name, vms, clock_->Now());
  if (!replaced.ok()) {
    spdlog::error("{}: inventory from {} rejected: {}", name, host->agent_address(), replaced.ToString());
    // The store names the inventory's fields (virtual_machines[i].vm_id),
    // which are the agent's, not the caller's: the caller's field is the
    // host, and the fault is the agent's data.
    if (replaced.code() == absl::StatusCode::kInvalidArgument) {
      return HyperVError(dr::v1::RETURN_CODE_FAILED, "name", "INVENTORY_REJECTED",
                         absl::StrCat(name, ": the inventory its agent at ", host->agent_address(),
                                      " sent cannot be stored (", replaced.message(), ")"));
    }
    return Restated(replaced, "name", "",
                    absl::StrCat(name, ": its inventory cannot be stored: ", replaced.message()));
  }
  if (host->reachability() != dr::v1::REACHABILITY_REACHABLE) {
    spdlog::info("{}: synced {} VMs from {} ({})", name, vms.size(), host->agent_address(),
                 inventory.host_name());
  }
  return store_->GetHost(name);
}

absl::StatusOr<dr::v1::ListHostsResponse> Topology::ListHosts(const dr::v1::ListHostsRequest& r) {
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  if (!r.site().empty()) RETURN_IF_ERROR(ParseSiteName("site", r.site()).status());
  ASSIGN_OR_RETURN(Page<dr::v1::Host> page, store_->ListHosts(r.site(), {r.page_size(), r.page_token()}));
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
      return InvalidParameter("replication_states", "UNKNOWN_VALUE", absl::StrCat(s, " is not a ReplicationState"));
    }
    f.replication_states.push_back(static_cast<dr::v1::ReplicationState>(s));
  }
  for (int h : r.replication_healths()) {
    if (!dr::v1::ReplicationHealth_IsValid(h)) {
      return InvalidParameter("replication_healths", "UNKNOWN_VALUE", absl::StrCat(h, " is not a ReplicationHealth"));
    }
    f.replication_healths.push_back(static_cast<dr::v1::ReplicationHealth>(h));
  }
  // Hyper-V's ElementName (a VM's display name) is at most 256 characters.
  RETURN_IF_ERROR(CheckLength("display_name_or_id", r.display_name_or_id(), 256));
  f.display_name_or_id = r.display_name_or_id();
  f.filter_replication_mode = r.filter_replication_mode();
  f.replication_mode = r.replication_mode();
  ASSIGN_OR_RETURN(Page<dr::v1::VirtualMachine> page,
                   store_->ListVirtualMachines(f, {r.page_size(), r.page_token()}));
  dr::v1::ListVirtualMachinesResponse out;
  for (auto& vm : page.items) *out.add_virtual_machines() = std::move(vm);
  out.set_next_page_token(page.next_page_token);
  return out;
}

void Topology::StartPeriodicSync() {
  syncer_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.sync_interval)) {
      std::string token;
      do {
        absl::StatusOr<Page<dr::v1::Host>> page = store_->ListHosts("", {1000, token});
        if (!page.ok()) {
          spdlog::error("periodic sync: {}", page.status().ToString());
          break;
        }
        for (const dr::v1::Host& h : page->items) {
          if (stop_.HasBeenNotified()) return;
          absl::StatusOr<dr::v1::Host> synced = SyncHost(h.name());
          if (!synced.ok()) spdlog::warn("periodic sync of {}: {}", h.name(), synced.status().ToString());
        }
        token = page->next_page_token;
      } while (!token.empty());
    }
  });
}

void Topology::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (syncer_.joinable()) syncer_.join();
}

}  // namespace server
}  // namespace hvdr
