#include "plans/plan_check.h"

#include <openssl/sha.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hyperv_status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/names.h"
#include "server/network_settings.h"

namespace hvdr {
namespace plans {

using dr::v1::Finding;
using dr::v1::Plan;
using dr::v1::PlanStep;

namespace {

class Findings {
 public:
  void Error(std::string field, std::string reason, std::string message) {
    Finding f;
    f.set_severity(dr::v1::SEVERITY_ERROR);
    f.set_field(std::move(field));
    f.set_reason(std::move(reason));
    f.set_message(std::move(message));
    f.set_return_code(dr::v1::RETURN_CODE_INVALID_PARAMETER);
    list_.push_back(std::move(f));
  }
  // A status from the shared request checks (server/names.h), restated
  // under `field`.
  void FromStatus(const std::string& field, const absl::Status& s) {
    if (s.ok()) return;
    std::string reason = "INVALID";
    if (auto p = s.GetPayload(kErrorDetailUrl); p.has_value()) {
      dr::v1::ErrorDetail d;
      if (d.ParseFromString(std::string(*p)) && !d.reason().empty()) reason = d.reason();
    }
    std::string message(s.message());
    // The shared checks prefix their own field name; the finding has ours.
    if (size_t colon = message.find(": "); colon != std::string::npos && colon < 80) {
      message = message.substr(colon + 2);
    }
    Error(field, reason, message);
  }
  std::vector<Finding> Take() { return std::move(list_); }

