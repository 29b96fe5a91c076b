#include "server/services.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/hyperv_rules.h"
#include "common/hyperv_status.h"
#include "common/proto_time.h"
#include "common/serial_write_reactor.h"
#include "common/status_macros.h"
#include "security/authorizer.h"
#include "server/audit_interceptor.h"
#include "server/execution_hub.h"
#include "server/jobs.h"
#include "server/names.h"
#include "server/store_status.h"
#include "storage/plan_store.h"

namespace hvdr {
namespace server {

namespace {

template <typename Resp>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, absl::StatusOr<Resp> result,
                                Resp* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ApiGrpcStatus(result.status(), context));
  return reactor;
}

// Refuses a request over the size limit before any work: nullptr when the
// request may go on.
template <typename Resp>
grpc::ServerUnaryReactor* TooLarge(grpc::CallbackServerContext* context,
                                   const google::protobuf::Message& request, int64_t max_bytes,
                                   Resp* response) {
  absl::Status size = CheckRequestSize(request.ByteSizeLong(), max_bytes);
  if (size.ok()) return nullptr;
  return Reply<Resp>(context, size, response);
}

// The request as its handler acts on it: on a server with authentication
// (`authorizer` set), `requester` is the caller's authenticated identity,
// whatever the request says (nobody can be impersonated; who asks is never
// part of a request_id's match), or empty if the credential was revoked
// since the call was let in. Only an --insecure server (null) keeps the
// request's own.
template <typename Req>
Req Stamped(const security::Authorizer* authorizer, grpc::CallbackServerContext* context,
            const Req& request) {
  if (authorizer == nullptr) return request;
  Req stamped = request;
  absl::optional<security::Caller> caller = security::Authorizer::CallerOf(authorizer, context);
  stamped.set_requester(caller.has_value() ? caller->identity : "");
  return stamped;
}

template <typename T>
absl::StatusOr<T> Found(absl::StatusOr<T> r, absl::string_view field, absl::string_view name) {
  if (!r.ok()) return NotFoundAs(r.status(), field, name);
  return r;
}

}  // namespace

// ---- TopologyService ----

grpc::ServerUnaryReactor* TopologyServiceImpl::RegisterHost(grpc::CallbackServerContext* c,
                                                            const dr::v1::RegisterHostRequest* r,
                                                            dr::v1::Host* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  topology_->RegisterHostAsync(*r, [reactor, c, out](const absl::StatusOr<dr::v1::Host>& host) {
    if (host.ok()) *out = *host;
    reactor->Finish(ApiGrpcStatus(host.status(), c));
  });
  return reactor;
}

grpc::ServerUnaryReactor* TopologyServiceImpl::GetHost(grpc::CallbackServerContext* c,
                                                       const dr::v1::GetHostRequest* r,
                                                       dr::v1::Host* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, server::GetHost(store_, *r), out);
}

grpc::ServerUnaryReactor* TopologyServiceImpl::ListHosts(grpc::CallbackServerContext* c,
                                                         const dr::v1::ListHostsRequest* r,
                                                         dr::v1::ListHostsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, topology_->ListHosts(*r), out);
}

grpc::ServerUnaryReactor* TopologyServiceImpl::DeleteHost(grpc::CallbackServerContext* c,
                                                          const dr::v1::DeleteHostRequest* r,
                                                          dr::v1::DeleteHostResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  topology_->DeleteHostAsync(
      *r, [reactor, c](const absl::Status& s) { reactor->Finish(ApiGrpcStatus(s, c)); });
  return reactor;
}

grpc::ServerUnaryReactor* TopologyServiceImpl::SyncHost(grpc::CallbackServerContext* c,
                                                        const dr::v1::SyncHostRequest* r,
                                                        dr::v1::Host* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  topology_->SyncHostAsync(r->name(), [reactor, c, out](const absl::StatusOr<dr::v1::Host>& host) {
    if (host.ok()) *out = *host;
    reactor->Finish(ApiGrpcStatus(host.status(), c));
  });
  return reactor;
}

