#include "plans/step_graph.h"

#include <algorithm>
#include <deque>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace hvdr {
namespace plans {

using dr::v1::ExecutionMode;
using dr::v1::PlanStep;
using dr::v1::StepKind;

namespace {

std::string KindId(StepKind kind) {
  std::string name = dr::v1::StepKind_Name(kind).substr(sizeof("STEP_KIND_") - 1);
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"_", "-"}});
}

bool RunsIn(const PlanStep& s, ExecutionMode mode) {
  if (s.modes().empty()) return true;
  return std::find(s.modes().begin(), s.modes().end(), mode) != s.modes().end();
}

StepKind KindOf(const PlanStep& s) {
  switch (s.action_case()) {
    case PlanStep::kPrompt: return dr::v1::STEP_KIND_PROMPT;
    case PlanStep::kWait: return dr::v1::STEP_KIND_WAIT;
    case PlanStep::kHook: return dr::v1::STEP_KIND_HOOK;
    case PlanStep::ACTION_NOT_SET: break;
  }
  return dr::v1::STEP_KIND_UNSPECIFIED;
}

// The mode's operations on one VM, each with the copy it runs on.
std::vector<std::pair<StepKind, bool /*on primary*/>> Operations(ExecutionMode mode,
                                                                 const dr::v1::PlanVm& vm) {
  const bool power_on = vm.startup_action() != dr::v1::STARTUP_ACTION_LEAVE_OFF;
  const bool reip = vm.network_settings_size() > 0;
  std::vector<std::pair<StepKind, bool>> ops;
  auto failover_tail = [&] {
    if (reip) ops.emplace_back(dr::v1::STEP_KIND_SET_NETWORK, false);
    if (power_on) {
      ops.emplace_back(dr::v1::STEP_KIND_START, false);
      ops.emplace_back(dr::v1::STEP_KIND_READINESS, false);
    }
  };
  switch (mode) {
    case dr::v1::EXECUTION_MODE_TEST:
      ops.emplace_back(dr::v1::STEP_KIND_TEST_FAILOVER, false);
      if (power_on) {
        ops.emplace_back(dr::v1::STEP_KIND_START, false);
        ops.emplace_back(dr::v1::STEP_KIND_READINESS, false);
      }
      break;
    case dr::v1::EXECUTION_MODE_CLEANUP_TEST:
      ops.emplace_back(dr::v1::STEP_KIND_CLEANUP_TEST, false);
      break;
    case dr::v1::EXECUTION_MODE_PLANNED:
      ops.emplace_back(dr::v1::STEP_KIND_STOP_PRIMARY, true);
      ops.emplace_back(dr::v1::STEP_KIND_PREPARE, true);
      ops.emplace_back(dr::v1::STEP_KIND_FAILOVER, false);
      failover_tail();
      ops.emplace_back(dr::v1::STEP_KIND_REVERSE, false);
      break;
    case dr::v1::EXECUTION_MODE_UNPLANNED:
      ops.emplace_back(dr::v1::STEP_KIND_FAILOVER, false);
      failover_tail();
      break;
    case dr::v1::EXECUTION_MODE_COMMIT: ops.emplace_back(dr::v1::STEP_KIND_COMMIT, false); break;
    case dr::v1::EXECUTION_MODE_REVERT:
      ops.emplace_back(dr::v1::STEP_KIND_STOP_REPLICA, false);
      ops.emplace_back(dr::v1::STEP_KIND_REVERT, false);
      break;
    default: break;
  }
  return ops;
}

class Builder {
 public:
  Builder(ExecutionMode mode, StepGraph* g) : mode_(mode), g_(g) {}

  int Add(Step s) {
    const int i = static_cast<int>(g_->steps.size());
    g_->by_id.emplace(s.id, i);
    g_->steps.push_back(std::move(s));
    return i;
  }
  void Link(int from, int to, Edge e) {
    g_->steps[to].after.emplace_back(from, e);
    g_->steps[from].before.emplace_back(to, e);
  }
  // Appends the plan steps of `list` that run in this mode as a chain
  // after `prev` (each of `prev` with edge `e` for the first); returns the
  // chain's last step, or nothing added: `prev` unchanged.
  std::vector<int> Chain(const google::protobuf::RepeatedPtrField<PlanStep>& list,
                         const std::string& prefix, int group, int vm, bool vm_critical,
                         std::vector<int> prev, Edge e) {
    for (const PlanStep& ps : list) {
      if (!RunsIn(ps, mode_)) continue;
      Step s;
      s.id = absl::StrCat(prefix, ps.id());
      s.kind = KindOf(ps);
      s.group = group;
      s.vm = vm;
      s.plan_step = ps;
      s.continue_on_error = ps.on_error() == dr::v1::ERROR_MODE_CONTINUE;
      // A VM's step fails its VM (halting only a critical one's); a group's
      // step under ERROR_MODE_STOP halts the execution.
      s.critical = !s.continue_on_error && (vm < 0 || vm_critical);
      const int i = Add(std::move(s));
      for (int p : prev) Link(p, i, e);
      if (vm >= 0) g_->vms[vm].steps.push_back(i);
      prev = {i};
      e = Edge::kSuccess;
    }
    return prev;
  }

