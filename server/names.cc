#include "server/names.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hyperv_status.h"

namespace hvdr {
namespace server {

namespace {

absl::Status Malformed(absl::string_view field, absl::string_view want, absl::string_view got) {
  return InvalidParameter(
      field, "MALFORMED_NAME",
      absl::StrCat("must look like ", want, ", got \"", got.substr(0, 200), "\""));
}

}  // namespace

absl::StatusOr<std::string> CanonicalVmGuid(absl::string_view field, absl::string_view guid) {
  absl::string_view g = guid;
  if (g.size() >= 2 && g.front() == '{' && g.back() == '}') g = g.substr(1, g.size() - 2);
  bool ok = g.size() == 36;
  std::string out;
  for (size_t i = 0; ok && i < g.size(); ++i) {
    const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash_here ? g[i] == '-' : absl::ascii_isxdigit(g[i]);
    out.push_back(absl::ascii_toupper(g[i]));
  }
  if (!ok) {
    return InvalidParameter(
        field, "MALFORMED_GUID",
        absl::StrCat("must be a VM GUID (8-4-4-4-12 hex digits, braces optional), got \"",
                     guid.substr(0, 80), "\""));
  }
  return out;
}

bool IsVmGuid(absl::string_view s) { return CanonicalVmGuid("", s).ok(); }

std::string VmName::name() const { return absl::StrCat(host, "/virtualMachines/", vm_id); }

absl::Status CheckId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return InvalidParameter(field, "MISSING", "is required");
  bool ok = id.size() <= 63 && absl::ascii_islower(id[0]);
  for (char c : id) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  if (!ok) {
    return InvalidParameter(
        field, "MALFORMED_ID",
        absl::StrCat("must be 1-63 of a-z, 0-9 and '-', starting with a letter; got \"",
                     id.substr(0, 80), "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(absl::string_view field, absl::string_view request_id) {
  if (request_id.empty()) {
    return InvalidParameter(
        field, "MISSING", "is required: a unique id per request (e.g. a UUID) makes retries safe");
  }
  bool ok = request_id.size() <= 128;
  for (char c : request_id) {
    ok = ok && (absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-');
  }
  if (!ok) {
    return InvalidParameter(field, "MALFORMED_REQUEST_ID",
                            "must be 1-128 of A-Z, a-z, 0-9, '.', '_', ':' and '-'");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseHostName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!absl::StartsWith(name, "hosts/")) return Malformed(field, "hosts/{host}", name);
  absl::string_view id = name.substr(6);
  if (!CheckId(field, id).ok()) return Malformed(field, "hosts/{host}", name);
  return std::string(id);
}

absl::StatusOr<std::string> ParseSiteName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!absl::StartsWith(name, "sites/")) return Malformed(field, "sites/{site}", name);
  absl::string_view id = name.substr(6);
  if (!CheckId(field, id).ok()) return Malformed(field, "sites/{site}", name);
  return std::string(id);
}

absl::StatusOr<VmName> ParseVmName(absl::string_view field, absl::string_view name) {
  constexpr absl::string_view kWant = "hosts/{host}/virtualMachines/{vm-guid}";
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != "hosts" || parts[2] != "virtualMachines" ||
      !CheckId(field, parts[1]).ok()) {
    return Malformed(field, kWant, name);
  }
  absl::StatusOr<std::string> guid = CanonicalVmGuid(field, parts[3]);
  if (!guid.ok()) {
    return InvalidParameter(
        field, "MALFORMED_GUID",
        absl::StrCat("must look like ", kWant, " with {vm-guid} 8-4-4-4-12 hex digits; got \"",
                     name.substr(0, 200), "\""));
  }
  return VmName{absl::StrCat("hosts/", parts[1]), *std::move(guid)};
}

bool IsLogicalVmName(absl::string_view name) { return absl::StartsWith(name, "virtualMachines/"); }

absl::StatusOr<std::string> ParseLogicalVmName(absl::string_view field, absl::string_view name) {
  constexpr absl::string_view kWant = "virtualMachines/{guid-or-display-name}";
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!IsLogicalVmName(name)) return Malformed(field, kWant, name);
  absl::string_view id = name.substr(16);
  if (id.empty() || id.size() > 256 || absl::StrContains(id, '/'))
    return Malformed(field, kWant, name);
  return std::string(id);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseRecoveryPointName(absl::string_view field,
                                                                           absl::string_view name) {
  constexpr absl::string_view kWant = "hosts/{host}/virtualMachines/{vm-guid}/recoveryPoints/{id}";
  size_t at = name.find("/recoveryPoints/");
  if (at == absl::string_view::npos) return Malformed(field, kWant, name);
  absl::StatusOr<VmName> vm = ParseVmName(field, name.substr(0, at));
  if (!vm.ok()) return vm.status();
  absl::string_view id = name.substr(at + 16);
  if (id.empty() || absl::StrContains(id, '/') || id.size() > 256)
    return Malformed(field, kWant, name);
  return std::make_pair(vm->name(), std::string(id));
}

absl::Status CheckJobName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!absl::StartsWith(name, "jobs/") || name.size() == 5 || name.size() > 128 ||
      absl::StrContains(name.substr(5), '/')) {
    return Malformed(field, "jobs/{job}", name);
  }
  return absl::OkStatus();
}

