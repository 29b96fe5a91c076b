#include "cli/render.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {

namespace {

std::string Camel(const std::string& upper_snake) {
  std::string out;
  bool up = true;
  for (char c : upper_snake) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    up = false;
  }
  return out;
}

std::string Suffix(const dr::v1::Job& job) {
  std::string s;
  if (job.return_code() != dr::v1::RETURN_CODE_JOB_STARTED &&
      job.return_code() != dr::v1::RETURN_CODE_COMPLETED) {
    absl::StrAppend(&s, " return code ", static_cast<int>(job.return_code()));
  }
  if (job.error_code() != 0) absl::StrAppend(&s, " error ", job.error_code());
  if (!job.error_summary().empty()) absl::StrAppend(&s, ": ", job.error_summary());
  if (!job.error_description().empty()) absl::StrAppend(&s, " (", job.error_description(), ")");
  return s;
}

}  // namespace

std::string StateWord(dr::v1::JobState state) {
  const std::string name = dr::v1::JobState_Name(state);
  return name.empty() ? absl::StrCat(static_cast<int>(state)) : Camel(name.substr(10));
}

std::string TypeWord(dr::v1::JobType type) {
  const std::string name = dr::v1::JobType_Name(type);
  return name.empty() ? absl::StrCat(static_cast<int>(type)) : Camel(name.substr(9));
}

std::string ProgressBar(uint32_t percent, int width) {
  if (percent > 100) percent = 100;
  const int filled = static_cast<int>(percent) * width / 100;
  return absl::StrFormat("[%s%s] %3d%%", std::string(filled, '#'), std::string(width - filled, '-'),
                         percent);
}

std::string TerminalLine(const dr::v1::Job& job) {
  return absl::StrCat("\r", ProgressBar(job.percent_complete()), "  ", StateWord(job.state()), "  ",
                      TypeWord(job.type()), "  ", job.name(), Suffix(job), "\x1b[K");
}

bool WorthALine(const dr::v1::Job& shown, const dr::v1::Job& next) {
  return shown.name().empty() || shown.state() != next.state() ||
         shown.return_code() != next.return_code() || shown.error_code() != next.error_code() ||
         shown.percent_complete() / 10 != next.percent_complete() / 10;
}

std::string PlainLine(const dr::v1::Job& job, absl::Time now) {
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone()), " ",
                      job.name(), " ", TypeWord(job.type()), " ", StateWord(job.state()), " ",
                      job.percent_complete(), "%", Suffix(job));
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string Short(const std::string& enum_name, size_t prefix) {
  return enum_name.size() > prefix ? absl::AsciiStrToLower(enum_name.substr(prefix)) : enum_name;
}

std::string Rpo(const dr::v1::VirtualMachine& vm, absl::Time now) {
  if (!vm.has_last_replication_time()) return "-";
  const absl::Duration age = now - FromProto(vm.last_replication_time());
  return absl::StrCat(absl::ToInt64Seconds(age), "s ago");
}

namespace {

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return absl::FormatTime(absl::RFC3339_sec, FromProto(t), absl::UTCTimeZone());
}

std::string PowerWord(dr::v1::EnabledState state) {
  if (state == dr::v1::ENABLED_STATE_ENABLED) return "running";
  if (state == dr::v1::ENABLED_STATE_DISABLED) return "off";
  return Short(dr::v1::EnabledState_Name(state), 14);
}

std::string LastSegment(const std::string& name) { return name.substr(name.rfind('/') + 1); }

}  // namespace

void PrintJob(std::ostream& out, const dr::v1::Job& job) {
  out << "job:         " << job.name() << "\n"
      << "type:        " << TypeWord(job.type()) << "\n"
      << "state:       " << StateWord(job.state()) << " (" << job.percent_complete() << "%)\n"
      << "return code: " << static_cast<int>(job.return_code()) << " "
      << ReturnCodeText(job.return_code()) << "\n"
      << "vm:          " << job.virtual_machine() << "\n";
  if (!job.recovery_point().empty()) out << "point:       " << job.recovery_point() << "\n";
  if (job.error_code() != 0 || !job.error_summary().empty()) {
    out << "error:       " << job.error_code() << " " << job.error_summary() << "\n";
    if (!job.error_description().empty()) out << "             " << job.error_description() << "\n";
  }
  out << "requested:   " << (job.requester().empty() ? "-" : job.requester()) << " (request_id "
      << job.request_id() << ")\n"
      << "created:     " << Rfc3339(job.create_time()) << std::endl;
}

void PrintHosts(std::ostream& out, const dr::v1::ListHostsResponse& hosts) {
  constexpr char kRow[] = "%-24s %-16s %-22s %-12s %-6s %s\n";
  out << absl::StrFormat(kRow, "HOST", "SITE", "AGENT", "REACHABLE", "STALE", "LAST SYNC");
  for (const auto& h : hosts.hosts()) {
    out << absl::StrFormat(kRow, h.name(), h.site(), h.agent_address(),
                           Short(dr::v1::Reachability_Name(h.reachability()), 13),
                           h.stale() ? "yes" : "no",
                           h.has_last_sync_time() ? Rfc3339(h.last_sync_time()) : "-");
    if (!h.last_error().empty()) out << "    last error: " << h.last_error() << "\n";
  }
}

