#include "security/tls.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hvdr {
namespace security {

namespace {

absl::Status Refused(const std::string& flag, const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", why));
}

// Whether `path` holds at least one PEM object that `read` parses.
template <typename T, typename Read, typename Free>
bool ParsesAs(const std::string& path, Read read, Free free_fn) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  T* obj = read(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (obj == nullptr) return false;
  free_fn(obj);
  return true;
}

bool Readable(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  std::fclose(f);
  return true;
}

}  // namespace

absl::Status CheckTlsFiles(const TlsFiles& files, const TlsFlagNames& flags, bool need_identity) {
  const std::string& cert_flag = flags.cert;
  const std::string& key_flag = flags.key;
  const std::string& ca_flag = flags.ca;
  if (files.ca.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(ca_flag, " is required with TLS"));
  }
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(cert_flag, " and ", key_flag, " go together"));
  }
  if (need_identity && files.cert.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_flag, " and ", key_flag, " are required with TLS"));
  }
  if (!Readable(files.ca)) return Refused(ca_flag, files.ca, "cannot be read");
  if (!ParsesAs<X509>(files.ca, PEM_read_X509, X509_free)) {
    return Refused(ca_flag, files.ca, "holds no PEM certificate");
  }
  if (files.cert.empty()) return absl::OkStatus();
  if (!Readable(files.cert)) return Refused(cert_flag, files.cert, "cannot be read");
  if (!ParsesAs<X509>(files.cert, PEM_read_X509, X509_free)) {
    return Refused(cert_flag, files.cert, "holds no PEM certificate");
  }
  if (!Readable(files.key)) return Refused(key_flag, files.key, "cannot be read");
  if (!ParsesAs<EVP_PKEY>(files.key, PEM_read_PrivateKey, EVP_PKEY_free)) {
    return Refused(key_flag, files.key, "holds no PEM private key");
  }
  return absl::OkStatus();
}

namespace {

// grpc::ServerCredentials over the core's credentials: the C++ wrapper's
// grpc::AuthMetadataProcessor must answer before it returns (or on a
// thread of its pool, a hop on every call); the core's processor may
// answer later, which a refusal needs (it waits for its audit event).
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CoreServerCredentials(grpc_server_credentials* creds) : creds_(creds) {}
  ~CoreServerCredentials() override { grpc_server_credentials_release(creds_); }
  // Not offered: the processor is given at creation (ServerCredentials()).
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }
  grpc_server_credentials* const creds_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const TlsFiles& files, ClientCertificates client_certs,
    const absl::optional<grpc_auth_metadata_processor>& processor) {
  grpc_init();  // the core is used before any C++ object holds it
  grpc_tls_certificate_provider* provider = grpc_tls_certificate_provider_file_watcher_create(
      files.key.c_str(), files.cert.c_str(), files.ca.c_str(), files.refresh_seconds);
  grpc_tls_credentials_options* options = grpc_tls_credentials_options_create();
  grpc_tls_credentials_options_set_certificate_provider(options, provider);  // takes a ref
  grpc_tls_certificate_provider_release(provider);
  grpc_tls_credentials_options_watch_root_certs(options);
  grpc_tls_credentials_options_watch_identity_key_cert_pairs(options);
  grpc_tls_credentials_options_set_cert_request_type(
      options, client_certs == ClientCertificates::kRequire
                   ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                   : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc_server_credentials* creds = grpc_tls_server_credentials_create(options);  // owns options
  if (processor.has_value()) grpc_server_credentials_set_auth_metadata_processor(creds, *processor);
  auto wrapped = std::make_shared<CoreServerCredentials>(creds);
  grpc_shutdown();  // `wrapped` holds the library now
  return wrapped;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsFiles& files) {
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
  if (files.cert.empty()) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.ca, files.refresh_seconds);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        files.key, files.cert, files.ca, files.refresh_seconds);
  }
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (!files.cert.empty()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

absl::Status CheckPlaintext(const std::string& listen, bool tls, bool insecure,
                            const std::string& what) {
  if (tls) {
    if (insecure) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": --insecure and TLS files together: choose one"));
    }
    return absl::OkStatus();
  }
  if (!insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        ": no TLS files given (--tls_cert_file, --tls_key_file, --tls_ca_file); plaintext "
        "needs --insecure, and only on a loopback address"));
  }
  const bool loopback = absl::StartsWith(listen, "127.") || absl::StartsWith(listen, "[::1]:") ||
                        absl::StartsWith(listen, "localhost:") || listen.empty();
  if (!loopback) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": --insecure (plaintext, no authentication) is refused on ", listen,
                     ": it is allowed only on a loopback address (127.0.0.1:PORT, [::1]:PORT)"));
  }
  return absl::OkStatus();
}

}  // namespace security
}  // namespace hvdr
