#include "hvagent/backend.h"

namespace hvdr {
namespace agent {

bool IsAgentOperation(dr::v1::JobType type) {
  switch (type) {
    case dr::v1::JOB_TYPE_INITIATE_FAILOVER:
    case dr::v1::JOB_TYPE_REVERT_FAILOVER:
    case dr::v1::JOB_TYPE_COMMIT_FAILOVER:
    case dr::v1::JOB_TYPE_INITIATE_TEST_REPLICA:
    case dr::v1::JOB_TYPE_REMOVE_TEST_REPLICA:
    case dr::v1::JOB_TYPE_REVERSE_REPLICATION:
    case dr::v1::JOB_TYPE_REPLICATION_STATE_CHANGE:
    case dr::v1::JOB_TYPE_SET_FAILOVER_NETWORK_SETTINGS:
    case dr::v1::JOB_TYPE_START_VIRTUAL_MACHINE:
    case dr::v1::JOB_TYPE_STOP_VIRTUAL_MACHINE: return true;
    default: return false;
  }
}

}  // namespace agent
}  // namespace hvdr
