// drctl: the DR runbook command line for drserver. See `drctl --help`.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include <grpcpp/grpcpp.h>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/args.h"
#include "cli/render.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {
namespace {

enum Exit {
  kOk = 0,
  kError = 1,
  kUsage = 2,
  kRefused = 3,
  kBusy = 4,
  kJobFailed = 5,
  kUnreachable = 6,
  kTimeout = 7,
};

constexpr char kUsageText[] = R"(drctl: DR runbook commands for drserver (Hyper-V Replica).

Usage: drctl [global flags] COMMAND [ARGS] [flags]

Topology
  hosts list [--site SITE]
  hosts add HOST_ID --site SITE --agent HOST:PORT
  hosts sync HOST
  hosts remove HOST
  sites list
  vms list [--site SITE] [--host HOST] [--state STATE]... [--health HEALTH]... [--mode MODE]
  vms show VM                      (with its relationships and recovery points)

Operations (each records a job; drctl waits for it unless --no-wait)
  failover VM [--recovery-point ID|latest]     InitiateFailover on the replica copy
  revert VM                                    RevertFailover
  commit VM                                    CommitFailover
  test-failover VM [--recovery-point ID|latest]  TestReplicaSystem
  cleanup VM                                   remove the test VM
  reverse VM                                   ReverseReplicationRelationship
  prepare VM                                   planned failover: prepare the (off) primary
  start VM | stop VM                           start / turn off a VM copy
  reip VM --adapter NAME (--dhcp | --ip IP [--subnet MASK] [--gateway IP] [--dns IP]...)

Jobs
  jobs list [--state STATE]... [--vm VM] [--host HOST] [--type TYPE]... [--limit N]
  jobs get JOB | jobs watch JOB | jobs events JOB | jobs cancel JOB

VM is a display name, a VM GUID, or hosts/{host}/virtualMachines/{guid}. A
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
  --requester NAME      recorded with the job (default $USER)
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
  7  gave up waiting (--wait-timeout), or the job's status is unknown (32771)
)";

struct Ctx {
  std::string server;
  bool json = false;
  bool tty = false;
  absl::Duration timeout = absl::Seconds(30);
  absl::Duration wait_timeout = absl::Hours(1);
  std::string requester;
  std::unique_ptr<dr::v1::TopologyService::Stub> topology;
  std::unique_ptr<dr::v1::FailoverService::Stub> failover;
  std::unique_ptr<dr::v1::JobService::Stub> jobs;
};

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

int ExitFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return kOk;
    case absl::StatusCode::kUnavailable: return kUnreachable;
    case absl::StatusCode::kDeadlineExceeded: return kUnreachable;
    case absl::StatusCode::kAborted: return kBusy;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
      return kRefused;
    default: return kError;
  }
}

int Fail(const Ctx& ctx, const absl::Status& s) {
  const int code = ExitFor(s);
  const dr::v1::ErrorDetail d = ErrorDetailOf(s);
  std::string message(s.message());
  if (code == kUnreachable) message = absl::StrCat("cannot reach drserver at ", ctx.server, ": ", message);
  if (ctx.json) {
    nlohmann::json j;
    j["error"]["code"] = absl::StatusCodeToString(s.code());
    j["error"]["hyperv_return_code"] = static_cast<int>(d.return_code());
    j["error"]["field"] = d.field();
    j["error"]["reason"] = d.reason();
    j["error"]["message"] = message;
    j["exit_status"] = code;
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cerr << "drctl: " << message << " [" << absl::StatusCodeToString(s.code()) << ", Hyper-V "
              << static_cast<int>(d.return_code()) << " " << ReturnCodeText(d.return_code()) << "]"
              << std::endl;
  }
  return code;
}

int Usage(const std::string& message) {
  std::cerr << "drctl: " << message << "\nRun 'drctl --help' for usage." << std::endl;
  return kUsage;
}

void Deadline(const Ctx& ctx, grpc::ClientContext* c) {
  c->set_deadline(absl::ToChronoTime(absl::Now() + ctx.timeout));
}

template <typename Stub, typename Req, typename Resp>
absl::Status Call(const Ctx& ctx, Stub* stub,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  const Req& req, Resp* resp) {
  grpc::ClientContext c;
  Deadline(ctx, &c);
  grpc::Status st = (stub->*method)(&c, req, resp);
  return FromGrpcStatus(st, &c);
}

