#include "cli/operations.h"

#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/render.h"

namespace hvdr {
namespace cli {
namespace {

template <typename Req>
constexpr bool kHasRecoveryPoint = std::is_same_v<Req, dr::v1::InitiateFailoverRequest> ||
                                   std::is_same_v<Req, dr::v1::StartTestFailoverRequest>;
template <typename Req>
constexpr bool kHasNetworkSettings =
    std::is_same_v<Req, dr::v1::SetFailoverNetworkAdapterSettingsRequest>;

template <typename Req, absl::StatusOr<dr::v1::JobResponse> (DrClient::*kCall)(const Req&)>
absl::StatusOr<dr::v1::JobResponse> Send(DrClient& client, const OperationFields& f) {
  Req r;
  r.set_virtual_machine(f.virtual_machine);
  r.set_request_id(f.request_id);
  r.set_requester(f.requester);
  if constexpr (kHasRecoveryPoint<Req>) r.set_recovery_point(f.recovery_point);
  if constexpr (kHasNetworkSettings<Req>) *r.add_network_settings() = f.network_settings;
  return (client.*kCall)(r);
}

template <typename Req, absl::StatusOr<dr::v1::JobResponse> (DrClient::*kCall)(const Req&)>
OperationSpec Spec(std::string command, std::string method) {
  OperationSpec spec;
  spec.command = std::move(command);
  spec.method = std::move(method);
  spec.takes_recovery_point = kHasRecoveryPoint<Req>;
  spec.takes_network_settings = kHasNetworkSettings<Req>;
  spec.send = &Send<Req, kCall>;
  return spec;
}

// The virtual_machine an operation sends: a copy the user named (a full
// name, or a name on --host), else the logical VM.
absl::StatusOr<std::string> OperationVm(const Ctx& ctx, const std::string& arg,
                                        const std::string& host) {
  if (absl::StartsWith(arg, "hosts/") || absl::StartsWith(arg, "virtualMachines/")) return arg;
  if (!host.empty()) return FindOneCopy(ctx, arg, host);
  return absl::StrCat("virtualMachines/", arg);
}

}  // namespace

const std::vector<OperationSpec>& Operations() {
  static const std::vector<OperationSpec>* const kOperations = new std::vector<OperationSpec>{
      Spec<dr::v1::InitiateFailoverRequest, &DrClient::InitiateFailover>("failover",
                                                                         "InitiateFailover"),
      Spec<dr::v1::RevertFailoverRequest, &DrClient::RevertFailover>("revert", "RevertFailover"),
      Spec<dr::v1::CommitFailoverRequest, &DrClient::CommitFailover>("commit", "CommitFailover"),
      Spec<dr::v1::StartTestFailoverRequest, &DrClient::StartTestFailover>("test-failover",
                                                                           "StartTestFailover"),
      Spec<dr::v1::CleanupTestFailoverRequest, &DrClient::CleanupTestFailover>(
          "cleanup", "CleanupTestFailover"),
      Spec<dr::v1::ReverseReplicationRequest, &DrClient::ReverseReplication>("reverse",
                                                                             "ReverseReplication"),
      Spec<dr::v1::PrepareForPlannedFailoverRequest, &DrClient::PrepareForPlannedFailover>(
          "prepare", "PrepareForPlannedFailover"),
      Spec<dr::v1::StartVirtualMachineRequest, &DrClient::StartVirtualMachine>(
          "start", "StartVirtualMachine"),
      Spec<dr::v1::StopVirtualMachineRequest, &DrClient::StopVirtualMachine>("stop",
                                                                             "StopVirtualMachine"),
      Spec<dr::v1::SetFailoverNetworkAdapterSettingsRequest,
           &DrClient::SetFailoverNetworkAdapterSettings>("reip",
                                                         "SetFailoverNetworkAdapterSettings"),
  };
  return *kOperations;
}

const OperationSpec* FindOperation(const std::string& command) {
  for (const OperationSpec& op : Operations()) {
    if (op.command == command) return &op;
  }
  return nullptr;
}

int RunOperation(Ctx& ctx, const OperationSpec& op, const ParsedArgs& a) {
  if (a.positional.size() != 2) return Usage(ctx, absl::StrCat(op.command, " takes one VM"));
  if (!op.takes_recovery_point && a.Has("recovery-point")) {
    return Usage(ctx, absl::StrCat("--recovery-point does not apply to ", op.command));
  }
  for (const char* f : {"adapter", "ip", "subnet", "gateway", "dns", "dhcp"}) {
    if (!op.takes_network_settings && a.Has(f))
      return Usage(ctx, absl::StrCat("--", f, " applies to reip only"));
  }
  OperationFields fields;
  absl::StatusOr<std::string> vm = OperationVm(ctx, a.positional[1], a.Get("host"));
  if (!vm.ok()) return Fail(ctx, vm.status());
  fields.virtual_machine = *vm;
  std::string point = a.Get("recovery-point");
  if (point == "latest") point.clear();
  if (!point.empty() && !absl::StartsWith(point, "hosts/") &&
      !absl::StartsWith(point, "virtualMachines/")) {
    point = absl::StrCat(*vm, "/recoveryPoints/", point);
  }
  fields.recovery_point = point;
  fields.request_id = a.Has("request-id") ? a.Get("request-id") : NewRequestId();
  fields.requester = ctx.requester;
  if (op.takes_network_settings) {
    dr::v1::FailoverNetworkAdapterSettings& n = fields.network_settings;
    n.set_adapter(a.Get("adapter"));
    n.set_dhcp_enabled(a.Has("dhcp"));
    for (const auto& v : a.All("ip")) n.add_ip_addresses(v);
    for (const auto& v : a.All("subnet")) n.add_subnets(v);
    for (const auto& v : a.All("gateway")) n.add_default_gateways(v);
    for (const auto& v : a.All("dns")) n.add_dns_servers(v);
  }
  absl::StatusOr<dr::v1::JobResponse> resp = op.send(*ctx.client, fields);
  if (!resp.ok()) {
    absl::Status st = resp.status();
    if (ErrorDetailOf(st).reason() == "AMBIGUOUS_VIRTUAL_MACHINE") {
      absl::Status hinted(st.code(), absl::StrCat(st.message(), " (or pass --host)"));
      st.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
        hinted.SetPayload(url, payload);
      });
      st = hinted;
    }
    return Fail(ctx, st);
  }
  if (a.Has("no-wait")) {
    *ctx.out << (ctx.json ? ToJson(*resp) : resp->job().name()) << std::endl;
    return kOk;
  }
  if (!ctx.json) {
    *ctx.out << op.method << " " << resp->job().virtual_machine() << ": accepted as "
             << resp->job().name() << " (return code " << static_cast<int>(resp->return_code())
             << ", request_id " << fields.request_id << ")" << std::endl;
  }
  return WaitForJob(ctx, resp->job().name());
}

