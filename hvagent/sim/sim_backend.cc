#include "hvagent/sim/sim_backend.h"

#include <cctype>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/hyperv_rules.h"
#include "common/proto_time.h"
#include "google/protobuf/text_format.h"

namespace hvdr {
namespace sim {

using agent::JobInfo;
using agent::MethodResult;
using agent::Operation;
using hvdr::sim::v1::Fault;
using hvdr::sim::v1::Scenario;
using hvdr::sim::v1::SimJob;
using hvdr::sim::v1::SimState;
using hvdr::sim::v1::SimVm;

namespace {

// The GUID Hyper-V would give the VM a test failover makes: a GUID of its
// own (addressable like any VM), derived from the replica's so that it is
// the same in every run: each hex digit of the first group moved by 8.
std::string TestVmGuid(const std::string& vm_id) {
  std::string out = vm_id;
  for (size_t i = 0; i < out.size() && out[i] != '-'; ++i) {
    const char c = static_cast<char>(std::toupper(static_cast<unsigned char>(out[i])));
    const int v = c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= '0' && c <= '9' ? c - '0' : -1;
    if (v < 0) continue;
    out[i] = "0123456789ABCDEF"[(v + 8) % 16];
  }
  return out;
}

constexpr uint32_t kDefaultTimeBeforeRemovalSeconds = 300;

MethodResult Refuse(dr::v1::ReturnCode code, std::string message) {
  MethodResult r;
  r.return_code = code;
  r.message = std::move(message);
  return r;
}

template <typename T>
bool Contains(const std::vector<T>& v, T x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

JobInfo ToInfo(const SimJob& j) {
  JobInfo info;
  info.job_id = j.job_id();
  info.type = j.type();
  info.vm_id = j.vm_id();
  info.state = j.state();
  info.percent = j.percent();
  info.error_code = j.error_code();
  info.error_summary = j.error_summary();
  info.error_description = j.error_description();
  info.start_time = absl::FromUnixMicros(j.start_us());
  info.end_time = j.end_us() == 0 ? absl::InfinitePast() : absl::FromUnixMicros(j.end_us());
  info.cancellable = j.cancellable() && !IsTerminalJobState(j.state());
  return info;
}

dr::v1::VirtualMachineInventory ToInventory(const SimVm& vm, dr::v1::HeartbeatStatus heartbeat) {
  dr::v1::VirtualMachineInventory inv;
  inv.set_heartbeat(heartbeat);
  auto* v = inv.mutable_virtual_machine();
  v->set_vm_id(vm.vm_id());
  v->set_display_name(vm.name());
  v->set_replication_mode(vm.mode());
  v->set_replication_state(vm.state());
  v->set_replication_health(vm.health());
  v->set_enabled_state(vm.enabled());
  if (vm.last_replication_us() != 0) {
    FromMicros(vm.last_replication_us(), v->mutable_last_replication_time());
  }
  v->set_pending_replication_bytes(vm.pending_bytes());
  v->set_replication_latency_seconds(vm.latency_seconds());
  if (vm.mode() != dr::v1::REPLICATION_MODE_NONE &&
      vm.mode() != dr::v1::REPLICATION_MODE_TEST_REPLICA) {
    auto* rel = inv.add_replication_relationships();
    rel->set_name("0");
    rel->set_primary_host(vm.primary_server());
    rel->set_replica_host(vm.replica_server());
    rel->set_replication_interval_seconds(vm.interval_seconds());
    rel->set_replication_state(vm.state());
    rel->set_replication_health(vm.health());
    if (vm.last_replication_us() != 0) {
      FromMicros(vm.last_replication_us(), rel->mutable_last_replication_time());
    }
  }
  for (const auto& rp : vm.recovery_points()) {
    auto* p = inv.add_recovery_points();
    p->set_name(rp.id());
    p->set_type(rp.type());
    FromMicros(rp.create_us(), p->mutable_create_time());
  }
  return inv;
}

}  // namespace

absl::Status SimBackend::ValidateScenario(const Scenario& scenario) {
  std::set<std::string> ids;
  for (int i = 0; i < scenario.vms_size(); ++i) {
    const SimVm& vm = scenario.vms(i);
    const std::string at = absl::StrCat("vms[", i, "]");
    if (vm.vm_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".vm_id: is required"));
    }
    if (vm.vm_id().find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".vm_id: must not contain '/'"));
    }
    if (!ids.insert(vm.vm_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".vm_id: \"", vm.vm_id(), "\" appears twice"));
    }
    if (vm.interval_seconds() != 0 && vm.interval_seconds() != 30 && vm.interval_seconds() != 300 &&
        vm.interval_seconds() != 900) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".interval_seconds: Hyper-V replicates every 30, 300 or 900 s, not ",
                       vm.interval_seconds()));
    }
    std::set<std::string> rps;
    for (int r = 0; r < vm.recovery_points_size(); ++r) {
      const std::string& id = vm.recovery_points(r).id();
      if (id.empty() || id.find('/') != std::string::npos || !rps.insert(id).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ".recovery_points[", r, "].id: must be unique, non-empty, without '/'"));
      }
    }
  }
  for (int i = 0; i < scenario.faults_size(); ++i) {
    const Fault& f = scenario.faults(i);
    const std::string at = absl::StrCat("faults[", i, "]");
    if (f.return_code() != 0 && !(f.return_code() >= 32768 && f.return_code() <= 32779)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".return_code: must be an error code 32768-32779"));
    }
    if (f.fail_at_percent() > 100) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".fail_at_percent: must be 0-100"));
    }
    if (f.vanish_at_percent() > 100) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".vanish_at_percent: must be 0-100"));
    }
    if (!f.vm_id().empty() && ids.count(f.vm_id()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".vm_id: no VM \"", f.vm_id(), "\" in the scenario"));
    }
    if (f.operation() != dr::v1::JOB_TYPE_UNSPECIFIED && FindRule(f.operation()) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".operation: not an operation"));
    }
  }
  // Protobuf text format takes any bytes in a string, but proto3 strings
  // must be UTF-8 to parse: the state file written from such a scenario
  // could not be read back after a restart (nor the VM's inventory sent).
  Scenario parsed;
  if (!parsed.ParseFromString(scenario.SerializeAsString())) {
    return absl::InvalidArgumentError("a string (a name, an id, a message) is not valid UTF-8");
  }
  return absl::OkStatus();
}

