#include "server/stream_limiter.h"

#include "absl/strings/str_cat.h"
#include "common/hyperv_status.h"

namespace hvdr {
namespace server {

absl::Status StreamLimiter::Acquire(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  if (options_.max_total > 0 && total_ >= options_.max_total) {
    return Exhausted("request", "TOO_MANY_STREAMS",
                     absl::StrCat("drserver already serves ", total_,
                                  " streams of this kind; close some or retry later"),
                     options_.retry_after);
  }
  int& mine = per_peer_[peer];
  if (options_.max_per_peer > 0 && mine >= options_.max_per_peer) {
    return Exhausted(
        "request", "TOO_MANY_STREAMS_FROM_CLIENT",
        absl::StrCat("this connection already has ", mine,
                     " streams of this kind open (the limit); close some or retry later"),
        options_.retry_after);
  }
  ++mine;
  ++total_;
  return absl::OkStatus();
}

void StreamLimiter::Release(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = per_peer_.find(peer);
  if (it == per_peer_.end()) return;
  if (--it->second <= 0) per_peer_.erase(it);
  --total_;
}

int StreamLimiter::open() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

}  // namespace server
}  // namespace hvdr
