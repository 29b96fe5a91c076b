// drserver through its real gRPC services (in-process channel), with the
// agents' stubs mocked: every refusal bad or conflicting input can produce,
// with its gRPC code, Hyper-V code and the field named, and nothing recorded.
#include "server/server.h"
#include <atomic>

#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "dr/v1/agent_service_mock.grpc.pb.h"
#include "dr/v1/failover_service.grpc.pb.h"
#include "dr/v1/job_service.grpc.pb.h"
#include "dr/v1/topology_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace server {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::SetArgPointee;

constexpr char kPrimaryVm[] =
    "hosts/hv-prod-1/virtualMachines/11111111-0000-0000-0000-000000000001";
constexpr char kReplicaVm[] = "hosts/hv-dr-1/virtualMachines/11111111-0000-0000-0000-000000000001";
constexpr char kOtherReplicaVm[] =
    "hosts/hv-dr-1/virtualMachines/11111111-0000-0000-0000-000000000002";
constexpr char kBusyVm[] = "hosts/hv-dr-1/virtualMachines/11111111-0000-0000-0000-000000000003";

dr::v1::VirtualMachineInventory Vm(const std::string& id, dr::v1::ReplicationMode mode,
                                   const std::string& rp) {
  dr::v1::VirtualMachineInventory inv;
  inv.mutable_virtual_machine()->set_vm_id(id);
  inv.mutable_virtual_machine()->set_display_name("vm-" + id.substr(id.size() - 1));
  inv.mutable_virtual_machine()->set_replication_mode(mode);
  inv.mutable_virtual_machine()->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  inv.mutable_virtual_machine()->set_enabled_state(mode == dr::v1::REPLICATION_MODE_PRIMARY
                                                       ? dr::v1::ENABLED_STATE_ENABLED
                                                       : dr::v1::ENABLED_STATE_DISABLED);
  if (!rp.empty()) inv.add_recovery_points()->set_name(rp);
  return inv;
}

class MockAgents final : public AgentStubFactory {
 public:
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> Get(
      const std::string& address) override {
    auto real = real_.find(address);
    if (real != real_.end()) return real->second;
    auto& stub = stubs_[address];
    if (!stub) {
      stub = std::make_shared<NiceMock<dr::v1::MockHostAgentServiceStub>>();
      dr::v1::GetInventoryResponse inv;
      if (address == "127.0.0.1:7001") {
        *inv.add_virtual_machines() =
            Vm("11111111-0000-0000-0000-000000000001", dr::v1::REPLICATION_MODE_PRIMARY, "");
      } else {
        *inv.add_virtual_machines() =
            Vm("11111111-0000-0000-0000-000000000001", dr::v1::REPLICATION_MODE_REPLICA, "rp-a");
        *inv.add_virtual_machines() =
            Vm("11111111-0000-0000-0000-000000000002", dr::v1::REPLICATION_MODE_REPLICA, "rp-b");
        *inv.add_virtual_machines() =
            Vm("11111111-0000-0000-0000-000000000003", dr::v1::REPLICATION_MODE_REPLICA, "");
      }
      ON_CALL(*stub, GetInventory(_, _, _))
          .WillByDefault(DoAll(SetArgPointee<2>(inv), Return(grpc::Status::OK)));
    }
    return stub;
  }
  std::map<std::string, std::shared_ptr<NiceMock<dr::v1::MockHostAgentServiceStub>>> stubs_;
  // Stubs to real (fake) agents, used instead of the mocks when set.
  std::map<std::string, std::shared_ptr<dr::v1::HostAgentService::StubInterface>> real_;
};

// An agent that answers in its own terms, over gRPC (so that its
// ErrorDetail travels in trailing metadata, as a real agent's does):
// CancelJob refuses naming its field job_id and the hypervisor's job id;
// GetInventory sends a VM without a vm_id.
class FakeAgent final : public dr::v1::HostAgentService::CallbackService {
 public:
  FakeAgent() {
    grpc::ServerBuilder builder;
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    stub_ = dr::v1::HostAgentService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  ~FakeAgent() override { server_->Shutdown(); }
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub() { return stub_; }

  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* c,
                                      const dr::v1::HostAgentServiceCancelJobRequest*,
                                      dr::v1::AgentJobStatus*) override {
    auto* reactor = c->DefaultReactor();
    reactor->Finish(ToGrpcStatus(
        InvalidState("job_id", "NOT_CANCELLABLE", "job Microsoft:HV-JOB-4242 is not cancellable"),
        c));
    return reactor;
  }
  grpc::ServerUnaryReactor* GetInventory(grpc::CallbackServerContext* c,
                                         const dr::v1::GetInventoryRequest*,
                                         dr::v1::GetInventoryResponse* out) override {
    out->add_virtual_machines()->mutable_virtual_machine()->set_display_name("no-id");
    auto* reactor = c->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<dr::v1::HostAgentService::Stub> stub_;
};

struct Outcome {
  absl::Status status;
  std::string trailer;  // dr-hyperv-return-code as sent
};

class ServerValidationTest : public ::testing::Test {
 public:  // the table's rows drive the fixture
  void SetUp() override {
    DrServer::Options options;
    options.listen = "";
    options.db_path = ":memory:";
    options.periodic_sync = false;
    options.agents = &agents_;
    if (clock_ != nullptr) options.clock = clock_.get();
    Configure(&options);
    server_ = *DrServer::Create(options);
    auto channel = server_->InProcessChannel();
    topology_ = dr::v1::TopologyService::NewStub(channel);
    failover_ = dr::v1::FailoverService::NewStub(channel);
    jobs_ = dr::v1::JobService::NewStub(channel);
    ASSERT_TRUE(Register("hv-prod-1", "sites/prod", "127.0.0.1:7001", "reg-1").status.ok());
    ASSERT_TRUE(Register("hv-dr-1", "sites/dr", "127.0.0.1:7002", "reg-2").status.ok());
    // A job already running on kBusyVm.
    dr::v1::Job running;
    running.set_name("jobs/already-running");
    running.set_type(dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA);
    running.set_state(dr::v1::JOB_STATE_RUNNING);
    running.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    running.set_virtual_machine(kBusyVm);
    running.set_host("hosts/hv-dr-1");
    ASSERT_TRUE(server_->StoreForTest()->CreateJob(running, {"seed", "seed", "seed"}).ok());
  }

  // A derived fixture's options (limits).
  virtual void Configure(DrServer::Options* /*options*/) {}

