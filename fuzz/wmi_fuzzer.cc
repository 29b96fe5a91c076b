// The WMI translation code (hvdr/wmi/wmi_backend.h): CIM datetimes, object
// paths, return codes and job states, and WmiBackend reading what a WMI
// provider answers. The input's first line is a CIM datetime, its second a
// job path, the rest drives a WmiSession whose every query, object and
// method call is answered with objects and values made from those bytes.
// Properties: a CIM datetime that parses formats back to the same instant
// and converts to a valid google.protobuf.Timestamp and back; a job id
// survives JobPath -> JobIdFromPath; return codes and job states map into
// their enums; the backend's answers hold valid timestamps and percents.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "fuzz/properties.h"
#include "hvagent/wmi/wmi_backend.h"

namespace {

namespace wmi = hvdr::wmi;

// Reads values off the fuzz input; zeros once it is used up.
class Bytes {
 public:
  explicit Bytes(absl::string_view data) : data_(data) {}
  uint8_t Byte() {
    if (data_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return b;
  }
  int64_t Int() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return static_cast<int64_t>(v);
  }
  std::string String() {
    const size_t want = Byte();
    const size_t n = std::min(want, data_.size());
    std::string s(data_.substr(0, n));
    data_.remove_prefix(n);
    return s;
  }
  bool empty() const { return data_.empty(); }

 private:
  absl::string_view data_;
};

// The properties the backend reads, by any class.
constexpr const char* kNames[] = {"Name",
                                  "ElementName",
                                  "EnabledState",
                                  "ReplicationMode",
                                  "InstanceID",
                                  "ReplicationState",
                                  "ReplicationHealth",
                                  "LastReplicationTime",
                                  "PrimaryConnectionPoint",
                                  "RecoveryConnectionPoint",
                                  "ReplicationInterval",
                                  "PendingReplicationSize",
                                  "ReplicationLatency",
                                  "VirtualSystemIdentifier",
                                  "VirtualSystemType",
                                  "CreationTime",
                                  "JobState",
                                  "PercentComplete",
                                  "StartTime",
                                  "TimeOfLastStateChange",
                                  "ErrorCode",
                                  "ErrorSummaryDescription",
                                  "ErrorDescription",
                                  "Cancellable",
                                  "JobType",
                                  "ReturnValue",
                                  "Job"};

wmi::WmiValue Value(Bytes& in) {
  switch (in.Byte() % 6) {
    case 0: return wmi::WmiValue::Null();
    case 1: return wmi::WmiValue::Bool(in.Byte() & 1);
    case 2: return wmi::WmiValue::Int(in.Int());
    case 3: return wmi::WmiValue::Int(in.Byte());
    case 4: return wmi::WmiValue::Strings({in.String(), in.String()});
    default: return wmi::WmiValue::String(in.String());
  }
}

wmi::WmiProperties Properties(Bytes& in) {
  wmi::WmiProperties p;
  for (int n = in.Byte() % 12; n > 0; --n) {
    p[kNames[in.Byte() % (sizeof(kNames) / sizeof(kNames[0]))]] = Value(in);
  }
  return p;
}

wmi::WmiObject Object(Bytes& in) {
  wmi::WmiObject o;
  o.path = in.String();
  o.properties = Properties(in);
  return o;
}

// Answers from the input: each call takes the next bytes.
class FuzzSession final : public wmi::WmiSession {
 public:
  explicit FuzzSession(Bytes* in) : in_(in) {}
  wmi::WmiStatus ExecQuery(const std::string& wql, std::vector<wmi::WmiObject>* out) override {
    if (Fails()) return wmi::StatusFromHresult(0x80041001, wql);
    for (int n = in_->Byte() % 5; n > 0; --n) out->push_back(Object(*in_));
    return wmi::WmiStatus();
  }
  wmi::WmiStatus GetObject(const std::string& path, wmi::WmiObject* out) override {
    if (Fails()) return wmi::StatusFromHresult(0x80041002, path);
    *out = Object(*in_);
    return wmi::WmiStatus();
  }
  wmi::WmiStatus ExecMethod(const std::string& path, const std::string& method,
                            const wmi::WmiProperties&, wmi::WmiProperties* out) override {
    if (Fails()) return wmi::StatusFromHresult(0x80070005, path + "." + method);
    *out = Properties(*in_);
    return wmi::WmiStatus();
  }

 private:
  bool Fails() { return in_->Byte() % 8 == 7; }
  Bytes* const in_;
};

bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  // google.protobuf.Timestamp: 0001-01-01 to 9999-12-31, nanos 0-999999999.
  return ts.seconds() >= -62135596800 && ts.seconds() <= 253402300799 && ts.nanos() >= 0 &&
         ts.nanos() <= 999999999;
}

