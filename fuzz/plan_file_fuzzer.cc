// The plan file (plans/plan_file.h) and everything a plan goes through
// before and while it runs: the structural checks, the canonical form, the
// step graph of every mode and the scheduler. The input is a plan in its
// text format. Properties: a refused file or plan names a field; a sound
// plan stays sound (and hashes the same) once canonical; its step graph is
// a DAG every step of which the scheduler runs exactly once, in an order
// that respects every edge, without exceeding its limits; a plan that
// parses prints back to the same plan.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fuzz/properties.h"
#include "plans/plan_check.h"
#include "plans/plan_file.h"
#include "plans/scheduler.h"
#include "plans/step_graph.h"

namespace {

using hvdr::plans::Scheduler;
using hvdr::plans::StepGraph;

void RunToTheEnd(const dr::v1::Plan& plan, dr::v1::ExecutionMode mode) {
  std::map<std::string, hvdr::plans::VmPlacement> placement;
  int n = 0;
  for (const auto& g : plan.groups()) {
    for (const auto& vm : g.vms()) {
      placement[vm.vm_id()] = {"hosts/p" + std::to_string(n % 3),
                               "hosts/r" + std::to_string(n % 2)};
      ++n;
    }
  }
  const StepGraph g = hvdr::plans::BuildStepGraph(plan, mode, placement);
  FUZZ_CHECK(g.topo.size() == g.steps.size());  // a DAG
  Scheduler sched(&g, {2, 3});
  std::vector<int> order(g.steps.size(), -1);
  int position = 0;
  // Alternate successes and failures by step index, ending steps in the
  // order they started.
  std::vector<int> running;
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    for (int s : sched.TakeStartable()) {
      FUZZ_CHECK(order[s] == -1);  // never started twice
      order[s] = position++;
      running.push_back(s);
    }
    FUZZ_CHECK(sched.RunningOperations() <= 3);
    if (running.empty()) break;
    const int s = running.front();
    running.erase(running.begin());
    sched.Finish(s, s % 5 != 4);
    if (sched.State() == dr::v1::EXECUTION_STATE_HALTED && running.empty()) {
      FUZZ_CHECK(sched
                     .Resume(dr::v1::ResumePlanExecutionRequest::ACTION_SKIP,
                             dr::v1::ResumePlanExecutionRequest::SCOPE_STEP)
                     .ok());
    }
  }
  FUZZ_CHECK(sched.Terminal());
  for (size_t s = 0; s < g.steps.size(); ++s) {
    if (g.steps[s].gate) {
      // A gate opens (never starts) once everything before it ended.
      FUZZ_CHECK(sched.status(static_cast<int>(s)).state == dr::v1::STEP_STATE_SUCCEEDED ||
                 sched.status(static_cast<int>(s)).state == dr::v1::STEP_STATE_SKIPPED);
      continue;
    }
    if (order[s] < 0) {
      FUZZ_CHECK(sched.status(static_cast<int>(s)).state == dr::v1::STEP_STATE_SKIPPED);
      continue;
    }
    for (const auto& [p, edge] : g.steps[s].after) {
      // What it waited for ran before it, or was skipped (a group boundary
      // waits for the end of skipped VMs too).
      if (g.steps[p].gate) {
        FUZZ_CHECK(sched.status(p).state == dr::v1::STEP_STATE_SUCCEEDED);
      } else if (order[p] < 0) {
        FUZZ_CHECK(sched.status(p).state == dr::v1::STEP_STATE_SKIPPED);
      } else {
        FUZZ_CHECK(order[p] < order[s]);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 << 10) return 0;
  absl::StatusOr<dr::v1::Plan> plan =
      hvdr::plans::ParsePlanText(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  if (!plan.ok()) {
    hvdr::fuzz::CheckRefusal(plan.status(), "plan");
    return 0;
  }
  absl::StatusOr<dr::v1::Plan> again =
      hvdr::plans::ParsePlanText(hvdr::plans::PlanText(*plan), "x");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(hvdr::plans::PlanHash(*again) == hvdr::plans::PlanHash(*plan));
  const std::vector<dr::v1::Finding> findings = hvdr::plans::CheckPlanStructure(*plan);
  const absl::Status status = hvdr::plans::FindingsStatus(findings, "plan.");
  if (!findings.empty()) {
    hvdr::fuzz::CheckRefusal(status);
    for (const auto& f : findings) FUZZ_CHECK(!f.reason().empty() && !f.message().empty());
    return 0;
  }
  FUZZ_CHECK(status.ok());
  const dr::v1::Plan canonical = hvdr::plans::CanonicalPlan(*plan);
  FUZZ_CHECK(hvdr::plans::CheckPlanStructure(canonical).empty());
  FUZZ_CHECK(hvdr::plans::PlanHash(hvdr::plans::CanonicalPlan(canonical)) ==
             hvdr::plans::PlanHash(canonical));
  int vms = 0;
  for (const auto& g : canonical.groups()) vms += g.vms_size();
  if (vms > 200) return 0;  // keep each run quick; big plans are the tests' and bench's
  for (int m = dr::v1::EXECUTION_MODE_TEST; m <= dr::v1::EXECUTION_MODE_REVERT; ++m) {
    RunToTheEnd(canonical, static_cast<dr::v1::ExecutionMode>(m));
  }
  return 0;
}
