// How drctl shows a job while it waits: on a terminal, one line redrawn in
// place with a progress bar; otherwise (pipes, CI logs) one timestamped line
// per change, so a runbook's log reads as a history.
#ifndef HVDR_CLI_RENDER_H_
#define HVDR_CLI_RENDER_H_

#include <string>

#include "absl/time/time.h"
#include "dr/v1/resources.pb.h"

namespace hvdr {
namespace cli {

// "Running", "Completed", ... (JobState without its prefix, as people say it).
std::string StateWord(dr::v1::JobState state);
// "InitiateFailover", "CommitFailover", ...
std::string TypeWord(dr::v1::JobType type);
// "[##########----------]  50%" with `width` cells.
std::string ProgressBar(uint32_t percent, int width = 20);
// The redrawn terminal line (no newline; starts with '\r').
std::string TerminalLine(const dr::v1::Job& job);
// Whether a plain log should show `next` after `shown`: a new state, return
// code or error, or progress across a 10% mark. Keeps CI logs short.
bool WorthALine(const dr::v1::Job& shown, const dr::v1::Job& next);
// A plain line: "<RFC3339 time> <job> <type> <state> <percent>% [code ...]".
std::string PlainLine(const dr::v1::Job& job, absl::Time now);

}  // namespace cli
}  // namespace hvdr

#endif  // HVDR_CLI_RENDER_H_
