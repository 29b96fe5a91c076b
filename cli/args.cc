#include "cli/args.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hvdr {
namespace cli {

std::string ParsedArgs::Get(const std::string& flag, const std::string& def) const {
  auto it = values.find(flag);
  return it == values.end() || it->second.empty() ? def : it->second.back();
}

std::vector<std::string> ParsedArgs::All(const std::string& flag) const {
  auto it = values.find(flag);
  return it == values.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const FlagSpec& spec) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.positional.insert(out.positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    auto alias = spec.aliases.find(a);
    if (alias == spec.aliases.end() && (!absl::StartsWith(a, "--") || a.size() == 2)) {
      out.positional.push_back(a);
      continue;
    }
    std::string name = alias != spec.aliases.end() ? alias->second : a.substr(2);
    std::string value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (spec.booleans.count(name) != 0) {
      if (has_value) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      out.booleans.insert(name);
      continue;
    }
    if (spec.valued.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    out.values[name].push_back(value);
  }
  return out;
}

}  // namespace cli
}  // namespace hvdr
