#include "cli/report_render.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTestHostile[] = "<script>&\"'";
constexpr char kTestHostileEscaped[] = "&lt;script&gt;&amp;&quot;&#39;";

// An UNPLANNED run of two VMs: sql-01 from a recovery point, the second
// VM (named to break HTML) failed; a prompt answered; a warning found.
dr::v1::ExecutionReport TestReport() {
  dr::v1::ExecutionReport r;
  const bool parsed = google::protobuf::TextFormat::ParseFromString(
      R"pb(
        execution {
          name: "plans/site/executions/e-1"
          mode: EXECUTION_MODE_UNPLANNED
          state: EXECUTION_STATE_SUCCEEDED_WITH_WARNINGS
          plan_version: 3
          plan_hash: "ab12cd34"
          requester: "alice"
          request_id: "dr-1"
          create_time { seconds: 1800000000 }
          end_time { seconds: 1800000300 }
          steps_total: 5
          steps_succeeded: 4
          steps_failed: 1
          findings {
            severity: SEVERITY_WARNING
            field: "groups[0].vms[1].vm_id"
            reason: "RPO_AT_RISK"
            message: "last replication <b>old</b>"
            return_code: RETURN_CODE_COMPLETED
          }
        }
        plan {
          name: "plans/site"
          source_site: "sites/a"
          target_site: "sites/b"
          groups {
            id: "db"
            before {
              id: "fenced"
              prompt { message: "Is storage <fenced>?" }
            }
            vms { vm_id: "00000000-0000-0000-0000-000000000001" }
            vms { vm_id: "00000000-0000-0000-0000-000000000002" }
          }
        }
        vms {
          vm_id: "00000000-0000-0000-0000-000000000001"
          display_name: "sql-01"
          group: "db"
          result: STEP_STATE_SUCCEEDED
          recovery_point: "hosts/r/virtualMachines/00000000-0000-0000-0000-000000000001/recoveryPoints/rp-2h"
          data_time { seconds: 1799992810 }
          rpo_seconds: 7210
          rto_seconds: 75.5
        }
        vms {
          vm_id: "00000000-0000-0000-0000-000000000002"
          display_name: "<script>&\"'"
          group: "db"
          result: STEP_STATE_FAILED
          error: "jobs/j-2 ended EXCEPTION: <disk> missing"
        }
        steps {
          name: "plans/site/executions/e-1/steps/db.before.fenced"
          kind: STEP_KIND_PROMPT
          state: STEP_STATE_SUCCEEDED
          group: "db"
          plan_step: "fenced"
          attempt: 1
          start_time { seconds: 1800000000 }
          end_time { seconds: 1800000005 }
          answered_by: "ops <admin>"
          answer_time { seconds: 1800000005 }
          answer_comment: "fenced & checked"
        }
        steps {
          name: "plans/site/executions/e-1/steps/db.00000000-0000-0000-0000-000000000001.failover"
          kind: STEP_KIND_FAILOVER
          state: STEP_STATE_SUCCEEDED
          group: "db"
          vm_id: "00000000-0000-0000-0000-000000000001"
          attempt: 1
          job: "jobs/j-1"
          start_time { seconds: 1800000010 }
          end_time { seconds: 1800000016 }
          recovery_point: "hosts/r/virtualMachines/00000000-0000-0000-0000-000000000001/recoveryPoints/rp-2h"
          data_time { seconds: 1799992810 }
        }
        steps {
          name: "plans/site/executions/e-1/steps/db.00000000-0000-0000-0000-000000000001.readiness"
          kind: STEP_KIND_READINESS
          state: STEP_STATE_SUCCEEDED
          group: "db"
          vm_id: "00000000-0000-0000-0000-000000000001"
          attempt: 1
          start_time { seconds: 1800000016 }
          end_time { seconds: 1800000075 nanos: 500000000 }
        }
        steps {
          name: "plans/site/executions/e-1/steps/db.00000000-0000-0000-0000-000000000002.failover"
          kind: STEP_KIND_FAILOVER
          state: STEP_STATE_FAILED
          group: "db"
          vm_id: "00000000-0000-0000-0000-000000000002"
          attempt: 2
          start_time { seconds: 1800000020 }
          end_time { seconds: 1800000030 }
          return_code: RETURN_CODE_FAILED
          error: "jobs/j-2 ended EXCEPTION: <disk> missing"
        }
        steps {
          name: "plans/site/executions/e-1/steps/db.00000000-0000-0000-0000-000000000002.start"
          kind: STEP_KIND_START
          state: STEP_STATE_SKIPPED
          skip_cause: SKIP_CAUSE_UPSTREAM_FAILED
          group: "db"
          vm_id: "00000000-0000-0000-0000-000000000002"
          end_time { seconds: 1800000030 }
        }
        report_time { seconds: 1800000400 }
      )pb",
      &r);
  EXPECT_TRUE(parsed);
  return r;
}

