#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/schema.h"

namespace hvdr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestHost[] = "hosts/hv-replica-1";
constexpr char kTestSite[] = "sites/dr-east";
constexpr char kTestVmId[] = "0B2A4C5D-1111-2222-3333-444455556666";
const absl::Time kTestNow = absl::FromUnixSeconds(1790000000);

std::string TempDbPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, ".db");
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  return path;
}

std::string VmName(const std::string& host, const std::string& id) {
  return absl::StrCat(host, "/virtualMachines/", id);
}

dr::v1::Host TestHost(const std::string& name = kTestHost, const std::string& site = kTestSite) {
  dr::v1::Host h;
  h.set_name(name);
  h.set_site(site);
  h.set_agent_address("127.0.0.1:7001");
  ToProto(kTestNow, h.mutable_create_time());
  return h;
}

dr::v1::VirtualMachineInventory TestVm(const std::string& id, const std::string& display,
                                       int recovery_points = 2) {
  dr::v1::VirtualMachineInventory inv;
  auto* vm = inv.mutable_virtual_machine();
  vm->set_vm_id(id);
  vm->set_display_name(display);
  vm->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  vm->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  vm->set_replication_health(dr::v1::REPLICATION_HEALTH_OK);
  vm->set_enabled_state(dr::v1::ENABLED_STATE_DISABLED);
  ToProto(kTestNow - absl::Minutes(5), vm->mutable_last_replication_time());
  auto* rel = inv.add_replication_relationships();
  rel->set_name("0");
  rel->set_primary_host("hv-primary-1.corp");
  rel->set_replica_host("hv-replica-1.corp");
  rel->set_replication_interval_seconds(300);
  rel->set_replication_state(dr::v1::REPLICATION_STATE_REPLICATING);
  for (int i = 0; i < recovery_points; ++i) {
    auto* rp = inv.add_recovery_points();
    rp->set_name(absl::StrCat("rp-", i));
    rp->set_type(i % 2 == 0 ? dr::v1::RECOVERY_POINT_TYPE_STANDARD
                            : dr::v1::RECOVERY_POINT_TYPE_APPLICATION_CONSISTENT);
    ToProto(kTestNow - absl::Hours(recovery_points - i), rp->mutable_create_time());
  }
  return inv;
}

dr::v1::Job TestJob(const std::string& id, const std::string& vm_name) {
  dr::v1::Job j;
  j.set_name(absl::StrCat("jobs/", id));
  j.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  j.set_state(dr::v1::JOB_STATE_NEW);
  j.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
  j.set_virtual_machine(vm_name);
  j.set_host(kTestHost);
  j.set_requester("runbook");
  ToProto(kTestNow, j.mutable_create_time());
  return j;
}

RequestKey Key(const std::string& id, const std::string& fp = "fp") {
  return RequestKey{id, "dr.v1.FailoverService/InitiateFailover", fp};
}

JobUpdate Update(const std::string& job, dr::v1::JobState state, uint32_t percent = 0) {
  JobUpdate u;
  u.job = job;
  u.state = state;
  u.percent_complete = percent;
  u.event_time = kTestNow + absl::Seconds(percent + 1);
  u.message = "test";
  return u;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempDbPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    Reopen();
  }
  void Reopen() {
    store_.reset();
    auto store = SqliteStore::Open(path_, {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // A host with one replica VM; returns the VM's name.
  std::string SeedVm(const std::string& id = kTestVmId) {
    auto created = store_->CreateHost(TestHost(), nullptr);
    EXPECT_TRUE(created.ok() || created.status().code() == absl::StatusCode::kAlreadyExists);
    EXPECT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm(id, "sql-01")}, kTestNow).ok());
    return VmName(kTestHost, id);
  }

  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, PruneJobsDeletesOldTerminalJobsWithEventsAndRequestIdsInBatches) {
  const std::string vm = SeedVm();
  auto run = [&](const std::string& id, absl::Duration ended_after) {
    ASSERT_TRUE(store_->CreateJob(TestJob(id, vm), Key("req-" + id)).ok());
    if (ended_after == absl::ZeroDuration()) return;  // left running
    JobUpdate end = Update("jobs/" + id, dr::v1::JOB_STATE_COMPLETED, 100);
    end.event_time = kTestNow + ended_after;
    ASSERT_TRUE(store_->UpdateJob(end).ok());
  };
  run("a", absl::Hours(1));
  ASSERT_TRUE(store_->PutRequest("cancel-a", {"dr.v1.JobService/CancelJob", "fp", "", "jobs/a"}).ok());
  run("b", absl::Hours(2));
  run("d", absl::Hours(10));
  run("c", absl::ZeroDuration());
  ASSERT_TRUE(store_->PutRequest("cancel-c", {"dr.v1.JobService/CancelJob", "fp", "", "jobs/c"}).ok());
  const absl::Time cutoff = kTestNow + absl::Hours(5);
  auto first = store_->PruneJobs(cutoff, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1) << "a batch is bounded";
  EXPECT_EQ(store_->GetJob("jobs/a").status().code(), absl::StatusCode::kNotFound) << "oldest first";
  EXPECT_TRUE(store_->GetJob("jobs/b").ok());
  EXPECT_EQ(*store_->PruneJobs(cutoff, 1), 1);
  EXPECT_EQ(*store_->PruneJobs(cutoff, 1), 0) << "nothing older is left";
  for (const char* gone : {"jobs/a", "jobs/b"}) {
    EXPECT_EQ(store_->GetJob(gone).status().code(), absl::StatusCode::kNotFound) << gone;
    auto events = store_->ListJobEvents(gone, {});
    EXPECT_TRUE(!events.ok() || events->items.empty()) << gone << ": its events are gone too";
  }
  for (const char* request_id : {"req-a", "req-b", "cancel-a"}) {
    EXPECT_EQ(store_->GetRequest(request_id).status().code(), absl::StatusCode::kNotFound) << request_id;
  }
  // Kept: a running job (however old), a job that ended within the
  // retention, and their request_ids.
  EXPECT_TRUE(store_->GetJob("jobs/c").ok());
  EXPECT_TRUE(store_->GetJob("jobs/d").ok());
  for (const char* request_id : {"req-c", "req-d", "cancel-c"}) {
    EXPECT_TRUE(store_->GetRequest(request_id).ok()) << request_id;
  }
  EXPECT_EQ(store_->ListJobEvents("jobs/d", {})->items.size(), 2u);
  // Far in the future, the running job is still never pruned.
  EXPECT_EQ(*store_->PruneJobs(kTestNow + absl::Hours(24 * 365), 100), 1) << "only jobs/d";
  EXPECT_TRUE(store_->GetJob("jobs/c").ok());
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/c");
}

