// FailoverService logic, free of gRPC: checks a request, records the job
// (job + VM claim + request_id in one transaction) and hands it to the
// dispatcher. Every refusal names the field and carries the Hyper-V return
// code (see docs/api.md); nothing is recorded for a refused request.
#ifndef HVDR_SERVER_FAILOVER_H_
#define HVDR_SERVER_FAILOVER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "dr/v1/failover_service.pb.h"
#include "server/agent_client.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class Dispatcher;
class JobWriter;

// One FailoverService request, whatever its method.
struct OperationRequest {
  dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
  std::string method;  // e.g. "InitiateFailover", for messages and request_id checks
  std::string virtual_machine;
  std::string recovery_point;
  std::string request_id;
  std::string requester;
  std::vector<dr::v1::FailoverNetworkAdapterSettings> network_settings;
  // Identifies the request for request_id reuse checks: the serialized
  // request with request_id cleared.
  std::string fingerprint;
};

class FailoverLogic {
 public:
  using Done = std::function<void(const absl::StatusOr<dr::v1::JobResponse>&)>;

  // Not owned. `dispatcher` may be null (jobs are then only recorded).
  FailoverLogic(Store* store, JobWriter* writer, Dispatcher* dispatcher, Clock* clock)
      : store_(store), writer_(writer), dispatcher_(dispatcher), clock_(clock) {}

  // Checks the request, records the job through the writer's group commit
  // and dispatches it; `done` runs once, on this thread (refusals found
  // before writing) or on the writer's thread. A repeated request_id
  // answers the job the first call created.
  void Submit(const OperationRequest& request, Done done);

  // The checks alone (no writes), for a dry run and for tests. On OK, *vm
  // and *host (either may be null) are the VM copy and its host.
  absl::Status Check(const OperationRequest& request, dr::v1::VirtualMachine* vm,
                     dr::v1::Host* host = nullptr);

 private:
  // "jobs/YYYYMMDD-HHMMSS-uuuuuu-rrrrrrrr": the creation time to the
  // microsecond, made strictly increasing within this process (so new names
  // sort after old ones and land at the right edge of every index keyed by
  // job name: a batch of creations touches a few pages, not one per job),
  // then 32 random bits against other processes and clocks set back.
  std::string NewJobName();
  void Create(dr::v1::Job job, RequestKey key, AgentOperation op, std::string address,
              int attempt, Done done);

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
