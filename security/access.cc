#include "security/access.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cerrno>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/optional.h"
#include "common/hyperv_status.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace security {

using nlohmann::json;

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace {

absl::Status Bad(const std::string& source, const std::string& where, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", where, ": ", why));
}

// Checks that `o` is an object with only `allowed` keys.
absl::Status OnlyKeys(const json& o, const std::set<std::string>& allowed,
                      const std::string& source, const std::string& where) {
  if (!o.is_object()) return Bad(source, where, "must be an object");
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (allowed.count(it.key()) == 0) {
      return Bad(source, absl::StrCat(where, ".", it.key()), "unknown key");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> String(const json& o, const std::string& key, const std::string& source,
                                   const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Bad(source, absl::StrCat(where, ".", key), "must be a non-empty string");
  }
  if (it->get<std::string>().size() > 256) {
    return Bad(source, absl::StrCat(where, ".", key), "must be at most 256 characters");
  }
  return it->get<std::string>();
}

absl::StatusOr<std::vector<std::string>> Strings(const json& o, const std::string& key,
                                                 const std::string& source,
                                                 const std::string& where) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_array() || it->empty()) {
    return Bad(source, absl::StrCat(where, ".", key), "must be a non-empty list of strings");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) {
      return Bad(source, absl::StrCat(where, ".", key, "[", i, "]"), "must be a string");
    }
    out.push_back((*it)[i].get<std::string>());
  }
  return out;
}