TEST_F(SqliteStoreTest, CreateAndGetHostCreatesItsSite) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  auto host = store_->GetHost(kTestHost);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->site(), kTestSite);
  EXPECT_EQ(host->agent_address(), "127.0.0.1:7001");
  EXPECT_EQ(host->reachability(), dr::v1::REACHABILITY_UNSPECIFIED);
  EXPECT_EQ(FromProto(host->create_time()), kTestNow);
  auto sites = store_->ListSites({});
  ASSERT_TRUE(sites.ok());
  ASSERT_EQ(sites->items.size(), 1u);
  EXPECT_EQ(sites->items[0].name(), kTestSite);
}

TEST_F(SqliteStoreTest, DuplicateHostIsAlreadyExistsAndKeepsTheFirst) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  dr::v1::Host other = TestHost();
  other.set_agent_address("10.0.0.9:1");
  auto s = store_->CreateHost(other, nullptr);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorDetailOf(s.status()).field(), "host_id");
  EXPECT_EQ(store_->GetHost(kTestHost)->agent_address(), "127.0.0.1:7001");
}

TEST_F(SqliteStoreTest, MalformedHostIsInvalidArgumentNamingTheField) {
  dr::v1::Host h = TestHost("nohostprefix");
  auto s = store_->CreateHost(h, nullptr);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(s.status()).field(), "name");
  h = TestHost();
  h.clear_agent_address();
  s = store_->CreateHost(h, nullptr);
  EXPECT_EQ(ErrorDetailOf(s.status()).field(), "agent_address");
  h = TestHost(kTestHost, "dr-east");
  EXPECT_EQ(ErrorDetailOf(store_->CreateHost(h, nullptr).status()).field(), "site");
}

TEST_F(SqliteStoreTest, CreateHostWithRequestKeyReplaysAndRejectsReuse) {
  RequestKey key{"req-1", "dr.v1.TopologyService/RegisterHost", "a"};
  auto first = store_->CreateHost(TestHost(), &key);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(*first);
  auto again = store_->CreateHost(TestHost(), &key);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again);
  RequestKey other{"req-1", "dr.v1.TopologyService/RegisterHost", "b"};
  auto reuse = store_->CreateHost(TestHost("hosts/x"), &other);
  EXPECT_EQ(reuse.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(reuse.status()).field(), "request_id");
  EXPECT_EQ(store_->GetHost("hosts/x").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, UnknownNamesAreNotFound) {
  EXPECT_EQ(store_->GetHost("hosts/nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetVirtualMachine("hosts/a/virtualMachines/b").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetJob("jobs/nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRecoveryPoint("hosts/a/virtualMachines/b/recoveryPoints/c").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteHost("hosts/nope", nullptr).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListRecoveryPoints("hosts/a/virtualMachines/b", {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListJobEvents("jobs/nope", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReplaceInventory("hosts/nope", {}, kTestNow).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRequest("r").status().code(), absl::StatusCode::kNotFound);
  dr::v1::Host h = TestHost("hosts/nope");
  EXPECT_EQ(store_->UpdateHostContact(h).code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, ListHostsPagesInOrderAndFiltersBySite) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(store_->CreateHost(TestHost(absl::StrCat("hosts/h", i),
                                            i % 2 ? "sites/a" : "sites/b"),
                                   nullptr)
                    .ok());
  }
  std::vector<std::string> names;
  PageRequest page{3, ""};
  do {
    auto got = store_->ListHosts("", page);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_LE(got->items.size(), 3u);
    for (const auto& h : got->items) names.push_back(h.name());
    page.page_token = got->next_page_token;
  } while (!page.page_token.empty());
  EXPECT_THAT(names, ElementsAre("hosts/h0", "hosts/h1", "hosts/h2", "hosts/h3", "hosts/h4",
                                 "hosts/h5", "hosts/h6"));
  auto site_a = store_->ListHosts("sites/a", {});
  ASSERT_TRUE(site_a.ok());
  EXPECT_EQ(site_a->items.size(), 3u);
}

TEST_F(SqliteStoreTest, ForeignPageTokenIsInvalidArgument) {
  auto s = store_->ListHosts("", {10, "garbage"});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(s.status()).field(), "page_token");
  ASSERT_TRUE(store_->CreateHost(TestHost("hosts/a"), nullptr).ok());
  ASSERT_TRUE(store_->CreateHost(TestHost("hosts/b"), nullptr).ok());
  auto hosts = store_->ListHosts("", {1, ""});
  ASSERT_TRUE(hosts.ok());
  ASSERT_FALSE(hosts->next_page_token.empty());
  // A hosts token is not a jobs token.
  EXPECT_EQ(store_->ListJobs({}, {1, hosts->next_page_token}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, PageTokensAreTiedToTheirQueryAndCannotBeForged) {
  for (const char* h : {"hosts/a", "hosts/b", "hosts/c"}) {
    ASSERT_TRUE(store_->CreateHost(TestHost(h, "sites/one"), nullptr).ok());
  }
  auto first = store_->ListHosts("sites/one", {1, ""});
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_page_token.empty());
  // The same query resumes.
  auto second = store_->ListHosts("sites/one", {1, first->next_page_token});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->items[0].name(), "hosts/b");
  // Another filter with the token: refused, not silently a cursor into it.
  auto other = store_->ListHosts("sites/two", {1, first->next_page_token});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(other.status()).field(), "page_token");
  EXPECT_EQ(ErrorDetailOf(other.status()).reason(), "PAGE_TOKEN_OF_ANOTHER_QUERY");
  auto unfiltered = store_->ListHosts("", {1, first->next_page_token});
  EXPECT_EQ(ErrorDetailOf(unfiltered.status()).reason(), "PAGE_TOKEN_OF_ANOTHER_QUERY");
  // The token format of earlier releases: a cursor anyone could write.
  auto forged = store_->ListHosts("sites/one", {1, absl::WebSafeBase64Escape("hvdr1:hosts:hosts/b")});
  EXPECT_EQ(ErrorDetailOf(forged.status()).reason(), "INVALID_PAGE_TOKEN");
  // A token with its cursor changed.
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(first->next_page_token, &raw));
  raw.back() = 'b';
  auto changed = store_->ListHosts("sites/one", {1, absl::WebSafeBase64Escape(raw)});
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(changed.status()).reason(), "INVALID_PAGE_TOKEN");
  // Job filters are part of the query too.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_->CreateJob(TestJob(absl::StrCat("pt", i), SeedVm(absl::StrCat("pt-vm", i))),
                                  Key(absl::StrCat("pt", i))).ok());
  }
  JobFilter running;
  running.states = {dr::v1::JOB_STATE_NEW};
  auto jobs = store_->ListJobs(running, {1, ""});
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_FALSE(jobs->next_page_token.empty());
  EXPECT_TRUE(store_->ListJobs(running, {1, jobs->next_page_token}).ok());
  EXPECT_EQ(ErrorDetailOf(store_->ListJobs({}, {1, jobs->next_page_token}).status()).reason(),
            "PAGE_TOKEN_OF_ANOTHER_QUERY");
}

