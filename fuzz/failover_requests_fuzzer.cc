// Every FailoverService request through the server's checks. The first byte
// picks the method, the rest is the serialized request. It goes the
// handler's way (the size limit, MakeOperationRequest, the method's own
// fields) into FailoverLogic::Check against a seeded SqliteStore (checks
// only: nothing is written). Properties: a refusal names a field and has a
// reason and a Hyper-V code; an accepted request resolves to a VM copy that
// the store has, on its host, in a mode the operation's rule allows; the
// fingerprint does not change with request_id, requester or the spelling of
// the VM's GUID.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "common/clock.h"
#include "common/hyperv_rules.h"
#include "dr/v1/failover_service.pb.h"
#include "fuzz/properties.h"
#include "fuzz/seeded_store.h"
#include "server/failover.h"
#include "server/names.h"

namespace {

using hvdr::server::OperationRequest;

struct World {
  std::unique_ptr<hvdr::SqliteStore> store = hvdr::fuzz::OpenSeededStore();
  hvdr::FakeClock clock{absl::FromUnixSeconds(1767229200)};
  hvdr::server::FailoverLogic logic{store.get(), nullptr, nullptr, &clock};
};

World& TheWorld() {
  static World* world = new World;
  return *world;
}

constexpr int64_t kMaxRequestBytes = 4 << 20;  // ApiLimits' default

// The same request asked again by someone else, with the GUID spelt in
// lower case: the fingerprint must not change.
template <typename Req>
void CheckFingerprint(const Req& req, const OperationRequest& op, dr::v1::JobType type,
                      const char* method) {
  Req retry = req;
  retry.set_request_id(req.request_id() + "-retry");
  retry.set_requester(req.requester() + " (cron)");
  if (hvdr::server::ParseVmName("v", req.virtual_machine()).ok()) {
    const std::string& name = req.virtual_machine();
    const size_t guid = name.rfind('/') + 1;
    retry.set_virtual_machine(name.substr(0, guid) + absl::AsciiStrToLower(name.substr(guid)));
  }
  FUZZ_CHECK(hvdr::server::MakeOperationRequest(type, method, retry).fingerprint == op.fingerprint);
}

template <typename Req>
void Run(const uint8_t* data, size_t size, dr::v1::JobType type, const char* method,
         const std::function<void(const Req&, OperationRequest*)>& extra = nullptr) {
  Req req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  absl::Status big = hvdr::server::CheckRequestSize(req.ByteSizeLong(), kMaxRequestBytes);
  if (!big.ok()) return hvdr::fuzz::CheckRefusal(big, "request");
  OperationRequest op = hvdr::server::MakeOperationRequest(type, method, req);
  if (extra) extra(req, &op);
  FUZZ_CHECK(op.type == type && op.virtual_machine == req.virtual_machine());
  CheckFingerprint(req, op, type, method);

  World& w = TheWorld();
  dr::v1::VirtualMachine vm;
  dr::v1::Host host;
  absl::Status checked = w.logic.CheckForTest(op, &vm, &host);
  if (!checked.ok()) return hvdr::fuzz::CheckRefusal(checked);
  absl::StatusOr<hvdr::server::VmName> name = hvdr::server::ParseVmName("vm", vm.name());
  FUZZ_CHECK(name.ok());
  FUZZ_CHECK(host.name() == name->host);
  absl::StatusOr<dr::v1::VirtualMachine> stored = w.store->GetVirtualMachine(vm.name());
  FUZZ_CHECK(stored.ok() && stored->vm_id() == vm.vm_id());
  const hvdr::OperationRule* rule = hvdr::FindRule(type);
  FUZZ_CHECK(rule != nullptr);
  bool mode_allowed = false;
  for (auto m : rule->modes) mode_allowed = mode_allowed || m == vm.replication_mode();
  FUZZ_CHECK(mode_allowed);
  if (!hvdr::server::IsLogicalVmName(op.virtual_machine)) {
    // A copy named outright is that copy.
    FUZZ_CHECK(hvdr::server::ParseVmName("vm", op.virtual_machine)->name() == vm.name());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t method = data[0] % 10;
  ++data;
  --size;
  namespace v1 = dr::v1;
  switch (method) {
    case 0:
      Run<v1::InitiateFailoverRequest>(
          data, size, v1::JOB_TYPE_INITIATE_FAILOVER, "InitiateFailover",
          [](const auto& r, OperationRequest* op) { op->recovery_point = r.recovery_point(); });
      break;
    case 1:
      Run<v1::RevertFailoverRequest>(data, size, v1::JOB_TYPE_REVERT_FAILOVER, "RevertFailover");
      break;
    case 2:
      Run<v1::CommitFailoverRequest>(data, size, v1::JOB_TYPE_COMMIT_FAILOVER, "CommitFailover");
      break;
    case 3:
      Run<v1::StartTestFailoverRequest>(
          data, size, v1::JOB_TYPE_INITIATE_TEST_REPLICA, "StartTestFailover",
          [](const auto& r, OperationRequest* op) { op->recovery_point = r.recovery_point(); });
      break;
    case 4:
      Run<v1::CleanupTestFailoverRequest>(data, size, v1::JOB_TYPE_REMOVE_TEST_REPLICA,
                                          "CleanupTestFailover");
      break;
    case 5:
      Run<v1::ReverseReplicationRequest>(data, size, v1::JOB_TYPE_REVERSE_REPLICATION,
                                         "ReverseReplication");
      break;
    case 6:
      Run<v1::SetFailoverNetworkAdapterSettingsRequest>(
          data, size, v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
          "SetFailoverNetworkAdapterSettings", [](const auto& r, OperationRequest* op) {
            op->network_settings.assign(r.network_settings().begin(), r.network_settings().end());
          });
      break;
    case 7:
      Run<v1::PrepareForPlannedFailoverRequest>(data, size, v1::JOB_TYPE_REPLICATION_STATE_CHANGE,
                                                "PrepareForPlannedFailover");
      break;
    case 8:
      Run<v1::StartVirtualMachineRequest>(data, size, v1::JOB_TYPE_START_VIRTUAL_MACHINE,
                                          "StartVirtualMachine");
      break;
    default:
      Run<v1::StopVirtualMachineRequest>(data, size, v1::JOB_TYPE_STOP_VIRTUAL_MACHINE,
                                         "StopVirtualMachine");
      break;
  }
  return 0;
}
