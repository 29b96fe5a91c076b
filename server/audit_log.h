// The audit trail's writer: events of mutating calls (accepted or
// refused) are queued without blocking the caller and appended to the
// store by one thread (AuditStore::AppendAuditEvents), each commit taking
// what queued during the previous one (group commit, no added wait), then, if
// configured, to a JSON-lines file for a SIEM. An event that cannot be
// written (disk full) is kept and retried; nothing queued is dropped.
#ifndef HVDR_SERVER_AUDIT_LOG_H_
#define HVDR_SERVER_AUDIT_LOG_H_

#include <cstdio>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "dr/v1/audit_service.pb.h"
#include "storage/audit_store.h"

namespace hvdr {
namespace server {

class AuditLog {
 public:
  struct Options {
    // "" : no file. Opened for append; one JSON object per line.
    std::string jsonl_path;
  };
  // `store` is not owned and must outlive this.
  AuditLog(AuditStore* store, const Options& options);
  // Writes what is queued, then stops.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Queues `event`; never blocks on I/O. `durable` (may be null) runs on
  // the log's thread once the event is in the store, or once its batch's
  // first write failed (the event is kept and retried; a call is not held
  // for a full disk).
  void Record(dr::v1::AuditEvent event, std::function<void()> durable = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // An event already in the store (written with a job's creation,
  // WriteOp::audit): only copied to the JSON-lines file, if there is one.
  void Mirror(dr::v1::AuditEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once every event recorded before the call is durable (or the
  // log stopped).
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  AuditStore* const store_;
  const Options options_;
  std::FILE* jsonl_ = nullptr;  // only the loop's thread writes it
  absl::Mutex mu_;
  struct Queued {
    dr::v1::AuditEvent event;
    std::function<void()> durable;
    bool stored = false;  // Mirror(): in the store already
  };
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t recorded_ ABSL_GUARDED_BY(mu_) = 0;  // events ever queued
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;   // events ever made durable
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_AUDIT_LOG_H_
