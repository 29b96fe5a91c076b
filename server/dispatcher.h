// Runs accepted jobs on their agents. One long-lived RunJobs stream per
// agent carries all of that agent's jobs (callback API: no thread per
// stream; requests and statuses travel in batches, so a whole-site failover
// costs a few messages per agent rather than one call per VM); every status
// the agent streams is handed to the JobWriter (persisted, then fanned out).
// When an agent's stream breaks, each of its unfinished jobs is sent again,
// after exponential backoff, on a new stream: the job id is the agent's
// idempotency key, so this re-attaches and never starts the operation twice.
// A job the agent refuses is failed with the agent's return code, unless the
// refusal is transient (then it is retried like a broken stream). When the
// agent cannot be reached for retry_deadline, the job is recorded with
// return code 32771 (status unknown) - never completed or failed on a guess
// - and retries go on until the agent answers, which reconciles the job.
//
// Thread-safe. The dispatcher's lock is never held across a network call.
#ifndef HVDR_SERVER_DISPATCHER_H_
#define HVDR_SERVER_DISPATCHER_H_

#include <map>
#include <memory>
#include <string>

#include <grpcpp/alarm.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "server/agent_client.h"
#include "server/job_writer.h"
#include "storage/store.h"

namespace hvdr {
namespace server {

class Dispatcher {
 public:
  struct Options {
    absl::Duration retry_deadline = absl::Seconds(30);
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
    absl::Duration cancel_timeout = absl::Seconds(10);
  };

  // Not owned; must outlive the dispatcher.
  Dispatcher(Store* store, AgentStubFactory* agents, JobWriter* writer, Clock* clock,
             const Options& options);
  ~Dispatcher();

  // Starts driving `job` (stored, with its operation). A job already being
  // driven is left alone. `address` and `operation`, when given, spare the
  // first send two reads of the store.
  void Dispatch(const dr::v1::Job& job, const std::string& address = "",
                const std::string& operation = "");
  // Asks the job's agent to cancel it. FAILED_PRECONDITION (32775) when the
  // job is terminal or cannot be cancelled.
  absl::StatusOr<dr::v1::Job> Cancel(const dr::v1::Job& job);
  // Ends every stream (jobs go on in their hypervisors and are re-attached
  // at the next start) and waits for them to finish.
  void Shutdown();
  int ActiveJobs();

 private:
  class Session;
  struct Tracked {
    dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
    std::string host;
    // What was last submitted for persistence.
    dr::v1::JobState state = dr::v1::JOB_STATE_NEW;
    uint32_t percent = 0;
    dr::v1::ReturnCode return_code = dr::v1::RETURN_CODE_JOB_STARTED;
    uint32_t error_code = 0;
    absl::Time first_failure = absl::InfinitePast();
    absl::Duration backoff;
    bool unknown_reported = false;
    Session* session = nullptr;  // the stream the job was last sent on
    std::unique_ptr<grpc::Alarm> alarm;
    std::string address;    // known at first dispatch; read again on retries
    std::string operation;  // likewise
    std::string agent;      // the agent the job was last sent to (for messages)
  };

  // Sends the job to its agent's stream (opening one if needed).
  void Send(const std::string& job) ABSL_LOCKS_EXCLUDED(mu_);
  void OnStatus(const dr::v1::AgentJobStatus& status) ABSL_LOCKS_EXCLUDED(mu_);
  void OnRefused(const dr::v1::AgentJobRefusal& refusal) ABSL_LOCKS_EXCLUDED(mu_);
  // The stream ended: its unfinished jobs are retried.
  void OnSessionDone(Session* session, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // A retry after backoff; records 32771 once retry_deadline has passed.
  void RetryLocked(const std::string& job, Tracked& t, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the job as failed with `code` (the agent refused it for good).
  void FailLocked(const std::string& job, Tracked& t, dr::v1::ReturnCode code,
                  const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  AgentStubFactory* const agents_;
  JobWriter* const writer_;
  Clock* const clock_;
  const Options options_;

  absl::Mutex mu_;
  std::map<std::string, Tracked> jobs_ ABSL_GUARDED_BY(mu_);
  // The open stream of each agent, by address.
  std::map<std::string, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  int live_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  int pending_alarms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_DISPATCHER_H_
