// drctl's client of drserver: one method per dr.v1 call drctl makes, each
// under a deadline of Options::timeout from the moment it is sent (WatchJob
// and WatchPlanExecution: the deadline the caller gives). Names travel as
// the user gave them: which VM copy a logical name
// (virtualMachines/{guid-or-display-name}) means is drserver's to decide
// (docs/api.md, "Logical VM names"); this class resolves nothing.
// Mutations carry the request_id the caller put in the request
// (NewRequestId() makes one): a retry is the caller's, with the same id, so
// a step is never run twice.
//
// Errors are the call's status with the server's ErrorDetail (Hyper-V return
// code, field, reason) as a payload (common/grpc_status.h).
//
// Thread-compatible. The stubs passed to the constructor are not owned and
// must outlive the client.
#ifndef HVDR_CLI_CLIENT_H_
#define HVDR_CLI_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"

namespace hvdr {
namespace cli {

// "drctl-" and 32 random hex digits.
std::string NewRequestId();

class DrClient {
 public:
  struct Options {
    absl::Duration timeout = absl::Seconds(30);
  };

  DrClient(dr::v1::TopologyService::StubInterface* topology,
           dr::v1::FailoverService::StubInterface* failover,
           dr::v1::JobService::StubInterface* jobs, dr::v1::PlanService::StubInterface* plans,
           const Options& options);
  // A client with stubs of its own on `channel`.
  static std::unique_ptr<DrClient> Connect(const std::shared_ptr<grpc::ChannelInterface>& channel,
                                           const Options& options);
  DrClient(const DrClient&) = delete;
  DrClient& operator=(const DrClient&) = delete;

  // TopologyService.
  absl::StatusOr<dr::v1::Host> RegisterHost(const dr::v1::RegisterHostRequest& request);
  absl::StatusOr<dr::v1::ListHostsResponse> ListHosts(const dr::v1::ListHostsRequest& request);
  absl::Status DeleteHost(const dr::v1::DeleteHostRequest& request);
  absl::StatusOr<dr::v1::Host> SyncHost(const dr::v1::SyncHostRequest& request);
  absl::StatusOr<dr::v1::ListSitesResponse> ListSites(const dr::v1::ListSitesRequest& request);
  absl::StatusOr<dr::v1::VirtualMachine> GetVirtualMachine(
      const dr::v1::GetVirtualMachineRequest& request);
  // One page.
  absl::StatusOr<dr::v1::ListVirtualMachinesResponse> ListVirtualMachines(
      const dr::v1::ListVirtualMachinesRequest& request);
  // Every page from request.page_token on, in one response (no
  // next_page_token); the first error ends it.
  absl::StatusOr<dr::v1::ListVirtualMachinesResponse> ListAllVirtualMachines(
      dr::v1::ListVirtualMachinesRequest request);
  absl::StatusOr<dr::v1::ListReplicationRelationshipsResponse> ListReplicationRelationships(
      const dr::v1::ListReplicationRelationshipsRequest& request);
  absl::StatusOr<dr::v1::ListRecoveryPointsResponse> ListRecoveryPoints(
      const dr::v1::ListRecoveryPointsRequest& request);

  // FailoverService: the job drserver recorded (return code 4096).
  absl::StatusOr<dr::v1::JobResponse> InitiateFailover(
      const dr::v1::InitiateFailoverRequest& request);
  absl::StatusOr<dr::v1::JobResponse> RevertFailover(const dr::v1::RevertFailoverRequest& request);
  absl::StatusOr<dr::v1::JobResponse> CommitFailover(const dr::v1::CommitFailoverRequest& request);
  absl::StatusOr<dr::v1::JobResponse> StartTestFailover(
      const dr::v1::StartTestFailoverRequest& request);
  absl::StatusOr<dr::v1::JobResponse> CleanupTestFailover(
      const dr::v1::CleanupTestFailoverRequest& request);
  absl::StatusOr<dr::v1::JobResponse> ReverseReplication(
      const dr::v1::ReverseReplicationRequest& request);
  absl::StatusOr<dr::v1::JobResponse> SetFailoverNetworkAdapterSettings(
      const dr::v1::SetFailoverNetworkAdapterSettingsRequest& request);
  absl::StatusOr<dr::v1::JobResponse> PrepareForPlannedFailover(
      const dr::v1::PrepareForPlannedFailoverRequest& request);
  absl::StatusOr<dr::v1::JobResponse> StartVirtualMachine(
      const dr::v1::StartVirtualMachineRequest& request);
  absl::StatusOr<dr::v1::JobResponse> StopVirtualMachine(
      const dr::v1::StopVirtualMachineRequest& request);

