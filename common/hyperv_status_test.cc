#include "common/hyperv_status.h"

#include "gtest/gtest.h"

namespace hvdr {
namespace {

TEST(HyperVStatusTest, EveryErrorCodeRoundTripsThroughItsCanonicalCode) {
  // Each error code maps to a canonical code whose default maps back to a
  // code of the same family; codes sharing a canonical code are listed.
  struct Row {
    dr::v1::ReturnCode code;
    absl::StatusCode canonical;
  };
  const Row kTable[] = {
      {dr::v1::RETURN_CODE_FAILED, absl::StatusCode::kInternal},
      {dr::v1::RETURN_CODE_ACCESS_DENIED, absl::StatusCode::kPermissionDenied},
      {dr::v1::RETURN_CODE_NOT_SUPPORTED, absl::StatusCode::kUnimplemented},
      {dr::v1::RETURN_CODE_STATUS_UNKNOWN, absl::StatusCode::kUnknown},
      {dr::v1::RETURN_CODE_TIMEOUT, absl::StatusCode::kDeadlineExceeded},
      {dr::v1::RETURN_CODE_INVALID_PARAMETER, absl::StatusCode::kInvalidArgument},
      {dr::v1::RETURN_CODE_SYSTEM_IN_USE, absl::StatusCode::kAborted},
      {dr::v1::RETURN_CODE_INVALID_STATE, absl::StatusCode::kFailedPrecondition},
      {dr::v1::RETURN_CODE_INCORRECT_DATA_TYPE, absl::StatusCode::kInvalidArgument},
      {dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, absl::StatusCode::kUnavailable},
      {dr::v1::RETURN_CODE_OUT_OF_MEMORY, absl::StatusCode::kResourceExhausted},
      {dr::v1::RETURN_CODE_FILE_NOT_FOUND, absl::StatusCode::kNotFound},
  };
  for (const Row& row : kTable) {
    EXPECT_EQ(CanonicalCodeFor(row.code), row.canonical) << row.code;
    absl::Status s = HyperVError(row.code, "field_x", "REASON", "why");
    EXPECT_EQ(s.code(), row.canonical);
    dr::v1::ErrorDetail d = ErrorDetailOf(s);
    EXPECT_EQ(d.return_code(), row.code);
    EXPECT_EQ(d.field(), "field_x");
    EXPECT_EQ(d.reason(), "REASON");
    EXPECT_EQ(s.message(), "field_x: why");
  }
  EXPECT_EQ(CanonicalCodeFor(dr::v1::RETURN_CODE_COMPLETED), absl::StatusCode::kOk);
  EXPECT_EQ(CanonicalCodeFor(dr::v1::RETURN_CODE_JOB_STARTED), absl::StatusCode::kOk);
}

TEST(HyperVStatusTest, StatusWithoutPayloadGetsDefaultCode) {
  EXPECT_EQ(ErrorDetailOf(absl::NotFoundError("x")).return_code(),
            dr::v1::RETURN_CODE_INVALID_PARAMETER);
  EXPECT_EQ(ErrorDetailOf(absl::AbortedError("x")).return_code(),
            dr::v1::RETURN_CODE_SYSTEM_IN_USE);
  EXPECT_EQ(ErrorDetailOf(absl::FailedPreconditionError("x")).return_code(),
            dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ(ErrorDetailOf(absl::UnavailableError("x")).return_code(),
            dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE);
  EXPECT_EQ(ErrorDetailOf(absl::InternalError("x")).return_code(), dr::v1::RETURN_CODE_FAILED);
}

TEST(HyperVStatusTest, NotFoundParameterIsNotFoundWith32773) {
  absl::Status s = NotFoundParameter("virtual_machine", "VM_NOT_FOUND", "gone");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_INVALID_PARAMETER);
  EXPECT_EQ(ErrorDetailOf(s).field(), "virtual_machine");
  EXPECT_EQ(s.message(), "virtual_machine: gone");
}

TEST(HyperVStatusTest, ExhaustedIs32778WithRetryAdvice) {
  absl::Status s = Exhausted("request", "QUEUE_FULL", "try later", absl::Milliseconds(1500));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  dr::v1::ErrorDetail d = ErrorDetailOf(s);
  EXPECT_EQ(d.return_code(), dr::v1::RETURN_CODE_OUT_OF_MEMORY);
  EXPECT_EQ(d.field(), "request");
  EXPECT_EQ(d.reason(), "QUEUE_FULL");
  EXPECT_EQ(d.retry_after().seconds(), 1);
  EXPECT_EQ(d.retry_after().nanos(), 500000000);
}

TEST(HyperVStatusTest, RestatedKeepsTheCodesAndNamesTheCallersField) {
  absl::Status agent = InvalidState("job_id", "NOT_CANCELLABLE", "job HV-42 is not cancellable");
  absl::Status s = Restated(agent, "name", "", "jobs/j1 cannot be cancelled");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "name: jobs/j1 cannot be cancelled");
  dr::v1::ErrorDetail d = ErrorDetailOf(s);
  EXPECT_EQ(d.return_code(), dr::v1::RETURN_CODE_INVALID_STATE);
  EXPECT_EQ(d.field(), "name");
  EXPECT_EQ(d.reason(), "NOT_CANCELLABLE");
}

TEST(HyperVStatusTest, ValidReturnCodes) {
  EXPECT_TRUE(IsValidReturnCode(0));
  EXPECT_TRUE(IsValidReturnCode(4096));
  for (uint32_t c = 32768; c <= 32779; ++c) EXPECT_TRUE(IsValidReturnCode(c));
  EXPECT_FALSE(IsValidReturnCode(1));
  EXPECT_FALSE(IsValidReturnCode(32780));
  EXPECT_FALSE(IsValidReturnCode(4095));
}

TEST(HyperVStatusTest, ReturnCodeTextIsHyperVs) {
  EXPECT_EQ(ReturnCodeText(dr::v1::RETURN_CODE_SYSTEM_IN_USE), "System is in use");
  EXPECT_EQ(ReturnCodeText(dr::v1::RETURN_CODE_INVALID_STATE), "Invalid state for this operation");
}

}  // namespace
TEST(HyperVStatusTest, ErrorWithDetailKeepsTheMessageAndCarriesTheDetail) {
  absl::Status s = ErrorWithDetail(absl::StatusCode::kDataLoss, dr::v1::RETURN_CODE_FAILED, "db",
                                   "DB_TRUNCATED", "database /x.db: is truncated");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "database /x.db: is truncated");
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_FAILED);
  EXPECT_EQ(ErrorDetailOf(s).field(), "db");
  EXPECT_EQ(ErrorDetailOf(s).reason(), "DB_TRUNCATED");
}

}  // namespace hvdr
