#include "cli/client.h"

#include <grpcpp/client_context.h>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"

namespace hvdr {
namespace cli {

using dr::v1::FailoverService;
using dr::v1::JobService;
using dr::v1::PlanService;
using dr::v1::TopologyService;

std::string NewRequestId() {
  absl::BitGen gen;
  return absl::StrFormat("drctl-%016x%016x", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint64_t>(gen));
}

DrClient::DrClient(TopologyService::StubInterface* topology,
                   FailoverService::StubInterface* failover, JobService::StubInterface* jobs,
                   PlanService::StubInterface* plans, const Options& options)
    : topology_(topology), failover_(failover), jobs_(jobs), plans_(plans), options_(options) {}

std::unique_ptr<DrClient> DrClient::Connect(const std::shared_ptr<grpc::ChannelInterface>& channel,
                                            const Options& options) {
  std::unique_ptr<TopologyService::StubInterface> topology = TopologyService::NewStub(channel);
  std::unique_ptr<FailoverService::StubInterface> failover = FailoverService::NewStub(channel);
  std::unique_ptr<JobService::StubInterface> jobs = JobService::NewStub(channel);
  std::unique_ptr<PlanService::StubInterface> plans = PlanService::NewStub(channel);
  std::unique_ptr<DrClient> client(
      new DrClient(topology.get(), failover.get(), jobs.get(), plans.get(), options));
  client->own_topology_ = std::move(topology);
  client->own_failover_ = std::move(failover);
  client->own_jobs_ = std::move(jobs);
  client->own_plans_ = std::move(plans);
  client->own_audit_ = dr::v1::AuditService::NewStub(channel);
  client->audit_ = client->own_audit_.get();
  return client;
}

template <typename Stub, typename Req, typename Resp>
absl::StatusOr<Resp> DrClient::Call(Stub* stub,
                                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&,
                                                                 Resp*),
                                    const Req& request) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  Resp response;
  absl::Status status = FromGrpcStatus((stub->*method)(&context, request, &response), &context);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<dr::v1::Host> DrClient::RegisterHost(const dr::v1::RegisterHostRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::RegisterHost, r);
}
absl::StatusOr<dr::v1::ListHostsResponse> DrClient::ListHosts(const dr::v1::ListHostsRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::ListHosts, r);
}
absl::Status DrClient::DeleteHost(const dr::v1::DeleteHostRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::DeleteHost, r).status();
}
absl::StatusOr<dr::v1::Host> DrClient::SyncHost(const dr::v1::SyncHostRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::SyncHost, r);
}
absl::StatusOr<dr::v1::ListAuditEventsResponse> DrClient::ListAuditEvents(
    const dr::v1::ListAuditEventsRequest& r) {
  if (audit_ == nullptr) return absl::UnimplementedError("this client has no AuditService stub");
  return Call(audit_, &dr::v1::AuditService::StubInterface::ListAuditEvents, r);
}

absl::StatusOr<dr::v1::ListSitesResponse> DrClient::ListSites(const dr::v1::ListSitesRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::ListSites, r);
}
absl::StatusOr<dr::v1::VirtualMachine> DrClient::GetVirtualMachine(
    const dr::v1::GetVirtualMachineRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::GetVirtualMachine, r);
}
absl::StatusOr<dr::v1::ListVirtualMachinesResponse> DrClient::ListVirtualMachines(
    const dr::v1::ListVirtualMachinesRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::ListVirtualMachines, r);
}

absl::StatusOr<dr::v1::ListVirtualMachinesResponse> DrClient::ListAllVirtualMachines(
    dr::v1::ListVirtualMachinesRequest r) {
  dr::v1::ListVirtualMachinesResponse all;
  do {
    absl::StatusOr<dr::v1::ListVirtualMachinesResponse> page = ListVirtualMachines(r);
    if (!page.ok()) return page.status();
    for (auto& vm : *page->mutable_virtual_machines()) *all.add_virtual_machines() = std::move(vm);
    r.set_page_token(page->next_page_token());
  } while (!r.page_token().empty());
  return all;
}

absl::StatusOr<dr::v1::ListReplicationRelationshipsResponse> DrClient::ListReplicationRelationships(
    const dr::v1::ListReplicationRelationshipsRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::ListReplicationRelationships, r);
}
absl::StatusOr<dr::v1::ListRecoveryPointsResponse> DrClient::ListRecoveryPoints(
    const dr::v1::ListRecoveryPointsRequest& r) {
  return Call(topology_, &TopologyService::StubInterface::ListRecoveryPoints, r);
}

