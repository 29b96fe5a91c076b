#include "security/authorizer.h"

#include <grpc/slice.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hyperv_status.h"
#include "spdlog/spdlog.h"

namespace hvdr {
namespace security {

namespace {

absl::Status Denied(absl::string_view reason, const std::string& message) {
  return HyperVError(dr::v1::RETURN_CODE_ACCESS_DENIED, "permission", reason, message);
}

}  // namespace

absl::StatusOr<Caller> Authorizer::Decide(absl::string_view method, absl::string_view bearer_token,
                                          const std::vector<std::string>& cert_identities) const {
  const MethodRule* rule = FindMethodRule(method);
  if (rule == nullptr) {
    return Denied("NO_PERMISSION_ENTRY",
                  absl::StrCat(method, " has no entry in the permission table: refused for all"));
  }
  if (rule->permission == Permission::kNone) return Caller{};
  if (rule->permission == Permission::kAgent) {
    // Only drserver's certificate; a token is never enough.
    for (const std::string& id : cert_identities) {
      if (options_.agent_callers.count(id) != 0) return Caller{id, {}};
    }
    return Denied("NOT_DRSERVER",
                  absl::StrCat(method, " is for drserver only; the caller ",
                               cert_identities.empty()
                                   ? std::string("showed no client certificate")
                                   : absl::StrCat("is ", absl::StrJoin(cert_identities, ", ")),
                               " (permission ", PermissionName(Permission::kAgent), ")"));
  }
  if (options_.access == nullptr) {
    return Denied("NOT_SERVED", absl::StrCat(method, " is not served here"));
  }
  std::shared_ptr<const AccessRules> rules = options_.access->Current();
  absl::StatusOr<Caller> caller = Identify(*rules, bearer_token, cert_identities);
  if (!caller.ok()) return caller.status();
  absl::Status allowed = rules->Check(*caller, rule->permission);
  if (!allowed.ok()) return allowed;
  return caller;
}

absl::StatusOr<Caller> Authorizer::Identify(absl::string_view bearer_token,
                                            const std::vector<std::string>& cert_identities) const {
  if (options_.access == nullptr) return Denied("NOT_SERVED", "no access rules here");
  return Identify(*options_.access->Current(), bearer_token, cert_identities);
}

absl::StatusOr<Caller> Authorizer::Identify(const AccessRules& rules,
                                            absl::string_view bearer_token,
                                            const std::vector<std::string>& cert_identities) {
  Caller caller;
  if (!bearer_token.empty()) {
    absl::StatusOr<Caller> found = rules.FindToken(std::string(bearer_token));
    if (!found.ok()) {
      return absl::UnauthenticatedError("the bearer token is not valid (unknown or revoked)");
    }
    caller = *std::move(found);
  } else if (!cert_identities.empty()) {
    caller.identity = cert_identities.front();
  } else {
    return absl::UnauthenticatedError(
        "no credential: present a client certificate or a bearer token (authorization: Bearer "
        "...)");
  }
  std::vector<std::string> bound = rules.BoundRoles(caller.identity);
  caller.roles.insert(caller.roles.end(), bound.begin(), bound.end());
  return caller;
}

void Authorizer::NoteRefusal(absl::string_view method, const std::string& who,
                             const absl::Status& refusal, std::function<void()> answer) const {
  if (options_.on_refused) {
    options_.on_refused(method, who, refusal, std::move(answer));
  } else {
    answer();
  }
}

absl::Status Authorizer::Require(const Caller& caller, Permission p) const {
  if (options_.access == nullptr) return Denied("NOT_SERVED", "no access rules here");
  return options_.access->Current()->Check(caller, p);
}

grpc::Status RefusalStatus(const absl::Status& refusal) {
  if (refusal.code() == absl::StatusCode::kUnauthenticated) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(refusal.message()));
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      absl::StrCat(refusal.message(), " [32769 Access Denied]"));
}

namespace {

// The bearer token of an authorization header value: "" when there is
// none; nullopt when the header is not "Bearer <token>".
absl::optional<absl::string_view> BearerToken(absl::string_view header) {
  if (header.empty()) return absl::string_view();
  if (absl::StartsWithIgnoreCase(header, "bearer ") && header.size() > 7) return header.substr(7);
  return absl::nullopt;
}

absl::string_view View(const grpc_slice& slice) {
  return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                           GRPC_SLICE_LENGTH(slice));
}

