#include "cli/commands.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/operations.h"
#include "cli/plan_commands.h"
#include "cli/plan_run_commands.h"
#include "cli/render.h"
#include "common/proto_time.h"

namespace hvdr {
namespace cli {
namespace {

constexpr char kHelpHead[] = R"(drctl: DR runbook commands for drserver (Hyper-V Replica).

Usage: drctl [global flags] COMMAND [ARGS] [flags]

)";

constexpr char kHelpTail[] =
    R"(VM is a display name, a VM GUID, or hosts/{host}/virtualMachines/{guid}. A
name or GUID names two copies (primary and replica): for an operation
drserver picks the copy it runs on (the replica for failover, revert, commit,
test-failover, cleanup, reverse and reip; the primary for prepare), also when
a step is re-run with the same --request-id after the roles swapped; start,
stop and vms show need one copy: --host picks one copy explicitly. HOST is a
host id or hosts/{host}; JOB is an id or jobs/{id}.
STATE, HEALTH, MODE and TYPE take Hyper-V names, e.g. replicating, critical,
replica, initiate-failover.

Global flags
  --server HOST:PORT    drserver address (default $DRCTL_SERVER or 127.0.0.1:50051)
  --output text|json    json: machine-readable results on stdout
  --request-id ID       idempotency key: re-running the step with the same id
                        returns the same job and never runs it twice
                        (default: a new random id, printed)
  --requester NAME      recorded with the job by a drserver without TLS (default
                        $USER); with TLS, drserver records who authenticated
  --ca-file PEM         use TLS: drserver's CA (default $DRCTL_CA_FILE)
  --cert-file PEM --key-file PEM
                        authenticate with a client certificate
                        (default $DRCTL_CERT_FILE, $DRCTL_KEY_FILE)
  --token-file FILE     authenticate with the bearer token in FILE (default
                        $DRCTL_TOKEN_FILE, or the token in $DRCTL_TOKEN)
  --no-wait             print the job and return at once
  --wait-timeout SECS   how long to wait for a job (default 3600)
  --timeout SECS        deadline of each call to drserver (default 30)

Exit status
  0  success (a job: it completed)
  1  internal error
  2  usage error (bad command line)
  3  refused: the request was invalid or not allowed now (Hyper-V 32773,
     32775, ...); the message names the field and the reason
  4  busy: another job is running on the VM (Hyper-V 32774); retry later
  5  the job failed (Exception, Terminated, Killed): see its error
  6  drserver unreachable at the address given
  8  refused: not authenticated, or not allowed (Hyper-V 32769 Access Denied)
  7  gave up waiting (--wait-timeout), or the job's status is unknown (32771)
)";

struct SectionHelp {
  Section section;
  const char* title;
  size_t column;  // where summaries start
};
constexpr SectionHelp kSections[] = {
    {Section::kTopology, "Topology", 35},
    {Section::kOperations, "Operations (each records a job; drctl waits for it unless --no-wait)",
     47},
    {Section::kJobs, "Jobs", 0},
    {Section::kPlans, "Recovery plans (PLAN: an id or plans/{plan}; FILE: a plan in text format)",
     0},
    {Section::kAudit, "Audit trail (every mutating call, accepted or refused)", 0},
};

std::string Sub(const ParsedArgs& a) { return a.positional.size() > 1 ? a.positional[1] : ""; }

// Reports an error, or shows the result: as JSON, or by `print`.
template <typename M, typename Print>
int Show(Ctx& ctx, const absl::StatusOr<M>& result, Print print) {
  if (!result.ok()) return Fail(ctx, result.status());
  if (ctx.json) {
    *ctx.out << ToJson(*result) << std::endl;
  } else {
    print(*result);
  }
  return kOk;
}

int HostsList(Ctx& ctx, const ParsedArgs& a) {
  dr::v1::ListHostsRequest r;
  if (a.Has("site")) r.set_site(SiteArg(a.Get("site")));
  r.set_page_size(1000);
  return Show(ctx, ctx.client->ListHosts(r),
              [&](const auto& hosts) { PrintHosts(*ctx.out, hosts); });
}

int HostsAdd(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "hosts add takes HOST_ID");
  if (!a.Has("site") || !a.Has("agent")) return Usage(ctx, "hosts add needs --site and --agent");
  dr::v1::RegisterHostRequest r;
  r.set_host_id(a.positional[2]);
  r.set_site(SiteArg(a.Get("site")));
  r.set_agent_address(a.Get("agent"));
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  absl::StatusOr<dr::v1::Host> h = ctx.client->RegisterHost(r);
  if (!h.ok()) return Fail(ctx, h.status());
  if (ctx.json) {
    *ctx.out << ToJson(*h) << std::endl;
  } else {
    *ctx.out << h->name() << " registered in " << h->site() << ": agent " << h->agent_address()
             << " " << Short(dr::v1::Reachability_Name(h->reachability()), 13)
             << (h->last_error().empty() ? "" : " (" + h->last_error() + ")") << std::endl;
  }
  return kOk;
}