TEST_F(SqliteStoreTest, WritableFollowsStorageFailuresNotRefusals) {
  std::vector<bool> seen;
  store_->SetWriteObserver([&seen](bool writable) { seen.push_back(writable); });
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  EXPECT_TRUE(store_->writable());
  // A refusal of content is not a storage failure.
  EXPECT_FALSE(store_->CreateHost(TestHost(), nullptr).ok());
  EXPECT_TRUE(store_->writable());
  ASSERT_TRUE(store_->LimitPagesForTesting(1).ok());  // as if the disk were full
  std::vector<dr::v1::VirtualMachineInventory> inv;
  for (int i = 0; i < 2000; ++i) inv.push_back(TestVm(absl::StrCat("full-", i), absl::StrCat("vm-", i), 1));
  absl::Status full = store_->ReplaceInventory(kTestHost, inv, kTestNow);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_FALSE(store_->writable());
  ASSERT_TRUE(store_->LimitPagesForTesting(0).ok());
  EXPECT_TRUE(store_->ReplaceInventory(kTestHost, inv, kTestNow).ok());
  EXPECT_TRUE(store_->writable());
  EXPECT_EQ(seen, (std::vector<bool>{false, true}));
  store_->SetWriteObserver(nullptr);
}

TEST(PageTokenSecretTest, TokensOfAnotherDatabaseAreRefusedAndTheSecretSurvivesReopening) {
  const std::string path_a = TempDbPath("secret-a");
  const std::string path_b = TempDbPath("secret-b");
  std::string token;
  {
    auto a = SqliteStore::Open(path_a, {});
    ASSERT_TRUE(a.ok()) << a.status();
    for (const char* h : {"hosts/a", "hosts/b"}) ASSERT_TRUE((*a)->CreateHost(TestHost(h), nullptr).ok());
    auto page = (*a)->ListHosts("", {1, ""});
    ASSERT_TRUE(page.ok());
    token = page->next_page_token;
  }
  auto again = SqliteStore::Open(path_a, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->ListHosts("", {1, token}).ok());
  auto b = SqliteStore::Open(path_b, {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(ErrorDetailOf((*b)->ListHosts("", {1, token}).status()).reason(), "INVALID_PAGE_TOKEN");
}

TEST_F(SqliteStoreTest, UpdateHostContactMarksStaleAndKeepsInventory) {
  std::string vm = SeedVm();
  dr::v1::Host h = TestHost();
  h.set_reachability(dr::v1::REACHABILITY_UNREACHABLE);
  h.set_stale(true);
  h.set_last_error("connect: refused");
  ASSERT_TRUE(store_->UpdateHostContact(h).ok());
  auto got = store_->GetHost(kTestHost);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->stale());
  EXPECT_EQ(got->reachability(), dr::v1::REACHABILITY_UNREACHABLE);
  EXPECT_EQ(got->last_error(), "connect: refused");
  EXPECT_EQ(FromProto(got->last_contact_time()), kTestNow);  // from the sync
  EXPECT_TRUE(store_->GetVirtualMachine(vm).ok());
}

TEST_F(SqliteStoreTest, InventoryReadBeforeAJobsEndNeverOverwritesTheStateItRecorded) {
  std::string vm = SeedVm();  // synced at kTestNow: Replicating
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  JobUpdate done = Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100);
  done.event_time = kTestNow + absl::Seconds(10);
  done.has_vm_state = true;
  done.vm_state.set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  done.vm_state.set_replication_state(dr::v1::REPLICATION_STATE_RECOVERED);
  ASSERT_TRUE(store_->UpdateJob(done).ok());
  // A sync asked for before the job ended answers after it, with the VM as
  // it was: the job's state stays.
  dr::v1::VirtualMachineInventory stale = TestVm(kTestVmId, "sql-01-renamed");
  ASSERT_EQ(stale.virtual_machine().replication_state(), dr::v1::REPLICATION_STATE_REPLICATING);
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {stale}, kTestNow + absl::Seconds(5)).ok());
  auto got = store_->GetVirtualMachine(vm);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(got->display_name(), "sql-01-renamed") << "the rest of the inventory is taken";
  // A sync asked for after it is newer and wins.
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {stale}, kTestNow + absl::Seconds(20)).ok());
  EXPECT_EQ(store_->GetVirtualMachine(vm)->replication_state(), dr::v1::REPLICATION_STATE_REPLICATING);
}

TEST_F(SqliteStoreTest, HypervisorHostNameIsRecordedOnceGiven) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  dr::v1::Host h = TestHost();
  h.set_reachability(dr::v1::REACHABILITY_REACHABLE);
  h.set_hypervisor_host_name("HV-DR-1");
  ASSERT_TRUE(store_->UpdateHostContact(h).ok());
  h.clear_hypervisor_host_name();  // a later contact without it keeps it
  ASSERT_TRUE(store_->UpdateHostContact(h).ok());
  EXPECT_EQ(store_->GetHost(kTestHost)->hypervisor_host_name(), "HV-DR-1");
}

