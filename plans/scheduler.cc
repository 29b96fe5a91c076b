#include "plans/scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"

namespace hvdr {
namespace plans {

using dr::v1::ResumePlanExecutionRequest;
using dr::v1::SkipCause;
using dr::v1::StepState;

Scheduler::Scheduler(const StepGraph* graph, Limits limits)
    : graph_(graph),
      limits_(Limits{std::max(1, limits.max_per_host), std::max(1, limits.max_total)}),
      status_(graph->steps.size()),
      waiting_for_(graph->steps.size(), 0) {
  Derive();
}

bool Scheduler::Ended(int s) const {
  const StepState st = status_[s].state;
  return st == dr::v1::STEP_STATE_SUCCEEDED || st == dr::v1::STEP_STATE_FAILED ||
         st == dr::v1::STEP_STATE_SKIPPED;
}

bool Scheduler::Ok(int s) const {
  switch (status_[s].state) {
    case dr::v1::STEP_STATE_SUCCEEDED: return true;
    case dr::v1::STEP_STATE_FAILED: return graph_->steps[s].continue_on_error;
    case dr::v1::STEP_STATE_SKIPPED: return status_[s].skip_cause == dr::v1::SKIP_CAUSE_OPERATOR;
    default: return false;
  }
}

bool Scheduler::Blocking(int s) const {
  const Step& step = graph_->steps[s];
  return status_[s].state == dr::v1::STEP_STATE_FAILED && step.critical && !step.continue_on_error;
}

void Scheduler::Set(int s, StepState state, SkipCause cause) {
  StepStatus& st = status_[s];
  if (st.state == state && st.skip_cause == cause) return;
  const bool gate = graph_->steps[s].gate;
  --count_[st.state];
  if (!gate) --real_count_[st.state];
  st.state = state;
  st.skip_cause = state == dr::v1::STEP_STATE_SKIPPED ? cause : dr::v1::SKIP_CAUSE_UNSPECIFIED;
  ++count_[state];
  if (!gate) {
    ++real_count_[state];
    changed_.insert(s);
  }
}

void Scheduler::MakeReady(int s) {
  const Step& step = graph_->steps[s];
  if (step.is_operation()) {
    ready_ops_[step.host].insert(s);
  } else {
    ready_other_.insert(s);
  }
}

void Scheduler::Derive() {
  ready_other_.clear();
  ready_ops_.clear();
  running_on_.clear();
  running_ops_ = 0;
  critical_failed_.clear();
  count_.clear();
  real_count_.clear();
  for (size_t s = 0; s < status_.size(); ++s) {
    ++count_[status_[s].state];
    if (!graph_->steps[s].gate) ++real_count_[status_[s].state];
  }
  for (int s : graph_->topo) {
    waiting_for_[s] = 0;
    const Step& step = graph_->steps[s];
    const StepState st = status_[s].state;
    if (step.gate) {
      // Derived, never stored: open once every predecessor has ended (a
      // critical failure keeps it shut until the resume).
      for (const auto& [p, edge] : step.after) waiting_for_[s] += Ended(p) && !Blocking(p) ? 0 : 1;
      Set(s, waiting_for_[s] == 0 ? dr::v1::STEP_STATE_SUCCEEDED : dr::v1::STEP_STATE_PENDING,
          dr::v1::SKIP_CAUSE_UNSPECIFIED);
      continue;
    }
    if (st == dr::v1::STEP_STATE_RUNNING || st == dr::v1::STEP_STATE_WAITING_FOR_ANSWER) {
      if (step.is_operation()) {
        ++running_on_[step.host];
        ++running_ops_;
      }
      continue;
    }
    if (Ended(s)) {
      if (Blocking(s)) critical_failed_.insert(s);
      continue;
    }
    // Pending.
    if (cancelled_) {
      Set(s, dr::v1::STEP_STATE_SKIPPED, dr::v1::SKIP_CAUSE_CANCELLED);
      continue;
    }
    bool skip = false;
    for (const auto& [p, edge] : step.after) {
      const bool satisfied = edge == Edge::kEnd ? Ended(p) && !Blocking(p) : Ok(p);
      if (satisfied) continue;
      if (edge == Edge::kSuccess && Ended(p) && !Blocking(p)) skip = true;
      ++waiting_for_[s];
    }
    if (skip) {
      Set(s, dr::v1::STEP_STATE_SKIPPED, dr::v1::SKIP_CAUSE_UPSTREAM_FAILED);
    } else if (waiting_for_[s] == 0) {
      MakeReady(s);
    }
  }
}

void Scheduler::Restore(const std::vector<StepStatus>& statuses, bool cancelled) {
  if (statuses.size() == status_.size()) status_ = statuses;
  cancelled_ = cancelled;
  changed_.clear();
  Derive();
}

void Scheduler::Propagate(int first) {
  std::vector<int> work{first};
  while (!work.empty()) {
    const int p = work.back();
    work.pop_back();
    for (const auto& [s, edge] : graph_->steps[p].before) {
      if (status_[s].state != dr::v1::STEP_STATE_PENDING) continue;
      const bool satisfied = edge == Edge::kEnd ? Ended(p) && !Blocking(p) : Ok(p);
      if (satisfied) {
        if (--waiting_for_[s] != 0) continue;
        if (graph_->steps[s].gate) {
          Set(s, dr::v1::STEP_STATE_SUCCEEDED, dr::v1::SKIP_CAUSE_UNSPECIFIED);
          work.push_back(s);
        } else if (!cancelled_) {
          MakeReady(s);
        }
      } else if (edge == Edge::kSuccess && Ended(p) && !Blocking(p)) {
        Set(s, dr::v1::STEP_STATE_SKIPPED, dr::v1::SKIP_CAUSE_UPSTREAM_FAILED);
        work.push_back(s);
      }
      // Otherwise (a critical failure) it waits for Resume.
    }
  }
}

std::vector<int> Scheduler::TakeStartable() {
  std::vector<int> out;
  if (cancelled_ || !critical_failed_.empty()) return out;
  out.assign(ready_other_.begin(), ready_other_.end());
  ready_other_.clear();
  // Operations: lowest step index first among hosts with a free slot.
  std::set<std::pair<int, std::string>> heads;
  for (const auto& [host, ready] : ready_ops_) {
    if (!ready.empty() && RunningOn(host) < limits_.max_per_host) {
      heads.emplace(*ready.begin(), host);
    }
  }
  while (!heads.empty() && running_ops_ < limits_.max_total) {
    auto [s, host] = *heads.begin();
    heads.erase(heads.begin());
    std::set<int>& ready = ready_ops_[host];
    ready.erase(s);
    out.push_back(s);
    ++running_on_[host];
    ++running_ops_;
    if (!ready.empty() && running_on_[host] < limits_.max_per_host) {
      heads.emplace(*ready.begin(), host);
    }
  }
  std::sort(out.begin(), out.end());
  for (int s : out) {
    ++status_[s].attempt;
    Set(s, dr::v1::STEP_STATE_RUNNING, dr::v1::SKIP_CAUSE_UNSPECIFIED);
    changed_.insert(s);
  }
  return out;
}

void Scheduler::Finish(int s, bool succeeded) {
  const StepState st = status_[s].state;
  if (st != dr::v1::STEP_STATE_RUNNING && st != dr::v1::STEP_STATE_WAITING_FOR_ANSWER) return;
  const Step& step = graph_->steps[s];
  if (step.is_operation()) {
    --running_on_[step.host];
    --running_ops_;
  }
  Set(s, succeeded ? dr::v1::STEP_STATE_SUCCEEDED : dr::v1::STEP_STATE_FAILED,
      dr::v1::SKIP_CAUSE_UNSPECIFIED);
  if (Blocking(s)) critical_failed_.insert(s);
  Propagate(s);
}

void Scheduler::SetWaiting(int s, bool waiting) {
  const StepState st = status_[s].state;
  if (st != dr::v1::STEP_STATE_RUNNING && st != dr::v1::STEP_STATE_WAITING_FOR_ANSWER) return;
  Set(s, waiting ? dr::v1::STEP_STATE_WAITING_FOR_ANSWER : dr::v1::STEP_STATE_RUNNING,
      dr::v1::SKIP_CAUSE_UNSPECIFIED);
}

absl::Status Scheduler::Resume(ResumePlanExecutionRequest::Action action,
                               ResumePlanExecutionRequest::Scope scope) {
  if (cancelled_) {
    return InvalidState("name", "EXECUTION_CANCELLED", "the execution was cancelled");
  }
  if (critical_failed_.empty()) {
    return InvalidState("name", "NOT_HALTED",
                        "the execution is not halted: nothing failed that stops it");
  }
  if (action != ResumePlanExecutionRequest::ACTION_RETRY &&
      action != ResumePlanExecutionRequest::ACTION_SKIP) {
    return InvalidParameter("action", "MISSING", "give ACTION_RETRY or ACTION_SKIP");
  }
  // An unknown number would otherwise act as SCOPE_STEP.
  if (!ResumePlanExecutionRequest::Scope_IsValid(scope)) {
    return InvalidParameter("scope", "UNKNOWN_VALUE",
                            absl::StrCat("scope ", static_cast<int>(scope),
                                         " is not SCOPE_STEP, SCOPE_VM or SCOPE_GROUP"));
  }
  const int h = *critical_failed_.begin();
  const Step& halted = graph_->steps[h];
  std::vector<int> targets;
  if (scope == ResumePlanExecutionRequest::SCOPE_GROUP) {
    for (size_t s = 0; s < graph_->steps.size(); ++s) {
      if (graph_->steps[s].group == halted.group) targets.push_back(static_cast<int>(s));
    }
  } else if (scope == ResumePlanExecutionRequest::SCOPE_VM && halted.vm >= 0) {
    targets = graph_->vms[halted.vm].steps;
  } else {
    targets = {h};
  }
  for (int s : targets) {
    const StepStatus& st = status_[s];
    const bool failed = st.state == dr::v1::STEP_STATE_FAILED;
    const bool upstream_skipped = st.state == dr::v1::STEP_STATE_SKIPPED &&
                                  st.skip_cause == dr::v1::SKIP_CAUSE_UPSTREAM_FAILED;
    if (action == ResumePlanExecutionRequest::ACTION_RETRY) {
      if (failed || upstream_skipped) {
        Set(s, dr::v1::STEP_STATE_PENDING, dr::v1::SKIP_CAUSE_UNSPECIFIED);
      }
    } else if (failed || upstream_skipped || st.state == dr::v1::STEP_STATE_PENDING) {
      Set(s, dr::v1::STEP_STATE_SKIPPED, dr::v1::SKIP_CAUSE_OPERATOR);
    }
  }
  Derive();
  return absl::OkStatus();
}

void Scheduler::Cancel() {
  cancelled_ = true;
  Derive();
}

dr::v1::ExecutionState Scheduler::State() const {
  auto count = [&](StepState s) {
    auto it = count_.find(s);
    return it == count_.end() ? 0 : it->second;
  };
  if (cancelled_) {
    return count(dr::v1::STEP_STATE_RUNNING) + count(dr::v1::STEP_STATE_WAITING_FOR_ANSWER) > 0
               ? dr::v1::EXECUTION_STATE_CANCELLING
               : dr::v1::EXECUTION_STATE_CANCELLED;
  }
  if (!critical_failed_.empty()) return dr::v1::EXECUTION_STATE_HALTED;
  const int ended = count(dr::v1::STEP_STATE_SUCCEEDED) + count(dr::v1::STEP_STATE_FAILED) +
                    count(dr::v1::STEP_STATE_SKIPPED);
  if (ended == static_cast<int>(status_.size())) {
    return count(dr::v1::STEP_STATE_FAILED) + count(dr::v1::STEP_STATE_SKIPPED) > 0
               ? dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS
               : dr::v1::EXECUTION_STATE_SUCCEEDED;
  }
  if (count(dr::v1::STEP_STATE_WAITING_FOR_ANSWER) > 0 && count(dr::v1::STEP_STATE_RUNNING) == 0 &&
      ready_other_.empty()) {
    bool ops_ready = false;
    for (const auto& [host, ready] : ready_ops_) ops_ready = ops_ready || !ready.empty();
    if (!ops_ready) return dr::v1::EXECUTION_STATE_WAITING;
  }
  return dr::v1::EXECUTION_STATE_RUNNING;
}

bool Scheduler::Terminal() const {
  const dr::v1::ExecutionState s = State();
  return s == dr::v1::EXECUTION_STATE_CANCELLED || s == dr::v1::EXECUTION_STATE_SUCCEEDED ||
         s == dr::v1::EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS;
}

int Scheduler::HaltedStep() const {
  return critical_failed_.empty() ? -1 : *critical_failed_.begin();
}

std::vector<int> Scheduler::TakeChanged() {
  std::vector<int> out(changed_.begin(), changed_.end());
  changed_.clear();
  return out;
}

int Scheduler::StepsIn(StepState state) const {
  auto it = real_count_.find(state);
  return it == real_count_.end() ? 0 : it->second;
}

int Scheduler::RunningOn(const std::string& host) const {
  auto it = running_on_.find(host);
  return it == running_on_.end() ? 0 : it->second;
}

}  // namespace plans
}  // namespace hvdr
