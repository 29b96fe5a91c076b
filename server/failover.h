// FailoverService logic, free of gRPC: checks a request, records the job
// (job + VM claim + request_id in one transaction) and hands it to the
// dispatcher. Every refusal names the field and carries the Hyper-V return
// code (see docs/api.md); nothing is recorded for a refused request.
#ifndef HVDR_SERVER_FAILOVER_H_
#define HVDR_SERVER_FAILOVER_H_

#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "dr/v1/failover_service.pb.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class Dispatcher;

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
  // Not owned. `dispatcher` may be null (jobs are then only recorded).
  FailoverLogic(Store* store, Dispatcher* dispatcher, Clock* clock)
      : store_(store), dispatcher_(dispatcher), clock_(clock) {}

  // Checks, records and dispatches. A repeated request_id answers the job
  // the first call created.
  absl::StatusOr<dr::v1::JobResponse> Submit(const OperationRequest& request);

  // The checks alone (no writes), for a dry run and for tests.
  absl::Status Check(const OperationRequest& request, dr::v1::VirtualMachine* vm);

 private:
  std::string NewJobName();

  Store* const store_;
  Dispatcher* const dispatcher_;
  Clock* const clock_;
  absl::Mutex rng_mu_;
  absl::BitGen rng_ ABSL_GUARDED_BY(rng_mu_);
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_FAILOVER_H_