std::string NewRequestId() {
  absl::BitGen gen;
  return absl::StrFormat("drctl-%016x%016x", absl::Uniform<uint64_t>(gen), absl::Uniform<uint64_t>(gen));
}

std::string Lower(std::string s) { return absl::AsciiStrToLower(s); }

// "replicating" -> REPLICATION_STATE_REPLICATING, also accepting the full
// name or the number.
template <typename E>
absl::StatusOr<E> ParseEnum(const std::string& flag, const std::string& prefix, const std::string& text,
                            bool (*parse)(const std::string&, E*)) {
  std::string upper = absl::AsciiStrToUpper(text);
  for (char& c : upper) {
    if (c == '-') c = '_';
  }
  E value;
  int number = 0;
  if (parse(upper, &value) || parse(prefix + upper, &value)) return value;
  if (absl::SimpleAtoi(text, &number)) return static_cast<E>(number);
  return InvalidParameter(flag, "UNKNOWN_VALUE", absl::StrCat("\"", text, "\" is not a known value"));
}

std::string Short(const std::string& enum_name, size_t prefix) {
  return enum_name.size() > prefix ? Lower(enum_name.substr(prefix)) : enum_name;
}

std::string HostArg(const std::string& s) { return absl::StartsWith(s, "hosts/") ? s : "hosts/" + s; }
std::string JobArg(const std::string& s) { return absl::StartsWith(s, "jobs/") ? s : "jobs/" + s; }
std::string SiteArg(const std::string& s) { return absl::StartsWith(s, "sites/") ? s : "sites/" + s; }

// The one VM copy `arg` (a display name, a GUID, hosts/{host}/virtualMachines/{guid}
// or virtualMachines/{vm}) names, on `host` if given: for reads, which name
// one copy.
absl::StatusOr<std::string> FindCopy(const Ctx& ctx, const std::string& arg, const std::string& host) {
  if (absl::StartsWith(arg, "hosts/")) return arg;
  const std::string id = absl::StartsWith(arg, "virtualMachines/") ? arg.substr(16) : arg;
  dr::v1::ListVirtualMachinesRequest r;
  r.set_display_name_or_id(id);
  r.set_page_size(1000);
  if (!host.empty()) r.set_parent(HostArg(host));
  dr::v1::ListVirtualMachinesResponse resp;
  absl::Status s = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::ListVirtualMachines, r, &resp);
  if (!s.ok()) return s;
  std::vector<std::string> found;
  for (const auto& vm : resp.virtual_machines()) {
    found.push_back(absl::StrCat(vm.name(), " (", Short(dr::v1::ReplicationMode_Name(vm.replication_mode()), 17), ")"));
  }
  if (found.size() == 1) return resp.virtual_machines(0).name();
  if (found.empty()) {
    return NotFoundParameter("virtual_machine", "VM_NOT_FOUND",
                             absl::StrCat("no VM named \"", id, "\"", host.empty() ? "" : " on " + HostArg(host)));
  }
  return InvalidParameter("virtual_machine", "AMBIGUOUS",
                          absl::StrCat("\"", id, "\" matches ", found.size(), " VM copies: ", absl::StrJoin(found, ", "),
                                       "; pass --host or the full name"));
}

// The virtual_machine an operation sends: a copy the user named (a full
// name, or a name on --host), else the logical VM, whose copy drserver
// picks by the operation's rules, so that a replayed step targets the copy
// its first run did.
absl::StatusOr<std::string> OperationVm(const Ctx& ctx, const std::string& arg, const std::string& host) {
  if (absl::StartsWith(arg, "hosts/") || absl::StartsWith(arg, "virtualMachines/")) return arg;
  if (!host.empty()) return FindCopy(ctx, arg, host);
  return absl::StrCat("virtualMachines/", arg);
}