absl::StatusOr<dr::v1::JobResponse> DrClient::InitiateFailover(
    const dr::v1::InitiateFailoverRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::InitiateFailover, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::RevertFailover(
    const dr::v1::RevertFailoverRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::RevertFailover, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::CommitFailover(
    const dr::v1::CommitFailoverRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::CommitFailover, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::StartTestFailover(
    const dr::v1::StartTestFailoverRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::StartTestFailover, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::CleanupTestFailover(
    const dr::v1::CleanupTestFailoverRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::CleanupTestFailover, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::ReverseReplication(
    const dr::v1::ReverseReplicationRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::ReverseReplication, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::SetFailoverNetworkAdapterSettings(
    const dr::v1::SetFailoverNetworkAdapterSettingsRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::SetFailoverNetworkAdapterSettings, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::PrepareForPlannedFailover(
    const dr::v1::PrepareForPlannedFailoverRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::PrepareForPlannedFailover, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::StartVirtualMachine(
    const dr::v1::StartVirtualMachineRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::StartVirtualMachine, r);
}
absl::StatusOr<dr::v1::JobResponse> DrClient::StopVirtualMachine(
    const dr::v1::StopVirtualMachineRequest& r) {
  return Call(failover_, &FailoverService::StubInterface::StopVirtualMachine, r);
}

absl::StatusOr<dr::v1::Job> DrClient::GetJob(const dr::v1::GetJobRequest& r) {
  return Call(jobs_, &JobService::StubInterface::GetJob, r);
}
absl::StatusOr<dr::v1::ListJobsResponse> DrClient::ListJobs(const dr::v1::ListJobsRequest& r) {
  return Call(jobs_, &JobService::StubInterface::ListJobs, r);
}
absl::StatusOr<dr::v1::ListJobEventsResponse> DrClient::ListJobEvents(
    const dr::v1::ListJobEventsRequest& r) {
  return Call(jobs_, &JobService::StubInterface::ListJobEvents, r);
}
absl::StatusOr<dr::v1::Job> DrClient::CancelJob(const dr::v1::CancelJobRequest& r) {
  return Call(jobs_, &JobService::StubInterface::CancelJob, r);
}

absl::Status DrClient::WatchJob(const std::string& name, absl::Time deadline,
                                const std::function<void(const dr::v1::Job&)>& on_job) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  dr::v1::WatchJobRequest request;
  request.set_name(name);
  std::unique_ptr<grpc::ClientReaderInterface<dr::v1::WatchJobResponse>> reader =
      jobs_->WatchJob(&context, request);
  dr::v1::WatchJobResponse message;
  while (reader->Read(&message)) on_job(message.job());
  return FromGrpcStatus(reader->Finish(), &context);
}

absl::Status DrClient::WatchPlanExecution(
    const std::string& name, absl::Time deadline,
    const std::function<bool(const dr::v1::WatchPlanExecutionResponse&)>& on_message) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  dr::v1::WatchPlanExecutionRequest request;
  request.set_name(name);
  std::unique_ptr<grpc::ClientReaderInterface<dr::v1::WatchPlanExecutionResponse>> reader =
      plans_->WatchPlanExecution(&context, request);
  dr::v1::WatchPlanExecutionResponse message;
  bool stopped = false;
  while (reader->Read(&message)) {
    if (!on_message(message)) {
      stopped = true;
      context.TryCancel();
      break;
    }
  }
  if (stopped) {
    while (reader->Read(&message)) {
    }
    (void)reader->Finish();  // CANCELLED: ours
    return absl::OkStatus();
  }
  return FromGrpcStatus(reader->Finish(), &context);
}

absl::StatusOr<dr::v1::Plan> DrClient::CreatePlan(const dr::v1::CreatePlanRequest& r) {
  return Call(plans_, &PlanService::StubInterface::CreatePlan, r);
}
absl::StatusOr<dr::v1::Plan> DrClient::UpdatePlan(const dr::v1::UpdatePlanRequest& r) {
  return Call(plans_, &PlanService::StubInterface::UpdatePlan, r);
}
absl::StatusOr<dr::v1::Plan> DrClient::GetPlan(const dr::v1::GetPlanRequest& r) {
  return Call(plans_, &PlanService::StubInterface::GetPlan, r);
}
absl::StatusOr<dr::v1::ListPlansResponse> DrClient::ListPlans(const dr::v1::ListPlansRequest& r) {
  return Call(plans_, &PlanService::StubInterface::ListPlans, r);
}
absl::Status DrClient::DeletePlan(const dr::v1::DeletePlanRequest& r) {
  return Call(plans_, &PlanService::StubInterface::DeletePlan, r).status();
}
absl::StatusOr<dr::v1::ValidatePlanResponse> DrClient::ValidatePlan(
    const dr::v1::ValidatePlanRequest& r) {
  return Call(plans_, &PlanService::StubInterface::ValidatePlan, r);
}

absl::StatusOr<dr::v1::PlanExecution> DrClient::StartPlanExecution(
    const dr::v1::StartPlanExecutionRequest& r) {
  return Call(plans_, &PlanService::StubInterface::StartPlanExecution, r);
}
absl::StatusOr<dr::v1::PlanExecution> DrClient::GetPlanExecution(
    const dr::v1::GetPlanExecutionRequest& r) {
  return Call(plans_, &PlanService::StubInterface::GetPlanExecution, r);
}
absl::StatusOr<dr::v1::ListExecutionStepsResponse> DrClient::ListExecutionSteps(
    const dr::v1::ListExecutionStepsRequest& r) {
  return Call(plans_, &PlanService::StubInterface::ListExecutionSteps, r);
}
absl::StatusOr<dr::v1::ExecutionStep> DrClient::AnswerPrompt(const dr::v1::AnswerPromptRequest& r) {
  return Call(plans_, &PlanService::StubInterface::AnswerPrompt, r);
}
absl::StatusOr<dr::v1::PlanExecution> DrClient::ResumePlanExecution(
    const dr::v1::ResumePlanExecutionRequest& r) {
  return Call(plans_, &PlanService::StubInterface::ResumePlanExecution, r);
}
absl::StatusOr<dr::v1::PlanExecution> DrClient::CancelPlanExecution(
    const dr::v1::CancelPlanExecutionRequest& r) {
  return Call(plans_, &PlanService::StubInterface::CancelPlanExecution, r);
}
absl::StatusOr<dr::v1::ExecutionReport> DrClient::GetExecutionReport(
    const dr::v1::GetExecutionReportRequest& r) {
  return Call(plans_, &PlanService::StubInterface::GetExecutionReport, r);
}

}  // namespace cli
}  // namespace hvdr