absl::Status SimBackend::ValidateState(const SimState& state) {
  // Times are microseconds since the epoch up to the end of year 9999: the
  // job arithmetic (elapsed * 100, end + TimeBeforeRemoval) then stays far
  // from int64's bounds.
  constexpr int64_t kMaxUs = int64_t{253402300799} * 1000000;
  auto time_ok = [](int64_t us) { return us >= 0 && us <= kMaxUs; };
  Scenario config = state.scenario();
  // The state keeps its VMs apart from the scenario's configuration; faults
  // name them.
  *config.mutable_vms() = state.vms();
  absl::Status s = ValidateScenario(config);
  if (!s.ok()) return s;
  for (int i = 0; i < state.vms_size(); ++i) {
    const SimVm& vm = state.vms(i);
    if (!time_ok(vm.last_replication_us())) {
      return absl::InvalidArgumentError(
          absl::StrCat("vms[", i, "].last_replication_us: out of range"));
    }
    if (!time_ok(vm.started_us())) {
      return absl::InvalidArgumentError(absl::StrCat("vms[", i, "].started_us: out of range"));
    }
    for (int r = 0; r < vm.recovery_points_size(); ++r) {
      if (!time_ok(vm.recovery_points(r).create_us())) {
        return absl::InvalidArgumentError(
            absl::StrCat("vms[", i, "].recovery_points[", r, "].create_us: out of range"));
      }
    }
  }
  for (int i = 0; i < state.jobs_size(); ++i) {
    const SimJob& job = state.jobs(i);
    const std::string at = absl::StrCat("jobs[", i, "]");
    if (job.job_id().empty())
      return absl::InvalidArgumentError(absl::StrCat(at, ".job_id: is required"));
    if (!time_ok(job.start_us()) || !time_ok(job.end_us())) {
      return absl::InvalidArgumentError(absl::StrCat(at, ": start_us or end_us out of range"));
    }
    if (job.percent() > 100)
      return absl::InvalidArgumentError(absl::StrCat(at, ".percent: must be 0-100"));
    if (FindRule(job.type()) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".type: not an operation"));
    }
    if (job.fault().fail_at_percent() > 100 || job.fault().vanish_at_percent() > 100) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".fault: percents must be 0-100"));
    }
  }
  for (int i = 0; i < state.history_size(); ++i) {
    if (!time_ok(state.history(i).start_us())) {
      return absl::InvalidArgumentError(absl::StrCat("history[", i, "].start_us: out of range"));
    }
  }
  if (state.next_job_number() < 0 || state.next_job_number() > kMaxUs) {
    return absl::InvalidArgumentError("next_job_number: out of range");
  }
  if (state.history_dropped() < 0 || state.history_dropped() > kMaxUs) {
    return absl::InvalidArgumentError("history_dropped: out of range");
  }
  if (state.fault_uses_size() > state.scenario().faults_size()) {
    return absl::InvalidArgumentError("fault_uses: more entries than faults");
  }
  return absl::OkStatus();
}

