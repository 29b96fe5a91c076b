// The contract of storage/topology_store.h: sites, hosts, inventory,
// claims, page tokens.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/refusal.h"
#include "storage/store_contract.h"

namespace hvdr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST_P(StoreContractTest, CreateAndGetHostCreatesItsSite) {
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

TEST_P(StoreContractTest, DuplicateHostIsAlreadyExistsAndKeepsTheFirst) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  dr::v1::Host other = TestHost();
  other.set_agent_address("10.0.0.9:1");
  auto s = store_->CreateHost(other, nullptr);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RefusalOf(s.status()).kind, Refusal::kHostExists);
  EXPECT_EQ(store_->GetHost(kTestHost)->agent_address(), "127.0.0.1:7001");
}

TEST_P(StoreContractTest, MalformedHostIsInvalidArgumentNamingTheField) {
  dr::v1::Host h = TestHost("nohostprefix");
  auto s = store_->CreateHost(h, nullptr);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RefusalOf(s.status()).subject, "name");
  h = TestHost();
  h.clear_agent_address();
  s = store_->CreateHost(h, nullptr);
  EXPECT_EQ(RefusalOf(s.status()).subject, "agent_address");
  h = TestHost(kTestHost, "dr-east");
  EXPECT_EQ(RefusalOf(store_->CreateHost(h, nullptr).status()).subject, "site");
}

TEST_P(StoreContractTest, CreateHostWithRequestKeyReplaysAndRejectsReuse) {
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
  EXPECT_EQ(RefusalOf(reuse.status()).kind, Refusal::kRequestReused);
  EXPECT_EQ(store_->GetHost("hosts/x").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContractTest, UnknownNamesAreNotFound) {
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

TEST_P(StoreContractTest, ListHostsPagesInOrderAndFiltersBySite) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        store_
            ->CreateHost(TestHost(absl::StrCat("hosts/h", i), i % 2 ? "sites/a" : "sites/b"),
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

TEST_P(StoreContractTest, ForeignPageTokenIsInvalidArgument) {
  auto s = store_->ListHosts("", {10, "garbage"});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RefusalOf(s.status()).kind, Refusal::kBadPageToken);
  ASSERT_TRUE(store_->CreateHost(TestHost("hosts/a"), nullptr).ok());
  ASSERT_TRUE(store_->CreateHost(TestHost("hosts/b"), nullptr).ok());
  auto hosts = store_->ListHosts("", {1, ""});
  ASSERT_TRUE(hosts.ok());
  ASSERT_FALSE(hosts->next_page_token.empty());
  // A hosts token is not a jobs token.
  EXPECT_EQ(store_->ListJobs({}, {1, hosts->next_page_token}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreContractTest, PageTokensAreTiedToTheirQueryAndCannotBeForged) {
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
  EXPECT_EQ(RefusalOf(other.status()).kind, Refusal::kBadPageToken);
  EXPECT_EQ(RefusalOf(other.status()).other, "PAGE_TOKEN_OF_ANOTHER_QUERY");
  auto unfiltered = store_->ListHosts("", {1, first->next_page_token});
  EXPECT_EQ(RefusalOf(unfiltered.status()).other, "PAGE_TOKEN_OF_ANOTHER_QUERY");
  // The token format of earlier releases: a cursor anyone could write.
  auto forged =
      store_->ListHosts("sites/one", {1, absl::WebSafeBase64Escape("hvdr1:hosts:hosts/b")});
  EXPECT_EQ(RefusalOf(forged.status()).other, "INVALID_PAGE_TOKEN");
  // A token with its cursor changed.
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(first->next_page_token, &raw));
  raw.back() = 'b';
  auto changed = store_->ListHosts("sites/one", {1, absl::WebSafeBase64Escape(raw)});
  EXPECT_EQ(changed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RefusalOf(changed.status()).other, "INVALID_PAGE_TOKEN");
  // Job filters are part of the query too.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store_
                    ->CreateJob(TestJob(absl::StrCat("pt", i), SeedVm(absl::StrCat("pt-vm", i))),
                                Key(absl::StrCat("pt", i)))
                    .ok());
  }
  JobFilter running;
  running.states = {dr::v1::JOB_STATE_NEW};
  auto jobs = store_->ListJobs(running, {1, ""});
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_FALSE(jobs->next_page_token.empty());
  EXPECT_TRUE(store_->ListJobs(running, {1, jobs->next_page_token}).ok());
  EXPECT_EQ(RefusalOf(store_->ListJobs({}, {1, jobs->next_page_token}).status()).other,
            "PAGE_TOKEN_OF_ANOTHER_QUERY");
}

TEST_P(StoreContractTest, UpdateHostContactMarksStaleAndKeepsInventory) {
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

TEST_P(StoreContractTest, InventoryReadBeforeAJobsEndNeverOverwritesTheStateItRecorded) {
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
  EXPECT_EQ(store_->GetVirtualMachine(vm)->replication_state(),
            dr::v1::REPLICATION_STATE_REPLICATING);
}

TEST_P(StoreContractTest, HypervisorHostNameIsRecordedOnceGiven) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  dr::v1::Host h = TestHost();
  h.set_reachability(dr::v1::REACHABILITY_REACHABLE);
  h.set_hypervisor_host_name("HV-DR-1");
  ASSERT_TRUE(store_->UpdateHostContact(h).ok());
  h.clear_hypervisor_host_name();  // a later contact without it keeps it
  ASSERT_TRUE(store_->UpdateHostContact(h).ok());
  EXPECT_EQ(store_->GetHost(kTestHost)->hypervisor_host_name(), "HV-DR-1");
}

TEST_P(StoreContractTest, ReplaceInventoryStoresVmsRelationshipsAndRecoveryPoints) {
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

TEST_P(StoreContractTest, RecoveryPointsPageNewestFirst) {
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
  EXPECT_THAT(names,
              ElementsAre("rp-8", "rp-7", "rp-6", "rp-5", "rp-4", "rp-3", "rp-2", "rp-1", "rp-0"));
}

TEST_P(StoreContractTest, BadInventoryIsRejectedWithoutPartialWrite) {
  std::string vm = SeedVm();
  auto dup = TestVm("B", "b");
  auto s = store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), dup, dup}, kTestNow);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(RefusalOf(s).subject, HasSubstr("virtual_machines[2].vm_id"));
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

