#include "cli/plan_run_commands.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/client.h"
#include "cli/plan_commands.h"
#include "cli/render.h"
#include "cli/report_render.h"

namespace hvdr {
namespace cli {

namespace {

std::string StepLine(const dr::v1::ExecutionStep& s) {
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()), " ",
      s.name().substr(s.name().rfind('/') + 1), " ", Short(dr::v1::StepState_Name(s.state()), 11));
  if (s.attempt() > 1) absl::StrAppend(&line, " attempt ", s.attempt());
  if (!s.job().empty()) absl::StrAppend(&line, " ", s.job());
  if (s.skip_cause() != dr::v1::SKIP_CAUSE_UNSPECIFIED) {
    absl::StrAppend(&line, " (", Short(dr::v1::SkipCause_Name(s.skip_cause()), 11), ")");
  }
  if (!s.error().empty()) absl::StrAppend(&line, ": ", s.error());
  return line;
}

bool Ended(dr::v1::ExecutionState s) {
  return s == dr::v1::EXECUTION_STATE_SUCCEEDED ||
         s == dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS ||
         s == dr::v1::EXECUTION_STATE_FAILED || s == dr::v1::EXECUTION_STATE_CANCELLED;
}

}  // namespace

int PlansRun(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3 || !a.Has("mode")) {
    return Usage(ctx, "plans run takes PLAN --mode MODE");
  }
  absl::StatusOr<dr::v1::ExecutionMode> mode = ParseEnum<dr::v1::ExecutionMode>(
      "--mode", "EXECUTION_MODE_", a.Get("mode"), dr::v1::ExecutionMode_Parse);
  if (!mode.ok()) return Fail(ctx, mode.status());
  dr::v1::StartPlanExecutionRequest r;
  r.set_plan(PlanArg(a.positional[2]));
  r.set_mode(*mode);
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  r.set_requester(ctx.requester);
  // An UNPLANNED failover's commit policy (the server refuses it for
  // other modes, naming commit_policy).
  for (const auto& [flag, action] :
       {std::pair{"commit-after", dr::v1::CommitPolicy::ACTION_COMMIT},
        std::pair{"revert-after", dr::v1::CommitPolicy::ACTION_REVERT}}) {
    if (!a.Has(flag)) continue;
    uint32_t secs = 0;
    if (r.has_commit_policy() || !absl::SimpleAtoi(a.Get(flag), &secs) || secs == 0 ||
        secs > 604800) {
      return Usage(ctx, "--commit-after or --revert-after (one) takes seconds, 1-604800");
    }
    r.mutable_commit_policy()->set_action(action);
    r.mutable_commit_policy()->set_after_seconds(secs);
  }
  absl::StatusOr<dr::v1::PlanExecution> e = ctx.client->StartPlanExecution(r);
  if (!e.ok()) return Fail(ctx, e.status());
  if (!ctx.json) {
    *ctx.out << e->name() << ": " << Short(dr::v1::ExecutionMode_Name(*mode), 15) << " of "
             << r.plan() << " v" << e->plan_version() << ", " << e->steps_total()
             << " steps (request_id " << r.request_id() << ")" << std::endl;
  }
  std::map<std::string, std::string> shown;  // step -> its last line's state
  bool prompted = false;
  const absl::Time deadline = absl::Now() + ctx.wait_timeout;
  while (!a.Has("no-wait")) {
    dr::v1::ListExecutionStepsRequest lr;
    lr.set_parent(e->name());
    lr.set_page_size(1000);
    do {
      absl::StatusOr<dr::v1::ListExecutionStepsResponse> page = ctx.client->ListExecutionSteps(lr);
      if (!page.ok()) return Fail(ctx, page.status());
      for (const auto& s : page->execution_steps()) {
        const std::string key = absl::StrCat(s.state(), "/", s.attempt(), "/", s.job());
        if (shown[s.name()] == key || s.state() == dr::v1::STEP_STATE_PENDING) continue;
        shown[s.name()] = key;
        if (!ctx.json) *ctx.out << StepLine(s) << std::endl;
        if (s.state() == dr::v1::STEP_STATE_WAITING_FOR_ANSWER && !ctx.json) {
          *ctx.out << "  waiting for a person: drctl plans answer " << s.name()
                   << " [--decline] [--comment TEXT]" << std::endl;
          prompted = true;
        }
      }
      lr.set_page_token(page->next_page_token());
    } while (!lr.page_token().empty());
    dr::v1::GetPlanExecutionRequest gr;
    gr.set_name(e->name());
    absl::StatusOr<dr::v1::PlanExecution> now = ctx.client->GetPlanExecution(gr);
    if (!now.ok()) return Fail(ctx, now.status());
    *e = *now;
    if (Ended(e->state()) || e->state() == dr::v1::EXECUTION_STATE_HALTED) break;
    if (absl::Now() > deadline) {
      *ctx.err << "drctl: gave up waiting for " << e->name() << " (--wait-timeout)" << std::endl;
      return kTimeout;
    }
    absl::SleepFor(absl::Milliseconds(prompted ? 1000 : 500));
  }
  if (ctx.json) {
    *ctx.out << ToJson(*e) << std::endl;
  } else {
    for (const auto& f : e->findings()) {
      *ctx.out << Short(dr::v1::Severity_Name(f.severity()), 9) << "  " << f.field() << "  "
               << f.reason() << ": " << f.message() << std::endl;
    }
    *ctx.out << e->name() << ": " << Short(dr::v1::ExecutionState_Name(e->state()), 16) << " ("
             << e->steps_succeeded() << " succeeded, " << e->steps_failed() << " failed, "
             << e->steps_skipped() << " skipped of " << e->steps_total() << ")"
             << (e->state_reason().empty() ? "" : ": " + e->state_reason()) << std::endl;
    if (e->state() == dr::v1::EXECUTION_STATE_HALTED) {
      *ctx.out << "  resume: drctl plans resume " << e->name()
               << " --action retry|skip [--scope step|vm|group]" << std::endl;
    }
  }
  switch (e->state()) {
    case dr::v1::EXECUTION_STATE_SUCCEEDED:
    case dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS: return kOk;
    case dr::v1::EXECUTION_STATE_FAILED: return kRefused;
    default: return a.Has("no-wait") ? kOk : kJobFailed;
  }
}