namespace {

bool IsDnsName(absl::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

}  // namespace

absl::Status CheckAgentAddress(absl::string_view field, absl::string_view address) {
  constexpr absl::string_view kWant =
      "host:port (an IPv4 address, [IPv6] or a DNS name; port 1-65535)";
  auto bad = [&](absl::string_view reason, absl::string_view why) {
    return InvalidParameter(
        field, reason,
        absl::StrCat(why, "; must be ", kWant, ", got \"", address.substr(0, 300), "\""));
  };
  if (address.empty())
    return InvalidParameter(field, "MISSING", absl::StrCat("is required: ", kWant));
  for (char c : address) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c))
      return bad("ADDRESS_HAS_WHITESPACE", "contains whitespace");
  }
  if (absl::StrContains(address, "://")) return bad("ADDRESS_IS_URL", "is a URL, not an address");
  for (absl::string_view scheme : {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:",
                                   "xds:", "passthrough:", "http:", "https:"}) {
    if (absl::StartsWithIgnoreCase(address, scheme)) {
      return bad("ADDRESS_IS_GRPC_TARGET",
                 absl::StrCat("is gRPC target syntax (", scheme, "...), not an address"));
    }
  }
  absl::string_view host;
  absl::string_view port;
  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos)
      return bad("MALFORMED_IPV6", "opens '[' without closing it");
    host = address.substr(1, close - 1);
    unsigned char buf[16];
    if (!host.empty() && inet_pton(AF_INET6, std::string(host).c_str(), buf) != 1) {
      return bad("MALFORMED_IPV6", "has an invalid IPv6 address in brackets");
    }
    absl::string_view rest = address.substr(close + 1);
    if (rest.empty() || rest.front() != ':')
      return bad("MISSING_PORT", "has no :port after the brackets");
    port = rest.substr(1);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) return bad("MISSING_PORT", "has no :port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return bad("UNBRACKETED_IPV6",
                 "has an IPv6 address (or several colons) without brackets: write [addr]:port");
    }
  }
  if (host.empty()) return bad("MISSING_HOST", "has no host");
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) digits = digits && absl::ascii_isdigit(c);
  int port_number = 0;
  if (!digits || !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return bad("BAD_PORT", "has a port that is not 1-65535");
  }
  if (address.front() == '[') return absl::OkStatus();
  const bool dotted_digits = host.find_first_not_of("0123456789.") == absl::string_view::npos;
  if (dotted_digits) {
    unsigned char buf[4];
    if (inet_pton(AF_INET, std::string(host).c_str(), buf) != 1) {
      return bad("MALFORMED_IPV4", "has an invalid IPv4 address");
    }
    return absl::OkStatus();
  }
  if (host.size() > 253 + (host.back() == '.' ? 1 : 0)) {
    return bad("HOST_NAME_TOO_LONG", "has a host name longer than 253 characters");
  }
  if (!IsDnsName(host)) {
    return bad(
        "MALFORMED_HOST_NAME",
        "has a host name that is not DNS labels of 1-63 letters, digits and '-' separated by dots");
  }
  return absl::OkStatus();
}

absl::Status NotFoundAs(absl::Status status, absl::string_view field, absl::string_view name) {
  if (status.code() == absl::StatusCode::kNotFound) {
    return NotFoundParameter(field, "NOT_FOUND", absl::StrCat(name, " does not exist"));
  }
  return status;
}

std::string HostName(absl::string_view id) { return absl::StrCat("hosts/", id); }
std::string SiteName(absl::string_view id) { return absl::StrCat("sites/", id); }

absl::Status CheckRequestSize(size_t bytes, int64_t max_bytes) {
  if (max_bytes <= 0 || bytes <= static_cast<uint64_t>(max_bytes)) return absl::OkStatus();
  return InvalidParameter(
      "request", "REQUEST_TOO_LARGE",
      absl::StrCat("is ", bytes, " bytes; drserver accepts at most ", max_bytes));
}

absl::Status CheckLength(absl::string_view field, absl::string_view value, size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return InvalidParameter(field, "TOO_LONG",
                          absl::StrCat("must be at most ", max, " characters, got ", value.size()));
}

}  // namespace server
}  // namespace hvdr
