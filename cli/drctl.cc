// drctl: the DR runbook command line for drserver. See `drctl --help`
// (cli/commands.h: the command table; cli/client.h: the calls to drserver;
// cli/render.h: the output).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "security/tls.h"

namespace hvdr {
namespace cli {
namespace {

std::string FlagOrEnv(const ParsedArgs& a, const char* flag, const char* env) {
  const char* from_env = std::getenv(env);
  return a.Get(flag, from_env != nullptr ? from_env : "");
}

// TLS when a CA is given (--ca-file or DRCTL_CA_FILE): drserver's
// certificate must chain to it and name the address dialled; a client
// certificate (--cert-file/--key-file) and a bearer token (--token-file or
// DRCTL_TOKEN) authenticate. Plaintext otherwise, which only an --insecure
// drserver on loopback accepts; a token is never sent in plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const ParsedArgs& a) {
  security::TlsFiles files;
  files.ca = FlagOrEnv(a, "ca-file", "DRCTL_CA_FILE");
  files.cert = FlagOrEnv(a, "cert-file", "DRCTL_CERT_FILE");
  files.key = FlagOrEnv(a, "key-file", "DRCTL_KEY_FILE");
  std::string token;
  if (const std::string path = FlagOrEnv(a, "token-file", "DRCTL_TOKEN_FILE"); !path.empty()) {
    std::ifstream in(path);
    if (!in)
      return absl::InvalidArgumentError(absl::StrCat("--token-file ", path, ": cannot be read"));
    std::getline(in, token);
    token = std::string(absl::StripAsciiWhitespace(token));
    if (token.empty())
      return absl::InvalidArgumentError(absl::StrCat("--token-file ", path, ": is empty"));
  } else if (const char* env = std::getenv("DRCTL_TOKEN"); env != nullptr) {
    token = env;
  }
  if (!files.configured()) {
    if (!token.empty()) {
      return absl::InvalidArgumentError(
          "a token needs TLS: give --ca-file (or DRCTL_CA_FILE) with drserver's CA");
    }
    return grpc::InsecureChannelCredentials();
  }
  absl::Status checked = security::CheckTlsFiles(
      files, security::TlsFlagNames{"--cert-file", "--key-file", "--ca-file"},
      /*need_identity=*/false);
  if (!checked.ok()) return checked;
  std::shared_ptr<grpc::ChannelCredentials> tls = security::ChannelCredentials(files);
  if (token.empty()) return tls;
  return grpc::CompositeChannelCredentials(tls, grpc::AccessTokenCredentials(token));
}

int Main(int argc, char** argv) {
  Ctx ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, Flags());
  if (!parsed.ok()) return Usage(ctx, std::string(parsed.status().message()));
  const ParsedArgs& a = *parsed;
  if (a.Has("help") || a.positional.empty() || a.positional[0] == "help") {
    std::cout << HelpText();
    return a.positional.empty() && !a.Has("help") ? kUsage : kOk;
  }
  const char* env = std::getenv("DRCTL_SERVER");
  ctx.server = a.Get("server", env != nullptr ? env : "127.0.0.1:50051");
  const std::string output = a.Get("output", "text");
  if (output != "text" && output != "json") return Usage(ctx, "--output takes text or json");
  ctx.json = output == "json";
  ctx.tty = isatty(STDOUT_FILENO) != 0;
  const char* user = std::getenv("USER");
  ctx.requester = a.Get("requester", user != nullptr ? user : "");
  DrClient::Options options;
  int secs = 0;
  if (a.Has("timeout")) {
    if (!absl::SimpleAtoi(a.Get("timeout"), &secs) || secs <= 0)
      return Usage(ctx, "--timeout takes seconds > 0");
    options.timeout = absl::Seconds(secs);
  }
  if (a.Has("wait-timeout")) {
    if (!absl::SimpleAtoi(a.Get("wait-timeout"), &secs) || secs <= 0) {
      return Usage(ctx, "--wait-timeout takes seconds > 0");
    }
    ctx.wait_timeout = absl::Seconds(secs);
  }
  // An execution's report holds every step: more than gRPC's default 4 MiB
  // for a plan of thousands of VMs.
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(256 << 20);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = Credentials(a);
  if (!credentials.ok()) return Usage(ctx, std::string(credentials.status().message()));
  std::unique_ptr<DrClient> client =
      DrClient::Connect(grpc::CreateCustomChannel(ctx.server, *credentials, channel_args), options);
  ctx.client = client.get();
  return RunCommand(ctx, a);
}

}  // namespace
}  // namespace cli
}  // namespace hvdr

int main(int argc, char** argv) { return hvdr::cli::Main(argc, argv); }