void ShowJob(const Ctx& ctx, const dr::v1::Job& job) {
  if (ctx.json) {
    std::cout << ToJson(job) << std::endl;
    return;
  }
  std::cout << "job:         " << job.name() << "\n"
            << "type:        " << TypeWord(job.type()) << "\n"
            << "state:       " << StateWord(job.state()) << " (" << job.percent_complete() << "%)\n"
            << "return code: " << static_cast<int>(job.return_code()) << " " << ReturnCodeText(job.return_code()) << "\n"
            << "vm:          " << job.virtual_machine() << "\n";
  if (!job.recovery_point().empty()) std::cout << "point:       " << job.recovery_point() << "\n";
  if (job.error_code() != 0 || !job.error_summary().empty()) {
    std::cout << "error:       " << job.error_code() << " " << job.error_summary() << "\n";
    if (!job.error_description().empty()) std::cout << "             " << job.error_description() << "\n";
  }
  std::cout << "requested:   " << (job.requester().empty() ? "-" : job.requester()) << " (request_id "
            << job.request_id() << ")\n"
            << "created:     " << absl::FormatTime(absl::RFC3339_sec, FromProto(job.create_time()), absl::UTCTimeZone())
            << std::endl;
}

// Watches a job to its end, drawing progress. Returns the exit status.
int Wait(const Ctx& ctx, const std::string& name) {
  const absl::Time deadline = absl::Now() + ctx.wait_timeout;
  dr::v1::Job last, shown;
  bool drew = false;
  while (absl::Now() < deadline) {
    grpc::ClientContext c;
    c.set_deadline(absl::ToChronoTime(deadline));
    dr::v1::WatchJobRequest r;
    r.set_name(name);
    auto reader = ctx.jobs->WatchJob(&c, r);
    dr::v1::WatchJobResponse msg;
    while (reader->Read(&msg)) {
      last = msg.job();
      if (ctx.json) continue;
      if (ctx.tty) {
        std::cout << TerminalLine(last) << std::flush;
        drew = true;
      } else if (WorthALine(shown, last)) {
        std::cout << PlainLine(last, absl::Now()) << std::endl;
        shown = last;
      }
    }
    absl::Status st = FromGrpcStatus(reader->Finish(), &c);
    if (st.ok() && last.state() >= dr::v1::JOB_STATE_COMPLETED) break;
    if (!st.ok() && st.code() != absl::StatusCode::kUnavailable) {
      if (drew) std::cout << std::endl;
      if (st.code() == absl::StatusCode::kDeadlineExceeded) break;
      return Fail(ctx, st);
    }
    absl::SleepFor(absl::Milliseconds(500));  // drserver restarting: watch again
  }
  if (drew) std::cout << std::endl;
  if (ctx.json) std::cout << ToJson(last) << std::endl;
  if (last.state() == dr::v1::JOB_STATE_COMPLETED) {
    if (!ctx.json) std::cout << name << ": " << TypeWord(last.type()) << " completed" << std::endl;
    return kOk;
  }
  if (last.state() >= dr::v1::JOB_STATE_COMPLETED) {
    if (!ctx.json) {
      std::cerr << "drctl: " << name << " ended " << StateWord(last.state()) << ": error " << last.error_code() << " "
                << last.error_summary() << (last.error_description().empty() ? "" : " (" + last.error_description() + ")")
                << std::endl;
    }
    return kJobFailed;
  }
  if (!ctx.json) {
    std::cerr << "drctl: gave up waiting for " << name << " (" << StateWord(last.state())
              << (last.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN ? ", status unknown: agent unreachable" : "")
              << "); it goes on: drctl jobs watch " << name << std::endl;
  }
  return kTimeout;
}

