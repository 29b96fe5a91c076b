// The checks of failover network settings (Msvm_FailoverNetworkAdapterSettingData),
// shared by FailoverService.SetFailoverNetworkAdapterSettings and recovery
// plans.
#ifndef HVDR_SERVER_NETWORK_SETTINGS_H_
#define HVDR_SERVER_NETWORK_SETTINGS_H_

#include <vector>

#include "absl/status/status.h"
#include "dr/v1/failover_service.pb.h"

namespace hvdr {
namespace server {

// 1-64 adapters, each named, DHCP or static addresses (not both), every
// address an IPv4 or IPv6 address, one subnet per address or none, and
// bounded lengths. Errors are INVALID_ARGUMENT (32773) naming the field,
// e.g. "network_settings[1].dns_servers[0]".
absl::Status CheckNetworkSettings(const std::vector<dr::v1::FailoverNetworkAdapterSettings>& nics);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_NETWORK_SETTINGS_H_