 private:
  std::vector<Finding> list_;
};

// Group and step ids: 1-63 of a-z, 0-9 and '-', starting with a letter.
void CheckLocalId(Findings& out, const std::string& field, const std::string& id) {
  out.FromStatus(field, server::CheckId(field, id));
}

bool ValidMode(int m) {
  return dr::v1::ExecutionMode_IsValid(m) && m != dr::v1::EXECUTION_MODE_UNSPECIFIED;
}

bool ValidHookName(const std::string& s) {
  if (s.empty() || s.size() > 128 || s[0] == '.') return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_')) return false;
  }
  return true;
}

void CheckSteps(Findings& out, const std::string& at,
                const google::protobuf::RepeatedPtrField<PlanStep>& steps) {
  if (steps.size() > kMaxStepsPerList) {
    out.Error(at, "TOO_MANY",
              absl::StrCat("at most ", kMaxStepsPerList, " steps, got ", steps.size()));
    return;
  }
  std::set<std::string> ids;
  for (int i = 0; i < steps.size(); ++i) {
    const PlanStep& s = steps[i];
    const std::string f = absl::StrCat(at, "[", i, "]");
    CheckLocalId(out, f + ".id", s.id());
    if (!s.id().empty() && !ids.insert(s.id()).second) {
      out.Error(f + ".id", "DUPLICATE_ID",
                absl::StrCat("step id \"", s.id(), "\" is used twice in this list"));
    }
    switch (s.action_case()) {
      case PlanStep::kPrompt:
        if (s.prompt().message().empty()) {
          out.Error(f + ".prompt.message", "MISSING", "a prompt needs the question to ask");
        } else if (s.prompt().message().size() > kMaxPromptMessage) {
          out.Error(f + ".prompt.message", "TOO_LONG",
                    absl::StrCat("at most ", kMaxPromptMessage, " bytes"));
        }
        break;
      case PlanStep::kWait:
        if (s.wait().seconds() < 1 || s.wait().seconds() > kMaxWaitSeconds) {
          out.Error(f + ".wait.seconds", "OUT_OF_RANGE",
                    absl::StrCat("must be 1-", kMaxWaitSeconds, ", got ", s.wait().seconds()));
        }
        break;
      case PlanStep::kHook: {
        const auto& h = s.hook();
        if (!ValidHookName(h.executable())) {
          out.Error(f + ".hook.executable", "MALFORMED_HOOK",
                    absl::StrCat("must be a file name in drserver's hooks directory (1-128 of "
                                 "A-Z, a-z, 0-9, '.', '-', '_', not starting with '.'); got \"",
                                 h.executable().substr(0, 80), "\""));
        }
        if (h.args_size() > 16) {
          out.Error(f + ".hook.args", "TOO_MANY",
                    absl::StrCat("at most 16 arguments, got ", h.args_size()));
        }
        for (int j = 0; j < h.args_size() && j < 16; ++j) {
          if (h.args(j).size() > 256 || h.args(j).find('\0') != std::string::npos) {
            out.Error(absl::StrCat(f, ".hook.args[", j, "]"), "TOO_LONG",
                      "at most 256 bytes, without NUL");
          }
        }
        break;
      }
      case PlanStep::ACTION_NOT_SET:
        out.Error(f, "MISSING_ACTION", "give one of prompt, wait or hook");
        break;
    }
    if (s.timeout_seconds() > kMaxStepTimeoutSeconds) {
      out.Error(f + ".timeout_seconds", "OUT_OF_RANGE",
                absl::StrCat("at most ", kMaxStepTimeoutSeconds, ", got ", s.timeout_seconds()));
    }
    if (!dr::v1::ErrorMode_IsValid(s.on_error())) {
      out.Error(f + ".on_error", "UNKNOWN_VALUE",
                absl::StrCat("not an ErrorMode: ", static_cast<int>(s.on_error())));
    }
    for (int j = 0; j < s.modes_size(); ++j) {
      if (!ValidMode(s.modes(j))) {
        out.Error(absl::StrCat(f, ".modes[", j, "]"), "UNKNOWN_VALUE",
                  absl::StrCat("not an ExecutionMode: ", s.modes(j)));
      }
    }
  }
}

void CheckRange(Findings& out, const std::string& field, uint32_t value, uint32_t max) {
  if (value > max) {
    out.Error(field, "OUT_OF_RANGE", absl::StrCat("at most ", max, ", got ", value));
  }
}

// The GUID of `s` in canonical form, or "" when it is not one.
std::string Guid(const std::string& s) {
  absl::StatusOr<std::string> g = server::CanonicalVmGuid("", s);
  return g.ok() ? *g : "";
}

// Reports each dependency cycle among `vms` (canonical GUID -> its
// dependencies' GUIDs, all in the group) once.
void CheckCycles(Findings& out, const std::string& group_at,
                 const std::vector<std::pair<std::string, std::vector<std::string>>>& vms) {
  std::map<std::string, int> index;
  for (size_t i = 0; i < vms.size(); ++i) index.emplace(vms[i].first, static_cast<int>(i));
  // Iterative DFS: 0 unvisited, 1 on the stack, 2 done.
  std::vector<int> color(vms.size(), 0);
  for (size_t root = 0; root < vms.size(); ++root) {
    if (color[root] != 0) continue;
    std::vector<std::pair<int, size_t>> stack{{static_cast<int>(root), 0}};
    color[root] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      const auto& deps = vms[v].second;
      if (next == deps.size()) {
        color[v] = 2;
        stack.pop_back();
        continue;
      }
      auto it = index.find(deps[next++]);
      if (it == index.end()) continue;
      const int u = it->second;
      if (color[u] == 0) {
        color[u] = 1;
        stack.emplace_back(u, 0);
      } else if (color[u] == 1) {
        // The stack from u to v is the cycle; u depends on ... on v on u.
        std::vector<std::string> cycle;
        bool on = false;
        for (const auto& [w, unused] : stack) {
          if (w == u) on = true;
          if (on) cycle.push_back(vms[w].first);
        }
        cycle.push_back(vms[u].first);
        out.Error(absl::StrCat(group_at, ".vms[", v, "].depends_on"), "DEPENDENCY_CYCLE",
                  absl::StrCat("the VMs' dependencies form a cycle: ", absl::StrJoin(cycle, " -> "),
                               " (each depends on the next); remove one of them"));
      }
    }
  }
}

}  // namespace

absl::Status CheckPlanName(const std::string& field, const std::string& name) {
  return server::CheckId(field, name);
}

