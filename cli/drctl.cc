// drctl: the DR runbook command line for drserver. See `drctl --help`
// (cli/commands.h: the command table; cli/client.h: the calls to drserver;
// cli/render.h: the output).
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/context.h"

namespace hvdr {
namespace cli {
namespace {

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
  std::unique_ptr<DrClient> client = DrClient::Connect(
      grpc::CreateCustomChannel(ctx.server, grpc::InsecureChannelCredentials(), channel_args),
      options);
  ctx.client = client.get();
  return RunCommand(ctx, a);
}

}  // namespace
}  // namespace cli
}  // namespace hvdr

int main(int argc, char** argv) { return hvdr::cli::Main(argc, argv); }
