// Page tokens (storage/page_token.h, public API only). The input is
// "kind\nquery\ntoken": parsing the token either refuses naming page_token
// or yields a key; a key a token carried re-encodes into a token that
// parses back to it; a token made for one list is refused by every other
// list and filter, and by its own list once a character is changed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fuzz/properties.h"
#include "storage/page_token.h"
#include "storage/refusal.h"

namespace {

const hvdr::PageTokens& Tokens() {
  static const hvdr::PageTokens* tokens = new hvdr::PageTokens(std::string(32, 's'));
  return *tokens;
}

std::string Reason(const absl::Status& s) { return hvdr::RefusalOf(s).other; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> in = hvdr::fuzz::SplitInput(data, size, 3);
  const std::string& kind = in[0];
  const std::string& query = in[1];
  const std::string& token = in[2];
  const hvdr::PageTokens& tokens = Tokens();

  absl::StatusOr<std::string> key = tokens.Parse(kind, query, token);
  if (key.ok()) {
    const std::string again = tokens.Make(kind, query, *key);
    absl::StatusOr<std::string> reparsed = tokens.Parse(kind, query, again);
    FUZZ_CHECK(reparsed.ok() && *reparsed == *key);
  } else {
    FUZZ_CHECK(hvdr::RefusalOf(key.status()).kind == hvdr::Refusal::kBadPageToken);
  }

  // The token's bytes as a key: a round trip through Make and Parse.
  const std::string made = tokens.Make(kind, query, token);
  absl::StatusOr<std::string> back = tokens.Parse(kind, query, made);
  FUZZ_CHECK(back.ok() && *back == token);
  // Another secret (another database) never accepts it.
  const hvdr::PageTokens other(std::string(32, 't'));
  absl::StatusOr<std::string> foreign = other.Parse(kind, query, made);
  FUZZ_CHECK(!foreign.ok() && Reason(foreign.status()) == "INVALID_PAGE_TOKEN");
  // A changed character (in the MAC: the first one) is refused.
  std::string tampered = made;
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  absl::StatusOr<std::string> forged = tokens.Parse(kind, query, tampered);
  FUZZ_CHECK(!forged.ok());
  FUZZ_CHECK(hvdr::RefusalOf(forged.status()).kind == hvdr::Refusal::kBadPageToken);
  // Another filter or another list: refused as such. (Kinds are the
  // server's constants, never holding ':'; the query goes through a hash.)
  const std::string other_query = absl::StrCat(query, "x");
  absl::StatusOr<std::string> moved = tokens.Parse(kind, other_query, made);
  FUZZ_CHECK(!moved.ok() && Reason(moved.status()) == "PAGE_TOKEN_OF_ANOTHER_QUERY");
  if (kind.find(':') == std::string::npos) {
    absl::StatusOr<std::string> other_list = tokens.Parse(absl::StrCat(kind, "s"), query, made);
    FUZZ_CHECK(!other_list.ok() && Reason(other_list.status()) == "PAGE_TOKEN_OF_ANOTHER_QUERY");
  }
  return 0;
}
