// A DR estate of real processes on loopback for end-to-end tests: hvagent
// processes with the simulated Hyper-V and a drserver, each on port 0, with
// stubs for the dr.v1 services and helpers that wait for jobs.
#ifndef HVDR_TESTS_TESTING_CLUSTER_H_
#define HVDR_TESTS_TESTING_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "hvdr/sim/v1/sim.pb.h"
#include "tests/testing/audit_witness.h"
#include "tests/testing/certs.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace testing {

class Cluster {
 public:
  explicit Cluster(const std::string& name);
  ~Cluster();

  const std::string& dir() const { return dir_; }

  // Runs everything with TLS from now on, with the files tools/mkcerts.sh
  // wrote to `certs_dir` (run MakeCerts first): each agent with its
  // agent-<host> certificate (or the one SetAgentCertificate chose),
  // drserver with drserver.crt, certs_dir/tokens.json and, if present,
  // certs_dir/policy.json; the stubs below call as the token of identity
  // "admin". Without it every process runs --insecure.
  void UseTls(const std::string& certs_dir) { certs_ = certs_dir; }
  // The agent of `host` presents agent-<cert_host>.crt instead of its own.
  void SetAgentCertificate(const std::string& host, const std::string& cert_host) {
    agent_cert_[host] = cert_host;
  }
  // A channel to drserver: over TLS (when UseTls) with the token of
  // `identity` from tokens.txt ("" : no token), else plaintext. Every
  // mutating call made through it is witnessed (audit()).
  std::shared_ptr<grpc::Channel> ServerChannel(const std::string& identity);

  // The mutating calls made through ServerChannel()s. When the cluster is
  // destroyed with its drserver running, each one answered must have its
  // audit event with the right identity, or the test fails naming it.
  AuditWitness& audit() { return audit_; }
  // Checks it now (the test is about to stop drserver for good).
  void ExpectEveryCallAudited();

  // Writes `scenario` (unless null) and starts (or restarts) the agent
  // `host`; its state and journal live in dir()/host.*. A restarted agent
  // listens on the port it had. `extra_flags` go to hvagent after the
  // cluster's own. Returns the agent's address.
  absl::StatusOr<std::string> StartAgent(const std::string& host,
                                         const hvdr::sim::v1::Scenario* scenario,
                                         const std::vector<std::string>& extra_flags = {});
  // Sends `sig`; waits for the agent to exit unless sig is SIGSTOP/SIGCONT.
  void KillAgent(const std::string& host, int sig = 9);
  // The simulated hypervisor's state file of `host`, parsed.
  hvdr::sim::v1::SimState AgentState(const std::string& host);

  absl::Status StartServer(const std::vector<std::string>& extra_flags = {});
  void KillServer(int sig = 9);
  std::string server_address() const { return server_address_; }

  dr::v1::TopologyService::Stub* topology() { return topology_.get(); }
  dr::v1::FailoverService::Stub* failover() { return failover_.get(); }
  dr::v1::JobService::Stub* jobs() { return jobs_.get(); }

  // The registered address of an agent ("" if none).
  std::string agent_address(const std::string& host) { return agent_addresses_[host]; }

  absl::StatusOr<dr::v1::Host> Register(const std::string& host, const std::string& site);
  absl::StatusOr<dr::v1::Job> GetJob(const std::string& name);
  absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(const std::string& name);
  // InitiateFailover of the VM copy `vm` (to the latest point).
  absl::StatusOr<dr::v1::JobResponse> InitiateFailover(const std::string& vm,
                                                       const std::string& request_id);
  // Watches until the job is terminal; every message received is appended
  // to *seen when given. Reconnects if the stream breaks (server restart).
  absl::StatusOr<dr::v1::Job> WaitJob(const std::string& name, absl::Duration timeout,
                                      std::vector<dr::v1::Job>* seen = nullptr);

 private:
  std::vector<std::string> AgentArgv(const std::string& host, const std::string& base,
                                     const std::string& listen);
  std::string dir_;
  std::string certs_;
  std::map<std::string, std::string> agent_cert_;
  std::map<std::string, std::unique_ptr<Subprocess>> agents_;
  std::map<std::string, std::string> agent_addresses_;
  std::unique_ptr<Subprocess> server_;
  std::string server_address_;
  std::unique_ptr<dr::v1::TopologyService::Stub> topology_;
  std::unique_ptr<dr::v1::FailoverService::Stub> failover_;
  std::unique_ptr<dr::v1::JobService::Stub> jobs_;
  AuditWitness audit_;
  bool audit_checked_ = false;
};

// A replica-site scenario: `count` replica VMs (GUIDs from VmGuid) with two
// recovery points each ("rp-old", "rp-new"), jobs taking `job_ms`.
hvdr::sim::v1::Scenario ReplicaScenario(const std::string& host, int count, int job_ms);
// The matching primary-site scenario (same GUIDs, mode Primary, running).
hvdr::sim::v1::Scenario PrimaryScenario(const std::string& host, int count, int job_ms);
std::string VmGuid(int i);

// hosts/{host}/virtualMachines/{VmGuid(i)}: VM i's copy on `host`.
std::string VmName(const std::string& host, int i);

}  // namespace testing
}  // namespace hvdr

#endif  // HVDR_TESTS_TESTING_CLUSTER_H_