TEST_F(SqliteStoreTest, ReplaceInventoryStoresVmsRelationshipsAndRecoveryPoints) {
  std::string vm_name = SeedVm();
  auto vm = store_->GetVirtualMachine(vm_name);
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->vm_id(), kTestVmId);
  EXPECT_EQ(vm->display_name(), "sql-01");
  EXPECT_EQ(vm->host(), kTestHost);
  EXPECT_EQ(vm->site(), kTestSite);
  EXPECT_EQ(vm->replication_mode(), dr::v1::REPLICATION_MODE_REPLICA);
  EXPECT_EQ(vm->replication_state(), dr::v1::REPLICATION_STATE_REPLICATING);
  EXPECT_EQ(FromProto(vm->last_replication_time()), kTestNow - absl::Minutes(5));
  auto rels = store_->ListReplicationRelationships(vm_name);
  ASSERT_TRUE(rels.ok());
  ASSERT_EQ(rels->size(), 1u);
  EXPECT_EQ((*rels)[0].name(), vm_name + "/replicationRelationships/0");
  EXPECT_EQ((*rels)[0].replication_interval_seconds(), 300u);
  auto rps = store_->ListRecoveryPoints(vm_name, {});
  ASSERT_TRUE(rps.ok());
  ASSERT_EQ(rps->items.size(), 2u);
  EXPECT_EQ(rps->items[0].name(), vm_name + "/recoveryPoints/rp-1");  // newest first
  EXPECT_EQ(rps->items[1].name(), vm_name + "/recoveryPoints/rp-0");
  EXPECT_TRUE(store_->GetRecoveryPoint(vm_name + "/recoveryPoints/rp-0").ok());
  auto host = store_->GetHost(kTestHost);
  EXPECT_EQ(host->reachability(), dr::v1::REACHABILITY_REACHABLE);
  EXPECT_EQ(FromProto(host->last_sync_time()), kTestNow);
  auto by_id = store_->FindVirtualMachinesById(kTestVmId);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->size(), 1u);
}

TEST_F(SqliteStoreTest, RecoveryPointsPageNewestFirst) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm(kTestVmId, "a", 9)}, kTestNow).ok());
  std::vector<std::string> names;
  PageRequest page{4, ""};
  do {
    auto got = store_->ListRecoveryPoints(VmName(kTestHost, kTestVmId), page);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& rp : got->items) names.push_back(rp.name().substr(rp.name().rfind('/') + 1));
    page.page_token = got->next_page_token;
  } while (!page.page_token.empty());
  EXPECT_THAT(names, ElementsAre("rp-8", "rp-7", "rp-6", "rp-5", "rp-4", "rp-3", "rp-2", "rp-1",
                                 "rp-0"));
}

TEST_F(SqliteStoreTest, BadInventoryIsRejectedWithoutPartialWrite) {
  std::string vm = SeedVm();
  auto dup = TestVm("B", "b");
  auto s = store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), dup, dup}, kTestNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ErrorDetailOf(s).field(), HasSubstr("virtual_machines[2].vm_id"));
  auto bad_rp = TestVm("C", "c");
  bad_rp.add_recovery_points()->set_name("rp-0");  // duplicate id
  s = store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), bad_rp}, kTestNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // The earlier inventory is untouched; "A" was never committed.
  EXPECT_TRUE(store_->GetVirtualMachine(vm).ok());
  EXPECT_EQ(store_->GetVirtualMachine(VmName(kTestHost, "A")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReplaceInventory(kTestHost, {TestVm("", "x")}, kTestNow).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ReplaceInventory(kTestHost, {TestVm("a/b", "x")}, kTestNow).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, VanishedVmIsRemovedUnlessAJobClaimsIt) {
  std::string a = SeedVm("A");
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), TestVm("B", "b")}, kTestNow)
                  .ok());
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", a), Key("r1")).ok());
  // Both vanish: B is dropped, A is kept because j1 claims it.
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {}, kTestNow).ok());
  EXPECT_TRUE(store_->GetVirtualMachine(a).ok());
  EXPECT_EQ(store_->GetVirtualMachine(VmName(kTestHost, "B")).status().code(),
            absl::StatusCode::kNotFound);
  // A re-sync keeps the claim of a VM that stays.
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm("A", "a2")}, kTestNow).ok());
  EXPECT_EQ(store_->GetVirtualMachine(a)->active_job(), "jobs/j1");
  EXPECT_EQ(store_->GetVirtualMachine(a)->display_name(), "a2");
}

TEST_F(SqliteStoreTest, ListVirtualMachinesFilters) {
  ASSERT_TRUE(store_->CreateHost(TestHost("hosts/p1", "sites/prod"), nullptr).ok());
  ASSERT_TRUE(store_->CreateHost(TestHost(kTestHost, kTestSite), nullptr).ok());
  auto primary = TestVm("A", "web-01");
  primary.mutable_virtual_machine()->set_replication_mode(dr::v1::REPLICATION_MODE_PRIMARY);
  auto critical = TestVm("B", "db-01");
  critical.mutable_virtual_machine()->set_replication_health(dr::v1::REPLICATION_HEALTH_CRITICAL);
  critical.mutable_virtual_machine()->set_replication_state(dr::v1::REPLICATION_STATE_CRITICAL);
  ASSERT_TRUE(store_->ReplaceInventory("hosts/p1", {primary}, kTestNow).ok());
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm("A", "web-01"), critical}, kTestNow).ok());

  auto names = [&](const VirtualMachineFilter& f) {
    std::vector<std::string> out;
    auto page = store_->ListVirtualMachines(f, {});
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& vm : page->items) out.push_back(vm.name());
    }
    return out;
  };
  EXPECT_EQ(names({}).size(), 3u);
  VirtualMachineFilter f;
  f.host = "hosts/-";
  EXPECT_EQ(names(f).size(), 3u);
  f = {};
  f.site = "sites/prod";
  EXPECT_THAT(names(f), ElementsAre("hosts/p1/virtualMachines/A"));
  f = {};
  f.host = kTestHost;
  f.replication_healths = {dr::v1::REPLICATION_HEALTH_CRITICAL};
  EXPECT_THAT(names(f), ElementsAre(VmName(kTestHost, "B")));
  f = {};
  f.replication_states = {dr::v1::REPLICATION_STATE_REPLICATING, dr::v1::REPLICATION_STATE_CRITICAL};
  EXPECT_EQ(names(f).size(), 3u);
  f = {};
  f.display_name_or_id = "web-01";
  EXPECT_EQ(names(f).size(), 2u);
  f.filter_replication_mode = true;
  f.replication_mode = dr::v1::REPLICATION_MODE_REPLICA;
  EXPECT_THAT(names(f), ElementsAre(VmName(kTestHost, "A")));
  f = {};
  f.display_name_or_id = "B";
  EXPECT_THAT(names(f), ElementsAre(VmName(kTestHost, "B")));
}

