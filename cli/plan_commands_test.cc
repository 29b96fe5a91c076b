#include "cli/plan_commands.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "cli/commands.h"
#include "cli/fake_stubs.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hvdr {
namespace cli {
namespace {

using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SetArgPointee;

constexpr char kPlanText[] = R"(name: "plans/site-a"
source_site: "sites/a"
target_site: "sites/b"
groups { id: "db" vms { vm_id: "0DD0C0DE-0000-4000-8000-000000000001" } }
)";

std::string WriteFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

int Drctl(testing::TestCli& cli, std::vector<std::string> args) {
  absl::StatusOr<ParsedArgs> a = ParseArgs(args, Flags());
  EXPECT_TRUE(a.ok()) << a.status();
  return RunCommand(cli.ctx, *a);
}

TEST(PlanCommandsTest, ApplyCreatesAPlanThatDoesNotExist) {
  testing::TestCli cli;
  const std::string path = WriteFile("a.plan.textproto", kPlanText);
  dr::v1::Plan stored;
  stored.set_name("plans/site-a");
  stored.set_version(1);
  stored.add_groups()->add_vms();
  dr::v1::CreatePlanRequest sent;
  EXPECT_CALL(cli.plans, GetPlan(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "plans/site-a does not exist")));
  EXPECT_CALL(cli.plans, CreatePlan(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(stored), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "apply", "-f", path, "--request-id", "r-1"}), kOk)
      << cli.err.str();
  EXPECT_EQ(sent.plan().groups(0).vms(0).vm_id(), "0DD0C0DE-0000-4000-8000-000000000001");
  EXPECT_EQ(sent.request_id(), "r-1");
  EXPECT_EQ(sent.requester(), "tester");
  EXPECT_THAT(cli.out.str(), HasSubstr("plans/site-a version 1 (1 group) created"));
}

TEST(PlanCommandsTest, ApplyReplacesAnExistingPlanUnderItsEtag) {
  testing::TestCli cli;
  const std::string path = WriteFile("b.plan.textproto", kPlanText);
  dr::v1::Plan current;
  current.set_name("plans/site-a");
  current.set_etag("3-123");
  current.set_version(3);
  dr::v1::UpdatePlanRequest sent;
  EXPECT_CALL(cli.plans, GetPlan(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(current), Return(grpc::Status::OK)));
  current.set_version(4);
  EXPECT_CALL(cli.plans, UpdatePlan(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(current), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "apply", "--file", path}), kOk) << cli.err.str();
  EXPECT_EQ(sent.plan().etag(), "3-123");
  EXPECT_THAT(cli.out.str(), HasSubstr("version 4"));
  EXPECT_THAT(cli.out.str(), HasSubstr("updated"));
}

TEST(PlanCommandsTest, AMistakeInTheFileIsReportedWithItsLineAndNothingIsSent) {
  testing::TestCli cli;
  const std::string path = WriteFile("c.plan.textproto", "name: \"plans/x\"\ngroups { idd: 1 }\n");
  EXPECT_EQ(Drctl(cli, {"plans", "apply", "-f", path}), kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("c.plan.textproto:2:"));
  EXPECT_EQ(Drctl(cli, {"plans", "apply", "-f", "/nonexistent/p"}), kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("cannot read /nonexistent/p"));
  EXPECT_EQ(Drctl(cli, {"plans", "apply"}), kUsage);
}

TEST(PlanCommandsTest, ValidateExitsRefusedOnErrorsAndOkOnWarnings) {
  testing::TestCli cli;
  dr::v1::ValidatePlanResponse warn;
  warn.set_plan_version(2);
  auto* w = warn.add_findings();
  w->set_severity(dr::v1::SEVERITY_WARNING);
  w->set_field("groups[0].vms[0].vm_id");
  w->set_reason("RPO_AT_RISK");
  w->set_message("last replication 20m ago");
  dr::v1::ValidatePlanRequest sent;
  EXPECT_CALL(cli.plans, ValidatePlan(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(warn), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "validate", "site-a", "--mode", "planned"}), kOk);
  EXPECT_EQ(sent.name(), "plans/site-a");
  EXPECT_EQ(sent.mode(), dr::v1::EXECUTION_MODE_PLANNED);
  EXPECT_THAT(cli.out.str(), HasSubstr("warning  groups[0].vms[0].vm_id  RPO_AT_RISK"));
  EXPECT_THAT(cli.out.str(), HasSubstr("0 errors, 1 warning"));

  dr::v1::ValidatePlanResponse bad = warn;
  bad.mutable_findings(0)->set_severity(dr::v1::SEVERITY_ERROR);
  EXPECT_CALL(cli.plans, ValidatePlan(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(bad), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "validate", "plans/site-a", "--mode", "test"}), kRefused);
  EXPECT_EQ(Drctl(cli, {"plans", "validate", "site-a"}), kUsage);
  EXPECT_EQ(Drctl(cli, {"plans", "validate", "site-a", "--mode", "sideways"}), kRefused);
}

