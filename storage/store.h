// The orchestrator's durable state, one interface per aggregate: topology
// (sites, hosts, VM copies, relationships, recovery points:
// storage/topology_store.h), jobs with their event history
// (storage/job_store.h), the idempotency records that make retried
// requests safe (storage/request_store.h), and recovery plans with their
// executions (storage/plan_store.h). Store is all four over one database, so that a mutation of one
// aggregate and the request id that makes it safe to retry commit together.
//
// Contract for every implementation:
//  - Thread-safety: every method may be called concurrently from any thread.
//  - Atomicity: every mutating method is one transaction; on any error
//    nothing it would have written is visible, and nothing stored before is
//    lost.
//  - Durability: when a mutating method returns OK its effect survives a
//    crash of the process (and, with the default options, of the machine).
//  - Errors: an unknown name is NOT_FOUND; a name already taken is
//    ALREADY_EXISTS; a change the current state forbids is
//    FAILED_PRECONDITION; a VM already claimed by a running job is ABORTED;
//    a record the store cannot hold is INVALID_ARGUMENT; storage failures
//    are RESOURCE_EXHAUSTED (disk full), UNAVAILABLE, INTERNAL or DATA_LOSS
//    (IsStorageFailure in common/failure.h). Every refusal that is not a plain lookup carries a
//    typed Refusal (storage/refusal.h) naming what it is about (e.g. the job
//    that holds a VM); storage knows nothing of gRPC, Hyper-V return codes
//    or the API's field names: the services say refusals in those terms.
//  - Ownership: arguments are borrowed for the duration of the call; results
//    are owned by the caller.
#ifndef HVDR_STORAGE_STORE_H_
#define HVDR_STORAGE_STORE_H_

#include "storage/job_store.h"
#include "storage/plan_store.h"
#include "storage/refusal.h"
#include "storage/request_store.h"
#include "storage/store_types.h"
#include "storage/topology_store.h"

namespace hvdr {

class Store : public TopologyStore, public JobStore, public RequestStore, public PlanStore {};

}  // namespace hvdr

#endif  // HVDR_STORAGE_STORE_H_