TEST_F(SqliteStoreTest, UpdateVirtualMachineStateKeepsClaim) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  auto got = store_->GetVirtualMachine(vm);
  got->set_replication_state(dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS);
  ASSERT_TRUE(store_->UpdateVirtualMachineState(*got).ok());
  auto after = store_->GetVirtualMachine(vm);
  EXPECT_EQ(after->replication_state(), dr::v1::REPLICATION_STATE_FAILOVER_IN_PROGRESS);
  EXPECT_EQ(after->active_job(), "jobs/j1");
  got->set_name("hosts/x/virtualMachines/y");
  EXPECT_EQ(store_->UpdateVirtualMachineState(*got).code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, DeleteHostRefusedWhileAJobRunsThenCascades) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  absl::Status s = store_->DeleteHost(kTestHost, nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100)).ok());
  ASSERT_TRUE(store_->DeleteHost(kTestHost, nullptr).ok());
  EXPECT_EQ(store_->GetVirtualMachine(vm).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRecoveryPoint(vm + "/recoveryPoints/rp-0").status().code(),
            absl::StatusCode::kNotFound);
  // The job stays: it is the audit trail.
  EXPECT_TRUE(store_->GetJob("jobs/j1").ok());
}

TEST_F(SqliteStoreTest, DeleteHostRecordsItsKeyWithTheDelete) {
  SeedVm();
  const RequestKey key{"del-1", "dr.v1.TopologyService/DeleteHost", kTestHost};
  // Refused while a job runs: nothing is recorded, so a retry once the job
  // ended deletes.
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", VmName(kTestHost, kTestVmId)), Key("r1")).ok());
  EXPECT_EQ(store_->DeleteHost(kTestHost, &key).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetRequest("del-1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100)).ok());
  auto first = store_->DeleteHost(kTestHost, &key);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(*first);
  auto record = store_->GetRequest("del-1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->method, key.method);
  // The host is gone; the repeat answers as the first call did.
  auto again = store_->DeleteHost(kTestHost, &key);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again);
  const RequestKey other{"del-1", "dr.v1.TopologyService/DeleteHost", "hosts/other"};
  auto reuse = store_->DeleteHost("hosts/other", &other);
  EXPECT_EQ(reuse.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(reuse.status()).field(), "request_id");
}

TEST_F(SqliteStoreTest, CreateJobClaimsTheVmAndWritesItsFirstEvent) {
  std::string vm = SeedVm();
  auto created = store_->CreateJob(TestJob("j1", vm), Key("r1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE(created->replayed);
  EXPECT_EQ(created->job.name(), "jobs/j1");
  EXPECT_EQ(created->job.request_id(), "r1");
  EXPECT_EQ(created->job.state(), dr::v1::JOB_STATE_NEW);
  EXPECT_EQ(created->job.version(), 1);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
  auto events = store_->ListJobEvents("jobs/j1", {});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->items.size(), 1u);
  EXPECT_EQ(events->items[0].state(), dr::v1::JOB_STATE_NEW);
}

TEST_F(SqliteStoreTest, RepeatedRequestIdReturnsTheFirstJob) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 40)).ok());
  auto again = store_->CreateJob(TestJob("j2", vm), Key("r1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->job.name(), "jobs/j1");
  EXPECT_EQ(again->job.percent_complete(), 40u);
  EXPECT_EQ(store_->GetJob("jobs/j2").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, RequestIdReusedForAnotherRequestIsInvalidArgument) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1", "fp-a")).ok());
  auto s = store_->CreateJob(TestJob("j2", vm), Key("r1", "fp-b"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(s.status()).field(), "request_id");
  EXPECT_EQ(ErrorDetailOf(s.status()).reason(), "REQUEST_ID_REUSED");
}

TEST_F(SqliteStoreTest, SecondJobOnABusyVmIsAbortedWith32774) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  auto s = store_->CreateJob(TestJob("j2", vm), Key("r2"));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ErrorDetailOf(s.status()).return_code(), dr::v1::RETURN_CODE_SYSTEM_IN_USE);
  EXPECT_EQ(ErrorDetailOf(s.status()).field(), "virtual_machine");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("jobs/j1"));
  // Nothing of j2 was written, not even its request id.
  EXPECT_EQ(store_->GetJob("jobs/j2").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_EXCEPTION)).ok());
  auto retry = store_->CreateJob(TestJob("j2", vm), Key("r2"));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->replayed);
}

TEST_F(SqliteStoreTest, CreateJobValidatesInput) {
  std::string vm = SeedVm();
  EXPECT_EQ(store_->CreateJob(TestJob("j1", "hosts/x/virtualMachines/none"), Key("r1"))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  dr::v1::Job bad = TestJob("j1", vm);
  bad.set_name("j1");
  EXPECT_EQ(ErrorDetailOf(store_->CreateJob(bad, Key("r1")).status()).field(), "name");
  bad = TestJob("j1", vm);
  bad.set_state(dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(store_->CreateJob(bad, Key("r1")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(store_->CreateJob(TestJob("j1", vm), Key("")).status()).field(),
            "request_id");
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED)).ok());
  EXPECT_EQ(store_->CreateJob(TestJob("j1", vm), Key("r9")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(SqliteStoreTest, JobUpdatesWriteStateAndEventTogether) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  JobUpdate start = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 10);
  start.start_time = kTestNow + absl::Seconds(1);
  ASSERT_TRUE(store_->UpdateJob(start).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 60)).ok());
  JobUpdate fail = Update("jobs/j1", dr::v1::JOB_STATE_EXCEPTION, 60);
  fail.return_code = dr::v1::RETURN_CODE_FAILED;
  fail.error_code = 32768;
  fail.error_summary = "Failover failed";
  fail.error_description = "The virtual machine is running";
  fail.end_time = kTestNow + absl::Seconds(9);
  auto done = store_->UpdateJob(fail);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(done->error_summary(), "Failover failed");
  EXPECT_EQ(done->return_code(), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(FromProto(done->start_time()), kTestNow + absl::Seconds(1));
  EXPECT_EQ(FromProto(done->end_time()), kTestNow + absl::Seconds(9));
  EXPECT_EQ(done->version(), 4);
  // What an update answers is exactly what is stored.
  auto stored = store_->GetJob("jobs/j1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(done->SerializeAsString(), stored->SerializeAsString())
      << done->DebugString() << "\nvs stored\n" << stored->DebugString();
  auto events = store_->ListJobEvents("jobs/j1", {});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->items.size(), 4u);
  EXPECT_EQ(events->items[1].percent_complete(), 10u);
  EXPECT_EQ(events->items[2].percent_complete(), 60u);
  EXPECT_EQ(events->items[3].state(), dr::v1::JOB_STATE_EXCEPTION);
  EXPECT_EQ(events->items[3].sequence(), 4);
  // Terminal released the claim.
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "");
}

