// The `atman` command-line client of atman-serve.
#include <google/protobuf/stubs/common.h>

#include <iostream>
#include <string>
#include <vector>

#include "client/commands.h"

namespace {

constexpr char kUsage[] =
    "Usage: atman COMMAND [flags]\n"
    "\n"
    "Commands:\n"
    "  explain   explain a prediction: heatmap of the prompt, or JSON, or an HTML page\n"
    "  models    list the models the server has loaded\n"
    "  bench     send load and report throughput and latency percentiles\n"
    "\n"
    "Run `atman COMMAND --help` for the flags of a command.\n"
    "Exit codes: 0 success, 1 RPC or output error, 2 invalid flags.\n";

}  // namespace

int main(int argc, char** argv) {
  GOOGLE_PROTOBUF_VERIFY_VERSION;

  if (argc < 2) {
    std::cerr << kUsage;
    return atman::client::kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);

  if (command == "explain") return atman::client::RunExplainCommand(args);
  if (command == "models") return atman::client::RunModelsCommand(args);
  if (command == "bench") return atman::client::RunBenchCommand(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return atman::client::kExitSuccess;
  }

  std::cerr << "atman: unknown command '" << command << "'\n\n" << kUsage;
  return atman::client::kExitUsage;
}
