// Conversions between absl::Time and google.protobuf.Timestamp, and the
// integer microseconds the store keeps; between absl::Duration and
// google.protobuf.Duration.
#ifndef HVDR_COMMON_PROTO_TIME_H_
#define HVDR_COMMON_PROTO_TIME_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace hvdr {

// An unset Timestamp is absl::InfinitePast(); InfinitePast() converts back
// to an unset (zero) Timestamp.
inline absl::Time FromProto(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return absl::InfinitePast();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

inline void ToProto(absl::Time t, google::protobuf::Timestamp* ts) {
  if (t == absl::InfinitePast()) {
    ts->Clear();
    return;
  }
  // Seconds and the nanoseconds past them, not ToUnixNanos: int64
  // nanoseconds end in 2262, a Timestamp's range in 9999 (CIM datetimes
  // from WMI can say so).
  const int64_t s = absl::ToUnixSeconds(t);  // rounds down
  ts->set_seconds(s);
  ts->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
}

inline google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp ts;
  ToProto(t, &ts);
  return ts;
}

// A Duration's seconds and nanos (same sign, |nanos| < 1e9).
inline absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

inline void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

// Microseconds since the epoch; 0 stands for "unset".
inline int64_t ToMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

inline void FromMicros(int64_t us, google::protobuf::Timestamp* ts) {
  if (us == 0) {
    ts->Clear();
    return;
  }
  int64_t s = us / 1000000;
  int64_t r = us % 1000000;
  if (r < 0) {
    --s;
    r += 1000000;
  }
  ts->set_seconds(s);
  ts->set_nanos(static_cast<int32_t>(r * 1000));
}

inline int64_t TimeToMicros(absl::Time t) {
  return t == absl::InfinitePast() ? 0 : absl::ToUnixMicros(t);
}

}  // namespace hvdr

#endif  // HVDR_COMMON_PROTO_TIME_H_
