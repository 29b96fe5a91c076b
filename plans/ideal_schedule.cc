#include "plans/ideal_schedule.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hvdr {
namespace plans {

absl::Duration DurationOf(const Step& step, const StepDurations& durations) {
  if (step.gate) return absl::ZeroDuration();
  if (step.is_operation()) {
    auto it = durations.operations.find(step.kind);
    return it == durations.operations.end() ? durations.default_operation : it->second;
  }
  switch (step.kind) {
    case dr::v1::STEP_KIND_READINESS: return durations.readiness;
    case dr::v1::STEP_KIND_WAIT: return absl::Seconds(step.plan_step.wait().seconds());
    case dr::v1::STEP_KIND_HOOK: return durations.hook;
    default: return absl::ZeroDuration();  // a prompt: answered at once
  }
}

absl::StatusOr<IdealSchedule> IdealMakespan(const StepGraph& graph, const StepDurations& durations,
                                            const Scheduler::Limits& limits) {
  auto negative = [](absl::Duration d) { return d < absl::ZeroDuration(); };
  for (const auto& [kind, d] : durations.operations) {
    if (negative(d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("durations.operations[", dr::v1::StepKind_Name(kind),
                       "]: must not be negative, got ", absl::FormatDuration(d)));
    }
  }
  if (negative(durations.default_operation)) {
    return absl::InvalidArgumentError("durations.default_operation: must not be negative");
  }
  if (negative(durations.readiness)) {
    return absl::InvalidArgumentError("durations.readiness: must not be negative");
  }
  if (negative(durations.hook)) {
    return absl::InvalidArgumentError("durations.hook: must not be negative");
  }
  if (limits.max_per_host < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_per_host: must be at least 1, got ", limits.max_per_host));
  }
  if (limits.max_total < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.max_total: must be at least 1, got ", limits.max_total));
  }
  if (graph.topo.size() != graph.steps.size()) {
    return absl::InvalidArgumentError(absl::StrCat("graph.topo: holds ", graph.topo.size(), " of ",
                                                   graph.steps.size(),
                                                   " steps (the graph has a cycle)"));
  }
  int groups = 0;
  for (const Step& s : graph.steps) groups = std::max(groups, s.group + 1);
  // Steps of a group; not a commit policy's wait (of no group) nor what
  // comes after it.
  std::vector<bool> in_group(graph.steps.size());
  for (size_t s = 0; s < graph.steps.size(); ++s) {
    bool counted = graph.steps[s].group >= 0;
    for (const auto& [p, edge] : graph.steps[s].after)
      counted = counted && graph.steps[p].group >= 0;
    in_group[s] = counted;
  }
  auto counted = [&](int s) { return in_group[s]; };

  IdealSchedule out;
  out.groups.resize(groups);
  // Earliest end of each step with its group starting at 0: only
  // predecessors in the same group count (the previous group's end is the
  // group's start).
  std::vector<absl::Duration> finish(graph.steps.size(), absl::ZeroDuration());
  std::vector<std::map<std::string, absl::Duration>> on_host(groups);
  std::vector<absl::Duration> operations(groups, absl::ZeroDuration());
  for (int s : graph.topo) {
    if (!counted(s)) continue;
    const Step& step = graph.steps[s];
    absl::Duration start = absl::ZeroDuration();
    for (const auto& [p, edge] : step.after) {
      if (graph.steps[p].group == step.group) start = std::max(start, finish[p]);
    }
    const absl::Duration d = DurationOf(step, durations);
    finish[s] = start + d;
    GroupBound& g = out.groups[step.group];
    g.longest_chain = std::max(g.longest_chain, finish[s]);
    if (step.is_operation()) {
      on_host[step.group][step.host] += d;
      operations[step.group] += d;
    }
  }
  // What must follow each step in its group: the heaviest path after it.
  std::vector<absl::Duration> tail(graph.steps.size(), absl::ZeroDuration());
  for (auto it = graph.topo.rbegin(); it != graph.topo.rend(); ++it) {
    const int s = *it;
    if (!counted(s)) continue;
    for (const auto& [q, edge] : graph.steps[s].before) {
      if (!counted(q) || graph.steps[q].group != graph.steps[s].group) continue;
      tail[s] = std::max(tail[s], DurationOf(graph.steps[q], durations) + tail[q]);
    }
  }
  std::vector<std::map<std::string, absl::Duration>> host_tail(groups);
  std::vector<absl::Duration> group_tail(groups, absl::InfiniteDuration());
  for (size_t s = 0; s < graph.steps.size(); ++s) {
    const Step& step = graph.steps[s];
    if (!step.is_operation() || !counted(static_cast<int>(s))) continue;
    auto [at, fresh] = host_tail[step.group].emplace(step.host, tail[s]);
    if (!fresh) at->second = std::min(at->second, tail[s]);
    group_tail[step.group] = std::min(group_tail[step.group], tail[s]);
  }
  for (int gi = 0; gi < groups; ++gi) {
    GroupBound& g = out.groups[gi];
    for (const auto& [host, total] : on_host[gi]) {
      const absl::Duration per_slot = total / limits.max_per_host + host_tail[gi][host];
      if (per_slot > g.busiest_host) {
        g.busiest_host = per_slot;
        g.busiest_host_name = host;
      }
    }
    g.all_operations =
        operations[gi] / limits.max_total +
        (group_tail[gi] == absl::InfiniteDuration() ? absl::ZeroDuration() : group_tail[gi]);
    g.bound = std::max({g.longest_chain, g.busiest_host, g.all_operations});
    out.makespan += g.bound;
  }
  return out;
}

}  // namespace plans
}  // namespace hvdr
