#include "tests/testing/cluster.h"

#include <signal.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace testing {

std::string VmGuid(int i) { return absl::StrFormat("0DD0C0DE-0000-4000-8000-%012d", i); }

std::string VmName(const std::string& host, int i) {
  return absl::StrCat("hosts/", host, "/virtualMachines/", VmGuid(i));
}

namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

hvdr::sim::v1::Scenario Base(const std::string& host, int job_ms) {
  hvdr::sim::v1::Scenario s;
  s.set_host_name(host);
  s.set_default_job_duration_ms(job_ms);
  return s;
}

}  // namespace

hvdr::sim::v1::Scenario ReplicaScenario(const std::string& host, int count, int job_ms) {
  auto s = Base(host, job_ms);
  for (int i = 0; i < count; ++i) {
    auto* vm = s.add_vms();
    vm->set_vm_id(VmGuid(i));
    vm->set_name(absl::StrCat("vm-", i));
    vm->set_mode(dr::v1::REPLICATION_MODE_REPLICA);
    vm->set_state(dr::v1::REPLICATION_STATE_REPLICATING);
    vm->set_health(dr::v1::REPLICATION_HEALTH_OK);
    vm->set_enabled(dr::v1::ENABLED_STATE_DISABLED);
    vm->set_last_replication_seconds_ago(60);
    vm->set_primary_server("hv-prod-1");
    vm->set_replica_server(host);
    vm->add_network_adapters("Network Adapter");
    auto* old_rp = vm->add_recovery_points();
    old_rp->set_id("rp-old");
    old_rp->set_type(dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
    old_rp->set_age_seconds(7200);
    auto* new_rp = vm->add_recovery_points();
    new_rp->set_id("rp-new");
    new_rp->set_type(dr::v1::RECOVERY_POINT_TYPE_STANDARD);
    new_rp->set_age_seconds(600);
  }
  return s;
}

hvdr::sim::v1::Scenario PrimaryScenario(const std::string& host, int count, int job_ms) {
  auto s = Base(host, job_ms);
  for (int i = 0; i < count; ++i) {
    auto* vm = s.add_vms();
    vm->set_vm_id(VmGuid(i));
    vm->set_name(absl::StrCat("vm-", i));
    vm->set_mode(dr::v1::REPLICATION_MODE_PRIMARY);
    vm->set_state(dr::v1::REPLICATION_STATE_REPLICATING);
    vm->set_enabled(dr::v1::ENABLED_STATE_ENABLED);
    vm->set_last_replication_seconds_ago(60);
  }
  return s;
}

Cluster::Cluster(const std::string& name) : dir_(NewTempDir(name)) {}

Cluster::~Cluster() {
  if (server_ != nullptr && server_->running()) ExpectEveryCallAudited();
  KillServer(SIGKILL);
  for (auto& [host, proc] : agents_) proc->Signal(SIGKILL);
}

std::vector<std::string> Cluster::AgentArgv(const std::string& host, const std::string& base,
                                            const std::string& listen) {
  std::vector<std::string> argv = {
      RunfilePath("hvagent/hvagent"), "--scenario=" + base + ".scenario",
      "--state=" + base + ".state",   "--journal=" + base + ".journal",
      "--listen=" + listen,           "--port_file=" + base + ".port",
      "--poll_interval_ms=20"};
  if (certs_.empty()) {
    argv.push_back("--insecure");
    return argv;
  }
  auto other = agent_cert_.find(host);
  const std::string cert =
      absl::StrCat(certs_, "/agent-", other != agent_cert_.end() ? other->second : host);
  argv.push_back("--tls_cert_file=" + cert + ".crt");
  argv.push_back("--tls_key_file=" + cert + ".key");
  argv.push_back("--tls_ca_file=" + certs_ + "/ca.crt");
  argv.push_back("--tls_refresh_s=1");
  return argv;
}

absl::StatusOr<std::string> Cluster::StartAgent(const std::string& host,
                                                const hvdr::sim::v1::Scenario* scenario,
                                                const std::vector<std::string>& extra_flags) {
  const std::string base = absl::StrCat(dir_, "/", host);
  if (scenario != nullptr) {
    std::string text;
    google::protobuf::TextFormat::PrintToString(*scenario, &text);
    std::ofstream(base + ".scenario") << text;
  }
  std::remove((base + ".port").c_str());
  auto known = agent_addresses_.find(host);
  const std::string listen = known != agent_addresses_.end() ? known->second : "127.0.0.1:0";
  auto proc = std::make_unique<Subprocess>();
  std::vector<std::string> argv = AgentArgv(host, base, listen);
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::Status s = proc->Start(argv, base + ".log");
  if (!s.ok()) return s;
  absl::StatusOr<int> port = proc->WaitForPortFile(base + ".port", absl::Seconds(30));
  if (!port.ok()) return port.status();
  agents_[host] = std::move(proc);
  agent_addresses_[host] = absl::StrCat("127.0.0.1:", *port);
  return agent_addresses_[host];
}

void Cluster::KillAgent(const std::string& host, int sig) {
  auto it = agents_.find(host);
  // SIGSTOP and SIGCONT leave the process alive: nothing to wait for.
  if (it != agents_.end()) it->second->Signal(sig, sig != SIGSTOP && sig != SIGCONT);
}

hvdr::sim::v1::SimState Cluster::AgentState(const std::string& host) {
  hvdr::sim::v1::SimState state;
  state.ParseFromString(ReadFile(absl::StrCat(dir_, "/", host, ".state")));
  return state;
}

absl::Status Cluster::StartServer(const std::vector<std::string>& extra_flags) {
  std::remove((dir_ + "/drserver.port").c_str());
  server_ = std::make_unique<Subprocess>();
  std::vector<std::string> argv = {RunfilePath("server/drserver"), "--db=" + dir_ + "/drserver.db",
                                   "--listen=127.0.0.1:0", "--port_file=" + dir_ + "/drserver.port",
                                   "--db_synchronous=NORMAL"};
  if (certs_.empty()) {
    argv.push_back("--insecure");
  } else {
    argv.push_back("--tls_cert_file=" + certs_ + "/drserver.crt");
    argv.push_back("--tls_key_file=" + certs_ + "/drserver.key");
    argv.push_back("--tls_ca_file=" + certs_ + "/ca.crt");
    argv.push_back("--tls_refresh_s=1");
    argv.push_back("--tokens_file=" + certs_ + "/tokens.json");
    if (std::ifstream(certs_ + "/policy.json"))
      argv.push_back("--policy_file=" + certs_ + "/policy.json");
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::Status s = server_->Start(argv, dir_ + "/drserver.log");
  if (!s.ok()) return s;
  absl::StatusOr<int> port = server_->WaitForPortFile(dir_ + "/drserver.port", absl::Seconds(30));
  if (!port.ok()) return port.status();
  server_address_ = absl::StrCat("127.0.0.1:", *port);
  auto channel = ServerChannel("admin");
  topology_ = dr::v1::TopologyService::NewStub(channel);
  failover_ = dr::v1::FailoverService::NewStub(channel);
  jobs_ = dr::v1::JobService::NewStub(channel);
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> Cluster::ServerChannel(const std::string& identity) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> witness;
  const bool insecure = certs_.empty();
  witness.push_back(audit_.Factory(identity.empty() ? "anonymous" : identity, insecure));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      server_address_,
      insecure ? grpc::InsecureChannelCredentials() : ClientTls(certs_, TokenOf(certs_, identity)),
      grpc::ChannelArguments(), std::move(witness));
}

void Cluster::ExpectEveryCallAudited() {
  if (audit_checked_) return;
  audit_checked_ = true;
  const std::vector<AuditWitness::Call> missing =
      audit_.Missing(ServerChannel("admin"), absl::Seconds(15));
  std::string list;
  for (const AuditWitness::Call& c : missing) absl::StrAppend(&list, "\n  ", DebugString(c));
  const size_t answered = audit_.Answered().size();
  std::fprintf(stderr, "audit witness: %zu mutating calls answered, %zu without an audit event\n",
               answered, missing.size());
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << answered
                               << " mutating calls answered have no audit event:" << list;
}

void Cluster::KillServer(int sig) {
  if (server_ != nullptr) server_->Signal(sig);
}

absl::StatusOr<dr::v1::Host> Cluster::Register(const std::string& host, const std::string& site) {
  dr::v1::RegisterHostRequest r;
  r.set_host_id(host);
  r.set_site(site);
  r.set_agent_address(agent_addresses_[host]);
  r.set_request_id("register-" + host);
  grpc::ClientContext ctx;
  dr::v1::Host out;
  grpc::Status st = topology_->RegisterHost(&ctx, r, &out);
  if (!st.ok())
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  return out;
}

absl::StatusOr<dr::v1::Job> Cluster::GetJob(const std::string& name) {
  dr::v1::GetJobRequest r;
  r.set_name(name);
  grpc::ClientContext ctx;
  dr::v1::Job out;
  grpc::Status st = jobs_->GetJob(&ctx, r, &out);
  if (!st.ok()) return FromGrpc(st);
  return out;
}

absl::StatusOr<dr::v1::VirtualMachine> Cluster::GetVirtualMachine(const std::string& name) {
  dr::v1::GetVirtualMachineRequest r;
  r.set_name(name);
  grpc::ClientContext ctx;
  dr::v1::VirtualMachine out;
  grpc::Status st = topology_->GetVirtualMachine(&ctx, r, &out);
  if (!st.ok()) return FromGrpc(st);
  return out;
}

absl::StatusOr<dr::v1::JobResponse> Cluster::InitiateFailover(const std::string& vm,
                                                              const std::string& request_id) {
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine(vm);
  r.set_request_id(request_id);
  grpc::ClientContext ctx;
  dr::v1::JobResponse out;
  grpc::Status st = failover_->InitiateFailover(&ctx, r, &out);
  if (!st.ok()) return FromGrpc(st);
  return out;
}

absl::StatusOr<dr::v1::Job> Cluster::WaitJob(const std::string& name, absl::Duration timeout,
                                             std::vector<dr::v1::Job>* seen) {
  const absl::Time deadline = absl::Now() + timeout;
  dr::v1::Job last;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    dr::v1::WatchJobRequest r;
    r.set_name(name);
    auto reader = jobs_->WatchJob(&ctx, r);
    dr::v1::WatchJobResponse msg;
    while (reader->Read(&msg)) {
      last = msg.job();
      if (seen != nullptr) seen->push_back(msg.job());
    }
    grpc::Status st = reader->Finish();
    if (st.ok() && last.state() >= dr::v1::JOB_STATE_COMPLETED) return last;
    if (st.error_code() == grpc::StatusCode::NOT_FOUND ||
        st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    }
    absl::SleepFor(absl::Milliseconds(100));  // server restarting: watch again
  }
  return absl::DeadlineExceededError(absl::StrCat(name, " not terminal in time; last state ",
                                                  dr::v1::JobState_Name(last.state())));
}

}  // namespace testing
}  // namespace hvdr
