// Every TopologyService request through the server's checks. The first byte
// picks the method, the rest is the serialized request, run as the handler
// runs it against a seeded SqliteStore: the size limit, then the method's
// logic (server/topology.h). RegisterHost and SyncHost go as far as their
// checks (past them they talk to an agent); DeleteHost runs for real, and
// a host it deleted is put back (the store is seeded again).
// Properties: a refusal names a field and has a reason and a Hyper-V code;
// a Get answers the object named; a List's next_page_token is accepted for
// the next page of the same request.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "dr/v1/topology_service.pb.h"
#include "fuzz/properties.h"
#include "fuzz/seeded_store.h"
#include "server/names.h"
#include "server/topology.h"

namespace {

namespace server = hvdr::server;
namespace v1 = dr::v1;

constexpr int64_t kMaxRequestBytes = 4 << 20;  // ApiLimits' default

struct World {
  hvdr::FakeClock clock{absl::FromUnixSeconds(1767229200)};
  std::unique_ptr<hvdr::SqliteStore> store;
  std::unique_ptr<server::Topology> topology;
  void Seed() {
    topology.reset();
    store = hvdr::fuzz::OpenSeededStore();
    // No agents: only DeleteHost and the lists run, which need none.
    topology = std::make_unique<server::Topology>(store.get(), nullptr, &clock,
                                                  server::Topology::Options());
  }
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World;
    w->Seed();
    return w;
  }();
  return *world;
}

template <typename Req>
bool Parse(const uint8_t* data, size_t size, Req* req) {
  if (!req->ParseFromArray(data, static_cast<int>(size))) return false;
  absl::Status big = server::CheckRequestSize(req->ByteSizeLong(), kMaxRequestBytes);
  if (big.ok()) return true;
  hvdr::fuzz::CheckRefusal(big, "request");
  return false;
}

// A List answer: OK, or a refusal; an OK page's token fetches the next page.
template <typename Req, typename Resp, typename Call>
void CheckList(Req req, const absl::StatusOr<Resp>& resp, Call call) {
  if (!resp.ok()) return hvdr::fuzz::CheckRefusal(resp.status());
  if (resp->next_page_token().empty()) return;
  req.set_page_token(resp->next_page_token());
  absl::StatusOr<Resp> next = call(req);
  FUZZ_CHECK(next.ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t method = data[0] % 10;
  ++data;
  --size;
  World& w = TheWorld();
  hvdr::Store* store = w.store.get();
  switch (method) {
    case 0: {
      v1::RegisterHostRequest r;
      if (!Parse(data, size, &r)) break;
      absl::Status s = server::CheckRegisterHostRequest(r);
      if (!s.ok()) {
        hvdr::fuzz::CheckRefusal(s);
        break;
      }
      FUZZ_CHECK(server::ParseHostName("name", server::HostName(r.host_id())).ok());
      FUZZ_CHECK(server::ParseSiteName("site", r.site()).ok());
      FUZZ_CHECK(server::CheckAgentAddress("agent_address", r.agent_address()).ok());
      break;
    }
    case 1: {
      v1::GetHostRequest r;
      if (!Parse(data, size, &r)) break;
      absl::StatusOr<v1::Host> host = server::GetHost(store, r);
      if (!host.ok()) {
        hvdr::fuzz::CheckRefusal(host.status(), "name");
        break;
      }
      FUZZ_CHECK(host->name() == r.name());
      break;
    }
    case 2: {
      v1::ListHostsRequest r;
      if (!Parse(data, size, &r)) break;
      auto call = [&](const v1::ListHostsRequest& q) { return w.topology->ListHosts(q); };
      auto resp = call(r);
      if (resp.ok()) {
        for (const auto& h : resp->hosts()) FUZZ_CHECK(r.site().empty() || h.site() == r.site());
        FUZZ_CHECK(r.page_size() == 0 || resp->hosts_size() <= r.page_size());
      }
      CheckList(r, resp, call);
      break;
    }
    case 3: {
      v1::DeleteHostRequest r;
      if (!Parse(data, size, &r)) break;
      absl::Status s = w.topology->DeleteHost(r);
      if (!s.ok()) {
        hvdr::fuzz::CheckRefusal(s);
        break;
      }
      FUZZ_CHECK(server::ParseHostName("name", r.name()).ok());
      FUZZ_CHECK(store->GetHost(r.name()).status().code() == absl::StatusCode::kNotFound);
      // Asked again, the same request is answered OK again.
      FUZZ_CHECK(w.topology->DeleteHost(r).ok());
      w.Seed();
      break;
    }
    case 4: {
      v1::SyncHostRequest r;
      if (!Parse(data, size, &r)) break;
      // What SyncHostAsync checks before it calls the agent.
      absl::Status s = server::ParseHostName("name", r.name()).status();
      if (!s.ok()) hvdr::fuzz::CheckRefusal(s, "name");
      break;
    }
    case 5: {
      v1::ListSitesRequest r;
      if (!Parse(data, size, &r)) break;
      auto call = [&](const v1::ListSitesRequest& q) { return server::ListSites(store, q); };
      CheckList(r, call(r), call);
      break;
    }
    case 6: {
      v1::GetVirtualMachineRequest r;
      if (!Parse(data, size, &r)) break;
      absl::StatusOr<v1::VirtualMachine> vm = server::GetVirtualMachine(store, r);
      if (!vm.ok()) {
        hvdr::fuzz::CheckRefusal(vm.status(), "name");
        break;
      }
      FUZZ_CHECK(vm->name() == server::ParseVmName("name", r.name())->name());
      break;
    }
    case 7: {
      v1::ListVirtualMachinesRequest r;
      if (!Parse(data, size, &r)) break;
      auto call = [&](const v1::ListVirtualMachinesRequest& q) {
        return w.topology->ListVirtualMachines(q);
      };
      auto resp = call(r);
      if (resp.ok()) {
        for (const auto& vm : resp->virtual_machines()) {
          FUZZ_CHECK(server::ParseVmName("vm", vm.name()).ok());
          if (!r.parent().empty() && r.parent() != "hosts/-") FUZZ_CHECK(vm.host() == r.parent());
        }
      }
      CheckList(r, resp, call);
      break;
    }
    case 8: {
      v1::ListReplicationRelationshipsRequest r;
      if (!Parse(data, size, &r)) break;
      auto resp = server::ListReplicationRelationships(store, r);
      if (!resp.ok()) hvdr::fuzz::CheckRefusal(resp.status(), "parent");
      break;
    }
    default: {
      v1::ListRecoveryPointsRequest r;
      if (!Parse(data, size, &r)) break;
      auto call = [&](const v1::ListRecoveryPointsRequest& q) {
        return server::ListRecoveryPoints(store, q);
      };
      CheckList(r, call(r), call);
      break;
    }
  }
  return 0;
}
