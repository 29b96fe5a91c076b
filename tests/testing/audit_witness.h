// Every mutating call an end-to-end test makes to drserver, as the client
// saw it answered, so that the test can check at its end that each one has
// its audit event with the right identity (issue 14: "every accepted and
// refused mutating call of the e2e tests has its entry"). Cluster puts a
// witness on every channel it hands out and checks in its destructor.
#ifndef HVDR_TESTS_TESTING_AUDIT_WITNESS_H_
#define HVDR_TESTS_TESTING_AUDIT_WITNESS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hvdr {
namespace testing {

class AuditWitness {
 public:
  struct Call {
    std::string method;      // full path, "/dr.v1.FailoverService/InitiateFailover"
    std::string identity;    // the identity its event must name
    std::string request_id;  // the request's request_id ("" if none)
    int status_code = 0;     // the gRPC code the client received
  };

  // An interceptor factory for a channel whose calls are made as
  // `identity` (a token's identity, or "anonymous" for none), or, when
  // `insecure`, to an --insecure drserver (whose events name
  // "insecure:" and the request's requester).
  std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> Factory(
      const std::string& identity, bool insecure);

  // The mutating calls drserver answered (not those that failed before it
  // could: UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED).
  std::vector<Call> Answered() const ABSL_LOCKS_EXCLUDED(mu_);

  // The calls of Answered() that have no audit event in drserver's trail
  // (read through `channel`, which may list it), looking again until
  // `patience` has passed; each event accounts for one call. An error if
  // the trail cannot be read.
  std::vector<Call> Missing(const std::shared_ptr<grpc::Channel>& channel,
                            absl::Duration patience) const;

  void Add(Call call) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

std::string DebugString(const AuditWitness::Call& call);

}  // namespace testing
}  // namespace hvdr

#endif  // HVDR_TESTS_TESTING_AUDIT_WITNESS_H_