TEST_F(SqliteStoreTest, IllegalTransitionsAreRefusedAndWriteNothing) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 5)).ok());
  auto back = store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_NEW));
  EXPECT_EQ(back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorDetailOf(back.status()).reason(), "JOB_STATE_BACKWARDS");
  EXPECT_EQ(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_UNSPECIFIED)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 101)).status().code(),
            absl::StatusCode::kInvalidArgument);
  JobUpdate bad_code = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING);
  bad_code.return_code = static_cast<dr::v1::ReturnCode>(12345);
  EXPECT_EQ(ErrorDetailOf(store_->UpdateJob(bad_code).status()).field(), "return_code");
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100)).ok());
  auto after_end = store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 100));
  EXPECT_EQ(after_end.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorDetailOf(after_end.status()).reason(), "JOB_TERMINAL");
  auto again = store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_EXCEPTION, 100));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetJob("jobs/j1")->state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_EQ(store_->ListJobEvents("jobs/j1", {})->items.size(), 3u);
  EXPECT_EQ(store_->UpdateJob(Update("jobs/none", dr::v1::JOB_STATE_RUNNING)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, ReattachStatusBehindTheStoredStateKeepsItAndAppliesTheRest) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 40)).ok());
  JobUpdate unknown = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 40);
  unknown.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  ASSERT_TRUE(store_->UpdateJob(unknown).ok());
  // An agent re-attached after a restart says New, 4096: the job stays
  // Running at 40%, and the answer clears the 32771.
  JobUpdate reattached = Update("jobs/j1", dr::v1::JOB_STATE_NEW, 0);
  reattached.keep_state_if_behind = true;
  absl::StatusOr<dr::v1::Job> job = store_->UpdateJob(reattached);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->percent_complete(), 40u);
  EXPECT_EQ(job->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_EQ(store_->GetJob("jobs/j1")->DebugString(), job->DebugString());
}

TEST_F(SqliteStoreTest, TerminalUpdateRecordsTheVmsNewStateInTheSameTransaction) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1"), "op-bytes\x01").ok());
  EXPECT_EQ(*store_->GetJobOperation("jobs/j1"), "op-bytes\x01");
  JobUpdate done = Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100);
  done.has_vm_state = true;
  done.vm_state.set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  done.vm_state.set_replication_state(dr::v1::REPLICATION_STATE_RECOVERED);
  done.vm_state.set_enabled_state(dr::v1::ENABLED_STATE_DISABLED);
  ASSERT_TRUE(store_->UpdateJob(done).ok());
  auto got = store_->GetVirtualMachine(vm);
  EXPECT_EQ(got->replication_state(), dr::v1::REPLICATION_STATE_RECOVERED);
  EXPECT_EQ(got->active_job(), "");
  EXPECT_EQ(store_->GetJobOperation("jobs/none").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, StatusUnknownKeepsTheJobOpen) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  JobUpdate unknown = Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 30);
  unknown.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  auto job = store_->UpdateJob(unknown);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->return_code(), dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_EQ(store_->ListActiveJobs()->size(), 1u);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
}

TEST_F(SqliteStoreTest, WriteBatchKeepsGoodOperationsAndDropsRefusedOnes) {
  SeedVm("A");
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), TestVm("B", "b")}, kTestNow).ok());
  const std::string a = VmName(kTestHost, "A"), b = VmName(kTestHost, "B");
  ASSERT_TRUE(store_->CreateJob(TestJob("old", b), Key("r-old")).ok());
  std::vector<WriteOp> ops(5);
  ops[0].kind = WriteOp::Kind::kCreateJob;
  ops[0].job = TestJob("ja", a);
  ops[0].key = Key("ra");
  ops[0].operation = "op-a";
  ops[1].kind = WriteOp::Kind::kCreateJob;  // B is busy: refused
  ops[1].job = TestJob("jb", b);
  ops[1].key = Key("rb");
  ops[2].kind = WriteOp::Kind::kUpdateJob;  // illegal percent: refused
  ops[2].update = Update("jobs/old", dr::v1::JOB_STATE_RUNNING, 101);
  ops[3].kind = WriteOp::Kind::kUpdateJob;
  ops[3].update = Update("jobs/old", dr::v1::JOB_STATE_COMPLETED, 100);
  ops[4].kind = WriteOp::Kind::kCreateJob;  // replay of ra
  ops[4].job = TestJob("ja2", a);
  ops[4].key = Key("ra");
  auto results = store_->Write(ops);
  ASSERT_EQ(results.size(), 5u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status;
  EXPECT_EQ(results[0].job.name(), "jobs/ja");
  EXPECT_EQ(results[1].status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(results[2].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(results[3].status.ok());
  EXPECT_EQ(results[3].job.state(), dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(results[4].status.ok());
  EXPECT_TRUE(results[4].replayed);
  EXPECT_EQ(results[4].job.name(), "jobs/ja");
  EXPECT_EQ(*store_->GetJobOperation("jobs/ja"), "op-a");
  EXPECT_EQ(store_->GetJob("jobs/jb").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRequest("rb").status().code(), absl::StatusCode::kNotFound);
  // The refused update wrote no event; the good one did.
  EXPECT_EQ(store_->ListJobEvents("jobs/old", {})->items.size(), 2u);
  EXPECT_EQ(store_->GetVirtualMachine(a)->active_job(), "jobs/ja");
  EXPECT_EQ(store_->GetVirtualMachine(b)->active_job(), "");
  Reopen();
  EXPECT_TRUE(store_->GetJob("jobs/ja").ok());
}

TEST_F(SqliteStoreTest, ListJobsFiltersAndPagesStablyWhileJobsAreCreated) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  std::vector<dr::v1::VirtualMachineInventory> inv;
  for (int i = 0; i < 12; ++i) inv.push_back(TestVm(absl::StrCat("vm", i), "x"));
  ASSERT_TRUE(store_->ReplaceInventory(kTestHost, inv, kTestNow).ok());
  for (int i = 0; i < 10; ++i) {
    dr::v1::Job j = TestJob(absl::StrCat("j", i), VmName(kTestHost, absl::StrCat("vm", i)));
    if (i % 3 == 0) j.set_type(dr::v1::JOB_TYPE_COMMIT_FAILOVER);
    ASSERT_TRUE(store_->CreateJob(j, Key(absl::StrCat("r", i))).ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(store_->UpdateJob(Update(j.name(), dr::v1::JOB_STATE_COMPLETED)).ok());
    }
  }
  std::vector<std::string> names;
  PageRequest page{4, ""};
  bool inserted = false;
  do {
    auto got = store_->ListJobs({}, page);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& j : got->items) names.push_back(j.name());
    page.page_token = got->next_page_token;
    if (!inserted) {  // a new job between pages does not shift them
      ASSERT_TRUE(store_->CreateJob(TestJob("new", VmName(kTestHost, "vm11")), Key("rn")).ok());
      inserted = true;
    }
  } while (!page.page_token.empty());
  EXPECT_THAT(names, ElementsAre("jobs/j9", "jobs/j8", "jobs/j7", "jobs/j6", "jobs/j5", "jobs/j4",
                                 "jobs/j3", "jobs/j2", "jobs/j1", "jobs/j0"));
  JobFilter f;
  f.states = {dr::v1::JOB_STATE_COMPLETED};
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 5u);
  f = {};
  f.types = {dr::v1::JOB_TYPE_COMMIT_FAILOVER};
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 4u);
  f = {};
  f.virtual_machine = VmName(kTestHost, "vm3");
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 1u);
  f = {};
  f.host = "hosts/other";
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 0u);
  f.host = kTestHost;
  f.states = {dr::v1::JOB_STATE_NEW};
  EXPECT_EQ(store_->ListJobs(f, {})->items.size(), 6u);
  auto active = store_->ListActiveJobs();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 6u);
  EXPECT_EQ((*active)[0].name(), "jobs/j1");  // oldest first
}

