#include "server/store_status.h"

#include <gtest/gtest.h>

#include "common/hyperv_status.h"
#include "db/db_file.h"
#include "storage/refusal.h"

namespace hvdr {
namespace server {
namespace {

struct Case {
  absl::Status store;
  absl::StatusCode code;
  dr::v1::ReturnCode return_code;
  const char* field;
  const char* reason;
};

TEST(StoreStatusTest, EveryRefusalIsSaidInTheApisTerms) {
  const Case cases[] = {
      {InvalidRecord("virtual_machines[2].vm_id", "DUPLICATE", "appears twice"),
       absl::StatusCode::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER,
       "virtual_machines[2].vm_id", "DUPLICATE"},
      {Refuse(absl::StatusCode::kAlreadyExists, Refusal::kHostExists, "hosts/a", "", "taken"),
       absl::StatusCode::kAlreadyExists, dr::v1::RETURN_CODE_SYSTEM_IN_USE, "host_id",
       "HOST_EXISTS"},
      {Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kHostBusy, "vm", "jobs/1", "busy"),
       absl::StatusCode::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "name",
       "HOST_BUSY"},
      {Refuse(absl::StatusCode::kAborted, Refusal::kVmClaimed, "vm", "jobs/1", "claimed"),
       absl::StatusCode::kAborted, dr::v1::RETURN_CODE_SYSTEM_IN_USE, "virtual_machine", "VM_BUSY"},
      {Refuse(absl::StatusCode::kInvalidArgument, Refusal::kRequestReused, "r1", "m", "reused"),
       absl::StatusCode::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "request_id",
       "REQUEST_ID_REUSED"},
      {Refuse(absl::StatusCode::kInvalidArgument, Refusal::kBadPageToken, "",
              "PAGE_TOKEN_OF_ANOTHER_QUERY", "other"),
       absl::StatusCode::kInvalidArgument, dr::v1::RETURN_CODE_INVALID_PARAMETER, "page_token",
       "PAGE_TOKEN_OF_ANOTHER_QUERY"},
      {Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kJobEnded, "jobs/1",
              "JOB_STATE_COMPLETED", "ended"),
       absl::StatusCode::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "state",
       "JOB_TERMINAL"},
      {Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kJobStateBehind, "jobs/1", "",
              "behind"),
       absl::StatusCode::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "state",
       "JOB_STATE_BACKWARDS"},
      {Refuse(absl::StatusCode::kFailedPrecondition, Refusal::kJobOutcomeKnown, "jobs/1", "0",
              "known"),
       absl::StatusCode::kFailedPrecondition, dr::v1::RETURN_CODE_INVALID_STATE, "return_code",
       "JOB_STATUS_KNOWN"},
  };
  for (const Case& c : cases) {
    const absl::Status api = ApiStatus(c.store);
    EXPECT_EQ(api.code(), c.code) << c.store;
    const dr::v1::ErrorDetail detail = ErrorDetailOf(api);
    EXPECT_EQ(detail.return_code(), c.return_code) << c.store;
    EXPECT_EQ(detail.field(), c.field) << c.store;
    EXPECT_EQ(detail.reason(), c.reason) << c.store;
    // The message is the store's, naming the field.
    EXPECT_NE(api.message().find(c.store.message()), absl::string_view::npos) << api;
    EXPECT_NE(api.message().find(c.field), absl::string_view::npos) << api;
  }
}

TEST(StoreStatusTest, OtherStatusesPassUnchanged) {
  for (const absl::Status& s : {absl::OkStatus(), absl::NotFoundError("hosts/x not found"),
                                absl::ResourceExhaustedError("disk full"),
                                InvalidParameter("host_id", "MISSING", "is required")}) {
    EXPECT_EQ(ApiStatus(s), s);
  }
}

TEST(StoreStatusTest, DatabaseProblemsBecomeStartupErrorsNamingTheDb) {
  const absl::Status s = DatabaseStatus(
      DbProblem(absl::StatusCode::kFailedPrecondition, kDbInUse, "database /x.db: in use"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "database /x.db: in use");
  EXPECT_EQ(ErrorDetailOf(s).field(), "db");
  EXPECT_EQ(ErrorDetailOf(s).reason(), kDbInUse);
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_SYSTEM_IN_USE);
  EXPECT_EQ(ErrorDetailOf(DatabaseStatus(DbProblem(absl::StatusCode::kDataLoss, kDbNotSqlite, "x")))
                .return_code(),
            dr::v1::RETURN_CODE_INCORRECT_DATA_TYPE);
  const absl::Status plain = absl::InternalError("boom");
  EXPECT_EQ(DatabaseStatus(plain), plain);
}

}  // namespace
}  // namespace server
}  // namespace hvdr