absl::StatusOr<Scenario> SimBackend::LoadScenarioFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("scenario ", path, ": cannot read"));
  std::stringstream text;
  text << in.rdbuf();
  Scenario scenario;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &scenario)) {
    return absl::InvalidArgumentError(
        absl::StrCat("scenario ", path, ": not a valid hvdr.sim.v1.Scenario text proto"));
  }
  absl::Status s = ValidateScenario(scenario);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat("scenario ", path, ": ", s.message()));
  return scenario;
}

absl::StatusOr<std::unique_ptr<SimBackend>> SimBackend::Open(const Options& options,
                                                             const Scenario& scenario) {
  SimState state;
  bool resumed = false;
  if (!options.state_path.empty()) {
    std::ifstream in(options.state_path, std::ios::binary);
    if (in) {
      std::stringstream bytes;
      bytes << in.rdbuf();
      if (!state.ParseFromString(bytes.str())) {
        return absl::DataLossError(absl::StrCat("state file ", options.state_path,
                                                " is not a simulator state; move it away"));
      }
      absl::Status valid = ValidateState(state);
      if (!valid.ok()) {
        return absl::DataLossError(absl::StrCat("state file ", options.state_path, " is damaged (",
                                                valid.message(), "); move it away"));
      }
      // One use counter per fault (a state may hold fewer: unused ones).
      state.mutable_fault_uses()->Resize(state.scenario().faults_size(), 0);
      resumed = true;
    }
  }
  if (!resumed) {
    absl::Status s = ValidateScenario(scenario);
    if (!s.ok()) return s;
    const int64_t now = absl::ToUnixMicros(options.clock->Now());
    *state.mutable_scenario() = scenario;
    state.mutable_scenario()->clear_vms();
    for (SimVm vm : scenario.vms()) {
      if (vm.last_replication_seconds_ago() > 0 && vm.last_replication_us() == 0) {
        vm.set_last_replication_us(now - int64_t{vm.last_replication_seconds_ago()} * 1000000);
      }
      if (vm.interval_seconds() == 0) vm.set_interval_seconds(300);
      for (auto& rp : *vm.mutable_recovery_points()) {
        if (rp.create_us() == 0) rp.set_create_us(now - int64_t{rp.age_seconds()} * 1000000);
      }
      *state.add_vms() = std::move(vm);
    }
    state.set_next_job_number(1);
    state.mutable_fault_uses()->Resize(scenario.faults_size(), 0);
  }
  std::unique_ptr<SimBackend> backend(new SimBackend(options, std::move(state)));
  {
    absl::MutexLock lock(&backend->mu_);
    backend->dirty_ = true;
    backend->AdvanceLocked();
    absl::Status s = backend->SaveLocked();
    if (!s.ok()) return s;
  }
  return backend;
}

bool SimBackend::NeverReadyLocked(const SimVm& vm) const {
  for (const Fault& f : state_.scenario().faults()) {
    if (f.never_ready() &&
        (f.vm_id().empty() || f.vm_id() == vm.vm_id() || f.vm_id() == vm.test_of())) {
      return true;
    }
  }
  return false;
}

int64_t SimBackend::BootEndUsLocked(const SimVm& vm) const {
  if (vm.started_us() == 0) return 0;
  const int64_t boot_us =
      int64_t{1000} * (vm.boot_ms() != 0 ? vm.boot_ms() : state_.scenario().default_boot_ms());
  return vm.started_us() + boot_us;
}

dr::v1::HeartbeatStatus SimBackend::HeartbeatLocked(const SimVm& vm) {
  if (vm.enabled() != dr::v1::ENABLED_STATE_ENABLED) return dr::v1::HEARTBEAT_STATUS_UNSPECIFIED;
  if (NeverReadyLocked(vm)) return dr::v1::HEARTBEAT_STATUS_NO_CONTACT;
  if (NowUs() < BootEndUsLocked(vm)) return dr::v1::HEARTBEAT_STATUS_NO_CONTACT;
  return dr::v1::HEARTBEAT_STATUS_OK;
}

std::optional<absl::Duration> SimBackend::HeartbeatOkIn(const std::string& vm_id) {
  absl::MutexLock lock(&mu_);
  const SimVm* vm = FindVmLocked(vm_id);
  if (vm == nullptr || vm->enabled() != dr::v1::ENABLED_STATE_ENABLED || NeverReadyLocked(*vm)) {
    return std::nullopt;
  }
  return absl::Microseconds(std::max<int64_t>(0, BootEndUsLocked(*vm) - NowUs()));
}

int64_t SimBackend::NowUs() const { return absl::ToUnixMicros(options_.clock->Now()); }

