#include "server/engine/hf_config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "server/engine/status_macros.h"

namespace atman::engine {
namespace {

bool IsAbsent(const HfConfig& config, const std::string& key) {
  return !config.json.contains(key) || config.json[key].is_null();
}

absl::Status WrongType(const HfConfig& config, const std::string& key, const char* expected) {
  return absl::InvalidArgumentError(absl::StrCat("field '", key, "' of ", config.path, " is ",
                                                 config.json[key].dump(), "; expected ",
                                                 expected));
}

}  // namespace

absl::StatusOr<int64_t> RequiredInt(const HfConfig& config, const std::string& key) {
  if (IsAbsent(config, key)) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.path, " is missing the integer field '", key, "'"));
  }
  return OptionalInt(config, key, 0);
}

absl::StatusOr<int64_t> OptionalInt(const HfConfig& config, const std::string& key,
                                    int64_t fallback) {
  if (IsAbsent(config, key)) return fallback;
  if (!config.json[key].is_number_integer()) return WrongType(config, key, "an integer");
  return config.json[key].get<int64_t>();
}

absl::StatusOr<double> OptionalDouble(const HfConfig& config, const std::string& key,
                                      double fallback) {
  if (IsAbsent(config, key)) return fallback;
  if (!config.json[key].is_number()) return WrongType(config, key, "a number");
  return config.json[key].get<double>();
}

absl::StatusOr<bool> OptionalBool(const HfConfig& config, const std::string& key, bool fallback) {
  if (IsAbsent(config, key)) return fallback;
  if (!config.json[key].is_boolean()) return WrongType(config, key, "true or false");
  return config.json[key].get<bool>();
}

absl::StatusOr<std::string> OptionalString(const HfConfig& config, const std::string& key,
                                           const std::string& fallback) {
  if (IsAbsent(config, key)) return fallback;
  if (!config.json[key].is_string()) return WrongType(config, key, "a string");
  return config.json[key].get<std::string>();
}

absl::StatusOr<torch::Tensor> LoadWeight(const SafetensorsCheckpoint& checkpoint,
                                         const std::string& name, std::vector<int64_t> shape,
                                         torch::Dtype dtype) {
  ASSIGN_OR_RETURN(SafetensorsEntry entry, checkpoint.Entry(name));
  if (entry.shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' in ", checkpoint.source(), " has shape [",
        absl::StrJoin(entry.shape, ", "), "], but config.json implies [",
        absl::StrJoin(shape, ", "), "]"));
  }
  return checkpoint.Load(name, dtype);
}

}  // namespace atman::engine
