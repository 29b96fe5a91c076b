#include "server/dispatcher.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace server {

using dr::v1::AgentJobStatus;

class Dispatcher::Stream final : public grpc::ClientReadReactor<AgentJobStatus> {
 public:
  Stream(Dispatcher* dispatcher, std::string job,
         std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub)
      : dispatcher_(dispatcher), job_(std::move(job)), stub_(std::move(stub)) {}

  absl::Status Start(dr::v1::JobType type, const std::string& operation) {
    auto request = StartAgentCall(stub_->async(), type, operation, &context_, this);
    if (!request.ok()) return request.status();
    request_ = *std::move(request);
    StartRead(&status_);
    StartCall();
    return absl::OkStatus();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    if (status_.terminal()) got_terminal_ = true;
    dispatcher_->OnStatus(job_, status_);
    StartRead(&status_);
  }
  void OnDone(const grpc::Status& status) override {
    dispatcher_->OnStreamDone(job_, status, got_terminal_, &context_);
    delete this;
  }

 private:
  Dispatcher* const dispatcher_;
  const std::string job_;
  std::shared_ptr<dr::v1::HostAgentService::StubInterface> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<google::protobuf::Message> request_;
  AgentJobStatus status_;
  bool got_terminal_ = false;
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
    case grpc::StatusCode::OK:  // the stream ended without a terminal status
      return true;
    default:
      return false;
  }
}

}  // namespace

Dispatcher::Dispatcher(Store* store, AgentStubFactory* agents, JobWriter* writer, Clock* clock,
                       const Options& options)
    : store_(store), agents_(agents), writer_(writer), clock_(clock), options_(options) {}

Dispatcher::~Dispatcher() { Shutdown(); }

int Dispatcher::ActiveJobs() {
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
    t.state = job.state();
    t.percent = job.percent_complete();
    t.return_code = job.return_code();
    t.error_code = job.error_code();
    t.backoff = options_.initial_backoff;
    t.unknown_reported = job.return_code() == dr::v1::RETURN_CODE_STATUS_UNKNOWN;
    t.agent = address;
    t.operation = operation;
  }
  StartStream(job.name());
}

void Dispatcher::StartStream(const std::string& job) {
  dr::v1::JobType type;
  std::string host_name, address, operation;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job);
    if (shutting_down_ || it == jobs_.end()) return;
    type = it->second.type;
    host_name = it->second.host;
    // Known from the request only for the first stream.
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
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job);
  if (shutting_down_ || it == jobs_.end()) return;
  Tracked& t = it->second;
  if (!lookup.ok()) {
    RetryLocked(job, t, absl::StrCat("cannot read the job's host or request: ", lookup.ToString()));
    return;
  }
  if (operation.empty()) {
    FailLocked(job, t, dr::v1::RETURN_CODE_FAILED, "the job has no stored agent request");
    return;
  }
  t.agent = address;
  auto* stream = new Stream(this, job, agents_->Get(address));
  t.stream = stream;
  ++live_streams_;
  // Started without the lock: gRPC may run reactions on this thread.
  mu_.Unlock();
  absl::Status started = stream->Start(type, operation);
  mu_.Lock();
  if (!started.ok()) {
    --live_streams_;
    delete stream;
    auto again = jobs_.find(job);
    if (again != jobs_.end()) {
      again->second.stream = nullptr;
      FailLocked(job, again->second, dr::v1::RETURN_CODE_FAILED, std::string(started.message()));
    }
  }
}

void Dispatcher::OnStatus(const std::string& job, const AgentJobStatus& status) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  Tracked& t = it->second;
  if (t.unknown_reported) {
    spdlog::info("{}: agent at {} answers again; reconciling", job, t.agent);
  }
  t.first_failure = absl::InfinitePast();
  t.backoff = options_.initial_backoff;
  const bool changed = status.state() != t.state || status.percent_complete() != t.percent ||
                       status.return_code() != t.return_code ||
                       status.error_code() != t.error_code || status.terminal() || t.unknown_reported;
  t.unknown_reported = false;
  if (!changed || t.terminal) return;
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
  u.message = status.terminal()
                  ? absl::StrCat(dr::v1::JobState_Name(status.state()), " on the hypervisor")
                  : "";
  if (status.terminal() && status.has_virtual_machine()) {
    u.has_vm_state = true;
    u.vm_state = status.virtual_machine();
  }
  t.state = status.state();
  t.percent = status.percent_complete();
  t.return_code = status.return_code();
  t.error_code = status.error_code();
  if (status.terminal()) {
    t.terminal = true;
    spdlog::info("{}: {} (return code {}, error {} {})", job, dr::v1::JobState_Name(status.state()),
                 static_cast<int>(status.return_code()), status.error_code(), status.error_summary());
  }
  writer_->Submit(std::move(u), nullptr);
}