absl::Status SimBackend::SaveLocked() {
  if (options_.state_path.empty() || !dirty_) return absl::OkStatus();
  const std::string tmp = options_.state_path + ".tmp";
  const std::string bytes = state_.SerializeAsString();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("state file ", tmp, ": cannot create"));
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("state file ", tmp, ": write failed"));
    }
    off += static_cast<size_t>(n);
  }
  // The simulated hypervisor must survive the agent process, not the
  // machine: write + rename is enough, no fsync on every change.
  ::close(fd);
  if (std::rename(tmp.c_str(), options_.state_path.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("state file ", options_.state_path, ": rename failed"));
  }
  dirty_ = false;
  return absl::OkStatus();
}

SimVm* SimBackend::FindVmLocked(const std::string& vm_id) {
  if (vm_index_.size() != static_cast<size_t>(state_.vms_size())) {
    vm_index_.clear();
    for (int i = 0; i < state_.vms_size(); ++i) vm_index_.emplace(state_.vms(i).vm_id(), i);
  }
  auto it = vm_index_.find(vm_id);
  if (it == vm_index_.end()) return nullptr;
  SimVm* vm = state_.mutable_vms(it->second);
  return vm->vm_id() == vm_id ? vm : nullptr;
}

uint32_t SimBackend::DurationMsLocked(dr::v1::JobType type) {
  for (const auto& d : state_.scenario().durations()) {
    if (d.operation() == type) return d.duration_ms();
  }
  if (state_.scenario().default_job_duration_ms() > 0) {
    return state_.scenario().default_job_duration_ms();
  }
  const OperationRule* rule = FindRule(type);
  return rule != nullptr ? rule->default_duration_ms : 2000;
}

bool SimBackend::TakeFaultLocked(const Operation& op, bool at_call, Fault* out) {
  const auto& faults = state_.scenario().faults();
  for (int i = 0; i < faults.size(); ++i) {
    const Fault& f = faults[i];
    if (f.never_ready()) continue;  // shapes the guest, not calls (HeartbeatLocked)
    if (!f.vm_id().empty() && f.vm_id() != op.vm_id) continue;
    if (f.operation() != dr::v1::JOB_TYPE_UNSPECIFIED && f.operation() != op.type) continue;
    if ((f.return_code() != 0) != at_call) continue;
    if (f.count() != 0 && state_.fault_uses(i) >= f.count()) continue;
    state_.set_fault_uses(i, state_.fault_uses(i) + 1);
    dirty_ = true;
    *out = f;
    return true;
  }
  return false;
}

MethodResult SimBackend::CheckLocked(const Operation& op, SimVm& vm) {
  const OperationRule* rule = FindRule(op.type);
  const std::string vm_text = absl::StrCat("VM ", vm.name(), " (", vm.vm_id(), ")");
  if (!vm.active_job().empty()) {
    return Refuse(dr::v1::RETURN_CODE_SYSTEM_IN_USE,
                  absl::StrCat(vm_text, " is busy with job ", vm.active_job()));
  }
  if (!Contains(rule->modes, vm.mode())) {
    return Refuse(
        dr::v1::RETURN_CODE_INVALID_STATE,
        absl::StrCat(vm_text, " is in replication mode ", dr::v1::ReplicationMode_Name(vm.mode()),
                     "; ", dr::v1::JobType_Name(op.type), " is not allowed in that mode"));
  }
  const bool is_replica = vm.mode() == dr::v1::REPLICATION_MODE_REPLICA ||
                          vm.mode() == dr::v1::REPLICATION_MODE_EXTENDED_REPLICA;
  if (!rule->states.empty() && (!rule->states_for_replicas_only || is_replica) &&
      !Contains(rule->states, vm.state())) {
    return Refuse(dr::v1::RETURN_CODE_INVALID_STATE,
                  absl::StrCat(vm_text, " is in replication state ",
                               dr::v1::ReplicationState_Name(vm.state()), "; ",
                               dr::v1::JobType_Name(op.type), " is not allowed in that state"));
  }
  if (rule->enabled != dr::v1::ENABLED_STATE_UNKNOWN && vm.enabled() != rule->enabled) {
    return Refuse(dr::v1::RETURN_CODE_INVALID_STATE,
                  absl::StrCat(vm_text, " must be ",
                               rule->enabled == dr::v1::ENABLED_STATE_DISABLED ? "off" : "running",
                               " for ", dr::v1::JobType_Name(op.type)));
  }
  if (rule->needs_last_replication && vm.last_replication_us() == 0) {
    return Refuse(dr::v1::RETURN_CODE_INVALID_STATE,
                  absl::StrCat(vm_text, " has never replicated"));
  }
  if (!op.recovery_point_id.empty()) {
    bool found = false;
    for (const auto& rp : vm.recovery_points()) found = found || rp.id() == op.recovery_point_id;
    if (!found) {
      return Refuse(dr::v1::RETURN_CODE_INVALID_PARAMETER,
                    absl::StrCat("recovery point ", op.recovery_point_id,
                                 " is not a recovery point of ", vm_text));
    }
  }
  if (op.type == dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA && !vm.test_vm_id().empty()) {
    return Refuse(dr::v1::RETURN_CODE_SYSTEM_IN_USE,
                  absl::StrCat(vm_text, " already has test VM ", vm.test_vm_id()));
  }
  if (op.type == dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA && vm.test_vm_id().empty()) {
    return Refuse(dr::v1::RETURN_CODE_INVALID_STATE, absl::StrCat(vm_text, " has no test VM"));
  }
  if (op.type == dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS) {
    if (op.network_settings.empty()) {
      return Refuse(dr::v1::RETURN_CODE_INVALID_PARAMETER, "NetworkSettings is empty");
    }
    for (const auto& s : op.network_settings) {
      if (!s.dhcp_enabled() && s.ip_addresses().empty()) {
        return Refuse(
            dr::v1::RETURN_CODE_INVALID_PARAMETER,
            absl::StrCat("adapter ", s.adapter(), ": IPAddresses or DHCPEnabled is required"));
      }
      if (!Contains(
              std::vector<std::string>(vm.network_adapters().begin(), vm.network_adapters().end()),
              s.adapter())) {
        return Refuse(dr::v1::RETURN_CODE_INVALID_PARAMETER,
                      absl::StrCat(vm_text, " has no network adapter \"", s.adapter(), "\""));
      }
    }
  }
  MethodResult ok;
  ok.return_code = dr::v1::RETURN_CODE_JOB_STARTED;
  return ok;
}