TEST(ReportTextTest, ShowsTheSummaryVmsStepsPromptsAndFindings) {
  const std::string text = ReportText(TestReport());
  EXPECT_THAT(text, HasSubstr("Execution plans/site/executions/e-1"));
  EXPECT_THAT(text, HasSubstr("plans/site version 3"));
  EXPECT_THAT(text, HasSubstr("sha256:ab12cd34"));
  EXPECT_THAT(text, HasSubstr("unplanned"));
  EXPECT_THAT(text, HasSubstr("alice (request_id dr-1)"));
  EXPECT_THAT(text, HasSubstr("2027-01-15 08:00:00"));  // the start, UTC
  EXPECT_THAT(text, HasSubstr("5m00s"));                // the duration
  EXPECT_THAT(text, HasSubstr("succeeded_with_warnings"));
  // sql-01: its point (short), its data time, RPO 2h00m10s and RTO 1m16s.
  EXPECT_THAT(text, HasSubstr("rp-2h"));
  EXPECT_THAT(text, HasSubstr("2h00m10s"));
  EXPECT_THAT(text, HasSubstr("1m16s"));
  // The failed VM: no RPO nor RTO recorded, shown as "-", and its error.
  EXPECT_THAT(text, HasSubstr("<disk> missing"));
  EXPECT_THAT(text, HasSubstr("skipped (upstream_failed)"));
  EXPECT_THAT(text, HasSubstr("db.00000000-0000-0000-0000-000000000002.failover"));
  EXPECT_THAT(text, HasSubstr("Is storage <fenced>?"));
  EXPECT_THAT(text, HasSubstr("proceed by ops <admin> at 2027-01-15 08:00:05: fenced & checked"));
  EXPECT_THAT(text, HasSubstr("RPO_AT_RISK"));
  EXPECT_THAT(text, HasSubstr("Validation findings (1)"));
}

TEST(ReportTextTest, ControlCharactersCannotReachTheTerminal) {
  dr::v1::ExecutionReport r = TestReport();
  r.mutable_vms(0)->set_display_name("sql\x1b[2J-01");
  r.mutable_steps(3)->set_error("line one\nline two");
  r.mutable_steps(0)->set_answer_comment("ok\x07");
  const std::string text = ReportText(r);
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text, Not(HasSubstr("\x07")));
  EXPECT_THAT(text, HasSubstr("sql?[2J-01"));
  EXPECT_THAT(text, HasSubstr("line one line two"));
}

TEST(ReportTextTest, AnUnansweredPromptAndNoFindingsSaySo) {
  dr::v1::ExecutionReport r = TestReport();
  r.mutable_execution()->clear_findings();
  auto* prompt = r.mutable_steps(0);
  prompt->set_state(dr::v1::STEP_STATE_WAITING_FOR_ANSWER);
  prompt->clear_answered_by();
  prompt->clear_answer_time();
  const std::string text = ReportText(r);
  EXPECT_THAT(text, HasSubstr("not answered (waiting_for_answer)"));
  EXPECT_THAT(text, HasSubstr("Validation findings (0)"));
}

