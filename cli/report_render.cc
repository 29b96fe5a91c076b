#include "cli/report_render.h"

#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/proto_time.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {

namespace {

using dr::v1::ExecutionReport;
using dr::v1::ExecutionStep;
using dr::v1::VmReport;
using Json = nlohmann::ordered_json;

// An enum value's name without `prefix`, in lower case.
std::string Word(const std::string& name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name);
}
std::string ModeWord(dr::v1::ExecutionMode m) {
  return Word(dr::v1::ExecutionMode_Name(m), "EXECUTION_MODE_");
}
std::string ExecutionWord(dr::v1::ExecutionState s) {
  return Word(dr::v1::ExecutionState_Name(s), "EXECUTION_STATE_");
}
std::string StateWord(dr::v1::StepState s) {
  return Word(dr::v1::StepState_Name(s), "STEP_STATE_");
}
std::string KindWord(dr::v1::StepKind k) { return Word(dr::v1::StepKind_Name(k), "STEP_KIND_"); }
std::string SkipWord(dr::v1::SkipCause c) { return Word(dr::v1::SkipCause_Name(c), "SKIP_CAUSE_"); }
std::string SeverityWord(dr::v1::Severity s) { return Word(dr::v1::Severity_Name(s), "SEVERITY_"); }
std::string CodeWord(dr::v1::ReturnCode c) {
  return Word(dr::v1::ReturnCode_Name(c), "RETURN_CODE_");
}

std::optional<absl::Time> TimeOf(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return std::nullopt;
  return FromProto(t);
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// For people: "2026-12-01 17:30:02", or "-".
std::string When(const google::protobuf::Timestamp& t) {
  std::optional<absl::Time> at = TimeOf(t);
  return at ? absl::FormatTime("%Y-%m-%d %H:%M:%S", *at, absl::UTCTimeZone()) : "-";
}

// For people: "42.5s", "3m07s", "2h00m10s".
std::string Seconds(double s) {
  const bool negative = s < 0;
  const double a = std::fabs(s);
  std::string out;
  if (a < 60) {
    out = absl::StrFormat("%.1fs", a);
  } else {
    const int64_t t = std::llround(a);
    const int64_t h = t / 3600, m = t % 3600 / 60, sec = t % 60;
    out = h > 0 ? absl::StrFormat("%dh%02dm%02ds", h, m, sec) : absl::StrFormat("%dm%02ds", m, sec);
  }
  return negative ? "-" + out : out;
}

std::optional<double> Between(const google::protobuf::Timestamp& from,
                              const google::protobuf::Timestamp& to) {
  std::optional<absl::Time> a = TimeOf(from), b = TimeOf(to);
  if (!a || !b) return std::nullopt;
  return absl::ToDoubleSeconds(*b - *a);
}

std::string StepId(const ExecutionStep& s) {
  const size_t at = s.name().rfind("/steps/");
  return at == std::string::npos ? s.name() : s.name().substr(at + 7);
}

// The last segment of a recovery point's name, for narrow tables.
std::string ShortPoint(const std::string& name) {
  const size_t at = name.rfind('/');
  return at == std::string::npos ? name : name.substr(at + 1);
}

bool IsFailover(const ExecutionStep& s) {
  return s.kind() == dr::v1::STEP_KIND_FAILOVER || s.kind() == dr::v1::STEP_KIND_TEST_FAILOVER;
}

// The plan step (prompt, wait, hook) an execution step runs, or null.
const dr::v1::PlanStep* PlanStepOf(const dr::v1::Plan& plan, const ExecutionStep& s) {
  if (s.plan_step().empty()) return nullptr;
  auto find = [&](const google::protobuf::RepeatedPtrField<dr::v1::PlanStep>& steps)
      -> const dr::v1::PlanStep* {
    for (const auto& p : steps) {
      if (p.id() == s.plan_step()) return &p;
    }
    return nullptr;
  };
  for (const auto& g : plan.groups()) {
    if (g.id() != s.group()) continue;
    if (s.vm_id().empty()) {
      if (const auto* p = find(g.before())) return p;
      return find(g.after());
    }
    for (const auto& vm : g.vms()) {
      if (vm.vm_id() != s.vm_id()) continue;
      if (const auto* p = find(vm.before())) return p;
      return find(vm.after());
    }
  }
  return nullptr;
}

// What the three renderings share, derived once from the report.
struct View {
  const ExecutionReport& r;
  std::map<std::string, std::string> names;  // vm_id -> display name
  std::map<std::string, bool> has_failover;  // vm_id -> it has a failover step
  std::vector<const ExecutionStep*> prompts;

  explicit View(const ExecutionReport& report) : r(report) {
    for (const VmReport& vm : r.vms()) names[vm.vm_id()] = vm.display_name();
    for (const ExecutionStep& s : r.steps()) {
      if (IsFailover(s)) has_failover[s.vm_id()] = true;
      if (s.kind() == dr::v1::STEP_KIND_PROMPT) prompts.push_back(&s);
    }
  }
  // "latest", a recovery point's name, or nullopt without a failover.
  std::optional<std::string> Point(const VmReport& vm) const {
    if (has_failover.count(vm.vm_id()) == 0) return std::nullopt;
    return vm.recovery_point().empty() ? "latest" : vm.recovery_point();
  }
  // A VM as people call it: its display name, else its GUID.
  std::string VmLabel(const std::string& vm_id) const {
    auto it = names.find(vm_id);
    return it == names.end() || it->second.empty() ? vm_id : it->second;
  }
  std::string PromptMessage(const ExecutionStep& s) const {
    const dr::v1::PlanStep* p = PlanStepOf(r.plan(), s);
    return p != nullptr && p->has_prompt() ? p->prompt().message() : "";
  }
};

// "proceed", "decline", or "" while unanswered.
std::string Answer(const ExecutionStep& s) {
  if (s.answered_by().empty()) return "";
  return s.state() == dr::v1::STEP_STATE_SUCCEEDED ? "proceed" : "decline";
}

std::string Opt(const std::optional<std::string>& s) { return s ? *s : "-"; }

// `s` safe for one line of a terminal: line breaks and tabs become spaces,
// other control characters (a VM name could hold escape sequences) '?'.
std::string OneLine(absl::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    } else if (u < 0x20 || u == 0x7f) {
      c = '?';
    }
  }
  return out;
}