int Operation(Ctx& ctx, const std::string& command, const ParsedArgs& a) {
  static const std::map<std::string, std::pair<dr::v1::JobType, std::string>> kOps = {
      {"failover", {dr::v1::JOB_TYPE_INITIATE_FAILOVER, "InitiateFailover"}},
      {"revert", {dr::v1::JOB_TYPE_REVERT_FAILOVER, "RevertFailover"}},
      {"commit", {dr::v1::JOB_TYPE_COMMIT_FAILOVER, "CommitFailover"}},
      {"test-failover", {dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA, "StartTestFailover"}},
      {"cleanup", {dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA, "CleanupTestFailover"}},
      {"reverse", {dr::v1::JOB_TYPE_REVERSE_REPLICATION, "ReverseReplication"}},
      {"prepare", {dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE, "PrepareForPlannedFailover"}},
      {"start", {dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE, "StartVirtualMachine"}},
      {"stop", {dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE, "StopVirtualMachine"}},
      {"reip", {dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS, "SetFailoverNetworkAdapterSettings"}},
  };
  const auto& [type, method] = kOps.at(command);
  if (a.positional.size() != 2) return Usage(absl::StrCat(command, " takes one VM"));
  const bool takes_point = type == dr::v1::JOB_TYPE_INITIATE_FAILOVER || type == dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA;
  if (!takes_point && a.Has("recovery-point")) return Usage(absl::StrCat("--recovery-point does not apply to ", command));
  const bool reip = type == dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS;
  for (const char* f : {"adapter", "ip", "subnet", "gateway", "dns", "dhcp"}) {
    if (!reip && a.Has(f)) return Usage(absl::StrCat("--", f, " applies to reip only"));
  }
  absl::StatusOr<std::string> vm = OperationVm(ctx, a.positional[1], a.Get("host"));
  if (!vm.ok()) return Fail(ctx, vm.status());
  std::string point = a.Get("recovery-point");
  if (point == "latest") point.clear();
  if (!point.empty() && !absl::StartsWith(point, "hosts/") && !absl::StartsWith(point, "virtualMachines/")) {
    point = absl::StrCat(*vm, "/recoveryPoints/", point);
  }
  const std::string request_id = a.Has("request-id") ? a.Get("request-id") : NewRequestId();
  dr::v1::JobResponse resp;
  absl::Status st;
  auto fill = [&](auto& r) {
    r.set_virtual_machine(*vm);
    r.set_request_id(request_id);
    r.set_requester(ctx.requester);
  };
  auto* f = ctx.failover.get();
  using S = dr::v1::FailoverService::Stub;
  switch (type) {
    case dr::v1::JOB_TYPE_INITIATE_FAILOVER: {
      dr::v1::InitiateFailoverRequest r;
      fill(r);
      r.set_recovery_point(point);
      st = Call(ctx, f, &S::InitiateFailover, r, &resp);
      break;
    }
    case dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA: {
      dr::v1::StartTestFailoverRequest r;
      fill(r);
      r.set_recovery_point(point);
      st = Call(ctx, f, &S::StartTestFailover, r, &resp);
      break;
    }
    case dr::v1::JOB_TYPE_REVERT_FAILOVER: { dr::v1::RevertFailoverRequest r; fill(r); st = Call(ctx, f, &S::RevertFailover, r, &resp); break; }
    case dr::v1::JOB_TYPE_COMMIT_FAILOVER: { dr::v1::CommitFailoverRequest r; fill(r); st = Call(ctx, f, &S::CommitFailover, r, &resp); break; }
    case dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA: { dr::v1::CleanupTestFailoverRequest r; fill(r); st = Call(ctx, f, &S::CleanupTestFailover, r, &resp); break; }
    case dr::v1::JOB_TYPE_REVERSE_REPLICATION: { dr::v1::ReverseReplicationRequest r; fill(r); st = Call(ctx, f, &S::ReverseReplication, r, &resp); break; }
    case dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE: { dr::v1::PrepareForPlannedFailoverRequest r; fill(r); st = Call(ctx, f, &S::PrepareForPlannedFailover, r, &resp); break; }
    case dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE: { dr::v1::StartVirtualMachineRequest r; fill(r); st = Call(ctx, f, &S::StartVirtualMachine, r, &resp); break; }
    case dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE: { dr::v1::StopVirtualMachineRequest r; fill(r); st = Call(ctx, f, &S::StopVirtualMachine, r, &resp); break; }
    case dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS: {
      dr::v1::SetFailoverNetworkAdapterSettingsRequest r;
      fill(r);
      auto* n = r.add_network_settings();
      n->set_adapter(a.Get("adapter"));
      n->set_dhcp_enabled(a.Has("dhcp"));
      for (const auto& v : a.All("ip")) n->add_ip_addresses(v);
      for (const auto& v : a.All("subnet")) n->add_subnets(v);
      for (const auto& v : a.All("gateway")) n->add_default_gateways(v);
      for (const auto& v : a.All("dns")) n->add_dns_servers(v);
      st = Call(ctx, f, &S::SetFailoverNetworkAdapterSettings, r, &resp);
      break;
    }
    default: return Usage("unknown operation");
  }
  if (ErrorDetailOf(st).reason() == "AMBIGUOUS_VIRTUAL_MACHINE") {
    absl::Status hinted(st.code(), absl::StrCat(st.message(), " (or pass --host)"));
    st.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) { hinted.SetPayload(url, payload); });
    st = hinted;
  }
  if (!st.ok()) return Fail(ctx, st);
  if (a.Has("no-wait")) {
    if (ctx.json) {
      std::cout << ToJson(resp) << std::endl;
    } else {
      std::cout << resp.job().name() << std::endl;
    }
    return kOk;
  }
  if (!ctx.json) {
    std::cout << method << " " << resp.job().virtual_machine() << ": accepted as " << resp.job().name() << " (return code "
              << static_cast<int>(resp.return_code()) << ", request_id " << request_id << ")" << std::endl;
  }
  return Wait(ctx, resp.job().name());
}