  ExecutionMode mode_;
  StepGraph* g_;
};

}  // namespace

bool IsOperation(StepKind kind) {
  switch (kind) {
    case dr::v1::STEP_KIND_STOP_PRIMARY:
    case dr::v1::STEP_KIND_STOP_REPLICA:
    case dr::v1::STEP_KIND_PREPARE:
    case dr::v1::STEP_KIND_FAILOVER:
    case dr::v1::STEP_KIND_TEST_FAILOVER:
    case dr::v1::STEP_KIND_SET_NETWORK:
    case dr::v1::STEP_KIND_START:
    case dr::v1::STEP_KIND_REVERSE:
    case dr::v1::STEP_KIND_COMMIT:
    case dr::v1::STEP_KIND_REVERT:
    case dr::v1::STEP_KIND_CLEANUP_TEST: return true;
    default: return false;
  }
}

StepGraph BuildStepGraph(const dr::v1::Plan& plan, ExecutionMode mode,
                         const std::map<std::string, VmPlacement>& placement,
                         const dr::v1::CommitPolicy& policy) {
  StepGraph g;
  // Reserved: a Step holds a PlanStep, whose move may throw, so a growing
  // vector would copy every Step (30,000 for a 10,000-VM plan) at each
  // reallocation. An upper bound: every plan step, every operation a VM
  // can have, a gate per group, and the commit policy's steps.
  size_t bound = 1;
  size_t vm_count = 0;
  for (const dr::v1::PlanGroup& group : plan.groups()) {
    bound += group.before_size() + group.after_size() + 1;
    for (const dr::v1::PlanVm& vm : group.vms()) {
      bound += vm.before_size() + vm.after_size() + Operations(mode, vm).size() + 2;
      ++vm_count;
    }
  }
  g.steps.reserve(bound);
  g.vms.reserve(vm_count);
  Builder b(mode, &g);
  // The steps the next group waits for (with Edge::kEnd).
  std::vector<int> previous_group_end;
  for (int gi = 0; gi < plan.groups_size(); ++gi) {
    const dr::v1::PlanGroup& group = plan.groups(gi);
    const std::string gp = absl::StrCat(group.id(), ".");
    std::vector<int> entry =
        b.Chain(group.before(), gp + "before.", gi, -1, false, previous_group_end, Edge::kEnd);
    const bool has_before = entry != previous_group_end;
    // Each VM's chain; the dependencies are linked once all chains exist.
    std::map<std::string, int> vm_index;  // GUID -> StepGraph::vms index
    std::vector<int> ends;
    for (int vi = 0; vi < group.vms_size(); ++vi) {
      const dr::v1::PlanVm& vm = group.vms(vi);
      const int v = static_cast<int>(g.vms.size());
      g.vms.push_back(VmEntry{vm.vm_id(), gi, vi, {}});
      vm_index.emplace(vm.vm_id(), v);
      const std::string vp = absl::StrCat(gp, vm.vm_id(), ".");
      const Edge first_edge = has_before ? Edge::kSuccess : Edge::kEnd;
      std::vector<int> prev =
          b.Chain(vm.before(), vp + "before.", gi, v, vm.critical(), entry, first_edge);
      Edge e = prev == entry ? first_edge : Edge::kSuccess;
      auto where = placement.find(vm.vm_id());
      for (const auto& [kind, on_primary] : Operations(mode, vm)) {
        Step s;
        s.id = vp + KindId(kind);
        s.kind = kind;
        s.group = gi;
        s.vm = v;
        s.critical = vm.critical();
        if (IsOperation(kind)) {
          std::string host;
          if (where != placement.end())
            host = on_primary ? where->second.primary_host : where->second.replica_host;
          s.host = host.empty() ? "hosts/-" : host;
        }
        const int i = b.Add(std::move(s));
        for (int p : prev) b.Link(p, i, e);
        g.vms[v].steps.push_back(i);
        prev = {i};
        e = Edge::kSuccess;
      }
      prev = b.Chain(vm.after(), vp + "after.", gi, v, vm.critical(), prev, e);
      // A VM whose mode has nothing to do (every step filtered out) adds no
      // step and so no end.
      if (!g.vms[v].steps.empty()) ends.push_back(g.vms[v].steps.back());
    }
    for (int vi = 0; vi < group.vms_size(); ++vi) {
      const int v = vm_index[group.vms(vi).vm_id()];
      if (g.vms[v].steps.empty()) continue;
      for (const std::string& dep : group.vms(vi).depends_on()) {
        auto it = vm_index.find(dep);
        if (it == vm_index.end() || g.vms[it->second].steps.empty()) continue;
        b.Link(g.vms[it->second].steps.back(), g.vms[v].steps.front(), Edge::kSuccess);
      }
    }
    if (ends.empty()) ends = entry;
    std::vector<int> after = b.Chain(group.after(), gp + "after.", gi, -1, false, ends, Edge::kEnd);
    if (gi + 1 < plan.groups_size() && after.size() > 1) {
      Step gate;
      gate.id = gp + "end";
      gate.group = gi;
      gate.gate = true;
      const int i = b.Add(std::move(gate));
      for (int p : after) b.Link(p, i, Edge::kEnd);
      after = {i};
    }
    previous_group_end = after;
  }
  if (mode == dr::v1::EXECUTION_MODE_UNPLANNED &&
      (policy.action() == dr::v1::CommitPolicy::ACTION_COMMIT ||
       policy.action() == dr::v1::CommitPolicy::ACTION_REVERT)) {
    Step wait;
    wait.id = "commit-policy.wait";
    wait.kind = dr::v1::STEP_KIND_WAIT;
    wait.group = -1;
    wait.critical = true;
    wait.plan_step.set_id("commit-policy");
    wait.plan_step.mutable_wait()->set_seconds(
        policy.after_seconds() == 0 ? 3600 : policy.after_seconds());
    const int w = b.Add(std::move(wait));
    for (int p : previous_group_end) b.Link(p, w, Edge::kEnd);
    std::vector<StepKind> kinds = {dr::v1::STEP_KIND_COMMIT};
    if (policy.action() == dr::v1::CommitPolicy::ACTION_REVERT) {
      kinds = {dr::v1::STEP_KIND_STOP_REPLICA, dr::v1::STEP_KIND_REVERT};
    }
    for (int v = 0; v < static_cast<int>(g.vms.size()); ++v) {
      if (g.vms[v].steps.empty()) continue;
      const std::string vm_id = g.vms[v].vm_id;
      const dr::v1::PlanVm& vm = plan.groups(g.vms[v].group).vms(g.vms[v].plan_index);
      auto where = placement.find(vm_id);
      const std::string host = where == placement.end() ? "" : where->second.replica_host;
      std::vector<int> prev = {w, g.vms[v].steps.back()};
      for (StepKind kind : kinds) {
        Step s;
        s.id = absl::StrCat(plan.groups(g.vms[v].group).id(), ".", vm_id, ".", KindId(kind));
        s.kind = kind;
        s.group = g.vms[v].group;
        s.vm = v;
        s.critical = vm.critical();
        s.host = host.empty() ? "hosts/-" : host;
        const int i = b.Add(std::move(s));
        for (int p : prev) b.Link(p, i, Edge::kSuccess);
        g.vms[v].steps.push_back(i);
        prev = {i};
      }
    }
  }
  // Kahn's order, lowest index first among the ready.
  g.topo.reserve(g.steps.size());
  std::vector<int> missing(g.steps.size());
  std::deque<int> ready;
  for (size_t i = 0; i < g.steps.size(); ++i) {
    missing[i] = static_cast<int>(g.steps[i].after.size());
    if (missing[i] == 0) ready.push_back(static_cast<int>(i));
  }
  while (!ready.empty()) {
    const int i = ready.front();
    ready.pop_front();
    g.topo.push_back(i);
    for (const auto& [s, e] : g.steps[i].before) {
      if (--missing[s] == 0) ready.push_back(s);
    }
  }
  return g;
}

}  // namespace plans
}  // namespace hvdr
