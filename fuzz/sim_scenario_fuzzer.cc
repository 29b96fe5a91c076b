// The simulator's scenario files (SimBackend::LoadScenarioFile, a text
// proto). A scenario either loads, or is refused with a message; one that
// loads validates, opens, and runs: every operation on every VM answers a
// defined return code, a started job can be read and ends (percent 0-100)
// once the clock has moved on, and the state the simulator keeps reopens
// from its state file with the same inventory.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "common/clock.h"
#include "common/hyperv_rules.h"
#include "common/hyperv_status.h"
#include "fuzz/properties.h"
#include "fuzz/sim_clock.h"
#include "fuzz/temp_file.h"
#include "google/protobuf/stubs/logging.h"
#include "hvagent/sim/sim_backend.h"

namespace {

using hvdr::sim::SimBackend;

constexpr int kMaxVmsRun = 4;

void Exercise(SimBackend& sim, hvdr::fuzz::JumpClock& clock,
              const hvdr::sim::v1::Scenario& scenario) {
  absl::StatusOr<dr::v1::GetInventoryResponse> inv = sim.GetInventory();
  FUZZ_CHECK(inv.ok());
  FUZZ_CHECK(inv->virtual_machines_size() == scenario.vms_size());
  for (int i = 0; i < scenario.vms_size() && i < kMaxVmsRun; ++i) {
    const std::string& vm_id = scenario.vms(i).vm_id();
    FUZZ_CHECK(sim.GetVirtualMachine(vm_id).ok());
    for (int t = 0; t <= dr::v1::JobType_MAX; ++t) {
      if (!dr::v1::JobType_IsValid(t) || hvdr::FindRule(static_cast<dr::v1::JobType>(t)) == nullptr)
        continue;
      hvdr::agent::Operation op;
      op.type = static_cast<dr::v1::JobType>(t);
      op.vm_id = vm_id;
      if (scenario.vms(i).recovery_points_size() > 0)
        op.recovery_point_id = scenario.vms(i).recovery_points(0).id();
      if (op.type == dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS) {
        auto& nic = op.network_settings.emplace_back();
        nic.set_adapter(scenario.vms(i).network_adapters_size() > 0
                            ? scenario.vms(i).network_adapters(0)
                            : "nic");
        nic.set_dhcp_enabled(true);
      }
      hvdr::agent::MethodResult r = sim.Invoke(op);
      FUZZ_CHECK(r.return_code == dr::v1::RETURN_CODE_COMPLETED ||
                 r.return_code == dr::v1::RETURN_CODE_JOB_STARTED ||
                 hvdr::IsValidReturnCode(static_cast<uint32_t>(r.return_code)));
      if (r.return_code != dr::v1::RETURN_CODE_JOB_STARTED) {
        FUZZ_CHECK(!r.message.empty());
        continue;
      }
      FUZZ_CHECK(!r.job_id.empty());
      FUZZ_CHECK(sim.GetJob(r.job_id).ok());
      clock.Advance(absl::Hours(2));
      absl::StatusOr<hvdr::agent::JobInfo> job = sim.GetJob(r.job_id);
      if (job.ok()) FUZZ_CHECK(job->percent <= 100);
    }
  }
  absl::StatusOr<std::vector<hvdr::agent::JobInfo>> jobs = sim.ListJobs();
  FUZZ_CHECK(jobs.ok());
  for (const auto& j : *jobs) FUZZ_CHECK(j.percent <= 100 && !j.job_id.empty());
}

}  // namespace

// Protobuf logs every input it cannot parse: noise, and slow.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string scenario_path = hvdr::fuzz::TempPath("scenario.textproto");
  static const std::string state_path = hvdr::fuzz::TempPath("sim.state");
  hvdr::fuzz::WriteFile(scenario_path, data, size);
  absl::StatusOr<hvdr::sim::v1::Scenario> scenario = SimBackend::LoadScenarioFile(scenario_path);
  if (!scenario.ok()) {
    FUZZ_CHECK(scenario.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!scenario.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(SimBackend::ValidateScenario(*scenario).ok());

  std::remove(state_path.c_str());
  hvdr::fuzz::JumpClock clock(absl::FromUnixSeconds(1767225600));
  SimBackend::Options options;
  options.state_path = state_path;
  options.clock = &clock;
  absl::StatusOr<dr::v1::GetInventoryResponse> before;
  {
    absl::StatusOr<std::unique_ptr<SimBackend>> sim = SimBackend::Open(options, *scenario);
    FUZZ_CHECK(sim.ok());
    Exercise(**sim, clock, *scenario);
    before = (*sim)->GetInventory();
    FUZZ_CHECK(before.ok());
  }
  // The hypervisor remembers: reopened from its state file (the scenario
  // is then ignored), it reports the same VMs.
  absl::StatusOr<std::unique_ptr<SimBackend>> again =
      SimBackend::Open(options, hvdr::sim::v1::Scenario());
  if (!again.ok()) std::fprintf(stderr, "reopen: %s\n", again.status().ToString().c_str());
  FUZZ_CHECK(again.ok());
  absl::StatusOr<dr::v1::GetInventoryResponse> after = (*again)->GetInventory();
  FUZZ_CHECK(after.ok());
  FUZZ_CHECK(after->virtual_machines_size() == before->virtual_machines_size());
  for (int i = 0; i < after->virtual_machines_size(); ++i) {
    FUZZ_CHECK(after->virtual_machines(i).virtual_machine().vm_id() ==
               before->virtual_machines(i).virtual_machine().vm_id());
  }
  std::remove(state_path.c_str());
  return 0;
}
