#include "server/dispatcher.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"
#include "storage/refusal.h"

namespace hvdr {
namespace server {

using dr::v1::AgentJobStatus;

// One agent's RunJobs stream. Requests queued while a write is in flight
// go out together in the next one.
class Dispatcher::Session final
    : public grpc::ClientBidiReactor<dr::v1::RunJobsRequest, dr::v1::RunJobsResponse> {
 public:
  Session(Dispatcher* dispatcher, std::string address,
          std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub)
      : dispatcher_(dispatcher), address_(std::move(address)), stub_(std::move(stub)) {}

  // Opens the stream. Call once, without the dispatcher's lock; `self` keeps
  // this alive until OnDone.
  void Start(std::shared_ptr<Session> self) {
    self_ = std::move(self);
    stub_->async()->RunJobs(&context_, this);
    // Writes start outside reactions (from Send): the hold keeps the call
    // alive for them until the read side fails (OnReadDone(false)).
    AddHold();
    StartRead(&in_);
    {
      absl::MutexLock lock(&mu_);
      started_ = true;
      MaybeWriteLocked();
    }
    StartCall();
  }

  // Queues `job`. False when the stream is over (OnSessionDone retries the
  // jobs sent on it).
  bool Send(dr::v1::AgentJobRequest job) {
    absl::MutexLock lock(&mu_);
    if (done_) return false;
    *pending_.add_jobs() = std::move(job);
    MaybeWriteLocked();
    return true;
  }

  void Cancel() { context_.TryCancel(); }
  const std::string& address() const { return address_; }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) MaybeWriteLocked();  // else the read fails too and OnDone follows
  }

  // The agent answered the stream (it sends its metadata at once; older
  // agents with their first status).
  void OnReadInitialMetadataDone(bool ok) override {
    if (ok) dispatcher_->OnSessionUp(this);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the stream is over: no more writes; OnDone follows
      {
        absl::MutexLock lock(&mu_);
        done_ = true;
      }
      RemoveHold();
      return;
    }
    for (const dr::v1::AgentJobStatus& status : in_.statuses()) dispatcher_->OnStatus(status);
    for (const dr::v1::AgentJobRefusal& refusal : in_.refusals()) dispatcher_->OnRefused(refusal);
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    std::shared_ptr<Session> self = std::move(self_);
    dispatcher_->OnSessionDone(this, status);
  }  // `self` may be the last reference: nothing touches this after here

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_ || writing_ || done_ || pending_.jobs().empty()) return;
    out_.Clear();
    out_.Swap(&pending_);
    writing_ = true;
    StartWrite(&out_);
  }

  Dispatcher* const dispatcher_;
  const std::string address_;
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub_;
  std::shared_ptr<Session> self_;
  grpc::ClientContext context_;
  dr::v1::RunJobsResponse in_;  // owned by the read in flight
  absl::Mutex mu_;
  dr::v1::RunJobsRequest out_ ABSL_GUARDED_BY(mu_);      // the write in flight
  dr::v1::RunJobsRequest pending_ ABSL_GUARDED_BY(mu_);  // the next write
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

namespace {

bool Retriable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OK:  // the stream ended before the job did
      return true;
    default: return false;
  }
}

}  // namespace

Dispatcher::Dispatcher(Store* store, AgentStubFactory* agents, JobWriter* writer, Clock* clock,
                       const Options& options)
    : store_(store), agents_(agents), writer_(writer), clock_(clock), options_(options) {
  // A status the store refused because it has ended the job (abandoned,
  // reconciled): the store is the truth, so the job is no longer driven.
  // Terminal statuses learn it from their own callback; this is for the
  // others, which have none (a callback would stop the writer coalescing).
  writer_->SetRefusedListener([this](const std::string& job, const absl::Status& refusal) {
    if (RefusalOf(refusal).kind != Refusal::kJobEnded) return;
    spdlog::info("{}: the store has ended it; no longer driven", job);
    Ended(job, refusal);  // not the job's end as stored: no end listener
  });
}

Dispatcher::~Dispatcher() { Shutdown(); }

int Dispatcher::ActiveJobsForTest() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(jobs_.size());
}

void Dispatcher::Dispatch(const dr::v1::Job& job, const std::string& address,
                          const std::string& operation) {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_ || jobs_.count(job.name()) != 0) return;
    Tracked& t = jobs_[job.name()];
    t.type = job.type();
    t.host = job.host();
    t.backoff = options_.initial_backoff;
    t.unknown_reported = job.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN;
    t.address = address;
    t.operation = operation;
  }
  Send(job.name());
}