void PrintVirtualMachines(std::ostream& out, const dr::v1::ListVirtualMachinesResponse& vms,
                          absl::Time now) {
  out << absl::StrFormat("%-12s %-38s %-14s %-8s %-28s %-9s %-9s %s\n", "NAME", "GUID", "HOST",
                         "MODE", "STATE", "HEALTH", "POWER", "LAST REPLICATION");
  for (const auto& vm : vms.virtual_machines()) {
    out << absl::StrFormat("%-12s %-38s %-14s %-8s %-28s %-9s %-9s %s%s\n", vm.display_name(),
                           vm.vm_id(), vm.host().substr(6),
                           Short(dr::v1::ReplicationMode_Name(vm.replication_mode()), 17),
                           Short(dr::v1::ReplicationState_Name(vm.replication_state()), 18),
                           Short(dr::v1::ReplicationHealth_Name(vm.replication_health()), 19),
                           PowerWord(vm.enabled_state()), Rpo(vm, now),
                           vm.active_job().empty() ? "" : "  [" + vm.active_job() + "]");
  }
}

void PrintVirtualMachine(std::ostream& out, const dr::v1::VirtualMachine& vm,
                         const dr::v1::ListReplicationRelationshipsResponse& relationships,
                         const dr::v1::ListRecoveryPointsResponse& points, absl::Time now) {
  out << vm.display_name() << " (" << vm.name() << ")\n"
      << "  site " << vm.site() << ", mode "
      << Short(dr::v1::ReplicationMode_Name(vm.replication_mode()), 17) << ", state "
      << Short(dr::v1::ReplicationState_Name(vm.replication_state()), 18) << ", health "
      << Short(dr::v1::ReplicationHealth_Name(vm.replication_health()), 19) << "\n"
      << "  last replication " << Rpo(vm, now) << ", pending " << vm.pending_replication_bytes()
      << " bytes, latency " << vm.replication_latency_seconds() << "s"
      << (vm.active_job().empty() ? "" : ", running " + vm.active_job()) << "\n";
  for (const auto& rel : relationships.replication_relationships()) {
    out << "  relationship " << LastSegment(rel.name()) << ": " << rel.primary_host() << " -> "
        << rel.replica_host() << " every " << rel.replication_interval_seconds() << "s\n";
  }
  out << "  recovery points (" << points.recovery_points_size() << "):\n";
  for (const auto& p : points.recovery_points()) {
    out << "    "
        << absl::StrFormat("%-24s %-26s %s\n", LastSegment(p.name()),
                           Short(dr::v1::RecoveryPointType_Name(p.type()), 20),
                           Rfc3339(p.create_time()));
  }
  out << std::flush;
}

std::string VirtualMachineJson(const dr::v1::VirtualMachine& vm,
                               const dr::v1::ListReplicationRelationshipsResponse& relationships,
                               const dr::v1::ListRecoveryPointsResponse& points) {
  return absl::StrCat("{\"virtual_machine\": ", ToJson(vm),
                      ",\n\"replication_relationships\": ", ToJson(relationships),
                      ",\n\"recovery_points\": ", ToJson(points), "}");
}

void PrintJobs(std::ostream& out, const dr::v1::ListJobsResponse& jobs) {
  out << absl::StrFormat("%-34s %-22s %-10s %4s %-6s %s\n", "JOB", "TYPE", "STATE", "%", "CODE",
                         "VM");
  for (const auto& j : jobs.jobs()) {
    out << absl::StrFormat("%-34s %-22s %-10s %4d %-6d %s\n", j.name(), TypeWord(j.type()),
                           StateWord(j.state()), j.percent_complete(),
                           static_cast<int>(j.return_code()), j.virtual_machine());
  }
}

void PrintJobEvents(std::ostream& out, const dr::v1::ListJobEventsResponse& events) {
  for (const auto& e : events.job_events()) {
    out << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", FromProto(e.event_time()), absl::UTCTimeZone())
        << " #" << e.sequence() << " " << StateWord(e.state()) << " " << e.percent_complete()
        << "% code " << static_cast<int>(e.return_code())
        << (e.message().empty() ? "" : " " + e.message()) << "\n";
  }
  out << std::flush;
}

std::string ErrorLine(const absl::Status& status, const std::string& message) {
  const dr::v1::ErrorDetail d = ErrorDetailOf(status);
  return absl::StrCat("drctl: ", message, " [", absl::StatusCodeToString(status.code()),
                      ", Hyper-V ", static_cast<int>(d.return_code()), " ",
                      ReturnCodeText(d.return_code()), "]");
}

std::string ErrorJson(const absl::Status& status, const std::string& message, int exit_status) {
  const dr::v1::ErrorDetail d = ErrorDetailOf(status);
  nlohmann::json j;
  j["error"]["code"] = absl::StatusCodeToString(status.code());
  j["error"]["hyperv_return_code"] = static_cast<int>(d.return_code());
  j["error"]["field"] = d.field();
  j["error"]["reason"] = d.reason();
  j["error"]["message"] = message;
  j["exit_status"] = exit_status;
  return j.dump(2);
}

}  // namespace cli
}  // namespace hvdr
