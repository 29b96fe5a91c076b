#include "security/permissions.h"

#include <algorithm>

namespace hvdr {
namespace security {

absl::string_view PermissionName(Permission p) {
  switch (p) {
    case Permission::kNone: return "none";
    case Permission::kRead: return "read";
    case Permission::kTest: return "failover.test";
    case Permission::kOperate: return "failover.operate";
    case Permission::kRunPlans: return "plans.run";
    case Permission::kAnswerPrompts: return "plans.answer";
    case Permission::kCancelJobs: return "jobs.cancel";
    case Permission::kWritePlans: return "plans.write";
    case Permission::kValidatePlans: return "plans.validate";
    case Permission::kAbandonJobs: return "jobs.abandon";
    case Permission::kManageHosts: return "hosts.manage";
    case Permission::kAgent: return "agent.call";
  }
  return "unknown";
}

const std::vector<MethodRule>& MethodRules() {
  using P = Permission;
  static const auto* rules = new std::vector<MethodRule>{
      // TopologyService
      {"/dr.v1.TopologyService/RegisterHost", P::kManageHosts, true},
      {"/dr.v1.TopologyService/GetHost", P::kRead, false},
      {"/dr.v1.TopologyService/ListHosts", P::kRead, false},
      {"/dr.v1.TopologyService/DeleteHost", P::kManageHosts, true},
      {"/dr.v1.TopologyService/SyncHost", P::kManageHosts, true},
      {"/dr.v1.TopologyService/ListSites", P::kRead, false},
      {"/dr.v1.TopologyService/GetVirtualMachine", P::kRead, false},
      {"/dr.v1.TopologyService/ListVirtualMachines", P::kRead, false},
      {"/dr.v1.TopologyService/ListReplicationRelationships", P::kRead, false},
      {"/dr.v1.TopologyService/ListRecoveryPoints", P::kRead, false},
      // FailoverService
      {"/dr.v1.FailoverService/InitiateFailover", P::kOperate, true},
      {"/dr.v1.FailoverService/RevertFailover", P::kOperate, true},
      {"/dr.v1.FailoverService/CommitFailover", P::kOperate, true},
      {"/dr.v1.FailoverService/StartTestFailover", P::kTest, true},
      {"/dr.v1.FailoverService/CleanupTestFailover", P::kTest, true},
      {"/dr.v1.FailoverService/ReverseReplication", P::kOperate, true},
      {"/dr.v1.FailoverService/SetFailoverNetworkAdapterSettings", P::kOperate, true},
      {"/dr.v1.FailoverService/PrepareForPlannedFailover", P::kOperate, true},
      {"/dr.v1.FailoverService/StartVirtualMachine", P::kOperate, true},
      {"/dr.v1.FailoverService/StopVirtualMachine", P::kOperate, true},
      // JobService
      {"/dr.v1.JobService/GetJob", P::kRead, false},
      {"/dr.v1.JobService/ListJobs", P::kRead, false},
      {"/dr.v1.JobService/WatchJob", P::kRead, false},
      {"/dr.v1.JobService/ListJobEvents", P::kRead, false},
      {"/dr.v1.JobService/CancelJob", P::kCancelJobs, true},
      {"/dr.v1.JobService/AbandonJob", P::kAbandonJobs, true},
      // PlanService
      {"/dr.v1.PlanService/CreatePlan", P::kWritePlans, true},
      {"/dr.v1.PlanService/UpdatePlan", P::kWritePlans, true},
      {"/dr.v1.PlanService/GetPlan", P::kRead, false},
      {"/dr.v1.PlanService/ListPlans", P::kRead, false},
      {"/dr.v1.PlanService/DeletePlan", P::kWritePlans, true},
      {"/dr.v1.PlanService/ValidatePlan", P::kValidatePlans, false},
      {"/dr.v1.PlanService/StartPlanExecution", P::kTest, true},
      {"/dr.v1.PlanService/GetPlanExecution", P::kRead, false},
      {"/dr.v1.PlanService/ListPlanExecutions", P::kRead, false},
      {"/dr.v1.PlanService/ListExecutionSteps", P::kRead, false},
      {"/dr.v1.PlanService/WatchPlanExecution", P::kRead, false},
      {"/dr.v1.PlanService/ResumePlanExecution", P::kRunPlans, true},
      {"/dr.v1.PlanService/CancelPlanExecution", P::kRunPlans, true},
      {"/dr.v1.PlanService/AnswerPrompt", P::kAnswerPrompts, true},
      {"/dr.v1.PlanService/GetExecutionReport", P::kRead, false},
      // AuditService: the trail is read, never written, through the API.
      {"/dr.v1.AuditService/ListAuditEvents", P::kRead, false},
      // HostAgentService (hvagent): drserver only.
      {"/dr.v1.HostAgentService/GetInventory", P::kAgent, false},
      {"/dr.v1.HostAgentService/GetVirtualMachine", P::kAgent, false},
      {"/dr.v1.HostAgentService/InitiateFailover", P::kAgent, true},
      {"/dr.v1.HostAgentService/RevertFailover", P::kAgent, true},
      {"/dr.v1.HostAgentService/CommitFailover", P::kAgent, true},
      {"/dr.v1.HostAgentService/StartTestFailover", P::kAgent, true},
      {"/dr.v1.HostAgentService/CleanupTestFailover", P::kAgent, true},
      {"/dr.v1.HostAgentService/ReverseReplication", P::kAgent, true},
      {"/dr.v1.HostAgentService/SetFailoverNetworkAdapterSettings", P::kAgent, true},
      {"/dr.v1.HostAgentService/PrepareForPlannedFailover", P::kAgent, true},
      {"/dr.v1.HostAgentService/StartVirtualMachine", P::kAgent, true},
      {"/dr.v1.HostAgentService/StopVirtualMachine", P::kAgent, true},
      {"/dr.v1.HostAgentService/WatchJob", P::kAgent, false},
      {"/dr.v1.HostAgentService/CancelJob", P::kAgent, true},
      {"/dr.v1.HostAgentService/RunJobs", P::kAgent, true},
      // Health checks (systemd, load balancers) need no identity.
      {"/grpc.health.v1.Health/Check", P::kNone, false},
      {"/grpc.health.v1.Health/Watch", P::kNone, false},
      // Server reflection (grpcurl and friends) describes the API: read.
      {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", P::kRead, false},
  };
  return *rules;
}

const MethodRule* FindMethodRule(absl::string_view method) {
  for (const MethodRule& r : MethodRules()) {
    if (r.method == method) return &r;
  }
  return nullptr;
}

bool RolePermissions(absl::string_view role, std::vector<Permission>* out) {
  using P = Permission;
  out->clear();
  if (role == "viewer") {
    *out = {P::kRead};
  } else if (role == "tester") {
    *out = {P::kRead, P::kTest, P::kValidatePlans};
  } else if (role == "operator") {
    *out = {P::kRead,          P::kTest,       P::kOperate,      P::kRunPlans,
            P::kAnswerPrompts, P::kCancelJobs, P::kValidatePlans};
  } else if (role == "plan-author") {
    *out = {P::kRead, P::kWritePlans, P::kValidatePlans};
  } else if (role == "admin") {
    *out = {P::kRead,       P::kTest,       P::kOperate,       P::kRunPlans,    P::kAnswerPrompts,
            P::kCancelJobs, P::kWritePlans, P::kValidatePlans, P::kAbandonJobs, P::kManageHosts};
  } else {
    return false;
  }
  return true;
}

const std::vector<std::string>& RoleNames() {
  static const auto* names =
      new std::vector<std::string>{"viewer", "tester", "operator", "plan-author", "admin"};
  return *names;
}

}  // namespace security
}  // namespace hvdr
