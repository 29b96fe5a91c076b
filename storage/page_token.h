// Page tokens (AIP-158) that a client can hand back but not make: each
// carries the list it belongs to (its kind and a hash of its query: the
// filter fields) and the last key of the page, authenticated with
// HMAC-SHA256 under a per-database secret (OpenSSL's libcrypto). A token
// from another list or another filter, a modified token and garbage are
// all INVALID_ARGUMENT (Refusal::kBadPageToken); none can become a cursor the
// server did not hand out.
//
// Thread-safe (const after construction).
#ifndef HVDR_STORAGE_PAGE_TOKEN_H_
#define HVDR_STORAGE_PAGE_TOKEN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hvdr {

class PageTokens {
 public:
  // Bytes of a fresh secret.
  static constexpr int kSecretBytes = 32;
  // A new random secret (RAND_bytes), for a new database.
  static absl::StatusOr<std::string> NewSecret();

  // REQUIRES: secret.size() >= 16.
  explicit PageTokens(std::string secret) : secret_(std::move(secret)) {}

  // The token that resumes list `kind` with filter `query` after `key`.
  // `query` is any string that differs when the filter differs
  // (QueryKey below builds one).
  std::string Make(absl::string_view kind, absl::string_view query, absl::string_view key) const;
  // The key inside `token`, if this store made it for the same kind and
  // query; INVALID_ARGUMENT kBadPageToken (storage/refusal.h) otherwise,
  // `other` PAGE_TOKEN_OF_ANOTHER_QUERY when it is a genuine token of another
  // list or filter, INVALID_PAGE_TOKEN when it is not a token of this
  // database.
  absl::StatusOr<std::string> Parse(absl::string_view kind, absl::string_view query,
                                    absl::string_view token) const;

 private:
  std::string Mac(absl::string_view body) const;
  const std::string secret_;
};

// INVALID_ARGUMENT kBadPageToken (storage/refusal.h) with `reason` in the
// refusal's `other`: what Parse answers, and what a caller answers for a key
// it cannot read back.
absl::Status BadPageToken(absl::string_view reason, absl::string_view why);

// Appends one filter field to a query key, length-prefixed so that no two
// different filters give the same key.
void AppendQueryField(std::string* query, absl::string_view value);

}  // namespace hvdr

#endif  // HVDR_STORAGE_PAGE_TOKEN_H_
