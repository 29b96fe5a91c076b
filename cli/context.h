// What every drctl command shares: the client, the output settings, the
// exit statuses (documented in `drctl --help`) and how an error or a usage
// mistake is reported.
#ifndef HVDR_CLI_CONTEXT_H_
#define HVDR_CLI_CONTEXT_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "common/hyperv_status.h"

namespace hvdr {
namespace cli {

enum Exit {
  kOk = 0,
  kError = 1,
  kUsage = 2,
  kRefused = 3,
  kBusy = 4,
  kJobFailed = 5,
  kUnreachable = 6,
  kTimeout = 7,
  kDenied = 8,
};

// The exit status for a call that ended with `status`: UNAVAILABLE and
// DEADLINE_EXCEEDED 6, ABORTED 4, refusals (INVALID_ARGUMENT, NOT_FOUND,
// FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE, UNIMPLEMENTED) 3,
// PERMISSION_DENIED and UNAUTHENTICATED 8, anything else 1.
int ExitFor(const absl::Status& status);

struct Ctx {
  // Not owned.
  DrClient* client = nullptr;
  std::string server;  // the address, for messages
  bool json = false;   // --output json
  bool tty = false;    // stdout is a terminal: progress redrawn in place
  absl::Duration wait_timeout = absl::Hours(1);
  std::string requester;
  // Pause before watching a job again after drserver went away.
  absl::Duration rewatch_delay = absl::Milliseconds(500);
  // Not owned.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

// Reports `status` (JSON on out with --output json, else one line on err)
// and returns its exit status.
int Fail(const Ctx& ctx, const absl::Status& status);
// Reports a command-line mistake on err and returns kUsage.
int Usage(const Ctx& ctx, const std::string& message);

// hosts/{id}, jobs/{id}, sites/{id} from an id or the name itself.
std::string HostArg(const std::string& s);
std::string JobArg(const std::string& s);
std::string SiteArg(const std::string& s);

// The one VM copy a read names: `arg` is hosts/{host}/virtualMachines/{guid}
// (returned as is), or a display name or GUID, optionally as
// virtualMachines/{vm}, on `host` if given. drserver's reads take copies
// only, so the copies are listed (ListVirtualMachines' display_name_or_id
// filter: the server matches) and exactly one must come back: none is
// NOT_FOUND (VM_NOT_FOUND), several INVALID_ARGUMENT (AMBIGUOUS, naming
// them and --host). Operations never need this: they send the logical name.
absl::StatusOr<std::string> FindOneCopy(const Ctx& ctx, const std::string& arg,
                                        const std::string& host);

// An enum flag value in Hyper-V's words: "replicating", "initiate-failover",
// the full name (REPLICATION_STATE_REPLICATING) or the number. Else
// INVALID_ARGUMENT naming `flag` (as its field and in its message: the
// error line shows only the message; reason UNKNOWN_VALUE).
template <typename E>
absl::StatusOr<E> ParseEnum(const std::string& flag, const std::string& prefix,
                            const std::string& text, bool (*parse)(const std::string&, E*)) {
  std::string upper = absl::AsciiStrToUpper(text);
  for (char& c : upper) {
    if (c == '-') c = '_';
  }
  E value;
  int number = 0;
  if (parse(upper, &value) || parse(prefix + upper, &value)) return value;
  if (absl::SimpleAtoi(text, &number)) return static_cast<E>(number);
  return InvalidParameter(flag, "UNKNOWN_VALUE",
                          absl::StrCat(flag, ": \"", text, "\" is not a known value"));
}

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_CONTEXT_H_
