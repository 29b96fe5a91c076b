// FailoverService logic, free of gRPC: checks a request, records the job
// (job + VM claim + request_id in one transaction) and hands it to the
// dispatcher. Every refusal names the field and carries the Hyper-V return
// code (see docs/api.md); nothing is recorded for a refused request.
#ifndef HVDR_SERVER_FAILOVER_H_
#define HVDR_SERVER_FAILOVER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/hyperv_rules.h"
#include "dr/v1/failover_service.pb.h"
#include "server/agent_client.h"
#include "server/names.h"
#include "server/network_settings.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class Dispatcher;
class JobWriter;

// One FailoverService request, whatever its method.
struct OperationRequest {
  dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
  std::string method;  // e.g. "InitiateFailover", for messages and request_id checks
  // As sent: a VM copy (hosts/{host}/virtualMachines/{guid}) or a logical
  // VM (virtualMachines/{guid-or-display-name}), resolved to the copy the
  // operation runs on (see Check).
  std::string virtual_machine;
  // As sent: under the copy's name, or under the logical VM's name when
  // virtual_machine is one.
  std::string recovery_point;
  std::string request_id;
  std::string requester;
  std::vector<dr::v1::FailoverNetworkAdapterSettings> network_settings;
  // Identifies the request for request_id reuse checks: the serialized
  // request as sent (with a logical VM name, not the copy it resolved to),
  // with request_id and requester cleared: the same retry from another
  // operator or from cron is the same request.
  std::string fingerprint;
  // The asking call's audit trail entry (see WriteOp::audit), unless unset
  // (a plan's own step): written in the transaction that creates the job,
  // and then `audited` runs, before the answer, with the event as stored.
  struct Audit {
    std::optional<dr::v1::AuditEvent> event;
    std::function<void(const dr::v1::AuditEvent&)> audited;
  } audit;
};

namespace internal {
// The recovery point of requests that have one, in its canonical spelling.
template <typename Req>
auto CanonicalRecoveryPoint(Req* r, int) -> decltype(r->recovery_point(), void()) {
  auto point = ParseRecoveryPointName("recovery_point", r->recovery_point());
  if (point.ok())
    r->set_recovery_point(absl::StrCat(point->first, "/recoveryPoints/", point->second));
}
template <typename Req>
void CanonicalRecoveryPoint(Req*, long) {}
}  // namespace internal

// The OperationRequest of a FailoverService request `req` of method
// `method` (the handlers' conversion): the fields every method has, and the
// fingerprint. Method-specific fields (recovery_point, network_settings)
// are the caller's to copy.
template <typename Req>
OperationRequest MakeOperationRequest(dr::v1::JobType type, const char* method, const Req& req) {
  OperationRequest r;
  r.type = type;
  r.method = method;
  r.virtual_machine = req.virtual_machine();
  r.request_id = req.request_id();
  r.requester = req.requester();
  // Who asks is not part of what is asked: the same retry from another
  // operator (or from cron) is the same request.
  Req fp = req;
  fp.clear_request_id();
  fp.clear_requester();
  // A retry that spells the VM's GUID another way is the same request.
  absl::StatusOr<VmName> vm = ParseVmName("virtual_machine", fp.virtual_machine());
  if (vm.ok()) fp.set_virtual_machine(vm->name());
  internal::CanonicalRecoveryPoint(&fp, 0);
  r.fingerprint = fp.SerializeAsString();
  return r;
}

class FailoverLogic {
 public:
  using Done = std::function<void(const absl::StatusOr<dr::v1::JobResponse>&)>;

  // Not owned. `dispatcher` may be null (jobs are then only recorded).
  FailoverLogic(Store* store, JobWriter* writer, Dispatcher* dispatcher, Clock* clock)
      : store_(store), writer_(writer), dispatcher_(dispatcher), clock_(clock) {}

  // Checks the request, records the job through the writer's group commit
  // and dispatches it; `done` runs once, on this thread (refusals found
  // before writing) or on the writer's thread. A repeated request_id
  // answers the job the first call created; the decision is the store's
  // CreateJob transaction's (which also claims the VM), so a retry racing
  // its first attempt is answered that attempt's job, not VM_BUSY.
  void Submit(const OperationRequest& request, Done done);

  // Test hook: Submit's checks alone (no writes). On OK, *vm
  // and *host (either may be null) are the VM copy and its host. A logical
  // VM name resolves to the one copy whose replication mode the operation's
  // rule (common/hyperv_rules.h) allows: none is FAILED_PRECONDITION
  // (32775, NO_COPY_FOR_OPERATION), several INVALID_ARGUMENT (32773,
  // AMBIGUOUS_VIRTUAL_MACHINE), no copy at all NOT_FOUND (32773); each
  // names the field virtual_machine and the copies.
  absl::Status CheckForTest(const OperationRequest& request, dr::v1::VirtualMachine* vm,
                            dr::v1::Host* host = nullptr);

 private:
  struct Checked {
    dr::v1::VirtualMachine vm;  // the copy the operation runs on
    dr::v1::Host host;
    std::string recovery_point;     // under the copy's name; "" for the latest
    std::string recovery_point_id;  // its id
  };
  absl::Status CheckFor(const OperationRequest& request, bool check_busy, Checked* out);
  // The copy of a logical VM the operation of `rule` runs on.
  absl::StatusOr<dr::v1::VirtualMachine> Resolve(const OperationRequest& request,
                                                 const OperationRule& rule);
  // The first call's answer when `key` was recorded by a job creation;
  // nullopt when it was never recorded; REQUEST_ID_REUSED when recorded for
  // another request.
  absl::StatusOr<std::optional<dr::v1::JobResponse>> Replayed(const RequestKey& key);
  // "jobs/YYYYMMDD-HHMMSS-uuuuuu-rrrrrrrr": the creation time to the
  // microsecond, made strictly increasing within this process (so new names
  // sort after old ones and land at the right edge of every index keyed by
  // job name: a batch of creations touches a few pages, not one per job),
  // then 32 random bits against other processes and clocks set back.
  std::string NewJobName();
  void Create(dr::v1::Job job, RequestKey key, AgentOperation op, std::string address, int attempt,
              OperationRequest::Audit audit, Done done);

  Store* const store_;
  JobWriter* const writer_;
  Dispatcher* const dispatcher_;
  Clock* const clock_;
  absl::Mutex rng_mu_;
  absl::BitGen rng_ ABSL_GUARDED_BY(rng_mu_);
  int64_t last_name_us_ ABSL_GUARDED_BY(rng_mu_) = 0;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_FAILOVER_H_