int Hosts(Ctx& ctx, const ParsedArgs& a) {
  const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
  if (sub == "list") {
    dr::v1::ListHostsRequest r;
    if (a.Has("site")) r.set_site(SiteArg(a.Get("site")));
    r.set_page_size(1000);
    dr::v1::ListHostsResponse resp;
    absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::ListHosts, r, &resp);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) {
      std::cout << ToJson(resp) << std::endl;
      return kOk;
    }
    std::cout << absl::StrFormat("%-24s %-16s %-22s %-12s %-6s %s\n", "HOST", "SITE", "AGENT", "REACHABLE", "STALE", "LAST SYNC");
    for (const auto& h : resp.hosts()) {
      std::cout << absl::StrFormat("%-24s %-16s %-22s %-12s %-6s %s\n", h.name(), h.site(), h.agent_address(),
                                   Short(dr::v1::Reachability_Name(h.reachability()), 13), h.stale() ? "yes" : "no",
                                   h.has_last_sync_time() ? absl::FormatTime(absl::RFC3339_sec, FromProto(h.last_sync_time()), absl::UTCTimeZone()) : "-");
      if (!h.last_error().empty()) std::cout << "    last error: " << h.last_error() << "\n";
    }
    return kOk;
  }
  if (sub == "add") {
    if (a.positional.size() != 3) return Usage("hosts add takes HOST_ID");
    if (!a.Has("site") || !a.Has("agent")) return Usage("hosts add needs --site and --agent");
    dr::v1::RegisterHostRequest r;
    r.set_host_id(a.positional[2]);
    r.set_site(SiteArg(a.Get("site")));
    r.set_agent_address(a.Get("agent"));
    r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
    dr::v1::Host h;
    absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::RegisterHost, r, &h);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) {
      std::cout << ToJson(h) << std::endl;
    } else {
      std::cout << h.name() << " registered in " << h.site() << ": agent " << h.agent_address() << " "
                << Short(dr::v1::Reachability_Name(h.reachability()), 13)
                << (h.last_error().empty() ? "" : " (" + h.last_error() + ")") << std::endl;
    }
    return kOk;
  }
  if (sub == "sync" || sub == "remove") {
    if (a.positional.size() != 3) return Usage(absl::StrCat("hosts ", sub, " takes HOST"));
    if (sub == "sync") {
      dr::v1::SyncHostRequest r;
      r.set_name(HostArg(a.positional[2]));
      dr::v1::Host h;
      absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::SyncHost, r, &h);
      if (!st.ok()) return Fail(ctx, st);
      if (ctx.json) std::cout << ToJson(h) << std::endl;
      else std::cout << h.name() << ": " << Short(dr::v1::Reachability_Name(h.reachability()), 13) << (h.stale() ? ", stale: " + h.last_error() : "") << std::endl;
      return h.reachability() == dr::v1::REACHABILITY_REACHABLE ? kOk : kUnreachable;
    }
    dr::v1::DeleteHostRequest r;
    r.set_name(HostArg(a.positional[2]));
    r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
    dr::v1::DeleteHostResponse resp;
    absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::DeleteHost, r, &resp);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) std::cout << "{\"removed\": \"" << r.name() << "\"}" << std::endl;
    else std::cout << r.name() << " removed" << std::endl;
    return kOk;
  }
  return Usage("hosts takes list, add, sync or remove");
}

std::string Rpo(const dr::v1::VirtualMachine& vm) {
  if (!vm.has_last_replication_time()) return "-";
  const absl::Duration age = absl::Now() - FromProto(vm.last_replication_time());
  return absl::StrCat(absl::ToInt64Seconds(age), "s ago");
}

