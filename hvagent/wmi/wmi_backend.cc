#include "hvagent/wmi/wmi_backend.h"

#include <cstdio>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"

namespace hvdr {
namespace wmi {

using agent::JobInfo;
using agent::MethodResult;
using agent::Operation;

namespace {

constexpr char kQueryVms[] =
    "SELECT * FROM Msvm_ComputerSystem WHERE Caption = \"Virtual Machine\"";
constexpr char kQueryRelationships[] = "SELECT * FROM Msvm_ReplicationRelationship";
constexpr char kQuerySettings[] = "SELECT * FROM Msvm_ReplicationSettingData";
// INFERRED: statistics are enumerable and keyed like the relationships.
constexpr char kQueryStatistics[] = "SELECT * FROM Msvm_ReplicationStatistics";
// INFERRED: replica recovery points are snapshots whose VirtualSystemType
// starts with this prefix; application-consistent ones mention it.
constexpr char kQueryRecoveryPoints[] =
    "SELECT * FROM Msvm_VirtualSystemSettingData WHERE VirtualSystemType LIKE "
    "\"Microsoft:Hyper-V:Snapshot:Replica%\"";
// The guest heartbeat integration service of each VM; SystemName is the
// VM's GUID.
constexpr char kQueryHeartbeats[] = "SELECT * FROM Msvm_HeartbeatComponent";
constexpr char kQueryJobs[] = "SELECT * FROM Msvm_ConcreteJob";
constexpr char kQueryTestVms[] = "SELECT * FROM Msvm_ComputerSystem WHERE ReplicationMode = 3";

// RequestStateChange values.
constexpr int64_t kVmStateRunning = 2;
constexpr int64_t kVmStateOff = 3;
constexpr int64_t kReplicationStateSyncedComplete = 4;  // planned-failover prepare (INFERRED)
constexpr int64_t kJobRequestTerminate = 4;

MethodResult Result(dr::v1::ReturnCode code, std::string message) {
  MethodResult r;
  r.return_code = code;
  r.message = std::move(message);
  return r;
}

// "Microsoft:<VM GUID>\HVR\0" -> "<VM GUID>" (InstanceIDs of the replication
// classes; INFERRED for Msvm_ReplicationStatistics).
std::string VmIdFromInstanceId(const std::string& instance_id) {
  std::string s = instance_id;
  if (absl::StartsWith(s, "Microsoft:")) s = s.substr(10);
  size_t cut = s.find('\\');
  return cut == std::string::npos ? s : s.substr(0, cut);
}

std::string RelationshipIndex(const std::string& instance_id) {
  size_t cut = instance_id.rfind('\\');
  return cut == std::string::npos ? "0" : instance_id.substr(cut + 1);
}

}  // namespace

std::string QuoteWmiString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string VmPath(const std::string& vm_id) {
  return absl::StrCat("Msvm_ComputerSystem.CreationClassName=\"Msvm_ComputerSystem\",Name=",
                      QuoteWmiString(vm_id));
}

std::string JobPath(const std::string& job_id) {
  return absl::StrCat("Msvm_ConcreteJob.InstanceID=", QuoteWmiString(job_id));
}

std::string SettingDataPath(const std::string& instance_id) {
  return absl::StrCat("Msvm_VirtualSystemSettingData.InstanceID=", QuoteWmiString(instance_id));
}

std::string JobIdFromPath(const std::string& path) {
  // Accept full paths (\\HOST\root\virtualization\v2:Msvm_ConcreteJob...).
  size_t at = path.find("Msvm_ConcreteJob.InstanceID=\"");
  if (at == std::string::npos) return "";
  std::string out;
  for (size_t i = at + 29; i < path.size(); ++i) {
    if (path[i] == '\\' && i + 1 < path.size()) {
      out += path[++i];
    } else if (path[i] == '"') {
      return out;
    } else {
      out += path[i];
    }
  }
  return "";
}

absl::Time ParseCimDateTime(const std::string& text) {
  // yyyymmddHHMMSS.mmmmmmsUUU: digits throughout but for '.' and the sign
  // of the UTC offset in minutes (':' would make it an interval).
  if (text.size() != 25 || text[14] != '.' || (text[21] != '+' && text[21] != '-')) {
    return absl::InfinitePast();
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (i != 14 && i != 21 && !absl::ascii_isdigit(text[i])) return absl::InfinitePast();
  }
  auto field = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  const int y = field(0, 4), mo = field(4, 2), d = field(6, 2), h = field(8, 2), mi = field(10, 2),
            s = field(12, 2), us = field(15, 6), off = field(22, 3);
  // Year 1601 and before: Windows' zero date, "never".
  if (y <= 1601 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59)
    return absl::InfinitePast();
  const absl::CivilSecond civil(y, mo, d, h, mi, s);
  if (civil.day() != d) return absl::InfinitePast();  // 31 April, 30 February
  const absl::Time t = absl::FromCivil(civil, absl::UTCTimeZone()) + absl::Microseconds(us) -
                       absl::Minutes(text[21] == '-' ? -off : off);
  // What a google.protobuf.Timestamp can carry (to 9999-12-31 UTC).
  if (t >= absl::FromCivil(absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::UTCTimeZone())) {
    return absl::InfinitePast();
  }
  return t;
}

dr::v1::ReturnCode ReturnCodeFromWmi(int64_t value) {
  if (value >= 0 && value <= 0xffffffffLL && IsValidReturnCode(static_cast<uint32_t>(value))) {
    return static_cast<dr::v1::ReturnCode>(value);
  }
  return dr::v1::RETURN_CODE_FAILED;
}

dr::v1::JobState JobStateFromWmi(int64_t value, bool* known) {
  *known = value >= 2 && value <= 11;
  return *known ? static_cast<dr::v1::JobState>(value) : dr::v1::JOB_STATE_RUNNING;
}

dr::v1::ReturnCode ReturnCodeFromStatus(const WmiStatus& status) {
  switch (status.code) {
    case WmiCode::kOk: return dr::v1::RETURN_CODE_COMPLETED;
    case WmiCode::kUnavailable: return dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE;
    case WmiCode::kPermissionDenied: return dr::v1::RETURN_CODE_ACCESS_DENIED;
    case WmiCode::kInvalidArgument:
    case WmiCode::kNotFound: return dr::v1::RETURN_CODE_INVALID_PARAMETER;
    default: return dr::v1::RETURN_CODE_FAILED;
  }
}

dr::v1::HeartbeatStatus HeartbeatFromWmi(dr::v1::EnabledState enabled,
                                         const std::vector<int64_t>& operational_status) {
  // A VM that is off has no guest to answer, whatever the component says.
  if (enabled != dr::v1::ENABLED_STATE_ENABLED || operational_status.empty()) {
    return dr::v1::HEARTBEAT_STATUS_UNSPECIFIED;
  }
  const int64_t v = operational_status[0];
  if (v > 0 && v <= 0xffff && dr::v1::HeartbeatStatus_IsValid(static_cast<int>(v))) {
    return static_cast<dr::v1::HeartbeatStatus>(v);
  }
  return dr::v1::HEARTBEAT_STATUS_UNSPECIFIED;  // a value Hyper-V does not define
}

absl::Status ToAbsl(const WmiStatus& status) {
  if (status.ok()) return absl::OkStatus();
  if (status.code == WmiCode::kNotFound) return absl::NotFoundError(status.message);
  return HyperVError(ReturnCodeFromStatus(status), "", "WMI", status.message);
}

absl::StatusOr<std::string> WmiBackend::ServicePathLocked(const std::string& cls) {
  std::vector<WmiObject> found;
  WmiStatus s = session_->ExecQuery(absl::StrCat("SELECT * FROM ", cls), &found);
  if (!s.ok()) return ToAbsl(s);
  if (found.empty()) {
    return HyperVError(dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, "", "NO_SERVICE",
                       absl::StrCat("no ", cls, " on this host"));
  }
  return found[0].path;
}

MethodResult WmiBackend::CallLocked(const std::string& path, const std::string& method,
                                    const WmiProperties& in) {
  WmiProperties out;
  WmiStatus s = session_->ExecMethod(path, method, in, &out);
  if (!s.ok()) return Result(ReturnCodeFromStatus(s), s.message);
  auto rv = out.find("ReturnValue");
  if (rv == out.end() || rv->second.kind != WmiValue::Kind::kInt) {
    return Result(dr::v1::RETURN_CODE_FAILED, absl::StrCat(method, " returned no ReturnValue"));
  }
  MethodResult r;
  r.return_code = ReturnCodeFromWmi(rv->second.i);
  if (r.return_code == dr::v1::RETURN_CODE_FAILED && rv->second.i != 32768) {
    r.message = absl::StrCat(method, " returned ", rv->second.i, ", which Hyper-V does not define");
  }
  if (r.return_code == dr::v1::RETURN_CODE_JOB_STARTED) {
    auto job = out.find("Job");
    r.job_id = job == out.end() ? "" : JobIdFromPath(job->second.s);
    if (r.job_id.empty()) {
      return Result(dr::v1::RETURN_CODE_FAILED,
                    absl::StrCat(method, " returned 4096 without a Msvm_ConcreteJob reference"));
    }
  } else if (r.return_code != dr::v1::RETURN_CODE_COMPLETED && r.message.empty()) {
    r.message = absl::StrCat(method, ": ", ReturnCodeText(r.return_code));
  }
  return r;
}

MethodResult WmiBackend::Invoke(const Operation& op) {
  absl::MutexLock lock(&mu_);
  const std::string vm = VmPath(op.vm_id);
  auto with_service = [&](const std::string& method,
                          const WmiProperties& in) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::StatusOr<std::string> svc = ServicePathLocked("Msvm_ReplicationService");
    if (!svc.ok())
      return Result(ErrorDetailOf(svc.status()).return_code(), std::string(svc.status().message()));
    return CallLocked(*svc, method, in);
  };
  const WmiValue point = op.recovery_point_id.empty()
                             ? WmiValue::Null()
                             : WmiValue::Reference(SettingDataPath(op.recovery_point_id));
  switch (op.type) {
    case dr::v1::JOB_TYPE_INITIATE_FAILOVER:
      return with_service("InitiateFailover", {{"ComputerSystem", WmiValue::Reference(vm)},
                                               {"SnapshotSettingData", point}});
    case dr::v1::JOB_TYPE_REVERT_FAILOVER:
      return with_service("RevertFailover", {{"ComputerSystem", WmiValue::Reference(vm)}});
    case dr::v1::JOB_TYPE_COMMIT_FAILOVER:
      return with_service("CommitFailover", {{"ComputerSystem", WmiValue::Reference(vm)}});
    case dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA:
      return with_service("TestReplicaSystem", {{"ComputerSystem", WmiValue::Reference(vm)},
                                                {"SnapshotSettingData", point}});
    case dr::v1::JOB_TYPE_REVERSE_REPLICATION: {
      // The VM's primary Msvm_ReplicationSettingData, embedded.
      const std::string setting =
          absl::StrCat("Msvm_ReplicationSettingData.InstanceID=",
                       QuoteWmiString(absl::StrCat("Microsoft:", op.vm_id, "\\HVR\\0")));
      return with_service("ReverseReplicationRelationship",
                          {{"ComputerSystem", WmiValue::Reference(vm)},
                           {"ReplicationSettingData", WmiValue::EmbeddedObject(setting)}});
    }
    case dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE:
      return with_service("RequestReplicationStateChange",
                          {{"ComputerSystem", WmiValue::Reference(vm)},
                           {"RequestedState", WmiValue::Int(kReplicationStateSyncedComplete)}});
    case dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS: {
      std::vector<WmiInstance> settings;
      for (const auto& n : op.network_settings) {
        WmiInstance inst;
        inst.class_name = "Msvm_FailoverNetworkAdapterSettingData";
        // INFERRED: the adapter is named by ElementName.
        inst.properties["ElementName"] = WmiValue::String(n.adapter());
        inst.properties["DHCPEnabled"] = WmiValue::Bool(n.dhcp_enabled());
        inst.properties["IPAddresses"] =
            WmiValue::Strings({n.ip_addresses().begin(), n.ip_addresses().end()});
        inst.properties["Subnets"] = WmiValue::Strings({n.subnets().begin(), n.subnets().end()});
        inst.properties["DefaultGateways"] =
            WmiValue::Strings({n.default_gateways().begin(), n.default_gateways().end()});
        inst.properties["DNSServers"] =
            WmiValue::Strings({n.dns_servers().begin(), n.dns_servers().end()});
        settings.push_back(std::move(inst));
      }
      return with_service("SetFailoverNetworkAdapterSettings",
                          {{"ComputerSystem", WmiValue::Reference(vm)},
                           {"NetworkSettings", WmiValue::EmbeddedInstances(std::move(settings))}});
    }
    case dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE:
      return CallLocked(vm, "RequestStateChange",
                        {{"RequestedState", WmiValue::Int(kVmStateRunning)}});
    case dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE:
      return CallLocked(vm, "RequestStateChange", {{"RequestedState", WmiValue::Int(kVmStateOff)}});
    case dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA: {
      // INFERRED: the test VM is the Test Replica named "<name> - Test".
      WmiObject original;
      WmiStatus s = session_->GetObject(vm, &original);
      if (!s.ok()) return Result(ReturnCodeFromStatus(s), s.message);
      std::vector<WmiObject> tests;
      s = session_->ExecQuery(kQueryTestVms, &tests);
      if (!s.ok()) return Result(ReturnCodeFromStatus(s), s.message);
      const std::string test_name = absl::StrCat(original.String("ElementName"), " - Test");
      for (const WmiObject& t : tests) {
        if (t.String("ElementName") != test_name) continue;
        absl::StatusOr<std::string> vsms = ServicePathLocked("Msvm_VirtualSystemManagementService");
        if (!vsms.ok()) {
          return Result(ErrorDetailOf(vsms.status()).return_code(),
                        std::string(vsms.status().message()));
        }
        return CallLocked(*vsms, "DestroySystem",
                          {{"AffectedSystem", WmiValue::Reference(t.path)}});
      }
      return Result(dr::v1::RETURN_CODE_INVALID_STATE,
                    absl::StrCat("VM ", op.vm_id, " has no test VM \"", test_name, "\""));
    }
    default:
      return Result(
          dr::v1::RETURN_CODE_NOT_SUPPORTED,
          absl::StrCat(dr::v1::JobType_Name(op.type), " is not supported by the WMI backend"));
  }
}

absl::StatusOr<JobInfo> WmiBackend::ReadJobLocked(const WmiObject& job) {
  JobInfo info;
  info.job_id = job.String("InstanceID");
  bool known = true;
  info.state = JobStateFromWmi(job.Int("JobState"), &known);
  info.percent = static_cast<uint32_t>(
      std::min<int64_t>(100, std::max<int64_t>(0, job.Int("PercentComplete"))));
  info.type = static_cast<dr::v1::JobType>(job.Int("JobType"));
  info.error_code = static_cast<uint32_t>(job.Int("ErrorCode"));
  info.error_summary = job.String("ErrorSummaryDescription");
  info.error_description = job.String("ErrorDescription");
  if (!known) {
    info.error_summary = absl::StrCat("unknown JobState ", job.Int("JobState"));
  }
  info.start_time = ParseCimDateTime(job.String("StartTime"));
  if (info.state >= dr::v1::JOB_STATE_COMPLETED) {
    info.end_time = ParseCimDateTime(job.String("TimeOfLastStateChange"));
  }
  info.cancellable = job.Bool("Cancellable");
  std::vector<WmiObject> vms;
  WmiStatus s = session_->ExecQuery(absl::StrCat("ASSOCIATORS OF {", JobPath(info.job_id),
                                                 "} WHERE ResultClass = Msvm_ComputerSystem"),
                                    &vms);
  if (s.ok() && !vms.empty()) info.vm_id = vms[0].String("Name");
  return info;
}

absl::StatusOr<JobInfo> WmiBackend::GetJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  WmiObject job;
  WmiStatus s = session_->GetObject(JobPath(job_id), &job);
  if (s.code == WmiCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " is gone (TimeBeforeRemoval passed)"));
  }
  if (!s.ok()) return ToAbsl(s);
  return ReadJobLocked(job);
}