TEST_P(StoreContractTest, VanishedVmIsRemovedUnlessAJobClaimsIt) {
  std::string a = SeedVm("A");
  ASSERT_TRUE(
      store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), TestVm("B", "b")}, kTestNow).ok());
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

TEST_P(StoreContractTest, ListVirtualMachinesFilters) {
  ASSERT_TRUE(store_->CreateHost(TestHost("hosts/p1", "sites/prod"), nullptr).ok());
  ASSERT_TRUE(store_->CreateHost(TestHost(kTestHost, kTestSite), nullptr).ok());
  auto primary = TestVm("A", "web-01");
  primary.mutable_virtual_machine()->set_replication_mode(dr::v1::REPLICATION_MODE_PRIMARY);
  auto critical = TestVm("B", "db-01");
  critical.mutable_virtual_machine()->set_replication_health(dr::v1::REPLICATION_HEALTH_CRITICAL);
  critical.mutable_virtual_machine()->set_replication_state(dr::v1::REPLICATION_STATE_CRITICAL);
  ASSERT_TRUE(store_->ReplaceInventory("hosts/p1", {primary}, kTestNow).ok());
  ASSERT_TRUE(
      store_->ReplaceInventory(kTestHost, {TestVm("A", "web-01"), critical}, kTestNow).ok());

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
  f.replication_states = {dr::v1::REPLICATION_STATE_REPLICATING,
                          dr::v1::REPLICATION_STATE_CRITICAL};
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

TEST_P(StoreContractTest, UpdateVirtualMachineStateKeepsClaim) {
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

TEST_P(StoreContractTest, DeleteHostRefusedWhileAJobRunsThenCascades) {
  std::string vm = SeedVm();
  ASSERT_TRUE(store_->CreateJob(TestJob("j1", vm), Key("r1")).ok());
  absl::Status s = store_->DeleteHost(kTestHost, nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RefusalOf(s).kind, Refusal::kHostBusy);
  ASSERT_TRUE(store_->UpdateJob(Update("jobs/j1", dr::v1::JOB_STATE_COMPLETED, 100)).ok());
  ASSERT_TRUE(store_->DeleteHost(kTestHost, nullptr).ok());
  EXPECT_EQ(store_->GetVirtualMachine(vm).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRecoveryPoint(vm + "/recoveryPoints/rp-0").status().code(),
            absl::StatusCode::kNotFound);
  // The job stays: it is the audit trail.
  EXPECT_TRUE(store_->GetJob("jobs/j1").ok());
}

TEST_P(StoreContractTest, DeleteHostRecordsItsKeyWithTheDelete) {
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
  EXPECT_EQ(RefusalOf(reuse.status()).kind, Refusal::kRequestReused);
}

}  // namespace
}  // namespace hvdr
