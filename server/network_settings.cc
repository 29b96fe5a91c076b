#include "server/network_settings.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/status_macros.h"
#include "server/names.h"

namespace hvdr {
namespace server {

namespace {

bool IsIpAddress(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A VM has at most 12 network adapters (8 synthetic, 4 legacy); these
// bounds are generous and keep a request's job (which stores it) small.
constexpr size_t kMaxAdapters = 64;
constexpr size_t kMaxAdapterLength = 256;
constexpr size_t kMaxAddresses = 64;
// An IPv6 address with an embedded IPv4 one, or a prefix length, fits.
constexpr size_t kMaxAddressLength = 64;

}  // namespace

absl::Status CheckNetworkSettings(const std::vector<dr::v1::FailoverNetworkAdapterSettings>& nics) {
  if (nics.empty()) {
    return InvalidParameter("network_settings", "MISSING", "at least one adapter is required");
  }
  if (nics.size() > kMaxAdapters) {
    return InvalidParameter("network_settings", "TOO_MANY",
                            absl::StrCat("at most ", kMaxAdapters, " adapters, got ", nics.size()));
  }
  for (size_t i = 0; i < nics.size(); ++i) {
    const auto& n = nics[i];
    const std::string at = absl::StrCat("network_settings[", i, "]");
    if (n.adapter().empty()) return InvalidParameter(at + ".adapter", "MISSING", "is required");
    RETURN_IF_ERROR(CheckLength(at + ".adapter", n.adapter(), kMaxAdapterLength));
    for (auto [field, list] :
         {std::pair{"ip_addresses", &n.ip_addresses()}, std::pair{"subnets", &n.subnets()},
          std::pair{"default_gateways", &n.default_gateways()},
          std::pair{"dns_servers", &n.dns_servers()}}) {
      if (static_cast<size_t>(list->size()) > kMaxAddresses) {
        return InvalidParameter(
            absl::StrCat(at, ".", field), "TOO_MANY",
            absl::StrCat("at most ", kMaxAddresses, " entries, got ", list->size()));
      }
      for (int j = 0; j < list->size(); ++j) {
        RETURN_IF_ERROR(
            CheckLength(absl::StrCat(at, ".", field, "[", j, "]"), (*list)[j], kMaxAddressLength));
      }
    }
    if (!n.dhcp_enabled() && n.ip_addresses().empty()) {
      return InvalidParameter(at + ".ip_addresses", "MISSING",
                              "IPAddresses is required unless dhcp_enabled is set");
    }
    if (n.dhcp_enabled() && !n.ip_addresses().empty()) {
      return InvalidParameter(at + ".ip_addresses", "CONFLICT",
                              "give either dhcp_enabled or static ip_addresses, not both");
    }
    auto check_ips = [&](const char* field, const auto& list) -> absl::Status {
      for (int j = 0; j < list.size(); ++j) {
        if (!IsIpAddress(list[j])) {
          return InvalidParameter(absl::StrCat(at, ".", field, "[", j, "]"), "NOT_AN_IP_ADDRESS",
                                  absl::StrCat("\"", list[j], "\" is not an IPv4 or IPv6 address"));
        }
      }
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(check_ips("ip_addresses", n.ip_addresses()));
    RETURN_IF_ERROR(check_ips("default_gateways", n.default_gateways()));
    RETURN_IF_ERROR(check_ips("dns_servers", n.dns_servers()));
    if (!n.subnets().empty() && n.subnets().size() != n.ip_addresses().size()) {
      return InvalidParameter(at + ".subnets", "COUNT_MISMATCH",
                              "give one subnet per IP address, or none");
    }
  }
  return absl::OkStatus();
}

}  // namespace server
}  // namespace hvdr
