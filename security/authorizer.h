// The one place every call is checked before its handler runs: Authorizer
// decides from the method's entry in security/permissions.h, the caller's
// credential (a bearer token, else the client certificate's SAN) and the
// access rules; CallProcessor runs it inside gRPC's TLS server credentials
// (the core's asynchronous auth metadata processor), so that a refused call
// never reaches a handler, and is answered only once its refusal is
// recorded (drserver: committed to the audit trail). Handlers learn who called from CallerOf, which
// identifies the call's credential the same way (gRPC's auth context is the connection's, shared by
// all its calls: nothing per call is stored there).
//
// Refusals: UNAUTHENTICATED (no credential; unknown, malformed or revoked
// token), PERMISSION_DENIED naming the permission missing and Hyper-V code
// 32769 (gRPC does not carry a refused call's trailing metadata, so the
// code is in the message: "[32769 Access Denied]").
#ifndef HVDR_SECURITY_AUTHORIZER_H_
#define HVDR_SECURITY_AUTHORIZER_H_

#include <grpc/grpc_security.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/optional.h"
#include "security/access.h"
#include "security/permissions.h"

namespace hvdr {
namespace security {

class Authorizer {
 public:
  struct Options {
    // drserver: the tokens and policy (not owned); null on an agent.
    AccessFiles* access = nullptr;
    // hvagent: the certificate identities (SANs) allowed to call
    // HostAgentService, i.e. drserver's ("drserver").
    std::set<std::string> agent_callers;
    // Told of every call CallProcessor refuses: the method, who the
    // credential claimed to be (a certificate's identity, "token sha256:"
    // and the first 12 hex digits of an unknown token's hash, or
    // "anonymous") and the refusal. The refusal is sent once `answer` is
    // called (exactly once, from any thread): drserver calls it when the
    // call's audit event is committed. Unset: answered at once.
    std::function<void(absl::string_view method, const std::string& who,
                       const absl::Status& refusal, std::function<void()> answer)>
        on_refused;
  };
  explicit Authorizer(const Options& options) : options_(options) {}

  // Decides a call of `method` (full path) by a caller with `bearer_token`
  // ("" if none) and a verified certificate naming `cert_identities` (its
  // SANs; empty if none). Returns who the caller is (with the roles its
  // credential carries), or the refusal.
  absl::StatusOr<Caller> Decide(absl::string_view method, absl::string_view bearer_token,
                                const std::vector<std::string>& cert_identities) const;
  // Who the credential is, without a method: the token's caller, else the
  // certificate's identity; the policy's roles added.
  absl::StatusOr<Caller> Identify(absl::string_view bearer_token,
                                  const std::vector<std::string>& cert_identities) const;

  // For the one decision that depends on a request's content (see
  // MethodRule): OK when `caller` also holds `p`.
  absl::Status Require(const Caller& caller, Permission p) const;

  // Who made the call `context` serves (its bearer token's identity, else
  // its verified client certificate's), as CallProcessor accepted it;
  // nullopt for a call without a credential (a health check). Null
  // `authorizer` (an --insecure server, an in-process channel): nullopt.
  static absl::optional<Caller> CallerOf(const Authorizer* authorizer,
                                         const grpc::ServerContextBase* context);

  // Tells Options::on_refused, which calls `answer`; without one, calls
  // `answer` at once.
  void NoteRefusal(absl::string_view method, const std::string& who, const absl::Status& refusal,
                   std::function<void()> answer) const;

 private:
  static absl::StatusOr<Caller> Identify(const AccessRules& rules, absl::string_view bearer_token,
                                         const std::vector<std::string>& cert_identities);
  const Options options_;
};

// A refusal as the gRPC status a client sees (code, message with 32769).
grpc::Status RefusalStatus(const absl::Status& refusal);

// The check as gRPC's server credentials run it (security::ServerCredentials
// installs it; the core's processor, not grpc::AuthMetadataProcessor, whose
// answer cannot wait without a thread hop on every call). It reads the
// call's :path and authorization header and the connection's verified
// certificate and runs Decide: an allowed call goes on at once, on gRPC's
// thread, without I/O; a refused one goes to NoteRefusal and is answered
// (RefusalStatus) when that calls back. `authorizer` is not owned and must
// outlive every call of the credentials.
grpc_auth_metadata_processor CallProcessor(const Authorizer* authorizer);

}  // namespace security
}  // namespace hvdr

#endif  // HVDR_SECURITY_AUTHORIZER_H_
