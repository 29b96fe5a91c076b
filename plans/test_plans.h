// Plans for tests: built from their text format, as a person writes them.
#ifndef HVDR_PLANS_TEST_PLANS_H_
#define HVDR_PLANS_TEST_PLANS_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "dr/v1/plan.pb.h"
#include "google/protobuf/text_format.h"

namespace hvdr {
namespace plans {
namespace testing {

// The canonical GUID number n: 00000000-0000-0000-0000-00000000000n.
inline std::string Vm(int n) { return absl::StrFormat("00000000-0000-0000-0000-%012d", n); }

// `text` in Plan's text format; aborts the test binary on a syntax error
// (the test's text is wrong, not the code under test).
inline dr::v1::Plan PlanFromText(const std::string& text) {
  dr::v1::Plan plan;
  if (!google::protobuf::TextFormat::ParseFromString(text, &plan)) {
    std::fprintf(stderr, "test plan does not parse:\n%s\n", text.c_str());
    std::abort();
  }
  return plan;
}

// A plan from sites/a to sites/b: `groups` groups of `vms_per_group` VMs
// numbered from 1, no steps.
inline dr::v1::Plan SimplePlan(int groups, int vms_per_group) {
  dr::v1::Plan plan;
  plan.set_source_site("sites/a");
  plan.set_target_site("sites/b");
  int n = 1;
  for (int g = 0; g < groups; ++g) {
    auto* group = plan.add_groups();
    group->set_id(absl::StrFormat("g%d", g + 1));
    for (int v = 0; v < vms_per_group; ++v) group->add_vms()->set_vm_id(Vm(n++));
  }
  return plan;
}

}  // namespace testing
}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_TEST_PLANS_H_
