#include "cli/args.h"
#include "cli/render.h"

#include "gtest/gtest.h"

namespace hvdr {
namespace cli {
namespace {

const FlagSpec kTestSpec{{"recovery-point", "site"}, {"no-wait"}};

TEST(ArgsTest, FlagsInEveryForm) {
  auto a =
      ParseArgs({"failover", "sql-01", "--recovery-point", "rp-1", "--no-wait", "--site=sites/dr"},
                kTestSpec);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->positional, (std::vector<std::string>{"failover", "sql-01"}));
  EXPECT_EQ(a->Get("recovery-point"), "rp-1");
  EXPECT_EQ(a->Get("site"), "sites/dr");
  EXPECT_TRUE(a->Has("no-wait"));
  EXPECT_FALSE(a->Has("other"));
}

TEST(ArgsTest, RepeatedFlagsKeepEveryValue) {
  auto a = ParseArgs({"--site", "a", "--site=b"}, kTestSpec);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->All("site"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(a->Get("site"), "b");
}

TEST(ArgsTest, ErrorsNameTheFlag) {
  EXPECT_EQ(ParseArgs({"--recovery_point", "x"}, kTestSpec).status().message(),
            "unknown flag --recovery_point");
  EXPECT_EQ(ParseArgs({"--site"}, kTestSpec).status().message(), "--site needs a value");
  EXPECT_EQ(ParseArgs({"--no-wait=1"}, kTestSpec).status().message(), "--no-wait takes no value");
}

TEST(ArgsTest, DoubleDashEndsFlags) {
  auto a = ParseArgs({"--", "--site"}, kTestSpec);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->positional, (std::vector<std::string>{"--site"}));
}

TEST(RenderTest, Words) {
  EXPECT_EQ(StateWord(dr::v1::JOB_STATE_RUNNING), "Running");
  EXPECT_EQ(StateWord(dr::v1::JOB_STATE_SHUTTING_DOWN), "ShuttingDown");
  EXPECT_EQ(TypeWord(dr::v1::JOB_TYPE_INITIATE_FAILOVER), "InitiateFailover");
  EXPECT_EQ(TypeWord(dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS), "SetFailoverNetworkSettings");
}

TEST(RenderTest, ProgressBar) {
  EXPECT_EQ(ProgressBar(0, 10), "[----------]   0%");
  EXPECT_EQ(ProgressBar(45, 10), "[####------]  45%");
  EXPECT_EQ(ProgressBar(100, 10), "[##########] 100%");
  EXPECT_EQ(ProgressBar(250, 10), "[##########] 100%");
}

TEST(RenderTest, PlainLineIsOneTimestampedLine) {
  dr::v1::Job job;
  job.set_name("jobs/j1");
  job.set_type(dr::v1::JOB_TYPE_INITIATE_FAILOVER);
  job.set_state(dr::v1::JOB_STATE_EXCEPTION);
  job.set_percent_complete(60);
  job.set_return_code(dr::v1::RETURN_CODE_FILE_NOT_FOUND);
  job.set_error_code(32779);
  job.set_error_summary("Failover failed");
  std::string line = PlainLine(job, absl::FromUnixSeconds(1790000000));
  EXPECT_EQ(line,
            "2026-09-21T14:13:20Z jobs/j1 InitiateFailover Exception 60% return code 32779 error "
            "32779: Failover failed");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(TerminalLine(job).substr(0, 1), "\r");
}

TEST(RenderTest, PlainLogsShowStatesAndTenPercentSteps) {
  dr::v1::Job a, b;
  a.set_name("jobs/j");
  a.set_state(dr::v1::JOB_STATE_RUNNING);
  a.set_percent_complete(41);
  b = a;
  b.set_percent_complete(49);
  EXPECT_FALSE(WorthALine(a, b));
  b.set_percent_complete(50);
  EXPECT_TRUE(WorthALine(a, b));
  b = a;
  b.set_state(dr::v1::JOB_STATE_COMPLETED);
  EXPECT_TRUE(WorthALine(a, b));
  b = a;
  b.set_return_code(dr::v1::RETURN_CODE_STATUS_UNKNOWN);
  EXPECT_TRUE(WorthALine(a, b));
  EXPECT_TRUE(WorthALine(dr::v1::Job(), a));
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