// The identities (SANs) of the connection's verified client certificate,
// from the core's auth context (the check) or the C++ one (CallerOf).
std::vector<std::string> CertIdentities(const grpc_auth_context* context) {
  std::vector<std::string> ids;
  if (context == nullptr || grpc_auth_context_peer_is_authenticated(context) == 0) return ids;
  grpc_auth_property_iterator it = grpc_auth_context_peer_identity(context);
  for (const grpc_auth_property* p = grpc_auth_property_iterator_next(&it); p != nullptr;
       p = grpc_auth_property_iterator_next(&it)) {
    ids.emplace_back(p->value, p->value_length);
  }
  return ids;
}

std::vector<std::string> CertIdentities(const grpc::AuthContext& context) {
  std::vector<std::string> ids;
  if (context.IsPeerAuthenticated()) {
    for (const grpc::string_ref& id : context.GetPeerIdentity())
      ids.emplace_back(id.data(), id.size());
  }
  return ids;
}

// Who a refused credential claimed to be, for the log and the audit trail.
std::string Claimed(const Authorizer& authorizer, absl::string_view token,
                    const std::vector<std::string>& cert_identities) {
  if (token.empty()) return cert_identities.empty() ? "anonymous" : cert_identities.front();
  absl::StatusOr<Caller> known = authorizer.Identify(token, {});
  return known.ok() ? known->identity
                    : absl::StrCat("token sha256:", Sha256Hex(std::string(token)).substr(0, 12));
}

void ProcessCall(void* state, grpc_auth_context* context, const grpc_metadata* md, size_t num_md,
                 grpc_process_auth_metadata_done_cb done, void* user_data) {
  const Authorizer* authorizer = static_cast<const Authorizer*>(state);
  absl::string_view method;
  absl::string_view header;
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view k = View(md[i].key);
    if (k == ":path") method = View(md[i].value);
    if (k == "authorization") header = View(md[i].value);
  }
  const std::vector<std::string> cert_identities = CertIdentities(context);
  absl::optional<absl::string_view> token = BearerToken(header);
  absl::Status refusal;
  std::string who;
  if (!token.has_value()) {
    refusal = absl::UnauthenticatedError("the authorization header must be \"Bearer <token>\"");
    who = Claimed(*authorizer, "", cert_identities);
  } else {
    absl::StatusOr<Caller> caller = authorizer->Decide(method, *token, cert_identities);
    if (caller.ok()) {
      done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
      return;
    }
    refusal = caller.status();
    who = Claimed(*authorizer, *token, cert_identities);
  }
  spdlog::warn("refused {} of {}: {}", std::string(method), who, std::string(refusal.message()));
  const grpc::Status status = RefusalStatus(refusal);
  // The core keeps the call and its metadata until `done` runs.
  authorizer->NoteRefusal(
      method, who, refusal,
      [done, user_data, code = static_cast<grpc_status_code>(status.error_code()),
       message = status.error_message()] {
        done(user_data, nullptr, 0, nullptr, 0, code, message.c_str());
      });
}

}  // namespace

grpc_auth_metadata_processor CallProcessor(const Authorizer* authorizer) {
  grpc_auth_metadata_processor processor;
  processor.process = ProcessCall;
  processor.destroy = [](void*) {};  // the authorizer is not owned
  processor.state = const_cast<Authorizer*>(authorizer);
  return processor;
}

absl::optional<Caller> Authorizer::CallerOf(const Authorizer* authorizer,
                                            const grpc::ServerContextBase* context) {
  if (authorizer == nullptr || context == nullptr) return absl::nullopt;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth == nullptr) return absl::nullopt;
  absl::string_view header;
  auto it = context->client_metadata().find("authorization");
  if (it != context->client_metadata().end()) {
    header = absl::string_view(it->second.data(), it->second.size());
  }
  absl::optional<absl::string_view> token = BearerToken(header);
  if (!token.has_value()) return absl::nullopt;
  absl::StatusOr<Caller> caller = authorizer->Identify(*token, CertIdentities(*auth));
  if (!caller.ok()) return absl::nullopt;
  return *std::move(caller);
}

}  // namespace security
}  // namespace hvdr