  template <typename Call>
  Outcome Run(Call call) {
    grpc::ClientContext ctx;
    grpc::Status st = call(&ctx);
    Outcome out;
    out.status = FromGrpcStatus(st, &ctx);
    auto it = ctx.GetServerTrailingMetadata().find(kReturnCodeMetadata);
    if (it != ctx.GetServerTrailingMetadata().end())
      out.trailer = std::string(it->second.data(), it->second.size());
    return out;
  }
  Outcome Register(const std::string& id, const std::string& site, const std::string& address,
                   const std::string& request_id) {
    dr::v1::RegisterHostRequest r;
    r.set_host_id(id);
    r.set_site(site);
    r.set_agent_address(address);
    r.set_request_id(request_id);
    dr::v1::Host out;
    return Run([&](grpc::ClientContext* c) { return topology_->RegisterHost(c, r, &out); });
  }
  Outcome Failover(const std::string& vm, const std::string& rp, const std::string& request_id) {
    dr::v1::InitiateFailoverRequest r;
    r.set_virtual_machine(vm);
    r.set_recovery_point(rp);
    r.set_request_id(request_id);
    dr::v1::JobResponse out;
    return Run([&](grpc::ClientContext* c) { return failover_->InitiateFailover(c, r, &out); });
  }
  int JobCount() {
    grpc::ClientContext c;
    dr::v1::ListJobsResponse out;
    EXPECT_TRUE(jobs_->ListJobs(&c, {}, &out).ok());
    return out.jobs_size();
  }

