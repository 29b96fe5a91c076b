// The simulator's state file (SimBackend::Open resuming from
// Options::state_path; binary hvdr.sim.v1.SimState). A file that is not a
// state the simulator could have written is refused (DATA_LOSS, with a
// message) rather than crash or misbehave later; one that opens serves
// inventory and jobs as the clock moves (percent 0-100), and the state it
// writes back opens again.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/clock.h"
#include "fuzz/properties.h"
#include "fuzz/sim_clock.h"
#include "fuzz/temp_file.h"
#include "google/protobuf/stubs/logging.h"
#include "hvagent/sim/sim_backend.h"

namespace {

using hvdr::sim::SimBackend;

void CheckJobs(SimBackend& sim) {
  absl::StatusOr<std::vector<hvdr::agent::JobInfo>> jobs = sim.ListJobs();
  FUZZ_CHECK(jobs.ok());
  for (const auto& j : *jobs) {
    FUZZ_CHECK(j.percent <= 100);
    absl::StatusOr<hvdr::agent::JobInfo> one = sim.GetJob(j.job_id);
    FUZZ_CHECK(one.ok() || one.status().code() == absl::StatusCode::kNotFound);
  }
}

}  // namespace

// Protobuf logs every input it cannot parse: noise, and slow.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string state_path = hvdr::fuzz::TempPath("sim.state");
  hvdr::fuzz::WriteFile(state_path, data, size);
  hvdr::fuzz::JumpClock clock(absl::FromUnixSeconds(1767225600));
  SimBackend::Options options;
  options.state_path = state_path;
  options.clock = &clock;
  options.max_history = 50;
  {
    absl::StatusOr<std::unique_ptr<SimBackend>> sim =
        SimBackend::Open(options, hvdr::sim::v1::Scenario());
    if (!sim.ok()) {
      FUZZ_CHECK(sim.status().code() == absl::StatusCode::kDataLoss);
      FUZZ_CHECK(!sim.status().message().empty());
      return 0;
    }
    FUZZ_CHECK((*sim)->GetInventory().ok());
    CheckJobs(**sim);
    const hvdr::sim::v1::SimState snapshot = (*sim)->SnapshotForTest();
    for (const auto& vm : snapshot.vms()) {
      FUZZ_CHECK((*sim)->GetVirtualMachine(vm.vm_id()).ok());
      hvdr::agent::Operation op;
      op.type = dr::v1::JOB_TYPE_INITIATE_FAILOVER;
      op.vm_id = vm.vm_id();
      (*sim)->Invoke(op);
      break;
    }
    for (absl::Duration step : {absl::Seconds(1), absl::Minutes(10), absl::Hours(48)}) {
      clock.Advance(step);
      CheckJobs(**sim);
    }
  }
  // What it wrote back is a state it opens.
  absl::StatusOr<std::unique_ptr<SimBackend>> again =
      SimBackend::Open(options, hvdr::sim::v1::Scenario());
  if (!again.ok()) std::fprintf(stderr, "reopen: %s\n", again.status().ToString().c_str());
  FUZZ_CHECK(again.ok());
  CheckJobs(**again);
  std::remove(state_path.c_str());
  return 0;
}
