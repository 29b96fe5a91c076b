#include "cli/render.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace hvdr {
namespace cli {

namespace {

std::string Camel(const std::string& upper_snake) {
  std::string out;
  bool up = true;
  for (char c : upper_snake) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    up = false;
  }
  return out;
}

std::string Suffix(const dr::v1::Job& job) {
  std::string s;
  if (job.return_code() != dr::v1::RETURN_CODE_JOB_STARTED &&
      job.return_code() != dr::v1::RETURN_CODE_COMPLETED) {
    absl::StrAppend(&s, " return code ", static_cast<int>(job.return_code()));
  }
  if (job.error_code() != 0) absl::StrAppend(&s, " error ", job.error_code());
  if (!job.error_summary().empty()) absl::StrAppend(&s, ": ", job.error_summary());
  if (!job.error_description().empty()) absl::StrAppend(&s, " (", job.error_description(), ")");
  return s;
}

}  // namespace

std::string StateWord(dr::v1::JobState state) {
  const std::string name = dr::v1::JobState_Name(state);
  return name.empty() ? absl::StrCat(static_cast<int>(state)) : Camel(name.substr(10));
}

std::string TypeWord(dr::v1::JobType type) {
  const std::string name = dr::v1::JobType_Name(type);
  return name.empty() ? absl::StrCat(static_cast<int>(type)) : Camel(name.substr(9));
}

std::string ProgressBar(uint32_t percent, int width) {
  if (percent > 100) percent = 100;
  const int filled = static_cast<int>(percent) * width / 100;
  return absl::StrFormat("[%s%s] %3d%%", std::string(filled, '#'), std::string(width - filled, '-'),
                         percent);
}

std::string TerminalLine(const dr::v1::Job& job) {
  return absl::StrCat("\r", ProgressBar(job.percent_complete()), "  ", StateWord(job.state()), "  ",
                      TypeWord(job.type()), "  ", job.name(), Suffix(job), "\x1b[K");
}

bool WorthALine(const dr::v1::Job& shown, const dr::v1::Job& next) {
  return shown.name().empty() || shown.state() != next.state() ||
         shown.return_code() != next.return_code() || shown.error_code() != next.error_code() ||
         shown.percent_complete() / 10 != next.percent_complete() / 10;
}

std::string PlainLine(const dr::v1::Job& job, absl::Time now) {
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone()), " ",
                      job.name(), " ", TypeWord(job.type()), " ", StateWord(job.state()), " ",
                      job.percent_complete(), "%", Suffix(job));
}

}  // namespace cli
}  // namespace hvdr
