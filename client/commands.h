// The subcommands of the `atman` binary. Each parses its own flags from
// `args` (the arguments after the subcommand name), prints its result to
// stdout and errors to stderr, and returns the process exit code.
#ifndef ATMAN_CLIENT_COMMANDS_H_
#define ATMAN_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

namespace atman::client {

inline constexpr int kExitSuccess = 0;
// The RPC failed, or its result could not be written.
inline constexpr int kExitFailure = 1;
// A flag or argument is invalid, so nothing was sent.
inline constexpr int kExitUsage = 2;

int RunExplainCommand(const std::vector<std::string>& args);
int RunModelsCommand(const std::vector<std::string>& args);
int RunBenchCommand(const std::vector<std::string>& args);

}  // namespace atman::client

#endif  // ATMAN_CLIENT_COMMANDS_H_