MethodResult SimBackend::Invoke(const Operation& op) {
  absl::MutexLock lock(&mu_);
  AdvanceLocked();
  const OperationRule* rule = FindRule(op.type);
  if (rule == nullptr) {
    return Refuse(dr::v1::RETURN_CODE_NOT_SUPPORTED,
                  absl::StrCat(dr::v1::JobType_Name(op.type), " is not supported"));
  }
  SimVm* vm = FindVmLocked(op.vm_id);
  if (vm == nullptr) {
    return Refuse(dr::v1::RETURN_CODE_INVALID_PARAMETER,
                  absl::StrCat("no VM with GUID \"", op.vm_id, "\" on this host"));
  }
  Fault fault;
  if (TakeFaultLocked(op, /*at_call=*/true, &fault)) {
    SaveLocked().IgnoreError();
    return Refuse(fault.return_code(), "injected fault");
  }
  MethodResult check = CheckLocked(op, *vm);
  if (check.return_code != dr::v1::RETURN_CODE_JOB_STARTED) {
    SaveLocked().IgnoreError();
    return check;
  }
  SimJob job;
  job.set_job_id(
      absl::StrFormat("%s-job-%08d", state_.scenario().host_name(), state_.next_job_number()));
  state_.set_next_job_number(state_.next_job_number() + 1);
  job.set_type(op.type);
  job.set_vm_id(op.vm_id);
  job.set_recovery_point_id(op.recovery_point_id);
  job.set_state(dr::v1::JOB_STATE_NEW);
  job.set_start_us(NowUs());
  job.set_duration_ms(DurationMsLocked(op.type));
  for (const auto& s : op.network_settings) *job.add_network_settings() = s;
  if (TakeFaultLocked(op, /*at_call=*/false, &fault)) *job.mutable_fault() = fault;
  job.set_cancellable(job.fault().never_finish() ||
                      Contains(std::vector<int>(state_.scenario().cancellable_operations().begin(),
                                                state_.scenario().cancellable_operations().end()),
                               static_cast<int>(op.type)));
  vm->set_active_job(job.job_id());
  vm->set_state_before_job(vm->state());
  if (rule->sets_state_during) vm->set_state(rule->state_during);
  auto* executed = state_.add_history();
  executed->set_job_id(job.job_id());
  executed->set_type(op.type);
  executed->set_vm_id(op.vm_id);
  executed->set_recovery_point_id(op.recovery_point_id);
  executed->set_start_us(job.start_us());
  if (options_.max_history > 0 && state_.history_size() > options_.max_history) {
    // Keeps the newest, dropping a tenth of the bound at once so that the
    // shift of the rest is paid once per max_history / 10 operations.
    const int drop =
        static_cast<int>(state_.history_size() - options_.max_history + options_.max_history / 10);
    const int dropped = std::min(drop, state_.history_size() - 1);
    state_.mutable_history()->DeleteSubrange(0, dropped);
    state_.set_history_dropped(state_.history_dropped() + dropped);
  }
  *state_.add_jobs() = job;
  if (jobs_indexed_) {
    job_index_[job.job_id()] = state_.jobs_size() - 1;
    open_jobs_.push_back(state_.jobs_size() - 1);
  }
  dirty_ = true;
  absl::Status saved = SaveLocked();
  if (!saved.ok()) {
    // The hypervisor could not remember the job: undo it and say so.
    state_.mutable_jobs()->RemoveLast();
    jobs_indexed_ = false;
    state_.mutable_history()->RemoveLast();
    vm = FindVmLocked(op.vm_id);
    vm->set_state(vm->state_before_job());
    vm->clear_active_job();
    return Refuse(dr::v1::RETURN_CODE_FAILED, std::string(saved.message()));
  }
  MethodResult started;
  started.return_code = dr::v1::RETURN_CODE_JOB_STARTED;
  started.job_id = job.job_id();
  return started;
}

