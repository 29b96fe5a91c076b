#include "security/permissions.h"

#include <set>
#include <string>

#include "dr/v1/agent_service.grpc.pb.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/plan_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "grpc/health/v1/health.pb.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace security {
namespace {

// Every service drserver or hvagent serves, from the generated
// descriptors: a method added to any of them without a table entry fails
// here (and is refused for everyone at run time).
std::vector<const google::protobuf::ServiceDescriptor*> ServedServices() {
  return {
      dr::v1::RegisterHostRequest::descriptor()->file()->FindServiceByName("TopologyService"),
      dr::v1::InitiateFailoverRequest::descriptor()->file()->FindServiceByName("FailoverService"),
      dr::v1::GetJobRequest::descriptor()->file()->FindServiceByName("JobService"),
      dr::v1::CreatePlanRequest::descriptor()->file()->FindServiceByName("PlanService"),
      dr::v1::ListAuditEventsRequest::descriptor()->file()->FindServiceByName("AuditService"),
      dr::v1::RunJobsRequest::descriptor()->file()->FindServiceByName("HostAgentService"),
      grpc::health::v1::HealthCheckRequest::descriptor()->file()->FindServiceByName("Health"),
  };
}

TEST(PermissionsTest, EveryMethodOfEveryServiceHasAnEntry) {
  int methods = 0;
  for (const auto* service : ServedServices()) {
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string path = "/" + service->full_name() + "/" + service->method(i)->name();
      EXPECT_NE(FindMethodRule(path), nullptr) << path << " has no entry in MethodRules()";
      ++methods;
    }
  }
  EXPECT_GT(methods, 50);
}

TEST(PermissionsTest, EveryEntryNamesAMethodThatExists) {
  // Reflection's descriptors are not in Debian's headers; its one method
  // is the only entry checked by name.
  const std::set<std::string> no_descriptor = {
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"};
  std::set<std::string> real(no_descriptor);
  for (const auto* service : ServedServices()) {
    for (int i = 0; i < service->method_count(); ++i) {
      real.insert("/" + service->full_name() + "/" + service->method(i)->name());
    }
  }
  std::set<std::string> seen;
  for (const MethodRule& r : MethodRules()) {
    EXPECT_EQ(real.count(std::string(r.method)), 1u) << r.method << " is not a method";
    EXPECT_TRUE(seen.insert(std::string(r.method)).second) << r.method << " listed twice";
  }
}

TEST(PermissionsTest, AgentMethodsAreForDrserverOnlyAndNothingElseIs) {
  for (const MethodRule& r : MethodRules()) {
    const bool agent = std::string(r.method).rfind("/dr.v1.HostAgentService/", 0) == 0;
    EXPECT_EQ(agent, r.permission == Permission::kAgent) << r.method;
  }
}

TEST(PermissionsTest, ReadsAreNotMutatingAndNoRoleButAdminManagesHosts) {
  for (const MethodRule& r : MethodRules()) {
    if (r.permission == Permission::kRead) EXPECT_FALSE(r.mutating) << r.method;
  }
  std::vector<Permission> perms;
  for (const std::string& role : RoleNames()) {
    ASSERT_TRUE(RolePermissions(role, &perms)) << role;
    const bool hosts =
        std::find(perms.begin(), perms.end(), Permission::kManageHosts) != perms.end();
    EXPECT_EQ(hosts, role == "admin") << role;
    EXPECT_EQ(std::find(perms.begin(), perms.end(), Permission::kAgent), perms.end()) << role;
  }
  EXPECT_FALSE(RolePermissions("root", &perms));
}

TEST(PermissionsTest, UnknownMethodHasNoEntry) {
  EXPECT_EQ(FindMethodRule("/dr.v1.FailoverService/DeleteEverything"), nullptr);
  EXPECT_EQ(FindMethodRule(""), nullptr);
}

}  // namespace
}  // namespace security
}  // namespace hvdr
