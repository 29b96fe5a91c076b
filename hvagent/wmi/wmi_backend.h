// The real Hyper-V backend: translates each Backend call into WMI queries and
// method calls on root\virtualization\v2 through a WmiSession. All the
// Hyper-V-specific knowledge (class, method and parameter names, object
// paths, return codes, JobState, CIM datetimes) lives here, portable and
// tested on Linux against FakeWmiSession; com_wmi_session.h supplies COM on
// Windows.
//
// Names Microsoft does not document precisely are marked INFERRED in the .cc.
//
// Thread-safe: calls into the session are serialized.
#ifndef HVDR_HVAGENT_WMI_WMI_BACKEND_H_
#define HVDR_HVAGENT_WMI_WMI_BACKEND_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hvagent/backend.h"
#include "hvagent/wmi/wmi_session.h"

namespace hvdr {
namespace wmi {

inline constexpr char kVirtualizationNamespace[] = "root\\virtualization\\v2";

// Object paths.
std::string QuoteWmiString(const std::string& s);  // "..." with \\ and \" escaped
std::string VmPath(const std::string& vm_id);
std::string JobPath(const std::string& job_id);
std::string SettingDataPath(const std::string& instance_id);
// The InstanceID in a Msvm_ConcreteJob path, or "" when `path` is not one.
std::string JobIdFromPath(const std::string& path);

// A CIM DATETIME ("yyyymmddHHMMSS.mmmmmmsUUU", s the sign of the UTC offset
// UUU in minutes) as absl::Time; InfinitePast for an empty, all-zero or
// malformed value (a field out of range, such as hour 61 or 30 February),
// year 1601 or before (Windows' zero date), and a time past 9999 UTC.
absl::Time ParseCimDateTime(const std::string& text);
// A method's ReturnValue as a ReturnCode; values Hyper-V does not define
// become 32768 Failed.
dr::v1::ReturnCode ReturnCodeFromWmi(int64_t value);
// CIM JobState as JobState; values outside 2-11 become Running (the job is
// still treated as open) and `known` is set to false.
dr::v1::JobState JobStateFromWmi(int64_t value, bool* known);
// A session failure as the return code a method call reports: unavailable
// 32777, access denied 32769, bad parameter 32773, others 32768.
dr::v1::ReturnCode ReturnCodeFromStatus(const WmiStatus& status);
absl::Status ToAbsl(const WmiStatus& status);
// Msvm_HeartbeatComponent.OperationalStatus of a VM as its heartbeat: the
// first value when Hyper-V defines it and the VM runs; otherwise none.
dr::v1::HeartbeatStatus HeartbeatFromWmi(dr::v1::EnabledState enabled,
                                         const std::vector<int64_t>& operational_status);

class WmiBackend final : public agent::Backend {
 public:
  // `session` is owned.
  explicit WmiBackend(std::unique_ptr<WmiSession> session) : session_(std::move(session)) {}

  absl::StatusOr<dr::v1::GetInventoryResponse> GetInventory() override;
  absl::StatusOr<dr::v1::VirtualMachineInventory> GetVirtualMachine(
      const std::string& vm_id) override;
  agent::MethodResult Invoke(const agent::Operation& op) override;
  absl::StatusOr<agent::JobInfo> GetJob(const std::string& job_id) override;
  absl::StatusOr<std::vector<agent::JobInfo>> ListJobs() override;
  agent::MethodResult CancelJob(const std::string& job_id) override;

 private:
  // Path of the single instance of `cls` (Msvm_ReplicationService ...).
  absl::StatusOr<std::string> ServicePathLocked(const std::string& cls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  agent::MethodResult CallLocked(const std::string& path, const std::string& method,
                                 const WmiProperties& in) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<agent::JobInfo> ReadJobLocked(const WmiObject& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  const std::unique_ptr<WmiSession> session_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace wmi
}  // namespace hvdr

#endif  // HVDR_HVAGENT_WMI_WMI_BACKEND_H_
