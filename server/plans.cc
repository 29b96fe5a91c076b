#include "server/plans.h"

#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "plans/plan_check.h"
#include "plans/report.h"
#include "server/names.h"
#include "server/store_status.h"
#include "server/topology.h"

namespace hvdr {
namespace server {

using dr::v1::Plan;

namespace {

constexpr size_t kMaxRequester = 256;

template <typename T>
absl::StatusOr<T> Found(absl::StatusOr<T> r, absl::string_view field, absl::string_view name) {
  if (!r.ok()) return NotFoundAs(ApiStatus(r.status()), field, name);
  return r;
}

RequestKey KeyFor(const std::string& request_id, const char* method, const std::string& what) {
  return RequestKey{request_id, absl::StrCat("dr.v1.PlanService/", method), what};
}

bool ValidMode(dr::v1::ExecutionMode mode) {
  return mode != dr::v1::EXECUTION_MODE_UNSPECIFIED && dr::v1::ExecutionMode_IsValid(mode);
}

}  // namespace

absl::StatusOr<std::string> ParsePlanName(const std::string& field, const std::string& name) {
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (!absl::StartsWith(name, "plans/") || !plans::CheckPlanName(field, name.substr(6)).ok()) {
    return InvalidParameter(field, "MALFORMED_NAME",
                            absl::StrCat("must look like plans/{plan} ({plan}: 1-63 of a-z, 0-9 "
                                         "and '-', starting with a letter), got \"",
                                         name.substr(0, 200), "\""));
  }
  return name.substr(6);
}

absl::StatusOr<std::string> ParseExecutionName(const std::string& field, const std::string& name) {
  const size_t at = name.find("/executions/");
  if (name.empty()) return InvalidParameter(field, "MISSING", "is required");
  if (at == std::string::npos || !ParsePlanName(field, name.substr(0, at)).ok() ||
      !CheckId(field, name.substr(at + 12)).ok()) {
    return InvalidParameter(
        field, "MALFORMED_NAME",
        absl::StrCat("must look like plans/{plan}/executions/{execution}, got \"",
                     name.substr(0, 200), "\""));
  }
  return name.substr(0, at);
}

absl::StatusOr<Plan> PlanLogic::CheckedPlan(const Plan& plan, const std::string& request_id,
                                            const std::string& requester) {
  RETURN_IF_ERROR(CheckRequestId("request_id", request_id));
  RETURN_IF_ERROR(CheckLength("requester", requester, kMaxRequester));
  RETURN_IF_ERROR(ParsePlanName("plan.name", plan.name()).status());
  RETURN_IF_ERROR(plans::FindingsStatus(plans::CheckPlanStructure(plan), "plan."));
  Plan canonical = plans::CanonicalPlan(plan);
  canonical.clear_version();
  canonical.clear_create_time();
  canonical.clear_update_time();
  return canonical;
}

absl::StatusOr<Plan> PlanLogic::CreatePlan(const dr::v1::CreatePlanRequest& r) {
  ASSIGN_OR_RETURN(Plan plan, CheckedPlan(r.plan(), r.request_id(), r.requester()));
  plan.clear_etag();
  ASSIGN_OR_RETURN(Recorded<Plan> stored,
                   Api(store_->CreatePlan(
                       plan, clock_->Now(),
                       KeyFor(r.request_id(), "CreatePlan", plan.name() + plans::PlanHash(plan)))));
  return stored.value;
}

absl::StatusOr<Plan> PlanLogic::UpdatePlan(const dr::v1::UpdatePlanRequest& r) {
  ASSIGN_OR_RETURN(Plan plan, CheckedPlan(r.plan(), r.request_id(), r.requester()));
  const std::string etag = plan.etag();
  plan.clear_etag();
  ASSIGN_OR_RETURN(
      Recorded<Plan> stored,
      Found(store_->UpdatePlan(plan, etag, clock_->Now(),
                               KeyFor(r.request_id(), "UpdatePlan",
                                      absl::StrCat(plan.name(), etag, plans::PlanHash(plan)))),
            "plan.name", plan.name()));
  return stored.value;
}

absl::StatusOr<Plan> PlanLogic::GetPlan(const dr::v1::GetPlanRequest& r) {
  RETURN_IF_ERROR(ParsePlanName("name", r.name()).status());
  return Found(store_->GetPlan(r.name()), "name", r.name());
}

absl::StatusOr<dr::v1::ListPlansResponse> PlanLogic::ListPlans(const dr::v1::ListPlansRequest& r) {
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  ASSIGN_OR_RETURN(Page<Plan> page, Api(store_->ListPlans({r.page_size(), r.page_token()})));
  dr::v1::ListPlansResponse out;
  for (Plan& p : page.items) *out.add_plans() = std::move(p);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::Status PlanLogic::DeletePlan(const dr::v1::DeletePlanRequest& r) {
  RETURN_IF_ERROR(ParsePlanName("name", r.name()).status());
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id()));
  return Found(store_->DeletePlan(r.name(), r.etag(),
                                  KeyFor(r.request_id(), "DeletePlan", r.name() + "/" + r.etag())),
               "name", r.name())
      .status();
}

absl::StatusOr<plans::TopologySnapshot> PlanLogic::Snapshot(const Plan& plan) {
  plans::TopologySnapshot t;
  std::set<std::string> wanted;
  for (const auto& g : plan.groups()) {
    for (const auto& vm : g.vms()) wanted.insert(vm.vm_id());
  }
  // Every copy in the two sites, a page of 1000 at a time.
  for (const std::string& site : {plan.source_site(), plan.target_site()}) {
    VirtualMachineFilter filter;
    filter.site = site;
    PageRequest page{1000, ""};
    do {
      ASSIGN_OR_RETURN(Page<dr::v1::VirtualMachine> got,
                       Api(store_->ListVirtualMachines(filter, page)));
      for (dr::v1::VirtualMachine& vm : got.items) {
        if (wanted.count(vm.vm_id()) == 0) continue;
        t.vms[vm.vm_id()].copies.push_back(std::move(vm));
      }
      page.page_token = got.next_page_token;
    } while (!page.page_token.empty());
  }
  for (const std::string& site : {plan.source_site(), plan.target_site()}) {
    PageRequest page{1000, ""};
    do {
      ASSIGN_OR_RETURN(Page<dr::v1::Host> got, Api(store_->ListHosts(site, page)));
      for (dr::v1::Host& h : got.items) t.hosts[h.name()] = std::move(h);
      page.page_token = got.next_page_token;
    } while (!page.page_token.empty());
  }
  const absl::Time now = clock_->Now();
  for (const auto& g : plan.groups()) {
    for (const auto& vm : g.vms()) {
      auto it = t.vms.find(vm.vm_id());
      if (it == t.vms.end()) continue;
      const dr::v1::VirtualMachine* target = nullptr;
      for (const auto& c : it->second.copies) {
        if (c.site() == plan.target_site()) target = &c;
      }
      if (target == nullptr) continue;
      if (vm.recovery_point_policy() ==
          dr::v1::RECOVERY_POINT_POLICY_LATEST_APPLICATION_CONSISTENT) {
        ASSIGN_OR_RETURN(Page<dr::v1::RecoveryPoint> points,
                         Api(store_->ListRecoveryPoints(target->name(), {1000, ""})));
        it->second.recovery_points = std::move(points.items);
      }
      // The interval matters only when the data is older than 3 x the
      // shortest interval Hyper-V allows (30 s): one read per VM at risk,
      // not per VM.
      if (target->has_last_replication_time() &&
          now - FromProto(target->last_replication_time()) > absl::Seconds(90)) {
        ASSIGN_OR_RETURN(std::vector<dr::v1::ReplicationRelationship> rels,
                         Api(store_->ListReplicationRelationships(target->name())));
        if (!rels.empty()) {
          it->second.replication_interval_seconds = rels[0].replication_interval_seconds();
        }
      }
    }
  }
  ASSIGN_OR_RETURN(std::vector<dr::v1::PlanExecution> active, Api(store_->ListActiveExecutions()));
  for (const dr::v1::PlanExecution& e : active) {
    ASSIGN_OR_RETURN(Plan ran, Api(store_->GetExecutionPlan(e.name())));
    for (const auto& g : ran.groups()) {
      for (const auto& vm : g.vms()) {
        if (wanted.count(vm.vm_id()) > 0) t.vm_execution.emplace(vm.vm_id(), e.name());
      }
    }
  }
  if (!options_.hooks_dir.empty()) {
    t.hooks_configured = true;
    auto hook = [&](const dr::v1::PlanStep& s) {
      if (!s.has_hook()) return;
      const std::string path = absl::StrCat(options_.hooks_dir, "/", s.hook().executable());
      struct stat st;
      if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
      t.hooks[s.hook().executable()] = access(path.c_str(), X_OK) == 0;
    };
    for (const auto& g : plan.groups()) {
      for (const auto& s : g.before()) hook(s);
      for (const auto& s : g.after()) hook(s);
      for (const auto& vm : g.vms()) {
        for (const auto& s : vm.before()) hook(s);
        for (const auto& s : vm.after()) hook(s);
      }
    }
  }
  return t;
}

absl::StatusOr<dr::v1::ValidatePlanResponse> PlanLogic::ValidatePlan(
    const dr::v1::ValidatePlanRequest& r) {
  RETURN_IF_ERROR(ParsePlanName("name", r.name()).status());
  if (!ValidMode(r.mode())) {
    return InvalidParameter("mode", "MISSING",
                            "give the mode to validate for: EXECUTION_MODE_TEST, _PLANNED, ...");
  }
  ASSIGN_OR_RETURN(Plan plan, Found(store_->GetPlan(r.name()), "name", r.name()));
  dr::v1::ValidatePlanResponse out;
  out.set_plan_version(plan.version());
  for (auto& f : plans::CheckPlanStructure(plan)) *out.add_findings() = std::move(f);
  if (out.findings_size() > 0) return out;
  ASSIGN_OR_RETURN(plans::TopologySnapshot topology, Snapshot(plan));
  for (auto& f : plans::ValidateAgainstTopology(plan, r.mode(), topology, clock_->Now())) {
    *out.add_findings() = std::move(f);
  }
  return out;
}

absl::StatusOr<dr::v1::PlanExecution> PlanLogic::GetPlanExecution(
    const dr::v1::GetPlanExecutionRequest& r) {
  RETURN_IF_ERROR(ParseExecutionName("name", r.name()).status());
  return Found(store_->GetExecution(r.name()), "name", r.name());
}

absl::StatusOr<dr::v1::ListPlanExecutionsResponse> PlanLogic::ListPlanExecutions(
    const dr::v1::ListPlanExecutionsRequest& r) {
  RETURN_IF_ERROR(ParsePlanName("parent", r.parent()).status());
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  ASSIGN_OR_RETURN(auto page,
                   Found(store_->ListExecutions(r.parent(), {r.page_size(), r.page_token()}),
                         "parent", r.parent()));
  dr::v1::ListPlanExecutionsResponse out;
  for (auto& e : page.items) *out.add_plan_executions() = std::move(e);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::StatusOr<dr::v1::ListExecutionStepsResponse> PlanLogic::ListExecutionSteps(
    const dr::v1::ListExecutionStepsRequest& r) {
  RETURN_IF_ERROR(ParseExecutionName("parent", r.parent()).status());
  RETURN_IF_ERROR(CheckPageSize(r.page_size()));
  ASSIGN_OR_RETURN(auto page,
                   Found(store_->ListExecutionSteps(r.parent(), {r.page_size(), r.page_token()}),
                         "parent", r.parent()));
  dr::v1::ListExecutionStepsResponse out;
  for (auto& s : page.items) *out.add_execution_steps() = std::move(s);
  out.set_next_page_token(page.next_page_token);
  return out;
}

absl::StatusOr<dr::v1::ExecutionReport> PlanLogic::GetExecutionReport(
    const dr::v1::GetExecutionReportRequest& r) {
  RETURN_IF_ERROR(ParseExecutionName("name", r.name()).status());
  // Steps first: the execution read after them is at least as new.
  ASSIGN_OR_RETURN(std::vector<dr::v1::ExecutionStep> steps,
                   Found(store_->GetExecutionSteps(r.name()), "name", r.name()));
  ASSIGN_OR_RETURN(dr::v1::PlanExecution execution,
                   Found(store_->GetExecution(r.name()), "name", r.name()));
  ASSIGN_OR_RETURN(Plan plan, Found(store_->GetExecutionPlan(r.name()), "name", r.name()));
  std::set<std::string> wanted;
  for (const auto& g : plan.groups()) {
    for (const auto& vm : g.vms()) wanted.insert(vm.vm_id());
  }
  plans::ReportFacts facts;
  for (const std::string& site : {plan.target_site(), plan.source_site()}) {
    if (site.empty()) continue;
    VirtualMachineFilter filter;
    filter.site = site;
    PageRequest page{1000, ""};
    do {
      ASSIGN_OR_RETURN(Page<dr::v1::VirtualMachine> got,
                       Api(store_->ListVirtualMachines(filter, page)));
      for (const dr::v1::VirtualMachine& vm : got.items) {
        // A test VM shares nothing but its name's prefix with the VM.
        if (wanted.count(vm.vm_id()) == 0 || vm.display_name().empty() ||
            vm.replication_mode() == dr::v1::REPLICATION_MODE_TEST_REPLICA) {
          continue;
        }
        facts.display_names.emplace(vm.vm_id(), vm.display_name());
      }
      page.page_token = got.next_page_token;
    } while (!page.page_token.empty());
  }
  return plans::BuildExecutionReport(plan, execution, steps, facts, clock_->Now());
}

absl::StatusOr<dr::v1::WatchPlanExecutionResponse> PlanLogic::WatchSnapshot(
    const std::string& name) {
  RETURN_IF_ERROR(ParseExecutionName("name", name).status());
  dr::v1::WatchPlanExecutionResponse out;
  ASSIGN_OR_RETURN(*out.mutable_execution(), Found(store_->GetExecution(name), "name", name));
  ASSIGN_OR_RETURN(std::vector<dr::v1::ExecutionStep> steps,
                   Found(store_->GetExecutionSteps(name), "name", name));
  for (auto& s : steps) *out.add_steps() = std::move(s);
  return out;
}

}  // namespace server
}  // namespace hvdr