TEST_F(SqliteStoreTest, RequestRecordOfAJobNamesTheJob) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  auto got = store_->GetRequest("r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->job, "jobs/j1");
  EXPECT_EQ(got->method, "dr.v1.FailoverService/InitiateFailover");
}

TEST_F(SqliteStoreTest, RequestRecordsRoundTripAndAreUnique) {
  ASSERT_TRUE(store_->PutRequest("r1", {"m", "f", "bytes\0x"}).ok());
  auto got = store_->GetRequest("r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->method, "m");
  EXPECT_EQ(got->fingerprint, "f");
  EXPECT_EQ(store_->PutRequest("r1", {"m", "f", ""}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->PutRequest("", {"m", "f", ""}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, EverythingSurvivesReopening) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_RUNNING, 20)).ok());
  Reopen();
  EXPECT_TRUE(store_->GetHost(kTestHost).ok());
  EXPECT_EQ(store_->GetJob("jobs/j1")->percent_complete(), 20u);
  EXPECT_EQ(store_->GetVirtualMachine(vm)->active_job(), "jobs/j1");
  auto replay = store_->CreateJob(TestJob("j2", vm), Key("r1"));
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->job.name(), "jobs/j1");
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

// ---- Migrations ----

class MigrationTest : public ::testing::Test {
 protected:
  std::string path_ = TempDbPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
};

TEST_F(MigrationTest, EmptyFileIsMigratedToLatest) {
  auto store = SqliteStore::Open(path_, {});
  ASSERT_TRUE(store.ok()) << store.status();
  store->reset();
  auto db = Sqlite::Open(path_, {});
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), LatestSchemaVersion());
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA foreign_keys"), 1);
  auto mode = (*db)->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(mode.ok());
  ASSERT_TRUE(*mode->Step());
  EXPECT_EQ(mode->Text(0), "wal");
}