void Dispatcher::Send(const std::string& job) {
  dr::v1::JobType type;
  std::string host_name, address, operation;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job);
    if (shutting_down_ || it == jobs_.end()) return;
    type = it->second.type;
    host_name = it->second.host;
    // Known from the request only for the first send.
    address = std::move(it->second.address);
    operation = std::move(it->second.operation);
    it->second.address.clear();
    it->second.operation.clear();
  }
  absl::Status lookup;
  if (address.empty() || operation.empty()) {
    absl::StatusOr<dr::v1::Host> host = store_->GetHost(host_name);
    absl::StatusOr<std::string> stored = store_->GetJobOperation(job);
    lookup = !host.ok() ? host.status() : stored.status();
    if (lookup.ok()) {
      address = host->agent_address();
      operation = *std::move(stored);
    }
  }
  absl::StatusOr<dr::v1::AgentJobRequest> request =
      operation.empty() ? absl::FailedPreconditionError("the job has no stored agent request")
                        : ToAgentJobRequest(type, operation);
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job);
  if (shutting_down_ || it == jobs_.end() || it->second.ending) return;
  Tracked& t = it->second;
  if (!lookup.ok()) {
    RetryLocked(job, t, absl::StrCat("cannot read the job's host or request: ", lookup.ToString()));
    return;
  }
  if (!request.ok()) {
    FailLocked(job, t, dr::v1::RETURN_CODE_FAILED, std::string(request.status().message()));
    return;
  }
  t.agent = address;
  std::shared_ptr<Session> fresh = OpenLocked(address);
  auto slot = sessions_.find(address);
  if (slot == sessions_.end()) {
    FailLocked(job, t, dr::v1::RETURN_CODE_FAILED, "agent stub has no callback interface");
    return;
  }
  std::shared_ptr<Session> session = slot->second;
  t.session = session.get();
  // gRPC calls without the lock: reactions may run on other threads at once.
  mu_.Unlock();
  if (fresh != nullptr) fresh->Start(fresh);
  // False: the stream is over and OnSessionDone retries the job (it was
  // marked as sent on this stream above).
  session->Send(*std::move(request));
  mu_.Lock();
}

void Dispatcher::OnStatus(const AgentJobStatus& status) {
  const std::string& job = status.job_id();
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job);
  if (it == jobs_.end() || it->second.ending) return;
  Tracked& t = it->second;
  if (t.unknown_reported) {
    spdlog::info("{}: agent at {} answers again; reconciling", job, t.agent);
  }
  const bool was_unknown = t.unknown_reported;
  t.first_failure = absl::InfinitePast();
  t.backoff = options_.initial_backoff;
  t.unknown_reported = false;
  if (t.deadline != nullptr) t.deadline->Cancel();
  // Nothing but (maybe) the percent differs from the last status, and it
  // answers no 32771.
  const bool same_but_percent = !was_unknown && !status.terminal() &&
                                !status.has_virtual_machine() && status.state() == t.last_state &&
                                status.return_code() == t.last_return_code &&
                                status.error_code() == t.last_error_code;
  // The same status again (the agent re-sends a job's status when it is
  // sent again on a new stream) changes nothing.
  if (same_but_percent && status.percent_complete() == t.last_percent) return;
  t.last_state = status.state();
  t.last_percent = status.percent_complete();
  t.last_return_code = status.return_code();
  t.last_error_code = status.error_code();
  // Every status is written: the store compares it with the stored row (a
  // re-attached job's status behind it keeps the stored state; an answer
  // after 32771 clears it).
  JobUpdate u;
  u.job = job;
  u.state = status.state();
  u.percent_complete = status.percent_complete();
  u.return_code = status.return_code();
  u.error_code = status.error_code();
  u.error_summary = status.error_summary();
  u.error_description = status.error_description();
  u.start_time = FromProto(status.start_time());
  u.end_time = FromProto(status.end_time());
  u.event_time = clock_->Now();
  u.keep_state_if_behind = true;
  u.message = !status.outcome_note().empty() ? status.outcome_note()
              : status.terminal()
                  ? absl::StrCat(dr::v1::JobState_Name(status.state()), " on the hypervisor")
                  : "";
  if (!IsValidReturnCode(static_cast<uint32_t>(status.return_code()))) {
    // An agent's bug: recorded as the failure it is, saying what it sent.
    spdlog::error("{}: agent at {} reported return code {}, which Hyper-V does not define", job,
                  t.agent, static_cast<int>(status.return_code()));
    u.return_code = dr::v1::RETURN_CODE_FAILED;
    u.message =
        absl::StrCat("the agent reported return code ", static_cast<int>(status.return_code()),
                     ", which Hyper-V does not define; recorded as 32768 (Failed)");
  }
  if (status.has_virtual_machine()) {
    u.has_vm_state = true;
    u.vm_state = status.virtual_machine();
  }
  // Only the percent moved (and nothing to note): the writer may hold it.
  if (same_but_percent && u.message.empty()) {
    writer_->SubmitProgress(std::move(u));
    return;
  }
  if (!status.terminal()) {
    writer_->Submit(std::move(u), nullptr);
    return;
  }
  spdlog::info("{}: {} (return code {}, error {} {})", job, dr::v1::JobState_Name(status.state()),
               static_cast<int>(status.return_code()), status.error_code(), status.error_summary());
  // Done once durable: the writer retries until it is; until then the job
  // stays here, so nothing re-sends or re-reports it meanwhile.
  t.ending = true;
  if (t.alarm != nullptr) t.alarm->Cancel();
  writer_->Submit(std::move(u), [this, job](const absl::StatusOr<dr::v1::Job>& stored) {
    if (!stored.ok()) {
      spdlog::warn("{}: terminal status not recorded: {}", job, stored.status().ToString());
    }
    Ended(job, stored);
  });
}