int Vms(Ctx& ctx, const ParsedArgs& a) {
  const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
  if (sub == "list") {
    dr::v1::ListVirtualMachinesRequest r;
    r.set_parent(a.Has("host") ? HostArg(a.Get("host")) : "hosts/-");
    if (a.Has("site")) r.set_site(SiteArg(a.Get("site")));
    for (const auto& s : a.All("state")) {
      auto v = ParseEnum<dr::v1::ReplicationState>("--state", "REPLICATION_STATE_", s, dr::v1::ReplicationState_Parse);
      if (!v.ok()) return Fail(ctx, v.status());
      r.add_replication_states(*v);
    }
    for (const auto& s : a.All("health")) {
      auto v = ParseEnum<dr::v1::ReplicationHealth>("--health", "REPLICATION_HEALTH_", s, dr::v1::ReplicationHealth_Parse);
      if (!v.ok()) return Fail(ctx, v.status());
      r.add_replication_healths(*v);
    }
    if (a.Has("mode")) {
      auto v = ParseEnum<dr::v1::ReplicationMode>("--mode", "REPLICATION_MODE_", a.Get("mode"), dr::v1::ReplicationMode_Parse);
      if (!v.ok()) return Fail(ctx, v.status());
      r.set_replication_mode(*v);
      r.set_filter_replication_mode(true);
    }
    r.set_page_size(1000);
    dr::v1::ListVirtualMachinesResponse all;
    do {
      dr::v1::ListVirtualMachinesResponse resp;
      absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::ListVirtualMachines, r, &resp);
      if (!st.ok()) return Fail(ctx, st);
      for (auto& vm : *resp.mutable_virtual_machines()) *all.add_virtual_machines() = std::move(vm);
      r.set_page_token(resp.next_page_token());
    } while (!r.page_token().empty());
    if (ctx.json) {
      std::cout << ToJson(all) << std::endl;
      return kOk;
    }
    std::cout << absl::StrFormat("%-12s %-38s %-14s %-8s %-28s %-9s %-9s %s\n", "NAME", "GUID", "HOST", "MODE", "STATE", "HEALTH", "POWER", "LAST REPLICATION");
    for (const auto& vm : all.virtual_machines()) {
      std::cout << absl::StrFormat("%-12s %-38s %-14s %-8s %-28s %-9s %-9s %s%s\n", vm.display_name(), vm.vm_id(),
                                   vm.host().substr(6), Short(dr::v1::ReplicationMode_Name(vm.replication_mode()), 17),
                                   Short(dr::v1::ReplicationState_Name(vm.replication_state()), 18),
                                   Short(dr::v1::ReplicationHealth_Name(vm.replication_health()), 19),
                                   vm.enabled_state() == dr::v1::ENABLED_STATE_ENABLED ? "running"
                                   : vm.enabled_state() == dr::v1::ENABLED_STATE_DISABLED ? "off" : Short(dr::v1::EnabledState_Name(vm.enabled_state()), 14),
                                   Rpo(vm), vm.active_job().empty() ? "" : "  [" + vm.active_job() + "]");
    }
    return kOk;
  }
  if (sub == "show") {
    if (a.positional.size() != 3) return Usage("vms show takes VM");
    absl::StatusOr<std::string> name = FindCopy(ctx, a.positional[2], a.Get("host"));
    if (!name.ok()) return Fail(ctx, name.status());
    dr::v1::GetVirtualMachineRequest g;
    g.set_name(*name);
    dr::v1::VirtualMachine vm;
    absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::GetVirtualMachine, g, &vm);
    if (!st.ok()) return Fail(ctx, st);
    dr::v1::ListRecoveryPointsRequest pr;
    pr.set_parent(*name);
    pr.set_page_size(1000);
    dr::v1::ListRecoveryPointsResponse points;
    st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::ListRecoveryPoints, pr, &points);
    if (!st.ok()) return Fail(ctx, st);
    dr::v1::ListReplicationRelationshipsRequest rr;
    rr.set_parent(*name);
    dr::v1::ListReplicationRelationshipsResponse rels;
    st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::ListReplicationRelationships, rr, &rels);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) {
      std::cout << "{\"virtual_machine\": " << ToJson(vm) << ",\n\"replication_relationships\": "
                << ToJson(rels) << ",\n\"recovery_points\": " << ToJson(points) << "}" << std::endl;
      return kOk;
    }
    std::cout << vm.display_name() << " (" << vm.name() << ")\n"
              << "  site " << vm.site() << ", mode " << Short(dr::v1::ReplicationMode_Name(vm.replication_mode()), 17)
              << ", state " << Short(dr::v1::ReplicationState_Name(vm.replication_state()), 18) << ", health "
              << Short(dr::v1::ReplicationHealth_Name(vm.replication_health()), 19) << "\n"
              << "  last replication " << Rpo(vm) << ", pending " << vm.pending_replication_bytes() << " bytes, latency "
              << vm.replication_latency_seconds() << "s" << (vm.active_job().empty() ? "" : ", running " + vm.active_job()) << "\n";
    for (const auto& rel : rels.replication_relationships()) {
      std::cout << "  relationship " << rel.name().substr(rel.name().rfind('/') + 1) << ": " << rel.primary_host() << " -> "
                << rel.replica_host() << " every " << rel.replication_interval_seconds() << "s\n";
    }
    std::cout << "  recovery points (" << points.recovery_points_size() << "):\n";
    for (const auto& p : points.recovery_points()) {
      std::cout << "    " << absl::StrFormat("%-24s %-26s %s\n", p.name().substr(p.name().rfind('/') + 1),
                                             Short(dr::v1::RecoveryPointType_Name(p.type()), 20),
                                             absl::FormatTime(absl::RFC3339_sec, FromProto(p.create_time()), absl::UTCTimeZone()));
    }
    std::cout << std::flush;
    return kOk;
  }
  return Usage("vms takes list or show");
}

