// What the SQLite repositories (storage/sqlite_*.h) share: paging, filter
// encoding, existence checks and the validation of the names they store.
#ifndef HVDR_STORAGE_SQLITE_ROWS_H_
#define HVDR_STORAGE_SQLITE_ROWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "db/sqlite.h"
#include "dr/v1/resources.pb.h"
#include "storage/page_token.h"
#include "storage/store_types.h"

namespace hvdr {

// The page size for a request: page_size <= 0 means 100; above 1000, 1000.
int EffectivePageSize(int32_t requested);

// [1,2,3], for json_each() in a filter.
std::string JsonIntArray(const std::vector<int>& values);
template <typename E>
std::vector<int> ToInts(const std::vector<E>& v) {
  return std::vector<int>(v.begin(), v.end());
}

// OK when `table` has a row named `name`; NOT_FOUND otherwise.
absl::Status CheckExists(Sqlite& db, absl::string_view table, const std::string& name);

// kInvalidRecord unless `value` is `prefix` followed by something.
absl::Status ValidateName(absl::string_view field, absl::string_view value,
                          absl::string_view prefix);
// kInvalidRecord unless `id` is 1-256 characters without '/'.
absl::Status ValidateId(absl::string_view field, absl::string_view id);

// Orders JobStates for the "never backwards" rule: New < Starting <
// Running/Suspended/ShuttingDown < ended (7-11).
int JobStateRank(dr::v1::JobState s);
// The states a job ends in (7-11: Completed, Terminated, Killed, Exception,
// Service): the job can change no more and its VM is released.
bool IsEndedJobState(dr::v1::JobState s);

// Reads up to `size` rows of `s` into a page; one more row means another
// page, whose token names `kind`, `query` and the key of the last item
// returned.
template <typename T, typename Read, typename Key>
absl::StatusOr<Page<T>> CollectPage(Stmt& s, int size, const PageTokens& tokens,
                                    absl::string_view kind, absl::string_view query, Read read,
                                    Key key) {
  Page<T> out;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(out.items.size()) == size) {
      out.next_page_token = tokens.Make(kind, query, key(out.items.back()));
      break;
    }
    out.items.push_back(read(s));
  }
  return out;
}

// A stored serialized message: DATA_LOSS naming `what` when it does not parse.
template <typename T>
absl::StatusOr<T> DecodeRow(const std::string& bytes, absl::string_view what) {
  T out;
  if (!out.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("stored ", what, " does not parse"));
  }
  return out;
}

}  // namespace hvdr

#endif  // HVDR_STORAGE_SQLITE_ROWS_H_