// Rows padded to the widest cell of each column; the last column is not
// padded. The first row is the header. Cells are made OneLine.
std::string Table(const std::vector<std::vector<std::string>>& rows, const std::string& indent) {
  std::vector<std::vector<std::string>> clean;
  for (const auto& row : rows) {
    clean.emplace_back();
    for (const auto& cell : row) clean.back().push_back(OneLine(cell));
  }
  std::vector<size_t> widths;
  for (const auto& row : clean) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : clean) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

Json TimeJson(const google::protobuf::Timestamp& t) {
  std::optional<absl::Time> at = TimeOf(t);
  return at ? Json(Rfc3339(*at)) : Json(nullptr);
}

Json OptJson(const std::optional<double>& d) { return d ? Json(*d) : Json(nullptr); }

Json StrOrNull(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

}  // namespace

std::string HtmlEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string ReportText(const ExecutionReport& r) {
  const View v(r);
  const dr::v1::PlanExecution& e = r.execution();
  std::string out;
  absl::StrAppend(&out, "Execution ", OneLine(e.name()), "\n");
  std::vector<std::vector<std::string>> summary = {
      {"plan", absl::StrCat(r.plan().name().empty() ? "-" : r.plan().name(), " version ",
                            e.plan_version())},
      {"plan hash", e.plan_hash().empty() ? "-" : absl::StrCat("sha256:", e.plan_hash())},
      {"mode", ModeWord(e.mode())},
      {"started by", absl::StrCat(e.requester().empty() ? "-" : e.requester(),
                                  e.request_id().empty() ? "" : " (request_id ", e.request_id(),
                                  e.request_id().empty() ? "" : ")")},
      {"start", When(e.create_time())},
      {"end", When(e.end_time())},
  };
  if (std::optional<double> d = Between(e.create_time(), e.end_time())) {
    summary.push_back({"duration", Seconds(*d)});
  }
  summary.push_back(
      {"result", absl::StrCat(ExecutionWord(e.state()), e.state_reason().empty() ? "" : ": ",
                              e.state_reason())});
  summary.push_back(
      {"steps", absl::StrCat(e.steps_succeeded(), " succeeded, ", e.steps_failed(), " failed, ",
                             e.steps_skipped(), " skipped of ", e.steps_total())});
  if (!e.halted_step().empty()) summary.push_back({"halted at", e.halted_step()});
  summary.push_back({"report made", When(r.report_time())});
  out += Table(summary, "  ");

  absl::StrAppend(&out, "\nVirtual machines (", r.vms_size(), ")\n");
  std::vector<std::vector<std::string>> vms = {
      {"VM", "GROUP", "RESULT", "RECOVERY POINT", "DATA TIME", "RPO", "RTO", "ERROR"}};
  for (const VmReport& vm : r.vms()) {
    std::optional<std::string> point = v.Point(vm);
    vms.push_back({v.VmLabel(vm.vm_id()), vm.group(), StateWord(vm.result()),
                   point ? ShortPoint(*point) : "-", When(vm.data_time()),
                   vm.has_rpo_seconds() ? Seconds(vm.rpo_seconds()) : "-",
                   vm.has_rto_seconds() ? Seconds(vm.rto_seconds()) : "-", vm.error()});
  }
  out += Table(vms, "  ");

  absl::StrAppend(&out, "\nSteps (", r.steps_size(), ")\n");
  std::vector<std::vector<std::string>> steps = {
      {"STEP", "VM", "STATE", "ATTEMPT", "START", "END", "ERROR OR NOTE"}};
  for (const ExecutionStep& s : r.steps()) {
    std::string state = StateWord(s.state());
    if (s.skip_cause() != dr::v1::SKIP_CAUSE_UNSPECIFIED) {
      absl::StrAppend(&state, " (", SkipWord(s.skip_cause()), ")");
    }
    steps.push_back({StepId(s), s.vm_id().empty() ? "-" : v.VmLabel(s.vm_id()), state,
                     s.attempt() > 0 ? absl::StrCat(s.attempt()) : "-", When(s.start_time()),
                     When(s.end_time()), s.error()});
  }
  out += Table(steps, "  ");

  absl::StrAppend(&out, "\nPrompts (", v.prompts.size(), ")\n");
  for (const ExecutionStep* s : v.prompts) {
    absl::StrAppend(&out, "  ", OneLine(StepId(*s)), ": \"", OneLine(v.PromptMessage(*s)), "\"\n");
    if (s->answered_by().empty()) {
      absl::StrAppend(&out, "    not answered (", StateWord(s->state()), ")\n");
    } else {
      absl::StrAppend(
          &out, "    ", Answer(*s), " by ", OneLine(s->answered_by()), " at ",
          When(s->answer_time()),
          s->answer_comment().empty() ? "" : absl::StrCat(": ", OneLine(s->answer_comment())),
          "\n");
    }
  }

  absl::StrAppend(&out, "\nValidation findings (", e.findings_size(), ")\n");
  if (e.findings_size() > 0) {
    std::vector<std::vector<std::string>> findings = {{"SEVERITY", "FIELD", "REASON", "MESSAGE"}};
    for (const auto& f : e.findings()) {
      findings.push_back({SeverityWord(f.severity()), f.field().empty() ? "-" : f.field(),
                          f.reason(), f.message()});
    }
    out += Table(findings, "  ");
  }
  return out;
}

