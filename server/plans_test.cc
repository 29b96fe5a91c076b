// PlanLogic over a real SqliteStore (in memory): plans written, refused,
// replaced under etags and deleted; ValidatePlan over a seeded topology
// with nothing run.
#include "server/plans.h"

#include <memory>
#include <string>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite_store.h"

namespace hvdr {
namespace server {
namespace {

using ::testing::HasSubstr;

constexpr char kVm1[] = "11111111-0000-0000-0000-000000000001";
constexpr char kVm2[] = "11111111-0000-0000-0000-000000000002";

dr::v1::VirtualMachineInventory Vm(const std::string& id, dr::v1::ReplicationMode mode,
                                   absl::Time now) {
  dr::v1::VirtualMachineInventory inv;
  auto* vm = inv.mutable_virtual_machine();
  vm->set_vm_id(id);
  vm->set_display_name(absl::StrCat("vm-", id.substr(id.size() - 1)));
  vm->set_replication_mode(mode);
  vm->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm->set_replication_health(dr::v1::REPLICATION_HEALTH_OK);
  vm->set_enabled_state(mode == dr::v1::REPLICATION_MODE_PRIMARY ? dr::v1::ENABLED_STATE_ENABLED
                                                                 : dr::v1::ENABLED_STATE_DISABLED);
  ToProto(now - absl::Seconds(30), vm->mutable_last_replication_time());
  return inv;
}

class PlanLogicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *SqliteStore::Open(":memory:", {});
    logic_ = std::make_unique<PlanLogic>(store_.get(), &clock_, PlanLogic::Options{});
  }
  // hosts/p in sites/a holds the primaries, hosts/r in sites/b the replicas
  // of kVm1 and kVm2; both reachable.
  void SeedTopology() {
    for (auto [host, site, mode] :
         {std::tuple{"hosts/p", "sites/a", dr::v1::REPLICATION_MODE_PRIMARY},
          std::tuple{"hosts/r", "sites/b", dr::v1::REPLICATION_MODE_REPLICA}}) {
      dr::v1::Host h;
      h.set_name(host);
      h.set_site(site);
      h.set_agent_address("127.0.0.1:1");
      ASSERT_TRUE(store_->CreateHost(h, nullptr).ok());
      h.set_reachability(dr::v1::REACHABILITY_REACHABLE);
      ToProto(clock_.Now(), h.mutable_last_contact_time());
      ASSERT_TRUE(store_->UpdateHostContact(h).ok());
      ASSERT_TRUE(
          store_
              ->ReplaceInventory(host, {Vm(kVm1, mode, clock_.Now()), Vm(kVm2, mode, clock_.Now())},
                                 clock_.Now())
              .ok());
    }
  }
  dr::v1::CreatePlanRequest Create(const std::string& request_id = "create-1") {
    dr::v1::CreatePlanRequest r;
    auto* p = r.mutable_plan();
    p->set_name("plans/site-a");
    p->set_source_site("sites/a");
    p->set_target_site("sites/b");
    auto* g = p->add_groups();
    g->set_id("db");
    g->add_vms()->set_vm_id(absl::AsciiStrToLower(kVm1));
    auto* app = g->add_vms();
    app->set_vm_id(absl::StrCat("{", kVm2, "}"));
    app->add_depends_on(kVm1);
    r.set_request_id(request_id);
    r.set_requester("ops");
    return r;
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<PlanLogic> logic_;
};

TEST_F(PlanLogicTest, APlanIsStoredCanonicalAndARetryAnswersTheSamePlan) {
  absl::StatusOr<dr::v1::Plan> p = logic_->CreatePlan(Create());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->version(), 1);
  EXPECT_EQ(p->groups(0).vms(0).vm_id(), kVm1);
  EXPECT_EQ(p->groups(0).vms(1).vm_id(), kVm2);
  absl::StatusOr<dr::v1::Plan> again = logic_->CreatePlan(Create());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->etag(), p->etag());
  dr::v1::CreatePlanRequest other = Create("create-2");
  EXPECT_EQ(logic_->CreatePlan(other).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(PlanLogicTest, ABadPlanIsRefusedNamingTheFieldAndNothingIsStored) {
  dr::v1::CreatePlanRequest r = Create();
  // A cycle: vm1 depends on vm2, which depends on vm1.
  r.mutable_plan()->mutable_groups(0)->mutable_vms(0)->add_depends_on(kVm2);
  absl::Status s = logic_->CreatePlan(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(s).field(), "plan.groups[0].vms[1].depends_on");
  EXPECT_EQ(ErrorDetailOf(s).reason(), "DEPENDENCY_CYCLE");
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
  EXPECT_THAT(std::string(s.message()), HasSubstr(kVm1));
  dr::v1::GetPlanRequest get;
  get.set_name("plans/site-a");
  EXPECT_EQ(logic_->GetPlan(get).status().code(), absl::StatusCode::kNotFound);

  dr::v1::CreatePlanRequest unnamed = Create();
  unnamed.mutable_plan()->set_name("site-a");
  EXPECT_EQ(ErrorDetailOf(logic_->CreatePlan(unnamed).status()).field(), "plan.name");
  dr::v1::CreatePlanRequest no_id = Create("");
  EXPECT_EQ(ErrorDetailOf(logic_->CreatePlan(no_id).status()).field(), "request_id");
}

TEST_F(PlanLogicTest, AnUpdateNeedsTheCurrentEtag) {
  dr::v1::Plan first = *logic_->CreatePlan(Create());
  dr::v1::UpdatePlanRequest u;
  *u.mutable_plan() = first;
  u.mutable_plan()->set_description("v2");
  u.set_request_id("update-1");
  absl::StatusOr<dr::v1::Plan> second = logic_->UpdatePlan(u);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->version(), 2);
  u.set_request_id("update-2");  // the same stale etag
  absl::Status stale = logic_->UpdatePlan(u).status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ErrorDetailOf(stale).field(), "etag");
  EXPECT_EQ(ErrorDetailOf(stale).reason(), "ETAG_MISMATCH");
  dr::v1::UpdatePlanRequest missing = u;
  missing.mutable_plan()->set_name("plans/none");
  missing.set_request_id("update-3");
  EXPECT_EQ(logic_->UpdatePlan(missing).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PlanLogicTest, DeleteIsIdempotent) {
  ASSERT_TRUE(logic_->CreatePlan(Create()).ok());
  dr::v1::DeletePlanRequest d;
  d.set_name("plans/site-a");
  d.set_request_id("delete-1");
  ASSERT_TRUE(logic_->DeletePlan(d).ok());
  EXPECT_TRUE(logic_->DeletePlan(d).ok()) << "a replay";
  d.set_request_id("delete-2");
  EXPECT_EQ(logic_->DeletePlan(d).code(), absl::StatusCode::kNotFound);
}

TEST_F(PlanLogicTest, ValidateListsTopologyFindingsAndRunsNothing) {
  SeedTopology();
  ASSERT_TRUE(logic_->CreatePlan(Create()).ok());
  dr::v1::ValidatePlanRequest v;
  v.set_name("plans/site-a");
  v.set_mode(dr::v1::EXECUTION_MODE_TEST);
  absl::StatusOr<dr::v1::ValidatePlanResponse> ok = logic_->ValidatePlan(v);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->findings_size(), 0) << ok->DebugString();
  // COMMIT of VMs never failed over: one INVALID_STATE per VM.
  v.set_mode(dr::v1::EXECUTION_MODE_COMMIT);
  absl::StatusOr<dr::v1::ValidatePlanResponse> commit = logic_->ValidatePlan(v);
  ASSERT_TRUE(commit.ok());
  ASSERT_EQ(commit->findings_size(), 2) << commit->DebugString();
  EXPECT_EQ(commit->findings(0).reason(), "INVALID_STATE");
  EXPECT_EQ(commit->findings(1).field(), "groups[0].vms[1].vm_id");
  // The primaries' host goes away: a planned failover cannot run.
  dr::v1::Host p = *store_->GetHost("hosts/p");
  p.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
  ASSERT_TRUE(store_->UpdateHostContact(p).ok());
  v.set_mode(dr::v1::EXECUTION_MODE_PLANNED);
  absl::StatusOr<dr::v1::ValidatePlanResponse> planned = logic_->ValidatePlan(v);
  ASSERT_TRUE(planned.ok());
  ASSERT_GE(planned->findings_size(), 1);
  EXPECT_EQ(planned->findings(0).reason(), "HOST_UNREACHABLE");
  EXPECT_EQ(planned->findings(0).return_code(), dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE);
  // Nothing was run: no job exists.
  EXPECT_TRUE(store_->ListActiveJobs()->empty());
  EXPECT_TRUE(store_->ListJobs({}, {})->items.empty());
}

