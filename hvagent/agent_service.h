// dr.v1.HostAgentService over the gRPC callback API. Each operation call is
// a server stream fed by the JobRunner: the job's current status first, then
// every change, ending after the terminal one. RunJobs carries many jobs on
// one stream: statuses that change while a write is in flight go out
// together in the next message, so a burst of job changes costs a few
// writes, not one call per job. Streams own a small queue (one write in
// flight at a time) and cost no thread.
//
// Thread-safe. Shutdown() must be called before the grpc::Server shuts down:
// it ends every open stream with UNAVAILABLE ("re-attach with WatchJob").
#ifndef HVDR_HVAGENT_AGENT_SERVICE_H_
#define HVDR_HVAGENT_AGENT_SERVICE_H_

#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/executor.h"
#include "dr/v1/agent_service.grpc.pb.h"
#include "hvagent/backend.h"
#include "hvagent/job_runner.h"

namespace hvdr {
namespace agent {

// A stream the service can end at shutdown.
class AgentStream {
 public:
  virtual ~AgentStream() = default;
  // Ends the stream with `status` (once the write in flight is done).
  virtual void Close(const grpc::Status& status) = 0;
};

// Request -> Operation, checking the fields every operation needs. Errors
// are INVALID_ARGUMENT (32773) naming the field.
absl::StatusOr<Operation> ToOperation(dr::v1::JobType type, const std::string& job_id,
                                      const std::string& vm_id,
                                      const std::string& recovery_point_id);
// What a RunJobs entry (or a per-job call, wrapped in one) asks.
struct JobRequest {
  std::string job_id;
  // The operation to start; none for watch_job (re-attach to the job).
  std::optional<Operation> op;
};
// Fills *out (job_id even when the request is refused), with the checks of
// ToOperation; watch_job needs only a job_id. INVALID_ARGUMENT (32773)
// naming the field.
absl::Status ParseJobRequest(const dr::v1::AgentJobRequest& request, JobRequest* out);

class AgentServiceImpl final : public dr::v1::HostAgentService::CallbackService {
 public:
  // Not owned; must outlive the service.
  // Hypervisor calls and journal writes run on `workers` threads, never on
  // gRPC's callback threads.
  // A GetVirtualMachine that waits for the guest's heartbeat
  // (heartbeat_ok_wait) reads the VM every `ready_check_interval`, on a
  // thread of its own for every such call.
  AgentServiceImpl(Backend* backend, JobRunner* runner, int workers = 4,
                   absl::Duration ready_check_interval = absl::Milliseconds(100));
  ~AgentServiceImpl() override;

  void Shutdown();

  grpc::ServerUnaryReactor* GetInventory(grpc::CallbackServerContext* context,
                                         const dr::v1::GetInventoryRequest* request,
                                         dr::v1::GetInventoryResponse* response) override;
  grpc::ServerUnaryReactor* GetVirtualMachine(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceGetVirtualMachineRequest* request,
      dr::v1::VirtualMachineInventory* response) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* InitiateFailover(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceInitiateFailoverRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* RevertFailover(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceRevertFailoverRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* CommitFailover(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceCommitFailoverRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* StartTestFailover(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceStartTestFailoverRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* CleanupTestFailover(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceCleanupTestFailoverRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* ReverseReplication(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceReverseReplicationRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* SetFailoverNetworkAdapterSettings(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceSetFailoverNetworkAdapterSettingsRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* PrepareForPlannedFailover(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServicePrepareForPlannedFailoverRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* StartVirtualMachine(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceStartVirtualMachineRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* StopVirtualMachine(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceStopVirtualMachineRequest* request) override;
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* WatchJob(
      grpc::CallbackServerContext* context,
      const dr::v1::HostAgentServiceWatchJobRequest* request) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const dr::v1::HostAgentServiceCancelJobRequest* request,
                                      dr::v1::AgentJobStatus* response) override;
  grpc::ServerBidiReactor<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse>* RunJobs(
      grpc::CallbackServerContext* context) override;

 private:
  friend class JobStream;
  friend class JobSession;
  // A per-job call: `request` wrapped as a RunJobs entry, on a stream of its own.
  grpc::ServerWriteReactor<dr::v1::AgentJobStatus>* Operate(grpc::CallbackServerContext* context,
                                                            const dr::v1::AgentJobRequest& request);
  // False after Shutdown(): the stream is refused.
  bool Register(AgentStream* stream);
  void Unregister(AgentStream* stream);

  // GetVirtualMachine calls waiting for a guest's heartbeat.
  struct ReadyWait {
    std::string vm_id;
    absl::Time until;
    grpc::CallbackServerContext* context;
    grpc::ServerUnaryReactor* reactor;
    dr::v1::VirtualMachineInventory* response;
  };
  // Reads each waiting call's VM every ready_check_interval_ (or as its
  // guest is due up, when the backend knows: Backend::HeartbeatOkIn) and
  // answers it once the heartbeat is OK, its wait is over, or it was
  // cancelled.
  void ReadyWaitLoop();
  static constexpr absl::Duration kReadySlack = absl::Milliseconds(1);

  Backend* const backend_;
  JobRunner* const runner_;
  Executor work_;
  absl::Mutex mu_;
  std::set<AgentStream*> streams_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  const absl::Duration ready_check_interval_;
  absl::Mutex wait_mu_;
  std::vector<ReadyWait> waits_ ABSL_GUARDED_BY(wait_mu_);
  bool waits_stopped_ ABSL_GUARDED_BY(wait_mu_) = false;
  // A wait was added whose guest's boot the backend knows: read them now.
  bool wait_added_ ABSL_GUARDED_BY(wait_mu_) = false;
  std::thread waiter_;  // last: started once the rest is
};

}  // namespace agent
}  // namespace hvdr

#endif  // HVDR_HVAGENT_AGENT_SERVICE_H_
