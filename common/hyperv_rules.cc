#include "common/hyperv_rules.h"

namespace hvdr {

bool IsTerminalJobState(dr::v1::JobState state) {
  return state >= dr::v1::JOB_STATE_COMPLETED && state <= dr::v1::JOB_STATE_SERVICE;
}

using namespace dr::v1;  // NOLINT: enum values read as a table

namespace {

OperationRule Rule(JobType type, std::vector<ReplicationMode> modes) {
  OperationRule r;
  r.type = type;
  r.modes = std::move(modes);
  return r;
}

}  // namespace

const std::vector<OperationRule>& HyperVRules() {
  static const std::vector<OperationRule>* const kRules = [] {
    auto* rules = new std::vector<OperationRule>;
    const std::vector<ReplicationMode> kReplicas = {REPLICATION_MODE_REPLICA,
                                                    REPLICATION_MODE_EXTENDED_REPLICA};
    {
      // InitiateFailover: documented: runs on the replica VM, which must be
      // off. INFERRED: allowed source states (Replicating, Suspended,
      // Critical, Resynchronizing, and Synced replication complete after a
      // planned-failover prepare), the need for a LastReplicationTime, 12
      // while running and 5 (Recovered) after.
      OperationRule r = Rule(JOB_TYPE_INITIATE_FAILOVER, kReplicas);
      r.states = {REPLICATION_STATE_REPLICATING, REPLICATION_STATE_SYNCED_REPLICATION_COMPLETE,
                  REPLICATION_STATE_SUSPENDED, REPLICATION_STATE_CRITICAL,
                  REPLICATION_STATE_RESYNCHRONIZING};
      r.enabled = ENABLED_STATE_DISABLED;
      r.needs_last_replication = true;
      r.sets_state_during = true;
      r.state_during = REPLICATION_STATE_FAILOVER_IN_PROGRESS;
      r.sets_state_after = true;
      r.state_after = REPLICATION_STATE_RECOVERED;
      r.default_duration_ms = 3000;
      rules->push_back(r);
    }
    {
      // RevertFailover: discards a failover not yet committed. INFERRED: the
      // VM must be off, and the state returns to Replicating (3).
      OperationRule r = Rule(JOB_TYPE_REVERT_FAILOVER, kReplicas);
      r.states = {REPLICATION_STATE_RECOVERED};
      r.enabled = ENABLED_STATE_DISABLED;
      r.sets_state_after = true;
      r.state_after = REPLICATION_STATE_REPLICATING;
      rules->push_back(r);
    }
    {
      // CommitFailover: documented: no revert after it; other recovery points
      // are gone. INFERRED: state 6 (Committed) after.
      OperationRule r = Rule(JOB_TYPE_COMMIT_FAILOVER, kReplicas);
      r.states = {REPLICATION_STATE_RECOVERED};
      r.changes_inventory = true;  // the other recovery points are gone
      r.sets_state_after = true;
      r.state_after = REPLICATION_STATE_COMMITTED;
      rules->push_back(r);
    }
    {
      // TestReplicaSystem: documented: one test VM per VM at a time; the
      // replica keeps replicating. INFERRED: allowed source states.
      OperationRule r = Rule(JOB_TYPE_INITIATE_TEST_REPLICA, kReplicas);
      r.states = {REPLICATION_STATE_REPLICATING, REPLICATION_STATE_SUSPENDED,
                  REPLICATION_STATE_CRITICAL, REPLICATION_STATE_RESYNCHRONIZING};
      r.needs_last_replication = true;
      r.changes_inventory = true;  // the test VM
      rules->push_back(r);
    }
    {
      // DestroySystem of the test VM (Stop-VMFailover on the test).
      OperationRule r = Rule(JOB_TYPE_REMOVE_TEST_REPLICA, kReplicas);
      r.changes_inventory = true;  // the test VM is gone
      r.default_duration_ms = 1000;
      rules->push_back(r);
    }
    {
      // ReverseReplicationRelationship: after a failover the former replica
      // becomes the primary - straight after InitiateFailover in a planned
      // failover (state 5: prepare, failover, reverse, start), or after
      // CommitFailover (state 6) once the old primary is back from an
      // unplanned one; the recovery points are merged away. INFERRED:
      // leaves mode Primary, state Replicating (3).
      OperationRule r = Rule(JOB_TYPE_REVERSE_REPLICATION, kReplicas);
      r.states = {REPLICATION_STATE_RECOVERED, REPLICATION_STATE_COMMITTED};
      r.changes_inventory = true;  // the relationship and the copies' roles
      r.sets_state_after = true;
      r.state_after = REPLICATION_STATE_REPLICATING;
      rules->push_back(r);
    }
    {
      // RequestReplicationStateChange(4) on the primary before a planned
      // failover. Documented: the primary must be off. INFERRED (from a
      // decompiled cmdlet): requested state 4, reached from Replicating.
      OperationRule r = Rule(JOB_TYPE_REPLICATION_STATE_CHANGE, {REPLICATION_MODE_PRIMARY});
      r.states = {REPLICATION_STATE_REPLICATING};
      r.enabled = ENABLED_STATE_DISABLED;
      r.sets_state_after = true;
      r.state_after = REPLICATION_STATE_SYNCED_REPLICATION_COMPLETE;
      rules->push_back(r);
    }
    {
      // SetFailoverNetworkAdapterSettings: on the replica VM.
      OperationRule r = Rule(JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS, kReplicas);
      r.default_duration_ms = 500;
      rules->push_back(r);
    }
    {
      // Start: a replica VM starts only once failed over (INFERRED: states 5
      // and 6); other VMs whenever they are off.
      OperationRule r =
          Rule(JOB_TYPE_START_VIRTUAL_MACHINE,
               {REPLICATION_MODE_NONE, REPLICATION_MODE_PRIMARY, REPLICATION_MODE_REPLICA,
                REPLICATION_MODE_TEST_REPLICA, REPLICATION_MODE_EXTENDED_REPLICA});
      r.states = {REPLICATION_STATE_RECOVERED, REPLICATION_STATE_COMMITTED};
      r.states_for_replicas_only = true;
      r.enabled = ENABLED_STATE_DISABLED;
      r.enabled_after = ENABLED_STATE_ENABLED;
      r.default_duration_ms = 1500;
      rules->push_back(r);
    }
    {
      OperationRule r =
          Rule(JOB_TYPE_STOP_VIRTUAL_MACHINE,
               {REPLICATION_MODE_NONE, REPLICATION_MODE_PRIMARY, REPLICATION_MODE_REPLICA,
                REPLICATION_MODE_TEST_REPLICA, REPLICATION_MODE_EXTENDED_REPLICA});
      r.enabled = ENABLED_STATE_ENABLED;
      r.enabled_after = ENABLED_STATE_DISABLED;
      r.default_duration_ms = 1500;
      rules->push_back(r);
    }
    return rules;
  }();
  return *kRules;
}

bool VmStateProvesCompletion(JobType type, const VirtualMachine& vm) {
  const OperationRule* rule = FindRule(type);
  if (rule == nullptr) return false;
  if (rule->sets_state_after) return vm.replication_state() == rule->state_after;
  if (rule->enabled_after != ENABLED_STATE_UNKNOWN)
    return vm.enabled_state() == rule->enabled_after;
  return false;
}

const OperationRule* FindRule(JobType type) {
  for (const OperationRule& r : HyperVRules()) {
    if (r.type == type) return &r;
  }
  return nullptr;
}

}  // namespace hvdr