int Jobs(Ctx& ctx, const ParsedArgs& a) {
  const std::string sub = a.positional.size() > 1 ? a.positional[1] : "";
  if (sub == "list") {
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
      auto vm = FindCopy(ctx, a.Get("vm"), a.Get("host"));
      if (!vm.ok()) return Fail(ctx, vm.status());
      r.set_virtual_machine(*vm);
    }
    if (a.Has("host")) r.set_host(HostArg(a.Get("host")));
    int limit = 50;
    if (a.Has("limit") && (!absl::SimpleAtoi(a.Get("limit"), &limit) || limit <= 0)) {
      return Usage("--limit takes a positive number");
    }
    r.set_page_size(limit);
    dr::v1::ListJobsResponse resp;
    absl::Status st = Call(ctx, ctx.jobs.get(), &dr::v1::JobService::Stub::ListJobs, r, &resp);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) {
      std::cout << ToJson(resp) << std::endl;
      return kOk;
    }
    std::cout << absl::StrFormat("%-34s %-22s %-10s %4s %-6s %s\n", "JOB", "TYPE", "STATE", "%", "CODE", "VM");
    for (const auto& j : resp.jobs()) {
      std::cout << absl::StrFormat("%-34s %-22s %-10s %4d %-6d %s\n", j.name(), TypeWord(j.type()), StateWord(j.state()),
                                   j.percent_complete(), static_cast<int>(j.return_code()), j.virtual_machine());
    }
    return kOk;
  }
  if (a.positional.size() != 3) return Usage(absl::StrCat("jobs ", sub.empty() ? "" : sub + " ", "takes JOB"));
  const std::string name = JobArg(a.positional[2]);
  if (sub == "get") {
    dr::v1::GetJobRequest r;
    r.set_name(name);
    dr::v1::Job job;
    absl::Status st = Call(ctx, ctx.jobs.get(), &dr::v1::JobService::Stub::GetJob, r, &job);
    if (!st.ok()) return Fail(ctx, st);
    ShowJob(ctx, job);
    return kOk;
  }
  if (sub == "watch") return Wait(ctx, name);
  if (sub == "events") {
    dr::v1::ListJobEventsRequest r;
    r.set_parent(name);
    r.set_page_size(1000);
    dr::v1::ListJobEventsResponse resp;
    absl::Status st = Call(ctx, ctx.jobs.get(), &dr::v1::JobService::Stub::ListJobEvents, r, &resp);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) {
      std::cout << ToJson(resp) << std::endl;
      return kOk;
    }
    for (const auto& e : resp.job_events()) {
      std::cout << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", FromProto(e.event_time()), absl::UTCTimeZone()) << " #"
                << e.sequence() << " " << StateWord(e.state()) << " " << e.percent_complete() << "% code "
                << static_cast<int>(e.return_code()) << (e.message().empty() ? "" : " " + e.message()) << "\n";
    }
    std::cout << std::flush;
    return kOk;
  }
  if (sub == "cancel") {
    dr::v1::CancelJobRequest r;
    r.set_name(name);
    r.set_request_id(a.Has("request-id") ? a.Get("request-id") : NewRequestId());
    dr::v1::Job job;
    absl::Status st = Call(ctx, ctx.jobs.get(), &dr::v1::JobService::Stub::CancelJob, r, &job);
    if (!st.ok()) return Fail(ctx, st);
    ShowJob(ctx, job);
    return kOk;
  }
  return Usage("jobs takes list, get, watch, events or cancel");
}

