// Test helper for crash_durability_test: commits jobs and job updates to the
// store at argv[1] in an endless loop, printing "ACK <job> <version>" on
// stdout after each commit returns. The test kills it with SIGKILL at a
// random moment and checks that every acknowledged write survived.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "storage/sqlite_store.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: crash_writer DB_PATH RUN_ID\n");
    return 2;
  }
  const std::string run = argv[2];
  auto opened = hvdr::SqliteStore::Open(argv[1], {});
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  hvdr::Store& store = **opened;
  const std::string host = "hosts/crash";
  dr::v1::Host h;
  h.set_name(host);
  h.set_site("sites/crash");
  h.set_agent_address("127.0.0.1:1");
  auto created = store.CreateHost(h, nullptr);
  if (!created.ok() && created.status().code() != absl::StatusCode::kAlreadyExists) {
    std::fprintf(stderr, "host: %s\n", created.status().ToString().c_str());
    return 1;
  }
  // Each run uses its own VMs so that claims left by an earlier killed run
  // do not refuse this run's jobs.
  std::vector<dr::v1::VirtualMachineInventory> inv;
  for (int i = 0; i < 8; ++i) {
    auto* vm = inv.emplace_back().mutable_virtual_machine();
    vm->set_vm_id(absl::StrCat("run", run, "-vm", i));
    vm->set_replication_mode(dr::v1::REPLICATION_MODE_REPLICA);
  }
  absl::Status s = store.ReplaceInventory(host, inv, absl::Now());
  if (!s.ok()) {
    std::fprintf(stderr, "inventory: %s\n", s.ToString().c_str());
    return 1;
  }
  for (long n = 0;; ++n) {
    const std::string vm = absl::StrCat(host, "/virtualMachines/run", run, "-vm", n % 8);
    const std::string id = absl::StrCat("jobs/run", run, "-", n);
    dr::v1::Job job;
    job.set_name(id);
    job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
    job.set_state(dr::v1::JOB_STATE_NEW);
    job.set_return_code(dr::v1::RETURN_CODE_JOB_STARTED);
    job.set_virtual_machine(vm);
    job.set_host(host);
    hvdr::ToProto(absl::Now(), job.mutable_create_time());
    auto c = store.CreateJob(job, {absl::StrCat("req-", id), "m", "f"});
    if (!c.ok()) {
      std::fprintf(stderr, "create %s: %s\n", id.c_str(), c.status().ToString().c_str());
      return 1;
    }
    std::printf("ACK %s 1\n", id.c_str());
    std::fflush(stdout);
    for (int step = 0; step < 2; ++step) {
      hvdr::JobUpdate u;
      u.job = id;
      u.state = step == 0 ? dr::v1::JOB_STATE_RUNNING : dr::v1::JOB_STATE_COMPLETED;
      u.percent_complete = step == 0 ? 50 : 100;
      u.event_time = absl::Now();
      auto up = store.UpdateJob(u);
      if (!up.ok()) {
        std::fprintf(stderr, "update %s: %s\n", id.c_str(), up.status().ToString().c_str());
        return 1;
      }
      std::printf("ACK %s %lld\n", id.c_str(), static_cast<long long>(up->version()));
      std::fflush(stdout);
    }
  }
}
