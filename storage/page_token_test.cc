#include "storage/page_token.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "storage/refusal.h"

namespace hvdr {
namespace {

const std::string kTestSecret(32, 'k');

std::string Reason(const absl::Status& s) { return RefusalOf(s).other; }

TEST(PageTokensTest, ATokenResumesItsOwnQuery) {
  PageTokens tokens(kTestSecret);
  const std::string token = tokens.Make("jobs", "states=4", "1234");
  auto key = tokens.Parse("jobs", "states=4", token);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "1234");
}

TEST(PageTokensTest, ATokenOfAnotherQueryOrKindIsRefused) {
  PageTokens tokens(kTestSecret);
  const std::string token = tokens.Make("jobs", "states=4", "1234");
  for (auto [kind, query] :
       {std::pair{"jobs", "states=7"}, std::pair{"jobs", ""}, std::pair{"hosts", "states=4"}}) {
    auto key = tokens.Parse(kind, query, token);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << kind << " " << query;
    EXPECT_EQ(RefusalOf(key.status()).kind, Refusal::kBadPageToken);
    EXPECT_EQ(Reason(key.status()), "PAGE_TOKEN_OF_ANOTHER_QUERY");
  }
}

TEST(PageTokensTest, AModifiedTokenIsRefused) {
  PageTokens tokens(kTestSecret);
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(tokens.Make("jobs", "", "1234"), &raw));
  // Every single-byte change, in the MAC or the body (the cursor), is caught.
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string changed = raw;
    changed[i] ^= 0x01;
    auto key = tokens.Parse("jobs", "", absl::WebSafeBase64Escape(changed));
    EXPECT_EQ(Reason(key.status()), "INVALID_PAGE_TOKEN") << "byte " << i;
  }
  // A cursor of one's choosing with the old MAC.
  std::string forged = raw.substr(0, raw.size() - 4) + "9999";
  EXPECT_EQ(Reason(tokens.Parse("jobs", "", absl::WebSafeBase64Escape(forged)).status()),
            "INVALID_PAGE_TOKEN");
}

TEST(PageTokensTest, GarbageAndOtherSecretsAreRefused) {
  PageTokens tokens(kTestSecret);
  PageTokens other(std::string(32, 'x'));
  for (const std::string& token :
       {std::string("garbage"), std::string("!!!"), absl::WebSafeBase64Escape("hvdr1:jobs:999"),
        absl::WebSafeBase64Escape(std::string(40, '\0')), other.Make("jobs", "", "1")}) {
    auto key = tokens.Parse("jobs", "", token);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_EQ(RefusalOf(key.status()).kind, Refusal::kBadPageToken);
    EXPECT_EQ(Reason(key.status()), "INVALID_PAGE_TOKEN") << token;
  }
}

TEST(PageTokensTest, SecretsAreRandom) {
  auto a = PageTokens::NewSecret();
  auto b = PageTokens::NewSecret();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), static_cast<size_t>(PageTokens::kSecretBytes));
  EXPECT_NE(*a, *b);
}

TEST(QueryFieldTest, DifferentFiltersGiveDifferentKeys) {
  std::string ab, a_b;
  AppendQueryField(&ab, "ab");
  AppendQueryField(&ab, "");
  AppendQueryField(&a_b, "a");
  AppendQueryField(&a_b, "b");
  EXPECT_NE(ab, a_b);
}

}  // namespace
}  // namespace hvdr
