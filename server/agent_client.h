// How the server reaches agents: a stub per agent address, and the encoding
// of the request each job sends its agent (stored with the job, so that the
// same request can be re-sent after a restart: the job id makes it
// idempotent on the agent).
#ifndef HVDR_SERVER_AGENT_CLIENT_H_
#define HVDR_SERVER_AGENT_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "dr/v1/agent_service.grpc.pb.h"

namespace hvdr {
namespace server {

// Thread-safe.
class AgentStubFactory {
 public:
  virtual ~AgentStubFactory() = default;
  // The stub for the agent at `address` (host:port). Never null.
  virtual std::shared_ptr<dr::v1::HostAgentService::StubInterface> Get(
      const std::string& address) = 0;
  // The agent at `address` is the one of host `host_id`: with TLS, every
  // connection there must present a certificate naming `host_id` (a
  // certificate for another host fails the handshake). Called before the
  // first call to a registered host's agent: by RegisterHost, and at
  // start-up for every stored host before any job is re-attached.
  virtual void Expect(const std::string& address, const std::string& host_id) {
    (void)address;
    (void)host_id;
  }
};

// One channel per address, kept for the server's lifetime: plaintext, or
// TLS (`credentials`) verifying that the agent's certificate names the host
// Expect() said lives there (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG). The
// channels send HTTP/2 keepalive pings every keepalive_time, also while no
// call is active, and close the connection when one is not answered within
// keepalive_timeout: a hung agent (SIGSTOPped, a host frozen, a silent
// network partition) breaks its streams within keepalive_time +
// keepalive_timeout instead of never. Connection attempts give up after
// connect_timeout, so a peer that accepts TCP but never speaks HTTP/2 does
// not hold a call forever.
class ChannelAgentStubFactory final : public AgentStubFactory {
 public:
  struct Options {
    absl::Duration keepalive_time = absl::Seconds(10);
    absl::Duration keepalive_timeout = absl::Seconds(5);
    absl::Duration connect_timeout = absl::Seconds(5);
    // Null: plaintext (drserver --insecure).
    std::shared_ptr<grpc::ChannelCredentials> credentials;
  };
  ChannelAgentStubFactory() : ChannelAgentStubFactory(Options()) {}
  explicit ChannelAgentStubFactory(const Options& options) : options_(options) {}

  std::shared_ptr<dr::v1::HostAgentService::StubInterface> Get(const std::string& address) override;
  void Expect(const std::string& address, const std::string& host_id) override;

 private:
  const Options options_;
  absl::Mutex mu_;
  std::map<std::string, std::string> hosts_ ABSL_GUARDED_BY(mu_);  // address -> host id
  std::map<std::string, std::shared_ptr<dr::v1::HostAgentService::StubInterface>> stubs_
      ABSL_GUARDED_BY(mu_);
};

// What a job asks its agent.
struct AgentOperation {
  dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
  std::string job_id;  // the job's full name, jobs/{job}
  std::string vm_id;
  std::string recovery_point_id;
  std::vector<dr::v1::FailoverNetworkAdapterSettings> network_settings;
};

// The serialized HostAgentService request for `op`.
std::string EncodeAgentOperation(const AgentOperation& op);

// The RunJobs entry for the request stored for a job of `type`.
// INVALID_ARGUMENT when the bytes do not parse or the type has no agent call.
absl::StatusOr<dr::v1::AgentJobRequest> ToAgentJobRequest(dr::v1::JobType type,
                                                          const std::string& bytes);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_AGENT_CLIENT_H_
