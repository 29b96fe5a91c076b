// The file a person writes a plan in: Plan's protobuf text format
// (deploy/examples/*.plan.textproto). Parsing says where a mistake is; the
// plan's structure is checked separately (plans/plan_check.h).
#ifndef HVDR_PLANS_PLAN_FILE_H_
#define HVDR_PLANS_PLAN_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dr/v1/plan.pb.h"

namespace hvdr {
namespace plans {

// At most this many bytes in a plan file (a plan of 100,000 VMs fits).
inline constexpr size_t kMaxPlanFileBytes = 64 << 20;

// The plan in `text`. A syntax error, an unknown field or enum value, or a
// file over kMaxPlanFileBytes is INVALID_ARGUMENT naming `filename`, the
// line and the column ("plan.textproto:12:5: ..."). Output-only fields
// (version, etag, times) are cleared.
absl::StatusOr<dr::v1::Plan> ParsePlanText(absl::string_view text, const std::string& filename);

// `plan` in the same format, as a person would write it (for `drctl plans
// show` and round trips).
std::string PlanText(const dr::v1::Plan& plan);

}  // namespace plans
}  // namespace hvdr

#endif  // HVDR_PLANS_PLAN_FILE_H_