int HostsSync(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "hosts sync takes HOST");
  dr::v1::SyncHostRequest r;
  r.set_name(HostArg(a.positional[2]));
  absl::StatusOr<dr::v1::Host> h = ctx.client->SyncHost(r);
  if (!h.ok()) return Fail(ctx, h.status());
  if (ctx.json) {
    *ctx.out << ToJson(*h) << std::endl;
  } else {
    *ctx.out << h->name() << ": " << Short(dr::v1::Reachability_Name(h->reachability()), 13)
             << (h->stale() ? ", stale: " + h->last_error() : "") << std::endl;
  }
  return h->reachability() == dr::v1::REACHABILITY_REACHABLE ? kOk : kUnreachable;
}

int HostsRemove(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "hosts remove takes HOST");
  dr::v1::DeleteHostRequest r;
  r.set_name(HostArg(a.positional[2]));
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  absl::Status st = ctx.client->DeleteHost(r);
  if (!st.ok()) return Fail(ctx, st);
  if (ctx.json) {
    *ctx.out << "{\"removed\": \"" << r.name() << "\"}" << std::endl;
  } else {
    *ctx.out << r.name() << " removed" << std::endl;
  }
  return kOk;
}

int AuditList(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 2) return Usage(ctx, "audit takes list");
  dr::v1::ListAuditEventsRequest r;
  r.set_identity(a.Get("identity", ""));
  r.set_resource(a.Get("resource", ""));
  r.set_method(a.Get("method", ""));
  int limit = 50;
  if (a.Has("limit") && (!absl::SimpleAtoi(a.Get("limit"), &limit) || limit <= 0 || limit > 1000)) {
    return Usage(ctx, "--limit takes 1-1000");
  }
  r.set_page_size(limit);
  return Show(
      ctx, ctx.client->ListAuditEvents(r), [&](const dr::v1::ListAuditEventsResponse& page) {
        for (const auto& e : page.audit_events()) {
          *ctx.out
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromProto(e.time()), absl::UTCTimeZone())
              << "  " << (e.identity().empty() ? "-" : e.identity()) << "  " << e.method() << "  "
              << (e.resource().empty() ? "-" : e.resource()) << "  "
              << (e.status_code() == 0 ? "OK" : absl::StrCat("refused (", e.status_code(), ")"))
              << (e.return_code() != 0 ? absl::StrCat(" ", static_cast<int>(e.return_code())) : "")
              << (e.created().empty() ? "" : absl::StrCat(" -> ", e.created()))
              << (e.message().empty() ? "" : absl::StrCat(": ", e.message())) << "\n";
        }
        *ctx.out << std::flush;
      });
}

int SitesList(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 2) return Usage(ctx, "sites takes list");
  dr::v1::ListSitesRequest r;
  r.set_page_size(1000);
  return Show(ctx, ctx.client->ListSites(r), [&](const dr::v1::ListSitesResponse& sites) {
    for (const auto& s : sites.sites()) *ctx.out << s.name() << "\n";
    *ctx.out << std::flush;
  });
}

