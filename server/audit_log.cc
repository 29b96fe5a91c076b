#include "server/audit_log.h"

#include <google/protobuf/util/json_util.h>

#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

AuditLog::AuditLog(AuditStore* store, const Options& options) : store_(store), options_(options) {
  if (!options_.jsonl_path.empty()) {
    jsonl_ = std::fopen(options_.jsonl_path.c_str(), "a");
    if (jsonl_ == nullptr) {
      spdlog::error("audit: cannot open {} for append; events go to the database only",
                    options_.jsonl_path);
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

AuditLog::~AuditLog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  if (jsonl_ != nullptr) std::fclose(jsonl_);
}

void AuditLog::Record(dr::v1::AuditEvent event, std::function<void()> durable) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Queued{std::move(event), std::move(durable)});
  ++recorded_;
}

void AuditLog::Mirror(dr::v1::AuditEvent event) {
  if (jsonl_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  queue_.push_back(Queued{std::move(event), nullptr, true});
  ++recorded_;
}

void AuditLog::Flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = recorded_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return written_ >= target || (stop_ && queue_.empty());
  };
  mu_.Await(absl::Condition(&done));
}

void AuditLog::Loop() {
  absl::Duration backoff = absl::Milliseconds(10);
  while (true) {
    std::vector<dr::v1::AuditEvent> batch;  // in queue order, for the file
    std::vector<dr::v1::AuditEvent> to_store;
    std::vector<std::function<void()>> waiting;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty() && stop_) return;
      for (Queued& q : queue_) {
        batch.push_back(q.event);
        if (!q.stored) to_store.push_back(q.event);
        if (q.durable) waiting.push_back(std::move(q.durable));
        q.durable = nullptr;  // told once, even if the write is retried
      }
    }
    absl::Status written = store_->AppendAuditEvents(to_store);
    // The calls waiting for their events go on now either way: durable, or
    // (a failed write: disk full) kept here and retried, never held.
    for (auto& done : waiting) done();
    if (!written.ok()) {
      spdlog::error("audit: {} events not written yet ({}); retrying", batch.size(),
                    written.ToString());
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      absl::MutexLock lock(&mu_);
      if (stop_) {
        spdlog::error("audit: stopping with {} events not written", queue_.size());
        written_ = recorded_;
        return;
      }
      continue;
    }
    backoff = absl::Milliseconds(10);
    if (jsonl_ != nullptr) {
      google::protobuf::util::JsonPrintOptions json;
      json.preserve_proto_field_names = true;
      for (const dr::v1::AuditEvent& e : batch) {
        std::string line;
        if (google::protobuf::util::MessageToJsonString(e, &line, json).ok()) {
          std::fprintf(jsonl_, "%s\n", line.c_str());
        }
      }
      std::fflush(jsonl_);
    }
    absl::MutexLock lock(&mu_);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    written_ += batch.size();
  }
}

}  // namespace server
}  // namespace hvdr
