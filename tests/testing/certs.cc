#include "tests/testing/certs.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace testing {

absl::Status MakeCerts(const std::string& dir, const std::vector<std::string>& args,
                       const std::string& script) {
  std::vector<std::string> argv = {"/bin/bash",
                                   script.empty() ? RunfilePath("tools/mkcerts.sh") : script, dir};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out, err;
  if (RunCommand(argv, &out, &err) != 0) {
    return absl::InternalError(absl::StrCat("tools/mkcerts.sh: ", out, err));
  }
  return absl::OkStatus();
}

std::string TokenOf(const std::string& certs_dir, const std::string& identity) {
  std::ifstream in(certs_dir + "/tokens.txt");
  std::string id, token;
  while (in >> id >> token) {
    if (id == identity) return token;
  }
  return "";
}

std::shared_ptr<grpc::ChannelCredentials> ClientTls(const std::string& ca_dir,
                                                    const std::string& token,
                                                    const std::string& cert_base) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ReadFile(ca_dir + "/ca.crt");
  if (!cert_base.empty()) {
    o.pem_cert_chain = ReadFile(cert_base + ".crt");
    o.pem_private_key = ReadFile(cert_base + ".key");
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(o);
  if (token.empty()) return creds;
  return grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(token));
}

}  // namespace testing
}  // namespace hvdr