int VmsList(Ctx& ctx, const ParsedArgs& a) {
  dr::v1::ListVirtualMachinesRequest r;
  r.set_parent(a.Has("host") ? HostArg(a.Get("host")) : "hosts/-");
  if (a.Has("site")) r.set_site(SiteArg(a.Get("site")));
  for (const auto& s : a.All("state")) {
    auto v = ParseEnum<dr::v1::ReplicationState>("--state", "REPLICATION_STATE_", s,
                                                 dr::v1::ReplicationState_Parse);
    if (!v.ok()) return Fail(ctx, v.status());
    r.add_replication_states(*v);
  }
  for (const auto& s : a.All("health")) {
    auto v = ParseEnum<dr::v1::ReplicationHealth>("--health", "REPLICATION_HEALTH_", s,
                                                  dr::v1::ReplicationHealth_Parse);
    if (!v.ok()) return Fail(ctx, v.status());
    r.add_replication_healths(*v);
  }
  if (a.Has("mode")) {
    auto v = ParseEnum<dr::v1::ReplicationMode>("--mode", "REPLICATION_MODE_", a.Get("mode"),
                                                dr::v1::ReplicationMode_Parse);
    if (!v.ok()) return Fail(ctx, v.status());
    r.set_replication_mode(*v);
    r.set_filter_replication_mode(true);
  }
  r.set_page_size(1000);
  return Show(ctx, ctx.client->ListAllVirtualMachines(r),
              [&](const auto& vms) { PrintVirtualMachines(*ctx.out, vms, absl::Now()); });
}

int VmsShow(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 3) return Usage(ctx, "vms show takes VM");
  absl::StatusOr<std::string> name = FindOneCopy(ctx, a.positional[2], a.Get("host"));
  if (!name.ok()) return Fail(ctx, name.status());
  dr::v1::GetVirtualMachineRequest g;
  g.set_name(*name);
  absl::StatusOr<dr::v1::VirtualMachine> vm = ctx.client->GetVirtualMachine(g);
  if (!vm.ok()) return Fail(ctx, vm.status());
  dr::v1::ListRecoveryPointsRequest pr;
  pr.set_parent(*name);
  pr.set_page_size(1000);
  absl::StatusOr<dr::v1::ListRecoveryPointsResponse> points = ctx.client->ListRecoveryPoints(pr);
  if (!points.ok()) return Fail(ctx, points.status());
  dr::v1::ListReplicationRelationshipsRequest rr;
  rr.set_parent(*name);
  absl::StatusOr<dr::v1::ListReplicationRelationshipsResponse> rels =
      ctx.client->ListReplicationRelationships(rr);
  if (!rels.ok()) return Fail(ctx, rels.status());
  if (ctx.json) {
    *ctx.out << VirtualMachineJson(*vm, *rels, *points) << std::endl;
  } else {
    PrintVirtualMachine(*ctx.out, *vm, *rels, *points, absl::Now());
  }
  return kOk;
}

int JobsList(Ctx& ctx, const ParsedArgs& a) {
  dr::v1::ListJobsRequest r;
  for (const auto& s : a.All("state")) {
    auto v = ParseEnum<dr::v1::JobState>("--state", "JOB_STATE_", s, dr::v1::JobState_Parse);
    if (!v.ok()) return Fail(ctx, v.status());
    r.add_states(*v);
  }
  for (const auto& s : a.All("type")) {
    auto v = ParseEnum<dr::v1::JobType>("--type", "JOB_TYPE_", s, dr::v1::JobType_Parse);
    if (!v.ok()) return Fail(ctx, v.status());
    r.add_types(*v);
  }
  if (a.Has("vm")) {
    absl::StatusOr<std::string> vm = FindOneCopy(ctx, a.Get("vm"), a.Get("host"));
    if (!vm.ok()) return Fail(ctx, vm.status());
    r.set_virtual_machine(*vm);
  }
  if (a.Has("host")) r.set_host(HostArg(a.Get("host")));
  int limit = 50;
  if (a.Has("limit") && (!absl::SimpleAtoi(a.Get("limit"), &limit) || limit <= 0)) {
    return Usage(ctx, "--limit takes a positive number");
  }
  r.set_page_size(limit);
  return Show(ctx, ctx.client->ListJobs(r), [&](const auto& jobs) { PrintJobs(*ctx.out, jobs); });
}

// jobs get|watch|events|cancel JOB: the job's name, or "" after reporting
// a usage error in *exit.
std::string JobOperand(Ctx& ctx, const ParsedArgs& a, int* exit) {
  if (a.positional.size() == 3) return JobArg(a.positional[2]);
  *exit = Usage(ctx, absl::StrCat("jobs ", Sub(a).empty() ? "" : Sub(a) + " ", "takes JOB"));
  return "";
}

int ShowJob(Ctx& ctx, const absl::StatusOr<dr::v1::Job>& job) {
  return Show(ctx, job, [&](const dr::v1::Job& j) { PrintJob(*ctx.out, j); });
}