void Dispatcher::OnRefused(const dr::v1::AgentJobRefusal& refusal) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(refusal.job_id());
  if (it == jobs_.end() || it->second.ending) return;
  Tracked& t = it->second;
  const auto code = static_cast<grpc::StatusCode>(refusal.code());
  if (shutting_down_) return;
  if (refusal.code() == 0 || Retriable(code)) {
    RetryLocked(refusal.job_id(), t, absl::StrCat("agent at ", t.agent, ": ", refusal.message()));
    return;
  }
  const dr::v1::ReturnCode rc = refusal.detail().return_code() != dr::v1::RETURN_CODE_COMPLETED
                                    ? refusal.detail().return_code()
                                    : dr::v1::RETURN_CODE_FAILED;
  FailLocked(refusal.job_id(), t, rc,
             absl::StrCat("agent at ", t.agent, " refused the job: ", refusal.message()));
}

void Dispatcher::OnSessionDone(Session* session, const grpc::Status& status) {
  const std::string address = session->address();
  bool went_down = false;
  Link link;
  {
    absl::MutexLock lock(&mu_);
    --live_sessions_;
    auto slot = sessions_.find(address);
    if (slot != sessions_.end() && slot->second.get() == session) sessions_.erase(slot);
    if (shutting_down_) return;
    const std::string error =
        status.error_message().empty() ? "stream ended" : status.error_message();
    auto kept = kept_.find(address);
    if (kept != kept_.end()) {
      if (kept->second.link.state != Link::State::kDown) {
        kept->second.link = Link{Link::State::kDown, clock_->Now(),
                                 absl::StrCat("agent at ", address, ": ", error)};
        link = kept->second.link;
        went_down = true;
        spdlog::warn("agent at {}: down ({})", address, error);
      }
      ScheduleReconnectLocked(address);
    }
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      // An hvagent older than RunJobs: retrying cannot help.
      const std::string why = absl::StrCat("agent at ", address,
                                           " does not serve HostAgentService.RunJobs (an older "
                                           "hvagent): upgrade it, then run the job again");
      std::vector<std::string> failed;
      for (auto& [job, t] : jobs_) {
        if (t.session == session && !t.ending) failed.push_back(job);
      }
      for (const std::string& job : failed) {
        FailLocked(job, jobs_[job], dr::v1::RETURN_CODE_NOT_SUPPORTED, why);
      }
    } else {
      const std::string why =
          absl::StrCat("agent at ", address, ": ",
                       status.error_message().empty() ? "stream ended before the job did"
                                                      : status.error_message());
      int retried = 0;
      for (auto& [job, t] : jobs_) {
        if (t.session != session) continue;
        t.session = nullptr;
        if (t.ending) continue;
        RetryLocked(job, t, why);
        ++retried;
      }
      if (retried > 0) {
        spdlog::warn("agent at {}: stream ended ({}); {} jobs will be sent again", address,
                     status.error_message(), retried);
      }
    }
  }
  if (went_down) NotifyLink(address, link);
}

