#include "plans/plan_file.h"

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace hvdr {
namespace plans {

namespace {

// Keeps the first error with its position.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!error_.empty()) return;
    // The parser counts from 0; editors count from 1.
    error_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

}  // namespace

absl::StatusOr<dr::v1::Plan> ParsePlanText(absl::string_view text, const std::string& filename) {
  if (text.size() > kMaxPlanFileBytes) {
    return InvalidParameter(
        "plan", "TOO_LARGE",
        absl::StrCat(filename, ": ", text.size(), " bytes; at most ", kMaxPlanFileBytes));
  }
  dr::v1::Plan plan;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &plan)) {
    return InvalidParameter(
        "plan", "SYNTAX_ERROR",
        absl::StrCat(filename, ":",
                     errors.error().empty() ? std::string("1:1: cannot parse") : errors.error()));
  }
  plan.clear_version();
  plan.clear_etag();
  plan.clear_create_time();
  plan.clear_update_time();
  return plan;
}

std::string PlanText(const dr::v1::Plan& plan) {
  std::string out;
  google::protobuf::TextFormat::Printer printer;
  printer.SetUseShortRepeatedPrimitives(false);
  printer.PrintToString(plan, &out);
  return out;
}

}  // namespace plans
}  // namespace hvdr
