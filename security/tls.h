// TLS for every hvdr port, from PEM files that are watched (gRPC's
// FileWatcherCertificateProvider): replacing the files rotates the
// certificate or the CA without a restart; connections made after the
// next refresh use the new files.
#ifndef HVDR_SECURITY_TLS_H_
#define HVDR_SECURITY_TLS_H_

#include <grpc/grpc_security.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/optional.h"

namespace hvdr {
namespace security {

struct TlsFiles {
  std::string cert;  // PEM certificate (chain) of this process
  std::string key;   // its PEM private key
  std::string ca;    // PEM CA bundle that peers' certificates must chain to
  // How often the files are looked at for a change.
  unsigned refresh_seconds = 5;
  bool configured() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

// The flags that name the files, for messages.
struct TlsFlagNames {
  std::string cert = "--tls_cert_file";
  std::string key = "--tls_key_file";
  std::string ca = "--tls_ca_file";
};

// Checks that the files are given together and readable, and that the
// certificate and key parse, naming the flag and the reason; gRPC itself
// would only log and fail every handshake.
absl::Status CheckTlsFiles(const TlsFiles& files, const TlsFlagNames& flags = TlsFlagNames(),
                           bool need_identity = true);

enum class ClientCertificates {
  kVerifyIfPresent,  // a certificate is optional (tokens); one shown must verify
  kRequire,          // mutual TLS: no verified certificate, no connection
};

// Server credentials that present `files`' identity, verify clients against
// `files.ca`, and run `processor` (if given; e.g. security::CallProcessor)
// on every call before it reaches a handler.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const TlsFiles& files, ClientCertificates client_certs,
    const absl::optional<grpc_auth_metadata_processor>& processor);

// Channel credentials that verify the server against `files.ca` and its
// name (the target's host, or the channel's GRPC_SSL_TARGET_NAME_OVERRIDE_ARG),
// presenting `files`' identity when cert and key are given.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsFiles& files);

// Plaintext is for loopback only: OK for a TLS listener, or `insecure` on a
// loopback address; otherwise why not (the flag to use, the address).
absl::Status CheckPlaintext(const std::string& listen, bool tls, bool insecure,
                            const std::string& what);

}  // namespace security
}  // namespace hvdr

#endif  // HVDR_SECURITY_TLS_H_
