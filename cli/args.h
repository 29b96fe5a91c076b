// drctl's command line: "drctl [global flags] COMMAND [SUBCOMMAND] ARGS
// [flags]". Flags are --name=value, --name value, or --name for booleans;
// names use dashes (--recovery-point, --no-wait). Each command declares the
// flags it takes, so a misspelt flag is an error naming it.
#ifndef HVDR_CLI_ARGS_H_
#define HVDR_CLI_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hvdr {
namespace cli {

struct FlagSpec {
  std::set<std::string> valued;    // flags that take a value (may repeat)
  std::set<std::string> booleans;  // flags without a value
  // Short spellings: "-f" -> "file" (then "-f FILE" is "--file FILE").
  std::map<std::string, std::string> aliases;
};

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> booleans;

  bool Has(const std::string& flag) const {
    return booleans.count(flag) != 0 || values.count(flag) != 0;
  }
  // The last value of `flag`, or `def`.
  std::string Get(const std::string& flag, const std::string& def = "") const;
  std::vector<std::string> All(const std::string& flag) const;
};

// INVALID_ARGUMENT naming the flag for an unknown flag or a missing value.
absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const FlagSpec& spec);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_ARGS_H_