absl::StatusOr<std::vector<JobInfo>> WmiBackend::ListJobs() {
  absl::MutexLock lock(&mu_);
  std::vector<WmiObject> jobs;
  WmiStatus s = session_->ExecQuery(kQueryJobs, &jobs);
  if (!s.ok()) return ToAbsl(s);
  std::vector<JobInfo> out;
  for (const WmiObject& j : jobs) {
    absl::StatusOr<JobInfo> info = ReadJobLocked(j);
    if (info.ok()) out.push_back(*std::move(info));
  }
  return out;
}

MethodResult WmiBackend::CancelJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  WmiObject job;
  WmiStatus s = session_->GetObject(JobPath(job_id), &job);
  if (s.code == WmiCode::kNotFound) {
    return Result(dr::v1::RETURN_CODE_INVALID_PARAMETER, absl::StrCat("no job ", job_id));
  }
  if (!s.ok()) return Result(ReturnCodeFromStatus(s), s.message);
  bool known = true;
  dr::v1::JobState state = JobStateFromWmi(job.Int("JobState"), &known);
  if (state >= dr::v1::JOB_STATE_COMPLETED) {
    return Result(dr::v1::RETURN_CODE_INVALID_STATE,
                  absl::StrCat("job ", job_id, " already ended"));
  }
  if (!job.Bool("Cancellable")) {
    return Result(dr::v1::RETURN_CODE_INVALID_STATE,
                  absl::StrCat("job ", job_id, " is not cancellable (KillJob is not supported)"));
  }
  return CallLocked(JobPath(job_id), "RequestStateChange",
                    {{"RequestedState", WmiValue::Int(kJobRequestTerminate)}});
}