std::vector<Finding> CheckPlanStructure(const Plan& plan) {
  Findings out;
  if (plan.description().size() > kMaxDescription) {
    out.Error("description", "TOO_LONG", absl::StrCat("at most ", kMaxDescription, " bytes"));
  }
  absl::StatusOr<std::string> source = server::ParseSiteName("source_site", plan.source_site());
  out.FromStatus("source_site", source.status());
  absl::StatusOr<std::string> target = server::ParseSiteName("target_site", plan.target_site());
  out.FromStatus("target_site", target.status());
  if (source.ok() && target.ok() && *source == *target) {
    out.Error("target_site", "SAME_SITE",
              absl::StrCat("the plan moves VMs between two sites; both are ", plan.source_site()));
  }
  if (plan.groups().empty()) out.Error("groups", "MISSING", "a plan needs at least one group");
  if (plan.groups_size() > kMaxGroups) {
    out.Error("groups", "TOO_MANY",
              absl::StrCat("at most ", kMaxGroups, " groups, got ", plan.groups_size()));
  }
  CheckRange(out, "limits.max_operations_per_host", plan.limits().max_operations_per_host(),
             kMaxOperationsPerHost);
  CheckRange(out, "limits.max_operations", plan.limits().max_operations(), kMaxOperations);
  if (!dr::v1::CommitPolicy::Action_IsValid(plan.commit_policy().action())) {
    out.Error("commit_policy.action", "UNKNOWN_VALUE", "not a CommitPolicy.Action");
  }
  CheckRange(out, "commit_policy.after_seconds", plan.commit_policy().after_seconds(),
             kMaxStepTimeoutSeconds);

  std::set<std::string> group_ids;
  std::map<std::string, std::string> vm_at;  // canonical GUID -> where first listed
  int total_vms = 0;
  for (int g = 0; g < plan.groups_size(); ++g) {
    const auto& group = plan.groups(g);
    const std::string gat = absl::StrCat("groups[", g, "]");
    CheckLocalId(out, gat + ".id", group.id());
    if (!group.id().empty() && !group_ids.insert(group.id()).second) {
      out.Error(gat + ".id", "DUPLICATE_ID",
                absl::StrCat("group id \"", group.id(), "\" is used twice"));
    }
    if (group.description().size() > kMaxDescription) {
      out.Error(gat + ".description", "TOO_LONG",
                absl::StrCat("at most ", kMaxDescription, " bytes"));
    }
    CheckSteps(out, gat + ".before", group.before());
    CheckSteps(out, gat + ".after", group.after());
    total_vms += group.vms_size();
    if (total_vms > kMaxVms) {
      out.Error(gat + ".vms", "TOO_MANY", absl::StrCat("a plan holds at most ", kMaxVms, " VMs"));
      break;
    }
    // The group's VMs by canonical GUID, for the dependency checks.
    std::set<std::string> in_group;
    for (const auto& vm : group.vms()) {
      std::string id = Guid(vm.vm_id());
      if (!id.empty()) in_group.insert(id);
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> graph;
    for (int i = 0; i < group.vms_size(); ++i) {
      const auto& vm = group.vms(i);
      const std::string vat = absl::StrCat(gat, ".vms[", i, "]");
      const std::string id = Guid(vm.vm_id());
      if (id.empty()) {
        out.FromStatus(vat + ".vm_id",
                       server::CanonicalVmGuid(vat + ".vm_id", vm.vm_id()).status());
      } else if (auto [it, fresh] = vm_at.emplace(id, vat); !fresh) {
        out.Error(vat + ".vm_id", "VM_LISTED_TWICE",
                  absl::StrCat("VM ", id, " is already in the plan at ", it->second,
                               "; a VM runs once per execution"));
      }
      if (vm.depends_on_size() > kMaxDependsOn) {
        out.Error(vat + ".depends_on", "TOO_MANY",
                  absl::StrCat("at most ", kMaxDependsOn, " dependencies"));
      }
      std::vector<std::string> deps;
      std::set<std::string> seen;
      for (int d = 0; d < vm.depends_on_size() && d < kMaxDependsOn; ++d) {
        const std::string dat = absl::StrCat(vat, ".depends_on[", d, "]");
        const std::string dep = Guid(vm.depends_on(d));
        if (dep.empty()) {
          out.FromStatus(dat, server::CanonicalVmGuid(dat, vm.depends_on(d)).status());
        } else if (dep == id) {
          out.Error(dat, "DEPENDS_ON_ITSELF", absl::StrCat("VM ", id, " depends on itself"));
        } else if (in_group.count(dep) == 0) {
          out.Error(dat, "DEPENDENCY_OUTSIDE_GROUP",
                    absl::StrCat("VM ", dep,
                                 " is not in this group; a VM may depend only on VMs of its own "
                                 "group (earlier groups are done before it starts)"));
        } else if (!seen.insert(dep).second) {
          out.Error(dat, "DUPLICATE_DEPENDENCY", absl::StrCat("VM ", dep, " is listed twice"));
        } else {
          deps.push_back(dep);
        }
      }
      if (!id.empty()) graph.emplace_back(id, std::move(deps));

      using RP = dr::v1::RecoveryPointPolicy;
      if (!dr::v1::RecoveryPointPolicy_IsValid(vm.recovery_point_policy())) {
        out.Error(vat + ".recovery_point_policy", "UNKNOWN_VALUE", "not a RecoveryPointPolicy");
      } else if (vm.recovery_point_policy() == RP::RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE) {
        if (vm.max_recovery_point_age_seconds() < 1 ||
            vm.max_recovery_point_age_seconds() > kMaxRecoveryPointAgeSeconds) {
          out.Error(vat + ".max_recovery_point_age_seconds", "OUT_OF_RANGE",
                    absl::StrCat("RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE needs 1-",
                                 kMaxRecoveryPointAgeSeconds, " seconds, got ",
                                 vm.max_recovery_point_age_seconds()));
        }
      } else if (vm.max_recovery_point_age_seconds() != 0) {
        out.Error(vat + ".max_recovery_point_age_seconds", "NOT_APPLICABLE",
                  "only RECOVERY_POINT_POLICY_LATEST_WITHIN_AGE takes a maximum age");
      }
      if (vm.network_settings_size() > 0) {
        std::vector<dr::v1::FailoverNetworkAdapterSettings> nics(vm.network_settings().begin(),
                                                                 vm.network_settings().end());
        absl::Status s = server::CheckNetworkSettings(nics);
        if (!s.ok()) {
          // CheckNetworkSettings names "network_settings[i]..."; say it
          // under this VM.
          std::string field = "network_settings";
          if (auto p = s.GetPayload(kErrorDetailUrl); p.has_value()) {
            dr::v1::ErrorDetail d;
            if (d.ParseFromString(std::string(*p))) field = d.field();
          }
          out.FromStatus(absl::StrCat(vat, ".", field), s);
        }
      }
      if (!dr::v1::StartupAction_IsValid(vm.startup_action())) {
        out.Error(vat + ".startup_action", "UNKNOWN_VALUE", "not a StartupAction");
      }
      CheckRange(out, vat + ".ready_timeout_seconds", vm.ready_timeout_seconds(),
                 kMaxVmTimeoutSeconds);
      CheckRange(out, vat + ".operation_timeout_seconds", vm.operation_timeout_seconds(),
                 kMaxVmTimeoutSeconds);
      CheckSteps(out, vat + ".before", vm.before());
      CheckSteps(out, vat + ".after", vm.after());
    }
    CheckCycles(out, gat, graph);
  }
  if (total_vms == 0 && !plan.groups().empty()) {
    out.Error("groups", "NO_VMS", "a plan needs at least one VM");
  }
  return out.Take();
}

Plan CanonicalPlan(Plan plan) {
  for (auto& group : *plan.mutable_groups()) {
    for (auto& vm : *group.mutable_vms()) {
      if (std::string id = Guid(vm.vm_id()); !id.empty()) vm.set_vm_id(id);
      for (auto& dep : *vm.mutable_depends_on()) {
        if (std::string id = Guid(dep); !id.empty()) dep = id;
      }
    }
  }
  return plan;
}

absl::Status FindingsStatus(const std::vector<Finding>& findings, const std::string& prefix) {
  int errors = 0;
  const Finding* first = nullptr;
  for (const Finding& f : findings) {
    if (f.severity() != dr::v1::SEVERITY_ERROR) continue;
    if (first == nullptr) first = &f;
    ++errors;
  }
  if (first == nullptr) return absl::OkStatus();
  std::string message = first->message();
  if (errors > 1) {
    absl::StrAppend(&message, " (and ", errors - 1, " more problem", errors > 2 ? "s" : "",
                    "; ValidatePlan or `drctl plans validate -f` lists them all)");
  }
  return InvalidParameter(prefix + first->field(), first->reason(), message);
}

std::string PlanHash(const Plan& plan) {
  Plan p = plan;
  p.clear_version();
  p.clear_etag();
  p.clear_create_time();
  p.clear_update_time();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    p.SerializeToCodedStream(&coded);
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace plans
}  // namespace hvdr