std::string ReportJson(const ExecutionReport& r) {
  const View v(r);
  const dr::v1::PlanExecution& e = r.execution();
  Json j;
  j["execution"] = e.name();
  j["plan"] = r.plan().name();
  j["plan_version"] = e.plan_version();
  j["plan_hash"] = e.plan_hash();
  j["mode"] = ModeWord(e.mode());
  j["requester"] = StrOrNull(e.requester());
  j["request_id"] = StrOrNull(e.request_id());
  j["state"] = ExecutionWord(e.state());
  j["state_reason"] = StrOrNull(e.state_reason());
  j["halted_step"] = StrOrNull(e.halted_step());
  j["create_time"] = TimeJson(e.create_time());
  j["end_time"] = TimeJson(e.end_time());
  j["duration_seconds"] = OptJson(Between(e.create_time(), e.end_time()));
  j["report_time"] = TimeJson(r.report_time());
  j["steps_total"] = e.steps_total();
  j["steps_succeeded"] = e.steps_succeeded();
  j["steps_failed"] = e.steps_failed();
  j["steps_skipped"] = e.steps_skipped();
  Json vms = Json::array();
  for (const VmReport& vm : r.vms()) {
    std::optional<std::string> point = v.Point(vm);
    Json o;
    o["vm_id"] = vm.vm_id();
    o["display_name"] = StrOrNull(vm.display_name());
    o["group"] = vm.group();
    o["result"] = StateWord(vm.result());
    o["recovery_point"] = point ? Json(*point) : Json(nullptr);
    o["data_time"] = TimeJson(vm.data_time());
    o["rpo_seconds"] = vm.has_rpo_seconds() ? Json(vm.rpo_seconds()) : Json(nullptr);
    o["rto_seconds"] = vm.has_rto_seconds() ? Json(vm.rto_seconds()) : Json(nullptr);
    o["error"] = StrOrNull(vm.error());
    vms.push_back(std::move(o));
  }
  j["vms"] = std::move(vms);
  Json steps = Json::array();
  for (const ExecutionStep& s : r.steps()) {
    Json o;
    o["name"] = s.name();
    o["id"] = StepId(s);
    o["kind"] = KindWord(s.kind());
    o["group"] = s.group();
    o["vm_id"] = StrOrNull(s.vm_id());
    o["state"] = StateWord(s.state());
    o["attempt"] = s.attempt();
    o["critical"] = s.critical();
    o["host"] = StrOrNull(s.host());
    o["job"] = StrOrNull(s.job());
    o["start_time"] = TimeJson(s.start_time());
    o["end_time"] = TimeJson(s.end_time());
    o["duration_seconds"] = OptJson(Between(s.start_time(), s.end_time()));
    // A step that has not ended has no return code yet.
    o["return_code"] = TimeOf(s.end_time()) ? Json(CodeWord(s.return_code())) : Json(nullptr);
    o["error"] = StrOrNull(s.error());
    o["skip_cause"] = s.skip_cause() == dr::v1::SKIP_CAUSE_UNSPECIFIED
                          ? Json(nullptr)
                          : Json(SkipWord(s.skip_cause()));
    if (IsFailover(s)) {
      o["recovery_point"] = s.recovery_point().empty() ? "latest" : s.recovery_point();
      o["data_time"] = TimeJson(s.data_time());
    } else {
      o["recovery_point"] = nullptr;
      o["data_time"] = nullptr;
    }
    steps.push_back(std::move(o));
  }
  j["steps"] = std::move(steps);
  Json prompts = Json::array();
  for (const ExecutionStep* s : v.prompts) {
    Json o;
    o["step"] = s->name();
    o["message"] = v.PromptMessage(*s);
    o["state"] = StateWord(s->state());
    o["answer"] = StrOrNull(Answer(*s));
    o["answered_by"] = StrOrNull(s->answered_by());
    o["answer_time"] = TimeJson(s->answer_time());
    o["answer_comment"] = StrOrNull(s->answer_comment());
    prompts.push_back(std::move(o));
  }
  j["prompts"] = std::move(prompts);
  Json findings = Json::array();
  for (const auto& f : e.findings()) {
    Json o;
    o["severity"] = SeverityWord(f.severity());
    o["field"] = StrOrNull(f.field());
    o["reason"] = f.reason();
    o["message"] = f.message();
    o["return_code"] = CodeWord(f.return_code());
    findings.push_back(std::move(o));
  }
  j["findings"] = std::move(findings);
  // Bad UTF-8 (a display name as Hyper-V gave it) is replaced, not fatal.
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

namespace {

constexpr char kHtmlHead[] = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)";

constexpr char kCss[] = R"(<style>
body { font-family: system-ui, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em;
       color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
h2 { font-size: 1.1em; margin-top: 1.8em; border-bottom: 1px solid #c8c8c8; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9em; margin-top: 0.5em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
thead th { background: #f1f1f1; }
table.summary th { background: #f7f7f7; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, Consolas, monospace; font-size: 0.95em; }
.r-succeeded, .r-succeeded_with_warnings { color: #136c2e; font-weight: 600; }
.r-succeeded_with_warnings { color: #8a5a00; }
.r-failed, .r-halted, .r-error { color: #b00020; font-weight: 600; }
.r-skipped, .r-cancelled, .r-cancelling, .r-warning { color: #8a5a00; font-weight: 600; }
.r-pending, .r-running, .r-waiting, .r-waiting_for_answer { color: #35509a; }
.none { color: #777; font-style: italic; }
footer { margin-top: 2.5em; color: #666; font-size: 0.85em; }
@media print { body { margin: 1cm; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
</style>
</head>
<body>
)";

std::string Cell(const std::string& text, const char* cls = nullptr) {
  return absl::StrCat(cls == nullptr ? "<td>" : absl::StrCat("<td class=\"", cls, "\">"),
                      HtmlEscape(text), "</td>");
}
std::string ResultCell(const std::string& word) {
  return absl::StrCat("<td class=\"r-", HtmlEscape(word), "\">", HtmlEscape(word), "</td>");
}
std::string CodeCell(const std::string& text) {
  return text.empty() || text == "-" ? "<td>-</td>"
                                     : absl::StrCat("<td><code>", HtmlEscape(text), "</code></td>");
}
std::string Head(std::initializer_list<const char*> names) {
  std::string out = "<thead><tr>";
  for (const char* n : names) absl::StrAppend(&out, "<th>", n, "</th>");
  return out + "</tr></thead>\n";
}

}  // namespace

std::string ReportHtml(const ExecutionReport& r) {
  const View v(r);
  const dr::v1::PlanExecution& e = r.execution();
  std::string out = kHtmlHead;
  absl::StrAppend(&out, "Execution report: ", HtmlEscape(e.name()), "</title>\n", kCss);
  absl::StrAppend(&out, "<h1>Recovery plan execution report</h1>\n<p class=\"sub\"><code>",
                  HtmlEscape(e.name()), "</code></p>\n");

  auto row = [&](const char* name, const std::string& cell) {
    absl::StrAppend(&out, "<tr><th>", name, "</th>", cell, "</tr>\n");
  };
  out += "<h2>Summary</h2>\n<table class=\"summary\">\n";
  row("Plan", CodeCell(absl::StrCat(r.plan().name(), " (version ", e.plan_version(), ")")));
  row("Plan hash (SHA-256)", CodeCell(e.plan_hash()));
  if (!r.plan().description().empty()) row("Plan description", Cell(r.plan().description()));
  row("Sites", Cell(absl::StrCat(r.plan().source_site(), " \u2192 ", r.plan().target_site())));
  row("Mode", Cell(ModeWord(e.mode())));
  row("Started by", Cell(e.requester().empty() ? "-" : e.requester()));
  row("Request id", CodeCell(e.request_id()));
  row("Start", Cell(When(e.create_time()), "time"));
  row("End", Cell(When(e.end_time()), "time"));
  std::optional<double> d = Between(e.create_time(), e.end_time());
  row("Duration", Cell(d ? Seconds(*d) : "-", "num"));
  row("Result", ResultCell(ExecutionWord(e.state())));
  if (!e.state_reason().empty()) row("Reason", Cell(e.state_reason()));
  if (!e.halted_step().empty()) row("Halted at", CodeCell(e.halted_step()));
  row("Steps", Cell(absl::StrCat(e.steps_succeeded(), " succeeded, ", e.steps_failed(), " failed, ",
                                 e.steps_skipped(), " skipped of ", e.steps_total())));
  out += "</table>\n";

  absl::StrAppend(&out, "<h2>Virtual machines (", r.vms_size(), ")</h2>\n<table>\n",
                  Head({"VM", "VM id", "Group", "Result", "Recovery point", "Data time",
                        "RPO achieved", "RTO achieved", "Error"}),
                  "<tbody>\n");
  for (const VmReport& vm : r.vms()) {
    std::optional<std::string> point = v.Point(vm);
    absl::StrAppend(&out, "<tr>", Cell(vm.display_name().empty() ? "-" : vm.display_name()),
                    CodeCell(vm.vm_id()), Cell(vm.group()), ResultCell(StateWord(vm.result())),
                    CodeCell(Opt(point)), Cell(When(vm.data_time()), "time"),
                    Cell(vm.has_rpo_seconds() ? Seconds(vm.rpo_seconds()) : "-", "num"),
                    Cell(vm.has_rto_seconds() ? Seconds(vm.rto_seconds()) : "-", "num"),
                    Cell(vm.error()), "</tr>\n");
  }
  out += "</tbody>\n</table>\n";

  absl::StrAppend(&out, "<h2>Steps (", r.steps_size(), ")</h2>\n<table>\n",
                  Head({"Step", "Kind", "VM", "Result", "Attempt", "Start", "End", "Duration",
                        "Job", "Error or note"}),
                  "<tbody>\n");
  for (const ExecutionStep& s : r.steps()) {
    std::string state = StateWord(s.state());
    std::string skip = s.skip_cause() == dr::v1::SKIP_CAUSE_UNSPECIFIED
                           ? ""
                           : absl::StrCat(" (", SkipWord(s.skip_cause()), ")");
    std::optional<double> took = Between(s.start_time(), s.end_time());
    absl::StrAppend(
        &out, "<tr>", CodeCell(StepId(s)), Cell(KindWord(s.kind())),
        Cell(s.vm_id().empty() ? "-" : v.VmLabel(s.vm_id())),
        absl::StrCat("<td class=\"r-", HtmlEscape(state), "\">", HtmlEscape(state + skip), "</td>"),
        Cell(s.attempt() > 0 ? absl::StrCat(s.attempt()) : "-", "num"),
        Cell(When(s.start_time()), "time"), Cell(When(s.end_time()), "time"),
        Cell(took ? Seconds(*took) : "-", "num"), CodeCell(s.job()), Cell(s.error()), "</tr>\n");
  }
  out += "</tbody>\n</table>\n";

  absl::StrAppend(&out, "<h2>Prompts (", v.prompts.size(), ")</h2>\n");
  if (v.prompts.empty()) {
    out += "<p class=\"none\">No prompt in this execution.</p>\n";
  } else {
    absl::StrAppend(&out, "<table>\n",
                    Head({"Step", "Message", "Answer", "Answered by", "Answer time", "Comment"}),
                    "<tbody>\n");
    for (const ExecutionStep* s : v.prompts) {
      const std::string answer = Answer(*s);
      absl::StrAppend(&out, "<tr>", CodeCell(StepId(*s)), Cell(v.PromptMessage(*s)),
                      answer.empty() ? ResultCell(StateWord(s->state())) : Cell(answer),
                      Cell(s->answered_by().empty() ? "-" : s->answered_by()),
                      Cell(When(s->answer_time()), "time"), Cell(s->answer_comment()), "</tr>\n");
    }
    out += "</tbody>\n</table>\n";
  }

  absl::StrAppend(&out, "<h2>Validation findings (", e.findings_size(), ")</h2>\n");
  if (e.findings_size() == 0) {
    out += "<p class=\"none\">Validation found nothing.</p>\n";
  } else {
    absl::StrAppend(&out, "<table>\n", Head({"Severity", "Field", "Reason", "Message"}),
                    "<tbody>\n");
    for (const auto& f : e.findings()) {
      absl::StrAppend(&out, "<tr>", ResultCell(SeverityWord(f.severity())), CodeCell(f.field()),
                      CodeCell(f.reason()), Cell(f.message()), "</tr>\n");
    }
    out += "</tbody>\n</table>\n";
  }
  absl::StrAppend(&out, "<footer>Report made by drserver at ", HtmlEscape(When(r.report_time())),
                  " UTC. Times are UTC; RPO achieved is the failover's start minus the time "
                  "of the data it brought back, RTO achieved the time from the start of the "
                  "execution to the VM passing its readiness check. \"-\": not recorded."
                  "</footer>\n</body>\n</html>\n");
  return out;
}

}  // namespace cli
}  // namespace hvdr