grpc::ServerUnaryReactor* TopologyServiceImpl::ListSites(grpc::CallbackServerContext* c,
                                                         const dr::v1::ListSitesRequest* r,
                                                         dr::v1::ListSitesResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, server::ListSites(store_, *r), out);
}

grpc::ServerUnaryReactor* TopologyServiceImpl::GetVirtualMachine(
    grpc::CallbackServerContext* c, const dr::v1::GetVirtualMachineRequest* r,
    dr::v1::VirtualMachine* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, server::GetVirtualMachine(store_, *r), out);
}

grpc::ServerUnaryReactor* TopologyServiceImpl::ListVirtualMachines(
    grpc::CallbackServerContext* c, const dr::v1::ListVirtualMachinesRequest* r,
    dr::v1::ListVirtualMachinesResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, topology_->ListVirtualMachines(*r), out);
}

grpc::ServerUnaryReactor* TopologyServiceImpl::ListReplicationRelationships(
    grpc::CallbackServerContext* c, const dr::v1::ListReplicationRelationshipsRequest* r,
    dr::v1::ListReplicationRelationshipsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, server::ListReplicationRelationships(store_, *r), out);
}

grpc::ServerUnaryReactor* TopologyServiceImpl::ListRecoveryPoints(
    grpc::CallbackServerContext* c, const dr::v1::ListRecoveryPointsRequest* r,
    dr::v1::ListRecoveryPointsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, server::ListRecoveryPoints(store_, *r), out);
}

// ---- FailoverService ----

// Answers when the job is committed (group commit on the writer thread) or
// refused; the handler thread does not wait.
grpc::ServerUnaryReactor* FailoverServiceImpl::Submit(grpc::CallbackServerContext* c,
                                                      const OperationRequest& op,
                                                      dr::v1::JobResponse* out) {
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  logic_->Submit(op, [reactor, c, out](const absl::StatusOr<dr::v1::JobResponse>& result) {
    if (result.ok()) *out = *result;
    reactor->Finish(ApiGrpcStatus(result.status(), c));
  });
  return reactor;
}

void FailoverServiceImpl::AuditWithItsJob(grpc::CallbackServerContext* c, absl::string_view method,
                                          const google::protobuf::Message& request,
                                          OperationRequest* op) const {
  if (audit_ == nullptr) return;
  op->audit.event = CallAuditEvent(c, method, &request, authorizer_, clock_);
  op->audit.audited = [c, log = audit_](const dr::v1::AuditEvent& stored) {
    c->AddTrailingMetadata(kAuditedWithItsWrite, "1");  // the interceptor's cue
    log->Mirror(stored);
  };
}

