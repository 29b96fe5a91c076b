#include "plans/report.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"

namespace hvdr {
namespace plans {

using dr::v1::ExecutionStep;
using dr::v1::VmReport;

namespace {

bool Started(const ExecutionStep& s) {
  return s.state() != dr::v1::STEP_STATE_PENDING && s.state() != dr::v1::STEP_STATE_UNSPECIFIED;
}

bool Done(const ExecutionStep& s) {
  return s.state() == dr::v1::STEP_STATE_SUCCEEDED || s.state() == dr::v1::STEP_STATE_FAILED ||
         s.state() == dr::v1::STEP_STATE_SKIPPED;
}

std::string StepId(const ExecutionStep& s) {
  const size_t at = s.name().rfind("/steps/");
  return at == std::string::npos ? s.name() : s.name().substr(at + 7);
}

std::string SkipReason(const ExecutionStep& s) {
  switch (s.skip_cause()) {
    case dr::v1::SKIP_CAUSE_UPSTREAM_FAILED:
      return absl::StrCat(StepId(s), " was skipped: a step it waits for failed");
    case dr::v1::SKIP_CAUSE_CANCELLED:
      return absl::StrCat(StepId(s), " was skipped: the execution was cancelled");
    case dr::v1::SKIP_CAUSE_OPERATOR: return absl::StrCat(StepId(s), " was skipped by an operator");
    default: return absl::StrCat(StepId(s), " was skipped");
  }
}

// The report of one VM from its steps (in order).
VmReport ReportVm(const std::string& vm_id, const std::string& group,
                  const std::vector<const ExecutionStep*>& steps, const ReportFacts& facts,
                  const dr::v1::PlanExecution& execution) {
  const absl::Time created = FromProto(execution.create_time());
  VmReport r;
  r.set_vm_id(vm_id);
  r.set_group(group);
  if (auto it = facts.display_names.find(vm_id); it != facts.display_names.end()) {
    r.set_display_name(it->second);
  }
  const ExecutionStep* failed = nullptr;
  const ExecutionStep* not_done_skip = nullptr;  // skipped for a failure upstream or a cancel
  const ExecutionStep* failover = nullptr;
  const ExecutionStep* ready = nullptr;
  std::optional<absl::Time> last_succeeded;
  bool any_started = false, all_done = true, all_skipped = true;
  for (const ExecutionStep* s : steps) {
    any_started = any_started || Started(*s);
    all_done = all_done && Done(*s);
    all_skipped = all_skipped && s->state() == dr::v1::STEP_STATE_SKIPPED;
    if (s->state() == dr::v1::STEP_STATE_FAILED && failed == nullptr) failed = s;
    if (s->state() == dr::v1::STEP_STATE_SKIPPED && not_done_skip == nullptr &&
        s->skip_cause() != dr::v1::SKIP_CAUSE_OPERATOR) {
      not_done_skip = s;
    }
    if ((s->kind() == dr::v1::STEP_KIND_FAILOVER || s->kind() == dr::v1::STEP_KIND_TEST_FAILOVER) &&
        failover == nullptr) {
      failover = s;
    }
    if (s->state() == dr::v1::STEP_STATE_SUCCEEDED && s->has_end_time()) {
      const absl::Time end = FromProto(s->end_time());
      if (!last_succeeded.has_value() || end > *last_succeeded) last_succeeded = end;
      if (s->kind() == dr::v1::STEP_KIND_READINESS) ready = s;
    }
  }
  if (failed != nullptr) {
    r.set_result(dr::v1::STEP_STATE_FAILED);
    r.set_error(failed->error().empty()
                    ? absl::StrCat(StepId(*failed), " failed (",
                                   dr::v1::ReturnCode_Name(failed->return_code()), ")")
                    : failed->error());
  } else if (!all_done) {
    r.set_result(any_started ? dr::v1::STEP_STATE_RUNNING : dr::v1::STEP_STATE_PENDING);
  } else if (steps.empty()) {
    // Nothing of it ran: validation found errors, or validate_only.
    const bool ended = execution.state() == dr::v1::EXECUTION_STATE_SUCCEEDED ||
                       execution.state() == dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS ||
                       execution.state() == dr::v1::EXECUTION_STATE_FAILED ||
                       execution.state() == dr::v1::EXECUTION_STATE_CANCELLED;
    r.set_result(ended ? dr::v1::STEP_STATE_SKIPPED : dr::v1::STEP_STATE_PENDING);
    if (ended) {
      r.set_error(execution.state_reason().empty() ? "no step of this VM ran"
                                                   : execution.state_reason());
    }
  } else if (all_skipped || not_done_skip != nullptr) {
    r.set_result(dr::v1::STEP_STATE_SKIPPED);
    r.set_error(SkipReason(not_done_skip != nullptr ? *not_done_skip : *steps.front()));
  } else {
    r.set_result(dr::v1::STEP_STATE_SUCCEEDED);
  }
  if (failover != nullptr) {
    r.set_recovery_point(failover->recovery_point());
    if (failover->has_data_time()) *r.mutable_data_time() = failover->data_time();
    if (failover->has_data_time() && failover->has_start_time()) {
      r.set_rpo_seconds(absl::ToDoubleSeconds(FromProto(failover->start_time()) -
                                              FromProto(failover->data_time())));
    }
  }
  // A VM that passed its readiness check was up then, whatever failed
  // after (e.g. PLANNED's reverse); without one, its last step counts only
  // when all went well.
  std::optional<absl::Time> up;
  if (ready != nullptr) {
    up = FromProto(ready->end_time());
  } else if (r.result() == dr::v1::STEP_STATE_SUCCEEDED) {
    up = last_succeeded;
  }
  if (up.has_value() && created != absl::InfinitePast()) {
    r.set_rto_seconds(absl::ToDoubleSeconds(*up - created));
  }
  return r;
}

}  // namespace

dr::v1::ExecutionReport BuildExecutionReport(const dr::v1::Plan& plan,
                                             const dr::v1::PlanExecution& execution,
                                             const std::vector<ExecutionStep>& steps,
                                             const ReportFacts& facts, absl::Time now) {
  dr::v1::ExecutionReport out;
  *out.mutable_execution() = execution;
  *out.mutable_plan() = plan;
  std::map<std::string, std::vector<const ExecutionStep*>> by_vm;
  for (const ExecutionStep& s : steps) {
    if (!s.vm_id().empty()) by_vm[s.vm_id()].push_back(&s);
    *out.add_steps() = s;
  }
  static const std::vector<const ExecutionStep*> kNone;
  for (const auto& g : plan.groups()) {
    for (const auto& vm : g.vms()) {
      auto it = by_vm.find(vm.vm_id());
      *out.add_vms() =
          ReportVm(vm.vm_id(), g.id(), it == by_vm.end() ? kNone : it->second, facts, execution);
    }
  }
  ToProto(now, out.mutable_report_time());
  return out;
}

}  // namespace plans
}  // namespace hvdr