TEST(PlanCommandsTest, ShowPrintsAFileApplyTakes) {
  testing::TestCli cli;
  dr::v1::Plan p;
  p.set_name("plans/site-a");
  p.set_source_site("sites/a");
  p.set_version(2);
  p.set_etag("2-9");
  EXPECT_CALL(cli.plans, GetPlan(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(p), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "show", "site-a"}), kOk);
  EXPECT_THAT(cli.out.str(), HasSubstr("# plans/site-a version 2"));
  EXPECT_THAT(cli.out.str(), HasSubstr("source_site: \"sites/a\""));
}

TEST(PlanCommandsTest, ListPrintsEveryPlanOfEveryPage) {
  testing::TestCli cli;
  dr::v1::ListPlansResponse first;
  dr::v1::Plan* a = first.add_plans();
  a->set_name("plans/site-a");
  a->set_version(3);
  a->set_source_site("sites/a");
  a->set_target_site("sites/b");
  a->set_description("the database site");
  a->add_groups()->add_vms();
  dr::v1::PlanGroup* app = a->add_groups();
  app->add_vms();
  app->add_vms();
  first.set_next_page_token("page-2");
  dr::v1::ListPlansResponse second;
  dr::v1::Plan* b = second.add_plans();
  b->set_name("plans/site-b");
  b->set_version(1);
  b->set_source_site("sites/b");
  b->set_target_site("sites/a");
  b->add_groups()->add_vms();
  std::vector<dr::v1::ListPlansRequest> sent;
  EXPECT_CALL(cli.plans, ListPlans(_, _, _))
      .Times(4)
      .WillRepeatedly([&](grpc::ClientContext*, const dr::v1::ListPlansRequest& r,
                          dr::v1::ListPlansResponse* out) {
        sent.push_back(r);
        *out = r.page_token().empty() ? first : second;
        return grpc::Status::OK;
      });
  EXPECT_EQ(Drctl(cli, {"plans", "list"}), kOk) << cli.err.str();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].page_token(), "");
  EXPECT_EQ(sent[1].page_token(), "page-2");
  EXPECT_EQ(cli.out.str(),
            "plans/site-a  v3  sites/a -> sites/b  2 groups, 3 VMs  the database site\n"
            "plans/site-b  v1  sites/b -> sites/a  1 group, 1 VM\n");

  cli.ctx.json = true;
  cli.out.str("");
  EXPECT_EQ(Drctl(cli, {"plans", "list"}), kOk) << cli.err.str();
  const nlohmann::json j = nlohmann::json::parse(cli.out.str());
  ASSERT_EQ(j["plans"].size(), 2u);
  EXPECT_EQ(j["plans"][0]["name"], "plans/site-a");
  EXPECT_EQ(j["plans"][1]["name"], "plans/site-b");
  EXPECT_EQ(Drctl(cli, {"plans", "list", "site-a"}), kUsage);
}

TEST(PlanCommandsTest, DeleteSendsThePlanAndTheRequestIdAndReportsARefusal) {
  testing::TestCli cli;
  dr::v1::DeletePlanRequest sent;
  EXPECT_CALL(cli.plans, DeletePlan(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "site-a", "--request-id", "r-del"}), kOk)
      << cli.err.str();
  EXPECT_EQ(sent.name(), "plans/site-a");
  EXPECT_EQ(sent.request_id(), "r-del");
  EXPECT_EQ(sent.etag(), "") << "without --etag the delete is unconditional";
  EXPECT_EQ(cli.out.str(), "plans/site-a deleted\n");

  // With --etag, only the plan as it was read; the server's refusal
  // (ABORTED: it changed since) is reported and nothing is said deleted.
  EXPECT_CALL(cli.plans, DeletePlan(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status(grpc::StatusCode::ABORTED,
                                                             "plans/site-a changed: etag 3"))));
  cli.out.str("");
  EXPECT_NE(Drctl(cli, {"plans", "delete", "site-a", "--etag", "2"}), kOk);
  EXPECT_EQ(sent.etag(), "2");
  EXPECT_THAT(cli.err.str(), HasSubstr("etag 3"));
  EXPECT_EQ(cli.out.str(), "");
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "site-a", "--etag="}), kUsage);

  // Without --request-id each delete gets its own.
  std::vector<std::string> ids;
  EXPECT_CALL(cli.plans, DeletePlan(_, _, _))
      .Times(2)
      .WillRepeatedly([&](grpc::ClientContext*, const dr::v1::DeletePlanRequest& r, auto*) {
        EXPECT_EQ(r.name(), "plans/site-b");
        ids.push_back(r.request_id());
        return grpc::Status::OK;
      });
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "plans/site-b"}), kOk);
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "site-b"}), kOk);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_THAT(ids[0], ::testing::StartsWith("drctl-"));
  EXPECT_NE(ids[0], ids[1]);

  // A plan with a running execution is refused (exit 3), and nothing
  // claims it was deleted.
  cli.out.str("");
  EXPECT_CALL(cli.plans, DeletePlan(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "plans/site-a has a running execution e-1")));
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "site-a"}), kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("plans/site-a has a running execution e-1"));
  EXPECT_THAT(cli.err.str(), HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(cli.out.str(), "");
  EXPECT_CALL(cli.plans, DeletePlan(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "plans/nope does not exist")));
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "nope"}), kRefused);
  EXPECT_EQ(Drctl(cli, {"plans", "delete"}), kUsage);
  EXPECT_EQ(Drctl(cli, {"plans", "delete", "a", "b"}), kUsage);
}

