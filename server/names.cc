#include "server/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hyperv_status.h"

namespace hvdr {
namespace server {

namespace {

absl::Status Malformed(absl::string_view field, absl::string_view want, absl::string_view got) {
  return InvalidParameter(field, "MALFORMED_NAME",
                          absl::StrCat("must look like ", want, ", got \"", got.substr(0, 200), "\""));
}

bool IsGuidChar(char c) { return absl::ascii_isxdigit(c) || c == '-' || c == '{' || c == '}'; }

}  // namespace

absl::Status CheckId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return InvalidParameter(field, "MISSING", "is required");
  bool ok = id.size() <= 63 && absl::ascii_islower(id[0]);
  for (char c : id) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  if (!ok) {
    return InvalidParameter(field, "MALFORMED_ID",
                            absl::StrCat("must be 1-63 of a-z, 0-9 and '-', starting with a letter; got \"",
                                         id.substr(0, 80), "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(absl::string_view field, absl::string_view request_id) {
  if (request_id.empty()) {
    return InvalidParameter(field, "MISSING",
                            "is required: a unique id per request (e.g. a UUID) makes retries safe");
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
      !CheckId(field, parts[1]).ok() || parts[3].empty() || parts[3].size() > 64) {
    return Malformed(field, kWant, name);
  }
  for (char c : parts[3]) {
    if (!IsGuidChar(c)) return Malformed(field, kWant, name);
  }
  return VmName{absl::StrCat("hosts/", parts[1]), std::string(parts[3])};
}

bool IsLogicalVmName(absl::string_view name) { return absl::StartsWith(name, "virtualMachines/"); }

absl::StatusOr<std::string> ParseLogicalVmName(absl::string_view field, absl::string_view name) {
  constexpr absl::string_view kWant = "virtualMachines/{guid-or-display-name}";
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!IsLogicalVmName(name)) return Malformed(field, kWant, name);
  absl::string_view id = name.substr(16);
  if (id.empty() || id.size() > 256 || absl::StrContains(id, '/')) return Malformed(field, kWant, name);
  return std::string(id);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseRecoveryPointName(absl::string_view field,
                                                                           absl::string_view name) {
  constexpr absl::string_view kWant = "hosts/{host}/virtualMachines/{vm-guid}/recoveryPoints/{id}";
  size_t at = name.find("/recoveryPoints/");
  if (at == absl::string_view::npos) return Malformed(field, kWant, name);
  absl::string_view vm = name.substr(0, at);
  absl::string_view id = name.substr(at + 16);
  if (!ParseVmName(field, vm).ok() || id.empty() || absl::StrContains(id, '/') || id.size() > 256) {
    return Malformed(field, kWant, name);
  }
  return std::make_pair(std::string(vm), std::string(id));
}

absl::Status CheckJobName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!absl::StartsWith(name, "jobs/") || name.size() == 5 || name.size() > 128 ||
      absl::StrContains(name.substr(5), '/')) {
    return Malformed(field, "jobs/{job}", name);
  }
  return absl::OkStatus();
}

std::string HostName(absl::string_view id) { return absl::StrCat("hosts/", id); }
std::string SiteName(absl::string_view id) { return absl::StrCat("sites/", id); }

absl::Status CheckRequestSize(size_t bytes, int64_t max_bytes) {
  if (max_bytes <= 0 || bytes <= static_cast<uint64_t>(max_bytes)) return absl::OkStatus();
  return InvalidParameter("request", "REQUEST_TOO_LARGE",
                          absl::StrCat("is ", bytes, " bytes; drserver accepts at most ", max_bytes));
}

absl::Status CheckLength(absl::string_view field, absl::string_view value, size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return InvalidParameter(field, "TOO_LONG",
                          absl::StrCat("must be at most ", max, " characters, got ", value.size()));
}

}  // namespace server
}  // namespace hvdr
