#include "cli/context.h"

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "cli/render.h"

namespace hvdr {
namespace cli {

int ExitFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return kOk;
    case absl::StatusCode::kUnavailable: return kUnreachable;
    case absl::StatusCode::kDeadlineExceeded: return kUnreachable;
    case absl::StatusCode::kAborted: return kBusy;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented: return kRefused;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated: return kDenied;
    default: return kError;
  }
}

int Fail(const Ctx& ctx, const absl::Status& s) {
  const int code = ExitFor(s);
  std::string message(s.message());
  if (code == kUnreachable)
    message = absl::StrCat("cannot reach drserver at ", ctx.server, ": ", message);
  if (ctx.json) {
    *ctx.out << ErrorJson(s, message, code) << std::endl;
  } else {
    *ctx.err << ErrorLine(s, message) << std::endl;
  }
  return code;
}

int Usage(const Ctx& ctx, const std::string& message) {
  *ctx.err << "drctl: " << message << "\nRun 'drctl --help' for usage." << std::endl;
  return kUsage;
}

std::string HostArg(const std::string& s) {
  return absl::StartsWith(s, "hosts/") ? s : "hosts/" + s;
}
std::string JobArg(const std::string& s) { return absl::StartsWith(s, "jobs/") ? s : "jobs/" + s; }
std::string SiteArg(const std::string& s) {
  return absl::StartsWith(s, "sites/") ? s : "sites/" + s;
}

absl::StatusOr<std::string> FindOneCopy(const Ctx& ctx, const std::string& arg,
                                        const std::string& host) {
  if (absl::StartsWith(arg, "hosts/")) return arg;
  constexpr absl::string_view kLogical = "virtualMachines/";
  const std::string id = absl::StartsWith(arg, kLogical) ? arg.substr(kLogical.size()) : arg;
  dr::v1::ListVirtualMachinesRequest r;
  r.set_display_name_or_id(id);
  r.set_page_size(1000);
  if (!host.empty()) r.set_parent(HostArg(host));
  absl::StatusOr<dr::v1::ListVirtualMachinesResponse> resp = ctx.client->ListVirtualMachines(r);
  if (!resp.ok()) return resp.status();
  if (resp->virtual_machines_size() == 1) return resp->virtual_machines(0).name();
  if (resp->virtual_machines().empty()) {
    return NotFoundParameter(
        "virtual_machine", "VM_NOT_FOUND",
        absl::StrCat("no VM named \"", id, "\"", host.empty() ? "" : " on " + HostArg(host)));
  }
  std::vector<std::string> found;
  for (const auto& vm : resp->virtual_machines()) {
    found.push_back(absl::StrCat(
        vm.name(), " (", Short(dr::v1::ReplicationMode_Name(vm.replication_mode()), 17), ")"));
  }
  return InvalidParameter(
      "virtual_machine", "AMBIGUOUS",
      absl::StrCat("\"", id, "\" matches ", found.size(),
                   " VM copies: ", absl::StrJoin(found, ", "), "; pass --host or the full name"));
}

}  // namespace cli
}  // namespace hvdr