int Sites(Ctx& ctx, const ParsedArgs& a) {
  if (a.positional.size() != 2 || a.positional[1] != "list") return Usage("sites takes list");
  dr::v1::ListSitesRequest r;
  r.set_page_size(1000);
  dr::v1::ListSitesResponse resp;
  absl::Status st = Call(ctx, ctx.topology.get(), &dr::v1::TopologyService::Stub::ListSites, r, &resp);
  if (!st.ok()) return Fail(ctx, st);
  if (ctx.json) {
    std::cout << ToJson(resp) << std::endl;
  } else {
    for (const auto& s : resp.sites()) std::cout << s.name() << "\n";
    std::cout << std::flush;
  }
  return kOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const FlagSpec spec{{"server", "output", "request-id", "requester", "wait-timeout", "timeout", "site", "host",
                       "agent", "state", "health", "mode", "type", "vm", "limit", "recovery-point", "adapter", "ip",
                       "subnet", "gateway", "dns"},
                      {"no-wait", "dhcp", "help"}};
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  const ParsedArgs& a = *parsed;
  if (a.Has("help") || a.positional.empty() || a.positional[0] == "help") {
    std::cout << kUsageText;
    return a.positional.empty() && !a.Has("help") ? kUsage : kOk;
  }
  Ctx ctx;
  const char* env = std::getenv("DRCTL_SERVER");
  ctx.server = a.Get("server", env != nullptr ? env : "127.0.0.1:50051");
  const std::string output = a.Get("output", "text");
  if (output != "text" && output != "json") return Usage("--output takes text or json");
  ctx.json = output == "json";
  ctx.tty = isatty(STDOUT_FILENO) != 0;
  const char* user = std::getenv("USER");
  ctx.requester = a.Get("requester", user != nullptr ? user : "");
  int secs = 0;
  if (a.Has("timeout")) {
    if (!absl::SimpleAtoi(a.Get("timeout"), &secs) || secs <= 0) return Usage("--timeout takes seconds > 0");
    ctx.timeout = absl::Seconds(secs);
  }
  if (a.Has("wait-timeout")) {
    if (!absl::SimpleAtoi(a.Get("wait-timeout"), &secs) || secs <= 0) return Usage("--wait-timeout takes seconds > 0");
    ctx.wait_timeout = absl::Seconds(secs);
  }
  auto channel = grpc::CreateChannel(ctx.server, grpc::InsecureChannelCredentials());
  ctx.topology = dr::v1::TopologyService::NewStub(channel);
  ctx.failover = dr::v1::FailoverService::NewStub(channel);
  ctx.jobs = dr::v1::JobService::NewStub(channel);

  const std::string& command = a.positional[0];
  if (command == "hosts") return Hosts(ctx, a);
  if (command == "vms") return Vms(ctx, a);
  if (command == "jobs") return Jobs(ctx, a);
  if (command == "sites") return Sites(ctx, a);
  static const std::set<std::string> kOperations = {"failover", "revert", "commit", "test-failover", "cleanup",
                                                    "reverse", "prepare", "start", "stop", "reip"};
  if (kOperations.count(command) != 0) return Operation(ctx, command, a);
  return Usage(absl::StrCat("unknown command \"", command, "\""));
}

}  // namespace
}  // namespace cli
}  // namespace hvdr

int main(int argc, char** argv) { return hvdr::cli::Main(argc, argv); }
