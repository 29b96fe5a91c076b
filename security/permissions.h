// What each RPC of hvdr needs, and what each role may do: the single table
// every call is checked against (security/auth_processor.h checks it before
// any handler runs; docs/security.md explains the model).
//
// A permission is a capability ("jobs.cancel"); a role is a named set of
// permissions, as DR products have them (viewer, tester, operator,
// plan-author, admin). A method absent from the table is refused for
// everyone: a new RPC cannot be reached until it has an entry, and
// permissions_test fails for every method of every service without one.
#ifndef HVDR_SECURITY_PERMISSIONS_H_
#define HVDR_SECURITY_PERMISSIONS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hvdr {
namespace security {

enum class Permission {
  kNone,           // anyone, even unauthenticated (health checks only)
  kRead,           // get, list, watch, reports
  kTest,           // test failover and its cleanup; TEST / CLEANUP_TEST plans
  kOperate,        // failover, commit, revert, reverse, start/stop, re-IP
  kRunPlans,       // start, resume and cancel plan executions (any mode)
  kAnswerPrompts,  // answer a plan's prompt
  kCancelJobs,     // cancel a job
  kWritePlans,     // create, update, delete plans
  kValidatePlans,  // ValidatePlan (a dry run)
  kAbandonJobs,    // release a VM from a job whose outcome is unknown
  kManageHosts,    // register, delete, sync hosts
  kAgent,          // HostAgentService: only drserver calls the agents
};

// "jobs.cancel", ... (what a refusal names).
absl::string_view PermissionName(Permission p);

// StartPlanExecution is listed with kTest (a tester runs TEST and
// CLEANUP_TEST plans); a plan run in another mode also needs kRunPlans,
// which the plan handler checks with the same Authorizer (the only check
// that depends on a request's content).
struct MethodRule {
  // Full gRPC method path, "/dr.v1.FailoverService/InitiateFailover".
  absl::string_view method;
  Permission permission;
  // Changes something: recorded in the audit trail, accepted or refused.
  bool mutating;
};

// The whole table, one entry per method of every service drserver and
// hvagent serve (dr.v1's, grpc.health.v1.Health, server reflection).
const std::vector<MethodRule>& MethodRules();

// The entry for `method` (a full path), or null: refused for everyone.
const MethodRule* FindMethodRule(absl::string_view method);

// The permissions of `role` ("viewer", "tester", "operator", "plan-author",
// "admin"); false for an unknown role.
bool RolePermissions(absl::string_view role, std::vector<Permission>* out);

// Every role name, for error messages and tests.
const std::vector<std::string>& RoleNames();

}  // namespace security
}  // namespace hvdr

#endif  // HVDR_SECURITY_PERMISSIONS_H_
