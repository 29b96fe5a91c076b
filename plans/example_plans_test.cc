// Every example plan in deploy/examples/ parses and is structurally sound,
// so what the README tells people to apply works.
#include <dirent.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "plans/plan_check.h"
#include "plans/plan_file.h"

namespace hvdr {
namespace plans {
namespace {

TEST(ExamplePlansTest, EveryExamplePlanIsSound) {
  const std::string dir = "deploy/examples";
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  while (dirent* e = readdir(d)) {
    if (absl::EndsWith(e->d_name, ".plan.textproto")) files.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  ASSERT_FALSE(files.empty());
  for (const std::string& path : files) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<dr::v1::Plan> plan = ParsePlanText(text.str(), path);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_FALSE(plan->name().empty()) << path;
    for (const auto& f : CheckPlanStructure(*plan)) {
      ADD_FAILURE() << path << ": " << f.field() << " " << f.reason() << ": " << f.message();
    }
  }
}

}  // namespace
}  // namespace plans
}  // namespace hvdr
