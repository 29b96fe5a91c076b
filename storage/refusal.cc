#include "storage/refusal.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hvdr {

namespace {

constexpr absl::string_view kRefusalUrl = "hvdr.storage/refusal";

}  // namespace

absl::Status Refuse(absl::StatusCode code, Refusal kind, absl::string_view subject,
                    absl::string_view other, absl::string_view message) {
  absl::Status s(code, message);
  // "<kind>\0<subject>\0<other>": names never hold a NUL (they are bound to
  // SQLite as text).
  s.SetPayload(kRefusalUrl,
               absl::Cord(absl::StrCat(static_cast<int>(kind), absl::string_view("\0", 1), subject,
                                       absl::string_view("\0", 1), other)));
  return s;
}

RefusalInfo RefusalOf(const absl::Status& status) {
  RefusalInfo info;
  absl::optional<absl::Cord> payload = status.GetPayload(kRefusalUrl);
  if (!payload.has_value()) return info;
  std::vector<std::string> parts =
      absl::StrSplit(std::string(*payload), absl::MaxSplits(absl::string_view("\0", 1), 2));
  int kind = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &kind)) return info;
  info.kind = static_cast<Refusal>(kind);
  info.subject = std::move(parts[1]);
  info.other = std::move(parts[2]);
  return info;
}

absl::Status InvalidRecord(absl::string_view field, absl::string_view problem,
                           absl::string_view message) {
  return Refuse(absl::StatusCode::kInvalidArgument, Refusal::kInvalidRecord, field, problem,
                message);
}

}  // namespace hvdr
