// Who may do what: the tokens file and the policy file, parsed into one
// immutable snapshot (AccessRules), and the files' watcher (AccessFiles)
// that swaps in a new snapshot when either file changes or on Reload()
// (SIGHUP), so that a token is revoked or a role granted without a restart.
//
// Tokens file (drserver --tokens_file; tools/mkcerts.sh writes one): only
// SHA-256 hashes of the tokens, never a token:
//   {"tokens": [{"identity": "bob", "roles": ["operator"],
//                "sha256": "<64 hex digits>"}]}
// Policy file (--policy_file): roles for identities (certificate SANs or
// token identities; "*" is everyone authenticated) and denials, which beat
// any role:
//   {"bindings": [{"identity": "alice@example.com", "roles": ["operator"]}],
//    "deny": [{"identity": "bob", "permissions": ["failover.operate"]}]}
// ("permissions": ["*"] denies everything). Unknown keys, unknown roles or
// permissions, a malformed hash and duplicate hashes are refused, naming
// the file, the entry and the reason.
#ifndef HVDR_SECURITY_ACCESS_H_
#define HVDR_SECURITY_ACCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "security/permissions.h"

namespace hvdr {
namespace security {

struct Caller {
  std::string identity;
  // Roles the credential itself carries (a token's); the policy's are added.
  std::vector<std::string> roles;
};

class AccessRules {
 public:
  // `tokens_json` and `policy_json` may be empty (no tokens; no bindings).
  // `tokens_name` and `policy_name` name the sources in errors.
  static absl::StatusOr<std::shared_ptr<const AccessRules>> Parse(const std::string& tokens_json,
                                                                  const std::string& tokens_name,
                                                                  const std::string& policy_json,
                                                                  const std::string& policy_name);

  // The caller a bearer token stands for; NOT_FOUND for an unknown (or
  // revoked) token. Compares hashes, never tokens.
  absl::StatusOr<Caller> FindToken(const std::string& token) const;

  // OK when `caller` holds `p` (through its own roles or the policy's
  // bindings) and no denial covers it; otherwise PERMISSION_DENIED with
  // Hyper-V code 32769, naming the identity and the permission missing.
  absl::Status Check(const Caller& caller, Permission p) const;

  // The roles the policy binds to `identity` (and to "*").
  std::vector<std::string> BoundRoles(const std::string& identity) const;

  size_t token_count() const { return tokens_.size(); }

 private:
  std::map<std::string, Caller> tokens_;  // by lowercase hex SHA-256
  std::map<std::string, std::vector<std::string>> bindings_;
  std::map<std::string, std::set<std::string>> denials_;  // identity -> permission names
};

// Hex SHA-256 of `data` (what the tokens file stores).
std::string Sha256Hex(const std::string& data);

// Reads the two files and keeps the current AccessRules. Thread-safe.
class AccessFiles {
 public:
  struct Options {
    std::string tokens_path;  // "" : no tokens
    std::string policy_path;  // "" : no bindings
    // How often Current() looks at the files' modification (stat only).
    absl::Duration check_interval = absl::Seconds(1);
    Clock* clock = RealClock::Get();
  };
  // Refuses files that do not parse (a server must not start on them).
  static absl::StatusOr<std::unique_ptr<AccessFiles>> Open(const Options& options);

  // The rules now. When a file changed since the last look (at most once
  // per check_interval, by one caller, without holding up the others),
  // re-reads both; a file that no longer parses keeps the previous rules
  // (logged, and Reload() says why).
  std::shared_ptr<const AccessRules> Current() ABSL_LOCKS_EXCLUDED(mu_);
  // Re-reads both files now (SIGHUP).
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit AccessFiles(const Options& options) : options_(options) {}
  struct Stamp {
    bool exists = false;
    int64_t mtime_ns = 0;
    int64_t size = 0;
    ino_t inode = 0;
    bool operator==(const Stamp& o) const {
      return exists == o.exists && mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
    }
  };
  static Stamp StampOf(const std::string& path);
  // Both files read and parsed (I/O; no lock). `must_exist`: at start-up a
  // missing file is an error; later it reads as empty (deleting the tokens
  // file revokes every token).
  struct Loaded {
    Stamp tokens_stamp;
    Stamp policy_stamp;
    bool readable = true;  // false: a file could not be read at all
    absl::StatusOr<std::shared_ptr<const AccessRules>> rules;
  };
  Loaded ReadFiles(bool must_exist) const;
  // Makes `loaded` the rules (if they parsed) and remembers its stamps.
  absl::Status InstallLocked(Loaded loaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogReload(const absl::Status& s, const char* why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  absl::Mutex mu_;
  std::shared_ptr<const AccessRules> rules_ ABSL_GUARDED_BY(mu_);
  Stamp tokens_stamp_ ABSL_GUARDED_BY(mu_);
  Stamp policy_stamp_ ABSL_GUARDED_BY(mu_);
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool looking_ ABSL_GUARDED_BY(mu_) = false;  // a Current() is stat()ing the files
};

}  // namespace security
}  // namespace hvdr

#endif  // HVDR_SECURITY_ACCESS_H_
