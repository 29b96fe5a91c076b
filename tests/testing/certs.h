// Throwaway TLS material for tests and benchmarks: tools/mkcerts.sh run
// into a folder, the tokens it made, and client credentials built from them.
#ifndef HVDR_TESTS_TESTING_CERTS_H_
#define HVDR_TESTS_TESTING_CERTS_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace hvdr {
namespace testing {

// Runs `script` (tools/mkcerts.sh; "" : the test's runfile) into `dir` with
// `args` (e.g. {"--hosts", "a,b"}); the script's output on failure.
absl::Status MakeCerts(const std::string& dir, const std::vector<std::string>& args,
                       const std::string& script = "");
// The token tools/mkcerts.sh made for `identity` (dir/tokens.txt), or "".
std::string TokenOf(const std::string& certs_dir, const std::string& identity);
// Client credentials: TLS verifying the server against ca_dir/ca.crt, with
// the client certificate `cert_base`.crt/.key if given, and the bearer
// `token` on every call if given.
std::shared_ptr<grpc::ChannelCredentials> ClientTls(const std::string& ca_dir,
                                                    const std::string& token = "",
                                                    const std::string& cert_base = "");

}  // namespace testing
}  // namespace hvdr

#endif  // HVDR_TESTS_TESTING_CERTS_H_
