#include "common/proto_fields.h"

#include "dr/v1/failover_service.pb.h"
#include "dr/v1/job_service.pb.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace {

TEST(ProtoFieldsTest, StringFieldsByNameAndNothingForOtherFields) {
  dr::v1::InitiateFailoverRequest r;
  r.set_virtual_machine("virtualMachines/sql-01");
  r.set_request_id("step-7");
  EXPECT_EQ(StringField(r, "request_id"), "step-7");
  EXPECT_EQ(StringField(r, "virtual_machine"), "virtualMachines/sql-01");
  EXPECT_EQ(StringField(r, "no_such_field"), "");
  dr::v1::JobResponse out;
  EXPECT_EQ(StringField(out, "return_code"), "") << "an enum is not a string";
}

TEST(ProtoFieldsTest, MessageFieldOnlyWhenSet) {
  dr::v1::JobResponse out;
  EXPECT_EQ(MessageField(out, "job"), nullptr);
  out.mutable_job()->set_name("jobs/j1");
  const google::protobuf::Message* job = MessageField(out, "job");
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(StringField(*job, "name"), "jobs/j1");
  EXPECT_EQ(MessageField(out, "return_code"), nullptr);
}

}  // namespace
}  // namespace hvdr
