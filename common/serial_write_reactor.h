// A gRPC server reactor (server-streaming or bidirectional) that writes one
// message at a time and can be closed from any thread: a Close() that
// arrives while a write is in flight takes effect when that write completes
// (gRPC allows one write in flight and no Finish before it is done).
// Subclasses own their queue and decide what to write next.
//
// Thread-safe: every method takes mu_, which subclasses also use for their
// own state.
#ifndef HVDR_COMMON_SERIAL_WRITE_REACTOR_H_
#define HVDR_COMMON_SERIAL_WRITE_REACTOR_H_

#include <memory>

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hvdr {

// `Reactor` is grpc::ServerWriteReactor<Message> or
// grpc::ServerBidiReactor<Request, Message>.
template <typename Reactor, typename Message>
class SerialWriter : public Reactor {
 public:
  // Ends the stream with `status` (once; later calls do nothing).
  void Close(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

 protected:
  // Starts writing `message`, which must stay valid until OnWriteDone.
  // REQUIRES: no write in flight.
  void WriteLocked(const Message* message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    this->StartWrite(message);
  }

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    if (writing_) {
      pending_finish_ = std::make_unique<grpc::Status>(status);
    } else {
      this->Finish(status);
    }
  }

  // Call first in OnWriteDone, with mu_ held. Returns false when the stream
  // is over (a Close waited for this write, or the write failed): the caller
  // writes nothing more.
  bool WriteDoneLocked(bool ok) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = false;
    if (pending_finish_ != nullptr) {
      this->Finish(*pending_finish_);
      pending_finish_.reset();
      return false;
    }
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
      return false;
    }
    return !finished_;
  }

  bool writing() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return writing_; }
  bool finished() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_; }

  absl::Mutex mu_;

 private:
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

template <typename Message>
using SerialWriteReactor = SerialWriter<grpc::ServerWriteReactor<Message>, Message>;

}  // namespace hvdr

#endif  // HVDR_COMMON_SERIAL_WRITE_REACTOR_H_
