// drctl's commands on plan executions: run a plan and follow it, answer a
// prompt, resume a halted execution, cancel one, report on one. EXECUTION is
// plans/{plan}/executions/{execution}; STEP is an execution's step name.
#ifndef HVDR_CLI_PLAN_RUN_COMMANDS_H_
#define HVDR_CLI_PLAN_RUN_COMMANDS_H_

#include "cli/args.h"
#include "cli/context.h"

namespace hvdr {
namespace cli {

// plans run PLAN --mode MODE [--no-wait]: starts an execution (its
// --request-id makes a re-run of the runbook step follow the same
// execution) and, through WatchPlanExecution, prints one line per step
// change until it ends or halts. Exit: 0 succeeded (with warnings too), 3
// validation found errors (nothing ran; the findings are printed), 5 halted
// or cancelled, 7 --wait-timeout.
int PlansRun(Ctx& ctx, const ParsedArgs& a);
// plans watch EXECUTION: follows an execution as plans run does (every step
// that started first, then each change), with the same exit codes.
int PlansWatch(Ctx& ctx, const ParsedArgs& a);
// plans answer STEP [--decline] [--comment TEXT]
int PlansAnswer(Ctx& ctx, const ParsedArgs& a);
// plans resume EXECUTION --action retry|skip [--scope step|vm|group]
int PlansResume(Ctx& ctx, const ParsedArgs& a);
// plans cancel EXECUTION [--reason TEXT]
int PlansCancel(Ctx& ctx, const ParsedArgs& a);
// plans report EXECUTION [--format text|json|html] [-o FILE]: the
// execution's report (GetExecutionReport; cli/report_render.h), also of
// one still running; --format defaults to json with --output json, else
// text. -o (--output-file) writes it to FILE instead of stdout. Exit 0
// when the report was read, whatever the execution's result.
int PlansReport(Ctx& ctx, const ParsedArgs& a);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_PLAN_RUN_COMMANDS_H_