void Dispatcher::OnSessionUp(Session* session) {
  const std::string address = session->address();
  Link link;
  {
    absl::MutexLock lock(&mu_);
    auto kept = kept_.find(address);
    if (shutting_down_ || kept == kept_.end()) return;
    kept->second.backoff = options_.initial_backoff;
    if (kept->second.link.state == Link::State::kUp) return;
    kept->second.link = Link{Link::State::kUp, clock_->Now(), ""};
    link = kept->second.link;
  }
  spdlog::info("agent at {}: up", address);
  NotifyLink(address, link);
}

void Dispatcher::NotifyLink(const std::string& address, const Link& link) {
  if (link_listener_) link_listener_(address, link);
}

void Dispatcher::SetLinkListener(LinkListener listener) { link_listener_ = std::move(listener); }

std::shared_ptr<Dispatcher::Session> Dispatcher::OpenLocked(const std::string& address) {
  if (sessions_.count(address) != 0) return nullptr;
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub = agents_->Get(address);
  if (stub->async() == nullptr) return nullptr;
  auto fresh = std::make_shared<Session>(this, address, std::move(stub));
  sessions_[address] = fresh;
  ++live_sessions_;
  return fresh;
}

void Dispatcher::KeepConnected(const std::string& address) {
  std::shared_ptr<Session> fresh;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_ || kept_.count(address) != 0) return;
    kept_[address].backoff = options_.initial_backoff;
    fresh = OpenLocked(address);
  }
  if (fresh != nullptr) fresh->Start(fresh);
}

void Dispatcher::Forget(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto kept = kept_.find(address);
  if (kept == kept_.end()) return;
  if (kept->second.reconnect != nullptr) kept->second.reconnect->Cancel();
  // The alarm's callback finds the address gone; the entry goes with it.
  kept_.erase(kept);
}

Dispatcher::Link Dispatcher::AgentLink(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto kept = kept_.find(address);
  return kept == kept_.end() ? Link() : kept->second.link;
}

void Dispatcher::ScheduleReconnectLocked(const std::string& address) {
  Kept& k = kept_[address];
  const absl::Duration wait = k.backoff;
  k.backoff = std::min(k.backoff * 2, options_.max_link_backoff);
  k.reconnect = std::make_unique<grpc::Alarm>();
  ++pending_alarms_;
  k.reconnect->Set(absl::ToChronoTime(clock_->Now() + wait), [this, address](bool fired) {
    std::shared_ptr<Session> fresh;
    {
      absl::MutexLock lock(&mu_);
      --pending_alarms_;
      if (!fired || shutting_down_ || kept_.count(address) == 0) return;
      fresh = OpenLocked(address);
    }
    if (fresh != nullptr) fresh->Start(fresh);
  });
}

void Dispatcher::Drop(const dr::v1::Job& ended) { Ended(ended.name(), ended); }

void Dispatcher::Ended(const std::string& job, const absl::StatusOr<dr::v1::Job>& stored) {
  {
    absl::MutexLock lock(&mu_);
    jobs_.erase(job);  // its alarms, if any, are cancelled with it
  }
  if (stored.ok() && job_end_listener_) job_end_listener_(*stored);
}

void Dispatcher::SetJobEndListener(JobEndListener listener) {
  job_end_listener_ = std::move(listener);
}

void Dispatcher::ReportUnknownLocked(const std::string& job, Tracked& t, const std::string& why) {
  t.unknown_reported = true;
  JobUpdate u;
  u.job = job;
  // The stored state and progress stay as they are: only the return code
  // and the error say that the outcome is unknown.
  u.state = dr::v1::JOB_STATE_NEW;
  u.keep_state_if_behind = true;
  u.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
  u.error_summary = std::string(ReturnCodeText(dr::v1::RETURN_CODE_STATUS_UNKNOWN));
  u.error_description =
      absl::StrCat(why, " (unreachable since ",
                   absl::FormatTime(absl::RFC3339_sec, t.first_failure, absl::UTCTimeZone()),
                   "); the outcome will be read from the agent when it answers");
  u.event_time = clock_->Now();
  u.message = "agent unreachable: status unknown";
  spdlog::error("{}: status unknown: {}", job, u.error_description);
  writer_->Submit(std::move(u), nullptr);
}