absl::StatusOr<dr::v1::VirtualMachineInventory> WmiBackend::GetVirtualMachine(
    const std::string& vm_id) {
  // The full inventory joins five queries; one VM is a filter over it.
  absl::StatusOr<dr::v1::GetInventoryResponse> inv = GetInventory();
  if (!inv.ok()) return inv.status();
  for (const auto& vm : inv->virtual_machines()) {
    if (vm.virtual_machine().vm_id() == vm_id) return vm;
  }
  return absl::NotFoundError(absl::StrCat("no VM ", vm_id, " on this host"));
}

absl::StatusOr<dr::v1::GetInventoryResponse> WmiBackend::GetInventory() {
  absl::MutexLock lock(&mu_);
  std::vector<WmiObject> vms, rels, settings, stats, points, heartbeats;
  for (auto [query, out] : {std::pair{kQueryVms, &vms}, std::pair{kQueryRelationships, &rels},
                            std::pair{kQuerySettings, &settings}}) {
    WmiStatus s = session_->ExecQuery(query, out);
    if (!s.ok()) return ToAbsl(s);
  }
  // Optional sources: an inventory without RPO figures is still useful.
  session_->ExecQuery(kQueryStatistics, &stats);
  session_->ExecQuery(kQueryRecoveryPoints, &points);
  session_->ExecQuery(kQueryHeartbeats, &heartbeats);

  std::map<std::string, const WmiObject*> setting_by_id, stats_by_vm;
  for (const WmiObject& s : settings) setting_by_id[s.String("InstanceID")] = &s;
  for (const WmiObject& s : stats) stats_by_vm[VmIdFromInstanceId(s.String("InstanceID"))] = &s;

  dr::v1::GetInventoryResponse out;
  ToProto(absl::Now(), out.mutable_read_time());
  std::map<std::string, dr::v1::VirtualMachineInventory*> by_vm;
  for (const WmiObject& v : vms) {
    auto* inv = out.add_virtual_machines();
    auto* vm = inv->mutable_virtual_machine();
    vm->set_vm_id(v.String("Name"));
    vm->set_display_name(v.String("ElementName"));
    vm->set_enabled_state(static_cast<dr::v1::EnabledState>(v.Int("EnabledState")));
    vm->set_replication_mode(static_cast<dr::v1::ReplicationMode>(v.Int("ReplicationMode")));
    by_vm[vm->vm_id()] = inv;
  }
  for (const WmiObject& r : rels) {
    const std::string id = r.String("InstanceID");
    auto it = by_vm.find(VmIdFromInstanceId(id));
    if (it == by_vm.end()) continue;
    auto* rel = it->second->add_replication_relationships();
    rel->set_name(RelationshipIndex(id));
    rel->set_replication_state(static_cast<dr::v1::ReplicationState>(r.Int("ReplicationState")));
    rel->set_replication_health(static_cast<dr::v1::ReplicationHealth>(r.Int("ReplicationHealth")));
    ToProto(ParseCimDateTime(r.String("LastReplicationTime")),
            rel->mutable_last_replication_time());
    auto setting = setting_by_id.find(id);
    if (setting != setting_by_id.end()) {
      rel->set_primary_host(setting->second->String("PrimaryConnectionPoint"));
      rel->set_replica_host(setting->second->String("RecoveryConnectionPoint"));
      rel->set_replication_interval_seconds(
          static_cast<uint32_t>(setting->second->Int("ReplicationInterval")));
    }
    if (rel->name() == "0") {  // the primary relationship is the VM's state
      auto* vm = it->second->mutable_virtual_machine();
      vm->set_replication_state(rel->replication_state());
      vm->set_replication_health(rel->replication_health());
      *vm->mutable_last_replication_time() = rel->last_replication_time();
    }
  }
  for (auto& [vm_id, inv] : by_vm) {
    auto st = stats_by_vm.find(vm_id);
    if (st == stats_by_vm.end()) continue;
    inv->mutable_virtual_machine()->set_pending_replication_bytes(
        static_cast<uint64_t>(st->second->Int("PendingReplicationSize")));
    inv->mutable_virtual_machine()->set_replication_latency_seconds(
        static_cast<uint32_t>(st->second->Int("ReplicationLatency")));
  }
  for (const WmiObject& h : heartbeats) {
    auto it = by_vm.find(h.String("SystemName"));
    if (it == by_vm.end()) continue;
    it->second->set_heartbeat(HeartbeatFromWmi(it->second->virtual_machine().enabled_state(),
                                               h.Ints("OperationalStatus")));
  }
  for (const WmiObject& p : points) {
    auto it = by_vm.find(p.String("VirtualSystemIdentifier"));
    if (it == by_vm.end()) continue;
    auto* rp = it->second->add_recovery_points();
    rp->set_name(p.String("InstanceID"));
    rp->set_type(absl::StrContains(p.String("VirtualSystemType"), "ApplicationConsistent")
                     ? dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT
                     : dr::v1::RECOVERY_POINT_TYPE_STANDARD);
    ToProto(ParseCimDateTime(p.String("CreationTime")), rp->mutable_create_time());
  }
  return out;
}

}  // namespace wmi
}  // namespace hvdr