int JobsGet(Ctx& ctx, const ParsedArgs& a) {
  int exit = kOk;
  dr::v1::GetJobRequest r;
  r.set_name(JobOperand(ctx, a, &exit));
  if (exit != kOk) return exit;
  return ShowJob(ctx, ctx.client->GetJob(r));
}

int JobsWatch(Ctx& ctx, const ParsedArgs& a) {
  int exit = kOk;
  const std::string name = JobOperand(ctx, a, &exit);
  if (exit != kOk) return exit;
  return WaitForJob(ctx, name);
}

int JobsEvents(Ctx& ctx, const ParsedArgs& a) {
  int exit = kOk;
  dr::v1::ListJobEventsRequest r;
  r.set_parent(JobOperand(ctx, a, &exit));
  if (exit != kOk) return exit;
  r.set_page_size(1000);
  return Show(ctx, ctx.client->ListJobEvents(r),
              [&](const auto& events) { PrintJobEvents(*ctx.out, events); });
}

int JobsCancel(Ctx& ctx, const ParsedArgs& a) {
  int exit = kOk;
  dr::v1::CancelJobRequest r;
  r.set_name(JobOperand(ctx, a, &exit));
  if (exit != kOk) return exit;
  r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
  return ShowJob(ctx, ctx.client->CancelJob(r));
}

Command Op(const std::string& command, std::string usage, std::string summary,
           bool same_line = false) {
  const OperationSpec* op = FindOperation(command);
  return {command,
          std::move(usage),
          std::move(summary),
          Section::kOperations,
          same_line,
          [op](Ctx& ctx, const ParsedArgs& a) { return RunOperation(ctx, *op, a); }};
}

// The subcommands of `group` ("hosts": list, add, sync, remove).
std::vector<std::string> Subcommands(const std::string& group) {
  std::vector<std::string> subs;
  for (const Command& c : Commands()) {
    if (absl::StartsWith(c.name, group + " ")) subs.push_back(c.name.substr(group.size() + 1));
  }
  return subs;
}

int UnknownSubcommand(Ctx& ctx, const std::string& group, const std::vector<std::string>& subs,
                      const ParsedArgs& a) {
  // jobs has always checked for its JOB operand before its subcommand.
  if (group == "jobs" && a.positional.size() != 3) {
    int exit = kOk;
    JobOperand(ctx, a, &exit);
    return exit;
  }
  std::string list = subs.back();
  if (subs.size() > 1) {
    list = absl::StrCat(absl::StrJoin(subs.begin(), subs.end() - 1, ", "), " or ", subs.back());
  }
  return Usage(ctx, absl::StrCat(group, " takes ", list));
}

}  // namespace

