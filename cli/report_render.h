// An execution's report (dr.v1.ExecutionReport, GetExecutionReport) as
// drctl shows it: text for a terminal, JSON for tools, and one HTML page
// a person can attach to an audit. Pure functions of the report: no I/O.
//
// Values drserver did not record (no failover in the mode, a step that
// never ran, an RPO without a data time) are shown as "-" in text and
// HTML and as null in JSON, never as zero.
#ifndef HVDR_CLI_REPORT_RENDER_H_
#define HVDR_CLI_REPORT_RENDER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "dr/v1/plan_execution.pb.h"

namespace hvdr {
namespace cli {

// The report for a terminal: a summary (who started it, plan version and
// hash, mode, start, end, result), one line per VM (result, recovery
// point, data time, RPO, RTO, error), every step (start, end, attempt,
// result, error), the prompts with who answered them, and the findings.
// Values are kept to one line each and control characters are replaced, so
// that a VM name cannot send escape sequences to the terminal.
std::string ReportText(const dr::v1::ExecutionReport& report);

// The report as one JSON document with stable snake_case field names,
// enum values in lower case without their prefix ("succeeded_with_warnings",
// "unplanned"), times in RFC 3339 UTC and durations in seconds:
//   {"execution", "plan", "plan_version", "plan_hash", "mode", "requester",
//    "request_id", "state", "state_reason", "halted_step", "create_time",
//    "end_time", "duration_seconds", "report_time", "steps_total",
//    "steps_succeeded", "steps_failed", "steps_skipped",
//    "vms": [{"vm_id", "display_name", "group", "result", "recovery_point"
//             ("latest", a recovery point's name, or null without a
//             failover), "data_time", "rpo_seconds", "rto_seconds",
//             "error"}],
//    "steps": [{"name", "id", "kind", "group", "vm_id", "state", "attempt",
//               "critical", "host", "job", "start_time", "end_time",
//               "duration_seconds", "return_code", "error", "skip_cause",
//               "recovery_point", "data_time"}],
//    "prompts": [{"step", "message", "state", "answer" ("proceed",
//                 "decline", or null while unanswered), "answered_by",
//                 "answer_time", "answer_comment"}],
//    "findings": [{"severity", "field", "reason", "message",
//                  "return_code"}]}
// Unknown values are null.
std::string ReportJson(const dr::v1::ExecutionReport& report);

// The report as one self-contained HTML page: inline CSS, no script and no
// external resource; every value from the report is HTML-escaped.
std::string ReportHtml(const dr::v1::ExecutionReport& report);

// `s` with &, <, >, " and ' replaced by their character references (fit
// for element content and quoted attribute values).
std::string HtmlEscape(absl::string_view s);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_REPORT_RENDER_H_
