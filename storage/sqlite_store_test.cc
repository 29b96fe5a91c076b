#include "storage/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/refusal.h"
#include "storage/schema.h"
#include "storage/store_contract.h"

namespace hvdr {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::unique_ptr<Store>> OpenSqlite(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path, {});
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(*std::move(store));
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest,
                         ::testing::Values(StoreFactory{"sqlite", OpenSqlite}),
                         [](const auto& info) { return info.param.name; });

// ---- What only the SQLite store has ----

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(
        TempDbPath(::testing::UnitTest::GetInstance()->current_test_info()->name()), {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, ACreationWritesItsCallsAuditEventInItsOwnTransaction) {
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  ASSERT_TRUE(
      store_->ReplaceInventory(kTestHost, {TestVm("A", "a"), TestVm("B", "b")}, kTestNow).ok());
  const std::string a = VmName(kTestHost, "A"), b = VmName(kTestHost, "B");
  ASSERT_TRUE(store_->CreateJob(TestJob("old", b), Key("r-old")).ok());  // B is busy
  auto call = [](const std::string& vm, const std::string& request_id) {
    dr::v1::AuditEvent e;
    e.set_identity("operator");
    e.set_method("/dr.v1.FailoverService/InitiateFailover");
    e.set_resource(vm);
    e.set_request_id(request_id);
    return e;
  };
  std::vector<WriteOp> ops(3);
  ops[0].kind = WriteOp::Kind::kCreateJob;
  ops[0].job = TestJob("ja", a);
  ops[0].key = Key("ra");
  ops[0].audit = call(a, "ra");
  ops[1].kind = WriteOp::Kind::kCreateJob;  // refused (B is busy): no event
  ops[1].job = TestJob("jb", b);
  ops[1].key = Key("rb");
  ops[1].audit = call(b, "rb");
  ops[2].kind = WriteOp::Kind::kCreateJob;  // a replay of ra: answered, so recorded
  ops[2].job = TestJob("ja2", a);
  ops[2].key = Key("ra");
  ops[2].audit = call(a, "ra");
  std::vector<WriteResult> results = store_->Write(ops);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].audited.has_value());
  EXPECT_EQ(results[0].audited->created(), "jobs/ja");
  EXPECT_EQ(results[0].audited->return_code(), dr::v1::RETURN_CODE_JOB_STARTED);
  EXPECT_FALSE(results[1].status.ok());
  EXPECT_FALSE(results[1].audited.has_value());
  ASSERT_TRUE(results[2].replayed);
  ASSERT_TRUE(results[2].audited.has_value());
  EXPECT_EQ(results[2].audited->created(), "jobs/ja");
  auto listed = store_->ListAuditEvents({}, {});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->items.size(), 2u);
  for (const dr::v1::AuditEvent& e : listed->items) {
    EXPECT_EQ(e.identity(), "operator");
    EXPECT_EQ(e.resource(), a);
    EXPECT_EQ(e.request_id(), "ra");
    EXPECT_EQ(e.status_code(), 0);
    EXPECT_EQ(e.created(), "jobs/ja");
  }
}

TEST_F(SqliteStoreTest, WritableFollowsStorageFailuresNotRefusals) {
  std::vector<bool> seen;
  store_->SetWriteObserver([&seen](bool writable) { seen.push_back(writable); });
  ASSERT_TRUE(store_->CreateHost(TestHost(), nullptr).ok());
  EXPECT_TRUE(store_->writable());
  // A refusal of content is not a storage failure.
  EXPECT_FALSE(store_->CreateHost(TestHost(), nullptr).ok());
  EXPECT_TRUE(store_->writable());
  ASSERT_TRUE(store_->LimitPagesForTest(1).ok());  // as if the disk were full
  std::vector<dr::v1::VirtualMachineInventory> inv;
  for (int i = 0; i < 2000; ++i)
    inv.push_back(TestVm(absl::StrCat("full-", i), absl::StrCat("vm-", i), 1));
  absl::Status full = store_->ReplaceInventory(kTestHost, inv, kTestNow);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_FALSE(store_->writable());
  ASSERT_TRUE(store_->LimitPagesForTest(0).ok());
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
    for (const char* h : {"hosts/a", "hosts/b"})
      ASSERT_TRUE((*a)->CreateHost(TestHost(h), nullptr).ok());
    auto page = (*a)->ListHosts("", {1, ""});
    ASSERT_TRUE(page.ok());
    token = page->next_page_token;
  }
  auto again = SqliteStore::Open(path_a, {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->ListHosts("", {1, token}).ok());
  auto b = SqliteStore::Open(path_b, {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(RefusalOf((*b)->ListHosts("", {1, token}).status()).other, "INVALID_PAGE_TOKEN");
}

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
    ASSERT_TRUE((*db)
                    ->Exec(R"sql(
      INSERT INTO sites(name) VALUES ('sites/s');
      INSERT INTO hosts(name, site, agent_address, create_us) VALUES ('hosts/h', 'sites/s', 'a:1', 5);
      INSERT INTO vms(name, host, vm_id) VALUES ('hosts/h/virtualMachines/v', 'hosts/h', 'v');
      INSERT INTO jobs(name, type, state, create_us, vm, host)
        VALUES ('jobs/old', 97, 4, 7, 'hosts/h/virtualMachines/v', 'hosts/h');
    )sql")
                    .ok());
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
    ASSERT_TRUE((*db)
                    ->Exec(R"sql(
      INSERT INTO sites(name) VALUES ('sites/s');
      INSERT INTO hosts(name, site, agent_address, create_us) VALUES ('hosts/h', 'sites/s', 'a:1', 5);
      INSERT INTO vms(name, host, vm_id) VALUES ('hosts/h/virtualMachines/v', 'hosts/h', 'v');
      INSERT INTO jobs(name, type, state, create_us, vm, host, version, update_us)
        VALUES ('jobs/prev', 97, 4, 7, 'hosts/h/virtualMachines/v', 'hosts/h', 3, 9);
      UPDATE vms SET active_job = 'jobs/prev';
      INSERT INTO idempotency(request_id, method, fingerprint, job) VALUES ('r0', 'm', 'f', 'jobs/prev');
    )sql")
                    .ok());
  }
  auto store = SqliteStore::Open(path_, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto job = (*store)->GetJob("jobs/prev");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->version(), 3);
  EXPECT_EQ(*(*store)->GetJobOperation("jobs/prev"), "");
  EXPECT_EQ((*store)->GetVirtualMachine("hosts/h/virtualMachines/v")->active_job(), "jobs/prev");
  auto replay =
      (*store)->CreateJob(TestJob("other", "hosts/h/virtualMachines/v"), {"r0", "m", "f"});
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->replayed);
  EXPECT_EQ(replay->job.name(), "jobs/prev");
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

