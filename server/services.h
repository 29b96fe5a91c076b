// The dr.v1 gRPC services: thin callback-API handlers over Topology,
// FailoverLogic, the Store and the JobHub. Each handler converts the request,
// calls plain logic returning absl::Status, and answers with
// common/grpc_status.h (Hyper-V code in trailing metadata).
#ifndef HVDR_SERVER_SERVICES_H_
#define HVDR_SERVER_SERVICES_H_

#include "common/executor.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "security/authorizer.h"
#include "server/audit_log.h"
#include "server/dispatcher.h"
#include "server/execution_hub.h"
#include "server/failover.h"
#include "server/job_hub.h"
#include "server/plan_executor.h"
#include "server/plans.h"
#include "server/stream_limiter.h"
#include "server/topology.h"
#include "storage/audit_store.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

// The limits every handler enforces (docs/api.md, Limits).
struct ApiLimits {
  // A request whose serialized size exceeds this is refused before any work
  // (INVALID_ARGUMENT, 32773, field "request", reason REQUEST_TOO_LARGE).
  // The server's gRPC receive limit is set a little above it (server.cc),
  // so that such requests reach the handlers and get an ErrorDetail.
  int64_t max_request_bytes = 4 << 20;
  // Concurrent WatchJob and WatchPlanExecution streams (see StreamLimiter).
  StreamLimiter::Options watches;
};

class TopologyServiceImpl final : public dr::v1::TopologyService::CallbackService {
 public:
  TopologyServiceImpl(Topology* topology, Store* store, const ApiLimits& limits = ApiLimits())
      : topology_(topology), store_(store), limits_(limits) {}
  grpc::ServerUnaryReactor* RegisterHost(grpc::CallbackServerContext*,
                                         const dr::v1::RegisterHostRequest*,
                                         dr::v1::Host*) override;
  grpc::ServerUnaryReactor* GetHost(grpc::CallbackServerContext*, const dr::v1::GetHostRequest*,
                                    dr::v1::Host*) override;
  grpc::ServerUnaryReactor* ListHosts(grpc::CallbackServerContext*, const dr::v1::ListHostsRequest*,
                                      dr::v1::ListHostsResponse*) override;
  grpc::ServerUnaryReactor* DeleteHost(grpc::CallbackServerContext*,
                                       const dr::v1::DeleteHostRequest*,
                                       dr::v1::DeleteHostResponse*) override;
  grpc::ServerUnaryReactor* SyncHost(grpc::CallbackServerContext*, const dr::v1::SyncHostRequest*,
                                     dr::v1::Host*) override;
  grpc::ServerUnaryReactor* ListSites(grpc::CallbackServerContext*, const dr::v1::ListSitesRequest*,
                                      dr::v1::ListSitesResponse*) override;
  grpc::ServerUnaryReactor* GetVirtualMachine(grpc::CallbackServerContext*,
                                              const dr::v1::GetVirtualMachineRequest*,
                                              dr::v1::VirtualMachine*) override;
  grpc::ServerUnaryReactor* ListVirtualMachines(grpc::CallbackServerContext*,
                                                const dr::v1::ListVirtualMachinesRequest*,
                                                dr::v1::ListVirtualMachinesResponse*) override;
  grpc::ServerUnaryReactor* ListReplicationRelationships(
      grpc::CallbackServerContext*, const dr::v1::ListReplicationRelationshipsRequest*,
      dr::v1::ListReplicationRelationshipsResponse*) override;
  grpc::ServerUnaryReactor* ListRecoveryPoints(grpc::CallbackServerContext*,
                                               const dr::v1::ListRecoveryPointsRequest*,
                                               dr::v1::ListRecoveryPointsResponse*) override;

 private:
  Topology* const topology_;
  Store* const store_;
  const ApiLimits limits_;
};