TEST_F(PlanLogicTest, ValidateNeedsAMode) {
  ASSERT_TRUE(logic_->CreatePlan(Create()).ok());
  dr::v1::ValidatePlanRequest v;
  v.set_name("plans/site-a");
  EXPECT_EQ(ErrorDetailOf(logic_->ValidatePlan(v).status()).field(), "mode");
}

TEST_F(PlanLogicTest, TheReportOfAnExecutionNamesItsVmsAndRefusesBadNames) {
  SeedTopology();
  dr::v1::Plan plan = *logic_->CreatePlan(Create());
  dr::v1::PlanExecution e;
  e.set_name("plans/site-a/executions/e-1");
  e.set_mode(dr::v1::EXECUTION_MODE_UNPLANNED);
  e.set_state(dr::v1::EXECUTION_STATE_RUNNING);
  e.set_requester("ops");
  ToProto(clock_.Now(), e.mutable_create_time());
  dr::v1::ExecutionStep failover;
  failover.set_name(e.name() + "/steps/db." + kVm1 + ".failover");
  failover.set_kind(dr::v1::STEP_KIND_FAILOVER);
  failover.set_state(dr::v1::STEP_STATE_RUNNING);
  failover.set_vm_id(kVm1);
  ToProto(clock_.Now() + absl::Seconds(5), failover.mutable_start_time());
  ToProto(clock_.Now() - absl::Seconds(30), failover.mutable_data_time());
  ASSERT_TRUE(store_
                  ->CreateExecution(e, plan, {failover}, {kVm1, kVm2},
                                    {"start-1", "dr.v1.PlanService/StartPlanExecution", "x"})
                  .ok());
  clock_.Advance(absl::Seconds(60));
  dr::v1::GetExecutionReportRequest r;
  r.set_name(e.name());
  absl::StatusOr<dr::v1::ExecutionReport> report = logic_->GetExecutionReport(r);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->execution().requester(), "ops");
  EXPECT_EQ(report->plan().name(), "plans/site-a");
  ASSERT_EQ(report->vms_size(), 2);
  EXPECT_EQ(report->vms(0).display_name(), "vm-1");
  EXPECT_EQ(report->vms(0).result(), dr::v1::STEP_STATE_RUNNING);
  EXPECT_DOUBLE_EQ(report->vms(0).rpo_seconds(), 35);
  EXPECT_EQ(report->vms(1).display_name(), "vm-2");
  EXPECT_EQ(report->vms(1).result(), dr::v1::STEP_STATE_PENDING);
  EXPECT_EQ(report->steps_size(), 1);
  EXPECT_EQ(FromProto(report->report_time()), clock_.Now());

  r.set_name("plans/site-a/executions/e-2");
  EXPECT_EQ(logic_->GetExecutionReport(r).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorDetailOf(logic_->GetExecutionReport(r).status()).field(), "name");
  for (const char* bad : {"", "plans/site-a", "executions/e-1", "plans/Site A/executions/e-1"}) {
    r.set_name(bad);
    absl::Status s = logic_->GetExecutionReport(r).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ErrorDetailOf(s).field(), "name") << bad;
  }
}

TEST(PlanNamesTest, NamesAreChecked) {
  EXPECT_TRUE(ParsePlanName("name", "plans/site-a").ok());
  EXPECT_FALSE(ParsePlanName("name", "plans/Site A").ok());
  EXPECT_FALSE(ParsePlanName("name", "site-a").ok());
  EXPECT_EQ(*ParseExecutionName("name", "plans/a/executions/e-1"), "plans/a");
  EXPECT_FALSE(ParseExecutionName("name", "plans/a/executions/").ok());
  EXPECT_FALSE(ParseExecutionName("name", "plans/a").ok());
}

}  // namespace
}  // namespace server
}  // namespace hvdr
