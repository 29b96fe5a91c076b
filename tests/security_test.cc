// Security end to end, in real processes on loopback: drserver and the
// agents with mutual TLS from a throwaway CA (tools/mkcerts.sh).
// - An agent takes calls from drserver's certificate only: a caller with
//   another certificate of the same CA, with none, in plaintext or with a
//   certificate of another CA is refused, and the simulated hypervisor's
//   ledger shows that nothing ran.
// - An agent presenting another host's certificate is refused by drserver.
// - An expired client certificate is refused.
// - A revoked token is refused within seconds, without a restart.
// - drserver's certificate is rotated by replacing its files: new
//   connections get the new certificate, without a restart.
// - The requester of a job is who authenticated, whatever the request says.
// - Plaintext on a non-loopback address: drserver and hvagent refuse to
//   start, saying why.
#include <fstream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dr/v1/agent_service.grpc.pb.h"
#include "dr/v1/audit_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/cluster.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace {

using hvdr::testing::Cluster;
using hvdr::testing::MakeCerts;
using hvdr::testing::NewTempDir;
using hvdr::testing::ReadFile;
using hvdr::testing::RunfilePath;
using hvdr::testing::VmGuid;

constexpr int kTestVms = 3;

std::string CertsFor(const std::string& name, std::vector<std::string> args = {}) {
  const std::string dir = NewTempDir(name);
  args.insert(args.end(), {"--hosts", "hv-prod-1,hv-dr-1", "--tokens",
                           "operator:operator,viewer:viewer,admin:admin"});
  absl::Status s = MakeCerts(dir, args);
  EXPECT_TRUE(s.ok()) << s;
  return dir;
}

// Direct calls to an agent, as various callers.
grpc::Status CallAgent(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> creds,
                       const std::string& target_name = "hv-dr-1") {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(target_name);
  auto stub = dr::v1::HostAgentService::NewStub(grpc::CreateCustomChannel(address, creds, args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  dr::v1::HostAgentServiceInitiateFailoverRequest r;
  r.set_job_id("jobs/intruder");
  r.set_vm_id(VmGuid(0));
  auto stream = stub->InitiateFailover(&ctx, r);
  dr::v1::AgentJobStatus out;
  while (stream->Read(&out)) {
  }
  return stream->Finish();
}

// TLS trusting ca_dir's CA, with certificate `cert` of cert_dir (default
// ca_dir) if given.
std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& ca_dir,
                                              const std::string& cert = "",
                                              const std::string& cert_dir = "") {
  return testing::ClientTls(
      ca_dir, "", cert.empty() ? "" : (cert_dir.empty() ? ca_dir : cert_dir) + "/" + cert);
}

TEST(SecurityTest, AnAgentRunsNothingForAnyCallerButDrserver) {
  const std::string certs = CertsFor("sec-agent-certs", {"--clients", "alice"});
  const std::string other = CertsFor("sec-agent-other-ca");
  Cluster cluster("sec-agent");
  cluster.UseTls(certs);
  auto replica = testing::ReplicaScenario("hv-dr-1", kTestVms, 100);
  auto address = cluster.StartAgent("hv-dr-1", &replica);
  ASSERT_TRUE(address.ok()) << address.status();

  // Another certificate of the same CA: PERMISSION_DENIED, 32769.
  grpc::Status alice = CallAgent(*address, Tls(certs, "client-alice"));
  EXPECT_EQ(alice.error_code(), grpc::StatusCode::PERMISSION_DENIED) << alice.error_message();
  EXPECT_TRUE(absl::StrContains(alice.error_message(), "is for drserver only"))
      << alice.error_message();
  EXPECT_TRUE(absl::StrContains(alice.error_message(), "32769")) << alice.error_message();
  // No certificate at all (a valid dr.v1 client): the same.
  grpc::Status none = CallAgent(*address, Tls(certs));
  EXPECT_EQ(none.error_code(), grpc::StatusCode::PERMISSION_DENIED) << none.error_message();
  // drserver's name on a certificate of another CA: no handshake.
  grpc::Status foreign = CallAgent(*address, Tls(certs, "drserver", other));
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::UNAVAILABLE) << foreign.error_message();
  // Plaintext: no handshake either.
  grpc::Status plain = CallAgent(*address, grpc::InsecureChannelCredentials());
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE) << plain.error_message();

  // The ledger: nothing ran, nothing is journaled as started.
  cluster.KillAgent("hv-dr-1", SIGKILL);
  EXPECT_EQ(cluster.AgentState("hv-dr-1").history_size(), 0);
}