void Dispatcher::RetryLocked(const std::string& job, Tracked& t, const std::string& why) {
  const absl::Time now = clock_->Now();
  if (t.first_failure == absl::InfinitePast()) {
    t.first_failure = now;
    t.failure = why;
    spdlog::warn("{}: {}; retrying", job, why);
    // 32771 exactly retry_deadline after the first failure, whatever the
    // retries are doing then (a connection attempt may hang).
    const absl::Time first = t.first_failure;
    t.deadline = std::make_unique<grpc::Alarm>();
    ++pending_alarms_;
    t.deadline->Set(absl::ToChronoTime(first + options_.retry_deadline),
                    [this, job, first](bool fired) {
                      absl::MutexLock lock(&mu_);
                      --pending_alarms_;
                      if (!fired || shutting_down_) return;
                      auto it = jobs_.find(job);
                      if (it == jobs_.end() || it->second.ending ||
                          it->second.first_failure != first || it->second.unknown_reported) {
                        return;
                      }
                      ReportUnknownLocked(job, it->second, it->second.failure);
                    });
  }
  t.backoff = std::min(t.backoff * 2, options_.max_backoff);
  t.alarm = std::make_unique<grpc::Alarm>();
  ++pending_alarms_;
  t.alarm->Set(absl::ToChronoTime(now + t.backoff), [this, job](bool fired) {
    {
      absl::MutexLock lock(&mu_);
      --pending_alarms_;
      if (!fired || shutting_down_) return;
    }
    Send(job);
  });
}

void Dispatcher::FailLocked(const std::string& job, Tracked& t, dr::v1::ReturnCode code,
                            const std::string& why) {
  spdlog::error("{}: failed: {}", job, why);
  JobUpdate u;
  u.job = job;
  u.state = dr::v1::JOB_STATE_EXCEPTION;
  u.return_code = code;
  u.error_code = static_cast<uint32_t>(code);
  u.error_summary = std::string(ReturnCodeText(code));
  u.error_description = why;
  u.event_time = clock_->Now();
  u.end_time = u.event_time;
  u.message = "refused";
  t.ending = true;
  if (t.alarm != nullptr) t.alarm->Cancel();
  if (t.deadline != nullptr) t.deadline->Cancel();
  writer_->Submit(std::move(u),
                  [this, job](const absl::StatusOr<dr::v1::Job>& stored) { Ended(job, stored); });
}

absl::StatusOr<dr::v1::Job> Dispatcher::Cancel(const dr::v1::Job& job) {
  absl::StatusOr<dr::v1::Host> host = store_->GetHost(job.host());
  if (!host.ok()) return host.status();
  auto stub = agents_->Get(host->agent_address());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.cancel_timeout));
  dr::v1::HostAgentServiceCancelJobRequest request;
  request.set_job_id(job.name());
  AgentJobStatus response;
  grpc::Status status = stub->CancelJob(&context, request, &response);
  if (!status.ok()) {
    absl::Status s = FromGrpcStatus(status, &context);
    if (s.code() == absl::StatusCode::kUnavailable ||
        s.code() == absl::StatusCode::kDeadlineExceeded) {
      return HyperVError(dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, "name", "AGENT_UNREACHABLE",
                         absl::StrCat("agent at ", host->agent_address(), ": ", s.message()));
    }
    // The agent names its own field (job_id) and the hypervisor's job id:
    // say it in the API's terms, the request's `name` and the job's name.
    dr::v1::ErrorDetail detail = ErrorDetailOf(s);
    return Restated(
        s, "name", "",
        absl::StrCat(job.name(), " cannot be cancelled: ", ReturnCodeText(detail.return_code()),
                     detail.reason().empty() ? "" : absl::StrCat(" (", detail.reason(), ")"),
                     ", answered the agent of ", job.host()));
  }
  spdlog::info("{}: cancel accepted by the agent", job.name());
  writer_->Flush();
  return store_->GetJob(job.name());
}

void Dispatcher::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (auto& [address, session] : sessions_) session->Cancel();
  for (auto& [name, t] : jobs_) {
    if (t.alarm != nullptr) t.alarm->Cancel();
    if (t.deadline != nullptr) t.deadline->Cancel();
  }
  for (auto& [address, k] : kept_) {
    if (k.reconnect != nullptr) k.reconnect->Cancel();
  }
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return live_sessions_ == 0 && pending_alarms_ == 0;
  };
  mu_.Await(absl::Condition(&idle));
}

}  // namespace server
}  // namespace hvdr