int WaitForJob(Ctx& ctx, const std::string& name) {
  const absl::Time deadline = absl::Now() + ctx.wait_timeout;
  dr::v1::Job last, shown;
  bool drew = false;
  auto show = [&](const dr::v1::Job& job) {
    last = job;
    if (ctx.json) return;
    if (ctx.tty) {
      *ctx.out << TerminalLine(last) << std::flush;
      drew = true;
    } else if (WorthALine(shown, last)) {
      *ctx.out << PlainLine(last, absl::Now()) << std::endl;
      shown = last;
    }
  };
  while (absl::Now() < deadline) {
    absl::Status st = ctx.client->WatchJob(name, deadline, show);
    if (st.ok() && last.state() >= dr::v1::JOB_STATE_COMPLETED) break;
    if (!st.ok() && st.code() != absl::StatusCode::kUnavailable) {
      if (drew) *ctx.out << std::endl;
      if (st.code() == absl::StatusCode::kDeadlineExceeded) break;
      return Fail(ctx, st);
    }
    absl::SleepFor(ctx.rewatch_delay);  // drserver restarting: watch again
  }
  if (drew) *ctx.out << std::endl;
  if (ctx.json) *ctx.out << ToJson(last) << std::endl;
  if (last.state() == dr::v1::JOB_STATE_COMPLETED) {
    if (!ctx.json) *ctx.out << name << ": " << TypeWord(last.type()) << " completed" << std::endl;
    return kOk;
  }
  if (last.state() >= dr::v1::JOB_STATE_COMPLETED) {
    if (!ctx.json) {
      *ctx.err << "drctl: " << name << " ended " << StateWord(last.state()) << ": error "
               << last.error_code() << " " << last.error_summary()
               << (last.error_description().empty() ? "" : " (" + last.error_description() + ")")
               << std::endl;
    }
    return kJobFailed;
  }
  if (!ctx.json) {
    *ctx.err << "drctl: gave up waiting for " << name << " (" << StateWord(last.state())
             << (last.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN
                     ? ", status unknown: agent unreachable"
                     : "")
             << "); it goes on: drctl jobs watch " << name << std::endl;
  }
  return kTimeout;
}

}  // namespace cli
}  // namespace hvdr