void CheckDateTime(const std::string& text) {
  const absl::Time t = wmi::ParseCimDateTime(text);
  if (t == absl::InfinitePast()) return;
  const google::protobuf::Timestamp ts = hvdr::ToProto(t);
  FUZZ_CHECK(ValidTimestamp(ts));
  FUZZ_CHECK(hvdr::FromProto(ts) == t);
  // Back to CIM, in UTC: the same instant (unless in UTC it falls in year
  // 1601, which CIM text says "never").
  const absl::CivilSecond civil = absl::ToCivilSecond(t, absl::UTCTimeZone());
  FUZZ_CHECK(civil.year() >= 1601 && civil.year() <= 9999);
  if (civil.year() == 1601) return;
  const int64_t us = absl::ToInt64Microseconds(t - absl::FromCivil(civil, absl::UTCTimeZone()));
  const std::string again =
      absl::StrFormat("%04d%02d%02d%02d%02d%02d.%06d+000", civil.year(), civil.month(), civil.day(),
                      civil.hour(), civil.minute(), civil.second(), us);
  FUZZ_CHECK(wmi::ParseCimDateTime(again) == t);
}

void CheckInventory(const dr::v1::GetInventoryResponse& inv) {
  FUZZ_CHECK(ValidTimestamp(inv.read_time()));
  for (const auto& v : inv.virtual_machines()) {
    FUZZ_CHECK(ValidTimestamp(v.virtual_machine().last_replication_time()));
    for (const auto& r : v.replication_relationships())
      FUZZ_CHECK(ValidTimestamp(r.last_replication_time()));
    for (const auto& p : v.recovery_points()) FUZZ_CHECK(ValidTimestamp(p.create_time()));
  }
}

void CheckJob(const hvdr::agent::JobInfo& job) {
  FUZZ_CHECK(job.percent <= 100);
  FUZZ_CHECK(dr::v1::JobState_IsValid(job.state));
  FUZZ_CHECK(ValidTimestamp(hvdr::ToProto(job.start_time)));
  FUZZ_CHECK(ValidTimestamp(hvdr::ToProto(job.end_time)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> in = hvdr::fuzz::SplitInput(data, size, 3);
  CheckDateTime(in[0]);

  FUZZ_CHECK(wmi::JobIdFromPath(wmi::JobPath(in[1])) == in[1]);
  wmi::JobIdFromPath(in[1]);
  Bytes bytes(in[2]);
  const int64_t code = bytes.Int();
  const dr::v1::ReturnCode rc = wmi::ReturnCodeFromWmi(code);
  FUZZ_CHECK(hvdr::IsValidReturnCode(static_cast<uint32_t>(rc)));
  FUZZ_CHECK(rc == code || rc == dr::v1::RETURN_CODE_FAILED);
  bool known = false;
  const dr::v1::JobState state = wmi::JobStateFromWmi(code, &known);
  FUZZ_CHECK(dr::v1::JobState_IsValid(state));
  FUZZ_CHECK(known == (code >= 2 && code <= 11));

  wmi::WmiBackend backend(std::make_unique<FuzzSession>(&bytes));
  absl::StatusOr<dr::v1::GetInventoryResponse> inv = backend.GetInventory();
  if (inv.ok()) CheckInventory(*inv);
  absl::StatusOr<std::vector<hvdr::agent::JobInfo>> jobs = backend.ListJobs();
  if (jobs.ok()) {
    for (const auto& j : *jobs) CheckJob(j);
  }
  absl::StatusOr<hvdr::agent::JobInfo> job = backend.GetJob(in[1]);
  if (job.ok()) CheckJob(*job);
  for (int t : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
    if (bytes.empty()) break;
    hvdr::agent::Operation op;
    op.type = static_cast<dr::v1::JobType>(t);
    op.vm_id = "11111111-0000-0000-0000-000000000001";
    hvdr::agent::MethodResult r = backend.Invoke(op);
    FUZZ_CHECK(hvdr::IsValidReturnCode(static_cast<uint32_t>(r.return_code)) ||
               r.return_code == dr::v1::RETURN_CODE_COMPLETED ||
               r.return_code == dr::v1::RETURN_CODE_JOB_STARTED);
    if (r.return_code == dr::v1::RETURN_CODE_JOB_STARTED) FUZZ_CHECK(!r.job_id.empty());
  }
  backend.CancelJob(in[1]);
  return 0;
}
