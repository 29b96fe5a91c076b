#include "plans/plan_validation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/hyperv_rules.h"
#include "common/proto_time.h"

namespace hvdr {
namespace plans {

using dr::v1::ExecutionMode;
using dr::v1::Finding;
using dr::v1::VirtualMachine;

namespace {

class Out {
 public:
  void Add(dr::v1::Severity severity, std::string field, std::string reason, std::string message,
           dr::v1::ReturnCode code) {
    Finding f;
    f.set_severity(severity);
    f.set_field(std::move(field));
    f.set_reason(std::move(reason));
    f.set_message(std::move(message));
    f.set_return_code(code);
    list_.push_back(std::move(f));
  }
  void Error(std::string field, std::string reason, std::string message,
             dr::v1::ReturnCode code = dr::v1::RETURN_CODE_INVALID_STATE) {
    Add(dr::v1::SEVERITY_ERROR, std::move(field), std::move(reason), std::move(message), code);
  }
  void Warning(std::string field, std::string reason, std::string message,
               dr::v1::ReturnCode code = dr::v1::RETURN_CODE_INVALID_STATE) {
    Add(dr::v1::SEVERITY_WARNING, std::move(field), std::move(reason), std::move(message), code);
  }
  std::vector<Finding> Take() { return std::move(list_); }

