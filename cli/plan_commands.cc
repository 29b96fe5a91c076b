#include "cli/plan_commands.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/client.h"
#include "cli/render.h"
#include "plans/plan_file.h"

namespace hvdr {
namespace cli {

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundParameter("file", "FILE_NOT_FOUND",
                             absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Version(const dr::v1::Plan& p) {
  return absl::StrCat(p.name(), " version ", p.version(), " (", p.groups_size(), " group",
                      p.groups_size() == 1 ? "" : "s", ")");
}

int VmCount(const dr::v1::Plan& p) {
  int n = 0;
  for (const auto& g : p.groups()) n += g.vms_size();
  return n;
}

}  // namespace

std::string PlanArg(const std::string& s) {
  return absl::StartsWith(s, "plans/") ? s : absl::StrCat("plans/", s);
}

int PlansApply(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 2 || !a.Has("file")) return Usage(ctx, "plans apply takes -f FILE");
  const std::string path = a.Get("file");
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return Fail(ctx, text.status());
  absl::StatusOr<dr::v1::Plan> plan = plans::ParsePlanText(*text, path);
  if (!plan.ok()) return Fail(ctx, plan.status());
  if (plan->name().empty()) {
    return Fail(ctx,
                InvalidParameter("plan.name", "MISSING",
                                 absl::StrCat(path, " names no plan: add name: \"plans/ID\"")));
  }
  const std::string request_id = a.Has("request-id") ? a.Get("request-id") : NewRequestId();
  dr::v1::GetPlanRequest get;
  get.set_name(plan->name());
  absl::StatusOr<dr::v1::Plan> stored = ctx.client->GetPlan(get);
  absl::StatusOr<dr::v1::Plan> written;
  const char* verb = "created";
  if (stored.ok()) {
    dr::v1::UpdatePlanRequest r;
    *r.mutable_plan() = *plan;
    r.mutable_plan()->set_etag(stored->etag());
    r.set_request_id(request_id);
    r.set_requester(ctx.requester);
    written = ctx.client->UpdatePlan(r);
    verb = "updated";
  } else if (stored.status().code() == absl::StatusCode::kNotFound) {
    dr::v1::CreatePlanRequest r;
    *r.mutable_plan() = *plan;
    r.set_request_id(request_id);
    r.set_requester(ctx.requester);
    written = ctx.client->CreatePlan(r);
  } else {
    return Fail(ctx, stored.status());
  }
  if (!written.ok()) return Fail(ctx, written.status());
  if (ctx.json) {
    *ctx.out << ToJson(*written) << std::endl;
  } else {
    *ctx.out << Version(*written) << " " << verb << " from " << path << ": " << VmCount(*written)
             << " VMs, " << written->source_site() << " -> " << written->target_site() << std::endl;
  }
  return kOk;
}

int PlansList(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 2) return Usage(ctx, "plans list takes no arguments");
  dr::v1::ListPlansResponse all;
  dr::v1::ListPlansRequest r;
  r.set_page_size(1000);
  do {
    absl::StatusOr<dr::v1::ListPlansResponse> page = ctx.client->ListPlans(r);
    if (!page.ok()) return Fail(ctx, page.status());
    for (const auto& p : page->plans()) *all.add_plans() = p;
    r.set_page_token(page->next_page_token());
  } while (!r.page_token().empty());
  if (ctx.json) {
    *ctx.out << ToJson(all) << std::endl;
    return kOk;
  }
  if (all.plans().empty()) {
    *ctx.out << "no plans" << std::endl;
    return kOk;
  }
  for (const auto& p : all.plans()) {
    const int vms = VmCount(p);
    *ctx.out << p.name() << "  v" << p.version() << "  " << p.source_site() << " -> "
             << p.target_site() << "  " << p.groups_size() << " group"
             << (p.groups_size() == 1 ? "" : "s") << ", " << vms << " VM" << (vms == 1 ? "" : "s")
             << (p.description().empty() ? "" : "  " + p.description()) << std::endl;
  }
  return kOk;
}

int PlansShow(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "plans show takes PLAN");
  dr::v1::GetPlanRequest r;
  r.set_name(PlanArg(a.positional[2]));
  absl::StatusOr<dr::v1::Plan> p = ctx.client->GetPlan(r);
  if (!p.ok()) return Fail(ctx, p.status());
  if (ctx.json) {
    *ctx.out << ToJson(*p) << std::endl;
  } else {
    *ctx.out << "# " << Version(*p) << ", etag " << p->etag() << "\n" << plans::PlanText(*p);
  }
  return kOk;
}

int PlansDelete(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "plans delete takes PLAN");
  dr::v1::DeletePlanRequest r;
  r.set_name(PlanArg(a.positional[2]));
  // With --etag (as `plans show` prints it) the delete is refused if the
  // plan changed since it was read.
  if (a.Has("etag")) {
    if (a.Get("etag").empty()) return Usage(ctx, "--etag takes the etag the plan was read with");
    r.set_etag(a.Get("etag"));
  }
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  absl::Status s = ctx.client->DeletePlan(r);
  if (!s.ok()) return Fail(ctx, s);
  if (ctx.json) {
    *ctx.out << "{\"deleted\": \"" << r.name() << "\"}" << std::endl;
  } else {
    *ctx.out << r.name() << " deleted" << std::endl;
  }
  return kOk;
}

int PlansValidate(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3 || !a.Has("mode")) {
    return Usage(ctx, "plans validate takes PLAN --mode MODE");
  }
  absl::StatusOr<dr::v1::ExecutionMode> mode = ParseEnum<dr::v1::ExecutionMode>(
      "--mode", "EXECUTION_MODE_", a.Get("mode"), dr::v1::ExecutionMode_Parse);
  if (!mode.ok()) return Fail(ctx, mode.status());
  dr::v1::ValidatePlanRequest r;
  r.set_name(PlanArg(a.positional[2]));
  r.set_mode(*mode);
  absl::StatusOr<dr::v1::ValidatePlanResponse> v = ctx.client->ValidatePlan(r);
  if (!v.ok()) return Fail(ctx, v.status());
  int errors = 0;
  for (const auto& f : v->findings()) errors += f.severity() == dr::v1::SEVERITY_ERROR;
  if (ctx.json) {
    *ctx.out << ToJson(*v) << std::endl;
  } else {
    for (const auto& f : v->findings()) {
      *ctx.out << Short(dr::v1::Severity_Name(f.severity()), 9) << "  " << f.field() << "  "
               << f.reason() << ": " << f.message() << std::endl;
    }
    *ctx.out << r.name() << " v" << v->plan_version() << " for "
             << Short(dr::v1::ExecutionMode_Name(*mode), 15) << ": " << errors << " error"
             << (errors == 1 ? "" : "s") << ", " << v->findings_size() - errors << " warning"
             << (v->findings_size() - errors == 1 ? "" : "s") << std::endl;
  }
  return errors > 0 ? kRefused : kOk;
}

}  // namespace cli
}  // namespace hvdr
