#include "common/proto_time.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace hvdr {
namespace {

TEST(ProtoTimeTest, UnsetIsInfinitePastBothWays) {
  EXPECT_EQ(FromProto(google::protobuf::Timestamp()), absl::InfinitePast());
  google::protobuf::Timestamp ts = ToProto(absl::InfinitePast());
  EXPECT_EQ(ts.seconds(), 0);
  EXPECT_EQ(ts.nanos(), 0);
}

TEST(ProtoTimeTest, BeforeTheEpochNanosArePositive) {
  const absl::Time t = absl::FromUnixSeconds(-10) + absl::Nanoseconds(250);
  google::protobuf::Timestamp ts = ToProto(t);
  EXPECT_EQ(ts.seconds(), -10);
  EXPECT_EQ(ts.nanos(), 250);
  EXPECT_EQ(FromProto(ts), t);
}

// Found by fuzz/wmi_fuzzer (CIM datetime 99991231235959.999999+000): past
// 2262 int64 nanoseconds overflow, and the time was clamped.
TEST(ProtoTimeTest, LastSecondOfYear9999RoundTrips) {
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
      absl::Microseconds(999999);
  google::protobuf::Timestamp ts = ToProto(t);
  EXPECT_EQ(ts.seconds(), 253402300799);
  EXPECT_EQ(ts.nanos(), 999999000);
  EXPECT_EQ(FromProto(ts), t);
}

TEST(ProtoTimeTest, DurationsRoundTripWithSecondsAndNanosOfOneSign) {
  for (absl::Duration d : {absl::ZeroDuration(), absl::Milliseconds(1500), absl::Seconds(60),
                           -absl::Milliseconds(1500)}) {
    google::protobuf::Duration p;
    ToProto(d, &p);
    EXPECT_EQ(FromProto(p), d) << d;
    EXPECT_LT(std::abs(p.nanos()), 1000000000) << d;
    EXPECT_FALSE(p.seconds() > 0 && p.nanos() < 0) << d;
    EXPECT_FALSE(p.seconds() < 0 && p.nanos() > 0) << d;
  }
  google::protobuf::Duration p;
  ToProto(absl::Milliseconds(1500), &p);
  EXPECT_EQ(p.seconds(), 1);
  EXPECT_EQ(p.nanos(), 500000000);
}

}  // namespace
}  // namespace hvdr