absl::Status CheckRoles(const std::vector<std::string>& roles, const std::string& source,
                        const std::string& where) {
  std::vector<Permission> unused;
  for (size_t i = 0; i < roles.size(); ++i) {
    if (!RolePermissions(roles[i], &unused)) {
      return Bad(source, absl::StrCat(where, ".roles[", i, "]"),
                 absl::StrCat("unknown role \"", roles[i],
                              "\" (known: ", absl::StrJoin(RoleNames(), ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// A permission some method needs (every permission but kAgent's and
// kNone's is one), or "*".
bool KnownPermission(const std::string& name) {
  if (name == "*") return true;
  for (const MethodRule& r : MethodRules()) {
    if (PermissionName(r.permission) == name) return true;
  }
  return false;
}

absl::StatusOr<json> ParseJson(const std::string& text, const std::string& source) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Bad(source, "file", "is not valid JSON");
  return doc;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const AccessRules>> AccessRules::Parse(
    const std::string& tokens_json, const std::string& tokens_name, const std::string& policy_json,
    const std::string& policy_name) {
  auto rules = std::shared_ptr<AccessRules>(new AccessRules());
  if (!absl::StripAsciiWhitespace(tokens_json).empty()) {
    absl::StatusOr<json> doc = ParseJson(tokens_json, tokens_name);
    if (!doc.ok()) return doc.status();
    absl::Status keys = OnlyKeys(*doc, {"tokens"}, tokens_name, "file");
    if (!keys.ok()) return keys;
    auto list = doc->find("tokens");
    if (list == doc->end() || !list->is_array()) {
      return Bad(tokens_name, "tokens", "must be a list");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      const json& t = (*list)[i];
      const std::string where = absl::StrCat("tokens[", i, "]");
      absl::Status k = OnlyKeys(t, {"identity", "roles", "sha256"}, tokens_name, where);
      if (!k.ok()) return k;
      absl::StatusOr<std::string> identity = String(t, "identity", tokens_name, where);
      if (!identity.ok()) return identity.status();
      absl::StatusOr<std::string> hash = String(t, "sha256", tokens_name, where);
      if (!hash.ok()) return hash.status();
      std::string h = absl::AsciiStrToLower(*hash);
      if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return Bad(tokens_name, where + ".sha256", "must be 64 hex digits (a SHA-256 hash)");
      }
      absl::StatusOr<std::vector<std::string>> roles = Strings(t, "roles", tokens_name, where);
      if (!roles.ok()) return roles.status();
      absl::Status r = CheckRoles(*roles, tokens_name, where);
      if (!r.ok()) return r;
      if (rules->tokens_.count(h) != 0) {
        return Bad(tokens_name, where + ".sha256", "the same token is listed twice");
      }
      rules->tokens_[h] = Caller{*identity, *roles};
    }
  }
  if (!absl::StripAsciiWhitespace(policy_json).empty()) {
    absl::StatusOr<json> doc = ParseJson(policy_json, policy_name);
    if (!doc.ok()) return doc.status();
    absl::Status keys = OnlyKeys(*doc, {"bindings", "deny"}, policy_name, "file");
    if (!keys.ok()) return keys;
    if (auto b = doc->find("bindings"); b != doc->end()) {
      if (!b->is_array()) return Bad(policy_name, "bindings", "must be a list");
      for (size_t i = 0; i < b->size(); ++i) {
        const std::string where = absl::StrCat("bindings[", i, "]");
        absl::Status k = OnlyKeys((*b)[i], {"identity", "roles"}, policy_name, where);
        if (!k.ok()) return k;
        absl::StatusOr<std::string> identity = String((*b)[i], "identity", policy_name, where);
        if (!identity.ok()) return identity.status();
        absl::StatusOr<std::vector<std::string>> roles =
            Strings((*b)[i], "roles", policy_name, where);
        if (!roles.ok()) return roles.status();
        absl::Status r = CheckRoles(*roles, policy_name, where);
        if (!r.ok()) return r;
        auto& bound = rules->bindings_[*identity];
        bound.insert(bound.end(), roles->begin(), roles->end());
      }
    }
    if (auto d = doc->find("deny"); d != doc->end()) {
      if (!d->is_array()) return Bad(policy_name, "deny", "must be a list");
      for (size_t i = 0; i < d->size(); ++i) {
        const std::string where = absl::StrCat("deny[", i, "]");
        absl::Status k = OnlyKeys((*d)[i], {"identity", "permissions"}, policy_name, where);
        if (!k.ok()) return k;
        absl::StatusOr<std::string> identity = String((*d)[i], "identity", policy_name, where);
        if (!identity.ok()) return identity.status();
        absl::StatusOr<std::vector<std::string>> perms =
            Strings((*d)[i], "permissions", policy_name, where);
        if (!perms.ok()) return perms.status();
        for (size_t j = 0; j < perms->size(); ++j) {
          if (!KnownPermission((*perms)[j])) {
            return Bad(policy_name, absl::StrCat(where, ".permissions[", j, "]"),
                       absl::StrCat("unknown permission \"", (*perms)[j], "\""));
          }
          rules->denials_[*identity].insert((*perms)[j]);
        }
      }
    }
  }
  return std::shared_ptr<const AccessRules>(std::move(rules));
}

absl::StatusOr<Caller> AccessRules::FindToken(const std::string& token) const {
  const std::string h = Sha256Hex(token);
  // Hashes are compared whole (the map's lookup on a hash of the secret
  // leaks nothing about the secret itself).
  auto it = tokens_.find(h);
  if (it == tokens_.end()) return absl::NotFoundError("unknown or revoked token");
  return it->second;
}

std::vector<std::string> AccessRules::BoundRoles(const std::string& identity) const {
  std::vector<std::string> out;
  for (const std::string& who : {identity, std::string("*")}) {
    auto it = bindings_.find(who);
    if (it != bindings_.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

absl::Status AccessRules::Check(const Caller& caller, Permission p) const {
  const std::string name(PermissionName(p));
  for (const std::string& who : {caller.identity, std::string("*")}) {
    auto it = denials_.find(who);
    if (it != denials_.end() && (it->second.count(name) != 0 || it->second.count("*") != 0)) {
      return HyperVError(dr::v1::RETURN_CODE_ACCESS_DENIED, "permission", "DENIED_BY_POLICY",
                         absl::StrCat(caller.identity, " is denied permission ", name,
                                      " by the policy (a denial beats any role)"));
    }
  }
  std::vector<std::string> roles = caller.roles;
  std::vector<std::string> bound = BoundRoles(caller.identity);
  roles.insert(roles.end(), bound.begin(), bound.end());
  std::vector<Permission> perms;
  for (const std::string& role : roles) {
    if (!RolePermissions(role, &perms)) continue;
    for (Permission q : perms) {
      if (q == p) return absl::OkStatus();
    }
  }
  return HyperVError(dr::v1::RETURN_CODE_ACCESS_DENIED, "permission", "PERMISSION_MISSING",
                     absl::StrCat(caller.identity, " lacks permission ", name, " (roles: ",
                                  roles.empty() ? "none" : absl::StrJoin(roles, ", "), ")"));
}

AccessFiles::Stamp AccessFiles::StampOf(const std::string& path) {
  Stamp s;
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  s.size = st.st_size;
  s.inode = st.st_ino;
  return s;
}

namespace {

// A file that is gone (after start-up) reads as empty: deleting the tokens
// file revokes every token, it does not keep them.
absl::StatusOr<std::string> ReadAll(const std::string& path, const char* flag, bool must_exist) {
  if (path.empty()) return std::string();
  struct stat st;
  if (!must_exist && stat(path.c_str(), &st) != 0 && errno == ENOENT) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(flag, " ", path, ": cannot be read"));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

AccessFiles::Loaded AccessFiles::ReadFiles(bool must_exist) const {
  Loaded out;
  out.tokens_stamp = StampOf(options_.tokens_path);
  out.policy_stamp = StampOf(options_.policy_path);
  absl::StatusOr<std::string> tokens = ReadAll(options_.tokens_path, "--tokens_file", must_exist);
  absl::StatusOr<std::string> policy = ReadAll(options_.policy_path, "--policy_file", must_exist);
  if (!tokens.ok() || !policy.ok()) {
    out.readable = false;
    out.rules = !tokens.ok() ? tokens.status() : policy.status();
    return out;
  }
  out.rules = AccessRules::Parse(*tokens, absl::StrCat("--tokens_file ", options_.tokens_path),
                                 *policy, absl::StrCat("--policy_file ", options_.policy_path));
  return out;
}

absl::Status AccessFiles::InstallLocked(Loaded loaded) {
  // Stamped even when refused: the same broken file is not re-read (and
  // re-logged) every second; the next change is. A file that could not be
  // read at all is looked at again.
  if (loaded.readable) {
    tokens_stamp_ = loaded.tokens_stamp;
    policy_stamp_ = loaded.policy_stamp;
  }
  if (!loaded.rules.ok()) return loaded.rules.status();
  rules_ = *std::move(loaded.rules);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AccessFiles>> AccessFiles::Open(const Options& options) {
  std::unique_ptr<AccessFiles> files(new AccessFiles(options));
  Loaded loaded = files->ReadFiles(/*must_exist=*/true);
  absl::MutexLock lock(&files->mu_);
  absl::Status s = files->InstallLocked(std::move(loaded));
  if (!s.ok()) return s;
  files->last_check_ = options.clock->Now();
  return files;
}

void AccessFiles::LogReload(const absl::Status& s, const char* why) {
  if (s.ok()) {
    spdlog::info("access: reloaded ({}): {} tokens", why, rules_->token_count());
  } else {
    spdlog::error("access: keeping the previous rules ({}): {}", why, s.ToString());
  }
}

std::shared_ptr<const AccessRules> AccessFiles::Current() {
  Stamp tokens_seen, policy_seen;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    // One caller looks; the others go on with the rules there are.
    if (looking_ || now - last_check_ < options_.check_interval) return rules_;
    last_check_ = now;
    looking_ = true;
    tokens_seen = tokens_stamp_;
    policy_seen = policy_stamp_;
  }
  // The stat()s and any re-read happen without the lock, so that calls
  // being checked meanwhile never wait for a disk.
  absl::optional<Loaded> loaded;
  if (!(StampOf(options_.tokens_path) == tokens_seen) ||
      !(StampOf(options_.policy_path) == policy_seen)) {
    loaded = ReadFiles(/*must_exist=*/false);
  }
  absl::MutexLock lock(&mu_);
  looking_ = false;
  if (loaded.has_value()) LogReload(InstallLocked(*std::move(loaded)), "changed on disk");
  return rules_;
}

absl::Status AccessFiles::Reload() {
  Loaded loaded = ReadFiles(/*must_exist=*/false);
  absl::MutexLock lock(&mu_);
  last_check_ = options_.clock->Now();
  absl::Status s = InstallLocked(std::move(loaded));
  LogReload(s, "SIGHUP");
  return s;
}

}  // namespace security
}  // namespace hvdr