dr::v1::ExecutionReport TestReport() {
  dr::v1::ExecutionReport r;
  r.mutable_execution()->set_name("plans/site-a/executions/e-1");
  r.mutable_execution()->set_state(dr::v1::EXECUTION_STATE_SUCCEEDED);
  r.mutable_plan()->set_name("plans/site-a");
  auto* vm = r.add_vms();
  vm->set_vm_id("0DD0C0DE-0000-4000-8000-000000000001");
  vm->set_display_name("<db>");
  vm->set_result(dr::v1::STEP_STATE_SUCCEEDED);
  vm->set_rpo_seconds(95);
  return r;
}

TEST(PlanCommandsTest, ReportPrintsTheReportInTheFormatAsked) {
  testing::TestCli cli;
  dr::v1::GetExecutionReportRequest sent;
  EXPECT_CALL(cli.plans, GetExecutionReport(_, _, _))
      .Times(3)
      .WillRepeatedly(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(TestReport()), Return(grpc::Status::OK)));
  EXPECT_EQ(Drctl(cli, {"plans", "report", "site-a/executions/e-1"}), kOk) << cli.err.str();
  EXPECT_EQ(sent.name(), "plans/site-a/executions/e-1");
  EXPECT_THAT(cli.out.str(), HasSubstr("Execution plans/site-a/executions/e-1"));
  EXPECT_THAT(cli.out.str(), HasSubstr("1m35s"));

  cli.out.str("");
  EXPECT_EQ(Drctl(cli, {"plans", "report", "plans/site-a/executions/e-1", "--format", "json"}),
            kOk);
  const nlohmann::json j = nlohmann::json::parse(cli.out.str());
  EXPECT_EQ(j["vms"][0]["display_name"], "<db>");
  EXPECT_EQ(j["vms"][0]["rpo_seconds"], 95.0);
  EXPECT_TRUE(j["vms"][0]["rto_seconds"].is_null());

  cli.out.str("");
  const std::string path = WriteFile("report.html", "");
  EXPECT_EQ(
      Drctl(cli, {"plans", "report", "plans/site-a/executions/e-1", "--format=html", "-o", path}),
      kOk);
  EXPECT_THAT(cli.out.str(), HasSubstr("html report written to " + path));
  std::ifstream in(path);
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(html, HasSubstr("&lt;db&gt;"));
  EXPECT_THAT(html, HasSubstr("</html>"));
}

TEST(PlanCommandsTest, ReportRefusesABadFormatAndReportsAnUnknownExecution) {
  testing::TestCli cli;
  EXPECT_EQ(Drctl(cli, {"plans", "report", "site-a/executions/e-1", "--format", "pdf"}), kUsage);
  EXPECT_THAT(cli.err.str(), HasSubstr("--format takes text, json or html"));
  EXPECT_EQ(Drctl(cli, {"plans", "report"}), kUsage);
  EXPECT_CALL(cli.plans, GetExecutionReport(_, _, _))
      .WillOnce(Return(
          grpc::Status(grpc::StatusCode::NOT_FOUND, "plans/site-a/executions/e-9 does not exist")));
  EXPECT_EQ(Drctl(cli, {"plans", "report", "site-a/executions/e-9"}), kRefused);
  EXPECT_THAT(cli.err.str(), HasSubstr("e-9 does not exist"));
}

TEST(PlanCommandsTest, ReportToAFileThatCannotBeWrittenFails) {
  testing::TestCli cli;
  EXPECT_CALL(cli.plans, GetExecutionReport(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TestReport()), Return(grpc::Status::OK)));
  EXPECT_EQ(
      Drctl(cli, {"plans", "report", "site-a/executions/e-1", "-o", "/nonexistent-dir/report.txt"}),
      kError);
  EXPECT_THAT(cli.err.str(), HasSubstr("cannot write the report to /nonexistent-dir/report.txt"));
}

}  // namespace
}  // namespace cli
}  // namespace hvdr
