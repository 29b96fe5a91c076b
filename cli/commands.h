// drctl's command table: every command with its usage and its handler. The
// table is the one list of what drctl does: `drctl --help` is made from it
// and RunCommand() dispatches through it.
#ifndef HVDR_CLI_COMMANDS_H_
#define HVDR_CLI_COMMANDS_H_

#include <functional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/context.h"

namespace hvdr {
namespace cli {

// Where `drctl --help` lists a command.
enum class Section { kTopology, kOperations, kJobs, kPlans, kAudit };

struct Command {
  // The words that select it: "hosts list", "failover".
  std::string name;
  // What follows the name: "HOST_ID --site SITE --agent HOST:PORT".
  std::string usage;
  // The help's right-hand column ("" for none).
  std::string summary;
  Section section = Section::kTopology;
  // Listed on the previous command's help line ("start VM | stop VM").
  bool same_line = false;
  // Runs the command (a.positional[0] is its first word); returns the exit
  // status.
  std::function<int(Ctx& ctx, const ParsedArgs& a)> handler;
};

// In the order `drctl --help` lists them.
const std::vector<Command>& Commands();

// Every flag drctl accepts (global and per command).
const FlagSpec& Flags();

// `drctl --help`.
std::string HelpText();

// Runs the command a.positional names (a.positional is not empty): the
// command of its first two words, else of its first word. A command group
// ("hosts", "jobs") with an unknown subcommand, or an unknown command, is a
// usage error naming what there is.
int RunCommand(Ctx& ctx, const ParsedArgs& a);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_COMMANDS_H_