const std::vector<Command>& Commands() {
  using S = Section;
  static const std::vector<Command>* const kCommands = new std::vector<Command>{
      {"hosts list", "[--site SITE]", "", S::kTopology, false, HostsList},
      {"hosts add", "HOST_ID --site SITE --agent HOST:PORT", "", S::kTopology, false, HostsAdd},
      {"hosts sync", "HOST", "", S::kTopology, false, HostsSync},
      {"hosts remove", "HOST", "", S::kTopology, false, HostsRemove},
      {"sites list", "", "", S::kTopology, false, SitesList},
      {"audit list", "[--identity ID] [--resource NAME] [--method METHOD] [--limit N]",
       "newest first", S::kAudit, false, AuditList},
      {"vms list",
       "[--site SITE] [--host HOST] [--state STATE]... [--health HEALTH]... [--mode MODE]", "",
       S::kTopology, false, VmsList},
      {"vms show", "VM", "(with its relationships and recovery points)", S::kTopology, false,
       VmsShow},
      Op("failover", "VM [--recovery-point ID|latest]", "InitiateFailover on the replica copy"),
      Op("revert", "VM", "RevertFailover"),
      Op("commit", "VM", "CommitFailover"),
      Op("test-failover", "VM [--recovery-point ID|latest]", "TestReplicaSystem"),
      Op("cleanup", "VM", "remove the test VM"),
      Op("reverse", "VM", "ReverseReplicationRelationship"),
      Op("prepare", "VM", "planned failover: prepare the (off) primary"),
      Op("start", "VM", "start / turn off a VM copy"),
      Op("stop", "VM", "", /*same_line=*/true),
      Op("reip",
         "VM --adapter NAME (--dhcp | --ip IP [--subnet MASK] [--gateway IP] [--dns IP]...)", ""),
      {"jobs list", "[--state STATE]... [--vm VM] [--host HOST] [--type TYPE]... [--limit N]", "",
       S::kJobs, false, JobsList},
      {"jobs get", "JOB", "", S::kJobs, false, JobsGet},
      {"jobs watch", "JOB", "", S::kJobs, true, JobsWatch},
      {"jobs events", "JOB", "", S::kJobs, true, JobsEvents},
      {"jobs cancel", "JOB", "", S::kJobs, true, JobsCancel},
      {"plans apply", "-f FILE", "", S::kPlans, false, PlansApply},
      {"plans list", "", "", S::kPlans, true, PlansList},
      {"plans show", "PLAN", "", S::kPlans, true, PlansShow},
      {"plans delete", "PLAN [--etag ETAG]", "", S::kPlans, true, PlansDelete},
      {"plans validate", "PLAN --mode test|cleanup-test|planned|unplanned|commit|revert", "",
       S::kPlans, false, PlansValidate},
      {"plans run", "PLAN --mode MODE [--commit-after SECS | --revert-after SECS]",
       "start an execution and follow it", S::kPlans, false, PlansRun},
      {"plans watch", "EXECUTION", "follow an execution", S::kPlans, false, PlansWatch},
      {"plans answer", "STEP [--decline] [--comment TEXT]", "answer a prompt", S::kPlans, false,
       PlansAnswer},
      {"plans resume", "EXECUTION --action retry|skip [--scope step|vm|group]", "", S::kPlans,
       false, PlansResume},
      {"plans cancel", "EXECUTION [--reason TEXT]", "", S::kPlans, true, PlansCancel},
      {"plans report", "EXECUTION [--format text|json|html] [-o FILE]",
       "for audits: per VM RPO and RTO, steps", S::kPlans, false, PlansReport},
  };
  return *kCommands;
}

const FlagSpec& Flags() {
  static const FlagSpec* const kFlags = new FlagSpec{
      {"server",  "output",    "request-id", "requester",      "wait-timeout", "timeout",
       "site",    "host",      "agent",      "state",          "health",       "mode",
       "type",    "vm",        "limit",      "recovery-point", "adapter",      "ip",
       "subnet",  "gateway",   "dns",        "file",           "comment",      "reason",
       "action",  "scope",     "format",     "output-file",    "commit-after", "revert-after",
       "ca-file", "cert-file", "key-file",   "token-file",     "identity",     "resource",
       "method",  "etag"},
      {"no-wait", "dhcp", "help", "decline"},
      {{"-f", "file"}, {"-o", "output-file"}}};
  return *kFlags;
}

std::string HelpText() {
  std::string help = kHelpHead;
  for (const SectionHelp& section : kSections) {
    absl::StrAppend(&help, section.title, "\n");
    std::string line, summary;
    auto end_line = [&] {
      if (line.empty()) return;
      if (!summary.empty()) {
        line.append(line.size() + 2 > section.column ? 2 : section.column - line.size(), ' ');
        line += summary;
      }
      absl::StrAppend(&help, line, "\n");
      line.clear();
      summary.clear();
    };
    for (const Command& c : Commands()) {
      if (c.section != section.section) continue;
      const std::string synopsis = c.usage.empty() ? c.name : absl::StrCat(c.name, " ", c.usage);
      if (c.same_line && !line.empty()) {
        absl::StrAppend(&line, " | ", synopsis);
      } else {
        end_line();
        line = absl::StrCat("  ", synopsis);
      }
      if (summary.empty()) summary = c.summary;
    }
    end_line();
    help += "\n";
  }
  return help + kHelpTail;
}

int RunCommand(Ctx& ctx, const ParsedArgs& a) {
  const std::string& first = a.positional[0];
  const std::string two = a.positional.size() > 1 ? absl::StrCat(first, " ", a.positional[1]) : "";
  for (const std::string& name : {two, first}) {
    for (const Command& c : Commands()) {
      if (!name.empty() && c.name == name) return c.handler(ctx, a);
    }
  }
  std::vector<std::string> subs = Subcommands(first);
  if (!subs.empty()) return UnknownSubcommand(ctx, first, subs, a);
  return Usage(ctx, absl::StrCat("unknown command \"", first, "\""));
}

}  // namespace cli
}  // namespace hvdr