class FailoverServiceImpl final : public dr::v1::FailoverService::CallbackService {
 public:
  // Who authenticated is the requester (not owned); null (an --insecure
  // server): the request's own requester.
  void set_authorizer(const security::Authorizer* authorizer) { authorizer_ = authorizer; }
  explicit FailoverServiceImpl(FailoverLogic* logic, const ApiLimits& limits = ApiLimits())
      : logic_(logic), limits_(limits) {}
  // Not owned. With an audit log, a call that creates a job has its audit
  // event written in the job's own transaction (one commit for both,
  // CallAuditEvent) and copied to the log's JSON-lines file; the audit
  // interceptor writes the event of any other outcome.
  void set_audit(AuditLog* log, Clock* clock) {
    audit_ = log;
    clock_ = clock;
  }
  grpc::ServerUnaryReactor* InitiateFailover(grpc::CallbackServerContext*,
                                             const dr::v1::InitiateFailoverRequest*,
                                             dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* RevertFailover(grpc::CallbackServerContext*,
                                           const dr::v1::RevertFailoverRequest*,
                                           dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* CommitFailover(grpc::CallbackServerContext*,
                                           const dr::v1::CommitFailoverRequest*,
                                           dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* StartTestFailover(grpc::CallbackServerContext*,
                                              const dr::v1::StartTestFailoverRequest*,
                                              dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* CleanupTestFailover(grpc::CallbackServerContext*,
                                                const dr::v1::CleanupTestFailoverRequest*,
                                                dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* ReverseReplication(grpc::CallbackServerContext*,
                                               const dr::v1::ReverseReplicationRequest*,
                                               dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* SetFailoverNetworkAdapterSettings(
      grpc::CallbackServerContext*, const dr::v1::SetFailoverNetworkAdapterSettingsRequest*,
      dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* PrepareForPlannedFailover(
      grpc::CallbackServerContext*, const dr::v1::PrepareForPlannedFailoverRequest*,
      dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* StartVirtualMachine(grpc::CallbackServerContext*,
                                                const dr::v1::StartVirtualMachineRequest*,
                                                dr::v1::JobResponse*) override;
  grpc::ServerUnaryReactor* StopVirtualMachine(grpc::CallbackServerContext*,
                                               const dr::v1::StopVirtualMachineRequest*,
                                               dr::v1::JobResponse*) override;

 private:
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* c, const OperationRequest& op,
                                   dr::v1::JobResponse* out);
  void AuditWithItsJob(grpc::CallbackServerContext* c, absl::string_view method,
                       const google::protobuf::Message& request, OperationRequest* op) const;
  FailoverLogic* const logic_;
  const ApiLimits limits_;
  const security::Authorizer* authorizer_ = nullptr;
  AuditLog* audit_ = nullptr;
  Clock* clock_ = nullptr;
};

class JobServiceImpl final : public dr::v1::JobService::CallbackService {
 public:
  // Who authenticated is the requester (not owned); null (an --insecure
  // server): the request's own requester.
  void set_authorizer(const security::Authorizer* authorizer) { authorizer_ = authorizer; }
  // Not owned. `writer` and `clock` serve AbandonJob.
  // `work` runs CancelJob (a call to the agent, then a store write) off
  // gRPC's callback threads.
  JobServiceImpl(Store* store, JobHub* hub, Dispatcher* dispatcher, JobWriter* writer, Clock* clock,
                 Executor* work, const ApiLimits& limits = ApiLimits())
      : store_(store),
        hub_(hub),
        dispatcher_(dispatcher),
        writer_(writer),
        clock_(clock),
        work_(work),
        limits_(limits),
        watches_(limits.watches) {}
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext*, const dr::v1::GetJobRequest*,
                                   dr::v1::Job*) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext*, const dr::v1::ListJobsRequest*,
                                     dr::v1::ListJobsResponse*) override;
  grpc::ServerWriteReactor<dr::v1::WatchJobResponse>* WatchJob(
      grpc::CallbackServerContext*, const dr::v1::WatchJobRequest*) override;
  grpc::ServerUnaryReactor* ListJobEvents(grpc::CallbackServerContext*,
                                          const dr::v1::ListJobEventsRequest*,
                                          dr::v1::ListJobEventsResponse*) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext*, const dr::v1::CancelJobRequest*,
                                      dr::v1::Job*) override;
  grpc::ServerUnaryReactor* AbandonJob(grpc::CallbackServerContext*,
                                       const dr::v1::AbandonJobRequest*, dr::v1::Job*) override;

  // The count of open WatchJob streams, which WatchPlanExecution streams
  // share (PlanServiceImpl), so that both count against the same limits.
  StreamLimiter* watch_limiter() { return &watches_; }

 private:
  Store* const store_;
  JobHub* const hub_;
  Dispatcher* const dispatcher_;
  JobWriter* const writer_;
  const security::Authorizer* authorizer_ = nullptr;
  Clock* const clock_;
  Executor* const work_;
  const ApiLimits limits_;
  // Open WatchJob streams, per client connection (context->peer()).
  StreamLimiter watches_;
};

// PlanService. Writes and validations run on `work` (an fsync, or reads
// of thousands of VMs), never on gRPC's callback threads.
class PlanServiceImpl final : public dr::v1::PlanService::CallbackService {
 public:
  // The access rules StartPlanExecution's mode check asks, and who
  // authenticated is the requester (not owned); null (an --insecure
  // server): no check, the request's own requester.
  void set_authorizer(const security::Authorizer* authorizer) { authorizer_ = authorizer; }
  // Not owned.
  // `executor` may be null: executions are then not supported (32770).
  // `executions` (null: WatchPlanExecution is not supported) is where the
  // executor publishes stored changes. WatchPlanExecution streams are
  // counted by `watches` (JobServiceImpl::watch_limiter(): the limits of
  // WatchJob); null: by a limiter of limits.watches of this service's own.
  PlanServiceImpl(PlanLogic* logic, PlanExecutor* executor, Executor* work,
                  const ApiLimits& limits = ApiLimits(), ExecutionHub* executions = nullptr,
                  StreamLimiter* watches = nullptr)
      : logic_(logic),
        executor_(executor),
        work_(work),
        limits_(limits),
        executions_(executions),
        own_watches_(limits.watches),
        watches_(watches != nullptr ? watches : &own_watches_) {}
  grpc::ServerUnaryReactor* CreatePlan(grpc::CallbackServerContext*,
                                       const dr::v1::CreatePlanRequest*, dr::v1::Plan*) override;
  grpc::ServerUnaryReactor* UpdatePlan(grpc::CallbackServerContext*,
                                       const dr::v1::UpdatePlanRequest*, dr::v1::Plan*) override;
  grpc::ServerUnaryReactor* GetPlan(grpc::CallbackServerContext*, const dr::v1::GetPlanRequest*,
                                    dr::v1::Plan*) override;
  grpc::ServerUnaryReactor* ListPlans(grpc::CallbackServerContext*, const dr::v1::ListPlansRequest*,
                                      dr::v1::ListPlansResponse*) override;
  grpc::ServerUnaryReactor* DeletePlan(grpc::CallbackServerContext*,
                                       const dr::v1::DeletePlanRequest*,
                                       dr::v1::DeletePlanResponse*) override;
  grpc::ServerUnaryReactor* ValidatePlan(grpc::CallbackServerContext*,
                                         const dr::v1::ValidatePlanRequest*,
                                         dr::v1::ValidatePlanResponse*) override;
  grpc::ServerUnaryReactor* StartPlanExecution(grpc::CallbackServerContext*,
                                               const dr::v1::StartPlanExecutionRequest*,
                                               dr::v1::PlanExecution*) override;
  grpc::ServerUnaryReactor* GetPlanExecution(grpc::CallbackServerContext*,
                                             const dr::v1::GetPlanExecutionRequest*,
                                             dr::v1::PlanExecution*) override;
  grpc::ServerUnaryReactor* ListPlanExecutions(grpc::CallbackServerContext*,
                                               const dr::v1::ListPlanExecutionsRequest*,
                                               dr::v1::ListPlanExecutionsResponse*) override;
  grpc::ServerUnaryReactor* ListExecutionSteps(grpc::CallbackServerContext*,
                                               const dr::v1::ListExecutionStepsRequest*,
                                               dr::v1::ListExecutionStepsResponse*) override;
  grpc::ServerWriteReactor<dr::v1::WatchPlanExecutionResponse>* WatchPlanExecution(
      grpc::CallbackServerContext*, const dr::v1::WatchPlanExecutionRequest*) override;
  grpc::ServerUnaryReactor* ResumePlanExecution(grpc::CallbackServerContext*,
                                                const dr::v1::ResumePlanExecutionRequest*,
                                                dr::v1::PlanExecution*) override;
  grpc::ServerUnaryReactor* CancelPlanExecution(grpc::CallbackServerContext*,
                                                const dr::v1::CancelPlanExecutionRequest*,
                                                dr::v1::PlanExecution*) override;
  grpc::ServerUnaryReactor* AnswerPrompt(grpc::CallbackServerContext*,
                                         const dr::v1::AnswerPromptRequest*,
                                         dr::v1::ExecutionStep*) override;
  grpc::ServerUnaryReactor* GetExecutionReport(grpc::CallbackServerContext*,
                                               const dr::v1::GetExecutionReportRequest*,
                                               dr::v1::ExecutionReport*) override;

 private:
  PlanLogic* const logic_;
  const security::Authorizer* authorizer_ = nullptr;
  PlanExecutor* const executor_;
  Executor* const work_;
  const ApiLimits limits_;
  ExecutionHub* const executions_;
  StreamLimiter own_watches_;
  StreamLimiter* const watches_;  // open WatchPlanExecution streams
};

// The audit trail, read only (append-only through the API).
class AuditServiceImpl final : public dr::v1::AuditService::CallbackService {
 public:
  // Not owned.
  AuditServiceImpl(AuditStore* store, const ApiLimits& limits = ApiLimits())
      : store_(store), limits_(limits) {}
  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext*,
                                            const dr::v1::ListAuditEventsRequest*,
                                            dr::v1::ListAuditEventsResponse*) override;

 private:
  AuditStore* const store_;
  const ApiLimits limits_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_SERVICES_H_
