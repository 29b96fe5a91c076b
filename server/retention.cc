#include "server/retention.h"

#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

Retention::~Retention() { Stop(); }

absl::StatusOr<int64_t> Retention::RunOnce() {
  if (options_.retention <= absl::ZeroDuration()) return 0;
  const absl::Time cutoff = clock_->Now() - options_.retention;
  int64_t pruned = 0;
  while (!stop_.HasBeenNotified()) {
    absl::StatusOr<int> n = store_->PruneJobs(cutoff, options_.batch);
    if (!n.ok()) return n.status();
    pruned += *n;
    if (*n < options_.batch) break;
  }
  return pruned;
}

void Retention::Start() {
  if (options_.retention <= absl::ZeroDuration() || thread_.joinable()) return;
  thread_ = std::thread([this] {
    do {
      absl::StatusOr<int64_t> pruned = RunOnce();
      if (!pruned.ok()) {
        spdlog::warn("retention: {}", pruned.status().ToString());
      } else if (*pruned > 0) {
        spdlog::info("retention: pruned {} jobs that ended more than {} ago", *pruned,
                     absl::FormatDuration(options_.retention));
      }
    } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
  });
}

void Retention::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace server
}  // namespace hvdr
