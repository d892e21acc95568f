#include "client/flags.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace atman::client {
namespace {

absl::Status InvalidValue(const std::string& name, const std::string& text,
                          const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid value '", text, "' for --", name, ": expected ", expected));
}

absl::StatusOr<bool> ParseBool(const std::string& text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  return absl::InvalidArgumentError("not a boolean");
}

}  // namespace

void FlagSet::AddString(const std::string& name, std::string* value, const std::string& help) {
  Add(name, Kind::kString, value, help, absl::StrCat("\"", *value, "\""));
}

void FlagSet::AddInt(const std::string& name, int64_t* value, const std::string& help) {
  Add(name, Kind::kInt, value, help, absl::StrCat(*value));
}

void FlagSet::AddDouble(const std::string& name, double* value, const std::string& help) {
  Add(name, Kind::kDouble, value, help, absl::StrCat(*value));
}

void FlagSet::AddBool(const std::string& name, bool* value, const std::string& help) {
  Add(name, Kind::kBool, value, help, *value ? "true" : "false");
}

void FlagSet::Add(const std::string& name, Kind kind, void* value, const std::string& help,
                  std::string default_text) {
  flags_[name] = Flag{kind, value, help, std::move(default_text)};
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "' for `atman ", command_,
                       "`: flags take the form --name=value; run `atman ", command_, " --help`"));
    }

    absl::Status status = ParseFlag(args, &i);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status FlagSet::ParseFlag(const std::vector<std::string>& args, size_t* index) {
  const std::string& arg = args[*index];
  const size_t equals = arg.find('=');
  const bool has_value = equals != std::string::npos;
  const std::string name = arg.substr(2, has_value ? equals - 2 : std::string::npos);

  auto it = flags_.find(name);
  if (it == flags_.end() && !has_value && SetNegatedBool(name)) return absl::OkStatus();
  if (it == flags_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " for `atman ",
                                                   command_, "`; run `atman ", command_,
                                                   " --help` to list its flags"));
  }

  if (has_value) return Assign(name, it->second, arg.substr(equals + 1));
  if (it->second.kind == Kind::kBool) return Assign(name, it->second, "true");
  if (*index + 1 >= args.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing value for --", name, "; pass it as --", name, "=VALUE"));
  }
  ++*index;
  return Assign(name, it->second, args[*index]);
}

bool FlagSet::SetNegatedBool(const std::string& name) {
  if (name.compare(0, 2, "no") != 0) return false;

  auto it = flags_.find(name.substr(2));
  if (it == flags_.end() || it->second.kind != Kind::kBool) return false;

  *static_cast<bool*>(it->second.value) = false;
  it->second.set = true;
  return true;
}

absl::Status FlagSet::Assign(const std::string& name, Flag& flag, const std::string& text) {
  flag.set = true;
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.value) = text;
      return absl::OkStatus();
    case Kind::kInt:
      if (!absl::SimpleAtoi(text, static_cast<int64_t*>(flag.value))) {
        return InvalidValue(name, text, "an integer");
      }
      return absl::OkStatus();
    case Kind::kDouble:
      if (!absl::SimpleAtod(text, static_cast<double*>(flag.value))) {
        return InvalidValue(name, text, "a number");
      }
      return absl::OkStatus();
    case Kind::kBool: {
      absl::StatusOr<bool> parsed = ParseBool(text);
      if (!parsed.ok()) return InvalidValue(name, text, "true or false");
      *static_cast<bool*>(flag.value) = *parsed;
      return absl::OkStatus();
    }
  }
  return absl::InternalError(absl::StrCat("flag --", name, " has an unhandled kind"));
}

bool FlagSet::WasSet(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

std::string FlagSet::Usage() const {
  std::string usage = absl::StrCat("Flags of `atman ", command_, "`:\n");
  for (const auto& [name, flag] : flags_) {
    absl::StrAppendFormat(&usage, "  --%s (default %s)\n      %s\n", name, flag.default_text,
                          flag.help);
  }
  return usage;
}

}  // namespace atman::client
