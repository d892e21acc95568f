// A small per-subcommand flag parser for the atman command-line client.
//
// Each subcommand owns one FlagSet, so a flag of `bench` is rejected by
// `explain` instead of being ignored. Accepted forms: `--name=value`,
// `--name value`, and for booleans `--name`, `--noname` and `--name=false`.
#ifndef ATMAN_CLIENT_FLAGS_H_
#define ATMAN_CLIENT_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace atman::client {

// Binds flag names to variables owned by the caller, which must outlive the
// FlagSet. Not thread-safe.
class FlagSet {
 public:
  explicit FlagSet(std::string command) : command_(std::move(command)) {}

  void AddString(const std::string& name, std::string* value, const std::string& help);
  void AddInt(const std::string& name, int64_t* value, const std::string& help);
  void AddDouble(const std::string& name, double* value, const std::string& help);
  void AddBool(const std::string& name, bool* value, const std::string& help);

  // Parses `args` (without the program and subcommand names) into the bound
  // variables. Returns INVALID_ARGUMENT naming the flag and the value on an
  // unknown flag, a missing value, a malformed number or a positional argument.
  absl::Status Parse(const std::vector<std::string>& args);

  // True when Parse saw the flag, so callers can leave optional fields unset.
  bool WasSet(const std::string& name) const;

  // True when Parse saw --help.
  bool help_requested() const { return help_requested_; }

  // Returns one line per flag with its default value and help text.
  std::string Usage() const;

 private:
  enum class Kind { kString, kInt, kDouble, kBool };
  struct Flag {
    Kind kind;
    void* value;
    std::string help;
    std::string default_text;
    bool set = false;
  };

  void Add(const std::string& name, Kind kind, void* value, const std::string& help,
           std::string default_text);
  // Parses args[*index], advancing *index when the value is the next argument.
  absl::Status ParseFlag(const std::vector<std::string>& args, size_t* index);
  // Sets boolean flag X to false for `--noX`. Returns false when X is not a boolean flag.
  bool SetNegatedBool(const std::string& name);
  absl::Status Assign(const std::string& name, Flag& flag, const std::string& text);

  std::string command_;
  std::map<std::string, Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace atman::client

#endif  // ATMAN_CLIENT_FLAGS_H_