#define HVDR_FAILOVER_METHOD(Method, Type, Extra)                                         \
  grpc::ServerUnaryReactor* FailoverServiceImpl::Method(grpc::CallbackServerContext* c,   \
                                                        const dr::v1::Method##Request* r, \
                                                        dr::v1::JobResponse* out) {       \
    if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;          \
    OperationRequest op =                                                                 \
        MakeOperationRequest(dr::v1::Type, #Method, Stamped(authorizer_, c, *r));         \
    Extra;                                                                                \
    AuditWithItsJob(c, "/dr.v1.FailoverService/" #Method, *r, &op);                       \
    return Submit(c, op, out);                                                            \
  }

HVDR_FAILOVER_METHOD(InitiateFailover, JOB_TYPE_INITIATE_FAILOVER,
                     op.recovery_point = r->recovery_point())
HVDR_FAILOVER_METHOD(RevertFailover, JOB_TYPE_REVERT_FAILOVER, (void)0)
HVDR_FAILOVER_METHOD(CommitFailover, JOB_TYPE_COMMIT_FAILOVER, (void)0)
HVDR_FAILOVER_METHOD(StartTestFailover, JOB_TYPE_INITIATE_TEST_REPLICA,
                     op.recovery_point = r->recovery_point())
HVDR_FAILOVER_METHOD(CleanupTestFailover, JOB_TYPE_REMOVE_TEST_REPLICA, (void)0)
HVDR_FAILOVER_METHOD(ReverseReplication, JOB_TYPE_REVERSE_REPLICATION, (void)0)
HVDR_FAILOVER_METHOD(SetFailoverNetworkAdapterSettings, JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS,
                     op.network_settings.assign(r->network_settings().begin(),
                                                r->network_settings().end()))
HVDR_FAILOVER_METHOD(PrepareForPlannedFailover, JOB_TYPE_REPLICATION_STATE_CHANGE, (void)0)
HVDR_FAILOVER_METHOD(StartVirtualMachine, JOB_TYPE_START_VIRTUAL_MACHINE, (void)0)
HVDR_FAILOVER_METHOD(StopVirtualMachine, JOB_TYPE_STOP_VIRTUAL_MACHINE, (void)0)
#undef HVDR_FAILOVER_METHOD

// ---- JobService ----

namespace {

// One WatchJob stream. It keeps its own queue: while a write is in flight,
// newer versions of the job wait; a version with the same state as the last
// waiting one replaces it (progress is coalesced), a new state is appended.
// States only move forward, so the queue holds at most one entry per state.
class WatchReactor final : public SerialWriteReactor<dr::v1::WatchJobResponse>, public JobWatcher {
 public:
  WatchReactor(JobHub* hub, std::string job) : hub_(hub), job_(std::move(job)) {}
  // The stream was counted by `limiter` for `peer`: released when it ends.
  void Counted(StreamLimiter* limiter, std::string peer) {
    limiter_ = limiter;
    peer_ = std::move(peer);
  }

  void Begin(Store* store, grpc::CallbackServerContext* context) {
    hub_->Watch(job_, this);
    absl::StatusOr<dr::v1::Job> current = store->GetJob(job_);
    if (!current.ok()) {
      Close(ApiGrpcStatus(NotFoundAs(current.status(), "name", job_), context));
      return;
    }
    OnJob(*current);
  }

  void OnJob(const dr::v1::Job& job) override {
    absl::MutexLock lock(&mu_);
    if (finished() || job.version() <= last_version_) return;
    last_version_ = job.version();
    if (!writing()) {
      StartLocked(job);
      return;
    }
    if (!queue_.empty() && queue_.back().state() == job.state() &&
        !IsTerminalJobState(job.state())) {
      queue_.back() = job;
    } else {
      queue_.push_back(job);
    }
  }

  void OnClose() override {
    Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       "drserver is shutting down; the job goes on: watch it again"));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!WriteDoneLocked(ok)) return;
    if (IsTerminalJobState(in_flight_.job().state())) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    if (!queue_.empty()) {
      dr::v1::Job next = std::move(queue_.front());
      queue_.pop_front();
      StartLocked(next);
    }
  }

  void OnCancel() override { Close(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    hub_->Unwatch(job_, this);
    if (limiter_ != nullptr) limiter_->Release(peer_);
    delete this;
  }

 private:
  void StartLocked(const dr::v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    *in_flight_.mutable_job() = job;
    WriteLocked(&in_flight_);
  }

  JobHub* const hub_;
  const std::string job_;
  StreamLimiter* limiter_ = nullptr;
  std::string peer_;
  dr::v1::WatchJobResponse in_flight_ ABSL_GUARDED_BY(mu_);
  std::deque<dr::v1::Job> queue_ ABSL_GUARDED_BY(mu_);
  int64_t last_version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

grpc::ServerUnaryReactor* JobServiceImpl::GetJob(grpc::CallbackServerContext* c,
                                                 const dr::v1::GetJobRequest* r, dr::v1::Job* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  absl::Status valid = CheckJobName("name", r->name());
  if (!valid.ok()) return Reply<dr::v1::Job>(c, valid, out);
  return Reply(c, Found(store_->GetJob(r->name()), "name", r->name()), out);
}

grpc::ServerUnaryReactor* JobServiceImpl::ListJobs(grpc::CallbackServerContext* c,
                                                   const dr::v1::ListJobsRequest* r,
                                                   dr::v1::ListJobsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  auto result = [&]() -> absl::StatusOr<dr::v1::ListJobsResponse> {
    RETURN_IF_ERROR(CheckPageSize(r->page_size()));
    JobFilter f;
    for (int s : r->states()) {
      if (s < 2 || s > 11) {
        return InvalidParameter("states", "UNKNOWN_VALUE",
                                absl::StrCat(s, " is not a JobState (2-11)"));
      }
      f.states.push_back(static_cast<dr::v1::JobState>(s));
    }
    for (int t : r->types()) {
      if (!dr::v1::JobType_IsValid(t) || t == 0) {
        return InvalidParameter("types", "UNKNOWN_VALUE", absl::StrCat(t, " is not a JobType"));
      }
      f.types.push_back(static_cast<dr::v1::JobType>(t));
    }
    if (!r->virtual_machine().empty()) {
      ASSIGN_OR_RETURN(VmName vm, ParseVmName("virtual_machine", r->virtual_machine()));
      f.virtual_machine = vm.name();
    }
    if (!r->host().empty()) {
      RETURN_IF_ERROR(ParseHostName("host", r->host()).status());
      f.host = r->host();
    }
    ASSIGN_OR_RETURN(Page<dr::v1::Job> page,
                     Api(store_->ListJobs(f, {r->page_size(), r->page_token()})));
    dr::v1::ListJobsResponse resp;
    for (auto& j : page.items) *resp.add_jobs() = std::move(j);
    resp.set_next_page_token(page.next_page_token);
    return resp;
  }();
  return Reply(c, std::move(result), out);
}

grpc::ServerUnaryReactor* JobServiceImpl::ListJobEvents(grpc::CallbackServerContext* c,
                                                        const dr::v1::ListJobEventsRequest* r,
                                                        dr::v1::ListJobEventsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  auto result = [&]() -> absl::StatusOr<dr::v1::ListJobEventsResponse> {
    RETURN_IF_ERROR(CheckJobName("parent", r->parent()));
    RETURN_IF_ERROR(CheckPageSize(r->page_size()));
    ASSIGN_OR_RETURN(
        auto page, Found(Api(store_->ListJobEvents(r->parent(), {r->page_size(), r->page_token()})),
                         "parent", r->parent()));
    dr::v1::ListJobEventsResponse resp;
    for (auto& e : page.items) *resp.add_job_events() = std::move(e);
    resp.set_next_page_token(page.next_page_token);
    return resp;
  }();
  return Reply(c, std::move(result), out);
}

grpc::ServerWriteReactor<dr::v1::WatchJobResponse>* JobServiceImpl::WatchJob(
    grpc::CallbackServerContext* c, const dr::v1::WatchJobRequest* r) {
  auto* reactor = new WatchReactor(hub_, r->name());
  absl::Status valid = CheckRequestSize(r->ByteSizeLong(), limits_.max_request_bytes);
  if (valid.ok()) valid = CheckJobName("name", r->name());
  if (valid.ok()) {
    const std::string peer = c->peer();
    valid = watches_.Acquire(peer);
    if (valid.ok()) reactor->Counted(&watches_, peer);
  }
  if (!valid.ok()) {
    reactor->Close(ApiGrpcStatus(valid, c));
    return reactor;
  }
  reactor->Begin(store_, c);
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::CancelJob(grpc::CallbackServerContext* c,
                                                    const dr::v1::CancelJobRequest* r,
                                                    dr::v1::Job* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  work_->Schedule([this, reactor, c, r, out] {
    absl::StatusOr<dr::v1::Job> job = server::CancelJob(store_, dispatcher_, *r);
    if (job.ok()) *out = *job;
    reactor->Finish(ApiGrpcStatus(job.status(), c));
  });
  return reactor;
}

grpc::ServerUnaryReactor* JobServiceImpl::AbandonJob(grpc::CallbackServerContext* c,
                                                     const dr::v1::AbandonJobRequest* r,
                                                     dr::v1::Job* out) {
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  server::AbandonJob(writer_, dispatcher_, clock_, Stamped(authorizer_, c, *r),
                     [reactor, c, out](const absl::StatusOr<dr::v1::Job>& job) {
                       if (job.ok()) *out = *job;
                       reactor->Finish(ApiGrpcStatus(job.status(), c));
                     });
  return reactor;
}

// ---- PlanService ----

namespace {

// Runs `call` on `work` and answers with its result.
template <typename Resp, typename Call>
grpc::ServerUnaryReactor* OnWork(grpc::CallbackServerContext* c, Executor* work, Resp* out,
                                 Call call) {
  grpc::ServerUnaryReactor* reactor = c->DefaultReactor();
  work->Schedule([reactor, c, out, call = std::move(call)] {
    absl::StatusOr<Resp> result = call();
    if (result.ok()) *out = *std::move(result);
    reactor->Finish(ApiGrpcStatus(result.status(), c));
  });
  return reactor;
}

absl::Status NotYet(absl::string_view what) {
  return HyperVError(dr::v1::RETURN_CODE_NOT_SUPPORTED, "", "NOT_IMPLEMENTED",
                     absl::StrCat(what, " is not supported by this drserver yet"));
}

// One WatchPlanExecution stream: the stored execution with every step
// first, then each stored change. While a write is in flight, changes are
// merged in an ExecutionChanges (one copy of each step at most, the newest),
// so a reader that falls behind gets fewer, fuller messages and never holds
// up the plan. Ends with OK once a message with a terminal execution is
// written.
class ExecutionWatchReactor final : public SerialWriteReactor<dr::v1::WatchPlanExecutionResponse>,
                                    public ExecutionWatcher {
 public:
  ExecutionWatchReactor(ExecutionHub* hub, std::string execution)
      : hub_(hub), execution_(std::move(execution)) {}
  // The stream was counted by `limiter` for `peer`: released when it ends.
  void Counted(StreamLimiter* limiter, std::string peer) {
    limiter_ = limiter;
    peer_ = std::move(peer);
  }

  void Begin(PlanLogic* logic, grpc::CallbackServerContext* context) {
    // Watch before the read: a change stored after the read is published
    // after it, so it reaches us; one the read already holds is dropped.
    hub_->Watch(execution_, this);
    absl::StatusOr<dr::v1::WatchPlanExecutionResponse> first = logic->WatchSnapshot(execution_);
    if (!first.ok()) {
      Close(ApiGrpcStatus(first.status(), context));
      return;
    }
    absl::MutexLock lock(&mu_);
    if (finished()) return;
    changes_.Sent(*first);
    started_ = true;
    in_flight_ = *std::move(first);
    WriteLocked(&in_flight_);
  }

  void OnChange(const dr::v1::PlanExecution& execution,
                const std::vector<dr::v1::ExecutionStep>& steps) override {
    absl::MutexLock lock(&mu_);
    if (finished()) return;
    changes_.Add(execution, steps);
    if (started_ && !writing() && !changes_.empty()) WriteNextLocked();
  }

  void OnClose() override {
    Close(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       "drserver is shutting down; the execution goes on when it is back: "
                       "watch it again"));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    if (!WriteDoneLocked(ok)) return;
    if (IsTerminalExecutionState(in_flight_.execution().state())) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    if (!changes_.empty()) WriteNextLocked();
  }

  void OnCancel() override { Close(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    hub_->Unwatch(execution_, this);
    if (limiter_ != nullptr) limiter_->Release(peer_);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = changes_.Take();
    WriteLocked(&in_flight_);
  }

  ExecutionHub* const hub_;
  const std::string execution_;
  StreamLimiter* limiter_ = nullptr;
  std::string peer_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;  // the first message was written
  dr::v1::WatchPlanExecutionResponse in_flight_ ABSL_GUARDED_BY(mu_);
  ExecutionChanges changes_ ABSL_GUARDED_BY(mu_);
};

// Answers a server stream with one status and nothing else.
template <typename Msg>
class FinishedStream : public grpc::ServerWriteReactor<Msg> {
 public:
  FinishedStream(grpc::CallbackServerContext* c, const absl::Status& s) {
    this->Finish(ApiGrpcStatus(s, c));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* PlanServiceImpl::CreatePlan(grpc::CallbackServerContext* c,
                                                      const dr::v1::CreatePlanRequest* r,
                                                      dr::v1::Plan* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return OnWork(c, work_, out,
                [this, req = Stamped(authorizer_, c, *r)] { return logic_->CreatePlan(req); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::UpdatePlan(grpc::CallbackServerContext* c,
                                                      const dr::v1::UpdatePlanRequest* r,
                                                      dr::v1::Plan* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return OnWork(c, work_, out,
                [this, req = Stamped(authorizer_, c, *r)] { return logic_->UpdatePlan(req); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetPlan(grpc::CallbackServerContext* c,
                                                   const dr::v1::GetPlanRequest* r,
                                                   dr::v1::Plan* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, logic_->GetPlan(*r), out);
}

grpc::ServerUnaryReactor* PlanServiceImpl::ListPlans(grpc::CallbackServerContext* c,
                                                     const dr::v1::ListPlansRequest* r,
                                                     dr::v1::ListPlansResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, logic_->ListPlans(*r), out);
}

grpc::ServerUnaryReactor* PlanServiceImpl::DeletePlan(grpc::CallbackServerContext* c,
                                                      const dr::v1::DeletePlanRequest* r,
                                                      dr::v1::DeletePlanResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return OnWork(c, work_, out, [this, r]() -> absl::StatusOr<dr::v1::DeletePlanResponse> {
    RETURN_IF_ERROR(logic_->DeletePlan(*r));
    return dr::v1::DeletePlanResponse();
  });
}

grpc::ServerUnaryReactor* PlanServiceImpl::ValidatePlan(grpc::CallbackServerContext* c,
                                                        const dr::v1::ValidatePlanRequest* r,
                                                        dr::v1::ValidatePlanResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return OnWork(c, work_, out, [this, r] { return logic_->ValidatePlan(*r); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::StartPlanExecution(
    grpc::CallbackServerContext* c, const dr::v1::StartPlanExecutionRequest* r,
    dr::v1::PlanExecution* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  if (executor_ == nullptr)
    return Reply<dr::v1::PlanExecution>(c, NotYet("StartPlanExecution"), out);
  // The one check that depends on the request: a tester (failover.test,
  // which the permission table asks of every StartPlanExecution) runs TEST
  // and CLEANUP_TEST executions; any other mode also needs plans.run.
  // (An unspecified mode is refused by the validation that follows.)
  if (authorizer_ != nullptr && r->mode() != dr::v1::EXECUTION_MODE_UNSPECIFIED &&
      r->mode() != dr::v1::EXECUTION_MODE_TEST &&
      r->mode() != dr::v1::EXECUTION_MODE_CLEANUP_TEST) {
    absl::optional<security::Caller> caller = security::Authorizer::CallerOf(authorizer_, c);
    absl::Status allowed = caller.has_value()
                               ? authorizer_->Require(*caller, security::Permission::kRunPlans)
                               : absl::UnauthenticatedError("the credential is no longer valid");
    if (!allowed.ok()) return Reply<dr::v1::PlanExecution>(c, allowed, out);
  }
  return OnWork(c, work_, out,
                [this, req = Stamped(authorizer_, c, *r)] { return executor_->Start(req); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetPlanExecution(
    grpc::CallbackServerContext* c, const dr::v1::GetPlanExecutionRequest* r,
    dr::v1::PlanExecution* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, logic_->GetPlanExecution(*r), out);
}

grpc::ServerUnaryReactor* PlanServiceImpl::ListPlanExecutions(
    grpc::CallbackServerContext* c, const dr::v1::ListPlanExecutionsRequest* r,
    dr::v1::ListPlanExecutionsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, logic_->ListPlanExecutions(*r), out);
}

grpc::ServerUnaryReactor* PlanServiceImpl::ListExecutionSteps(
    grpc::CallbackServerContext* c, const dr::v1::ListExecutionStepsRequest* r,
    dr::v1::ListExecutionStepsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  return Reply(c, logic_->ListExecutionSteps(*r), out);
}

grpc::ServerWriteReactor<dr::v1::WatchPlanExecutionResponse>* PlanServiceImpl::WatchPlanExecution(
    grpc::CallbackServerContext* c, const dr::v1::WatchPlanExecutionRequest* r) {
  if (executions_ == nullptr) {
    return new FinishedStream<dr::v1::WatchPlanExecutionResponse>(c, NotYet("WatchPlanExecution"));
  }
  auto* reactor = new ExecutionWatchReactor(executions_, r->name());
  absl::Status valid = CheckRequestSize(r->ByteSizeLong(), limits_.max_request_bytes);
  if (valid.ok()) valid = ParseExecutionName("name", r->name()).status();
  if (valid.ok()) {
    const std::string peer = c->peer();
    valid = watches_->Acquire(peer);
    if (valid.ok()) reactor->Counted(watches_, peer);
  }
  if (!valid.ok()) {
    reactor->Close(ApiGrpcStatus(valid, c));
    return reactor;
  }
  reactor->Begin(logic_, c);
  return reactor;
}

grpc::ServerUnaryReactor* PlanServiceImpl::ResumePlanExecution(
    grpc::CallbackServerContext* c, const dr::v1::ResumePlanExecutionRequest* r,
    dr::v1::PlanExecution* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  if (executor_ == nullptr)
    return Reply<dr::v1::PlanExecution>(c, NotYet("ResumePlanExecution"), out);
  return OnWork(c, work_, out,
                [this, req = Stamped(authorizer_, c, *r)] { return executor_->Resume(req); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::CancelPlanExecution(
    grpc::CallbackServerContext* c, const dr::v1::CancelPlanExecutionRequest* r,
    dr::v1::PlanExecution* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  if (executor_ == nullptr)
    return Reply<dr::v1::PlanExecution>(c, NotYet("CancelPlanExecution"), out);
  return OnWork(c, work_, out,
                [this, req = Stamped(authorizer_, c, *r)] { return executor_->Cancel(req); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::AnswerPrompt(grpc::CallbackServerContext* c,
                                                        const dr::v1::AnswerPromptRequest* r,
                                                        dr::v1::ExecutionStep* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  if (executor_ == nullptr) return Reply<dr::v1::ExecutionStep>(c, NotYet("AnswerPrompt"), out);
  return OnWork(c, work_, out,
                [this, req = Stamped(authorizer_, c, *r)] { return executor_->Answer(req); });
}

grpc::ServerUnaryReactor* PlanServiceImpl::GetExecutionReport(
    grpc::CallbackServerContext* c, const dr::v1::GetExecutionReportRequest* r,
    dr::v1::ExecutionReport* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  // Reads every step and the sites' VMs: on the work executor.
  return OnWork(c, work_, out, [this, r] { return logic_->GetExecutionReport(*r); });
}

// ---- AuditService ----

grpc::ServerUnaryReactor* AuditServiceImpl::ListAuditEvents(grpc::CallbackServerContext* c,
                                                            const dr::v1::ListAuditEventsRequest* r,
                                                            dr::v1::ListAuditEventsResponse* out) {
  if (auto* big = TooLarge(c, *r, limits_.max_request_bytes, out)) return big;
  auto result = [&]() -> absl::StatusOr<dr::v1::ListAuditEventsResponse> {
    RETURN_IF_ERROR(CheckPageSize(r->page_size()));
    AuditFilter f;
    f.identity = r->identity();
    f.resource = r->resource();
    f.method = r->method();
    if (r->has_start_time()) f.start = FromProto(r->start_time());
    if (r->has_end_time()) f.end = FromProto(r->end_time());
    if (f.end <= f.start) {
      return InvalidParameter("end_time", "BEFORE_START", "must be after start_time");
    }
    ASSIGN_OR_RETURN(Page<dr::v1::AuditEvent> page,
                     Api(store_->ListAuditEvents(f, {r->page_size(), r->page_token()})));
    dr::v1::ListAuditEventsResponse resp;
    for (auto& e : page.items) *resp.add_audit_events() = std::move(e);
    resp.set_next_page_token(page.next_page_token);
    return resp;
  }();
  return Reply(c, std::move(result), out);
}

}  // namespace server
}  // namespace hvdr
