// drctl's `plans` commands: write a plan from a file, list, show, delete
// and validate plans. PLAN is a plan id or plans/{plan}; FILE is a plan in
// its text format (plans/plan_file.h; examples in deploy/examples/).
#ifndef HVDR_CLI_PLAN_COMMANDS_H_
#define HVDR_CLI_PLAN_COMMANDS_H_

#include "cli/args.h"
#include "cli/context.h"

namespace hvdr {
namespace cli {

// plans apply -f FILE: creates the plan the file names, or replaces it
// (with the etag read just before, so a concurrent edit is refused, not
// lost).
int PlansApply(Ctx& ctx, const ParsedArgs& a);
int PlansList(Ctx& ctx, const ParsedArgs& a);
// plans show PLAN: the plan in its text format (a file `plans apply` takes).
int PlansShow(Ctx& ctx, const ParsedArgs& a);
int PlansDelete(Ctx& ctx, const ParsedArgs& a);
// plans validate PLAN --mode MODE: every finding, one per line; exit 0 when
// none is an error, 3 when one is.
int PlansValidate(Ctx& ctx, const ParsedArgs& a);

// plans/{plan} from an id or the name itself.
std::string PlanArg(const std::string& s);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_PLAN_COMMANDS_H_
