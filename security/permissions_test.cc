#include "security/permissions.h"

#include <set>
#include <string>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "security/served_services.h"

namespace hvdr {
namespace security {
namespace {

// Every service drserver or hvagent serves: a method added to any of them
// without a table entry fails here (and is refused for everyone at run
// time).
std::vector<const google::protobuf::ServiceDescriptor*> ServedServices() {
  std::vector<const google::protobuf::ServiceDescriptor*> all = DrserverServices();
  for (const auto* s : AgentServices()) all.push_back(s);
  return all;
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
