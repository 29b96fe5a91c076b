#include "plans/plan_file.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
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

bool IsUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n;  // continuation bytes
    if (c < 0x80) {
      n = 0;
    } else if ((c >> 5) == 0x6) {
      n = 1;
    } else if ((c >> 4) == 0xE) {
      n = 2;
    } else if ((c >> 3) == 0x1E) {
      n = 3;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    uint32_t cp = n == 0 ? c : c & (0x3F >> n);
    for (int k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// The path of the first string field of `m` that is not UTF-8 (proto3
// strings must be: such a plan could not be sent nor stored), or "".
std::string FirstNonUtf8(const google::protobuf::Message& m, const std::string& at) {
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    const std::string name = at.empty() ? f->name() : absl::StrCat(at, ".", f->name());
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const std::string item = absl::StrCat(name, "[", i, "]");
        if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
            !IsUtf8(r->GetRepeatedString(m, f, i))) {
          return item;
        }
        if (f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
          std::string bad = FirstNonUtf8(r->GetRepeatedMessage(m, f, i), item);
          if (!bad.empty()) return bad;
        }
      }
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      if (!IsUtf8(r->GetString(m, f))) return name;
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      std::string bad = FirstNonUtf8(r->GetMessage(m, f), name);
      if (!bad.empty()) return bad;
    }
  }
  return "";
}

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
  if (std::string bad = FirstNonUtf8(plan, ""); !bad.empty()) {
    return InvalidParameter("plan", "NOT_UTF8",
                            absl::StrCat(filename, ": ", bad, " is not valid UTF-8 text"));
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
