#include "server/failover.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/hyperv_rules.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/status_macros.h"
#include "server/agent_client.h"
#include "server/dispatcher.h"
#include "server/job_writer.h"
#include "server/names.h"
#include "server/store_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

namespace {

template <typename T>
bool Contains(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string CopyList(const std::vector<dr::v1::VirtualMachine>& copies) {
  std::vector<std::string> names;
  for (const auto& vm : copies) {
    names.push_back(
        absl::StrCat(vm.name(), " (", dr::v1::ReplicationMode_Name(vm.replication_mode()), ")"));
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<dr::v1::VirtualMachine> FailoverLogic::Resolve(const OperationRequest& r,
                                                              const OperationRule& rule) {
  ASSIGN_OR_RETURN(std::string id, ParseLogicalVmName("virtual_machine", r.virtual_machine));
  VirtualMachineFilter filter;
  filter.display_name_or_id = id;
  ASSIGN_OR_RETURN(Page<dr::v1::VirtualMachine> page,
                   store_->ListVirtualMachines(filter, {1000, ""}));
  if (page.items.empty()) {
    return NotFoundParameter(
        "virtual_machine", "VM_NOT_FOUND",
        absl::StrCat(r.virtual_machine, ": no VM copy has the display name or GUID \"", id,
                     "\" in the inventory"));
  }
  std::vector<dr::v1::VirtualMachine> qualify;
  for (const auto& vm : page.items) {
    if (Contains(rule.modes, vm.replication_mode())) qualify.push_back(vm);
  }
  if (qualify.size() == 1) return qualify.front();
  std::vector<std::string> modes;
  for (auto m : rule.modes) modes.push_back(dr::v1::ReplicationMode_Name(m));
  if (qualify.empty()) {
    return InvalidState(
        "virtual_machine", "NO_COPY_FOR_OPERATION",
        absl::StrCat(r.virtual_machine, ": ", r.method, " runs on a copy in mode ",
                     absl::StrJoin(modes, " or "), "; the copies are ", CopyList(page.items)));
  }
  return InvalidParameter("virtual_machine", "AMBIGUOUS_VIRTUAL_MACHINE",
                          absl::StrCat(r.virtual_machine, " names ", qualify.size(), " copies ",
                                       r.method, " could run on: ", CopyList(qualify),
                                       "; name one as hosts/{host}/virtualMachines/{guid}"));
}

absl::Status FailoverLogic::CheckForTest(const OperationRequest& r, dr::v1::VirtualMachine* vm_out,
                                         dr::v1::Host* host_out) {
  Checked checked;
  RETURN_IF_ERROR(CheckFor(r, /*check_busy=*/true, &checked));
  if (vm_out != nullptr) *vm_out = std::move(checked.vm);
  if (host_out != nullptr) *host_out = std::move(checked.host);
  return absl::OkStatus();
}

absl::Status FailoverLogic::CheckFor(const OperationRequest& r, bool check_busy, Checked* out) {
  const bool logical = IsLogicalVmName(r.virtual_machine);
  std::string vm_host;
  if (logical) {
    RETURN_IF_ERROR(ParseLogicalVmName("virtual_machine", r.virtual_machine).status());
  } else {
    absl::StatusOr<VmName> parsed = ParseVmName("virtual_machine", r.virtual_machine);
    if (!parsed.ok() && !r.virtual_machine.empty()) {
      return InvalidParameter(
          "virtual_machine", "MALFORMED_NAME",
          absl::StrCat("must look like hosts/{host}/virtualMachines/{vm-guid} or ",
                       "virtualMachines/{guid-or-display-name}, got \"",
                       r.virtual_machine.substr(0, 200), "\""));
    }
    RETURN_IF_ERROR(parsed.status());
    vm_host = parsed->host;
  }
  RETURN_IF_ERROR(CheckRequestId("request_id", r.request_id));
  if (r.requester.size() > 256) {
    return InvalidParameter("requester", "TOO_LONG", "must be at most 256 characters");
  }
  // With a logical VM name the point may be named under it too:
  // virtualMachines/{vm}/recoveryPoints/{id}; it is resolved with the VM.
  std::string point_id;
  bool point_under_logical = false;
  if (!r.recovery_point.empty()) {
    if (r.type != dr::v1::JOB_TYPE_INITIATE_FAILOVER &&
        r.type != dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA) {
      return InvalidParameter("recovery_point", "NOT_APPLICABLE",
                              absl::StrCat(r.method, " takes no recovery point"));
    }
    const std::string logical_prefix = absl::StrCat(r.virtual_machine, "/recoveryPoints/");
    if (logical && absl::StartsWith(r.recovery_point, logical_prefix)) {
      point_id = r.recovery_point.substr(logical_prefix.size());
      if (point_id.empty() || point_id.size() > 256 || absl::StrContains(point_id, '/')) {
        return InvalidParameter("recovery_point", "MALFORMED_NAME",
                                absl::StrCat("must look like ", logical_prefix, "{id}, got \"",
                                             r.recovery_point.substr(0, 200), "\""));
      }
      point_under_logical = true;
    } else {
      ASSIGN_OR_RETURN(auto parsed, ParseRecoveryPointName("recovery_point", r.recovery_point));
      if (!logical && parsed.first != r.virtual_machine) {
        return InvalidParameter(
            "recovery_point", "RECOVERY_POINT_OF_ANOTHER_VM",
            absl::StrCat(r.recovery_point, " is not a recovery point of ", r.virtual_machine));
      }
      point_id = parsed.second;
    }
  }
  if (r.type == dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS) {
    RETURN_IF_ERROR(CheckNetworkSettings(r.network_settings));
  }
  const OperationRule* rule = FindRule(r.type);
  if (rule == nullptr) {
    return HyperVError(dr::v1::RETURN_CODE_NOT_SUPPORTED, "", "NOT_SUPPORTED",
                       absl::StrCat(r.method, " is not supported"));
  }

  // The copy: named, or the one of the logical VM this operation runs on.
  absl::StatusOr<dr::v1::VirtualMachine> vm;
  if (logical) {
    vm = Resolve(r, *rule);
    if (!vm.ok()) return vm.status();
  } else {
    vm = store_->GetVirtualMachine(r.virtual_machine);
    if (vm.status().code() == absl::StatusCode::kNotFound) {
      return NotFoundParameter(
          "virtual_machine", "VM_NOT_FOUND",
          absl::StrCat(r.virtual_machine, " is not in the inventory (register or sync ", vm_host,
                       ")"));
    }
    if (!vm.ok()) return vm.status();
  }
  const std::string& name = vm->name();
  std::string point;
  if (!point_id.empty()) {
    point = absl::StrCat(name, "/recoveryPoints/", point_id);
    if (logical && !point_under_logical && point != r.recovery_point) {
      return InvalidParameter(
          "recovery_point", "RECOVERY_POINT_OF_ANOTHER_VM",
          absl::StrCat(r.recovery_point, " is not a recovery point of ", name, ", the copy ",
                       r.virtual_machine, " resolves to for ", r.method));
    }
    absl::StatusOr<dr::v1::RecoveryPoint> rp = store_->GetRecoveryPoint(point);
    if (rp.status().code() == absl::StatusCode::kNotFound) {
      return NotFoundParameter("recovery_point", "RECOVERY_POINT_NOT_FOUND",
                               absl::StrCat(point, " is not a recovery point of ", name,
                                            " (list them with ListRecoveryPoints)"));
    }
    if (!rp.ok()) return rp.status();
  }
  if (!Contains(rule->modes, vm->replication_mode())) {
    return InvalidState(
        "virtual_machine", "WRONG_REPLICATION_MODE",
        absl::StrCat(name, " (", vm->display_name(), ") is in mode ",
                     dr::v1::ReplicationMode_Name(vm->replication_mode()), "; ", r.method,
                     " needs ", dr::v1::ReplicationMode_Name(rule->modes.front())));
  }
  const bool is_replica = vm->replication_mode() == dr::v1::REPLICATION_MODE_REPLICA ||
                          vm->replication_mode() == dr::v1::REPLICATION_MODE_EXTENDED_REPLICA;
  if (!rule->states.empty() && (!rule->states_for_replicas_only || is_replica) &&
      !Contains(rule->states, vm->replication_state())) {
    return InvalidState("virtual_machine", "WRONG_REPLICATION_STATE",
                        absl::StrCat(name, " (", vm->display_name(), ") is in replication state ",
                                     dr::v1::ReplicationState_Name(vm->replication_state()),
                                     ", which does not allow ", r.method));
  }
  // The stored power state is as fresh as the last job or sync; the
  // hypervisor checks again in any case.
  if (rule->enabled != dr::v1::ENABLED_STATE_UNKNOWN &&
      vm->enabled_state() != dr::v1::ENABLED_STATE_UNKNOWN &&
      vm->enabled_state() != rule->enabled) {
    return InvalidState(
        "virtual_machine", "WRONG_POWER_STATE",
        absl::StrCat(name, " (", vm->display_name(), ") must be ",
                     rule->enabled == dr::v1::ENABLED_STATE_DISABLED ? "off" : "running", " for ",
                     r.method, "; it is ",
                     vm->enabled_state() == dr::v1::ENABLED_STATE_ENABLED ? "running" : "off"));
  }
  if (check_busy && !vm->active_job().empty()) {
    return HyperVError(dr::v1::RETURN_CODE_SYSTEM_IN_USE, "virtual_machine", "VM_BUSY",
                       absl::StrCat(vm->active_job(), " is still running on ", name));
  }
  absl::StatusOr<dr::v1::Host> host = store_->GetHost(vm->host());
  if (!host.ok()) return host.status();
  // The live stream to the agent says whether it can be reached now; the
  // stored contact (last sync) only when there is no stream yet.
  const Dispatcher::Link link =
      dispatcher_ != nullptr ? dispatcher_->AgentLink(host->agent_address()) : Dispatcher::Link();
  const bool down = link.state == Dispatcher::Link::State::kDown ||
                    (link.state == Dispatcher::Link::State::kUnknown &&
                     host->reachability() == dr::v1::REACHABILITY_UNREACHABLE);
  if (host->reachability() == dr::v1::REACHABILITY_WRONG_HOST) {
    return HyperVError(dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, "virtual_machine", "WRONG_HOST",
                       absl::StrCat(vm->host(), " cannot be driven: ", host->last_error()));
  }
  if (down) {
    return HyperVError(
        dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, "virtual_machine", "HOST_UNREACHABLE",
        absl::StrCat(
            vm->host(), " (agent ", host->agent_address(), ") is unreachable: ",
            link.state == Dispatcher::Link::State::kDown ? link.error : host->last_error()));
  }
  out->vm = *std::move(vm);
  out->host = *std::move(host);
  out->recovery_point = std::move(point);
  out->recovery_point_id = std::move(point_id);
  return absl::OkStatus();
}

std::string FailoverLogic::NewJobName() {
  uint32_t r;
  int64_t us = absl::ToUnixMicros(clock_->Now());
  {
    absl::MutexLock lock(&rng_mu_);
    us = std::max(us, last_name_us_ + 1);
    last_name_us_ = us;
    r = absl::Uniform<uint32_t>(rng_);
  }
  const absl::Time t = absl::FromUnixMicros(us);
  return absl::StrCat("jobs/", absl::FormatTime("%Y%m%d-%H%M%S", t, absl::UTCTimeZone()),
                      absl::StrFormat("-%06d-%08x", us % 1000000, r));
}

absl::StatusOr<std::optional<dr::v1::JobResponse>> FailoverLogic::Replayed(const RequestKey& key) {
  absl::StatusOr<RequestRecord> seen = store_->GetRequest(key.request_id);
  if (seen.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
  if (!seen.ok()) return seen.status();
  if (seen->method != key.method || seen->fingerprint != key.fingerprint) {
    return InvalidParameter(
        "request_id", "REQUEST_ID_REUSED",
        absl::StrCat("\"", key.request_id, "\" was already used for a different ", "request (",
                     seen->method, "); use a new request_id"));
  }
  if (seen->job.empty()) return std::nullopt;
  ASSIGN_OR_RETURN(dr::v1::Job job, store_->GetJob(seen->job));
  dr::v1::JobResponse out;
  *out.mutable_job() = std::move(job);
  out.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  return out;
}

void FailoverLogic::Submit(const OperationRequest& request, Done reply) {
  // Refusals of the store (the VM's claim, a reused request id) in the
  // API's terms.
  Done done = [reply = std::move(reply)](const absl::StatusOr<dr::v1::JobResponse>& r) {
    if (!r.ok()) return reply(ApiStatus(r.status()));
    reply(r);
  };
  // Names as the store knows them: the VM GUID in its canonical spelling
  // (a malformed name is reported by Check below).
  OperationRequest r = request;
  absl::StatusOr<VmName> vm_name = ParseVmName("virtual_machine", r.virtual_machine);
  if (vm_name.ok()) r.virtual_machine = vm_name->name();
  if (!r.recovery_point.empty()) {
    auto point = ParseRecoveryPointName("recovery_point", r.recovery_point);
    if (point.ok())
      r.recovery_point = absl::StrCat(point->first, "/recoveryPoints/", point->second);
  }
  absl::Status valid = CheckRequestId("request_id", r.request_id);
  if (!valid.ok()) return done(valid);
  RequestKey key{r.request_id, absl::StrCat("dr.v1.FailoverService/", r.method), r.fingerprint};
  // A retry answers the first call's job even if the VM has moved on since
  // (or, for a logical VM name, the copies' roles have swapped).
  absl::StatusOr<std::optional<dr::v1::JobResponse>> seen = Replayed(key);
  if (!seen.ok()) return done(seen.status());
  if (seen->has_value()) return done(**seen);

  // The VM-busy check is left to the store: CreateJob decides a replay
  // first, in the transaction that would claim the VM, so a retry racing
  // its first attempt gets that attempt's job, not VM_BUSY naming it.
  Checked checked;
  absl::Status status = CheckFor(r, /*check_busy=*/false, &checked);
  if (!status.ok()) {
    // A first attempt that committed since the look-up above may be what
    // refuses this one now (its claim, the VM's new state): its record is
    // visible by now if so.
    seen = Replayed(key);
    if (seen.ok() && seen->has_value()) return done(**seen);
    if (!seen.ok() && seen.status().code() == absl::StatusCode::kInvalidArgument) {
      return done(seen.status());
    }
    return done(status);
  }
  const dr::v1::VirtualMachine& vm = checked.vm;
  AgentOperation op;
  op.type = r.type;
  op.vm_id = vm.vm_id();
  op.recovery_point_id = checked.recovery_point_id;
  op.network_settings = r.network_settings;

  dr::v1::Job job;
  job.set_name(NewJobName());
  job.set_type(r.type);
  job.set_state(dr::v1::JOB_STATE_NEW);
  job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  // The copy resolved, whatever name the request used.
  job.set_virtual_machine(vm.name());
  job.set_recovery_point(checked.recovery_point);
  job.set_requester(r.requester);
  job.set_host(vm.host());
  ToProto(clock_->Now(), job.mutable_create_time());
  Create(std::move(job), std::move(key), std::move(op), checked.host.agent_address(), 0, r.audit,
         std::move(done));
}

void FailoverLogic::Create(dr::v1::Job job, RequestKey key, AgentOperation op, std::string address,
                           int attempt, OperationRequest::Audit audit, Done done) {
  op.job_id = job.name();
  std::string operation = EncodeAgentOperation(op);
  std::optional<dr::v1::AuditEvent> event = audit.event;
  writer_->SubmitCreate(
      job, key, operation,
      [this, job, key, op, operation, address, attempt, audit = std::move(audit),
       done](const WriteResult& result) mutable -> std::function<void()> {
        if (result.status.code() == absl::StatusCode::kAlreadyExists && attempt < 3) {
          job.set_name(NewJobName());  // the random job name was taken: draw another
          Create(std::move(job), std::move(key), std::move(op), std::move(address), attempt + 1,
                 std::move(audit), std::move(done));
          return nullptr;
        }
        if (!result.status.ok()) {
          done(result.status);
          return nullptr;
        }
        if (result.audited.has_value() && audit.audited) audit.audited(*result.audited);
        // The job is durable: answer now; dispatch once the batch's other
        // callers have their answers too.
        dr::v1::JobResponse out;
        *out.mutable_job() = result.job;
        out.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
        done(out);
        if (result.replayed) return nullptr;
        return [this, job = result.job, request_id = key.request_id, address, operation] {
          spdlog::info("{}: accepted {} of {} requested by {} (request_id {})", job.name(),
                       dr::v1::JobType_Name(job.type()), job.virtual_machine(),
                       job.requester().empty() ? "-" : job.requester(), request_id);
          if (dispatcher_ != nullptr) dispatcher_->Dispatch(job, address, operation);
        };
      },
      std::move(event));
}

}  // namespace server
}  // namespace hvdr
