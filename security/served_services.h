// The services drserver and hvagent serve, from their generated
// descriptors (not from the permission table): what the tests walk to find
// a method without a permission entry.
#ifndef HVDR_SECURITY_SERVED_SERVICES_H_
#define HVDR_SECURITY_SERVED_SERVICES_H_

#include <vector>

#include "google/protobuf/descriptor.h"

namespace hvdr {
namespace security {

// dr.v1's client services, AuditService and grpc.health.v1.Health.
std::vector<const google::protobuf::ServiceDescriptor*> DrserverServices();
// dr.v1.HostAgentService.
std::vector<const google::protobuf::ServiceDescriptor*> AgentServices();

}  // namespace security
}  // namespace hvdr

#endif  // HVDR_SECURITY_SERVED_SERVICES_H_
