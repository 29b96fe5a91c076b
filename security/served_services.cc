#include "security/served_services.h"

#include "dr/v1/agent_service.pb.h"
#include "dr/v1/audit_service.pb.h"
#include "dr/v1/failover_service.pb.h"
#include "dr/v1/job_service.pb.h"
#include "dr/v1/plan_service.pb.h"
#include "dr/v1/topology_service.pb.h"
#include "grpc/health/v1/health.pb.h"

namespace hvdr {
namespace security {

std::vector<const google::protobuf::ServiceDescriptor*> DrserverServices() {
  return {
      dr::v1::RegisterHostRequest::descriptor()->file()->FindServiceByName("TopologyService"),
      dr::v1::InitiateFailoverRequest::descriptor()->file()->FindServiceByName("FailoverService"),
      dr::v1::GetJobRequest::descriptor()->file()->FindServiceByName("JobService"),
      dr::v1::CreatePlanRequest::descriptor()->file()->FindServiceByName("PlanService"),
      dr::v1::ListAuditEventsRequest::descriptor()->file()->FindServiceByName("AuditService"),
      grpc::health::v1::HealthCheckRequest::descriptor()->file()->FindServiceByName("Health"),
  };
}

std::vector<const google::protobuf::ServiceDescriptor*> AgentServices() {
  return {dr::v1::RunJobsRequest::descriptor()->file()->FindServiceByName("HostAgentService")};
}

}  // namespace security
}  // namespace hvdr
