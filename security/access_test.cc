#include "security/access.h"

#include <cstdio>
#include <fstream>

#include "common/clock.h"
#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace security {
namespace {

using ::testing::HasSubstr;

std::string TokenEntry(const std::string& identity, const std::string& roles,
                       const std::string& token) {
  return "{\"identity\": \"" + identity + "\", \"roles\": [" + roles + "], \"sha256\": \"" +
         Sha256Hex(token) + "\"}";
}

std::string Tokens(const std::vector<std::string>& entries) {
  std::string s = "{\"tokens\": [";
  for (size_t i = 0; i < entries.size(); ++i) s += (i ? "," : "") + entries[i];
  return s + "]}";
}

std::shared_ptr<const AccessRules> MustParse(const std::string& tokens, const std::string& policy) {
  auto r = AccessRules::Parse(tokens, "tokens", policy, "policy");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : nullptr;
}

TEST(AccessRulesTest, ATokenStandsForItsIdentityAndRoles) {
  auto rules = MustParse(Tokens({TokenEntry("bob", "\"operator\"", "s3cret")}), "");
  auto bob = rules->FindToken("s3cret");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob->identity, "bob");
  EXPECT_TRUE(rules->Check(*bob, Permission::kOperate).ok());
  EXPECT_EQ(rules->FindToken("s3cret ").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(rules->FindToken("").status().code(), absl::StatusCode::kNotFound);
}

TEST(AccessRulesTest, ARefusalNamesThePermissionAndIs32769) {
  auto rules = MustParse(Tokens({TokenEntry("carol", "\"viewer\"", "t")}), "");
  absl::Status s = rules->Check(*rules->FindToken("t"), Permission::kOperate);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("carol lacks permission failover.operate"));
  EXPECT_EQ(ErrorDetailOf(s).return_code(), dr::v1::RETURN_CODE_ACCESS_DENIED);
}

TEST(AccessRulesTest, PolicyBindsRolesToCertificateIdentitiesAndDenialBeatsAllow) {
  auto rules = MustParse("", R"({
    "bindings": [{"identity": "alice@example.com", "roles": ["admin"]},
                 {"identity": "*", "roles": ["viewer"]}],
    "deny": [{"identity": "alice@example.com", "permissions": ["jobs.abandon"]},
             {"identity": "mallory", "permissions": ["*"]}]})");
  Caller alice{"alice@example.com", {}};
  EXPECT_TRUE(rules->Check(alice, Permission::kManageHosts).ok());
  absl::Status denied = rules->Check(alice, Permission::kAbandonJobs);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("denied permission jobs.abandon by the policy"));
  // "*" binds every authenticated identity.
  EXPECT_TRUE(rules->Check(Caller{"anyone", {}}, Permission::kRead).ok());
  EXPECT_FALSE(rules->Check(Caller{"anyone", {}}, Permission::kTest).ok());
  // A denial of everything beats the "*" binding.
  EXPECT_FALSE(rules->Check(Caller{"mallory", {}}, Permission::kRead).ok());
}

TEST(AccessRulesTest, BadFilesAreRefusedNamingTheEntryAndTheReason) {
  struct Case {
    std::string tokens, policy, want;
  } cases[] = {
      {"{", "", "tokens: file: is not valid JSON"},
      {"{\"tokenz\": []}", "", "tokens: file.tokenz: unknown key"},
      {"{\"tokens\": [{\"identity\": \"x\", \"roles\": [\"viewer\"], \"sha256\": \"abc\"}]}", "",
       "tokens[0].sha256: must be 64 hex digits"},
      {Tokens({TokenEntry("x", "\"root\"", "t")}), "", "tokens[0].roles[0]: unknown role \"root\""},
      {Tokens({TokenEntry("x", "", "t")}), "", "tokens[0].roles: must be a non-empty list"},
      {Tokens({TokenEntry("x", "\"viewer\"", "t"), TokenEntry("y", "\"viewer\"", "t")}), "",
       "tokens[1].sha256: the same token is listed twice"},
      {"", "{\"bindings\": [{\"identity\": \"\", \"roles\": [\"viewer\"]}]}",
       "bindings[0].identity: must be a non-empty string"},
      {"", "{\"deny\": [{\"identity\": \"a\", \"permissions\": [\"fly\"]}]}",
       "deny[0].permissions[0]: unknown permission \"fly\""},
  };
  for (const Case& c : cases) {
    auto r = AccessRules::Parse(c.tokens, "tokens", c.policy, "policy");
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.want));
  }
}

class AccessFilesTest : public ::testing::Test {
 protected:
  void Write(const std::string& text) {
    // A new file renamed over the old one, as editors and config tools do.
    std::ofstream(path_ + ".new") << text;
    std::rename((path_ + ".new").c_str(), path_.c_str());
  }
  std::unique_ptr<AccessFiles> Open() {
    AccessFiles::Options o;
    o.tokens_path = path_;
    o.clock = &clock_;
    auto f = AccessFiles::Open(o);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : nullptr;
  }
  const std::string path_ = std::string(std::getenv("TEST_TMPDIR")) + "/tokens.json";
  FakeClock clock_;
};

TEST_F(AccessFilesTest, ARevokedTokenIsRefusedAtTheNextLookWithoutARestart) {
  Write(Tokens({TokenEntry("bob", "\"operator\"", "b"), TokenEntry("eve", "\"admin\"", "e")}));
  auto files = Open();
  EXPECT_TRUE(files->Current()->FindToken("e").ok());
  Write(Tokens({TokenEntry("bob", "\"operator\"", "b")}));  // eve's token removed
  EXPECT_TRUE(files->Current()->FindToken("e").ok()) << "looked before the interval";
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(files->Current()->FindToken("e").ok());
  EXPECT_TRUE(files->Current()->FindToken("b").ok());
}

TEST_F(AccessFilesTest, ABrokenEditKeepsThePreviousRulesAndADeletedFileRevokesAll) {
  Write(Tokens({TokenEntry("bob", "\"operator\"", "b")}));
  auto files = Open();
  Write("{ half written");
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(files->Current()->FindToken("b").ok());
  EXPECT_THAT(files->Reload().message(), HasSubstr("is not valid JSON"));
  std::remove(path_.c_str());
  EXPECT_TRUE(files->Reload().ok());
  EXPECT_FALSE(files->Current()->FindToken("b").ok());
}

TEST_F(AccessFilesTest, AMissingFileAtStartUpIsRefused) {
  std::remove(path_.c_str());
  AccessFiles::Options o;
  o.tokens_path = path_;
  auto f = AccessFiles::Open(o);
  EXPECT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("--tokens_file " + path_ + ": cannot be read"));
}

}  // namespace
}  // namespace security
}  // namespace hvdr