TEST(ReportJsonTest, HasStableFieldsAndNullForWhatWasNotRecorded) {
  const nlohmann::json j =
      nlohmann::json::parse(ReportJson(TestReport()), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["execution"], "plans/site/executions/e-1");
  EXPECT_EQ(j["plan"], "plans/site");
  EXPECT_EQ(j["plan_version"], 3);
  EXPECT_EQ(j["plan_hash"], "ab12cd34");
  EXPECT_EQ(j["mode"], "unplanned");
  EXPECT_EQ(j["requester"], "alice");
  EXPECT_EQ(j["state"], "succeeded_with_warnings");
  EXPECT_EQ(j["create_time"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(j["duration_seconds"], 300.0);
  EXPECT_TRUE(j["halted_step"].is_null());
  ASSERT_EQ(j["vms"].size(), 2u);
  const auto& sql = j["vms"][0];
  EXPECT_EQ(sql["display_name"], "sql-01");
  EXPECT_EQ(sql["result"], "succeeded");
  EXPECT_EQ(sql["recovery_point"],
            "hosts/r/virtualMachines/00000000-0000-0000-0000-000000000001/recoveryPoints/rp-2h");
  EXPECT_EQ(sql["data_time"], "2027-01-15T06:00:10.000Z");
  EXPECT_EQ(sql["rpo_seconds"], 7210.0);
  EXPECT_EQ(sql["rto_seconds"], 75.5);
  const auto& other = j["vms"][1];
  EXPECT_EQ(other["display_name"], kTestHostile);
  EXPECT_EQ(other["result"], "failed");
  EXPECT_EQ(other["recovery_point"], "latest") << "a failover step with no point: the latest";
  EXPECT_TRUE(other["data_time"].is_null());
  EXPECT_TRUE(other["rpo_seconds"].is_null());
  EXPECT_TRUE(other["rto_seconds"].is_null());
  ASSERT_EQ(j["steps"].size(), 5u);
  EXPECT_EQ(j["steps"][0]["kind"], "prompt");
  EXPECT_TRUE(j["steps"][0]["recovery_point"].is_null());
  EXPECT_EQ(j["steps"][3]["attempt"], 2);
  EXPECT_EQ(j["steps"][3]["return_code"], "failed");
  EXPECT_EQ(j["steps"][3]["duration_seconds"], 10.0);
  EXPECT_EQ(j["steps"][4]["skip_cause"], "upstream_failed");
  EXPECT_TRUE(j["steps"][4]["start_time"].is_null());
  ASSERT_EQ(j["prompts"].size(), 1u);
  EXPECT_EQ(j["prompts"][0]["message"], "Is storage <fenced>?");
  EXPECT_EQ(j["prompts"][0]["answer"], "proceed");
  EXPECT_EQ(j["prompts"][0]["answered_by"], "ops <admin>");
  EXPECT_EQ(j["prompts"][0]["answer_comment"], "fenced & checked");
  ASSERT_EQ(j["findings"].size(), 1u);
  EXPECT_EQ(j["findings"][0]["severity"], "warning");
  EXPECT_EQ(j["findings"][0]["reason"], "RPO_AT_RISK");
}

TEST(ReportJsonTest, AVmWithoutAFailoverStepHasNoRecoveryPoint) {
  dr::v1::ExecutionReport r = TestReport();
  r.clear_steps();
  const nlohmann::json j =
      nlohmann::json::parse(ReportJson(r), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_TRUE(j["vms"][1]["recovery_point"].is_null());
}

TEST(ReportJsonTest, BadUtf8IsReplacedNotFatal) {
  dr::v1::ExecutionReport r = TestReport();
  r.mutable_vms(0)->set_display_name(std::string("sql\xff-01"));
  const nlohmann::json j =
      nlohmann::json::parse(ReportJson(r), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_THAT(j["vms"][0]["display_name"].get<std::string>(), HasSubstr("sql"));
}

TEST(ReportHtmlTest, IsOneSelfContainedPageWithEveryValueEscaped) {
  const std::string html = ReportHtml(TestReport());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_THAT(html, HasSubstr("<style>"));
  EXPECT_THAT(html, HasSubstr("</html>"));
  // Nothing runs and nothing is fetched.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  for (const char* outside : {"src=", "href=", "url(", "@import", "http:", "https:", "<link"}) {
    EXPECT_THAT(html, Not(HasSubstr(outside))) << outside;
  }
  // The VM's name, the error, the prompt, its answerer and the finding's
  // message, escaped.
  EXPECT_THAT(html, HasSubstr(kTestHostileEscaped));
  EXPECT_THAT(html, Not(HasSubstr(kTestHostile)));
  EXPECT_THAT(html, HasSubstr("&lt;disk&gt; missing"));
  EXPECT_THAT(html, HasSubstr("Is storage &lt;fenced&gt;?"));
  EXPECT_THAT(html, HasSubstr("ops &lt;admin&gt;"));
  EXPECT_THAT(html, HasSubstr("fenced &amp; checked"));
  EXPECT_THAT(html, HasSubstr("last replication &lt;b&gt;old&lt;/b&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, HasSubstr("sql-01"));
  EXPECT_THAT(html, HasSubstr("2h00m10s"));
  EXPECT_THAT(html, HasSubstr("class=\"r-failed\""));
}

TEST(ReportHtmlTest, HtmlEscapeReplacesTheFiveCharacters) {
  EXPECT_EQ(HtmlEscape(kTestHostile), kTestHostileEscaped);
  EXPECT_EQ(HtmlEscape("plain text"), "plain text");
  EXPECT_EQ(HtmlEscape(""), "");
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