TEST_F(MigrationTest, VersionEightsExecutionsNotEndedKeepTheirJobs) {
  {
    auto db = Sqlite::Open(path_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(MigrateSchema(**db, 8).ok());
    ASSERT_TRUE((*db)
                    ->Exec(R"sql(
      INSERT INTO jobs(name, type, state, create_us, vm, host, update_us) VALUES
        ('jobs/held', 97, 7, 7, 'hosts/h/virtualMachines/v', 'hosts/h', 9),
        ('jobs/done', 97, 7, 7, 'hosts/h/virtualMachines/v', 'hosts/h', 9),
        ('jobs/free', 97, 7, 7, 'hosts/h/virtualMachines/v', 'hosts/h', 9);
      INSERT INTO plans(name, version, etag, plan) VALUES ('plans/p', 1, 'e', X'');
    )sql")
                    .ok());
    // A halted execution whose step names jobs/held, one ended naming
    // jobs/done.
    for (const auto& [execution, terminal, job] :
         {std::make_tuple("plans/p/executions/halted", 0, "jobs/held"),
          std::make_tuple("plans/p/executions/ended", 1, "jobs/done")}) {
      dr::v1::PlanExecution e;
      e.set_name(execution);
      e.set_state(terminal ? dr::v1::EXECUTION_STATE_SUCCEEDED : dr::v1::EXECUTION_STATE_HALTED);
      auto ins = (*db)->Prepare(
          "INSERT INTO plan_executions(name, plan, terminal, execution, plan_as_run) VALUES (?, "
          "'plans/p', ?, ?, X'')");
      ASSERT_TRUE(ins.ok());
      ASSERT_TRUE(ins->Bind(1, execution)
                      .Bind(2, static_cast<int64_t>(terminal))
                      .BindBlob(3, e.SerializeAsString())
                      .Run()
                      .ok());
      for (int i = 0; i < 2; ++i) {
        dr::v1::ExecutionStep step;
        step.set_name(absl::StrCat(execution, "/steps/s", i));
        if (i == 1) step.set_job(job);
        auto st =
            (*db)->Prepare("INSERT INTO execution_steps(execution, idx, step) VALUES (?, ?, ?)");
        ASSERT_TRUE(st.ok());
        ASSERT_TRUE(st->Bind(1, execution)
                        .Bind(2, static_cast<int64_t>(i))
                        .BindBlob(3, step.SerializeAsString())
                        .Run()
                        .ok());
      }
    }
  }
  auto store = SqliteStore::Open(path_, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto pruned = (*store)->PruneJobs(kTestNow, 100);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 2) << "jobs/done and jobs/free";
  EXPECT_TRUE((*store)->GetJob("jobs/held").ok());
  EXPECT_EQ((*store)->GetJob("jobs/done").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
}

TEST_F(MigrationTest, VersionEightsUnreadableStepIsRefusedNotMigrated) {
  {
    auto db = Sqlite::Open(path_, {});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(MigrateSchema(**db, 8).ok());
    ASSERT_TRUE((*db)
                    ->Exec(R"sql(
      INSERT INTO plans(name, version, etag, plan) VALUES ('plans/p', 1, 'e', X'');
      INSERT INTO plan_executions(name, plan, terminal, execution, plan_as_run)
        VALUES ('plans/p/executions/x', 'plans/p', 0, X'', X'');
      INSERT INTO execution_steps(execution, idx, step) VALUES ('plans/p/executions/x', 0, X'FF');
    )sql")
                    .ok());
  }
  auto store = SqliteStore::Open(path_, {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("plans/p/executions/x"));
  auto db = Sqlite::Open(path_, {});
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*(*db)->QueryInt("PRAGMA user_version"), 8) << "left as it was";
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
  for (int i = 0; i < kThreads * kVmsPerThread; ++i)
    inv.push_back(TestVm(absl::StrCat("vm", i), "x", 0));
  inv.push_back(TestVm("shared", "shared", 0));
  ASSERT_TRUE(stores[0]->ReplaceInventory(kTestHost, inv, kTestNow).ok());
  ASSERT_TRUE(
      stores[0]->CreateJob(TestJob("shared", VmName(kTestHost, "shared")), Key("shared")).ok());

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
        auto race =
            store->CreateJob(TestJob(id + "-race", VmName(kTestHost, "shared")), Key(id + "-race"));
        if (race.status().code() == absl::StatusCode::kAborted)
          ++busy_refusals;
        else
          ++errors;
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