void Dispatcher::OnStreamDone(const std::string& job, const grpc::Status& status, bool got_terminal,
                              const grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  --live_streams_;
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  Tracked& t = it->second;
  t.stream = nullptr;
  if (got_terminal || t.terminal) {
    jobs_.erase(it);
    return;
  }
  if (shutting_down_) return;
  if (!Retriable(status.error_code())) {
    absl::Status refused = FromGrpcStatus(status, context);
    FailLocked(job, t, ErrorDetailOf(refused).return_code(),
               absl::StrCat("agent at ", t.agent, " refused the job: ", refused.message()));
    return;
  }
  RetryLocked(job, t,
              absl::StrCat("agent at ", t.agent, ": ", status.error_message().empty()
                                                             ? "stream ended before the job did"
                                                             : status.error_message()));
}

void Dispatcher::RetryLocked(const std::string& job, Tracked& t, const std::string& why) {
  const absl::Time now = clock_->Now();
  if (t.first_failure == absl::InfinitePast()) {
    t.first_failure = now;
    spdlog::warn("{}: {}; retrying", job, why);
  }
  if (!t.unknown_reported && now - t.first_failure >= options_.retry_deadline) {
    t.unknown_reported = true;
    t.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
    JobUpdate u;
    u.job = job;
    u.state = t.state;
    u.percent_complete = t.percent;
    u.return_code = dr::v1::RETURN_CODE_STATUS_UNKNOWN;
    u.error_code = t.error_code;
    u.error_summary = std::string(ReturnCodeText(dr::v1::RETURN_CODE_STATUS_UNKNOWN));
    u.error_description = absl::StrCat(
        why, " (unreachable since ", absl::FormatTime(absl::RFC3339_sec, t.first_failure, absl::UTCTimeZone()),
        "); the outcome will be read from the agent when it answers");
    u.event_time = now;
    u.message = "agent unreachable: status unknown";
    spdlog::error("{}: status unknown: {}", job, u.error_description);
    writer_->Submit(std::move(u), nullptr);
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
    StartStream(job);
  });
}

void Dispatcher::FailLocked(const std::string& job, Tracked& t, dr::v1::ReturnCode code,
                            const std::string& why) {
  spdlog::error("{}: failed: {}", job, why);
  JobUpdate u;
  u.job = job;
  u.state = dr::v1::JOB_STATE_EXCEPTION;
  u.percent_complete = t.percent;
  u.return_code = code;
  u.error_code = static_cast<uint32_t>(code);
  u.error_summary = std::string(ReturnCodeText(code));
  u.error_description = why;
  u.event_time = clock_->Now();
  u.end_time = u.event_time;
  u.message = "refused";
  writer_->Submit(std::move(u), nullptr);
  jobs_.erase(job);
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
    if (s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded) {
      return HyperVError(dr::v1::RETURN_CODE_SYSTEM_NOT_AVAILABLE, "name", "AGENT_UNREACHABLE",
                         absl::StrCat("agent at ", host->agent_address(), ": ", s.message()));
    }
    return s;
  }
  spdlog::info("{}: cancel accepted by the agent", job.name());
  writer_->Flush();
  return store_->GetJob(job.name());
}

void Dispatcher::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (auto& [name, t] : jobs_) {
    if (t.stream != nullptr) t.stream->Cancel();
    if (t.alarm != nullptr) t.alarm->Cancel();
  }
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return live_streams_ == 0 && pending_alarms_ == 0;
  };
  mu_.Await(absl::Condition(&idle));
}

}  // namespace server
}  // namespace hvdr