int PlansAnswer(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "plans answer takes STEP");
  dr::v1::AnswerPromptRequest r;
  r.set_step(a.positional[2]);
  r.set_proceed(!a.Has("decline"));
  r.set_comment(a.Get("comment"));
  r.set_requester(ctx.requester);
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  absl::StatusOr<dr::v1::ExecutionStep> s = ctx.client->AnswerPrompt(r);
  if (!s.ok()) return Fail(ctx, s.status());
  if (ctx.json) {
    *ctx.out << ToJson(*s) << std::endl;
  } else {
    *ctx.out << StepLine(*s) << " (answered by " << s->answered_by() << ")" << std::endl;
  }
  return kOk;
}

int PlansResume(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3 || !a.Has("action")) {
    return Usage(ctx, "plans resume takes EXECUTION --action retry|skip [--scope step|vm|group]");
  }
  dr::v1::ResumePlanExecutionRequest r;
  r.set_name(a.positional[2]);
  absl::StatusOr<dr::v1::ResumePlanExecutionRequest::Action> action =
      ParseEnum<dr::v1::ResumePlanExecutionRequest::Action>(
          "--action", "ACTION_", a.Get("action"), dr::v1::ResumePlanExecutionRequest::Action_Parse);
  if (!action.ok()) return Fail(ctx, action.status());
  r.set_action(*action);
  if (a.Has("scope")) {
    absl::StatusOr<dr::v1::ResumePlanExecutionRequest::Scope> scope =
        ParseEnum<dr::v1::ResumePlanExecutionRequest::Scope>(
            "--scope", "SCOPE_", a.Get("scope"), dr::v1::ResumePlanExecutionRequest::Scope_Parse);
    if (!scope.ok()) return Fail(ctx, scope.status());
    r.set_scope(*scope);
  }
  r.set_requester(ctx.requester);
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  absl::StatusOr<dr::v1::PlanExecution> e = ctx.client->ResumePlanExecution(r);
  if (!e.ok()) return Fail(ctx, e.status());
  if (ctx.json) {
    *ctx.out << ToJson(*e) << std::endl;
  } else {
    *ctx.out << e->name() << ": " << Short(dr::v1::ExecutionState_Name(e->state()), 16)
             << std::endl;
  }
  return kOk;
}

int PlansCancel(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "plans cancel takes EXECUTION");
  dr::v1::CancelPlanExecutionRequest r;
  r.set_name(a.positional[2]);
  r.set_reason(a.Get("reason"));
  r.set_requester(ctx.requester);
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  absl::StatusOr<dr::v1::PlanExecution> e = ctx.client->CancelPlanExecution(r);
  if (!e.ok()) return Fail(ctx, e.status());
  if (ctx.json) {
    *ctx.out << ToJson(*e) << std::endl;
  } else {
    *ctx.out << e->name() << ": " << Short(dr::v1::ExecutionState_Name(e->state()), 16)
             << std::endl;
  }
  return kOk;
}

int PlansReport(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) {
    return Usage(ctx, "plans report takes EXECUTION [--format text|json|html] [-o FILE]");
  }
  const std::string format = a.Get("format", ctx.json ? "json" : "text");
  if (format != "text" && format != "json" && format != "html") {
    return Usage(ctx, absl::StrCat("--format takes text, json or html, not \"", format, "\""));
  }
  if (a.Has("output-file") && a.Get("output-file").empty()) {
    return Usage(ctx, "-o (--output-file) takes a file name");
  }
  dr::v1::GetExecutionReportRequest r;
  const std::string& name = a.positional[2];
  r.set_name(absl::StartsWith(name, "plans/") ? name : absl::StrCat("plans/", name));
  absl::StatusOr<dr::v1::ExecutionReport> report = ctx.client->GetExecutionReport(r);
  if (!report.ok()) return Fail(ctx, report.status());
  const std::string text = format == "html"   ? ReportHtml(*report)
                           : format == "json" ? ReportJson(*report) + "\n"
                                              : ReportText(*report);
  if (!a.Has("output-file")) {
    *ctx.out << text << std::flush;
    return kOk;
  }
  const std::string path = a.Get("output-file");
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (file) file << text;
  if (file) file.close();
  if (!file) {
    *ctx.err << "drctl: cannot write the report to " << path << ": " << std::strerror(errno)
             << std::endl;
    return kError;
  }
  if (!ctx.json) {
    *ctx.out << report->execution().name() << ": " << format << " report written to " << path
             << " (" << text.size() << " bytes)" << std::endl;
  }
  return kOk;
}

}  // namespace cli
}  // namespace hvdr
