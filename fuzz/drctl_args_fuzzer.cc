// drctl's argument parsing (cli/args.h). The input is the argument list,
// one argument per NUL-separated piece. A refusal is INVALID_ARGUMENT naming
// a flag; what parses is only flags the spec declares, and writing it back
// in canonical form (--name=value, --name, then "--" and the positionals)
// parses to the same result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "fuzz/properties.h"

namespace {

using hvdr::cli::FlagSpec;
using hvdr::cli::ParsedArgs;

// The flags drctl's commands take.
const FlagSpec& Spec() {
  static const FlagSpec* spec =
      new FlagSpec{{"server", "recovery-point", "request-id", "requester", "filter", "page-size",
                    "page-token", "site", "agent-address", "state", "type", "timeout", "output"},
                   {"no-wait", "json", "dry-run", "all", "help", "watch"}};
  return *spec;
}

bool Same(const ParsedArgs& a, const ParsedArgs& b) {
  return a.positional == b.positional && a.values == b.values && a.booleans == b.booleans;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\0') {
      args.emplace_back();
    } else {
      args.back().push_back(static_cast<char>(data[i]));
    }
  }
  if (size == 0) args.clear();
  const FlagSpec& spec = Spec();
  absl::StatusOr<ParsedArgs> parsed = hvdr::cli::ParseArgs(args, spec);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StrContains(parsed.status().message(), "--"));
    return 0;
  }
  FUZZ_CHECK(parsed->positional.size() <= args.size());
  std::vector<std::string> canonical;
  for (const auto& [flag, values] : parsed->values) {
    FUZZ_CHECK(spec.valued.count(flag) == 1);
    FUZZ_CHECK(!values.empty());
    FUZZ_CHECK(parsed->Has(flag));
    FUZZ_CHECK(parsed->Get(flag, "default") == values.back());
    FUZZ_CHECK(parsed->All(flag) == values);
    for (const std::string& v : values) canonical.push_back(absl::StrCat("--", flag, "=", v));
  }
  for (const std::string& flag : parsed->booleans) {
    FUZZ_CHECK(spec.booleans.count(flag) == 1);
    FUZZ_CHECK(parsed->Has(flag));
    canonical.push_back(absl::StrCat("--", flag));
  }
  for (const std::string& flag : spec.valued) {
    if (parsed->values.count(flag) == 0) FUZZ_CHECK(parsed->Get(flag, "default") == "default");
  }
  canonical.push_back("--");
  canonical.insert(canonical.end(), parsed->positional.begin(), parsed->positional.end());
  absl::StatusOr<ParsedArgs> again = hvdr::cli::ParseArgs(canonical, spec);
  FUZZ_CHECK(again.ok() && Same(*again, *parsed));
  return 0;
}
