// How drctl shows what drserver answers. A job it waits for: on a terminal,
// one line redrawn in place with a progress bar; otherwise (pipes, CI logs)
// one timestamped line per change, so a runbook's log reads as a history.
// Results: tables and blocks of text, or (--output json) protobuf JSON with
// the proto field names; errors: one line for stderr, or a JSON document
// (nlohmann-json) for stdout.
#ifndef HVDR_CLI_RENDER_H_
#define HVDR_CLI_RENDER_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "dr/v1/job_service.pb.h"
#include "dr/v1/resources.pb.h"
#include "dr/v1/topology_service.pb.h"
#include "google/protobuf/message.h"

namespace hvdr {
namespace cli {

// "Running", "Completed", ... (JobState without its prefix, as people say it).
std::string StateWord(dr::v1::JobState state);
// "InitiateFailover", "CommitFailover", ...
std::string TypeWord(dr::v1::JobType type);
// "[##########----------]  50%" with `width` cells.
std::string ProgressBar(uint32_t percent, int width = 20);
// The redrawn terminal line (no newline; starts with '\r').
std::string TerminalLine(const dr::v1::Job& job);
// Whether a plain log should show `next` after `shown`: a new state, return
// code or error, or progress across a 10% mark. Keeps CI logs short.
bool WorthALine(const dr::v1::Job& shown, const dr::v1::Job& next);
// A plain line: "<RFC3339 time> <job> <type> <state> <percent>% [code ...]".
std::string PlainLine(const dr::v1::Job& job, absl::Time now);

// `m` as indented JSON with the proto field names.
std::string ToJson(const google::protobuf::Message& m);
// An enum value's name without its first `prefix` characters, in lower
// case: ("REPLICATION_MODE_REPLICA", 17) -> "replica".
std::string Short(const std::string& enum_name, size_t prefix);
// How long ago `vm` last replicated ("42s ago"), or "-".
std::string Rpo(const dr::v1::VirtualMachine& vm, absl::Time now);

// A job as a block of "field: value" lines.
void PrintJob(std::ostream& out, const dr::v1::Job& job);
void PrintHosts(std::ostream& out, const dr::v1::ListHostsResponse& hosts);
void PrintVirtualMachines(std::ostream& out, const dr::v1::ListVirtualMachinesResponse& vms,
                          absl::Time now);
// One VM copy with its relationships and recovery points, as text and as
// one JSON document.
void PrintVirtualMachine(std::ostream& out, const dr::v1::VirtualMachine& vm,
                         const dr::v1::ListReplicationRelationshipsResponse& relationships,
                         const dr::v1::ListRecoveryPointsResponse& points, absl::Time now);
std::string VirtualMachineJson(const dr::v1::VirtualMachine& vm,
                               const dr::v1::ListReplicationRelationshipsResponse& relationships,
                               const dr::v1::ListRecoveryPointsResponse& points);
void PrintJobs(std::ostream& out, const dr::v1::ListJobsResponse& jobs);
void PrintJobEvents(std::ostream& out, const dr::v1::ListJobEventsResponse& events);

// An error for stderr: "drctl: <message> [<code>, Hyper-V <n> <text>]",
// the Hyper-V code from the status's ErrorDetail (0 without one).
std::string ErrorLine(const absl::Status& status, const std::string& message);
// The same as JSON: {"error": {code, hyperv_return_code, field, reason,
// message}, "exit_status": n}.
std::string ErrorJson(const absl::Status& status, const std::string& message, int exit_status);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_RENDER_H_