void SimBackend::CompleteLocked(SimJob& job) {
  job.set_state(dr::v1::JOB_STATE_COMPLETED);
  job.set_percent(100);
  job.set_end_us(job.start_us() + int64_t{job.duration_ms()} * 1000);
  NoteEndedLocked(job.end_us());
  SimVm* vm = FindVmLocked(job.vm_id());
  if (vm == nullptr) return;
  vm->clear_active_job();
  const OperationRule* rule = FindRule(job.type());
  if (rule != nullptr && rule->sets_state_after) vm->set_state(rule->state_after);
  switch (job.type()) {
    case dr::v1::JOB_TYPE_INITIATE_FAILOVER: vm->set_failed_over_to(job.recovery_point_id()); break;
    case dr::v1::JOB_TYPE_REVERT_FAILOVER: vm->clear_failed_over_to(); break;
    case dr::v1::JOB_TYPE_COMMIT_FAILOVER:
      // The chosen point is merged; the other recovery points are gone.
      vm->clear_recovery_points();
      break;
    case dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA: {
      SimVm test;
      std::string test_id = TestVmGuid(vm->vm_id());
      test.set_name(absl::StrCat(vm->name(), " - Test"));
      test.set_mode(dr::v1::REPLICATION_MODE_TEST_REPLICA);
      test.set_enabled(dr::v1::ENABLED_STATE_DISABLED);
      test.set_failed_over_to(job.recovery_point_id());
      test.set_boot_ms(vm->boot_ms());
      test.set_test_of(vm->vm_id());
      // One VM per GUID, always: a test VM of an earlier test failover is
      // replaced; a VM that merely has the GUID (a hand-written state) is
      // kept, and the test VM takes another.
      SimVm* same = FindVmLocked(test_id);
      while (same != nullptr &&
             (same == vm || same->mode() != dr::v1::REPLICATION_MODE_TEST_REPLICA)) {
        test_id = absl::StrCat(test_id, "-T");
        same = FindVmLocked(test_id);
      }
      test.set_vm_id(test_id);
      vm->set_test_vm_id(test_id);
      if (same != nullptr) {
        *same = std::move(test);
      } else {
        *state_.add_vms() = std::move(test);
        vm_index_.clear();
      }
      break;
    }
    case dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA: {
      const std::string test_id = vm->test_vm_id();
      vm->clear_test_vm_id();
      auto* vms = state_.mutable_vms();
      for (int i = 0; i < vms->size(); ++i) {
        if ((*vms)[i].vm_id() == test_id) {
          vms->DeleteSubrange(i, 1);
          vm_index_.clear();
          break;
        }
      }
      break;
    }
    case dr::v1::JOB_TYPE_REVERSE_REPLICATION: {
      vm->set_mode(dr::v1::REPLICATION_MODE_PRIMARY);
      std::string primary = vm->primary_server();
      vm->set_primary_server(vm->replica_server());
      vm->set_replica_server(primary);
      vm->clear_recovery_points();
      break;
    }
    case dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS:
      *vm->mutable_failover_network() = job.network_settings();
      break;
    case dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE:
      vm->set_enabled(dr::v1::ENABLED_STATE_ENABLED);
      vm->set_started_us(job.end_us());  // the guest boots from here
      break;
    case dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE:
      vm->set_enabled(dr::v1::ENABLED_STATE_DISABLED);
      break;
    default: break;
  }
}

void SimBackend::FailLocked(SimJob& job, dr::v1::JobState state, int64_t end_us) {
  job.set_state(state);
  job.set_end_us(end_us);
  NoteEndedLocked(end_us);
  if (state == dr::v1::JOB_STATE_EXCEPTION) {
    job.set_error_code(job.fault().error_code() != 0 ? job.fault().error_code() : 32768);
    job.set_error_summary(job.fault().error_summary().empty()
                              ? absl::StrCat(dr::v1::JobType_Name(job.type()), " failed")
                              : job.fault().error_summary());
    job.set_error_description(job.fault().error_description());
  }
  SimVm* vm = FindVmLocked(job.vm_id());
  if (vm != nullptr) {
    vm->clear_active_job();
    vm->set_state(vm->state_before_job());
  }
}