TEST_F(MigrationTest, VersionOneIsMigratedKeepingItsData) {
  ASSERT_GE(LatestSchemaVersion(), 2);
  {
    auto db = Sqlite::Open(path_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(MigrateSchema(**db, 1).ok());
    EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), 1);
    // Data written by the previous release.
    ASSERT_TRUE((*db)->Exec(R"sql(
      INSERT INTO sites(name) VALUES ('sites/s');
      INSERT INTO hosts(name, site, agent_address, create_us) VALUES ('hosts/h', 'sites/s', 'a:1', 5);
      INSERT INTO vms(name, host, vm_id) VALUES ('hosts/h/virtualMachines/v', 'hosts/h', 'v');
      INSERT INTO jobs(name, type, state, create_us, vm, host)
        VALUES ('jobs/old', 97, 4, 7, 'hosts/h/virtualMachines/v', 'hosts/h');
    )sql").ok());
  }
  auto store = SqliteStore::Open(path_, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = (*store)->GetJob("jobs/old");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), dr::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(job->version(), 1);
  EXPECT_EQ(ToMicros(job->update_time()), 7);
  EXPECT_EQ((*store)->ListActiveJobs()->size(), 1u);
  EXPECT_TRUE((*store)->GetVirtualMachine("hosts/h/virtualMachines/v").ok());
  // Features of the new version work on migrated data.
  EXPECT_TRUE((*store)->PutRequest("r", {"m", "f", ""}).ok());
  EXPECT_TRUE((*store)->UpdateJob(Update("jobs/old", dr::v1::JOB_STATE_COMPLETED)).ok());
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

TEST_F(MigrationTest, PreviousVersionIsMigratedKeepingItsData) {
  const int previous = LatestSchemaVersion() - 1;
  {
    auto db = Sqlite::Open(path_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(MigrateSchema(**db, previous).ok());
    EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), previous);
    ASSERT_TRUE((*db)->Exec(R"sql(
      INSERT INTO sites(name) VALUES ('sites/s');
      INSERT INTO hosts(name, site, agent_address, create_us) VALUES ('hosts/h', 'sites/s', 'a:1', 5);
      INSERT INTO vms(name, host, vm_id) VALUES ('hosts/h/virtualMachines/v', 'hosts/h', 'v');
      INSERT INTO jobs(name, type, state, create_us, vm, host, version, update_us)
        VALUES ('jobs/prev', 97, 4, 7, 'hosts/h/virtualMachines/v', 'hosts/h', 3, 9);
      UPDATE vms SET active_job = 'jobs/prev';
      INSERT INTO idempotency(request_id, method, fingerprint, job) VALUES ('r0', 'm', 'f', 'jobs/prev');
    )sql").ok());
  }
  auto store = SqliteStore::Open(path_, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = (*store)->GetJob("jobs/prev");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->version(), 3);
  EXPECT_EQ(*(*store)->GetJobOperation("jobs/prev"), "");
  EXPECT_EQ((*store)->GetVirtualMachine("hosts/h/virtualMachines/v")->active_job(), "jobs/prev");
  auto replay = (*store)->CreateJob(TestJob("other", "hosts/h/virtualMachines/v"), {"r0", "m", "f"});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->job.name(), "jobs/prev");
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

TEST_F(MigrationTest, NewerSchemaIsRefusedNotCorrupted) {
  {
    auto db = Sqlite::Open(path_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("PRAGMA user_version = 999").ok());
  }
  auto store = SqliteStore::Open(path_, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("newer"));
}

TEST_F(MigrationTest, PathInAMissingDirectoryIsNotFound) {
  auto store = SqliteStore::Open("/nonexistent-dir/x/y.db", {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("/nonexistent-dir/x/y.db"));
}

// ---- Concurrency ----

TEST(ConcurrencyTest, ConcurrentWritersLoseNoUpdate) {
  const std::string path = TempDbPath("concurrent");
  Sqlite::Options fast;
  fast.synchronous = "NORMAL";
  SqliteStore::Options two_stores;  // two stores on one file, as two processes would have
  two_stores.sqlite = fast;
  two_stores.lock = false;
  auto a = SqliteStore::Open(path, two_stores);
  ASSERT_TRUE(a.ok()) << a.status();
  // A second connection to the same file, as a second process would have.
  auto b = SqliteStore::Open(path, two_stores);
  ASSERT_TRUE(b.ok()) << b.status();
  Store* stores[2] = {a->get(), b->get()};
  ASSERT_TRUE(stores[0]->CreateHost(TestHost(), nullptr).ok());
  constexpr int kThreads = 6;
  constexpr int kVmsPerThread = 10;
  constexpr int kUpdatesPerJob = 20;
  std::vector<dr::v1::VirtualMachineInventory> inv;
  for (int i = 0; i < kThreads * kVmsPerThread; ++i) inv.push_back(TestVm(absl::StrCat("vm", i), "x", 0));
  inv.push_back(TestVm("shared", "shared", 0));
  ASSERT_TRUE(stores[0]->ReplaceInventory(kTestHost, inv, kTestNow).ok());
  ASSERT_TRUE(stores[0]->CreateJob(TestJob("shared", VmName(kTestHost, "shared")), Key("shared")).ok());

  std::atomic<int> errors{0};
  std::atomic<int> busy_refusals{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store* store = stores[t % 2];
      for (int v = 0; v < kVmsPerThread; ++v) {
        const std::string vm = VmName(kTestHost, absl::StrCat("vm", t * kVmsPerThread + v));
        const std::string id = absl::StrCat("t", t, "v", v);
        if (!store->CreateJob(TestJob(id, vm), Key(id)).ok()) ++errors;
        // Everyone also races for one shared VM: only its first job may win.
        auto race = store->CreateJob(TestJob(id + "-race", VmName(kTestHost, "shared")),
                                     Key(id + "-race"));
        if (race.status().code() == absl::StatusCode::kAborted) ++busy_refusals;
        else ++errors;
        for (int u = 1; u <= kUpdatesPerJob; ++u) {
          if (!store->UpdateJob(Update("jobs/" + id, dr::v1::JOB_STATE_RUNNING, u)).ok()) ++errors;
          // Percent updates to one shared job from every thread.
          if (!store->UpdateJob(Update("jobs/shared", dr::v1::JOB_STATE_RUNNING, 1)).ok()) ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(busy_refusals.load(), kThreads * kVmsPerThread);
  for (int t = 0; t < kThreads; ++t) {
    for (int v = 0; v < kVmsPerThread; ++v) {
      auto job = stores[1]->GetJob(absl::StrCat("jobs/t", t, "v", v));
      ASSERT_TRUE(job.ok());
      EXPECT_EQ(job->version(), 1 + kUpdatesPerJob);
      EXPECT_EQ(job->percent_complete(), static_cast<uint32_t>(kUpdatesPerJob));
    }
  }
  // Every one of the shared job's updates counted: none was lost.
  auto shared = stores[0]->GetJob("jobs/shared");
  EXPECT_EQ(shared->version(), 1 + kThreads * kVmsPerThread * kUpdatesPerJob);
  auto events = stores[0]->ListJobEvents("jobs/shared", {1000, ""});
  ASSERT_TRUE(events.ok());
  int count = static_cast<int>(events->items.size());
  std::string token = events->next_page_token;
  while (!token.empty()) {
    auto more = stores[0]->ListJobEvents("jobs/shared", {1000, token});
    ASSERT_TRUE(more.ok());
    count += static_cast<int>(more->items.size());
    token = more->next_page_token;
  }
  EXPECT_EQ(count, 1 + kThreads * kVmsPerThread * kUpdatesPerJob);
  EXPECT_TRUE((*a)->CheckIntegrity().ok());
}

TEST(SqliteStoreWalTest, WalStaysBoundedUnderSteadyWritesAndReads) {
  const std::string path = TempDbPath("wal_bounded");
  SqliteStore::Options options;
  options.sqlite.synchronous = "NORMAL";
  auto store = SqliteStore::Open(path, options);
  ASSERT_TRUE(store.ok()) << store.status();
  std::atomic<bool> stop{false};
  std::thread reader([&] {  // readers keep WAL snapshots in use all along
    while (!stop) (void)(*store)->GetRequest("req-0");
  });
  // Each write touches a random page of the idempotency index: about 4 KiB
  // of WAL a commit, 240 MiB in all if the WAL never started over.
  const std::string filler(200, 'x');
  for (int i = 0; i < 60000; ++i) {
    RequestRecord r{"m", "f", filler, ""};
    ASSERT_TRUE((*store)->PutRequest(absl::StrCat("req-", i * 7919 % 60000, "-", i), r).ok());
  }
  stop = true;
  reader.join();
  std::ifstream wal(path + "-wal", std::ios::binary | std::ios::ate);
  ASSERT_TRUE(wal.is_open());
  EXPECT_LT(static_cast<int64_t>(wal.tellg()), int64_t{96} << 20) << "the WAL never started over";
}

}  // namespace
}  // namespace hvdr
