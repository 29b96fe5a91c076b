// drctl's operations: each sends one FailoverService call and, unless
// --no-wait, watches the job it started to its end.
//
// The VM goes to drserver as the user named it: a copy's full name as is,
// a display name or GUID as the logical name virtualMachines/{vm}, whose
// copy drserver picks by the operation's rule (common/hyperv_rules.h), also
// when a step is re-run with the same --request-id after the roles swapped.
// Only --host makes drctl look a copy up (the one of that name on that
// host, FindOneCopy), because the user named the copy.
#ifndef HVDR_CLI_OPERATIONS_H_
#define HVDR_CLI_OPERATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "cli/client.h"
#include "cli/context.h"

namespace hvdr {
namespace cli {

// What an operation's request carries besides its VM.
struct OperationFields {
  std::string virtual_machine;
  std::string recovery_point;  // "" = the latest
  std::string request_id;
  std::string requester;
  dr::v1::FailoverNetworkAdapterSettings network_settings;  // one adapter (reip)
};

struct OperationSpec {
  std::string command;  // "failover"
  std::string method;   // "InitiateFailover", as printed when accepted
  // Flags beyond the VM that the request has fields for:
  // --recovery-point; --adapter, --dhcp, --ip, --subnet, --gateway, --dns.
  bool takes_recovery_point = false;
  bool takes_network_settings = false;
  absl::StatusOr<dr::v1::JobResponse> (*send)(DrClient& client,
                                              const OperationFields& fields) = nullptr;
};

// failover, revert, commit, test-failover, cleanup, reverse, prepare,
// start, stop, reip: in the order `drctl --help` lists them.
const std::vector<OperationSpec>& Operations();
// The spec of `command`, or null.
const OperationSpec* FindOperation(const std::string& command);

// `drctl <op.command> VM [flags]`; returns the exit status.
int RunOperation(Ctx& ctx, const OperationSpec& op, const ParsedArgs& a);

// Watches job `name` (jobs/{id}) to its end, or for ctx.wait_timeout,
// drawing progress (redrawn on a terminal, a line per change otherwise;
// with --output json, the last version). Watches again while drserver is
// unreachable. Returns kOk when it completed, kJobFailed when it ended
// otherwise, kTimeout when the wait gave up.
int WaitForJob(Ctx& ctx, const std::string& name);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_OPERATIONS_H_