void SimBackend::AdvanceLocked() {
  const int64_t now = NowUs();
  if (advanced_us_ != INT64_MIN && now >= advanced_us_ && now - advanced_us_ < kAdvanceStepUs)
    return;
  advanced_us_ = now;
  if (!jobs_indexed_) IndexJobsLocked();
  auto* jobs = state_.mutable_jobs();
  size_t kept = 0;
  for (int position : open_jobs_) {
    SimJob& job = (*jobs)[position];
    if (IsTerminalJobState(job.state())) continue;  // ended elsewhere (a cancel)
    const int64_t elapsed_us = std::max<int64_t>(0, now - job.start_us());
    const int64_t duration_us = int64_t{job.duration_ms()} * 1000;
    const Fault& f = job.fault();
    const dr::v1::JobState before_state = job.state();
    const uint32_t before_percent = job.percent();
    if (f.never_finish()) {
      if (elapsed_us > 0) {
        job.set_state(dr::v1::JOB_STATE_RUNNING);
        job.set_percent(static_cast<uint32_t>(
            std::min<int64_t>(50, duration_us == 0 ? 50 : elapsed_us * 100 / duration_us)));
      }
    } else if (f.vanish_at_percent() > 0 &&
               elapsed_us * 100 >= duration_us * int64_t{f.vanish_at_percent()}) {
      // vmms restarted: the job is gone without an outcome, the VM as before.
      SimVm* vm = FindVmLocked(job.vm_id());
      if (vm != nullptr) {
        vm->clear_active_job();
        vm->set_state(vm->state_before_job());
      }
      job.set_state(dr::v1::JOB_STATE_KILLED);
      job.set_end_us(now - RemovalDelayUsLocked());
      next_removal_us_ = now;  // removed below, in this same pass
    } else if (f.fail_at_percent() > 0 &&
               elapsed_us * 100 >= duration_us * int64_t{f.fail_at_percent()}) {
      job.set_percent(f.fail_at_percent() == 100 ? 99 : f.fail_at_percent());
      FailLocked(job, dr::v1::JOB_STATE_EXCEPTION,
                 job.start_us() + duration_us * f.fail_at_percent() / 100);
    } else if (elapsed_us >= duration_us) {
      CompleteLocked(job);
    } else if (elapsed_us > 0) {
      job.set_state(elapsed_us * 10 < duration_us ? dr::v1::JOB_STATE_STARTING
                                                  : dr::v1::JOB_STATE_RUNNING);
      job.set_percent(static_cast<uint32_t>(elapsed_us * 100 / duration_us));
    }
    if (job.state() != before_state || job.percent() != before_percent) dirty_ = true;
    if (!IsTerminalJobState(job.state())) open_jobs_[kept++] = position;
  }
  open_jobs_.resize(kept);
  // Hyper-V removes finished jobs after TimeBeforeRemoval.
  if (now < next_removal_us_) return;
  const int64_t removal_us = RemovalDelayUsLocked();
  int kept_jobs = 0;  // the jobs that stay move forward, in order
  for (int i = 0; i < jobs->size(); ++i) {
    const SimJob& job = (*jobs)[i];
    if (IsTerminalJobState(job.state()) && job.end_us() + removal_us <= now) continue;
    if (i != kept_jobs) jobs->SwapElements(i, kept_jobs);
    ++kept_jobs;
  }
  if (kept_jobs < jobs->size()) {
    jobs->DeleteSubrange(kept_jobs, jobs->size() - kept_jobs);
    dirty_ = true;
  }
  IndexJobsLocked();
}

int64_t SimBackend::RemovalDelayUsLocked() const {
  return int64_t{state_.scenario().time_before_removal_seconds() != 0
                     ? state_.scenario().time_before_removal_seconds()
                     : kDefaultTimeBeforeRemovalSeconds} *
         1000000;
}

void SimBackend::NoteEndedLocked(int64_t end_us) {
  next_removal_us_ = std::min(next_removal_us_, end_us + RemovalDelayUsLocked());
}

void SimBackend::IndexJobsLocked() {
  job_index_.clear();
  open_jobs_.clear();
  next_removal_us_ = INT64_MAX;
  for (int i = 0; i < state_.jobs_size(); ++i) {
    const SimJob& job = state_.jobs(i);
    job_index_[job.job_id()] = i;
    if (IsTerminalJobState(job.state())) {
      NoteEndedLocked(job.end_us());
    } else {
      open_jobs_.push_back(i);
    }
  }
  jobs_indexed_ = true;
}