  // JobService.
  absl::StatusOr<dr::v1::Job> GetJob(const dr::v1::GetJobRequest& request);
  absl::StatusOr<dr::v1::ListJobsResponse> ListJobs(const dr::v1::ListJobsRequest& request);
  absl::StatusOr<dr::v1::ListJobEventsResponse> ListJobEvents(
      const dr::v1::ListJobEventsRequest& request);
  absl::StatusOr<dr::v1::Job> CancelJob(const dr::v1::CancelJobRequest& request);
  // One WatchJob stream of job `name` until it ends or `deadline` passes:
  // `on_job` gets every version read, on the caller's thread. Returns how
  // the stream ended (OK after the terminal version; DEADLINE_EXCEEDED at
  // `deadline`; UNAVAILABLE when drserver went away: watch again).
  absl::Status WatchJob(const std::string& name, absl::Time deadline,
                        const std::function<void(const dr::v1::Job&)>& on_job);

  // PlanService.
  absl::StatusOr<dr::v1::Plan> CreatePlan(const dr::v1::CreatePlanRequest& request);
  absl::StatusOr<dr::v1::Plan> UpdatePlan(const dr::v1::UpdatePlanRequest& request);
  absl::StatusOr<dr::v1::Plan> GetPlan(const dr::v1::GetPlanRequest& request);
  absl::StatusOr<dr::v1::ListPlansResponse> ListPlans(const dr::v1::ListPlansRequest& request);
  absl::Status DeletePlan(const dr::v1::DeletePlanRequest& request);
  absl::StatusOr<dr::v1::ValidatePlanResponse> ValidatePlan(
      const dr::v1::ValidatePlanRequest& request);
  absl::StatusOr<dr::v1::PlanExecution> StartPlanExecution(
      const dr::v1::StartPlanExecutionRequest& request);
  absl::StatusOr<dr::v1::PlanExecution> GetPlanExecution(
      const dr::v1::GetPlanExecutionRequest& request);
  absl::StatusOr<dr::v1::ListExecutionStepsResponse> ListExecutionSteps(
      const dr::v1::ListExecutionStepsRequest& request);
  // One WatchPlanExecution stream of execution `name` until it ends,
  // `deadline` passes or `on_message` returns false (the caller has seen
  // enough: the stream is cancelled). `on_message` gets every message (the
  // first holds every step, the others the steps that changed), on the
  // caller's thread. Returns how the stream ended: OK after the terminal
  // state or when the caller stopped it; DEADLINE_EXCEEDED at `deadline`;
  // UNAVAILABLE when drserver went away (watch again).
  absl::Status WatchPlanExecution(
      const std::string& name, absl::Time deadline,
      const std::function<bool(const dr::v1::WatchPlanExecutionResponse&)>& on_message);
  absl::StatusOr<dr::v1::ExecutionStep> AnswerPrompt(const dr::v1::AnswerPromptRequest& request);
  absl::StatusOr<dr::v1::PlanExecution> ResumePlanExecution(
      const dr::v1::ResumePlanExecutionRequest& request);
  absl::StatusOr<dr::v1::PlanExecution> CancelPlanExecution(
      const dr::v1::CancelPlanExecutionRequest& request);
  absl::StatusOr<dr::v1::ExecutionReport> GetExecutionReport(
      const dr::v1::GetExecutionReportRequest& request);

  // AuditService (a client made by Connect; others: set_audit first).
  void set_audit(dr::v1::AuditService::StubInterface* audit) { audit_ = audit; }
  absl::StatusOr<dr::v1::ListAuditEventsResponse> ListAuditEvents(
      const dr::v1::ListAuditEventsRequest& request);

 private:
  template <typename Stub, typename Req, typename Resp>
  absl::StatusOr<Resp> Call(Stub* stub,
                            grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                            const Req& request);

  std::unique_ptr<dr::v1::TopologyService::StubInterface> own_topology_;
  std::unique_ptr<dr::v1::FailoverService::StubInterface> own_failover_;
  std::unique_ptr<dr::v1::JobService::StubInterface> own_jobs_;
  std::unique_ptr<dr::v1::PlanService::StubInterface> own_plans_;
  dr::v1::TopologyService::StubInterface* const topology_;
  dr::v1::FailoverService::StubInterface* const failover_;
  dr::v1::JobService::StubInterface* const jobs_;
  dr::v1::PlanService::StubInterface* const plans_;
  std::unique_ptr<dr::v1::AuditService::StubInterface> own_audit_;
  dr::v1::AuditService::StubInterface* audit_ = nullptr;
  const Options options_;
};

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_CLIENT_H_
