#include "storage/page_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/refusal.h"

namespace hvdr {

namespace {

constexpr absl::string_view kVersion = "hvdr2";
constexpr size_t kMacBytes = 32;
constexpr size_t kQueryHashBytes = 16;

// The first 16 bytes of SHA-256(kind, query), hex.
std::string QueryHash(absl::string_view kind, absl::string_view query) {
  std::string data;
  AppendQueryField(&data, kind);
  AppendQueryField(&data, query);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), kQueryHashBytes));
}

}  // namespace

absl::Status BadPageToken(absl::string_view reason, absl::string_view why) {
  return Refuse(absl::StatusCode::kInvalidArgument, Refusal::kBadPageToken, "", reason, why);
}

void AppendQueryField(std::string* query, absl::string_view value) {
  absl::StrAppend(query, value.size(), ":", value, ";");
}

absl::StatusOr<std::string> PageTokens::NewSecret() {
  std::string secret(kSecretBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), kSecretBytes) != 1) {
    return absl::InternalError("RAND_bytes failed: no randomness for the page token secret");
  }
  return secret;
}

std::string PageTokens::Mac(absl::string_view body) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

// token = web-safe base64 of MAC(body) + body, body = "hvdr2:<kind>:<query hash>:<key>".
std::string PageTokens::Make(absl::string_view kind, absl::string_view query,
                             absl::string_view key) const {
  const std::string body = absl::StrCat(kVersion, ":", kind, ":", QueryHash(kind, query), ":", key);
  return absl::WebSafeBase64Escape(absl::StrCat(Mac(body), body));
}

absl::StatusOr<std::string> PageTokens::Parse(absl::string_view kind, absl::string_view query,
                                              absl::string_view token) const {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() <= kMacBytes) {
    return BadPageToken("INVALID_PAGE_TOKEN", "not a token from the previous page of this list");
  }
  const absl::string_view mac = absl::string_view(raw).substr(0, kMacBytes);
  const absl::string_view body = absl::string_view(raw).substr(kMacBytes);
  const std::string want = Mac(body);
  if (want.size() != kMacBytes || CRYPTO_memcmp(want.data(), mac.data(), kMacBytes) != 0) {
    return BadPageToken("INVALID_PAGE_TOKEN",
                        "not a token this server made (modified, or from another database)");
  }
  const std::string prefix = absl::StrCat(kVersion, ":", kind, ":", QueryHash(kind, query), ":");
  if (!absl::StartsWith(body, prefix)) {
    return BadPageToken(
        "PAGE_TOKEN_OF_ANOTHER_QUERY",
        "belongs to another list or filter: send the same request (filter and parent) "
        "as for the previous page");
  }
  return std::string(body.substr(prefix.size()));
}

}  // namespace hvdr
