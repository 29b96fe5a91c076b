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
  std::string vm_id;  // the GUID
};

// {host} and {site} ids: 1-63 of [a-z0-9-], starting with a letter.
absl::Status CheckId(absl::string_view field, absl::string_view id);
// request_id: 1-128 of [A-Za-z0-9._:-].
absl::Status CheckRequestId(absl::string_view field, absl::string_view request_id);

absl::StatusOr<std::string> ParseHostName(absl::string_view field, absl::string_view name);
absl::StatusOr<std::string> ParseSiteName(absl::string_view field, absl::string_view name);
absl::StatusOr<VmName> ParseVmName(absl::string_view field, absl::string_view name);
// A logical VM name, virtualMachines/{guid-or-display-name}: the VM whatever
// copy an operation runs on (the server resolves it). Returns the GUID or
// display name; it is 1-256 characters without '/'.
bool IsLogicalVmName(absl::string_view name);
absl::StatusOr<std::string> ParseLogicalVmName(absl::string_view field, absl::string_view name);
// Returns the VM name the point belongs to and the point's id.
absl::StatusOr<std::pair<std::string, std::string>> ParseRecoveryPointName(
    absl::string_view field, absl::string_view name);
absl::Status CheckJobName(absl::string_view field, absl::string_view name);
// A request of `bytes` (serialized) is at most `max_bytes`: otherwise
// INVALID_ARGUMENT, 32773, field "request", reason REQUEST_TOO_LARGE.
absl::Status CheckRequestSize(size_t bytes, int64_t max_bytes);
// A free-text field (`requester`, a filter, an adapter name) is at most
// `max` bytes: otherwise INVALID_ARGUMENT, 32773, reason TOO_LONG.
absl::Status CheckLength(absl::string_view field, absl::string_view value, size_t max);

std::string HostName(absl::string_view id);
std::string SiteName(absl::string_view id);

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_NAMES_H_
