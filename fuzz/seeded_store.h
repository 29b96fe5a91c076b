// A small topology in a real SqliteStore (in memory), for the fuzzers that
// run requests through the server's checks: two sites, a primary and a DR
// host, the VM sql-01 on both (PRIMARY and REPLICA, the same GUID), with
// recovery points on the replica, and web-01 on the DR host only.
#ifndef HVDR_FUZZ_SEEDED_STORE_H_
#define HVDR_FUZZ_SEEDED_STORE_H_

#include <memory>

#include "storage/sqlite_store.h"

namespace hvdr {
namespace fuzz {

inline constexpr char kPrimaryHost[] = "hosts/hv-pri-1";
inline constexpr char kDrHost[] = "hosts/hv-dr-1";
inline constexpr char kSqlVm[] = "11111111-0000-0000-0000-000000000001";
inline constexpr char kWebVm[] = "22222222-0000-0000-0000-0000000000AB";

// Aborts when the store cannot be opened or seeded: the fuzzer cannot run.
std::unique_ptr<SqliteStore> OpenSeededStore();

}  // namespace fuzz
}  // namespace hvdr

#endif  // HVDR_FUZZ_SEEDED_STORE_H_
