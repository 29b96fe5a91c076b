#include "server/stream_limiter.h"

#include "common/hyperv_status.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace server {
namespace {

constexpr char kTestPeerA[] = "ipv4:127.0.0.1:40001";
constexpr char kTestPeerB[] = "ipv4:127.0.0.1:40002";

TEST(StreamLimiterTest, RefusesPastThePerClientLimitWithRetryAdvice) {
  StreamLimiter limiter({/*max_per_peer=*/2, /*max_total=*/10, absl::Seconds(3)});
  EXPECT_TRUE(limiter.Acquire(kTestPeerA).ok());
  EXPECT_TRUE(limiter.Acquire(kTestPeerA).ok());
  absl::Status refused = limiter.Acquire(kTestPeerA);
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  dr::v1::ErrorDetail d = ErrorDetailOf(refused);
  EXPECT_EQ(d.return_code(), dr::v1::RETURN_CODE_OUT_OF_MEMORY);
  EXPECT_EQ(d.reason(), "TOO_MANY_STREAMS_FROM_CLIENT");
  EXPECT_EQ(d.retry_after().seconds(), 3);
  // Another client is not crowded out, and a closed stream frees a place.
  EXPECT_TRUE(limiter.Acquire(kTestPeerB).ok());
  limiter.Release(kTestPeerA);
  EXPECT_TRUE(limiter.Acquire(kTestPeerA).ok());
  EXPECT_EQ(limiter.open(), 3);
}

TEST(StreamLimiterTest, RefusesPastTheTotalLimit) {
  StreamLimiter limiter({/*max_per_peer=*/5, /*max_total=*/2, absl::Seconds(1)});
  EXPECT_TRUE(limiter.Acquire(kTestPeerA).ok());
  EXPECT_TRUE(limiter.Acquire(kTestPeerB).ok());
  absl::Status refused = limiter.Acquire("ipv4:127.0.0.1:40003");
  ASSERT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrorDetailOf(refused).reason(), "TOO_MANY_STREAMS");
  limiter.Release(kTestPeerB);
  EXPECT_TRUE(limiter.Acquire("ipv4:127.0.0.1:40003").ok());
}

}  // namespace
}  // namespace server
}  // namespace hvdr