 private:
  std::vector<Finding> list_;
};

// The copy of `facts` on a host of `site`; a replica copy first.
const VirtualMachine* CopyAt(const VmFacts& facts, const std::string& site) {
  const VirtualMachine* found = nullptr;
  for (const VirtualMachine& c : facts.copies) {
    if (c.site() != site) continue;
    if (found == nullptr || c.replication_mode() == dr::v1::REPLICATION_MODE_REPLICA) found = &c;
  }
  return found;
}

bool UsesSource(ExecutionMode mode) { return mode == dr::v1::EXECUTION_MODE_PLANNED; }

bool FailsOver(ExecutionMode mode) {
  return mode == dr::v1::EXECUTION_MODE_PLANNED || mode == dr::v1::EXECUTION_MODE_UNPLANNED ||
         mode == dr::v1::EXECUTION_MODE_TEST;
}

// The operation whose rule the target copy must satisfy now.
dr::v1::JobType FirstTargetOperation(ExecutionMode mode) {
  switch (mode) {
    case dr::v1::EXECUTION_MODE_TEST: return dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA;
    case dr::v1::EXECUTION_MODE_CLEANUP_TEST: return dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA;
    case dr::v1::EXECUTION_MODE_PLANNED:
    case dr::v1::EXECUTION_MODE_UNPLANNED: return dr::v1::JOB_TYPE_INITIATE_FAILOVER;
    case dr::v1::EXECUTION_MODE_COMMIT: return dr::v1::JOB_TYPE_COMMIT_FAILOVER;
    case dr::v1::EXECUTION_MODE_REVERT: return dr::v1::JOB_TYPE_REVERT_FAILOVER;
    default: return dr::v1::JOB_TYPE_UNSPECIFIED;
  }
}

// Why `vm` cannot run `type` now ("" when it can), by the rules table.
std::string RuleProblem(dr::v1::JobType type, const VirtualMachine& vm) {
  const OperationRule* rule = FindRule(type);
  if (rule == nullptr) return "";
  if (std::find(rule->modes.begin(), rule->modes.end(), vm.replication_mode()) ==
      rule->modes.end()) {
    return absl::StrCat("is in replication mode ",
                        dr::v1::ReplicationMode_Name(vm.replication_mode()), "; ",
                        dr::v1::JobType_Name(type), " needs another");
  }
  const bool states_apply = !rule->states_for_replicas_only ||
                            vm.replication_mode() == dr::v1::REPLICATION_MODE_REPLICA ||
                            vm.replication_mode() == dr::v1::REPLICATION_MODE_EXTENDED_REPLICA;
  if (states_apply && !rule->states.empty() &&
      std::find(rule->states.begin(), rule->states.end(), vm.replication_state()) ==
          rule->states.end()) {
    return absl::StrCat("is in replication state ",
                        dr::v1::ReplicationState_Name(vm.replication_state()), ", where ",
                        dr::v1::JobType_Name(type), " is not allowed");
  }
  return "";
}

void CheckHooks(Out& out, const std::string& at,
                const google::protobuf::RepeatedPtrField<dr::v1::PlanStep>& steps,
                ExecutionMode mode, const TopologySnapshot& t) {
  for (int i = 0; i < steps.size(); ++i) {
    const dr::v1::PlanStep& s = steps[i];
    if (!s.has_hook()) continue;
    if (!s.modes().empty() &&
        std::find(s.modes().begin(), s.modes().end(), mode) == s.modes().end()) {
      continue;
    }
    const std::string f = absl::StrCat(at, "[", i, "].hook.executable");
    if (!t.hooks_configured) {
      out.Error(f, "HOOKS_DISABLED",
                "drserver runs no hooks: start it with --hooks_dir naming the directory of "
                "hook executables",
                dr::v1::RETURN_CODE_NOT_SUPPORTED);
      continue;
    }
    auto it = t.hooks.find(s.hook().executable());
    if (it == t.hooks.end()) {
      out.Error(f, "HOOK_MISSING",
                absl::StrCat("no file \"", s.hook().executable(), "\" in the hooks directory"),
                dr::v1::RETURN_CODE_FILE_NOT_FOUND);
    } else if (!it->second) {
      out.Error(f, "HOOK_NOT_EXECUTABLE",
                absl::StrCat("\"", s.hook().executable(),
                             "\" in the hooks directory is not executable (chmod +x)"),
                dr::v1::RETURN_CODE_ACCESS_DENIED);
    }
  }
}

}  // namespace

bool ChooseRecoveryPoint(const dr::v1::PlanVm& vm, const VmFacts& facts,
                         const VirtualMachine& replica, absl::Time now, std::string* recovery_point,
                         absl::Time* data_time) {
  recovery_point->clear();
  *data_time = replica.has_last_replication_time() ? FromProto(replica.last_replication_time())
                                                   : absl::InfinitePast();
  switch (vm.recovery_point_policy()) {
    case dr::v1::RECOVERY_POINT_POLICY_LATEST_APPLICATION_CONSISTENT: {
      const dr::v1::RecoveryPoint* best = nullptr;
      for (const auto& rp : facts.recovery_points) {
        if (rp.type() != dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT) continue;
        if (best == nullptr || FromProto(rp.create_time()) > FromProto(best->create_time())) {
          best = &rp;
        }
      }
      if (best == nullptr) return false;
      *recovery_point = best->name();
      *data_time = FromProto(best->create_time());
      return true;
    }
    case dr::v1::RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE:
      return *data_time != absl::InfinitePast() &&
             now - *data_time <= absl::Seconds(vm.max_recovery_point_age_seconds());
    default: return true;
  }
}

std::map<std::string, VmPlacement> PlacementOf(const dr::v1::Plan& plan,
                                               const TopologySnapshot& t) {
  std::map<std::string, VmPlacement> out;
  for (const auto& group : plan.groups()) {
    for (const auto& vm : group.vms()) {
      auto it = t.vms.find(vm.vm_id());
      if (it == t.vms.end()) continue;
      VmPlacement p;
      if (const VirtualMachine* c = CopyAt(it->second, plan.source_site()))
        p.primary_host = c->host();
      if (const VirtualMachine* c = CopyAt(it->second, plan.target_site()))
        p.replica_host = c->host();
      out.emplace(vm.vm_id(), std::move(p));
    }
  }
  return out;
}

std::vector<Finding> ValidateAgainstTopology(const dr::v1::Plan& plan, ExecutionMode mode,
                                             const TopologySnapshot& t, absl::Time now) {
  Out out;
  auto host_reachable = [&](const std::string& host) {
    auto it = t.hosts.find(host);
    return it != t.hosts.end() && it->second.reachability() == dr::v1::REACHABILITY_REACHABLE;
  };
  for (int g = 0; g < plan.groups_size(); ++g) {
    const auto& group = plan.groups(g);
    const std::string gat = absl::StrCat("groups[", g, "]");
    CheckHooks(out, gat + ".before", group.before(), mode, t);
    CheckHooks(out, gat + ".after", group.after(), mode, t);
    for (int i = 0; i < group.vms_size(); ++i) {
      const dr::v1::PlanVm& vm = group.vms(i);
      const std::string vat = absl::StrCat(gat, ".vms[", i, "]");
      CheckHooks(out, vat + ".before", vm.before(), mode, t);
      CheckHooks(out, vat + ".after", vm.after(), mode, t);
      const std::string field = vat + ".vm_id";
      auto it = t.vms.find(vm.vm_id());
      if (it == t.vms.end() || it->second.copies.empty()) {
        out.Error(field, "UNKNOWN_VM",
                  absl::StrCat("no host reports VM ", vm.vm_id(),
                               "; register its hosts or sync them (drctl hosts sync)"),
                  dr::v1::RETURN_CODE_INVALID_PARAMETER);
        continue;
      }
      const VmFacts& facts = it->second;
      if (auto ex = t.vm_execution.find(vm.vm_id()); ex != t.vm_execution.end()) {
        out.Error(field, "VM_IN_EXECUTION",
                  absl::StrCat("VM ", vm.vm_id(), " is in execution ", ex->second,
                               ", which has not ended"),
                  dr::v1::RETURN_CODE_SYSTEM_IN_USE);
      }
      const VirtualMachine* target = CopyAt(facts, plan.target_site());
      if (target == nullptr) {
        out.Error(field, "NO_REPLICA_AT_TARGET",
                  absl::StrCat("VM ", vm.vm_id(), " has no copy on a host of ", plan.target_site(),
                               "; enable replication to that site first"));
        continue;
      }
      const std::string who = absl::StrCat("VM ", target->display_name(), " (", vm.vm_id(), ")");
      if (!host_reachable(target->host())) {
        out.Error(field, "HOST_UNREACHABLE",
                  absl::StrCat(who, ": its copy's host ", target->host(), " is not reachable"),
                  dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE);
      }
      if (!target->active_job().empty()) {
        out.Error(field, "VM_BUSY",
                  absl::StrCat(who, ": job ", target->active_job(), " runs on ", target->name()),
                  dr::v1::RETURN_CODE_SYSTEM_IN_USE);
      }
      const dr::v1::JobType first = FirstTargetOperation(mode);
      if (std::string problem = RuleProblem(first, *target); !problem.empty()) {
        out.Error(field, "INVALID_STATE",
                  absl::StrCat(who, ": the copy ", target->name(), " ", problem));
      }
      if (UsesSource(mode)) {
        const VirtualMachine* source = CopyAt(facts, plan.source_site());
        if (source == nullptr) {
          out.Error(field, "NO_PRIMARY_AT_SOURCE",
                    absl::StrCat(who, " has no copy on a host of ", plan.source_site(),
                                 "; a planned failover needs the primary (run UNPLANNED if the "
                                 "source site is lost)"));
        } else {
          if (!host_reachable(source->host())) {
            out.Error(field, "HOST_UNREACHABLE",
                      absl::StrCat(who, ": the primary's host ", source->host(),
                                   " is not reachable; a planned failover needs it (run "
                                   "UNPLANNED if the source site is lost)"),
                      dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE);
          }
          if (!source->active_job().empty()) {
            out.Error(
                field, "VM_BUSY",
                absl::StrCat(who, ": job ", source->active_job(), " runs on ", source->name()),
                dr::v1::RETURN_CODE_SYSTEM_IN_USE);
          }
        }
      }
      if (!FailsOver(mode)) continue;
      if (target->replication_health() == dr::v1::REPLICATION_HEALTH_CRITICAL) {
        const std::string m = absl::StrCat(who, ": replication health is critical");
        if (mode == dr::v1::EXECUTION_MODE_UNPLANNED) {
          out.Warning(field, "REPLICATION_CRITICAL", m + "; the failover may lose more data");
        } else {
          out.Error(field, "REPLICATION_CRITICAL", m + "; fix replication first");
        }
      }
      const uint32_t interval =
          facts.replication_interval_seconds == 0 ? 300 : facts.replication_interval_seconds;
      if (!target->has_last_replication_time()) {
        out.Warning(field, "RPO_AT_RISK", absl::StrCat(who, " has never replicated"));
      } else {
        const absl::Duration age = now - FromProto(target->last_replication_time());
        if (age > absl::Seconds(3 * interval)) {
          out.Warning(field, "RPO_AT_RISK",
                      absl::StrCat(who, ": last replication ", absl::FormatDuration(age),
                                   " ago, more than 3 x its ", interval, " s interval"));
        }
      }
      if (mode != dr::v1::EXECUTION_MODE_PLANNED) {
        std::string point;
        absl::Time data_time;
        if (!ChooseRecoveryPoint(vm, facts, *target, now, &point, &data_time)) {
          out.Error(
              vat + ".recovery_point_policy", "NO_RECOVERY_POINT",
              absl::StrCat(who, ": no recovery point satisfies ",
                           dr::v1::RecoveryPointPolicy_Name(vm.recovery_point_policy()),
                           vm.max_recovery_point_age_seconds() > 0
                               ? absl::StrCat(" (", vm.max_recovery_point_age_seconds(), " s)")
                               : ""));
        }
      }
    }
  }
  return out.Take();
}

}  // namespace plans
}  // namespace hvdr