TEST(SecurityTest, DrserverDrivesTheAgentsOverMutualTlsAndRecordsWhoAuthenticated) {
  const std::string certs = CertsFor("sec-e2e-certs");
  Cluster cluster("sec-e2e");
  cluster.UseTls(certs);
  auto primary = testing::PrimaryScenario("hv-prod-1", kTestVms, 100);
  auto replica = testing::ReplicaScenario("hv-dr-1", kTestVms, 100);
  ASSERT_TRUE(cluster.StartAgent("hv-prod-1", &primary).ok());
  ASSERT_TRUE(cluster.StartAgent("hv-dr-1", &replica).ok());
  const std::string siem = cluster.dir() + "/audit.jsonl";
  ASSERT_TRUE(cluster.StartServer({"--audit_file=" + siem}).ok());
  ASSERT_TRUE(cluster.Register("hv-prod-1", "sites/prod").ok());
  auto host = cluster.Register("hv-dr-1", "sites/dr");
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->reachability(), dr::v1::REACHABILITY_REACHABLE);

  // The operator's token, claiming to be someone else.
  auto failover = dr::v1::FailoverService::NewStub(cluster.ServerChannel("operator"));
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine(testing::VmName("hv-dr-1", 0));
  r.set_request_id("forged");
  r.set_requester("mallory");
  grpc::ClientContext ctx;
  dr::v1::JobResponse out;
  grpc::Status s = failover->InitiateFailover(&ctx, r, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Its audit event was written with the job; the cue that says so to the
  // interceptor stays inside drserver.
  for (const auto& [key, value] : ctx.GetServerTrailingMetadata()) {
    EXPECT_NE(std::string(key.data(), key.size()), "hvdr-audited-with-its-write");
  }
  auto job = cluster.WaitJob(out.job().name(), absl::Seconds(30));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(job->requester(), "operator") << "the request's requester was believed";

  // A viewer may look but not fail over.
  auto as_viewer = dr::v1::FailoverService::NewStub(cluster.ServerChannel("viewer"));
  grpc::ClientContext vctx;
  r.set_virtual_machine(testing::VmName("hv-dr-1", 1));
  r.set_request_id("viewer");
  grpc::Status refused = as_viewer->InitiateFailover(&vctx, r, &out);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();

  // The audit trail: the accepted call with who made it (not whom the
  // request named) and the job it created; the refused one with 32769.
  // Read at once, without waiting: a call's event is stored before the
  // call is answered, accepted or refused.
  auto audit = dr::v1::AuditService::NewStub(cluster.ServerChannel("viewer"));
  dr::v1::ListAuditEventsResponse events;
  {
    grpc::ClientContext actx;
    dr::v1::ListAuditEventsRequest lr;
    lr.set_identity("operator");
    ASSERT_TRUE(audit->ListAuditEvents(&actx, lr, &events).ok());
    ASSERT_GE(events.audit_events_size(), 1) << "answered before its event was stored";
  }
  // So is a call the authorization check refused, before any handler.
  {
    grpc::ClientContext actx;
    dr::v1::ListAuditEventsRequest lr;
    lr.set_method("InitiateFailover");
    ASSERT_TRUE(audit->ListAuditEvents(&actx, lr, &events).ok());
  }
  ASSERT_EQ(events.audit_events_size(), 2) << events.DebugString();
  const dr::v1::AuditEvent& refused_event = events.audit_events(0);  // newest first
  EXPECT_EQ(refused_event.identity(), "viewer");
  EXPECT_EQ(refused_event.status_code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(refused_event.return_code(), dr::v1::RETURN_CODE_ACCESS_DENIED);
  const dr::v1::AuditEvent& accepted = events.audit_events(1);
  EXPECT_EQ(accepted.identity(), "operator");
  EXPECT_EQ(accepted.status_code(), 0);
  EXPECT_EQ(accepted.return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(accepted.created(), job->name());
  EXPECT_EQ(accepted.resource(), testing::VmName("hv-dr-1", 0));
  EXPECT_EQ(accepted.request_id(), "forged");
  EXPECT_TRUE(absl::StartsWith(accepted.peer(), "ipv4:127.0.0.1:")) << accepted.peer();
  for (const auto& e : events.audit_events()) EXPECT_NE(e.identity(), "mallory");
  // The SIEM file has both too, the accepted one written with its job.
  // (The file is written after the store, so it may lag a little.)
  std::string lines;
  for (int i = 0; i < 50 && lines.find("\"identity\":\"viewer\"") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    lines = ReadFile(siem);
  }
  EXPECT_NE(lines.find("\"request_id\":\"forged\""), std::string::npos) << lines;
  EXPECT_NE(lines.find("\"identity\":\"viewer\""), std::string::npos) << lines;
  // The cluster's witness (every e2e test's calls against the trail, at
  // its end) finds a call that has no event.
  testing::AuditWitness unrecorded;
  unrecorded.Add({"/dr.v1.FailoverService/InitiateFailover", "operator", "never-sent", 0});
  EXPECT_EQ(unrecorded.Missing(cluster.ServerChannel("viewer"), absl::ZeroDuration()).size(), 1u);
  // Registering the hosts was audited too, as the admin's.
  grpc::ClientContext hctx;
  dr::v1::ListAuditEventsRequest hr;
  hr.set_identity("admin");
  hr.set_method("/dr.v1.TopologyService/RegisterHost");
  dr::v1::ListAuditEventsResponse hosts;
  ASSERT_TRUE(audit->ListAuditEvents(&hctx, hr, &hosts).ok());
  EXPECT_EQ(hosts.audit_events_size(), 2) << hosts.DebugString();

  cluster.KillAgent("hv-dr-1", SIGKILL);
  int failovers = 0;
  const auto state = cluster.AgentState("hv-dr-1");
  for (const auto& op : state.history()) {
    failovers += op.type() == dr::v1::JOB_TYPE_INITIATE_FAILOVER ? 1 : 0;
  }
  EXPECT_EQ(failovers, 1);
}

TEST(SecurityTest, AnAgentShowingAnotherHostsCertificateIsRefused) {
  const std::string certs = CertsFor("sec-wrong-host-certs");
  Cluster cluster("sec-wrong-host");
  cluster.UseTls(certs);
  cluster.SetAgentCertificate("hv-dr-1", "hv-prod-1");  // an impostor
  auto replica = testing::ReplicaScenario("hv-dr-1", kTestVms, 100);
  ASSERT_TRUE(cluster.StartAgent("hv-dr-1", &replica).ok());
  ASSERT_TRUE(cluster.StartServer().ok());
  (void)cluster.Register("hv-dr-1", "sites/dr");
  // Registered, but never reached: every connection fails at the handshake
  // (the certificate does not name hv-dr-1), and the host says so.
  grpc::ClientContext c;
  dr::v1::GetHostRequest get;
  get.set_name("hosts/hv-dr-1");
  dr::v1::Host host;
  grpc::Status got = cluster.topology()->GetHost(&c, get, &host);
  ASSERT_TRUE(got.ok()) << got.error_message();
  EXPECT_NE(host.reachability(), dr::v1::REACHABILITY_REACHABLE) << host.DebugString();
  EXPECT_FALSE(host.last_error().empty()) << host.DebugString();
  cluster.KillAgent("hv-dr-1", SIGKILL);
  EXPECT_EQ(cluster.AgentState("hv-dr-1").history_size(), 0);
}

TEST(SecurityTest, AnExpiredClientCertificateIsRefused) {
  const std::string certs = CertsFor("sec-expired-certs", {"--expired", "admin"});
  Cluster cluster("sec-expired");
  cluster.UseTls(certs);
  ASSERT_TRUE(cluster.StartServer().ok());
  auto stub = dr::v1::TopologyService::NewStub(
      grpc::CreateChannel(cluster.server_address(), Tls(certs, "expired-admin")));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  dr::v1::ListHostsResponse out;
  grpc::Status s = stub->ListHosts(&ctx, dr::v1::ListHostsRequest(), &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

grpc::Status ListHosts(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = dr::v1::TopologyService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  dr::v1::ListHostsResponse out;
  return stub->ListHosts(&ctx, dr::v1::ListHostsRequest(), &out);
}

TEST(SecurityTest, ARevokedTokenIsRefusedWithinSecondsWithoutARestart) {
  const std::string certs = CertsFor("sec-revoke-certs");
  Cluster cluster("sec-revoke");
  cluster.UseTls(certs);
  ASSERT_TRUE(cluster.StartServer().ok());
  auto viewer = cluster.ServerChannel("viewer");
  ASSERT_TRUE(ListHosts(viewer).ok());
  // Remove the viewer's line, as an operator would (write, then rename).
  std::string kept;
  {
    std::ifstream in(certs + "/tokens.json");
    for (std::string line; std::getline(in, line);) {
      if (absl::StrContains(line, "\"viewer\"")) continue;
      kept += line + "\n";
    }
  }
  // The entry before it lost its trailing comma's partner: keep it JSON.
  absl::StrReplaceAll({{"},\n]}", "}\n]}"}}, &kept);
  std::ofstream(certs + "/tokens.json.new") << kept;
  ASSERT_EQ(std::rename((certs + "/tokens.json.new").c_str(), (certs + "/tokens.json").c_str()), 0);
  const absl::Time revoked = absl::Now();
  grpc::Status s;
  while (absl::Now() - revoked < absl::Seconds(10)) {
    s = ListHosts(viewer);
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_TRUE(ListHosts(cluster.ServerChannel("admin")).ok()) << "the other tokens stay valid";
}

TEST(SecurityTest, ReplacedCertificateFilesServeNewConnectionsWithoutARestart) {
  const std::string certs = CertsFor("sec-rotate-certs");
  const std::string next = CertsFor("sec-rotate-next");  // another CA
  Cluster cluster("sec-rotate");
  cluster.UseTls(certs);
  ASSERT_TRUE(cluster.StartServer().ok());
  auto trusting_next = [&] { return grpc::CreateChannel(cluster.server_address(), Tls(next)); };
  EXPECT_EQ(ListHosts(trusting_next()).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The cluster's own channels trust the old CA only: its audit check
  // (every mutating call audited) runs before the rotation.
  cluster.ExpectEveryCallAudited();
  // Rotate: the new key and certificate over the old files.
  for (const char* f : {"drserver.key", "drserver.crt"}) {
    std::ofstream(certs + "/" + f + ".new") << ReadFile(next + "/" + f);
    ASSERT_EQ(std::rename((certs + "/" + f + ".new").c_str(), (certs + "/" + f).c_str()), 0);
  }
  const absl::Time rotated = absl::Now();
  grpc::Status s;
  grpc::Status last_old;
  while (absl::Now() - rotated < absl::Seconds(15)) {
    // A new channel each time: a new connection, a new handshake.
    s = ListHosts(trusting_next());
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  // The token is the old tokens file's: the handshake (the rotation) is
  // what changed, so the call gets past it and is judged by its token.
  EXPECT_NE(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST(SecurityTest, PlaintextOnANonLoopbackAddressIsRefusedAtStartUp) {
  const std::string dir = NewTempDir("sec-plain");
  struct Case {
    std::vector<std::string> argv;
    std::string want;
  } cases[] = {
      {{RunfilePath("server/drserver"), "--listen=0.0.0.0:0", "--db=" + dir + "/a.db"},
       "plaintext needs --insecure"},
      {{RunfilePath("server/drserver"), "--listen=0.0.0.0:0", "--insecure",
        "--db=" + dir + "/b.db"},
       "it is allowed only on a loopback address"},
      {{RunfilePath("hvagent/hvagent"), "--listen=0.0.0.0:0", "--scenario=/nonexistent",
        "--journal=:memory:"},
       "plaintext needs --insecure"},
      {{RunfilePath("hvagent/hvagent"), "--listen=0.0.0.0:0", "--insecure",
        "--scenario=/nonexistent", "--journal=:memory:"},
       "it is allowed only on a loopback address"},
  };
  for (const Case& c : cases) {
    std::string out, err;
    const int code = testing::RunCommand(c.argv, &out, &err);
    EXPECT_NE(code, 0) << c.argv[0];
    // drserver says why on stderr, hvagent in its log (stdout).
    EXPECT_TRUE(absl::StrContains(out + err, c.want)) << c.argv[0] << ": " << out << err;
  }
}

}  // namespace
}  // namespace hvdr
