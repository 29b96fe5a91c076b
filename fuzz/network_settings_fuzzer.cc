// The failover network settings check (CheckNetworkSettings, what
// SetFailoverNetworkAdapterSettings checks). The input is a serialized
// SetFailoverNetworkAdapterSettingsRequest. A refusal names a field under
// network_settings; accepted settings hold 1-64 named adapters, each DHCP
// or with static IPv4/IPv6 addresses (not both), gateways and DNS servers
// that are addresses, and one subnet per address or none. The check is per
// adapter, so the order of the adapters does not change the verdict.
#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "dr/v1/failover_service.pb.h"
#include "fuzz/properties.h"
#include "server/network_settings.h"

namespace {

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dr::v1::SetFailoverNetworkAdapterSettingsRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::vector<dr::v1::FailoverNetworkAdapterSettings> nics(req.network_settings().begin(),
                                                           req.network_settings().end());
  absl::Status s = hvdr::server::CheckNetworkSettings(nics);
  std::vector<dr::v1::FailoverNetworkAdapterSettings> reversed(nics.rbegin(), nics.rend());
  FUZZ_CHECK(hvdr::server::CheckNetworkSettings(reversed).ok() == s.ok());
  if (!s.ok()) {
    hvdr::fuzz::CheckRefusal(s);
    FUZZ_CHECK(absl::StartsWith(hvdr::ErrorDetailOf(s).field(), "network_settings"));
    return 0;
  }
  FUZZ_CHECK(!nics.empty() && nics.size() <= 64);
  for (const auto& n : nics) {
    FUZZ_CHECK(!n.adapter().empty() && n.adapter().size() <= 256);
    FUZZ_CHECK(n.dhcp_enabled() == n.ip_addresses().empty());
    for (const std::string& ip : n.ip_addresses()) FUZZ_CHECK(IsIp(ip) && ip.size() <= 64);
    for (const std::string& ip : n.default_gateways()) FUZZ_CHECK(IsIp(ip));
    for (const std::string& ip : n.dns_servers()) FUZZ_CHECK(IsIp(ip));
    FUZZ_CHECK(n.subnets().empty() || n.subnets().size() == n.ip_addresses().size());
    for (const std::string& subnet : n.subnets()) FUZZ_CHECK(subnet.size() <= 64);
  }
  return 0;
}