SimJob* SimBackend::FindJobLocked(const std::string& job_id) {
  if (!jobs_indexed_) IndexJobsLocked();
  auto it = job_index_.find(job_id);
  if (it == job_index_.end()) return nullptr;
  return state_.mutable_jobs(it->second);
}

absl::StatusOr<dr::v1::GetInventoryResponse> SimBackend::GetInventory() {
  const uint32_t delay_ms = [&] {
    absl::MutexLock lock(&mu_);
    return state_.scenario().inventory_delay_ms();
  }();
  if (delay_ms > 0) {
    options_.clock->SleepUntil(options_.clock->Now() + absl::Milliseconds(delay_ms));
  }
  absl::MutexLock lock(&mu_);
  AdvanceLocked();
  SaveLocked().IgnoreError();
  dr::v1::GetInventoryResponse out;
  out.set_host_name(state_.scenario().host_name());
  ToProto(options_.clock->Now(), out.mutable_read_time());
  for (const SimVm& vm : state_.vms()) {
    *out.add_virtual_machines() = ToInventory(vm, HeartbeatLocked(vm));
  }
  return out;
}

absl::StatusOr<dr::v1::VirtualMachineInventory> SimBackend::GetVirtualMachine(
    const std::string& vm_id) {
  absl::MutexLock lock(&mu_);
  // A read of one VM does not write the state file (the job poll's next
  // read does): the agent reads the VM at every job's start and end, and a
  // save writes every VM of the host.
  AdvanceLocked();
  SimVm* vm = FindVmLocked(vm_id);
  if (vm == nullptr) return absl::NotFoundError(absl::StrCat("no VM ", vm_id, " on this host"));
  return ToInventory(*vm, HeartbeatLocked(*vm));
}

absl::StatusOr<JobInfo> SimBackend::GetJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  AdvanceLocked();
  SaveLocked().IgnoreError();
  if (const SimJob* job = FindJobLocked(job_id)) return ToInfo(*job);
  return absl::NotFoundError(
      absl::StrCat("no job ", job_id, " (never started, or removed after ", "TimeBeforeRemoval)"));
}

std::optional<absl::Time> SimBackend::NextJobEnd() {
  absl::MutexLock lock(&mu_);
  if (!jobs_indexed_) IndexJobsLocked();
  int64_t earliest = INT64_MAX;
  for (int position : open_jobs_) {
    const SimJob& job = state_.jobs(position);
    if (IsTerminalJobState(job.state())) continue;
    const Fault& f = job.fault();
    if (f.never_finish()) continue;
    const int64_t duration_us = int64_t{job.duration_ms()} * 1000;
    int64_t at_percent = 100;
    if (f.vanish_at_percent() > 0) {
      at_percent = f.vanish_at_percent();
    } else if (f.fail_at_percent() > 0) {
      at_percent = f.fail_at_percent();
    }
    earliest = std::min(earliest, job.start_us() + duration_us * at_percent / 100);
  }
  if (earliest == INT64_MAX) return std::nullopt;
  return absl::FromUnixMicros(earliest);
}

absl::StatusOr<std::vector<JobInfo>> SimBackend::ListJobs() {
  absl::MutexLock lock(&mu_);
  AdvanceLocked();
  SaveLocked().IgnoreError();
  std::vector<JobInfo> out;
  for (const SimJob& job : state_.jobs()) out.push_back(ToInfo(job));
  return out;
}

MethodResult SimBackend::CancelJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  AdvanceLocked();
  if (SimJob* found = FindJobLocked(job_id)) {
    SimJob& job = *found;
    if (IsTerminalJobState(job.state())) {
      SaveLocked().IgnoreError();
      return Refuse(dr::v1::RETURN_CODE_INVALID_STATE,
                    absl::StrCat("job ", job_id, " already ended"));
    }
    if (!job.cancellable()) {
      SaveLocked().IgnoreError();
      return Refuse(dr::v1::RETURN_CODE_INVALID_STATE,
                    absl::StrCat("job ", job_id, " is not cancellable"));
    }
    FailLocked(job, dr::v1::JOB_STATE_TERMINATED, NowUs());
    job.set_error_summary("Cancelled");
    dirty_ = true;
    absl::Status s = SaveLocked();
    if (!s.ok()) return Refuse(dr::v1::RETURN_CODE_FAILED, std::string(s.message()));
    MethodResult r;
    r.return_code = dr::v1::RETURN_CODE_COMPLETED;
    return r;
  }
  SaveLocked().IgnoreError();
  return Refuse(dr::v1::RETURN_CODE_INVALID_PARAMETER, absl::StrCat("no job ", job_id));
}

SimState SimBackend::SnapshotForTest() {
  absl::MutexLock lock(&mu_);
  AdvanceLocked();
  SaveLocked().IgnoreError();
  return state_;
}

}  // namespace sim
}  // namespace hvdr
