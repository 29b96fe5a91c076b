// Resource names of the dr.v1 API (AIP-122) and the checks every request
// field goes through. Errors are INVALID_ARGUMENT with Hyper-V code 32773,
// naming the field.
#ifndef HVDR_SERVER_NAMES_H_
#define HVDR_SERVER_NAMES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hvdr {
namespace server {

struct VmName {
  std::string host;   // hosts/{host}
  std::string vm_id;  // the GUID, canonical (CanonicalVmGuid)
  // hosts/{host}/virtualMachines/{vm_id}: the name the store knows.
  std::string name() const;
};

// A VM GUID in its one canonical form: upper case, no braces,
// 8-4-4-4-12 hex digits - as Hyper-V's WMI (Msvm_ComputerSystem.Name) and the
// simulator report it, and so as the store keeps it from the agents'
// inventory. Accepts what users paste: any case, with or without one pair
// of braces ("{0dd0c0de-...}"). Anything else is INVALID_ARGUMENT naming
// `field` (reason MALFORMED_GUID).
absl::StatusOr<std::string> CanonicalVmGuid(absl::string_view field, absl::string_view guid);
// True when `s` is a GUID in any spelling CanonicalVmGuid accepts.
bool IsVmGuid(absl::string_view s);

// {host} and {site} ids: 1-63 of [a-z0-9-], starting with a letter.
absl::Status CheckId(absl::string_view field, absl::string_view id);
// request_id: 1-128 of [A-Za-z0-9._:-].
absl::Status CheckRequestId(absl::string_view field, absl::string_view request_id);

absl::StatusOr<std::string> ParseHostName(absl::string_view field, absl::string_view name);
absl::StatusOr<std::string> ParseSiteName(absl::string_view field, absl::string_view name);
// hosts/{host}/virtualMachines/{guid}, the GUID in any accepted spelling;
// the result holds it canonical.
absl::StatusOr<VmName> ParseVmName(absl::string_view field, absl::string_view name);
// A logical VM name, virtualMachines/{guid-or-display-name}: the VM whatever
// copy an operation runs on (the server resolves it). Returns the GUID or
// display name; it is 1-256 characters without '/'.
bool IsLogicalVmName(absl::string_view name);
absl::StatusOr<std::string> ParseLogicalVmName(absl::string_view field, absl::string_view name);
// Returns the VM name the point belongs to (canonical, as VmName::name())
// and the point's id.
absl::StatusOr<std::pair<std::string, std::string>> ParseRecoveryPointName(absl::string_view field,
                                                                           absl::string_view name);
absl::Status CheckJobName(absl::string_view field, absl::string_view name);
// A request of `bytes` (serialized) is at most `max_bytes`: otherwise
// INVALID_ARGUMENT, 32773, field "request", reason REQUEST_TOO_LARGE.
absl::Status CheckRequestSize(size_t bytes, int64_t max_bytes);
// A free-text field (`requester`, a filter, an adapter name) is at most
// `max` bytes: otherwise INVALID_ARGUMENT, 32773, reason TOO_LONG.
absl::Status CheckLength(absl::string_view field, absl::string_view value, size_t max);

// An agent address (RegisterHostRequest.agent_address): host:port and
// nothing else. The host is an IPv4 address, an IPv6 address in brackets
// ("[fd00::1]:50061") or a DNS name (RFC 1123 labels of 1-63 letters,
// digits and '-', not starting or ending with '-'; at most 253 characters,
// one trailing dot allowed); the port is 1-65535 in decimal. URLs
// ("http://..."), gRPC target syntax ("dns:///", "unix:", "ipv4:", ...),
// whitespace, an empty host and an IPv6 address without brackets are
// refused: INVALID_ARGUMENT naming `field`, with a reason saying which.
absl::Status CheckAgentAddress(absl::string_view field, absl::string_view address);

// A store's NOT_FOUND said in terms of the request: NOT_FOUND (32773)
// naming `field`, "<name> does not exist". Other statuses are returned as
// they are.
absl::Status NotFoundAs(absl::Status status, absl::string_view field, absl::string_view name);

std::string HostName(absl::string_view id);
std::string SiteName(absl::string_view id);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_NAMES_H_
