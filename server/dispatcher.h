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
// agent cannot be reached for retry_deadline (a timer from the first
// failure, so a connection attempt that hangs does not delay it), the job is
// recorded with return code 32771 (status unknown) - never completed or
// failed on a guess - and retries go on until the agent answers, which
// reconciles the job.
//
// The store is the one truth about a job: the dispatcher keeps only what it
// needs to drive it (where to send it, retry timers), never a copy of its
// state. Every status is written with keep_state_if_behind, so the store
// decides from the stored row; a job is dropped from the dispatcher only
// once its terminal status is durable.
//
// Live reachability: the dispatcher keeps a RunJobs stream open to every
// agent it is asked to (KeepConnected: every registered host), jobs or
// not, and reconnects with backoff when it breaks. An agent is up from the
// moment its stream is established (the agent answers it at once) and down
// from the moment it breaks; HTTP/2 keepalive on the agent channels
// (ChannelAgentStubFactory) breaks the stream of a hung agent or a silent
// network partition within a bounded time. AgentLink() answers from this
// state, so a request for a host whose agent just died is refused at once
// and a host whose agent is back is usable at once.
//
// Thread-safe. The dispatcher's lock is never held across a network call.
#ifndef HVDR_SERVER_DISPATCHER_H_
#define HVDR_SERVER_DISPATCHER_H_

#include <functional>
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
    // Reconnection of a kept agent stream without jobs.
    absl::Duration max_link_backoff = absl::Seconds(1);
  };

  // What the live stream says of an agent.
  struct Link {
    enum class State { kUnknown, kUp, kDown };
    State state = State::kUnknown;  // kUnknown: not kept, or never connected yet
    absl::Time since = absl::InfinitePast();
    std::string error;  // why it is down
  };
  // Called (without the dispatcher's lock, on a gRPC thread: must not block)
  // when a kept agent's link goes up or down.
  using LinkListener = std::function<void(const std::string& address, const Link& link)>;

  // Not owned; must outlive the dispatcher.
  Dispatcher(Store* store, AgentStubFactory* agents, JobWriter* writer, Clock* clock,
             const Options& options);
  ~Dispatcher();

  // Starts driving `job` (stored, with its operation). A job already being
  // driven is left alone. `address` and `operation`, when given, spare the
  // first send two reads of the store.
  void Dispatch(const dr::v1::Job& job, const std::string& address = "",
                const std::string& operation = "");
  // Keeps a stream open to the agent at `address` (reconnecting with
  // backoff) until Forget(address).
  void KeepConnected(const std::string& address);
  void Forget(const std::string& address);
  Link AgentLink(const std::string& address);
  // Set before the first KeepConnected.
  void SetLinkListener(LinkListener listener);
  // `ended` (e.g. abandoned by an operator) is terminal in the store: stop
  // driving it (no more sends, retries or 32771 reports) and tell the job-end
  // listener.
  void Drop(const dr::v1::Job& ended);
  // Called (on the writer's completion thread: must not block) with each
  // job once its terminal state is durable. Set before the first Dispatch.
  using JobEndListener = std::function<void(const dr::v1::Job& job)>;
  void SetJobEndListener(JobEndListener listener);

  // Asks the job's agent to cancel it. FAILED_PRECONDITION (32775) when the
  // job is terminal or cannot be cancelled.
  absl::StatusOr<dr::v1::Job> Cancel(const dr::v1::Job& job);
  // Ends every stream (jobs go on in their hypervisors and are re-attached
  // at the next start) and waits for them to finish.
  void Shutdown();
  // Test hook: jobs the dispatcher still drives (not yet durably terminal).
  int ActiveJobsForTest();

 private:
  class Session;
  struct Tracked {
    dr::v1::JobType type = dr::v1::JOB_TYPE_UNSPECIFIED;
    std::string host;
    // Retry bookkeeping of the current failure episode (not job state).
    absl::Time first_failure = absl::InfinitePast();
    absl::Duration backoff;
    bool unknown_reported = false;
    std::string failure;  // why the current episode began
    // The agent's last status as received (to skip repeats of it; the
    // job's state is the store's): state, percent, return and error code.
    int last_state = -1;
    uint32_t last_percent = 0;
    int last_return_code = -1;
    uint32_t last_error_code = 0;
    // The terminal status was received and is being made durable: nothing
    // more to send or retry.
    bool ending = false;
    Session* session = nullptr;  // the stream the job was last sent on
    std::unique_ptr<grpc::Alarm> alarm;
    std::unique_ptr<grpc::Alarm> deadline;  // reports 32771 at first_failure + retry_deadline
    std::string address;                    // known at first dispatch; read again on retries
    std::string operation;                  // likewise
    std::string agent;                      // the agent the job was last sent to (for messages)
  };

  // Sends the job to its agent's stream (opening one if needed).
  void Send(const std::string& job) ABSL_LOCKS_EXCLUDED(mu_);
  void OnStatus(const dr::v1::AgentJobStatus& status) ABSL_LOCKS_EXCLUDED(mu_);
  void OnRefused(const dr::v1::AgentJobRefusal& refusal) ABSL_LOCKS_EXCLUDED(mu_);
  // The stream ended: its unfinished jobs are retried.
  void OnSessionDone(Session* session, const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // The agent answered the stream.
  void OnSessionUp(Session* session) ABSL_LOCKS_EXCLUDED(mu_);
  // Opens a session to `address` if none is open. Returns the fresh session
  // to Start() once the lock is released (null when one was open).
  std::shared_ptr<Session> OpenLocked(const std::string& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleReconnectLocked(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportUnknownLocked(const std::string& job, Tracked& t, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyLink(const std::string& address, const Link& link) ABSL_LOCKS_EXCLUDED(mu_);
  // `job` is over (its terminal status `stored`, or the error that refused
  // it): no longer driven; the job-end listener hears of a stored end.
  void Ended(const std::string& job, const absl::StatusOr<dr::v1::Job>& stored)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A retry after backoff; the first failure of an episode also sets the
  // timer that records 32771 once retry_deadline has passed.
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
  struct Kept {
    Link link;
    absl::Duration backoff;
    std::unique_ptr<grpc::Alarm> reconnect;
  };
  std::map<std::string, Kept> kept_ ABSL_GUARDED_BY(mu_);
  LinkListener link_listener_;       // set before the first KeepConnected
  JobEndListener job_end_listener_;  // set before the first Dispatch
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  int live_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  int pending_alarms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace hvdr

#endif  // HVDR_SERVER_DISPATCHER_H_