  MockAgents agents_;
  // A derived fixture may set a clock before SetUp; declared before server_
  // so that it outlives the server's threads.
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<DrServer> server_;
  std::unique_ptr<dr::v1::TopologyService::Stub> topology_;
  std::unique_ptr<dr::v1::FailoverService::Stub> failover_;
  std::unique_ptr<dr::v1::JobService::Stub> jobs_;
};

struct Row {
  const char* name;
  std::function<Outcome(ServerValidationTest*)> call;
  absl::StatusCode code;
  dr::v1::ReturnCode hyperv;
  const char* field;
};

const std::string kRp = std::string(kReplicaVm) + "/recoveryPoints/rp-a";
const std::string kOtherRp = std::string(kOtherReplicaVm) + "/recoveryPoints/rp-b";

std::vector<Row> Rows() {
  using C = absl::StatusCode;
  auto failover = [](std::string vm, std::string rp, std::string id) {
    return [=](ServerValidationTest* t) { return t->Failover(vm, rp, id); };
  };
  return {
      {"missing virtual_machine", failover("", "", "r1"), C::kInvalidArgument,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "virtual_machine"},
      {"malformed virtual_machine", failover("sql-01", "", "r1"), C::kInvalidArgument,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "virtual_machine"},
      {"missing request_id", failover(kReplicaVm, "", ""), C::kInvalidArgument,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "request_id"},
      {"malformed request_id", failover(kReplicaVm, "", "a b"), C::kInvalidArgument,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "request_id"},
      {"unknown VM",
       failover("hosts/hv-dr-1/virtualMachines/99999999-0000-0000-0000-000000000009", "", "r1"),
       C::kNotFound, dr::v1::RETURN_CODE_INVALID_PARAMETER, "virtual_machine"},
      {"recovery point of another VM", failover(kReplicaVm, kOtherRp, "r1"), C::kInvalidArgument,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "recovery_point"},
      {"unknown recovery point",
       failover(kReplicaVm, std::string(kReplicaVm) + "/recoveryPoints/nope", "r1"), C::kNotFound,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "recovery_point"},
      {"malformed recovery point", failover(kReplicaVm, "rp-a", "r1"), C::kInvalidArgument,
       dr::v1::RETURN_CODE_INVALID_PARAMETER, "recovery_point"},
      {"failover of a primary", failover(kPrimaryVm, "", "r1"), C::kFailedPrecondition,
       dr::v1::RETURN_CODE_INVALID_STATE, "virtual_machine"},
      {"VM busy with another job", failover(kBusyVm, "", "r1"), C::kAborted,
       dr::v1::RETURN_CODE_SYSTEM_IN_USE, "virtual_machine"},
      {"revert without failover",
       [](ServerValidationTest* t) {
         dr::v1::RevertFailoverRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         dr::v1::JobResponse out;
         return t->Run(
             [&](grpc::ClientContext* c) { return t->failover_->RevertFailover(c, r, &out); });
       },
       C::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "virtual_machine"},
      {"commit without failover",
       [](ServerValidationTest* t) {
         dr::v1::CommitFailoverRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         dr::v1::JobResponse out;
         return t->Run(
             [&](grpc::ClientContext* c) { return t->failover_->CommitFailover(c, r, &out); });
       },
       C::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "virtual_machine"},
      {"test failover to another VM's point",
       [](ServerValidationTest* t) {
         dr::v1::StartTestFailoverRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_recovery_point(kOtherRp);
         r.set_request_id("r1");
         dr::v1::JobResponse out;
         return t->Run(
             [&](grpc::ClientContext* c) { return t->failover_->StartTestFailover(c, r, &out); });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "recovery_point"},
      {"prepare a replica",
       [](ServerValidationTest* t) {
         dr::v1::PrepareForPlannedFailoverRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         dr::v1::JobResponse out;
         return t->Run([&](grpc::ClientContext* c) {
           return t->failover_->PrepareForPlannedFailover(c, r, &out);
         });
       },
       C::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "virtual_machine"},
      {"prepare a running primary",
       [](ServerValidationTest* t) {
         dr::v1::PrepareForPlannedFailoverRequest r;
         r.set_virtual_machine(kPrimaryVm);
         r.set_request_id("r1");
         dr::v1::JobResponse out;
         return t->Run([&](grpc::ClientContext* c) {
           return t->failover_->PrepareForPlannedFailover(c, r, &out);
         });
       },
       C::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "virtual_machine"},
      {"re-IP without settings",
       [](ServerValidationTest* t) {
         dr::v1::SetFailoverNetworkAdapterSettingsRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         dr::v1::JobResponse out;
         return t->Run([&](grpc::ClientContext* c) {
           return t->failover_->SetFailoverNetworkAdapterSettings(c, r, &out);
         });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "network_settings"},
      {"re-IP with an adapter name too long",
       [](ServerValidationTest* t) {
         dr::v1::SetFailoverNetworkAdapterSettingsRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         auto* n = r.add_network_settings();
         n->set_adapter(std::string(257, 'n'));
         n->set_dhcp_enabled(true);
         dr::v1::JobResponse out;
         return t->Run([&](grpc::ClientContext* c) {
           return t->failover_->SetFailoverNetworkAdapterSettings(c, r, &out);
         });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "network_settings[0].adapter"},
      {"re-IP with a subnet too long",
       [](ServerValidationTest* t) {
         dr::v1::SetFailoverNetworkAdapterSettingsRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         auto* n = r.add_network_settings();
         n->set_adapter("nic0");
         n->add_ip_addresses("10.0.0.3");
         n->add_subnets(std::string(100, '2'));
         dr::v1::JobResponse out;
         return t->Run([&](grpc::ClientContext* c) {
           return t->failover_->SetFailoverNetworkAdapterSettings(c, r, &out);
         });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER,
       "network_settings[0].subnets[0]"},
      {"register with an agent address too long",
       [](ServerValidationTest* t) {
         return t->Register("hv-new-1", "sites/dr", std::string(300, 'a') + ":7003", "reg-long");
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "agent_address"},
      {"list VMs with a display name too long",
       [](ServerValidationTest* t) {
         dr::v1::ListVirtualMachinesRequest r;
         r.set_display_name_or_id(std::string(257, 'v'));
         dr::v1::ListVirtualMachinesResponse out;
         return t->Run(
             [&](grpc::ClientContext* c) { return t->topology_->ListVirtualMachines(c, r, &out); });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "display_name_or_id"},
      {"re-IP with a bad address",
       [](ServerValidationTest* t) {
         dr::v1::SetFailoverNetworkAdapterSettingsRequest r;
         r.set_virtual_machine(kReplicaVm);
         r.set_request_id("r1");
         auto* n = r.add_network_settings();
         n->set_adapter("nic0");
         n->add_ip_addresses("10.0.0.300");
         dr::v1::JobResponse out;
         return t->Run([&](grpc::ClientContext* c) {
           return t->failover_->SetFailoverNetworkAdapterSettings(c, r, &out);
         });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER,
       "network_settings[0].ip_addresses[0]"},
      {"request_id reused for another request",
       [](ServerValidationTest* t) {
         // "seed" was used by the running job's request.
         return t->Failover(kReplicaVm, "", "seed");
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "request_id"},
      {"host unreachable",
       [](ServerValidationTest* t) {
         dr::v1::Host h;
         h.set_name("hosts/hv-dr-1");
         h.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
         h.set_stale(true);
         h.set_last_error("connection refused");
         EXPECT_TRUE(t->server_->StoreForTest()->UpdateHostContact(h).ok());
         return t->Failover(kReplicaVm, "", "r1");
       },
       C::kUnavailable, dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, "virtual_machine"},
      {"register: bad host_id",
       [](ServerValidationTest* t) {
         return t->Register("HV_1", "sites/dr", "127.0.0.1:7003", "r1");
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "host_id"},
      {"register: bad site",
       [](ServerValidationTest* t) { return t->Register("hv-3", "dr", "127.0.0.1:7003", "r1"); },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "site"},
      {"register: bad agent address",
       [](ServerValidationTest* t) { return t->Register("hv-3", "sites/dr", "127.0.0.1", "r1"); },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "agent_address"},
      {"register: agent address is a URL",
       [](ServerValidationTest* t) {
         return t->Register("hv-3", "sites/dr", "http://hv-3:50061", "r1");
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "agent_address"},
      {"register: agent address in gRPC target syntax",
       [](ServerValidationTest* t) {
         return t->Register("hv-3", "sites/dr", "dns:///hv-3:50061", "r1");
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "agent_address"},
      {"register: agent address with an unbracketed IPv6 address",
       [](ServerValidationTest* t) {
         return t->Register("hv-3", "sites/dr", "fd00::3:50061", "r1");
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "agent_address"},
      {"register: host_id taken",
       [](ServerValidationTest* t) {
         return t->Register("hv-dr-1", "sites/dr", "127.0.0.1:7009", "r9");
       },
       C::kAlreadyExists, dr::v1::RETURN_CODE_SYSTEM_IN_USE, "host_id"},
      {"get job: unknown",
       [](ServerValidationTest* t) {
         dr::v1::GetJobRequest r;
         r.set_name("jobs/nope");
         dr::v1::Job out;
         return t->Run([&](grpc::ClientContext* c) { return t->jobs_->GetJob(c, r, &out); });
       },
       C::kNotFound, dr::v1::RETURN_CODE_INVALID_PARAMETER, "name"},
      {"get job: malformed",
       [](ServerValidationTest* t) {
         dr::v1::GetJobRequest r;
         r.set_name("nope");
         dr::v1::Job out;
         return t->Run([&](grpc::ClientContext* c) { return t->jobs_->GetJob(c, r, &out); });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "name"},
      {"list jobs: negative page size",
       [](ServerValidationTest* t) {
         dr::v1::ListJobsRequest r;
         r.set_page_size(-1);
         dr::v1::ListJobsResponse out;
         return t->Run([&](grpc::ClientContext* c) { return t->jobs_->ListJobs(c, r, &out); });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "page_size"},
      {"list VMs: unknown state value",
       [](ServerValidationTest* t) {
         dr::v1::ListVirtualMachinesRequest r;
         r.add_replication_states(static_cast<dr::v1::ReplicationState>(99));
         dr::v1::ListVirtualMachinesResponse out;
         return t->Run(
             [&](grpc::ClientContext* c) { return t->topology_->ListVirtualMachines(c, r, &out); });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "replication_states"},
      {"cancel without a request_id",
       [](ServerValidationTest* t) {
         dr::v1::CancelJobRequest r;
         r.set_name("jobs/already-running");
         dr::v1::Job out;
         return t->Run([&](grpc::ClientContext* c) { return t->jobs_->CancelJob(c, r, &out); });
       },
       C::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "request_id"},
      {"delete a host with a running job",
       [](ServerValidationTest* t) {
         dr::v1::DeleteHostRequest r;
         r.set_name("hosts/hv-dr-1");
         r.set_request_id("del-1");
         dr::v1::DeleteHostResponse out;
         return t->Run(
             [&](grpc::ClientContext* c) { return t->topology_->DeleteHost(c, r, &out); });
       },
       C::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "name"},
  };
}

TEST_F(ServerValidationTest, EveryRefusalNamesTheFieldAndCarriesBothCodes) {
  for (const Row& row : Rows()) {
    SCOPED_TRACE(row.name);
    SetUp();
    const int jobs_before = JobCount();
    Outcome out = row.call(this);
    EXPECT_EQ(out.status.code(), row.code) << out.status;
    EXPECT_EQ(ErrorDetailOf(out.status).return_code(), row.hyperv) << out.status;
    EXPECT_EQ(ErrorDetailOf(out.status).field(), row.field) << out.status;
    EXPECT_EQ(out.trailer, absl::StrCat(static_cast<int>(row.hyperv)));
    EXPECT_THAT(std::string(out.status.message()), ::testing::HasSubstr(row.field));
    EXPECT_EQ(JobCount(), jobs_before) << "a refused request recorded a job";
  }
}

TEST_F(ServerValidationTest, InventoryFromRegistrationIsVisible) {
  grpc::ClientContext c;
  dr::v1::ListVirtualMachinesRequest r;
  r.set_site("sites/dr");
  dr::v1::ListVirtualMachinesResponse out;
  ASSERT_TRUE(topology_->ListVirtualMachines(&c, r, &out).ok());
  EXPECT_EQ(out.virtual_machines_size(), 3);
  grpc::ClientContext c2;
  dr::v1::ListRecoveryPointsRequest rp;
  rp.set_parent(kReplicaVm);
  dr::v1::ListRecoveryPointsResponse points;
  ASSERT_TRUE(topology_->ListRecoveryPoints(&c2, rp, &points).ok());
  ASSERT_EQ(points.recovery_points_size(), 1);
  EXPECT_EQ(points.recovery_points(0).name(), kRp);
}

TEST_F(ServerValidationTest, RegistrationWithTheSameRequestIdIsReplayed) {
  Outcome again = Register("hv-dr-1", "sites/dr", "127.0.0.1:7002", "reg-2");
  EXPECT_TRUE(again.status.ok()) << again.status;
  Outcome reuse = Register("hv-dr-2", "sites/dr", "127.0.0.1:7002", "reg-2");
  EXPECT_EQ(reuse.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(reuse.status).field(), "request_id");
}

TEST_F(ServerValidationTest, UnreachableAgentAtRegistrationKeepsTheHostMarkedStale) {
  auto stub = std::dynamic_pointer_cast<NiceMock<dr::v1::MockHostAgentServiceStub>>(
      agents_.Get("10.9.9.9:1"));
  ON_CALL(*stub, GetInventory(_, _, _))
      .WillByDefault(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")));
  ASSERT_TRUE(Register("hv-far", "sites/far", "10.9.9.9:1", "reg-far").status.ok());
  auto host = server_->StoreForTest()->GetHost("hosts/hv-far");
  EXPECT_EQ(host->reachability(), dr::v1::REACHABILITY_UNREACHABLE);
  EXPECT_TRUE(host->stale());
  EXPECT_THAT(host->last_error(), ::testing::HasSubstr("connection refused"));
}

Outcome DeleteHost(ServerValidationTest* t, const std::string& name,
                   const std::string& request_id) {
  dr::v1::DeleteHostRequest r;
  r.set_name(name);
  r.set_request_id(request_id);
  dr::v1::DeleteHostResponse out;
  return t->Run([&](grpc::ClientContext* c) { return t->topology_->DeleteHost(c, r, &out); });
}

TEST_F(ServerValidationTest, DeleteHostReplayAfterTheHostIsGoneAnswersOk) {
  ASSERT_TRUE(DeleteHost(this, "hosts/hv-prod-1", "del-prod").status.ok());
  EXPECT_EQ(server_->StoreForTest()->GetHost("hosts/hv-prod-1").status().code(),
            absl::StatusCode::kNotFound);
  Outcome again = DeleteHost(this, "hosts/hv-prod-1", "del-prod");
  EXPECT_TRUE(again.status.ok()) << again.status;
  // Without a request_id of its own, the same delete is NOT_FOUND.
  EXPECT_EQ(DeleteHost(this, "hosts/hv-prod-1", "del-prod-2").status.code(),
            absl::StatusCode::kNotFound);
  Outcome reuse = DeleteHost(this, "hosts/hv-dr-1", "del-prod");
  EXPECT_EQ(reuse.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(reuse.status).field(), "request_id");
  EXPECT_EQ(ErrorDetailOf(reuse.status).reason(), "REQUEST_ID_REUSED");
  EXPECT_TRUE(server_->StoreForTest()->GetHost("hosts/hv-dr-1").ok());
}

Outcome Cancel(ServerValidationTest* t, const std::string& job, const std::string& request_id,
               dr::v1::Job* out) {
  dr::v1::CancelJobRequest r;
  r.set_name(job);
  r.set_request_id(request_id);
  return t->Run([&](grpc::ClientContext* c) { return t->jobs_->CancelJob(c, r, out); });
}

TEST_F(ServerValidationTest, CancelJobReplayAnswersTheJobAsItNowIsWithoutAskingTheAgent) {
  auto stub = agents_.stubs_.at("127.0.0.1:7002");
  EXPECT_CALL(*stub, CancelJob(_, _, _)).Times(1).WillOnce(Return(grpc::Status::OK));
  dr::v1::Job first;
  Outcome cancelled = Cancel(this, "jobs/already-running", "cancel-1", &first);
  ASSERT_TRUE(cancelled.status.ok()) << cancelled.status;
  EXPECT_EQ(first.name(), "jobs/already-running");
  // The agent reports the job's end: it was cancelled.
  JobUpdate end;
  end.job = "jobs/already-running";
  end.state = dr::v1::JOB_STATE_TERMINATED;
  end.event_time = absl::Now();
  ASSERT_TRUE(server_->StoreForTest()->UpdateJob(end).ok());
  dr::v1::Job again;
  Outcome replayed = Cancel(this, "jobs/already-running", "cancel-1", &again);
  ASSERT_TRUE(replayed.status.ok()) << replayed.status;
  EXPECT_EQ(again.name(), first.name());
  EXPECT_EQ(again.state(), dr::v1::JOB_STATE_TERMINATED);
  // Another request with the same request_id is refused, without the agent.
  dr::v1::Job unused;
  Outcome reuse = Cancel(this, "jobs/another", "cancel-1", &unused);
  EXPECT_EQ(reuse.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(reuse.status).field(), "request_id");
  EXPECT_EQ(ErrorDetailOf(reuse.status).reason(), "REQUEST_ID_REUSED");
  // A new request_id on the ended job is a new request, and refused.
  Outcome terminal = Cancel(this, "jobs/already-running", "cancel-2", &unused);
  EXPECT_EQ(terminal.status.code(), absl::StatusCode::kFailedPrecondition);
}

// A retry arriving while the first call is still asking the agent, after
// the job ended: it is a replay (the job), not a new request refused
// JOB_TERMINAL, and the agent is asked once.
TEST_F(ServerValidationTest, CancelJobRetryWhileTheAgentIsAskedIsAReplay) {
  auto stub = agents_.stubs_.at("127.0.0.1:7002");
  absl::Notification in_agent;
  absl::Notification release;
  EXPECT_CALL(*stub, CancelJob(_, _, _))
      .Times(1)
      .WillOnce([&](grpc::ClientContext*, const dr::v1::HostAgentServiceCancelJobRequest&,
                    dr::v1::AgentJobStatus*) {
        // The job ends (cancelled) before the agent's answer arrives.
        JobUpdate end;
        end.job = "jobs/already-running";
        end.state = dr::v1::JOB_STATE_TERMINATED;
        end.event_time = absl::Now();
        EXPECT_TRUE(server_->StoreForTest()->UpdateJob(end).ok());
        in_agent.Notify();
        release.WaitForNotification();
        return grpc::Status::OK;
      });
  dr::v1::Job first;
  Outcome cancelled;
  std::thread caller([&] { cancelled = Cancel(this, "jobs/already-running", "cancel-1", &first); });
  in_agent.WaitForNotification();
  dr::v1::Job again;
  Outcome retried = Cancel(this, "jobs/already-running", "cancel-1", &again);
  release.Notify();
  caller.join();
  ASSERT_TRUE(cancelled.status.ok()) << cancelled.status;
  EXPECT_EQ(first.name(), "jobs/already-running");
  ASSERT_TRUE(retried.status.ok()) << retried.status;
  EXPECT_EQ(again.name(), "jobs/already-running");
  EXPECT_EQ(again.state(), dr::v1::JOB_STATE_TERMINATED);
}

TEST_F(ServerValidationTest, RefusedCancelRecordsNothing) {
  auto stub = agents_.stubs_.at("127.0.0.1:7002");
  EXPECT_CALL(*stub, CancelJob(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")))
      .WillOnce(Return(grpc::Status::OK));
  dr::v1::Job out;
  EXPECT_EQ(Cancel(this, "jobs/already-running", "cancel-1", &out).status.code(),
            absl::StatusCode::kUnavailable);
  Outcome retried = Cancel(this, "jobs/already-running", "cancel-1", &out);
  EXPECT_TRUE(retried.status.ok()) << retried.status;
}

TEST_F(ServerValidationTest, AgentRefusalsNameTheApisFieldsNotTheAgents) {
  FakeAgent agent;
  agents_.real_["127.0.0.1:7002"] = agent.stub();
  agents_.real_["127.0.0.1:7009"] = agent.stub();
  // CancelJob: the agent's job_id and hypervisor job id become the
  // request's `name` and the job's resource name.
  dr::v1::Job out;
  Outcome cancel = Cancel(this, "jobs/already-running", "cancel-fake", &out);
  EXPECT_EQ(cancel.status.code(), absl::StatusCode::kFailedPrecondition) << cancel.status;
  dr::v1::ErrorDetail detail = ErrorDetailOf(cancel.status);
  EXPECT_EQ(detail.field(), "name");
  EXPECT_EQ(detail.return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ(detail.reason(), "NOT_CANCELLABLE");
  EXPECT_THAT(std::string(cancel.status.message()), ::testing::HasSubstr("jobs/already-running"));
  EXPECT_THAT(std::string(cancel.status.message()), ::testing::Not(::testing::HasSubstr("job_id")));
  EXPECT_THAT(std::string(cancel.status.message()),
              ::testing::Not(::testing::HasSubstr("HV-JOB-4242")));
  // SyncHost: the store's virtual_machines[0].vm_id is the agent's data;
  // the caller's field is the host's name.
  dr::v1::SyncHostRequest sync;
  sync.set_name("hosts/hv-dr-1");
  dr::v1::Host host;
  Outcome synced = Run([&](grpc::ClientContext* c) { return topology_->SyncHost(c, sync, &host); });
  EXPECT_FALSE(synced.status.ok());
  EXPECT_EQ(ErrorDetailOf(synced.status).field(), "name") << synced.status;
  EXPECT_EQ(ErrorDetailOf(synced.status).reason(), "INVENTORY_REJECTED") << synced.status;
  EXPECT_THAT(std::string(synced.status.message()), ::testing::HasSubstr("hosts/hv-dr-1"));
  // RegisterHost has no `name`: its host is `host_id`.
  Outcome registered = Register("hv-new-1", "sites/dr", "127.0.0.1:7009", "reg-fake");
  EXPECT_FALSE(registered.status.ok());
  EXPECT_EQ(ErrorDetailOf(registered.status).field(), "host_id") << registered.status;
  EXPECT_EQ(ErrorDetailOf(registered.status).reason(), "INVENTORY_REJECTED") << registered.status;
  agents_.real_.clear();
}

absl::StatusOr<dr::v1::JobResponse> InitiateFailover(ServerValidationTest* t, const std::string& vm,
                                                     const std::string& rp,
                                                     const std::string& request_id,
                                                     const std::string& requester = "") {
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine(vm);
  r.set_recovery_point(rp);
  r.set_request_id(request_id);
  r.set_requester(requester);
  dr::v1::JobResponse out;
  Outcome o =
      t->Run([&](grpc::ClientContext* c) { return t->failover_->InitiateFailover(c, r, &out); });
  if (!o.status.ok()) return o.status;
  return out;
}

TEST_F(ServerValidationTest, ReplayFromAnotherRequesterReturnsTheFirstJob) {
  auto first = InitiateFailover(this, kReplicaVm, "", "step-1", "alice");
  ASSERT_TRUE(first.ok()) << first.status();
  auto cron = InitiateFailover(this, kReplicaVm, "", "step-1", "cron");
  ASSERT_TRUE(cron.ok()) << cron.status();
  EXPECT_EQ(cron->job().name(), first->job().name());
  EXPECT_EQ(cron->job().requester(), "alice");
  // What is asked still counts.
  auto other = InitiateFailover(this, kOtherReplicaVm, "", "step-1", "alice");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(other.status()).reason(), "REQUEST_ID_REUSED");
}

TEST_F(ServerValidationTest, LogicalVmNameResolvesToTheCopyTheOperationRunsOn) {
  // vm-1 has a primary copy (hv-prod-1) and a replica copy (hv-dr-1).
  auto failover = InitiateFailover(this, "virtualMachines/vm-1",
                                   "virtualMachines/vm-1/recoveryPoints/rp-a", "l-1");
  ASSERT_TRUE(failover.ok()) << failover.status();
  EXPECT_EQ(failover->job().virtual_machine(), kReplicaVm);
  EXPECT_EQ(failover->job().recovery_point(), kRp);
  EXPECT_EQ(failover->job().host(), "hosts/hv-dr-1");
  // By GUID, the prepare goes to the primary (refused there: it runs).
  dr::v1::PrepareForPlannedFailoverRequest prepare;
  prepare.set_virtual_machine("virtualMachines/11111111-0000-0000-0000-000000000001");
  prepare.set_request_id("l-2");
  dr::v1::JobResponse out;
  Outcome prepared = Run([&](grpc::ClientContext* c) {
    return failover_->PrepareForPlannedFailover(c, prepare, &out);
  });
  EXPECT_EQ(prepared.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorDetailOf(prepared.status).reason(), "WRONG_POWER_STATE");
  EXPECT_THAT(std::string(prepared.status.message()), ::testing::HasSubstr(kPrimaryVm));
}

TEST_F(ServerValidationTest, LogicalVmNameNamingNoneOrSeveralCopiesIsRefusedNamingThem) {
  const int jobs_before = JobCount();
  // Stop runs on a copy in any mode: both copies of vm-1 qualify.
  dr::v1::StopVirtualMachineRequest stop;
  stop.set_virtual_machine("virtualMachines/vm-1");
  stop.set_request_id("l-1");
  dr::v1::JobResponse out;
  Outcome ambiguous =
      Run([&](grpc::ClientContext* c) { return failover_->StopVirtualMachine(c, stop, &out); });
  EXPECT_EQ(ambiguous.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(ambiguous.status).return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
  EXPECT_EQ(ErrorDetailOf(ambiguous.status).field(), "virtual_machine");
  EXPECT_EQ(ErrorDetailOf(ambiguous.status).reason(), "AMBIGUOUS_VIRTUAL_MACHINE");
  EXPECT_THAT(std::string(ambiguous.status.message()), ::testing::HasSubstr(kPrimaryVm));
  EXPECT_THAT(std::string(ambiguous.status.message()), ::testing::HasSubstr(kReplicaVm));
  // vm-2 has a replica copy only: no copy to prepare.
  dr::v1::PrepareForPlannedFailoverRequest prepare;
  prepare.set_virtual_machine("virtualMachines/vm-2");
  prepare.set_request_id("l-2");
  Outcome none = Run([&](grpc::ClientContext* c) {
    return failover_->PrepareForPlannedFailover(c, prepare, &out);
  });
  EXPECT_EQ(none.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorDetailOf(none.status).return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ(ErrorDetailOf(none.status).field(), "virtual_machine");
  EXPECT_EQ(ErrorDetailOf(none.status).reason(), "NO_COPY_FOR_OPERATION");
  EXPECT_THAT(std::string(none.status.message()), ::testing::HasSubstr(kOtherReplicaVm));
  // No VM of that name or GUID.
  auto unknown = InitiateFailover(this, "virtualMachines/no-such-vm", "", "l-3");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorDetailOf(unknown.status()).field(), "virtual_machine");
  EXPECT_THAT(std::string(unknown.status().message()), ::testing::HasSubstr("no-such-vm"));
  // Malformed.
  auto malformed = InitiateFailover(this, "virtualMachines/", "", "l-4");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(malformed.status()).field(), "virtual_machine");
  EXPECT_EQ(JobCount(), jobs_before);
}

// A runbook step replayed after reverse replication swapped the copies'
// roles: the same request_id answers the first job, on the copy it ran on.
TEST_F(ServerValidationTest, ReplayByLogicalNameAfterTheRolesSwappedReturnsTheFirstJob) {
  dr::v1::GetInventoryResponse dr_inv;
  *dr_inv.add_virtual_machines() =
      Vm("11111111-0000-0000-0000-000000000001", dr::v1::REPLICATION_MODE_REPLICA, "rp-a");
  *dr_inv.add_virtual_machines() =
      Vm("11111111-0000-0000-0000-000000000002", dr::v1::REPLICATION_MODE_PRIMARY, "");
  *dr_inv.add_virtual_machines() =
      Vm("11111111-0000-0000-0000-000000000003", dr::v1::REPLICATION_MODE_REPLICA, "");
  dr::v1::GetInventoryResponse prod_inv;
  *prod_inv.add_virtual_machines() =
      Vm("11111111-0000-0000-0000-000000000001", dr::v1::REPLICATION_MODE_PRIMARY, "");
  *prod_inv.add_virtual_machines() =
      Vm("11111111-0000-0000-0000-000000000002", dr::v1::REPLICATION_MODE_REPLICA, "");
  // Set before any job runs: a job's end syncs its host from another
  // thread, and gmock's ON_CALL must not change under a call.
  auto swapped = std::make_shared<std::atomic<bool>>(false);  // outlives late syncs
  for (auto [address, inv] :
       {std::pair{"127.0.0.1:7002", &dr_inv}, std::pair{"127.0.0.1:7001", &prod_inv}}) {
    dr::v1::GetInventoryResponse before;
    grpc::ClientContext unused;
    agents_.stubs_.at(address)->GetInventory(&unused, {}, &before);
    ON_CALL(*agents_.stubs_.at(address), GetInventory(_, _, _))
        .WillByDefault([swapped, before, after = *inv](grpc::ClientContext*,
                                                       const dr::v1::GetInventoryRequest&,
                                                       dr::v1::GetInventoryResponse* out) {
          *out = *swapped ? after : before;
          return grpc::Status::OK;
        });
  }
  auto first = InitiateFailover(this, "virtualMachines/vm-2", "", "swap-1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->job().virtual_machine(), kOtherReplicaVm);
  JobUpdate end;
  end.job = first->job().name();
  end.state = dr::v1::JOB_STATE_COMPLETED;
  end.percent_complete = 100;
  end.event_time = absl::Now();
  // Ended here, unless the dispatcher ended it first (the mocked stubs
  // have no stream).
  server_->StoreForTest()->UpdateJob(end).IgnoreError();
  ASSERT_GE(server_->StoreForTest()->GetJob(first->job().name())->state(),
            dr::v1::JOB_STATE_COMPLETED);
  // Reversed: the copy on hv-dr-1 is now the primary, the one on hv-prod-1
  // the replica; the hosts report it, and drserver reads it (a job's end
  // also makes it sync the job's host).
  *swapped = true;
  for (const char* host : {"hosts/hv-dr-1", "hosts/hv-prod-1"}) {
    grpc::ClientContext c;
    dr::v1::SyncHostRequest sync;
    sync.set_name(host);
    dr::v1::Host synced;
    ASSERT_TRUE(topology_->SyncHost(&c, sync, &synced).ok());
  }
  ASSERT_EQ(server_->StoreForTest()->GetVirtualMachine(kOtherReplicaVm)->replication_mode(),
            dr::v1::REPLICATION_MODE_PRIMARY);
  auto replay = InitiateFailover(this, "virtualMachines/vm-2", "", "swap-1");
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->job().name(), first->job().name());
  EXPECT_EQ(replay->job().virtual_machine(), kOtherReplicaVm);
  // A new step resolves against the roles as they now are.
  auto next = InitiateFailover(this, "virtualMachines/vm-2", "", "swap-2");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->job().virtual_machine(),
            "hosts/hv-prod-1/virtualMachines/11111111-0000-0000-0000-000000000002");
}

TEST_F(ServerValidationTest, AnySpellingOfAVmGuidFindsTheVm) {
  // The fixture's inventory GUIDs are digits only: give one letters to see case folding.
  dr::v1::GetInventoryResponse inv;
  *inv.add_virtual_machines() =
      Vm("ABCDEF12-0000-4000-8000-00000000000A", dr::v1::REPLICATION_MODE_REPLICA, "rp-x");
  auto stub = agents_.stubs_["127.0.0.1:7003"] =
      std::make_shared<NiceMock<dr::v1::MockHostAgentServiceStub>>();
  ON_CALL(*stub, GetInventory(_, _, _))
      .WillByDefault(DoAll(SetArgPointee<2>(inv), Return(grpc::Status::OK)));
  ASSERT_TRUE(Register("hv-dr-9", "sites/dr", "127.0.0.1:7003", "reg-9").status.ok());
  const std::string canonical =
      "hosts/hv-dr-9/virtualMachines/ABCDEF12-0000-4000-8000-00000000000A";
  for (const std::string& name :
       {canonical,
        std::string("hosts/hv-dr-9/virtualMachines/abcdef12-0000-4000-8000-00000000000a"),
        std::string("hosts/hv-dr-9/virtualMachines/{abcdef12-0000-4000-8000-00000000000a}"),
        std::string("hosts/hv-dr-9/virtualMachines/{ABCDEF12-0000-4000-8000-00000000000A}")}) {
    SCOPED_TRACE(name);
    grpc::ClientContext c;
    dr::v1::GetVirtualMachineRequest get;
    get.set_name(name);
    dr::v1::VirtualMachine vm;
    ASSERT_TRUE(topology_->GetVirtualMachine(&c, get, &vm).ok());
    EXPECT_EQ(vm.name(), canonical);
    grpc::ClientContext c2;
    dr::v1::ListRecoveryPointsRequest rp;
    rp.set_parent(name);
    dr::v1::ListRecoveryPointsResponse points;
    ASSERT_TRUE(topology_->ListRecoveryPoints(&c2, rp, &points).ok());
    ASSERT_EQ(points.recovery_points_size(), 1);
    EXPECT_EQ(points.recovery_points(0).name(), canonical + "/recoveryPoints/rp-x");
    grpc::ClientContext c3;
    dr::v1::ListVirtualMachinesRequest list;
    list.set_display_name_or_id(name.substr(name.rfind('/') + 1));
    dr::v1::ListVirtualMachinesResponse listed;
    ASSERT_TRUE(topology_->ListVirtualMachines(&c3, list, &listed).ok());
    ASSERT_EQ(listed.virtual_machines_size(), 1);
    EXPECT_EQ(listed.virtual_machines(0).name(), canonical);
  }
  // A failover naming the VM and its recovery point in other spellings.
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine("hosts/hv-dr-9/virtualMachines/{abcdef12-0000-4000-8000-00000000000a}");
  r.set_recovery_point(
      "hosts/hv-dr-9/virtualMachines/abcdef12-0000-4000-8000-00000000000A/recoveryPoints/rp-x");
  r.set_request_id("spelling-1");
  dr::v1::JobResponse out;
  grpc::ClientContext c4;
  grpc::Status st = failover_->InitiateFailover(&c4, r, &out);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(out.job().virtual_machine(), canonical);
  EXPECT_EQ(out.job().recovery_point(), canonical + "/recoveryPoints/rp-x");
  grpc::ClientContext c5;
  dr::v1::ListJobsRequest jobs;
  jobs.set_virtual_machine("hosts/hv-dr-9/virtualMachines/abcdef12-0000-4000-8000-00000000000a");
  dr::v1::ListJobsResponse listed_jobs;
  ASSERT_TRUE(jobs_->ListJobs(&c5, jobs, &listed_jobs).ok());
  ASSERT_EQ(listed_jobs.jobs_size(), 1);
  EXPECT_EQ(listed_jobs.jobs(0).name(), out.job().name());
  // A retry with the same request_id in the canonical spelling is the same request.
  dr::v1::InitiateFailoverRequest retry = r;
  retry.set_virtual_machine(canonical);
  retry.set_recovery_point(canonical + "/recoveryPoints/rp-x");
  dr::v1::JobResponse again;
  grpc::ClientContext c6;
  st = failover_->InitiateFailover(&c6, retry, &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.job().name(), out.job().name());
}

TEST_F(ServerValidationTest, WhatIsNotAGuidIsRefusedNamingTheField) {
  for (const char* guid :
       {"----", "{}", "0000000000000000000000000000000000000000000000000000000000000000",
        "1111111-10000-0000-0000-000000000001", "1111111X-0000-0000-0000-000000000001"}) {
    SCOPED_TRACE(guid);
    Outcome get = Run([&](grpc::ClientContext* c) {
      dr::v1::GetVirtualMachineRequest r;
      r.set_name(absl::StrCat("hosts/hv-dr-1/virtualMachines/", guid));
      dr::v1::VirtualMachine out;
      return topology_->GetVirtualMachine(c, r, &out);
    });
    EXPECT_EQ(get.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ErrorDetailOf(get.status).field(), "name");
    Outcome failover =
        Failover(absl::StrCat("hosts/hv-dr-1/virtualMachines/", guid), "", "bad-guid");
    EXPECT_EQ(failover.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ErrorDetailOf(failover.status).field(), "virtual_machine");
  }
}

// ---- Reflection and health ----

TEST_F(ServerValidationTest, HealthIsPerServiceAndNotServingWhileTheStoreCannotWrite) {
  auto health = grpc::health::v1::Health::NewStub(server_->InProcessChannel());
  auto status_of = [&](const std::string& service) {
    grpc::ClientContext c;
    grpc::health::v1::HealthCheckRequest r;
    r.set_service(service);
    grpc::health::v1::HealthCheckResponse out;
    grpc::Status st = health->Check(&c, r, &out);
    EXPECT_TRUE(st.ok()) << service << ": " << st.error_message();
    return out.status();
  };
  const std::vector<std::string> services = {"", "dr.v1.TopologyService", "dr.v1.FailoverService",
                                             "dr.v1.JobService"};
  for (const std::string& service : services) {
    EXPECT_EQ(status_of(service), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  // A host whose inventory does not fit on a full disk.
  dr::v1::GetInventoryResponse big;
  for (int i = 0; i < 3000; ++i) {
    *big.add_virtual_machines() = Vm(absl::StrFormat("22222222-0000-4000-8000-%012d", i),
                                     dr::v1::REPLICATION_MODE_REPLICA, "rp");
  }
  auto stub = agents_.stubs_["127.0.0.1:7004"] =
      std::make_shared<NiceMock<dr::v1::MockHostAgentServiceStub>>();
  ON_CALL(*stub, GetInventory(_, _, _))
      .WillByDefault(DoAll(SetArgPointee<2>(big), Return(grpc::Status::OK)));
  ASSERT_TRUE(server_->StoreForTest()->LimitPagesForTest(1).ok());  // the disk is full now
  Outcome full = Register("hv-big", "sites/dr", "127.0.0.1:7004", "reg-big");
  EXPECT_EQ(full.status.code(), absl::StatusCode::kResourceExhausted) << full.status;
  for (const std::string& service : services) {
    EXPECT_EQ(status_of(service), grpc::health::v1::HealthCheckResponse::NOT_SERVING) << service;
  }
  // Reads still work; a refusal of content does not make it healthy again.
  EXPECT_EQ(JobCount(), 1);
  EXPECT_EQ(Failover("hosts/hv-dr-1/virtualMachines/{}", "", "x").status.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status_of(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // Space again: the next write succeeds and the server is healthy.
  ASSERT_TRUE(server_->StoreForTest()->LimitPagesForTest(0).ok());
  grpc::ClientContext c;
  dr::v1::SyncHostRequest sync;
  sync.set_name("hosts/hv-big");
  dr::v1::Host synced;
  grpc::Status st = topology_->SyncHost(&c, sync, &synced);
  ASSERT_TRUE(st.ok()) << st.error_message();
  for (const std::string& service : services) {
    EXPECT_EQ(status_of(service), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
  // An unknown service is NOT_FOUND, as the protocol says.
  grpc::ClientContext unknown_context;
  grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("dr.v1.NoSuchService");
  grpc::health::v1::HealthCheckResponse unknown_out;
  EXPECT_EQ(health->Check(&unknown_context, unknown, &unknown_out).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerValidationTest, RequestOverTheSizeLimitIsRefusedWithAnErrorDetail) {
  // Over drserver's 4 MiB but under gRPC's receive limit (set above it):
  // before, gRPC itself answered RESOURCE_EXHAUSTED with no ErrorDetail.
  const std::string big(4 * 1024 * 1024 + 4096, 'x');
  dr::v1::InitiateFailoverRequest failover;
  failover.set_virtual_machine(kReplicaVm);
  failover.set_request_id("big-1");
  failover.set_requester(big);
  dr::v1::JobResponse job;
  Outcome out =
      Run([&](grpc::ClientContext* c) { return failover_->InitiateFailover(c, failover, &job); });
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument) << out.status;
  EXPECT_EQ(ErrorDetailOf(out.status).field(), "request") << out.status;
  EXPECT_EQ(ErrorDetailOf(out.status).reason(), "REQUEST_TOO_LARGE");
  EXPECT_EQ(out.trailer, "32773");
  dr::v1::ListVirtualMachinesRequest list;
  list.set_display_name_or_id(big);
  dr::v1::ListVirtualMachinesResponse vms;
  out = Run([&](grpc::ClientContext* c) { return topology_->ListVirtualMachines(c, list, &vms); });
  EXPECT_EQ(out.status.code(), absl::StatusCode::kInvalidArgument) << out.status;
  EXPECT_EQ(ErrorDetailOf(out.status).field(), "request") << out.status;
  dr::v1::WatchJobRequest watch;
  watch.set_name("jobs/" + big);
  grpc::ClientContext c;
  auto reader = jobs_->WatchJob(&c, watch);
  dr::v1::WatchJobResponse ignored;
  EXPECT_FALSE(reader->Read(&ignored));
  absl::Status watched = FromGrpcStatus(reader->Finish(), &c);
  EXPECT_EQ(watched.code(), absl::StatusCode::kInvalidArgument) << watched;
  EXPECT_EQ(ErrorDetailOf(watched).field(), "request") << watched;
}

class WatchLimitTest : public ServerValidationTest {
 public:
  void Configure(DrServer::Options* options) override { options->max_watches_per_client = 2; }

  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<dr::v1::WatchJobResponse>> reader;
  };
  std::unique_ptr<Watch> Open() {
    auto w = std::make_unique<Watch>();
    dr::v1::WatchJobRequest r;
    r.set_name("jobs/already-running");
    w->reader = jobs_->WatchJob(&w->context, r);
    return w;
  }
};

TEST_F(WatchLimitTest, WatchesPastTheLimitPerClientAreRefusedWithRetryAdvice) {
  std::vector<std::unique_ptr<Watch>> open;
  for (int i = 0; i < 2; ++i) {
    open.push_back(Open());
    dr::v1::WatchJobResponse first;
    ASSERT_TRUE(open.back()->reader->Read(&first));
    EXPECT_EQ(first.job().state(), dr::v1::JOB_STATE_RUNNING);
  }
  std::unique_ptr<Watch> refused = Open();
  dr::v1::WatchJobResponse none;
  EXPECT_FALSE(refused->reader->Read(&none));
  absl::Status status = FromGrpcStatus(refused->reader->Finish(), &refused->context);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  dr::v1::ErrorDetail detail = ErrorDetailOf(status);
  EXPECT_EQ(detail.return_code(), dr::v1::RETURN_CODE_OUT_OF_MEMORY);
  EXPECT_EQ(detail.reason(), "TOO_MANY_STREAMS_FROM_CLIENT");
  EXPECT_GT(detail.retry_after().seconds(), 0);
  // A closed watch frees its place (released when its stream is done).
  open[0]->context.TryCancel();
  open[0]->reader->Finish().ok();
  open.erase(open.begin());
  while (true) {
    std::unique_ptr<Watch> again = Open();
    dr::v1::WatchJobResponse first;
    if (again->reader->Read(&first)) {
      EXPECT_EQ(first.job().name(), "jobs/already-running");
      again->context.TryCancel();
      again->reader->Finish().ok();
      break;
    }
    ASSERT_EQ(again->reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (auto& w : open) {
    w->context.TryCancel();
    w->reader->Finish().ok();
  }
}

// Job names are time-ordered even when the clock does not move, so that
// new jobs land at the right edge of every index keyed by name.
class JobNameTest : public ServerValidationTest {
 public:
  void SetUp() override {
    clock_ = std::make_unique<FakeClock>(absl::FromUnixMicros(1700000000123456));
    ServerValidationTest::SetUp();
  }
};

TEST_F(JobNameTest, NamesAreTheCreationTimeAndStrictlyIncreaseUnderAFrozenClock) {
  std::vector<std::string> names;
  for (const char* vm : {kReplicaVm, kOtherReplicaVm}) {
    dr::v1::InitiateFailoverRequest r;
    r.set_virtual_machine(vm);
    r.set_request_id(absl::StrCat("name-", names.size()));
    dr::v1::JobResponse out;
    grpc::ClientContext c;
    ASSERT_TRUE(failover_->InitiateFailover(&c, r, &out).ok());
    names.push_back(out.job().name());
  }
  // 1700000000 is 2023-11-14 22:13:20 UTC.
  EXPECT_THAT(names[0], ::testing::MatchesRegex("jobs/20231114-221320-123456-[0-9a-f]{8}"));
  EXPECT_THAT(names[1], ::testing::MatchesRegex("jobs/20231114-221320-123457-[0-9a-f]{8}"));
  EXPECT_LT(names[0], names[1]);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
